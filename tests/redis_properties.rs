//! Any sequence of operations spread over three nodes leaves Redis in the
//! state the single-node engine would be in: the same live sessions (by the
//! order they were created), users, answers, counters and events.

#[path = "support/redis.rs"]
mod redis_support;

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sessiontop::engine::driver::Delivery;
use sessiontop::engine::{Engine, EngineError, Handle, ListQuery, Login, Policy, Token};
use sessiontop::store::StoreError;
use sessiontop::store::redis::{RedisOptions, RedisStore};

use redis_support::RedisServer;

#[derive(Debug, Clone)]
enum Op {
    Login(u8),
    Touch(usize, usize),
    TouchHandle(usize, usize),
    Renew(usize, usize),
    Logout(usize, usize),
    Revoke(usize, usize),
    RevokeUser(u8, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0usize..12;
    let n = 0usize..3;
    prop_oneof![
        3 => (0u8..4).prop_map(Op::Login),
        3 => (s.clone(), n.clone()).prop_map(|(s, n)| Op::Touch(s, n)),
        1 => (s.clone(), n.clone()).prop_map(|(s, n)| Op::TouchHandle(s, n)),
        2 => (s.clone(), n.clone()).prop_map(|(s, n)| Op::Renew(s, n)),
        1 => (s.clone(), n.clone()).prop_map(|(s, n)| Op::Logout(s, n)),
        1 => (s, n.clone()).prop_map(|(s, n)| Op::Revoke(s, n)),
        1 => (0u8..4, n).prop_map(|(u, n)| Op::RevokeUser(u, n)),
    ]
}

/// One session as both sides know it: by the order it was created.
struct Pair {
    engine: (Token, Handle),
    redis: (Token, Handle),
}

/// The answer, with the handle that differs between the sides left out.
fn outcome<T>(r: Result<T, EngineError>) -> Result<(), String> {
    r.map(|_| ()).map_err(|e| match e {
        EngineError::NoSuchSession(_) => "no such session".into(),
        other => other.to_string(),
    })
}

fn redis_outcome<T>(r: Result<T, StoreError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(StoreError::Engine(e)) => outcome::<()>(Err(e)),
        Err(other) => panic!("Redis failed: {other}"),
    }
}

