//! The Redis store when things break: Redis killed and restarted under load,
//! and a node whose clock is wrong. Real `redis-server` processes, AOF on.

#[path = "support/redis.rs"]
mod redis_support;

#[allow(dead_code)]
#[path = "support/proxy.rs"]
mod proxy;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use sessiontop::engine::driver::Delivery;
use sessiontop::engine::{Clock, EventKind, ExpiryReason, Login, Millis, Policy, SystemClock};
use sessiontop::server::metrics::{Metrics, follow_expiries};
use sessiontop::store::redis::{RedisOptions, RedisStore, SubscribeError};
use sessiontop::store::{Sessions, StoreError};

use redis_support::RedisServer;

const PATIENCE: Duration = Duration::from_secs(30);

async fn node_with(redis: &RedisServer, prefix: &str, clock: Arc<dyn Clock>) -> RedisStore {
    let mut options = RedisOptions::new(redis.url(), Policy::default());
    options.key_prefix = prefix.to_owned();
    options.clock = clock;
    RedisStore::connect(options)
        .await
        .expect("the node connects")
}

async fn node(redis: &RedisServer, prefix: &str) -> RedisStore {
    node_with(redis, prefix, Arc::new(SystemClock)).await
}

/// Polls until Redis answers this node again.
async fn until_back(store: &RedisStore) {
    let give_up = Instant::now() + PATIENCE;
    while store.stats().await.is_err() {
        assert!(Instant::now() < give_up, "the node did not recover");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_load_answers_unavailable_then_recovers_with_every_session() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "fault:").await;
    let b = node(&redis, "fault:").await;
    let mut watch = a.subscribe_after(0).await.unwrap();
    // `/metrics`' lateness figures, as `serve` keeps them on node b.
    let metrics = Arc::new(Metrics::new());
    let follower = tokio::spawn(follow_expiries(
        Sessions::redis(b.clone(), redis.url()),
        metrics.clone(),
    ));

    // A steady load of logins on both nodes, keeping every answered token.
    let running = Arc::new(AtomicBool::new(true));
    let mut workers = Vec::new();
    for (i, n) in [a.clone(), b.clone()].into_iter().enumerate() {
        let running = running.clone();
        workers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            let mut refused = 0;
            let mut slowest = Duration::ZERO;
            let mut k = 0;
            while running.load(Ordering::SeqCst) {
                k += 1;
                let started = Instant::now();
                match n.login(Login::user(format!("load{i}-{k}"))).await {
                    Ok((token, _)) => answered.push(token),
                    Err(StoreError::Unavailable(_)) => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(other) => panic!("unexpected answer {other:?}"),
                }
                slowest = slowest.max(started.elapsed());
            }
            (answered, refused, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Sessions that fall due while Redis is away.
    let mut due = HashMap::new();
    for i in 0..20 {
        let login = Login {
            idle_timeout: Some(Duration::from_secs(1)),
            ..Login::user(format!("short{i}"))
        };
        let (_, view) = a.login(login).await.unwrap();
        due.insert(view.handle, view.idle_expires_at);
    }
    redis.kill();

    let started = Instant::now();
    let answer = b.touch("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "an answer within about a second, not a hang"
    );
    assert!(matches!(a.stats().await, Err(StoreError::Unavailable(_))));
    assert!(matches!(
        b.subscribe_after(0).await,
        Err(SubscribeError::Store(StoreError::Unavailable(_)))
    ));
    // The open subscription is closed, so its client reconnects and resumes.
    let closed = tokio::time::timeout(PATIENCE, async {
        loop {
            if watch.next().await.is_none() {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the subscription ended during the outage");

    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.restart();
    until_back(&a).await;
    until_back(&b).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::SeqCst);
    let mut answered = Vec::new();
    let mut refused = 0;
    for worker in workers {
        let (tokens, r, slowest) = worker.await.expect("no panic under load");
        assert!(
            slowest < Duration::from_secs(3),
            "a login hung for {slowest:?}"
        );
        answered.extend(tokens);
        refused += r;
    }
    assert!(refused > 0, "the load met the outage");
    // Every answered login survived the crash (AOF, fsync always).
    for token in &answered {
        a.touch(token.expose())
            .await
            .expect("an answered login survives");
    }

    // What fell due during the outage ended after it, with honest lateness.
    let mut after = a.subscribe_after(0).await.unwrap();
    let mut events = std::mem::take(&mut after.backlog);
    let give_up = Instant::now() + PATIENCE;
    while events
        .iter()
        .filter(|e| e.kind == EventKind::Expired)
        .count()
        < 20
    {
        assert!(Instant::now() < give_up, "the due sessions did not end");
        if let Ok(Some(Delivery::Event(event))) =
            tokio::time::timeout(Duration::from_secs(1), after.next()).await
        {
            events.push(std::sync::Arc::unwrap_or_clone(event));
        }
    }
    for event in events.iter().filter(|e| e.kind == EventKind::Expired) {
        assert_eq!(event.reason, Some(ExpiryReason::Idle));
        assert_eq!(event.deadline, due.get(&event.session.handle).copied());
        assert!(
            event.lateness_ms().unwrap() >= 500,
            "ended after the outage, and says so: {event:?}"
        );
    }
    // `/metrics` counts them too, with the outage in their lateness: the
    // follower took the stream up again where it had been cut.
    let give_up = Instant::now() + PATIENCE;
    loop {
        let text = metrics.render(None);
        let figure = |name: &str| {
            text.lines()
                .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        let (count, sum) = (
            figure("sessiontop_expiry_lateness_seconds_count"),
            figure("sessiontop_expiry_lateness_seconds_sum"),
        );
        if count >= 20.0 {
            assert!(
                sum >= 20.0 * 0.5,
                "each over half a second late: {sum} s in all"
            );
            break;
        }
        assert!(
            Instant::now() < give_up,
            "the lateness figures missed the outage's expiries: {count}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    follower.abort();
    // A login whose answer was lost to the kill may still have been written:
    // at most one per worker was in flight.
    let active = b.stats().await.unwrap().active as usize;
    assert!(
        (answered.len()..=answered.len() + 2).contains(&active),
        "{active} live for {} answered logins",
        answered.len()
    );
}

/// A node's clock that is off by a fixed amount.
struct OffsetClock(Millis);

impl Clock for OffsetClock {
    fn now(&self) -> Millis {
        SystemClock.now() + self.0
    }

    fn real_wait_until(&self, deadline: Millis) -> Option<Duration> {
        SystemClock.real_wait_until(deadline - self.0)
    }
}

/// A node clock that an operator (or NTP) steps while the node runs.
struct SteppedClock(AtomicI64);

impl Clock for SteppedClock {
    fn now(&self) -> Millis {
        SystemClock.now() + self.0.load(Ordering::SeqCst)
    }

    fn real_wait_until(&self, deadline: Millis) -> Option<Duration> {
        SystemClock.real_wait_until(deadline - self.0.load(Ordering::SeqCst))
    }
}

/// A node gives each call a deadline on Redis's clock (after it, the call
/// changes nothing). It reads Redis's clock with its own monotonic one, so a
/// step of its wall clock (by NTP or an operator) neither makes every call
/// look late (a step back) nor lets late calls through (a step forward).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_stepped_back_serves_on() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let clock = Arc::new(SteppedClock(AtomicI64::new(0)));
    let a = node_with(&redis, "step:", clock.clone()).await;
    let (token, _) = a.login(Login::user("stepper")).await.unwrap();
    clock.0.store(-5_000, Ordering::SeqCst);
    a.touch(token.expose())
        .await
        .expect("a touch right after the step");
    let (token, _) = a.renew(token.expose()).await.expect("a renew");
    a.logout(token.expose()).await.expect("a logout");
}

/// Each call carries a deadline on Redis's clock, read from the node's last
/// sample of it. When Redis's clock is stepped forward, every call arrives
/// "too late" by that reading, though Redis answered at once: the node reads
/// Redis's clock again and calls once more, rather than answering 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serves_on_after_redis_s_clock_is_stepped_forward() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "redis-step:").await;
    let (token, _) = a.login(Login::user("stepped")).await.unwrap();
    a.misread_redis_clock_for_tests(10_000);
    let touched = a
        .touch(token.expose())
        .await
        .expect("a touch right after the step");
    let redis_now = a.now().await.unwrap();
    assert!(
        (touched.last_seen_at - redis_now).abs() < 2_000,
        "the touch is at Redis's time: {} against {redis_now}",
        touched.last_seen_at
    );
    a.misread_redis_clock_for_tests(10_000);
    let (token, _) = a.renew(token.expose()).await.expect("a renew");
    a.misread_redis_clock_for_tests(10_000);
    a.logout(token.expose()).await.expect("a logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_wrong_clock_ends_sessions_neither_early_nor_late() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    for (prefix, offset) in [("ahead:", 3_600_000), ("behind:", -3_600_000)] {
        // The only node on this prefix: its driver alone ends these sessions.
        let wrong = node_with(&redis, prefix, Arc::new(OffsetClock(offset))).await;
        let redis_now = wrong.now().await.unwrap();
        let mut watch = wrong.subscribe_after(0).await.unwrap();
        let mut deadlines = HashMap::new();
        for i in 0..10 {
            let login = Login {
                idle_timeout: Some(Duration::from_secs(2)),
                ..Login::user(format!("clock{i}"))
            };
            let (_, view) = wrong.login(login).await.unwrap();
            assert!(
                (view.created_at - redis_now).abs() < 10_000,
                "times come from Redis, not the node's clock"
            );
            deadlines.insert(view.handle, view.idle_expires_at);
        }
        let mut ended = 0;
        while ended < 10 {
            let event = match tokio::time::timeout(PATIENCE, watch.next()).await {
                Ok(Some(Delivery::Event(event))) => std::sync::Arc::unwrap_or_clone(event),
                other => panic!("{prefix} expected an event, got {other:?}"),
            };
            if event.kind == EventKind::Expired {
                let deadline = deadlines[&event.session.handle];
                assert_eq!(event.deadline, Some(deadline));
                let lateness = event.at - deadline;
                assert!(lateness >= 0, "{prefix}: ended early");
                assert!(lateness < 5_000, "{prefix}: ended {lateness} ms late");
                ended += 1;
            }
        }
        wrong.shutdown();
    }
}

/// A stalled Redis (frozen, as a host under a failover or a stuck disk is)
/// runs the calls it holds when it wakes, after their callers were answered
/// `Unavailable` ("nothing was changed"): those calls must change nothing.
/// Otherwise a renew answered 503 would log its user out (the old token dead,
/// the new one never delivered) and a login answered 503 would leave a
/// session nobody holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_that_reach_a_stalled_redis_after_their_answer_change_nothing() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "stall:").await;
    let (token, _) = a.login(Login::user("renewer")).await.unwrap();
    let before = a.stats().await.unwrap();

    redis.pause();
    let started = Instant::now();
    let (renewed, touched, logged_in) = tokio::join!(
        a.renew(token.expose()),
        a.touch(token.expose()),
        a.login(Login::user("meanwhile")),
    );
    let answered_in = started.elapsed();
    // Long enough that every held call is past its deadline when Redis wakes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.resume();

    assert!(
        matches!(renewed, Err(StoreError::Unavailable(_))),
        "{renewed:?}"
    );
    assert!(
        matches!(touched, Err(StoreError::Unavailable(_))),
        "{touched:?}"
    );
    assert!(
        matches!(logged_in, Err(StoreError::Unavailable(_))),
        "{logged_in:?}"
    );
    assert!(
        answered_in < Duration::from_secs(1),
        "answered after {answered_in:?}"
    );

    until_back(&a).await;
    // Whatever Redis held has run by now.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = a.stats().await.unwrap();
    assert_eq!(after.last_seq, before.last_seq, "no event was added");
    assert_eq!(after.active, before.active);
    assert_eq!(after.totals.touches, before.totals.touches);
    assert_eq!(after.totals.renewals, before.totals.renewals);
    let (meanwhile, _) = a.list(Some("meanwhile"), 10, None).await.unwrap();
    assert!(
        meanwhile.is_empty(),
        "a login answered 503 made {meanwhile:?}"
    );
    // The token the user holds still works: the renew did not happen.
    a.touch(token.expose())
        .await
        .expect("the old token still works");
}

/// A stalled Redis answers no read with an error, it just says nothing: the
/// node's stream reader notices the silence and closes its subscriptions
/// within about two seconds, so their clients see the outage and resume
/// later; once Redis runs again a client resumes from its last id with
/// nothing missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_closes_subscriptions_and_they_resume_after() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "stall-feed:").await;
    a.login(Login::user("before")).await.unwrap();
    let seen = a.stats().await.unwrap().last_seq;
    let mut watch = a.subscribe_after(seen).await.unwrap();

    redis.pause();
    let started = Instant::now();
    let closed =
        tokio::time::timeout(PATIENCE, async { while watch.next().await.is_some() {} }).await;
    let closed_in = started.elapsed();
    redis.resume();
    assert!(closed.is_ok(), "the subscription ended during the stall");
    assert!(
        closed_in < Duration::from_secs(4),
        "closed {closed_in:?} after Redis stalled"
    );

    until_back(&a).await;
    a.login(Login::user("after")).await.unwrap();
    let give_up = Instant::now() + PATIENCE;
    let mut resumed = loop {
        match a.subscribe_after(seen).await {
            Ok(subscription) => break subscription,
            Err(error) => {
                assert!(Instant::now() < give_up, "no resume: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let mut events = std::mem::take(&mut resumed.backlog);
    while events.is_empty() {
        assert!(Instant::now() < give_up, "the resumed feed is silent");
        if let Ok(Some(Delivery::Event(event))) =
            tokio::time::timeout(Duration::from_secs(1), resumed.next()).await
        {
            events.push(std::sync::Arc::unwrap_or_clone(event));
        }
    }
    assert_eq!(events[0].seq, seen + 1, "nothing missed: {events:?}");
    assert_eq!(events[0].kind, EventKind::Created);
    assert_eq!(events[0].session.user, "after");
}

/// A connection of the test's own, which keeps working as passwords change.
async fn admin_connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn set_password(password: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("CONFIG");
    cmd.arg("SET").arg("requirepass").arg(password);
    cmd
}

/// Drops every client connection but the admin's (Redis spares the caller)
/// and waits for `node` to notice.
async fn drop_clients_until_lost(admin: &mut redis::aio::MultiplexedConnection, node: &RedisStore) {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .exec_async(admin)
        .await
        .unwrap();
    let give_up = Instant::now() + PATIENCE;
    while node.stats().await.is_ok() {
        assert!(Instant::now() < give_up, "the node never lost Redis");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Redis that refuses the node's password for a while (it was changed,
/// then changed back) must not strand the node. The redis crate reconnects
/// after a lost connection but keeps a refused login's error for every later
/// call, so the node makes a new connection by itself, and its event stream
/// reads again too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_password_was_refused_for_a_while_connects_again() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let password = "first-password-0123";
    let mut admin = admin_connection(&redis).await;
    set_password(password).exec_async(&mut admin).await.unwrap();
    let mut options = RedisOptions::new(
        redis
            .url()
            .replace("redis://", &format!("redis://:{password}@")),
        Policy::default(),
    );
    options.key_prefix = "repass:".into();
    let node = RedisStore::connect(options).await.unwrap();
    node.login(Login::user("before")).await.unwrap();

    // The password changes and the node's connections drop: its reconnect is refused.
    set_password("second-password-4567")
        .exec_async(&mut admin)
        .await
        .unwrap();
    drop_clients_until_lost(&mut admin, &node).await;
    assert!(matches!(
        node.login(Login::user("refused")).await,
        Err(StoreError::Unavailable(_))
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The old password is back: the node serves again by itself.
    set_password(password).exec_async(&mut admin).await.unwrap();
    let started = Instant::now();
    let give_up = started + Duration::from_secs(10);
    while node.stats().await.is_err() {
        assert!(Instant::now() < give_up, "the node stayed stranded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = node.stats().await.unwrap().last_seq;
    node.login(Login::user("after")).await.unwrap();
    let subscribed = loop {
        match node.subscribe_after(seen).await {
            Ok(subscription) => break subscription,
            Err(error) => {
                assert!(
                    Instant::now() < give_up,
                    "the stream stayed unreadable: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert_eq!(subscribed.backlog.len(), 1, "{:?}", subscribed.backlog);
    assert_eq!(subscribed.backlog[0].session.user, "after");
}

/// A password rotated the way secrets are (Redis gets a new one, then the
/// file `[store] password_file` names does): the node reads the file again
/// when Redis refuses the old one, and serves again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reads_a_rotated_password_from_its_password_file() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut admin = admin_connection(&redis).await;
    set_password("old-password-0123")
        .exec_async(&mut admin)
        .await
        .unwrap();
    let file = std::env::temp_dir().join(format!("sessiontop-rotate-{}", std::process::id()));
    std::fs::write(&file, "old-password-0123\n").unwrap();
    let mut options = RedisOptions::new(redis.url(), Policy::default());
    options.key_prefix = "rotate:".into();
    options.password = Some(sessiontop::store::redis::read_password(&file).unwrap());
    options.password_file = Some(file.clone());
    let node = RedisStore::connect(options).await.unwrap();
    node.login(Login::user("before")).await.unwrap();

    set_password("new-password-4567")
        .exec_async(&mut admin)
        .await
        .unwrap();
    drop_clients_until_lost(&mut admin, &node).await;
    std::fs::write(&file, "new-password-4567\n").unwrap();
    let give_up = Instant::now() + Duration::from_secs(10);
    while node.stats().await.is_err() {
        assert!(
            Instant::now() < give_up,
            "the node never read the new password"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.login(Login::user("after")).await.unwrap();
    let _ = std::fs::remove_file(&file);
}

/// A call that Redis starts near the end of its window, and whose answer is
/// slow to come back, must not be one its caller was told 503 about: the
/// window leaves the answer 0.3 s for its way back. Here Redis stalls for
/// 0.75 s with a renew in hand, and answers take 0.25 s to come back: the
/// renew answers 503 and changes nothing (with the window of 0.8 s it once
/// had, it ran, its answer came after the caller's 0.9 s, and the token the
/// user held was dead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renew_whose_answer_is_slow_to_come_back_is_not_a_503_that_changed_something() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let proxy = proxy::Proxy::start(([127, 0, 0, 1], redis.port()).into()).await;
    let mut options = RedisOptions::new(
        format!("redis://127.0.0.1:{}/0", proxy.addr.port()),
        Policy::default(),
    );
    options.key_prefix = "slow-reply:".into();
    let node = RedisStore::connect(options).await.unwrap();
    let (first, _) = node.login(Login::user("renewer")).await.unwrap();
    // Once at ease, so Redis has the renew function when it matters.
    let (token, _) = node.renew(first.expose()).await.unwrap();
    let before = node.stats().await.unwrap();

    proxy.delay_replies(Duration::from_millis(250));
    redis.pause();
    let renew = tokio::spawn({
        let node = node.clone();
        let token = token.expose().to_owned();
        async move { node.renew(&token).await }
    });
    tokio::time::sleep(Duration::from_millis(750)).await;
    redis.resume();
    let renewed = renew.await.unwrap();
    proxy.delay_replies(Duration::ZERO);
    // Whatever Redis held has run, and its answers have come back, by now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Either answer may be right (a busy machine may send the renew late
    // enough that Redis runs it in time to answer): what must hold is that
    // the answer says what happened.
    let after = node.stats().await.unwrap();
    match renewed {
        Err(StoreError::Unavailable(_)) => {
            assert_eq!(
                after.totals.renewals, before.totals.renewals,
                "a renew answered 503 ran"
            );
            assert_eq!(after.last_seq, before.last_seq, "an event was added");
            node.touch(token.expose())
                .await
                .expect("the token the user holds still works");
        }
        Ok((new, _)) => {
            assert_eq!(after.totals.renewals, before.totals.renewals + 1);
            node.touch(new.expose()).await.expect("the new token works");
        }
        Err(other) => panic!("{other:?}"),
    }
}

/// A Redis at its `maxmemory` (with the advised `noeviction`) refuses what
/// would grow: logins answer 503 and change nothing. What ends sessions goes
/// on, as it frees memory: due sessions expire on time, a user logs out, an
/// operator lists and revokes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_out_of_memory_still_expires_logs_out_and_lists() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = node(&redis, "oom:").await;
    let (leaving, _) = a.login(Login::user("leaving")).await.unwrap();
    let (_, revoked) = a.login(Login::user("revoked")).await.unwrap();
    let (_, due) = a
        .login(Login {
            idle_timeout: Some(Duration::from_secs(1)),
            ..Login::user("due")
        })
        .await
        .unwrap();
    let mut watch = a
        .subscribe_after(a.stats().await.unwrap().last_seq)
        .await
        .unwrap();
    let mut admin = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let set_maxmemory = |bytes: &str| {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET").arg("maxmemory").arg(bytes);
        cmd
    };
    set_maxmemory("1").exec_async(&mut admin).await.unwrap();

    let refused = a.login(Login::user("new")).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    a.logout(leaving.expose())
        .await
        .expect("a logout while Redis is full");
    a.revoke(revoked.handle, "operator")
        .await
        .expect("a revoke while Redis is full");
    let (listed, _) = a
        .list(None, 10, None)
        .await
        .expect("a listing while Redis is full");
    let users: Vec<_> = listed.iter().map(|s| s.user.as_str()).collect();
    assert_eq!(users, ["due"]);
    let expired = tokio::time::timeout(PATIENCE, async {
        loop {
            match watch.next().await {
                Some(Delivery::Event(event)) if event.kind == EventKind::Expired => break event,
                Some(_) => {}
                None => panic!("the feed ended"),
            }
        }
    })
    .await
    .expect("the due session expired while Redis was full");
    assert_eq!(expired.session.handle, due.handle);
    assert!(expired.lateness_ms().unwrap() < 1000, "{expired:?}");
    set_maxmemory("0").exec_async(&mut admin).await.unwrap();
    let (listed, _) = a.list(Some("new"), 10, None).await.unwrap();
    assert!(listed.is_empty(), "the refused login made {listed:?}");
}
