//! The Redis store against a real `redis-server`: several nodes (store
//! connections, each with its own stream tail and expiry driver) on one Redis
//! behave as one session store.

#[path = "support/redis.rs"]
mod redis_support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use sessiontop::engine::driver::Delivery;
use sessiontop::engine::{
    EngineError, Event, EventKind, ExpiryReason, Login, Policy, State, Subscription,
};
use sessiontop::store::StoreError;
use sessiontop::store::redis::{RedisOptions, RedisStore, SubscribeError};

use redis_support::RedisServer;

/// Generous: a loaded machine is slow, and these are bounds, not measurements.
const PATIENCE: Duration = Duration::from_secs(30);

fn policy() -> Policy {
    Policy {
        touch_event_interval: Duration::ZERO,
        ..Policy::default()
    }
}

async fn node(redis: &RedisServer, prefix: &str, policy: Policy) -> RedisStore {
    connect(redis, prefix, policy)
        .await
        .expect("the node connects")
}

/// A node on `prefix`, or why it did not start.
async fn connect(
    redis: &RedisServer,
    prefix: &str,
    policy: Policy,
) -> Result<RedisStore, StoreError> {
    let mut options = RedisOptions::new(redis.url(), policy);
    options.key_prefix = prefix.to_owned();
    RedisStore::connect(options).await
}

/// A plain connection to the test's Redis, to look at (or plant) keys directly.
async fn raw_connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// How many entries the stream `key` holds.
async fn stream_entries(redis: &RedisServer, key: &str) -> u64 {
    redis::cmd("XLEN")
        .arg(key)
        .query_async(&mut raw_connection(redis).await)
        .await
        .unwrap()
}

/// The next event: the backlog first, then what follows it.
async fn next_event(subscription: &mut Subscription) -> Event {
    if !subscription.backlog.is_empty() {
        return subscription.backlog.remove(0);
    }
    match tokio::time::timeout(PATIENCE, subscription.next()).await {
        Ok(Some(Delivery::Event(event))) => std::sync::Arc::unwrap_or_clone(event),
        other => panic!("expected an event, got {other:?}"),
    }
}

fn login(user: &str) -> Login {
    let mut attributes = BTreeMap::new();
    attributes.insert("ip".to_owned(), "192.0.2.7".to_owned());
    Login {
        user: user.into(),
        attributes: Some(attributes),
        ..Login::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_created_on_one_node_lives_on_every_node() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "life:", policy()).await;
    let b = node(&redis, "life:", policy()).await;
    let c = node(&redis, "life:", policy()).await;
    assert_eq!(
        a.instance(),
        b.instance(),
        "one event-id space for the cluster"
    );
    assert_ne!(a.node(), b.node());
    let mut watch = b.subscribe_after(0).await.expect("a subscription");

    let (token, created) = a.login(login("alice")).await.unwrap();
    let touched = b.touch(token.expose()).await.unwrap();
    assert_eq!(touched.handle, created.handle);
    assert!(touched.last_seen_at >= created.last_seen_at);
    let (renewed_token, renewed) = c.renew(token.expose()).await.unwrap();
    assert_eq!(renewed.handle, created.handle);
    assert_eq!(
        a.touch(token.expose()).await,
        Err(StoreError::Engine(EngineError::InvalidToken)),
        "the old token died with the renewal, on every node"
    );
    b.touch(renewed_token.expose()).await.unwrap();

    // Listing, by user and in all, and stats are the same on every node.
    for n in [&a, &b, &c] {
        let (mine, next) = n.list(Some("alice"), 10, None).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].handle, created.handle);
        assert_eq!(mine[0].attribute("ip"), Some("192.0.2.7"));
        assert_eq!(next, None);
        assert_eq!(n.stats().await.unwrap().active, 1);
        let (view, events) = n.get(created.handle).await.unwrap().expect("live");
        assert_eq!(view.user, "alice");
        assert!(events.iter().any(|e| e.kind == EventKind::Renewed));
    }

    a.revoke(created.handle, "admin").await.unwrap();
    assert_eq!(
        c.touch(renewed_token.expose()).await,
        Err(StoreError::Engine(EngineError::InvalidToken))
    );
    assert_eq!(
        b.revoke(created.handle, "admin").await,
        Err(StoreError::Engine(EngineError::NoSuchSession(
            created.handle
        )))
    );
    assert_eq!(b.get(created.handle).await.unwrap(), None);

    let kinds: Vec<EventKind> = {
        let mut kinds = Vec::new();
        for _ in 0..5 {
            kinds.push(next_event(&mut watch).await.kind);
        }
        kinds
    };
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Touched,
            EventKind::Renewed,
            EventKind::Touched,
            EventKind::Revoked
        ]
    );
    let stats = c.stats().await.unwrap();
    assert_eq!(stats.active, 0);
    assert_eq!(stats.totals.logins, 1);
    assert_eq!(stats.totals.revoked, 1);
    assert_eq!(stats.totals.renewals, 1);
    assert_eq!(stats.last_seq, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_engines_answers() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "bad:", policy()).await;
    assert!(matches!(
        a.login(Login::user("  ")).await,
        Err(StoreError::Engine(EngineError::InvalidUser(_)))
    ));
    let too_long = Login {
        idle_timeout: Some(Duration::from_secs(400 * 24 * 3600)),
        ..Login::user("bob")
    };
    assert!(matches!(
        a.login(too_long).await,
        Err(StoreError::Engine(EngineError::TimeoutOutOfBounds { .. }))
    ));
    for token in ["", "nonsense", &"A".repeat(43)] {
        assert_eq!(
            a.touch(token).await,
            Err(StoreError::Engine(EngineError::InvalidToken))
        );
        assert_eq!(
            a.logout(token).await,
            Err(StoreError::Engine(EngineError::InvalidToken))
        );
    }
    // A well-formed token with the right handle but a wrong secret is refused.
    let (token, view) = a.login(Login::user("bob")).await.unwrap();
    let mut forged = token.expose().to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        a.touch(&forged).await,
        Err(StoreError::Engine(EngineError::InvalidToken))
    );
    assert_eq!(a.stats().await.unwrap().totals.touches, 0);
    a.logout(token.expose()).await.unwrap();
    assert_eq!(a.get(view.handle).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_soonest_deadline_first_and_by_user() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "list:", policy()).await;
    let b = node(&redis, "list:", policy()).await;
    let mut handles = Vec::new();
    for i in 0..25u64 {
        let user = if i % 5 == 0 { "carol" } else { "dave" };
        let login = Login {
            idle_timeout: Some(Duration::from_secs(3600 - i * 10)),
            ..Login::user(user)
        };
        let node = if i % 2 == 0 { &a } else { &b };
        handles.push(node.login(login).await.unwrap().1.handle);
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = b.list(None, 7, cursor.as_ref()).await.unwrap();
        assert!(page.len() <= 7);
        seen.extend(page.iter().map(|s| (s.expires_at, s.handle)));
        match next {
            Some(next) => cursor = Some(next.to_string().parse().unwrap()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 25, "every session once");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "soonest deadline first"
    );
    // Later logins have shorter timeouts, so they come first.
    assert_eq!(seen[0].1, handles[24]);

    let (carol, next) = a.list(Some("carol"), 100, None).await.unwrap();
    assert_eq!(next, None);
    assert_eq!(carol.len(), 5);
    assert!(carol.iter().all(|s| s.user == "carol"));
    let (first, next) = a.list(Some("carol"), 2, None).await.unwrap();
    let (rest, _) = a.list(Some("carol"), 10, next.as_ref()).await.unwrap();
    assert_eq!(first.len() + rest.len(), 5);
    assert_eq!(first[0].handle, carol[0].handle);
    assert_eq!(rest[0].handle, carol[2].handle);

    assert_eq!(b.revoke_user("dave", "admin").await.unwrap(), 20);
    assert_eq!(a.list(Some("dave"), 100, None).await.unwrap().0.len(), 0);
    assert_eq!(a.stats().await.unwrap().active, 5);
}

