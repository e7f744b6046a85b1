//! Property tests: whatever operations and clock steps happen, no session
//! outlives a deadline, none ends twice, and replaying the events gives the
//! state the engine holds.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use sessiontop::engine::{
    Engine, EngineError, Event, EventKind, Handle, ListQuery, Login, Millis, Policy, SessionView,
    Token,
};

const T0: Millis = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Login { user: u8, idle_ms: Option<u32> },
    Touch(usize),
    TouchHandle(usize),
    Renew(usize),
    Logout(usize),
    Revoke(usize),
    RevokeUser(u8),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, proptest::option::of(1_000u32..20_000))
            .prop_map(|(user, idle_ms)| Op::Login { user, idle_ms }),
        3 => any::<usize>().prop_map(Op::Touch),
        1 => any::<usize>().prop_map(Op::TouchHandle),
        1 => any::<usize>().prop_map(Op::Renew),
        1 => any::<usize>().prop_map(Op::Logout),
        1 => any::<usize>().prop_map(Op::Revoke),
        1 => (0u8..4).prop_map(Op::RevokeUser),
        4 => (0u32..8_000).prop_map(Op::Advance),
    ]
}

fn all_sessions(engine: &Engine) -> BTreeMap<Handle, SessionView> {
    engine
        .list(&ListQuery {
            limit: usize::MAX,
            ..ListQuery::default()
        })
        .sessions
        .into_iter()
        .map(|s| (s.handle, s))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sessions_never_outlive_deadlines_end_once_and_replay_to_the_engine_state(
        ops in proptest::collection::vec(op(), 1..120)
    ) {
        let policy = Policy {
            idle_timeout: Duration::from_secs(5),
            absolute_timeout: Duration::from_secs(30),
            touch_event_interval: Duration::from_millis(500),
            ..Policy::default()
        };
        let mut engine = Engine::new(policy, 100_000, T0);
        let mut now = T0;
        // Every token ever issued, with its handle; some are dead.
        let mut tokens: Vec<(Token, Handle)> = Vec::new();
        let mut events: Vec<Event> = Vec::new();

        for op in ops {
            let pick = |i: usize| (!tokens.is_empty()).then(|| i % tokens.len());
            match op {
                Op::Login { user, idle_ms } => {
                    let login = Login {
                        idle_timeout: idle_ms.map(|ms| Duration::from_millis(ms.into())),
                        ..Login::user(format!("user{user}"))
                    };
                    let (token, session) = engine.login(now, login).unwrap();
                    prop_assert!(session.expires_at > now);
                    tokens.push((token, session.handle));
                }
                Op::Touch(i) => {
                    if let Some(i) = pick(i)
                        && let Ok(s) = engine.touch(now, tokens[i].0.expose())
                    {
                        prop_assert_eq!(s.last_seen_at, now);
                    }
                }
                Op::TouchHandle(i) => if let Some(i) = pick(i) {
                    let _ = engine.touch_handle(now, tokens[i].1, "sim");
                }
                Op::Renew(i) => {
                    if let Some(i) = pick(i)
                        && let Ok((new, s)) = engine.renew(now, tokens[i].0.expose())
                    {
                        prop_assert_eq!(s.handle, tokens[i].1);
                        let old = std::mem::replace(&mut tokens[i].0, new);
                        prop_assert_eq!(engine.touch(now, old.expose()), Err(EngineError::InvalidToken));
                    }
                }
                Op::Logout(i) => if let Some(i) = pick(i) {
                    let _ = engine.logout(now, tokens[i].0.expose());
                }
                Op::Revoke(i) => if let Some(i) = pick(i) {
                    let _ = engine.revoke(now, tokens[i].1, "op");
                }
                Op::RevokeUser(u) => {
                    engine.revoke_user(now, &format!("user{u}"), "op");
                }
                Op::Advance(ms) => {
                    now += Millis::from(ms);
                    engine.expire_due(now);
                }
            }
            events.extend(engine.take_events());

            // The listing is in idle-deadline order, also when read in pages.
            let mut paged = Vec::new();
            let mut cursor = None;
            loop {
                let page = engine.list(&ListQuery { user: None, limit: 3, cursor });
                paged.extend(page.sessions.iter().map(|s| (s.idle_expires_at, s.handle)));
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            prop_assert!(paged.windows(2).all(|w| w[0].0 <= w[1].0), "out of order: {:?}", paged);
            prop_assert_eq!(paged.len(), engine.active());

            // Nothing live is past a deadline.
            let live = all_sessions(&engine);
            for s in live.values() {
                prop_assert!(s.expires_at > now, "{} alive at {} past {}", s.handle, now, s.expires_at);
            }
        }

        // Sequence numbers are gapless and ascending.
        for (i, e) in events.iter().enumerate() {
            prop_assert_eq!(e.seq, i as u64 + 1);
        }
        // Replaying the events gives the engine's state; no session ends twice
        // or has events after its end; expiries fire at or after their deadline.
        let mut replayed: BTreeMap<Handle, SessionView> = BTreeMap::new();
        let mut ended: BTreeSet<Handle> = BTreeSet::new();
        for e in &events {
            let handle = e.session.handle;
            prop_assert!(!ended.contains(&handle), "event after the end of {}", handle);
            match e.kind {
                EventKind::Created => {
                    prop_assert!(replayed.insert(handle, e.session.clone()).is_none());
                }
                EventKind::Touched | EventKind::Renewed => {
                    prop_assert!(replayed.contains_key(&handle));
                    replayed.insert(handle, e.session.clone());
                }
                EventKind::LoggedOut | EventKind::Revoked | EventKind::Expired => {
                    let before = replayed.remove(&handle);
                    prop_assert!(before.is_some());
                    ended.insert(handle);
                    if e.kind == EventKind::Expired {
                        let deadline = e.deadline.unwrap();
                        prop_assert!(e.at >= deadline);
                        prop_assert_eq!(deadline, e.session.expires_at);
                    }
                }
            }
        }
        let live = all_sessions(&engine);
        prop_assert_eq!(
            replayed.keys().collect::<Vec<_>>(),
            live.keys().collect::<Vec<_>>()
        );
        // Coalesced touches may leave last_seen newer than the last event says,
        // but never older, and everything else matches.
        for (handle, view) in &live {
            let replay = &replayed[handle];
            prop_assert!(replay.last_seen_at <= view.last_seen_at);
            prop_assert_eq!(&replay.user, &view.user);
            prop_assert_eq!(replay.created_at, view.created_at);
            prop_assert_eq!(replay.absolute_expires_at, view.absolute_expires_at);
        }
        let stats = engine.stats();
        prop_assert_eq!(stats.active as usize, live.len());
        let t = stats.totals;
        let ends = t.logged_out + t.revoked + t.expired_idle + t.expired_absolute + t.expired_closing_time;
        prop_assert_eq!(t.logins, ends + stats.active);
    }
}
