//! Each user's sessions: revoking and listing one user, a user's own view of
//! their sessions, and the limit on sessions per user. Explicit clock readings.

use std::time::Duration;

use sessiontop::engine::{
    EndReason, Engine, EngineError, Event, EventKind, Handle, ListQuery, Login, Millis, OnLimit,
    Policy, Token,
};

const T0: Millis = 1_800_000_000_000;
const SEC: Millis = 1_000;

fn engine_with(limit: Option<u32>, on_limit: OnLimit) -> Engine {
    let policy = Policy {
        max_sessions_per_user: limit,
        on_limit,
        ..Policy::default()
    };
    Engine::new(policy, 10_000, T0)
}

fn login(engine: &mut Engine, at: Millis, user: &str) -> (Token, Handle) {
    let (token, session) = engine.login(at, Login::user(user)).unwrap();
    (token, session.handle)
}

fn kinds(events: &[std::sync::Arc<Event>]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn listing_one_user_pages_in_idle_order_like_the_full_listing() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    let mut tokens = Vec::new();
    for i in 0..30 {
        let user = if i % 3 == 0 { "alice" } else { "bob" };
        tokens.push(login(&mut engine, T0 + i * SEC, user));
    }
    // Touch a few of alice's so idle order differs from login order.
    engine.touch(T0 + 40 * SEC, tokens[0].0.expose()).unwrap();
    engine.touch(T0 + 41 * SEC, tokens[9].0.expose()).unwrap();
    let everything = engine.list(&ListQuery {
        limit: usize::MAX,
        ..ListQuery::default()
    });
    let expected: Vec<Handle> = everything
        .sessions
        .iter()
        .filter(|s| s.user == "alice")
        .map(|s| s.handle)
        .collect();
    assert_eq!(expected.len(), 10);

    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.list(&ListQuery {
            user: Some("alice".to_owned()),
            limit: 3,
            cursor,
        });
        assert!(page.sessions.iter().all(|s| s.user == "alice"));
        paged.extend(page.sessions.iter().map(|s| s.handle));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(paged, expected);
    let nobody = engine.list(&ListQuery {
        user: Some("carol".to_owned()),
        limit: 10,
        cursor: None,
    });
    assert!(nobody.sessions.is_empty() && nobody.next_cursor.is_none());
}

#[test]
fn a_user_cursor_survives_its_session_being_touched() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    let tokens: Vec<_> = (0..4)
        .map(|i| login(&mut engine, T0 + i * SEC, "alice"))
        .collect();
    let first = engine.list(&ListQuery {
        user: Some("alice".to_owned()),
        limit: 1,
        cursor: None,
    });
    assert_eq!(first.sessions[0].handle, tokens[0].1);
    engine.touch(T0 + 10 * SEC, tokens[0].0.expose()).unwrap();
    let rest = engine.list(&ListQuery {
        user: Some("alice".to_owned()),
        limit: 10,
        cursor: first.next_cursor,
    });
    let handles: Vec<_> = rest.sessions.iter().map(|s| s.handle).collect();
    // The touched one moved to the back and is seen again there, as in the full listing.
    assert_eq!(
        handles,
        [tokens[1].1, tokens[2].1, tokens[3].1, tokens[0].1]
    );
}

#[test]
fn mine_lists_the_users_own_sessions_and_marks_the_callers() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    let (a1, h1) = login(&mut engine, T0, "alice");
    let (_, h2) = login(&mut engine, T0 + SEC, "alice");
    let (_, _) = login(&mut engine, T0 + SEC, "bob");
    let mine = engine.mine(T0 + 2 * SEC, a1.expose()).unwrap();
    assert_eq!(mine.current, h1);
    assert_eq!(
        mine.sessions[0].last_seen_at,
        T0 + 2 * SEC,
        "listing through the token touches the caller's session"
    );
    assert_eq!(mine.sessions[1].last_seen_at, T0 + SEC, "not the others");
    let handles: Vec<_> = mine.sessions.iter().map(|s| s.handle).collect();
    assert_eq!(handles, [h1, h2], "only alice's, oldest first");
    assert!(mine.sessions.iter().all(|s| s.user == "alice"));
    assert_eq!(
        engine.mine(T0, "not a token").unwrap_err(),
        EngineError::InvalidToken
    );
}

#[test]
fn revoke_mine_ends_one_of_the_users_sessions_but_not_another_users() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    let (a1, h1) = login(&mut engine, T0, "alice");
    let (_, h2) = login(&mut engine, T0, "alice");
    let (_, bob) = login(&mut engine, T0, "bob");
    engine.take_events();

    assert_eq!(
        engine.revoke_mine(T0, a1.expose(), bob),
        Err(EngineError::NoSuchSession(bob)),
        "another user's session answers like an unknown one"
    );
    assert!(engine.get(bob).is_some());
    assert!(engine.take_events().is_empty(), "nothing changed");

    engine.revoke_mine(T0 + SEC, a1.expose(), h2).unwrap();
    let events = engine.take_events();
    // Showing the token is activity: the caller's session is touched after.
    assert_eq!(kinds(&events), [EventKind::Revoked, EventKind::Touched]);
    assert_eq!(events[1].session.handle, h1);
    assert_eq!(events[1].session.last_seen_at, T0 + SEC);
    assert_eq!(events[0].session.handle, h2);
    assert_eq!(events[0].reason, None);
    assert_eq!(
        events[0].actor.as_deref(),
        Some(format!("session {h1}").as_str())
    );
    assert_eq!(
        engine.revoke_mine(T0 + SEC, a1.expose(), h2),
        Err(EngineError::NoSuchSession(h2))
    );
}