/// A user of many sessions is listed a page at a time, picked from their
/// deadlines (a heap of the page's worth), each session once, soonest first,
/// in the same order as the whole listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_many_sessions_pages_through_each_once_soonest_first() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "many-user:", policy()).await;
    let logins = (0..300u64).map(|i| {
        let user = if i % 3 == 0 { "other" } else { "busy" };
        a.login(Login {
            // Deadlines out of login order, some shared.
            idle_timeout: Some(Duration::from_secs(600 + (i * 7919) % 97 * 10)),
            ..Login::user(user)
        })
    });
    futures_util::future::try_join_all(logins).await.unwrap();
    let (all, _) = a.list(None, 1000, None).await.unwrap();
    let expected: Vec<_> = all
        .iter()
        .filter(|s| s.user == "busy")
        .map(|s| s.handle)
        .collect();
    assert_eq!(expected.len(), 200);
    for limit in [1, 7, 200, 1000] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let (page, next) = a.list(Some("busy"), limit, cursor.as_ref()).await.unwrap();
            assert!(page.len() <= limit);
            assert!(page.iter().all(|s| s.user == "busy"));
            seen.extend(page.iter().map(|s| s.handle));
            match next {
                Some(next) => cursor = Some(next.to_string().parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "limit {limit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_resumes_on_another_node_with_no_gap_and_no_duplicate() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "resume:", policy()).await;
    let b = node(&redis, "resume:", policy()).await;
    let mut on_a = a.subscribe_after(0).await.unwrap();
    let mut tokens = Vec::new();
    for i in 0..10 {
        tokens.push(a.login(Login::user(format!("u{i}"))).await.unwrap().0);
    }
    let mut last_seen = 0;
    for _ in 0..4 {
        last_seen = next_event(&mut on_a).await.seq;
    }
    drop(on_a);
    for token in &tokens {
        b.touch(token.expose()).await.unwrap();
    }
    // Resume on B from the id A gave: the 6 logins not yet seen, then 10 touches.
    let mut on_b = b.subscribe_after(last_seen).await.unwrap();
    // `next_event` hands out the backlog first, then what follows.
    let mut seqs: Vec<u64> = Vec::new();
    while seqs.len() < 16 {
        seqs.push(next_event(&mut on_b).await.seq);
    }
    assert_eq!(seqs, (last_seen + 1..=last_seen + 16).collect::<Vec<_>>());
    assert!(on_b.try_next().is_none(), "nothing more, no duplicate");

    // A seq from the future is not this cluster's.
    assert!(matches!(
        b.subscribe_after(10_000).await,
        Err(SubscribeError::TooOld(_))
    ));
}

/// `[store] history_retention`: entries older than it leave the stream (the
/// nodes trim it now and then); a client resuming before them must resync,
/// one after them resumes; the newest entry always stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_is_trimmed_by_age_too() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "age:", policy()).await;
    let mut times = Vec::new();
    for user in ["first", "second", "third", "fourth"] {
        let (_, view) = a.login(login(user)).await.unwrap();
        times.push(view.created_at);
        // Redis counts milliseconds: each login at a time of its own.
        while a.now().await.unwrap() == view.created_at {
            tokio::task::yield_now().await;
        }
    }
    // Cut before the third login: seqs 1 and 2 go.
    assert_eq!(a.trim_history_before(times[2]).await.unwrap(), Some(3));
    assert!(matches!(
        a.subscribe_after(1).await,
        Err(SubscribeError::TooOld(_))
    ));
    let mut resumed = a.subscribe_after(2).await.unwrap();
    assert_eq!(next_event(&mut resumed).await.seq, 3);
    assert_eq!(next_event(&mut resumed).await.seq, 4);
    // Young enough already: nothing more goes.
    assert_eq!(a.trim_history_before(times[2]).await.unwrap(), None);
    // All too old: the newest stays, so a client that read it resumes.
    assert_eq!(
        a.trim_history_before(times[3] + 60_000).await.unwrap(),
        Some(4)
    );
    assert!(matches!(
        a.subscribe_after(2).await,
        Err(SubscribeError::TooOld(_))
    ));
    let resumed = a.subscribe_after(4).await.unwrap();
    assert!(resumed.backlog.is_empty());
    assert_eq!(a.trim_history_before(i64::MAX).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_older_than_the_streams_retention_must_resync() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut options = RedisOptions::new(redis.url(), policy());
    options.key_prefix = "trim:".into();
    options.retention = 10;
    let a = RedisStore::connect(options).await.unwrap();
    let (token, _) = a.login(Login::user("erin")).await.unwrap();
    for _ in 0..600 {
        a.touch(token.expose()).await.unwrap();
    }
    assert!(matches!(
        a.subscribe_after(1).await,
        Err(SubscribeError::TooOld(_))
    ));
    // The backlog holds what this node has read off the stream so far; the rest follows live.
    let mut recent = a.subscribe_after(595).await.unwrap();
    let mut seqs = Vec::new();
    while seqs.last() != Some(&601) {
        seqs.push(next_event(&mut recent).await.seq);
    }
    assert_eq!(seqs, (596..=601).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_racing_nodes_end_each_session_exactly_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    // One deadline for all: a closing time a few seconds from now.
    let closing_at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let policy = Policy {
        closing_time: Some(sessiontop::engine::ClosingTime(closing_at.time())),
        ..policy()
    };
    let nodes = [
        node(&redis, "race:", policy.clone()).await,
        node(&redis, "race:", policy.clone()).await,
        node(&redis, "race:", policy.clone()).await,
    ];
    let mut watch = nodes[1].subscribe_after(0).await.unwrap();
    let mut logins = Vec::new();
    for i in 0..1000 {
        let n = nodes[i % 3].clone();
        logins.push(tokio::spawn(async move {
            n.login(Login::user(format!("user{}", i % 50))).await
        }));
    }
    let mut live = HashMap::new();
    for login in logins {
        let (_, view) = login
            .await
            .unwrap()
            .expect("a login before the closing time");
        live.insert(view.handle, view.expires_at);
    }
    let deadline = *live.values().next().unwrap();
    assert!(live.values().all(|&d| d == deadline), "one deadline");
    let mut ended = HashMap::new();
    while ended.len() < 1000 {
        let event = next_event(&mut watch).await;
        if event.kind == EventKind::Expired {
            assert_eq!(event.reason, Some(ExpiryReason::ClosingTime));
            assert_eq!(event.deadline, Some(deadline));
            // It expired at the closing instant, as the engine says.
            assert_eq!(event.session.expires_at, deadline);
            assert!(event.at >= deadline, "never early");
            assert_eq!(event.session.state, State::Expired);
            let before = ended.insert(event.session.handle, event.seq);
            assert!(before.is_none(), "a second expired event for one session");
        }
    }
    assert!(live.keys().all(|h| ended.contains_key(h)));
    // A moment more: still no duplicate from a slower node.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    while let Some(delivery) = watch.try_next() {
        if let Delivery::Event(event) = delivery {
            assert_ne!(
                event.kind,
                EventKind::Expired,
                "a late duplicate: {event:?}"
            );
        }
    }
    let stats = nodes[2].stats().await.unwrap();
    assert_eq!(stats.active, 0);
    assert_eq!(stats.totals.expired_closing_time, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_end_once_with_their_own_deadline_when_a_node_is_gone() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "idle:", policy()).await;
    let b = node(&redis, "idle:", policy()).await;
    let mut watch = b.subscribe_after(0).await.unwrap();
    let mut deadlines = HashMap::new();
    for i in 0..100 {
        let login = Login {
            idle_timeout: Some(Duration::from_secs(2)),
            ..Login::user(format!("v{i}"))
        };
        let (_, view) = a.login(login).await.unwrap();
        deadlines.insert(view.handle, view.idle_expires_at);
    }
    // The node that created them goes away; the other one ends them.
    a.shutdown();
    drop(a);
    let mut ended = 0;
    while ended < 100 {
        let event = next_event(&mut watch).await;
        if event.kind == EventKind::Expired {
            assert_eq!(event.reason, Some(ExpiryReason::Idle));
            assert_eq!(event.deadline, deadlines.remove(&event.session.handle));
            assert!(event.at >= event.deadline.unwrap());
            ended += 1;
        }
    }
    assert!(deadlines.is_empty());
}

/// A session's details list its events however many other events the
/// stream took since: they are found along the session's own chain, not
/// among the newest entries. Those the stream no longer holds are left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_details_hold_its_events_however_busy_the_stream_is() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "chain:", policy()).await;
    let b = node(&redis, "chain:", policy()).await;
    let (token, alice) = a.login(login("alice")).await.unwrap();
    b.touch(token.expose()).await.unwrap();
    let (token, _) = a.renew(token.expose()).await.unwrap();
    b.touch_handle(alice.handle, "sim").await.unwrap();
    // 6,000 events of other sessions follow.
    for i in 0..3000 {
        let (other, _) = b.login(login(&format!("user{i}"))).await.unwrap();
        a.touch(other.expose()).await.unwrap();
    }
    a.touch(token.expose()).await.unwrap();
    for n in [&a, &b] {
        let (view, events) = n.get(alice.handle).await.unwrap().expect("live");
        assert_eq!(view.handle, alice.handle);
        let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::Created,
                EventKind::Touched,
                EventKind::Renewed,
                EventKind::Touched,
                EventKind::Touched
            ]
        );
        assert!(events.iter().all(|e| e.session.handle == alice.handle));
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
        assert_eq!(events[3].actor.as_deref(), Some("sim"));
        assert_eq!(events[4].seq, n.stats().await.unwrap().last_seq);
    }

    // A stream that keeps few events: the details hold what it still has.
    let mut options = RedisOptions::new(redis.url(), policy());
    options.key_prefix = "short:".to_owned();
    options.retention = 100;
    let c = RedisStore::connect(options).await.unwrap();
    let (token, bob) = c.login(login("bob")).await.unwrap();
    for i in 0..500 {
        c.login(login(&format!("user{i}"))).await.unwrap();
    }
    c.touch(token.expose()).await.unwrap();
    let (_, events) = c.get(bob.handle).await.unwrap().expect("live");
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Touched], "the created event was trimmed");
}

