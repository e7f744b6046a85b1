//! The engine's rules, each checked on explicit clock readings: no test sleeps.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveTime, TimeZone};
use sessiontop::engine::{
    ClosingTime, Engine, EngineError, Event, EventKind, ExpiryReason, ListQuery, Login, Millis,
    Policy, State,
};

const T0: Millis = 1_800_000_000_000;
const SEC: Millis = 1_000;
const MIN: Millis = 60 * SEC;

fn policy() -> Policy {
    Policy {
        idle_timeout: Duration::from_secs(15 * 60),
        absolute_timeout: Duration::from_secs(8 * 3600),
        touch_event_interval: Duration::from_secs(1),
        ..Policy::default()
    }
}

fn engine() -> Engine {
    Engine::new(policy(), 10_000, T0)
}

fn kinds(events: &[std::sync::Arc<Event>]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).collect()
}

#[test]
fn idle_session_expires_at_its_deadline() {
    let mut engine = engine();
    let (_, session) = engine.login(T0, Login::user("alice")).unwrap();
    assert_eq!(session.idle_expires_at, T0 + 15 * MIN);
    engine.take_events();

    assert_eq!(engine.expire_due(T0 + 15 * MIN - 1), 0);
    assert!(engine.get(session.handle).is_some());
    assert_eq!(engine.next_deadline(), Some(T0 + 15 * MIN));

    assert_eq!(engine.expire_due(T0 + 15 * MIN), 1);
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Expired]);
    assert_eq!(events[0].reason, Some(ExpiryReason::Idle));
    assert_eq!(events[0].deadline, Some(T0 + 15 * MIN));
    assert_eq!(events[0].at, T0 + 15 * MIN);
    assert_eq!(events[0].session.state, State::Expired);
    assert!(engine.get(session.handle).is_none());
}

#[test]
fn expired_event_reports_how_late_it_fired() {
    let mut engine = engine();
    engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    engine.expire_due(T0 + 15 * MIN + 7);
    let events = engine.take_events();
    assert_eq!(events[0].lateness_ms(), Some(7));
}

#[test]
fn touch_moves_the_idle_deadline() {
    let mut engine = engine();
    let (token, session) = engine.login(T0, Login::user("alice")).unwrap();
    let touched = engine.touch(T0 + 10 * MIN, token.expose()).unwrap();
    assert_eq!(touched.last_seen_at, T0 + 10 * MIN);
    assert_eq!(touched.idle_expires_at, T0 + 25 * MIN);
    assert_eq!(engine.expire_due(T0 + 20 * MIN), 0);
    assert!(engine.get(session.handle).is_some());
    assert_eq!(engine.expire_due(T0 + 25 * MIN), 1);
}

#[test]
fn absolute_limit_ends_a_session_however_active() {
    let mut engine = engine();
    let (token, session) = engine.login(T0, Login::user("alice")).unwrap();
    let mut now = T0;
    while now < T0 + 8 * 60 * MIN - 10 * MIN {
        now += 10 * MIN;
        engine.touch(now, token.expose()).unwrap();
    }
    engine.take_events();
    engine.expire_due(T0 + 8 * 60 * MIN);
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Expired]);
    assert_eq!(events[0].reason, Some(ExpiryReason::Absolute));
    assert_eq!(events[0].deadline, Some(session.absolute_expires_at));
    assert_eq!(
        engine.touch(T0 + 8 * 60 * MIN, token.expose()),
        Err(EngineError::InvalidToken)
    );
}