#[test]
fn revoke_others_keeps_exactly_the_callers_session() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    let mut alice = Vec::new();
    for i in 0..5 {
        alice.push(login(&mut engine, T0 + i * SEC, "alice"));
    }
    let (_, bob) = login(&mut engine, T0, "bob");
    let (caller, kept) = &alice[2];
    assert_eq!(engine.revoke_others(T0 + 9 * SEC, caller.expose()), Ok(4));
    let mine = engine.mine(T0 + 9 * SEC, caller.expose()).unwrap();
    assert_eq!(
        mine.sessions.iter().map(|s| s.handle).collect::<Vec<_>>(),
        [*kept]
    );
    assert!(engine.get(bob).is_some());
    assert_eq!(engine.revoke_others(T0 + 9 * SEC, caller.expose()), Ok(0));
    assert_eq!(engine.stats().totals.revoked, 4);
}

#[test]
fn a_login_over_the_limit_evicts_the_oldest_before_it_is_created() {
    let mut engine = engine_with(Some(2), OnLimit::EvictOldest);
    let (_, oldest) = login(&mut engine, T0, "alice");
    let (_, second) = login(&mut engine, T0 + SEC, "alice");
    login(&mut engine, T0 + SEC, "bob");
    engine.take_events();

    let (_, newest) = login(&mut engine, T0 + 2 * SEC, "alice");
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Revoked, EventKind::Created]);
    assert_eq!(events[0].session.handle, oldest);
    assert_eq!(events[0].reason, Some(EndReason::Evicted));
    assert_eq!(events[0].limit, Some(2));
    assert_eq!(events[0].actor, None);
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["reason"], "evicted");
    assert_eq!(json["limit"], 2);
    assert_eq!(events[1].session.handle, newest);

    assert_eq!(engine.user_session_count("alice"), 2);
    assert!(engine.get(second).is_some());
    let totals = engine.stats().totals;
    assert_eq!((totals.revoked, totals.evicted), (1, 1));
}

#[test]
fn a_login_over_the_limit_is_refused_and_nothing_changes() {
    let mut engine = engine_with(Some(2), OnLimit::Refuse);
    login(&mut engine, T0, "alice");
    login(&mut engine, T0, "alice");
    engine.take_events();
    let before = engine.stats();
    let err = engine.login(T0 + SEC, Login::user("alice")).unwrap_err();
    assert_eq!(err, EngineError::SessionLimit { limit: 2 });
    assert!(err.to_string().contains("2 active sessions"), "{err}");
    assert!(engine.take_events().is_empty());
    assert_eq!(engine.stats(), before);
    // Another user is not affected.
    login(&mut engine, T0 + SEC, "bob");
}

#[test]
fn a_login_may_ask_for_a_lower_limit_within_the_policys() {
    let mut engine = engine_with(Some(5), OnLimit::EvictOldest);
    for i in 0..4 {
        login(&mut engine, T0 + i * SEC, "alice");
    }
    engine.take_events();
    let login_with = |limit| Login {
        max_sessions_per_user: Some(limit),
        ..Login::user("alice")
    };
    assert_eq!(
        engine.login(T0 + 9 * SEC, login_with(6)).unwrap_err(),
        EngineError::LimitOutOfBounds { value: 6, max: 5 }
    );
    assert_eq!(
        engine.login(T0 + 9 * SEC, login_with(0)).unwrap_err(),
        EngineError::LimitOutOfBounds { value: 0, max: 5 }
    );
    assert!(engine.take_events().is_empty());
    // A limit of 2 with 4 held: the three oldest make room for this one.
    engine.login(T0 + 9 * SEC, login_with(2)).unwrap();
    let events = engine.take_events();
    assert_eq!(
        kinds(&events),
        [
            EventKind::Revoked,
            EventKind::Revoked,
            EventKind::Revoked,
            EventKind::Created
        ]
    );
    assert_eq!(engine.user_session_count("alice"), 2);
}

#[test]
fn without_a_policy_limit_a_login_may_still_set_one() {
    let mut engine = engine_with(None, OnLimit::Refuse);
    login(&mut engine, T0, "alice");
    let err = engine
        .login(
            T0,
            Login {
                max_sessions_per_user: Some(1),
                ..Login::user("alice")
            },
        )
        .unwrap_err();
    assert_eq!(err, EngineError::SessionLimit { limit: 1 });
}

#[test]
fn expired_sessions_do_not_count_against_the_limit() {
    let policy = Policy {
        idle_timeout: Duration::from_secs(60),
        max_sessions_per_user: Some(1),
        on_limit: OnLimit::Refuse,
        ..Policy::default()
    };
    let mut engine = Engine::new(policy, 1000, T0);
    login(&mut engine, T0, "alice");
    // The first session's deadline has passed: the login ends it, then fits.
    engine.login(T0 + 60 * SEC, Login::user("alice")).unwrap();
    let events = engine.take_events();
    assert_eq!(
        kinds(&events),
        [EventKind::Created, EventKind::Expired, EventKind::Created]
    );
}

#[test]
fn revoke_user_costs_only_that_users_sessions_and_forgets_the_user() {
    let mut engine = engine_with(None, OnLimit::EvictOldest);
    for i in 0..50 {
        login(&mut engine, T0, &format!("user{}", i % 5));
    }
    assert_eq!(engine.revoke_user(T0, "user3", "op"), 10);
    assert_eq!(engine.user_session_count("user3"), 0);
    assert!(engine.user_handles("user3").is_empty());
    assert_eq!(engine.active(), 40);
    // The name can come back.
    login(&mut engine, T0, "user3");
    assert_eq!(engine.user_session_count("user3"), 1);
}