/// Touches that reach a node together go to Redis in one call, and their
/// events make one stream entry; each is still its own event with its own
/// seq, read back exactly by a subscriber that starts inside that entry, and
/// in each session's details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touches_that_arrive_together_share_a_call_and_keep_their_own_events() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "together:", policy()).await;
    let b = node(&redis, "together:", policy()).await;
    let mut sessions = Vec::new();
    for i in 0..300 {
        sessions.push(a.login(login(&format!("user{i}"))).await.unwrap());
    }
    let before = a.stats().await.unwrap().last_seq;
    let mut on_b = b.subscribe_after(before).await.unwrap();
    let touches = sessions.iter().map(|(token, _)| a.touch(token.expose()));
    let views = futures_util::future::join_all(touches).await;
    for (view, (_, created)) in views.into_iter().zip(&sessions) {
        assert_eq!(view.unwrap().handle, created.handle);
    }
    let last = a.stats().await.unwrap().last_seq;
    assert_eq!(last, before + 300, "one event per touch");

    let entries = stream_entries(&redis, "together:e").await;
    assert!(
        entries < last,
        "touches arriving together share stream entries ({entries} entries for {last} events)"
    );

    let mut seen = Vec::new();
    while seen.len() < 300 {
        let event = next_event(&mut on_b).await;
        assert_eq!(event.kind, EventKind::Touched);
        seen.push((event.seq, event.session.handle));
    }
    let seqs: Vec<u64> = seen.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (before + 1..=last).collect::<Vec<_>>());
    let mut handles: Vec<_> = seen.iter().map(|(_, handle)| handle.0).collect();
    handles.sort_unstable();
    let mut expected: Vec<_> = sessions.iter().map(|(_, view)| view.handle.0).collect();
    expected.sort_unstable();
    assert_eq!(handles, expected, "each session touched once");

    // Resuming at any seq, inside an entry or at its edge, gives exactly what follows.
    for from in [before, before + 1, before + 150, last - 1] {
        let mut resumed = a.subscribe_after(from).await.unwrap();
        let mut seqs = Vec::new();
        while seqs.last() != Some(&last) {
            seqs.push(next_event(&mut resumed).await.seq);
        }
        assert_eq!(seqs, (from + 1..=last).collect::<Vec<_>>(), "after {from}");
    }

    // Each session's details find its touch inside the shared entry.
    for (seq, handle) in [seen[0], seen[149], seen[299]] {
        let (_, events) = b.get(handle).await.unwrap().expect("live");
        let found: Vec<(EventKind, u64)> = events.iter().map(|e| (e.kind, e.seq)).collect();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0, EventKind::Created);
        assert_eq!(found[1], (EventKind::Touched, seq));
        assert!(events.iter().all(|e| e.session.handle == handle));
    }
}