#[test]
fn closing_time_ends_every_live_session_at_once() {
    let closing = ClosingTime(NaiveTime::from_hms_opt(23, 0, 0).unwrap());
    // An explicit zone, so the test means the same on every host.
    let tz = chrono_tz::America::New_York;
    let noon = tz
        .with_ymd_and_hms(2027, 1, 12, 12, 0, 0)
        .earliest()
        .unwrap()
        .timestamp_millis();
    let at_closing = closing.next_after(noon, tz);
    assert_eq!(at_closing - noon, 11 * 3600 * 1000);
    let mut engine = Engine::new(
        Policy {
            closing_time: Some(closing),
            time_zone: tz,
            idle_timeout: Duration::from_secs(24 * 3600),
            absolute_timeout: Duration::from_secs(48 * 3600),
            ..policy()
        },
        100,
        noon,
    );
    let (_, a) = engine.login(noon, Login::user("a")).unwrap();
    engine.login(noon + MIN, Login::user("b")).unwrap();
    assert_eq!(a.expires_at, at_closing);
    engine.take_events();
    assert_eq!(engine.expire_due(at_closing - 1), 0);
    assert_eq!(engine.expire_due(at_closing + 3), 2);
    let events = engine.take_events();
    assert!(
        events
            .iter()
            .all(|e| e.reason == Some(ExpiryReason::ClosingTime)
                && e.deadline == Some(at_closing)
                && e.at == at_closing + 3)
    );
    // A session that starts after closing lives until tomorrow's.
    let (_, late) = engine.login(at_closing + MIN, Login::user("c")).unwrap();
    assert_eq!(
        engine.next_closing(),
        Some(closing.next_after(at_closing, tz))
    );
    assert!(late.expires_at > at_closing + MIN);
}

#[test]
fn renew_gives_a_new_token_for_the_same_handle_and_kills_the_old_one() {
    let mut engine = engine();
    let (old, session) = engine.login(T0, Login::user("alice")).unwrap();
    let (new, renewed) = engine.renew(T0 + MIN, old.expose()).unwrap();
    assert_ne!(old, new);
    assert_eq!(renewed.handle, session.handle);
    assert_eq!(renewed.last_seen_at, T0 + MIN);
    assert_eq!(
        engine.touch(T0 + 2 * MIN, old.expose()),
        Err(EngineError::InvalidToken)
    );
    assert!(engine.touch(T0 + 2 * MIN, new.expose()).is_ok());
    assert_eq!(
        kinds(&engine.take_events()),
        [EventKind::Created, EventKind::Renewed, EventKind::Touched],
        "a renewal is one event"
    );
}

#[test]
fn logout_ends_the_session_and_its_token() {
    let mut engine = engine();
    let (token, session) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    engine.logout(T0 + SEC, token.expose()).unwrap();
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::LoggedOut]);
    assert_eq!(events[0].session.state, State::LoggedOut);
    assert!(engine.get(session.handle).is_none());
    assert_eq!(
        engine.logout(T0 + 2 * SEC, token.expose()),
        Err(EngineError::InvalidToken)
    );
    assert_eq!(engine.expire_due(T0 + 60 * MIN), 0, "no second end");
}

#[test]
fn revoke_ends_a_session_by_handle_and_names_the_actor() {
    let mut engine = engine();
    let (token, session) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    engine.revoke(T0 + SEC, session.handle, "operator").unwrap();
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Revoked]);
    assert_eq!(events[0].actor.as_deref(), Some("operator"));
    assert_eq!(
        engine.touch(T0 + 2 * SEC, token.expose()),
        Err(EngineError::InvalidToken)
    );
    assert_eq!(
        engine.revoke(T0 + 2 * SEC, session.handle, "operator"),
        Err(EngineError::NoSuchSession(session.handle))
    );
}

#[test]
fn revoke_user_ends_every_session_of_that_user_only() {
    let mut engine = engine();
    for _ in 0..3 {
        engine.login(T0, Login::user("alice")).unwrap();
    }
    let (_, bob) = engine.login(T0, Login::user("bob")).unwrap();
    engine.take_events();
    assert_eq!(engine.revoke_user(T0 + SEC, "alice", "operator"), 3);
    assert_eq!(
        kinds(&engine.take_events()),
        [EventKind::Revoked, EventKind::Revoked, EventKind::Revoked]
    );
    assert_eq!(engine.active(), 1);
    assert!(engine.get(bob.handle).is_some());
    assert_eq!(engine.revoke_user(T0 + SEC, "alice", "operator"), 0);
}