async fn check(redis: &RedisServer, prefix: &str, ops: Vec<Op>, coalesce: bool) {
    let policy = Policy {
        touch_event_interval: if coalesce {
            Duration::from_secs(3600)
        } else {
            Duration::ZERO
        },
        ..Policy::default()
    };
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let mut options = RedisOptions::new(redis.url(), policy.clone());
        options.key_prefix = prefix.to_owned();
        nodes.push(RedisStore::connect(options).await.unwrap());
    }
    let now = nodes[0].now().await.unwrap();
    let mut engine = Engine::new(policy, 10_000, now);
    let mut pairs: Vec<Pair> = Vec::new();
    let user = |u: u8| format!("user{u}");
    for op in ops {
        match op {
            Op::Login(u) => {
                let e = engine.login(now, Login::user(user(u))).unwrap();
                let r = nodes[u as usize % 3]
                    .login(Login::user(user(u)))
                    .await
                    .unwrap();
                pairs.push(Pair {
                    engine: (e.0, e.1.handle),
                    redis: (r.0, r.1.handle),
                });
            }
            Op::Touch(s, n) | Op::Renew(s, n) | Op::Logout(s, n) if pairs.get(s).is_some() => {
                let pair = &mut pairs[s];
                let (et, rt) = (pair.engine.0.clone(), pair.redis.0.clone());
                let node = &nodes[n];
                let (e, r) = match op {
                    Op::Touch(..) => (
                        outcome(engine.touch(now, et.expose())),
                        redis_outcome(node.touch(rt.expose()).await),
                    ),
                    Op::Renew(..) => {
                        let e = engine.renew(now, et.expose());
                        let r = node.renew(rt.expose()).await;
                        if let (Ok((et, _)), Ok((rt, _))) = (&e, &r) {
                            pair.engine.0 = et.clone();
                            pair.redis.0 = rt.clone();
                        }
                        (outcome(e), redis_outcome(r))
                    }
                    _ => (
                        outcome(engine.logout(now, et.expose())),
                        redis_outcome(node.logout(rt.expose()).await),
                    ),
                };
                assert_eq!(e, r, "{op:?}");
            }
            Op::TouchHandle(s, n) | Op::Revoke(s, n) if pairs.get(s).is_some() => {
                let (eh, rh) = (pairs[s].engine.1, pairs[s].redis.1);
                let (e, r) = match op {
                    Op::TouchHandle(..) => (
                        outcome(engine.touch_handle(now, eh, "sim")),
                        redis_outcome(nodes[n].touch_handle(rh, "sim").await),
                    ),
                    _ => (
                        outcome(engine.revoke(now, eh, "admin")),
                        redis_outcome(nodes[n].revoke(rh, "admin").await),
                    ),
                };
                assert_eq!(e, r, "{op:?}");
            }
            Op::RevokeUser(u, n) => {
                let e = engine.revoke_user(now, &user(u), "admin");
                let r = nodes[n].revoke_user(&user(u), "admin").await.unwrap();
                assert_eq!(e, r, "{op:?}");
            }
            _ => {}
        }
    }

    // The same live sessions, by creation order, with the same users.
    let ordinal_e = |h: Handle| pairs.iter().position(|p| p.engine.1 == h).unwrap();
    let ordinal_r = |h: Handle| pairs.iter().position(|p| p.redis.1 == h).unwrap();
    let page = engine.list(&ListQuery {
        limit: 1000,
        ..ListQuery::default()
    });
    let live_e: BTreeSet<(usize, String)> = page
        .sessions
        .iter()
        .map(|s| (ordinal_e(s.handle), s.user.to_string()))
        .collect();
    for node in &nodes {
        let (sessions, _) = node.list(None, 1000, None).await.unwrap();
        let live_r: BTreeSet<(usize, String)> = sessions
            .iter()
            .map(|s| (ordinal_r(s.handle), s.user.to_string()))
            .collect();
        assert_eq!(live_e, live_r);
        for u in 0..4 {
            let (mine, _) = node.list(Some(&user(u)), 1000, None).await.unwrap();
            let mine: BTreeSet<usize> = mine.iter().map(|s| ordinal_r(s.handle)).collect();
            let theirs: BTreeSet<usize> = live_e
                .iter()
                .filter(|(_, name)| *name == user(u))
                .map(|(o, _)| *o)
                .collect();
            assert_eq!(mine, theirs);
        }
    }
    // Each live session's details hold the same events.
    for (i, pair) in pairs.iter().enumerate() {
        let kinds = |events: &[sessiontop::engine::Event]| -> Vec<String> {
            events.iter().map(|e| e.kind.as_str().to_owned()).collect()
        };
        let theirs = nodes[i % 3].get(pair.redis.1).await.unwrap();
        if live_e.iter().any(|(o, _)| *o == i) {
            let (_, events) = theirs.expect("live on Redis too");
            assert_eq!(kinds(&engine.session_events(pair.engine.1)), kinds(&events));
        } else {
            assert_eq!(theirs, None);
        }
    }

    let (se, sr) = (engine.stats(), nodes[1].stats().await.unwrap());
    assert_eq!(se.active, sr.active);
    assert_eq!(se.totals, sr.totals);
    assert_eq!(se.last_seq, sr.last_seq);

    // The same events, in the same order, naming the same sessions.
    let events_e: Vec<(String, usize)> = engine
        .events_since(0)
        .unwrap()
        .iter()
        .map(|e| (e.kind.as_str().to_owned(), ordinal_e(e.session.handle)))
        .collect();
    // Node 2 may not have read every event off the stream yet: what it has
    // published comes as the backlog, and the rest follows live.
    let mut subscription = nodes[2].subscribe_after(0).await.unwrap();
    let mut received = std::mem::take(&mut subscription.backlog);
    while received.last().map_or(0, |e| e.seq) < sr.last_seq {
        match tokio::time::timeout(Duration::from_secs(5), subscription.next()).await {
            Ok(Some(Delivery::Event(event))) => {
                received.push(std::sync::Arc::unwrap_or_clone(event))
            }
            other => panic!("node 2 stopped short of seq {}: {other:?}", sr.last_seq),
        }
    }
    let events_r: Vec<(String, usize)> = received
        .iter()
        .map(|e| (e.kind.as_str().to_owned(), ordinal_r(e.session.handle)))
        .collect();
    // Revoking a user ends their sessions in no particular order.
    assert_eq!(revokes_sorted(events_e), revokes_sorted(events_r));
    for node in nodes {
        node.shutdown();
    }
}

/// Sorts each run of consecutive `revoked` events by session.
fn revokes_sorted(mut events: Vec<(String, usize)>) -> Vec<(String, usize)> {
    let mut start = 0;
    while start < events.len() {
        let mut end = start;
        while end < events.len() && events[end].0 == "revoked" {
            end += 1;
        }
        events[start..end].sort();
        start = end + 1;
    }
    events
}

#[test]
fn random_operations_over_three_nodes_leave_the_engines_state() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 48,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&(vec(op(), 1..50), any::<bool>()), |(ops, coalesce)| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            runtime.block_on(check(&redis, &format!("prop{n}:"), ops, coalesce));
            Ok(())
        })
        .unwrap();
}