/// A call that makes thousands of events (a user's 2,500 sessions revoked
/// at once) appends them as one stream entry, still one seq each, in order,
/// read back from any point inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_of_thousands_of_events_makes_one_entry_read_from_anywhere() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "many:", policy()).await;
    let logins = (0..2_500).map(|_| a.login(login("carol")));
    let sessions = futures_util::future::try_join_all(logins).await.unwrap();
    let before = a.stats().await.unwrap().last_seq;
    let entries_before = stream_entries(&redis, "many:e").await;

    let revoked = a.revoke_mine(sessions[0].0.expose(), None).await.unwrap();
    assert_eq!(revoked, 2_499);
    let last = a.stats().await.unwrap().last_seq;
    assert_eq!(
        last,
        before + 2_500,
        "one event per revoked session, then the caller's touch"
    );
    let entries = stream_entries(&redis, "many:e").await;
    assert_eq!(entries - entries_before, 1, "one entry for the call");

    for from in [before, before + 999, before + 1_000, before + 1_700] {
        let mut resumed = a.subscribe_after(from).await.unwrap();
        let mut seqs = Vec::new();
        while seqs.last() != Some(&last) {
            let event = next_event(&mut resumed).await;
            let kind = if event.seq == last {
                EventKind::Touched
            } else {
                EventKind::Revoked
            };
            assert_eq!(event.kind, kind, "seq {}", event.seq);
            seqs.push(event.seq);
        }
        assert_eq!(seqs, (from + 1..=last).collect::<Vec<_>>(), "after {from}");
    }
}

/// Stream entries written by earlier versions, whose events hold their
/// numbers in decimal (one event in `v`, several in `b`), are read by
/// subscribers and by a session's details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_entries_of_an_earlier_version_still_read() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "oldstream:", policy()).await;
    let (_, view) = a.login(login("erin")).await.unwrap();
    let created = a.stats().await.unwrap().last_seq;
    let handle = view.handle.0.to_be_bytes();
    let old_event = |at: i64| {
        let mut bytes = b"7:touched0:0:8:".to_vec();
        bytes.extend_from_slice(&handle);
        bytes.extend_from_slice(b"4:erin6:active");
        let numbers = format!(
            "{at} 0 0 {} {at} {} {} {} {}",
            view.created_at,
            at + view.idle_timeout_ms,
            view.absolute_expires_at,
            at + view.idle_timeout_ms,
            view.idle_timeout_ms
        );
        bytes.extend_from_slice(format!("{}:{numbers}", numbers.len()).as_bytes());
        bytes.extend_from_slice(b"2:ip9:192.0.2.7");
        bytes
    };
    let mut batch = Vec::new();
    for at in [view.created_at + 2, view.created_at + 3] {
        let event = old_event(at);
        batch.extend_from_slice(format!("{}:", event.len()).as_bytes());
        batch.extend_from_slice(&event);
    }
    let mut conn = raw_connection(&redis).await;
    let _: () = redis::pipe()
        .cmd("XADD")
        .arg("oldstream:e")
        .arg(format!("{}-0", created + 1))
        .arg("v")
        .arg(old_event(view.created_at + 1))
        .arg("p")
        .arg(created)
        .cmd("XADD")
        .arg("oldstream:e")
        .arg(format!("{}-0", created + 2))
        .arg("b")
        .arg(batch)
        .arg("q")
        .arg(format!("{} {}", created + 1, created + 2))
        .cmd("HSET")
        .arg("oldstream:m")
        .arg("seq")
        .arg(created + 3)
        .query_async(&mut conn)
        .await
        .unwrap();

    let mut resumed = a.subscribe_after(created).await.unwrap();
    for (seq, at) in [(1, 1), (2, 2), (3, 3)] {
        let event = next_event(&mut resumed).await;
        assert_eq!((event.seq, event.kind), (created + seq, EventKind::Touched));
        assert_eq!(event.at, view.created_at + at);
        assert_eq!(event.session.handle, view.handle);
        assert_eq!(event.session.last_seen_at, view.created_at + at);
    }

    // With the session's newest event among them, its details follow the
    // chain back through both kinds of entry to its login.
    let _: () = redis::Script::new(
        "local t = { cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) }
         t[11] = tonumber(ARGV[2])
         redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(unpack(t)))",
    )
    .key("oldstream:s")
    .arg(&handle[..])
    .arg(created + 3)
    .invoke_async(&mut conn)
    .await
    .unwrap();
    let (_, events) = a.get(view.handle).await.unwrap().expect("live");
    let found: Vec<(u64, EventKind)> = events.iter().map(|e| (e.seq, e.kind)).collect();
    assert_eq!(
        found,
        [
            (created, EventKind::Created),
            (created + 1, EventKind::Touched),
            (created + 2, EventKind::Touched),
            (created + 3, EventKind::Touched),
        ]
    );
}