#[test]
fn per_session_timeouts_apply_within_the_bounds() {
    let mut engine = engine();
    let (_, short) = engine
        .login(
            T0,
            Login {
                idle_timeout: Some(Duration::from_secs(30)),
                absolute_timeout: Some(Duration::from_secs(3600)),
                ..Login::user("kiosk")
            },
        )
        .unwrap();
    assert_eq!(short.idle_expires_at, T0 + 30 * SEC);
    assert_eq!(short.absolute_expires_at, T0 + 60 * MIN);
    engine.take_events();
    engine.expire_due(T0 + 30 * SEC);
    assert_eq!(engine.take_events()[0].session.handle, short.handle);

    let too_long = engine.login(
        T0,
        Login {
            idle_timeout: Some(Duration::from_secs(2 * 24 * 3600)),
            ..Login::user("x")
        },
    );
    assert!(matches!(
        too_long,
        Err(EngineError::TimeoutOutOfBounds {
            field: "idle_timeout",
            ..
        })
    ));
    let too_short = engine.login(
        T0,
        Login {
            absolute_timeout: Some(Duration::from_millis(10)),
            ..Login::user("x")
        },
    );
    assert!(too_short.is_err());
    assert_eq!(engine.active(), 0, "a refused login changes nothing");
}

#[test]
fn bad_user_names_and_attributes_are_refused() {
    let mut engine = engine();
    assert!(matches!(
        engine.login(T0, Login::user("   ")),
        Err(EngineError::InvalidUser(_))
    ));
    assert!(matches!(
        engine.login(T0, Login::user("x".repeat(257))),
        Err(EngineError::InvalidUser(_))
    ));
    let many: BTreeMap<String, String> = (0..40).map(|i| (format!("k{i}"), "v".into())).collect();
    assert!(matches!(
        engine.login(
            T0,
            Login {
                attributes: Some(many),
                ..Login::user("x")
            }
        ),
        Err(EngineError::InvalidAttributes(_))
    ));
    assert_eq!(engine.active(), 0);
    assert_eq!(engine.last_seq(), 0, "no event for a refused login");
}

#[test]
fn unknown_malformed_and_ended_tokens_are_rejected_alike() {
    let mut engine = engine();
    let (token, _) = engine.login(T0, Login::user("alice")).unwrap();
    let (other, _) = engine.login(T0, Login::user("bob")).unwrap();
    engine.logout(T0, other.expose()).unwrap();
    let mut forged = token.expose().to_owned();
    forged.replace_range(20..21, if &forged[20..21] == "A" { "B" } else { "A" });
    for bad in ["", "garbage", &forged, other.expose(), &"A".repeat(43)] {
        assert_eq!(
            engine.touch(T0 + SEC, bad),
            Err(EngineError::InvalidToken),
            "{bad}"
        );
    }
}

#[test]
fn a_touch_inside_the_interval_is_announced_when_the_interval_ends() {
    let mut engine = engine();
    let (token, _) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    engine.touch(T0 + 300, token.expose()).unwrap();
    engine.touch(T0 + 700, token.expose()).unwrap();
    assert!(
        engine.take_events().is_empty(),
        "coalesced inside the interval"
    );
    assert_eq!(engine.next_deadline(), Some(T0 + 1_000));
    engine.expire_due(T0 + 1_000);
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Touched]);
    assert_eq!(events[0].at, T0 + 1_000);
    assert_eq!(events[0].session.last_seen_at, T0 + 700, "the latest touch");
    assert_eq!(events[0].session.idle_expires_at, T0 + 700 + 15 * MIN);
    // Nothing more is pending, and a logout leaves nothing behind.
    engine.touch(T0 + 1_200, token.expose()).unwrap();
    engine.logout(T0 + 1_300, token.expose()).unwrap();
    engine.take_events();
    engine.expire_due(T0 + 5_000);
    assert!(engine.take_events().is_empty());
}

#[test]
fn an_operators_touch_is_announced_at_once_with_its_actor() {
    let mut engine = engine();
    let (token, view) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    engine.touch(T0 + 2 * SEC, token.expose()).unwrap();
    engine.touch(T0 + 2 * SEC + 100, token.expose()).unwrap();
    engine.take_events();
    for at in [T0 + 2 * SEC + 200, T0 + 2 * SEC + 300] {
        engine.touch_handle(at, view.handle, "admin").unwrap();
        let events = engine.take_events();
        let actors: Vec<_> = events.iter().map(|e| e.actor.as_deref()).collect();
        assert_eq!(actors, [Some("admin")], "at {at}: {events:?}");
        assert_eq!(events[0].session.last_seen_at, at);
    }
    // The coalesced touch before them was said by them: nothing is left.
    engine.expire_due(T0 + 5 * SEC);
    assert!(engine.take_events().is_empty());
}

