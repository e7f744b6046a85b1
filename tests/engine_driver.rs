//! The driver on a virtual clock: expiry fires at the deadline in virtual time,
//! subscribers resume or resync, and no test waits for a real timeout.

use std::sync::Arc;
use std::time::Duration;

use sessiontop::engine::driver::{Delivery, DriverConfig};
use sessiontop::engine::{
    Clock, EngineHandle, Event, EventKind, ExpiryReason, Login, Millis, Policy, VirtualClock,
};

const T0: Millis = 1_800_000_000_000;

fn start(history: usize, buffer: usize) -> (EngineHandle, Arc<VirtualClock>) {
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let policy = Policy {
        idle_timeout: Duration::from_secs(60),
        absolute_timeout: Duration::from_secs(3600),
        ..Policy::default()
    };
    let engine = EngineHandle::spawn(
        policy,
        clock.clone(),
        DriverConfig {
            history,
            subscriber_buffer: buffer,
        },
    );
    (engine, clock)
}

async fn next_event(subscription: &mut sessiontop::engine::Subscription) -> Event {
    let delivery = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("an event within 5 s of real time")
        .expect("the engine is running");
    match delivery {
        Delivery::Event(event) => std::sync::Arc::unwrap_or_clone(event),
        Delivery::Resync => panic!("unexpected resync"),
    }
}

#[tokio::test]
async fn the_driver_expires_a_session_when_virtual_time_reaches_its_deadline() {
    let (engine, _clock) = start(1000, 1024);
    let mut feed = engine.subscribe_after(0).unwrap();
    let (_, session) = engine.login(Login::user("alice")).unwrap();
    assert_eq!(next_event(&mut feed).await.kind, EventKind::Created);

    engine.adjust_clock(|c| c.step(Duration::from_secs(59)));
    assert!(feed.try_next().is_none(), "nothing before the deadline");
    assert!(engine.get(session.handle).is_some());

    engine.adjust_clock(|c| c.step(Duration::from_secs(1)));
    let expired = next_event(&mut feed).await;
    assert_eq!(expired.kind, EventKind::Expired);
    assert_eq!(expired.reason, Some(ExpiryReason::Idle));
    assert_eq!(expired.deadline, Some(T0 + 60_000));
    assert_eq!(expired.at, T0 + 60_000, "on time, to the millisecond");
    assert_eq!(engine.stats().active, 0);
    engine.shutdown();
}

#[tokio::test]
async fn a_running_fast_clock_expires_sessions_by_itself() {
    let (engine, clock) = start(1000, 1024);
    let mut feed = engine.subscribe_after(0).unwrap();
    engine
        .login(Login {
            idle_timeout: Some(Duration::from_secs(5)),
            ..Login::user("alice")
        })
        .unwrap();
    next_event(&mut feed).await;
    // x100: five virtual seconds pass in 50 ms of real time.
    engine.adjust_clock(|c| {
        c.set_speed(100.0);
        c.set_paused(false);
    });
    let expired = next_event(&mut feed).await;
    assert_eq!(expired.kind, EventKind::Expired);
    assert!(expired.at >= T0 + 5_000);
    assert!(clock.now() >= T0 + 5_000);
    engine.shutdown();
}

#[tokio::test]
async fn a_subscriber_resumes_after_a_seq_with_no_gap_and_no_duplicate() {
    let (engine, _clock) = start(1000, 1024);
    for i in 0..5 {
        engine.login(Login::user(format!("u{i}"))).unwrap();
    }
    let mut feed = engine.subscribe_after(2).unwrap();
    engine.login(Login::user("late")).unwrap();
    let mut seqs: Vec<u64> = feed.backlog.iter().map(|e| e.seq).collect();
    seqs.push(next_event(&mut feed).await.seq);
    assert_eq!(seqs, [3, 4, 5, 6]);
}

#[tokio::test]
async fn a_subscriber_asking_for_dropped_history_is_told_too_old() {
    let (engine, _clock) = start(4, 1024);
    for i in 0..10 {
        engine.login(Login::user(format!("u{i}"))).unwrap();
    }
    assert!(engine.subscribe_after(1).is_err());
    assert!(engine.subscribe_after(6).is_ok());
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_told_to_resync() {
    let (engine, _clock) = start(1000, 16);
    let mut slow = engine.subscribe_after(0).unwrap();
    for i in 0..100 {
        engine.login(Login::user(format!("u{i}"))).unwrap();
    }
    assert_eq!(slow.next().await, Some(Delivery::Resync));
    // The engine was never blocked by it.
    assert_eq!(engine.stats().active, 100);
}

#[tokio::test]
async fn a_snapshot_and_its_feed_have_no_gap() {
    let (engine, _clock) = start(1000, 1024);
    engine.login(Login::user("before")).unwrap();
    let mut snapshot = engine.snapshot();
    assert_eq!(snapshot.sessions.len(), 1);
    assert_eq!(snapshot.seq, 1);
    engine.login(Login::user("after")).unwrap();
    let event = next_event(&mut snapshot.subscription).await;
    assert_eq!(event.seq, 2);
    assert_eq!(event.session.user, "after");
}

#[tokio::test]
async fn a_burst_sharing_one_deadline_all_expire_in_deadline_order() {
    let (engine, _clock) = start(10_000, 10_000);
    let mut feed = engine.subscribe_after(0).unwrap();
    for i in 0..5000 {
        engine.login(Login::user(format!("u{i}"))).unwrap();
    }
    engine.adjust_clock(|c| c.step(Duration::from_secs(61)));
    let mut expired = 0;
    while expired < 5000 {
        let event = next_event(&mut feed).await;
        if event.kind == EventKind::Expired {
            assert_eq!(event.deadline, Some(T0 + 60_000));
            expired += 1;
        }
    }
    assert_eq!(engine.stats().active, 0);
}

#[tokio::test]
async fn the_driver_stops_and_feeds_end_when_the_last_handle_is_dropped() {
    let (engine, _clock) = start(100, 100);
    let mut feed = engine.subscribe_after(0).unwrap();
    drop(engine);
    let end = tokio::time::timeout(Duration::from_secs(5), feed.next()).await;
    assert_eq!(end.expect("the feed ends promptly"), None);
}