/// When the count of sessions passes a power of two, Redis starts moving the
/// sessions hash and the deadline set into tables twice the size, a bucket
/// per lookup; the nodes finish that move rather than leave it to the next
/// burst of expiries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_finish_growing_the_tables_that_redis_leaves_half_grown() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut conn = raw_connection(&redis).await;
    // Entries that no script will read: only their count matters here.
    let count = 65_537;
    let mut plant = redis::pipe();
    for chunk in (0..count).collect::<Vec<u32>>().chunks(10_000) {
        let mut hset = redis::cmd("HSET");
        let mut zadd = redis::cmd("ZADD");
        hset.arg("grow:s");
        zadd.arg("grow:d");
        for i in chunk {
            hset.arg(format!("f{i}")).arg("x");
            zadd.arg(9_000_000_000_000_000i64).arg(format!("f{i}"));
        }
        plant.add_command(hset).ignore().add_command(zadd).ignore();
    }
    let _: () = plant.query_async(&mut conn).await.unwrap();
    let watcher = conn.clone();
    let growing = |key: &'static str| {
        let mut conn = watcher.clone();
        async move {
            let stats: String = redis::cmd("DEBUG")
                .arg("HTSTATS-KEY")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
            stats.contains("rehashing target")
        }
    };
    assert!(growing("grow:s").await && growing("grow:d").await);

    let _a = node(&redis, "grow:", policy()).await;
    let _b = node(&redis, "grow:", policy()).await;
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let left: Option<i64> = redis::cmd("HGET")
            .arg("grow:m")
            .arg("rehash_left")
            .query_async(&mut conn)
            .await
            .unwrap();
        if left == Some(0) {
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the nodes did not help ({left:?} left)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !growing("grow:s").await,
        "the sessions hash has finished growing"
    );
    assert!(
        !growing("grow:d").await,
        "the deadline set has finished growing"
    );
}

/// A session written by an earlier version (its attributes a msgpack map,
/// not yet kept encoded) is read, touched and listed as before.
/// Writes a session of user `olduser` as an earlier version stored it (its
/// attributes, ip 192.0.2.1 and agent curl, a table in the record), idle
/// for `idle_ms` from now.
async fn plant_earlier_versions_session(
    redis: &RedisServer,
    prefix: &str,
    handle: sessiontop::engine::Handle,
    idle_ms: u64,
) {
    let plant = r#"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local idle = tonumber(ARGV[2])
        redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack('olduser', string.rep('x', 32), now,
          0, idle, 28800000, 0, 0, { ip = '192.0.2.1', agent = 'curl' }, 1, 0))
        redis.call('ZADD', KEYS[2], now + idle, ARGV[1])"#;
    redis::cmd("EVAL")
        .arg(plant)
        .arg(2)
        .arg(format!("{prefix}s"))
        .arg(format!("{prefix}d"))
        .arg(handle.0.to_be_bytes().as_slice())
        .arg(idle_ms)
        .exec_async(&mut raw_connection(redis).await)
        .await
        .unwrap();
}

/// Touches by token are coalesced (one event a minute here); an operator's
/// touch is announced at once, each with its actor, as the engine does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operators_touch_is_announced_at_once_with_its_actor() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let coalescing = Policy {
        touch_event_interval: Duration::from_secs(60),
        ..Policy::default()
    };
    let a = node(&redis, "op:", coalescing.clone()).await;
    let b = node(&redis, "op:", coalescing).await;
    let mut watch = b.subscribe_after(0).await.unwrap();
    let (token, view) = a.login(login("alice")).await.unwrap();
    assert_eq!(next_event(&mut watch).await.kind, EventKind::Created);
    a.touch(token.expose()).await.unwrap();
    for _ in 0..2 {
        let touched = b.touch_handle(view.handle, "admin").await.unwrap();
        let event = next_event(&mut watch).await;
        assert_eq!(event.kind, EventKind::Touched);
        assert_eq!(event.actor.as_deref(), Some("admin"));
        assert_eq!(event.session.last_seen_at, touched.last_seen_at);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_stored_by_an_earlier_version_keeps_its_attributes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "old:", policy()).await;
    let handle = sessiontop::engine::Handle(0x000a_bcde_f012_3456);
    plant_earlier_versions_session(&redis, "old:", handle, 1_800_000).await;
    let attributes =
        |view: &sessiontop::engine::SessionView| serde_json::to_value(&view.attributes).unwrap();
    let expected = serde_json::json!({"ip": "192.0.2.1", "agent": "curl"});

    let touched = a.touch_handle(handle, "test").await.unwrap();
    assert_eq!(touched.user, "olduser");
    assert_eq!(attributes(&touched), expected);
    let (listed, _) = a.list(None, 10, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(attributes(&listed[0]), expected);
    let (view, events) = a.get(handle).await.unwrap().expect("live");
    assert_eq!(
        attributes(&view),
        expected,
        "kept after the touch rewrote it"
    );
    assert_eq!(events.len(), 1);
    assert_eq!(attributes(&events[0].session), expected);
}