#[test]
fn a_renewal_leaves_no_touch_to_announce() {
    let mut engine = engine();
    let (token, _) = engine.login(T0, Login::user("alice")).unwrap();
    engine.touch(T0 + 200, token.expose()).unwrap();
    engine.renew(T0 + 400, token.expose()).unwrap();
    engine.take_events();
    engine.expire_due(T0 + 2_000);
    assert!(
        engine.take_events().is_empty(),
        "the renewed event said it all"
    );
}

#[test]
fn touched_events_are_coalesced_but_every_touch_counts() {
    let mut engine = engine();
    let (token, _) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    for i in 1..=10 {
        engine
            .touch(T0 + 2 * SEC + i * 100, token.expose())
            .unwrap();
    }
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Touched], "one event per second");
    assert_eq!(engine.stats().totals.touches, 10);
    engine.touch(T0 + 4 * SEC, token.expose()).unwrap();
    assert_eq!(kinds(&engine.take_events()), [EventKind::Touched]);
}

#[test]
fn every_session_ends_with_exactly_one_end_event() {
    let mut engine = engine();
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(engine.login(T0, Login::user(format!("u{i}"))).unwrap().0);
    }
    for token in &tokens[..5] {
        engine.logout(T0 + SEC, token.expose()).unwrap();
    }
    engine.revoke_user(T0 + 2 * SEC, "u7", "op");
    engine.expire_due(T0 + 24 * 60 * MIN);
    let events = engine.events_since(0).unwrap();
    let mut ends: BTreeMap<String, usize> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind.is_end()) {
        *ends.entry(e.session.handle.to_string()).or_default() += 1;
    }
    assert_eq!(ends.len(), 20);
    assert!(ends.values().all(|&n| n == 1));
    let stats = engine.stats();
    assert_eq!(stats.totals.logged_out, 5);
    assert_eq!(stats.totals.revoked, 1);
    assert_eq!(stats.totals.expired_idle, 14);
    assert_eq!(stats.active, 0);
    assert_eq!(stats.peak, 20);
}

#[test]
fn history_resumes_after_a_seq_or_says_too_old() {
    let mut engine = Engine::new(policy(), 5, T0);
    for i in 0..8 {
        engine.login(T0, Login::user(format!("u{i}"))).unwrap();
    }
    assert_eq!(engine.last_seq(), 8);
    let after_5: Vec<u64> = engine
        .events_since(5)
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(after_5, [6, 7, 8]);
    assert_eq!(engine.events_since(3).unwrap().len(), 5);
    assert!(engine.events_since(2).is_err(), "seq 3 is gone");
    assert!(engine.events_since(8).unwrap().is_empty());
    assert!(engine.events_since(99).is_err(), "a seq from elsewhere");
}

#[test]
fn list_is_in_idle_deadline_order_paginated_and_filtered() {
    let mut engine = engine();
    let mut tokens = Vec::new();
    for i in 0..10 {
        let user = if i % 2 == 0 { "even" } else { "odd" };
        tokens.push(engine.login(T0 + i * SEC, Login::user(user)).unwrap().0);
    }
    // The first login becomes the last to expire.
    engine.touch(T0 + 20 * SEC, tokens[0].expose()).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.list(&ListQuery {
            user: None,
            limit: 3,
            cursor,
        });
        assert!(page.sessions.len() <= 3);
        seen.extend(page.sessions.iter().map(|s| s.idle_expires_at));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(*seen.last().unwrap(), T0 + 20 * SEC + 15 * MIN);

    let odd = engine.list(&ListQuery {
        user: Some("odd".into()),
        limit: 100,
        cursor: None,
    });
    assert_eq!(odd.sessions.len(), 5);
    assert!(odd.sessions.iter().all(|s| s.user == "odd"));
    assert!(odd.next_cursor.is_none());
}

