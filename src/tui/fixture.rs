//! Deterministic sessions, events and apps for tests and `bench tui`.
//!
//! Everything here is built by hand at fixed times, so screens rendered from
//! it are the same on every machine and every run.

use std::collections::BTreeMap;

use super::app::App;
use super::keymap::KeyMap;
use crate::config::Config;
use crate::engine::{
    Event, EventKind, ExpiryReason, Handle, Millis, Policy, SessionView, State, Stats, Totals,
};
use crate::source::{ClockReading, SourceInfo, SourceSnapshot};

/// 2026-11-26 09:00:00 UTC.
pub const T0: Millis = 1_795_683_600_000;
pub const IDLE_MS: i64 = 15 * 60_000;
pub const ABSOLUTE_MS: i64 = 8 * 3_600_000;

/// A live session of `user`, created at `created` and last seen at `last_seen`.
pub fn session(n: u64, user: &str, ip: &str, created: Millis, last_seen: Millis) -> SessionView {
    let attributes = BTreeMap::from([
        ("ip".to_owned(), ip.to_owned()),
        (
            "user_agent".to_owned(),
            "Firefox/133.0 (X11; Linux x86_64)".to_owned(),
        ),
    ]);
    SessionView {
        handle: Handle(0x9f2c_4e1a_0000_0000 + n * 0x1_0001_0001),
        user: user.into(),
        attributes: attributes.into(),
        created_at: created,
        last_seen_at: last_seen,
        idle_expires_at: last_seen + IDLE_MS,
        absolute_expires_at: created + ABSOLUTE_MS,
        expires_at: (last_seen + IDLE_MS).min(created + ABSOLUTE_MS),
        idle_timeout_ms: IDLE_MS,
        state: State::Active,
    }
}

/// An event of `kind` about `session` at `at`.
pub fn event(seq: u64, kind: EventKind, at: Millis, session: &SessionView) -> Event {
    let mut session = session.clone();
    let (reason, deadline, actor) = match kind {
        EventKind::Expired => (
            Some(ExpiryReason::Idle),
            Some(session.idle_expires_at),
            None,
        ),
        EventKind::Revoked => (None, None, Some("operator".into())),
        _ => (None, None, None),
    };
    session.state = match kind {
        EventKind::LoggedOut => State::LoggedOut,
        EventKind::Revoked => State::Revoked,
        EventKind::Expired => State::Expired,
        _ => State::Active,
    };
    if matches!(kind, EventKind::Touched | EventKind::Renewed) {
        session.last_seen_at = at;
        session.idle_expires_at = at + session.idle_timeout_ms;
        session.expires_at = session.idle_expires_at.min(session.absolute_expires_at);
    }
    Event {
        seq,
        at,
        kind,
        reason,
        deadline,
        actor,
        limit: None,
        session,
    }
}

/// Eight sessions with varied countdowns, including a nasty user name.
pub fn sessions() -> Vec<SessionView> {
    let m = 60_000;
    vec![
        session(1, "alice", "192.0.2.10", T0 - 120 * m, T0 - 2 * m),
        session(2, "bob", "198.51.100.7", T0 - 30 * m, T0 - 13 * m),
        session(
            3,
            "carol",
            "203.0.113.5",
            T0 - 7 * 60 * m - 50 * m,
            T0 - 30_000,
        ),
        session(4, "dave", "192.0.2.44", T0 - 5 * m, T0 - 5_000),
        session(
            5,
            "eve\u{1b}[2J\u{7}",
            "203.0.113.66",
            T0 - 60 * m,
            T0 - 10 * m,
        ),
        session(
            6,
            "frank-with-a-very-long-user-name",
            "198.51.100.99",
            T0 - 45 * m,
            T0 - 14 * m - 30_000,
        ),
        session(7, "grace", "192.0.2.200", T0 - 3 * m, T0 - 3 * m),
        session(8, "alice", "192.0.2.11", T0 - 10 * m, T0 - 1_000),
    ]
}

pub fn info() -> SourceInfo {
    SourceInfo {
        remote: false,
        mode: "embedded".to_owned(),
        policy: Policy::default(),
        clock_control: true,
        simulator: true,
        node: String::new(),
    }
}

pub fn snapshot(sessions: Vec<SessionView>, seq: u64) -> SourceSnapshot {
    let active = sessions.len() as u64;
    SourceSnapshot {
        info: info(),
        sessions,
        seq,
        stats: Stats {
            active,
            peak: active + 4,
            totals: Totals {
                logins: active + 10,
                logged_out: 6,
                revoked: 1,
                expired_idle: 3,
                ..Totals::default()
            },
            last_seq: seq,
        },
        now: T0,
    }
}

/// An app at `width` x `height` holding `sessions`, with the clock paused at `T0`, in UTC.
pub fn app_with(sessions: Vec<SessionView>, width: u16, height: u16) -> App {
    let mut config = Config::default();
    config.dashboard.speed = 1.0;
    let mut app = App::new(info(), &config, KeyMap::default(), 42);
    app.wall_start = T0;
    app.update(super::msg::Msg::Resize(width, height));
    app.update(super::msg::Msg::Snapshot(snapshot(sessions, 100)));
    app.update(super::msg::Msg::Tick {
        clock: ClockReading {
            now: T0,
            speed: 1.0,
            paused: true,
        },
        real_ms: 0,
    });
    app.prepare_frame();
    app
}