/// The expiry claim copies each ended session's record into the stream and
/// the nodes make its `expired` event from it: the event holds the session
/// exactly as Redis last answered it, whatever its attributes hold, and
/// names the deadline that ended it. A record an earlier version wrote
/// (its attributes a table) ends the same way. The copies leave the
/// verifier hash behind: the stream never holds one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_event_holds_the_session_as_it_last_was() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "ends:", policy()).await;
    let b = node(&redis, "ends:", policy()).await;
    let mut watch = b.subscribe_after(0).await.unwrap();
    let old = sessiontop::engine::Handle(0x000a_bcde_f012_3456);
    plant_earlier_versions_session(&redis, "ends:", old, 1_000).await;

    let mut attributes = BTreeMap::new();
    attributes.insert("ip".to_owned(), "2001:db8::7".to_owned());
    attributes.insert(
        "user_agent".to_owned(),
        "Mozilla/5.0 (Zoë; 12:30) ✓".to_owned(),
    );
    let idle = Login {
        idle_timeout: Some(Duration::from_secs(1)),
        attributes: Some(attributes.clone()),
        ..Login::user("ana:lyst")
    };
    let (token, _) = a.login(idle).await.unwrap();
    let touched = b.touch(token.expose()).await.unwrap();
    let absolute = Login {
        absolute_timeout: Some(Duration::from_secs(2)),
        attributes: Some(attributes),
        ..Login::user("Bob")
    };
    let (_, until) = a.login(absolute).await.unwrap();
    let mut verifiers = Vec::new();
    for handle in [touched.handle, until.handle] {
        let verifier: Vec<u8> = redis::cmd("EVAL")
            .arg("local _, vh = cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) return vh")
            .arg(1)
            .arg("ends:s")
            .arg(handle.0.to_be_bytes().as_slice())
            .query_async(&mut raw_connection(&redis).await)
            .await
            .unwrap();
        assert_eq!(verifier.len(), 32);
        verifiers.push(verifier);
    }

    let mut expected = HashMap::from([
        (
            touched.handle,
            (touched.clone(), ExpiryReason::Idle, touched.idle_expires_at),
        ),
        (
            until.handle,
            (
                until.clone(),
                ExpiryReason::Absolute,
                until.absolute_expires_at,
            ),
        ),
    ]);
    let mut old_ended = false;
    while !(expected.is_empty() && old_ended) {
        let event = next_event(&mut watch).await;
        if event.kind != EventKind::Expired {
            continue;
        }
        assert_eq!(event.actor, None);
        assert!(event.at >= event.deadline.unwrap(), "never early");
        if event.session.handle == old {
            assert_eq!(event.reason, Some(ExpiryReason::Idle));
            assert_eq!(event.session.user, "olduser");
            assert_eq!(
                serde_json::to_value(&event.session.attributes).unwrap(),
                serde_json::json!({"ip": "192.0.2.1", "agent": "curl"})
            );
            assert_eq!(event.deadline, Some(event.session.idle_expires_at));
            old_ended = true;
            continue;
        }
        let (view, reason, deadline) = expected
            .remove(&event.session.handle)
            .expect("one expired event for each session");
        assert_eq!(event.reason, Some(reason));
        assert_eq!(event.deadline, Some(deadline));
        let ended = sessiontop::engine::SessionView {
            state: State::Expired,
            ..view
        };
        assert_eq!(event.session, ended);
    }
    // The events in Redis's own stream read the same from the other node.
    let mut again = a.subscribe_after(0).await.unwrap();
    let mut seen = 0;
    while seen < 3 {
        if next_event(&mut again).await.kind == EventKind::Expired {
            seen += 1;
        }
    }
    let entries: Vec<(String, Vec<Vec<u8>>)> = redis::cmd("XRANGE")
        .arg("ends:e")
        .arg("-")
        .arg("+")
        .query_async(&mut raw_connection(&redis).await)
        .await
        .unwrap();
    let stream: Vec<u8> = entries.into_iter().flat_map(|(_, f)| f.concat()).collect();
    for verifier in &verifiers {
        assert!(!stream.windows(32).any(|w| w == verifier.as_slice()));
    }
    let stats = a.stats().await.unwrap();
    assert_eq!(stats.active, 0);
    assert_eq!(stats.totals.expired_idle, 2);
    assert_eq!(stats.totals.expired_absolute, 1);
}

/// An expiry leaves its member in the user's set (the claim touches no user
/// key); whoever reads the set next looks past it, and the set itself
/// expires with the last absolute deadline of its sessions. A member that
/// names another user's session is never taken for this user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_set_drops_what_ended_and_expires_with_its_sessions() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "users:", policy()).await;
    let mut conn = raw_connection(&redis).await;
    let short = Login {
        idle_timeout: Some(Duration::from_secs(1)),
        absolute_timeout: Some(Duration::from_secs(60)),
        ..Login::user("alice")
    };
    let (_, brief) = a.login(short).await.unwrap();
    let long = Login {
        absolute_timeout: Some(Duration::from_secs(3600)),
        ..Login::user("alice")
    };
    let (token, kept) = a.login(long).await.unwrap();
    let expires_at: i64 = redis::cmd("PEXPIRETIME")
        .arg("users:u:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        expires_at, kept.absolute_expires_at,
        "the set lives as long as its longest session can"
    );

    // The brief session expires; its member stays until the set is read.
    let mut events = a.subscribe_after(0).await.unwrap();
    loop {
        let event = next_event(&mut events).await;
        if event.kind == EventKind::Expired {
            assert_eq!(event.session.handle, brief.handle);
            break;
        }
    }
    let members: u64 = redis::cmd("SCARD")
        .arg("users:u:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(members, 2);
    let (listed, _) = a.list(Some("alice"), 10, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|v| v.handle).collect::<Vec<_>>(),
        [kept.handle]
    );

    // A member naming bob's session (as a reused handle would) is not alice's.
    let (_, bob) = a.login(Login::user("bob")).await.unwrap();
    redis::cmd("SADD")
        .arg("users:u:alice")
        .arg(bob.handle.0)
        .exec_async(&mut conn)
        .await
        .unwrap();
    let (listed, _) = a.list(Some("alice"), 10, None).await.unwrap();
    assert_eq!(
        listed.iter().map(|v| v.handle).collect::<Vec<_>>(),
        [kept.handle]
    );
    let mine = a.mine(token.expose()).await.unwrap();
    assert_eq!(
        mine.sessions.iter().map(|v| v.handle).collect::<Vec<_>>(),
        [kept.handle]
    );
    let members: u64 = redis::cmd("SCARD")
        .arg("users:u:alice")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        members, 1,
        "reading the set dropped what is not alice's any more"
    );
    redis::cmd("SADD")
        .arg("users:u:alice")
        .arg(bob.handle.0)
        .exec_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(a.revoke_user("alice", "test").await.unwrap(), 1);
    assert!(
        a.get(bob.handle).await.unwrap().is_some(),
        "bob's session lives"
    );
}