#[test]
fn an_operation_after_a_deadline_sees_the_session_ended() {
    let mut engine = engine();
    let (token, _) = engine.login(T0, Login::user("alice")).unwrap();
    engine.take_events();
    // Nobody called expire_due; the touch itself must not revive the session.
    assert_eq!(
        engine.touch(T0 + 15 * MIN, token.expose()),
        Err(EngineError::InvalidToken)
    );
    let events = engine.take_events();
    assert_eq!(kinds(&events), [EventKind::Expired]);
}

#[test]
fn no_event_or_listing_contains_a_token() {
    let mut engine = engine();
    let (token, session) = engine.login(T0, Login::user("alice")).unwrap();
    let (renewed, _) = engine.renew(T0 + SEC, token.expose()).unwrap();
    engine.logout(T0 + 2 * SEC, renewed.expose()).unwrap();
    let everything = serde_json::to_string(&engine.events_since(0).unwrap()).unwrap()
        + &serde_json::to_string(&session).unwrap();
    assert!(!everything.contains(token.expose()));
    assert!(!everything.contains(renewed.expose()));
    assert!(!everything.contains(&token.expose()[11..30]));
    assert!(everything.contains(&session.handle.to_string()));
}

#[test]
fn session_json_has_the_documented_shape() {
    let mut engine = engine();
    let (_, session) = engine
        .login(
            T0,
            Login {
                attributes: Some(BTreeMap::from([("ip".into(), "10.0.0.1".into())])),
                ..Login::user("alice")
            },
        )
        .unwrap();
    let json = serde_json::to_value(&session).unwrap();
    for key in [
        "handle",
        "user",
        "attributes",
        "created_at",
        "last_seen_at",
        "idle_expires_at",
        "absolute_expires_at",
        "expires_at",
        "state",
    ] {
        assert!(json.get(key).is_some(), "missing {key}: {json}");
    }
    assert_eq!(json["created_at"], "2027-01-15T08:00:00.000Z");
    assert_eq!(json["state"], "active");
    assert_eq!(json["attributes"]["ip"], "10.0.0.1");
    assert_eq!(json["handle"].as_str().unwrap().len(), 16);
    let back: sessiontop::engine::SessionView = serde_json::from_value(json).unwrap();
    assert_eq!(back, session);
}

#[test]
fn a_sessions_events_are_its_own_oldest_first_and_only_those_the_history_holds() {
    let policy = Policy {
        touch_event_interval: Duration::ZERO,
        ..policy()
    };
    // A history of 16 events; every event ever made is kept here as the oracle.
    let mut engine = Engine::new(policy, 16, T0);
    let mut all: Vec<Event> = Vec::new();
    let mut live: Vec<(String, sessiontop::engine::Handle)> = Vec::new();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    for step in 0..2_000 {
        let now = T0 + step as Millis;
        match next(4) {
            // Logins reuse the slots of ended sessions, under new handles.
            0 | 1 if live.len() < 6 => {
                let (token, session) = engine.login(now, Login::user("u")).unwrap();
                live.push((token.expose().to_owned(), session.handle));
            }
            0 if !live.is_empty() => {
                let (token, _) = live.swap_remove(next(live.len()));
                engine.logout(now, &token).unwrap();
            }
            1 if !live.is_empty() => {
                let i = next(live.len());
                let (token, _) = engine.renew(now, &live[i].0).unwrap();
                live[i].0 = token.expose().to_owned();
            }
            _ if !live.is_empty() => {
                engine.touch(now, &live[next(live.len())].0).unwrap();
            }
            _ => {}
        }
        all.extend(
            engine
                .take_events()
                .into_iter()
                .map(std::sync::Arc::unwrap_or_clone),
        );
        let held_from = engine.last_seq().saturating_sub(15);
        for (_, handle) in &live {
            let expected: Vec<u64> = all
                .iter()
                .filter(|e| e.seq >= held_from && e.session.handle == *handle)
                .map(|e| e.seq)
                .collect();
            let found: Vec<u64> = engine
                .session_events(*handle)
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(found, expected, "step {step}, session {handle}");
        }
    }
    // An ended session's handle names nothing.
    let ended = all
        .iter()
        .find(|e| e.kind == EventKind::LoggedOut)
        .expect("some session logged out")
        .session
        .handle;
    assert!(engine.session_events(ended).is_empty());
}