/// A node removes the functions that other sessiontop versions loaded, and
/// nothing else; a node whose functions were removed loads them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_removes_other_versions_functions_and_survives_losing_its_own() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut conn = raw_connection(&redis).await;
    let libraries = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let listed: Vec<Vec<redis::Value>> = redis::cmd("FUNCTION")
                .arg("LIST")
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut names: Vec<String> = listed
                .into_iter()
                .map(|library| redis::from_redis_value(library[1].clone()).unwrap())
                .collect();
            names.sort();
            names
        }
    };
    for name in ["sessiontop_0000000000000000", "someone_elses"] {
        redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(format!(
                "#!lua name={name}\nredis.register_function('{name}', function() return 1 end)"
            ))
            .exec_async(&mut conn)
            .await
            .unwrap();
    }
    let a = node(&redis, "versions:", policy()).await;
    let (token, _) = a.login(login("alice")).await.unwrap();
    let loaded = libraries(&mut conn).await;
    assert!(loaded.contains(&"someone_elses".to_owned()));
    assert!(!loaded.contains(&"sessiontop_0000000000000000".to_owned()));
    assert!(loaded.iter().any(|name| name.starts_with("sessiontop_")));

    // Another version's node starts and removes ours: the next call loads them again.
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .exec_async(&mut conn)
        .await
        .unwrap();
    a.touch(token.expose()).await.expect("the touch goes on");
    assert!(
        libraries(&mut conn)
            .await
            .iter()
            .any(|name| name.starts_with("sessiontop_"))
    );
}

/// "From now on" is Redis's now: a client that changes something and then
/// subscribes on the same node never gets its own change as news, however
/// far behind the node's reading of the stream is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_subscription_starts_after_what_redis_already_holds() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "now:", policy()).await;
    for i in 0..50 {
        let (_, before) = a.login(Login::user(format!("before{i}"))).await.unwrap();
        let (mut live, newest) = a.subscribe_live().await.unwrap();
        assert_eq!(newest, a.stats().await.unwrap().last_seq, "round {i}");
        let (_, after) = a.login(Login::user(format!("after{i}"))).await.unwrap();
        let event = next_event(&mut live).await;
        assert_eq!(event.kind, EventKind::Created);
        assert_eq!(
            event.session.handle, after.handle,
            "round {i}: the login before the subscription ({:?}) came as news",
            before.handle
        );
        assert_eq!(event.seq, newest + 1);
    }
}

/// However often a user logs in while their sessions expire unseen, the set
/// of their sessions does not grow without end: each login drops members
/// whose session is gone. A set an earlier version wrote (no expiry) gets
/// the latest absolute deadline of its sessions, not the new login's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_set_stays_small_and_outlives_its_sessions() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "busy:", policy()).await;
    let mut conn = raw_connection(&redis).await;
    let members = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let n: u64 = redis::cmd("SCARD")
                .arg("busy:u:svc")
                .query_async(&mut conn)
                .await
                .unwrap();
            n
        }
    };
    let brief = || Login {
        idle_timeout: Some(Duration::from_secs(1)),
        ..Login::user("svc")
    };
    let mut events = a.subscribe_after(0).await.unwrap();
    for _ in 0..40 {
        a.login(brief()).await.unwrap();
    }
    let mut expired = 0;
    while expired < 40 {
        if next_event(&mut events).await.kind == EventKind::Expired {
            expired += 1;
        }
    }
    assert_eq!(
        members(&mut conn).await,
        40,
        "the expiries left their members"
    );
    let mut logins = 0;
    while members(&mut conn).await > logins {
        assert!(
            logins < 300,
            "the set still holds dead members after {logins} logins"
        );
        a.login(Login::user("svc")).await.unwrap();
        logins += 1;
    }

    // A set without an expiry, as earlier versions wrote them.
    let long = Login {
        absolute_timeout: Some(Duration::from_secs(7200)),
        ..Login::user("old")
    };
    let (_, kept) = a.login(long).await.unwrap();
    redis::cmd("PERSIST")
        .arg("busy:u:old")
        .exec_async(&mut conn)
        .await
        .unwrap();
    let short = Login {
        absolute_timeout: Some(Duration::from_secs(60)),
        ..Login::user("old")
    };
    a.login(short).await.unwrap();
    let expires_at: i64 = redis::cmd("PEXPIRETIME")
        .arg("busy:u:old")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(expires_at, kept.absolute_expires_at);
}

/// Deployments share a Redis by key prefix, and a deployment keeps its user
/// sets at `<prefix>u:<user>`: a prefix that begins with another's and `u:`
/// names keys inside it. A node refuses to start on one, in either order;
/// and when it cannot tell (an inner deployment of an earlier version, not
/// in the registry), a login whose user's set would land on one of the inner
/// deployment's keys is refused with nothing written, not stopped halfway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_key_prefixes_are_refused_and_change_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut raw = raw_connection(&redis).await;
    // The inner deployment first: a node of the outer one does not start.
    let inner = connect(&redis, "nest:u:", policy()).await.unwrap();
    inner.login(login("someone")).await.unwrap();
    let refused = connect(&redis, "nest:", policy()).await;
    let Err(StoreError::Conflict(why)) = refused else {
        panic!("a node started around another deployment's keys");
    };
    assert!(why.contains("\"nest:u:\" lies inside"), "{why}");
    let exists: bool = redis::cmd("EXISTS")
        .arg("nest:m")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!exists, "the refused node wrote its meta hash");

    // As if the inner deployment ran an earlier version, which did not
    // register its prefix: the outer node starts, and its login of user "m",
    // whose set would be the inner deployment's meta hash, changes nothing.
    redis::cmd("SREM")
        .arg(sessiontop::store::redis::REGISTRY)
        .arg("nest:u:")
        .exec_async(&mut raw)
        .await
        .unwrap();
    let outer = connect(&redis, "nest:", policy()).await.unwrap();
    let before = outer.stats().await.unwrap();
    let refused = outer.login(login("m")).await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(why)) if why.contains("nothing was changed")),
        "{refused:?}"
    );
    let after = outer.stats().await.unwrap();
    assert_eq!(after.active, before.active);
    assert_eq!(after.last_seq, before.last_seq, "no event was written");
    let (listed, _) = outer.list(None, 10, None).await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
    let kind: String = redis::cmd("TYPE")
        .arg("nest:u:m")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(kind, "hash", "the inner deployment's meta hash is intact");
    // Other users of the outer deployment log in as usual.
    outer.login(login("alice")).await.unwrap();

    // The outer deployment first: a node on a prefix inside it does not start.
    let refused = connect(&redis, "nest:u:again:", policy()).await;
    let Err(StoreError::Conflict(why)) = refused else {
        panic!("a node started inside another deployment's keys");
    };
    assert!(why.contains("\"nest:\""), "{why}");
    let exists: bool = redis::cmd("EXISTS")
        .arg("nest:u:again:m")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!exists, "the refused node wrote its meta hash");

    // Some other kind of key where a deployment keeps its counts.
    redis::cmd("SADD")
        .arg("odd:m")
        .arg("x")
        .exec_async(&mut raw)
        .await
        .unwrap();
    let refused = connect(&redis, "odd:", policy()).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(why)) if why.contains("a set at")),
        "{:?}",
        refused.err()
    );

    // A registered deployment whose keys are gone holds nothing back, and
    // leaves the registry.
    redis::cmd("SADD")
        .arg(sessiontop::store::redis::REGISTRY)
        .arg("gone:u:")
        .exec_async(&mut raw)
        .await
        .unwrap();
    connect(&redis, "gone:", policy())
        .await
        .expect("a gone deployment is no obstacle");
    let registered: Vec<String> = redis::cmd("SMEMBERS")
        .arg(sessiontop::store::redis::REGISTRY)
        .query_async(&mut raw)
        .await
        .unwrap();
    let registered: std::collections::BTreeSet<_> = registered.iter().map(String::as_str).collect();
    assert_eq!(
        registered,
        ["gone:", "nest:"].into_iter().collect(),
        "each started deployment, and no gone one"
    );
}

/// The registry is a key like any other: when Redis loses its data, a
/// running node enters its deployment again as it starts the new history, so
/// a node of an overlapping deployment is still refused at its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_loses_its_data_overlapping_prefixes_are_still_refused() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut raw = raw_connection(&redis).await;
    let inner = connect(&redis, "lost:u:", policy()).await.unwrap();
    inner.login(login("someone")).await.unwrap();
    redis::cmd("FLUSHALL").exec_async(&mut raw).await.unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let registered: Vec<String> = redis::cmd("SMEMBERS")
            .arg(sessiontop::store::redis::REGISTRY)
            .query_async(&mut raw)
            .await
            .unwrap();
        if registered.iter().any(|p| p == "lost:u:") {
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "the node did not register again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = connect(&redis, "lost:", policy()).await;
    let Err(StoreError::Conflict(why)) = refused else {
        panic!("a node started around another deployment's keys after a flush");
    };
    assert!(why.contains("\"lost:u:\" lies inside"), "{why}");
    inner
        .login(login("after"))
        .await
        .expect("the inner deployment serves on");
}

/// `/readyz` on Redis is a write: a Redis that answers PING but refuses every
/// change (at its `maxmemory` with `noeviction`, or turned into a read-only
/// replica) is not ready, and is again once it takes writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_answers_but_refuses_writes_is_not_ready() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "ready:", policy()).await;
    a.login(login("ada")).await.unwrap();
    a.ready().await.expect("ready while Redis takes writes");
    let mut admin = raw_connection(&redis).await;
    let not_ready = |answer: Result<(), StoreError>, why: &str| {
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "ready {why}: {answer:?}"
        );
    };

    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1")
        .exec_async(&mut admin)
        .await
        .unwrap();
    assert!(matches!(
        a.login(login("bob")).await,
        Err(StoreError::Unavailable(_))
    ));
    not_ready(a.ready().await, "at maxmemory");
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("0")
        .exec_async(&mut admin)
        .await
        .unwrap();
    a.ready().await.expect("ready once memory is free");

    // A replica of a Redis that is not there: it keeps its data and refuses writes.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(dead_port)
        .exec_async(&mut admin)
        .await
        .unwrap();
    assert!(matches!(
        a.login(login("bob")).await,
        Err(StoreError::Unavailable(_))
    ));
    not_ready(a.ready().await, "as a read-only replica");
    redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .exec_async(&mut admin)
        .await
        .unwrap();
    a.ready().await.expect("ready once it is a primary again");
    a.login(login("bob")).await.expect("and it takes logins");

    // The check's field in the meta hash changes no count.
    let stats = a.stats().await.unwrap();
    assert_eq!((stats.active, stats.totals.logins), (2, 2));
    a.shutdown();
}

/// A node pointed at a read-only replica is told to use the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_a_read_only_replica_is_told_to_use_the_primary() {
    let (Some(primary), Some(replica)) = (RedisServer::start(), RedisServer::start()) else {
        return;
    };
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port())
        .exec_async(&mut raw_connection(&replica).await)
        .await
        .unwrap();
    match connect(&replica, "replica:", policy()).await {
        Err(StoreError::Unavailable(why)) => assert_eq!(
            why,
            "Redis is a read-only replica: give the store URL of the primary"
        ),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a node started on a read-only replica"),
    }
}
