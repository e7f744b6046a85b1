//! Property tests: whatever operations and clock steps happen, no session
//! outlives a deadline, none ends twice, replaying the events gives the
//! state the engine holds, the per-user index equals a scan of all sessions,
//! and no user holds more sessions than the limit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use sessiontop::engine::{
    EndReason, Engine, EngineError, Event, EventKind, Handle, ListQuery, Login, Millis, OnLimit,
    Policy, SessionView, Token,
};

const T0: Millis = 1_800_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    Login {
        user: u8,
        idle_ms: Option<u32>,
        limit: Option<u32>,
    },
    Touch(usize),
    TouchHandle(usize),
    Renew(usize),
    Logout(usize),
    Revoke(usize),
    RevokeUser(u8),
    Mine(usize),
    RevokeMine(usize, usize),
    RevokeOthers(usize),
    Advance(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..4, proptest::option::of(1_000u32..20_000), proptest::option::weighted(0.2, 1u32..4))
            .prop_map(|(user, idle_ms, limit)| Op::Login { user, idle_ms, limit }),
        3 => any::<usize>().prop_map(Op::Touch),
        1 => any::<usize>().prop_map(Op::TouchHandle),
        1 => any::<usize>().prop_map(Op::Renew),
        1 => any::<usize>().prop_map(Op::Logout),
        1 => any::<usize>().prop_map(Op::Revoke),
        1 => (0u8..4).prop_map(Op::RevokeUser),
        1 => any::<usize>().prop_map(Op::Mine),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::RevokeMine(a, b)),
        1 => any::<usize>().prop_map(Op::RevokeOthers),
        4 => (0u32..8_000).prop_map(Op::Advance),
    ]
}

fn all_sessions(engine: &mut Engine) -> BTreeMap<Handle, SessionView> {
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

/// Every live session's handle, read a page of two at a time.
fn paged_handles(engine: &mut Engine, user: Option<&str>) -> Vec<Handle> {
    let mut handles = Vec::new();
    let mut cursor = None;
    loop {
        let page = engine.list(&ListQuery {
            user: user.map(str::to_owned),
            limit: 2,
            cursor,
        });
        handles.extend(page.sessions.iter().map(|s| s.handle));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return handles,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn sessions_never_outlive_deadlines_end_once_and_replay_to_the_engine_state(
        ops in proptest::collection::vec(op(), 1..120),
        max_sessions_per_user in proptest::option::of(1u32..5),
        refuse in any::<bool>(),
    ) {
        let policy = Policy {
            idle_timeout: Duration::from_secs(5),
            absolute_timeout: Duration::from_secs(30),
            touch_event_interval: Duration::from_millis(500),
            max_sessions_per_user,
            on_limit: if refuse { OnLimit::Refuse } else { OnLimit::EvictOldest },
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
                Op::Login { user, idle_ms, limit } => {
                    let name = format!("user{user}");
                    let login = Login {
                        idle_timeout: idle_ms.map(|ms| Duration::from_millis(ms.into())),
                        max_sessions_per_user: limit,
                        ..Login::user(name.as_str())
                    };
                    let ceiling = max_sessions_per_user.unwrap_or(u32::MAX);
                    match engine.login(now, login) {
                        Ok((token, session)) => {
                            prop_assert!(session.expires_at > now);
                            tokens.push((token, session.handle));
                            let held = engine.user_session_count(&name) as u32;
                            prop_assert!(held <= limit.unwrap_or(ceiling), "{} holds {}", name, held);
                        }
                        Err(EngineError::LimitOutOfBounds { value, max }) => {
                            prop_assert!(value > max && max == ceiling);
                        }
                        Err(EngineError::SessionLimit { limit: l }) => {
                            prop_assert!(refuse);
                            prop_assert!(engine.user_session_count(&name) as u32 >= l);
                        }
                        Err(other) => prop_assert!(false, "unexpected {other}"),
                    }
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
                Op::Mine(i) => if let Some(i) = pick(i)
                    && let Ok(mine) = engine.mine(now, tokens[i].0.expose())
                {
                    prop_assert_eq!(mine.current, tokens[i].1);
                    prop_assert_eq!(mine.sessions.iter().filter(|s| s.handle == mine.current).count(), 1);
                    let user = &mine.sessions[0].user;
                    prop_assert!(mine.sessions.iter().all(|s| s.user == *user));
                }
                Op::RevokeMine(i, j) => if let (Some(i), Some(j)) = (pick(i), pick(j)) {
                    let caller = engine.get(tokens[i].1);
                    let target = engine.get(tokens[j].1);
                    let result = engine.revoke_mine(now, tokens[i].0.expose(), tokens[j].1);
                    match (caller, target) {
                        (Some(c), Some(t)) if c.user == t.user => prop_assert!(result.is_ok()),
                        (Some(_), _) => prop_assert_eq!(result, Err(EngineError::NoSuchSession(tokens[j].1))),
                        (None, _) => prop_assert_eq!(result, Err(EngineError::InvalidToken)),
                    }
                }
                Op::RevokeOthers(i) => if let Some(i) = pick(i)
                    && let Ok(n) = engine.revoke_others(now, tokens[i].0.expose())
                {
                    let user = engine.get(tokens[i].1).unwrap().user;
                    prop_assert_eq!(engine.user_handles(&user), vec![tokens[i].1]);
                    prop_assert!(n < tokens.len());
                }
                Op::Advance(ms) => {
                    now += Millis::from(ms);
                    engine.expire_due(now);
                }
            }
            events.extend(engine.take_events().into_iter().map(std::sync::Arc::unwrap_or_clone));

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
            let live = all_sessions(&mut engine);
            for s in live.values() {
                prop_assert!(s.expires_at > now, "{} alive at {} past {}", s.handle, now, s.expires_at);
            }

            // The per-user index is what a scan of every session finds, oldest
            // first, and its listing is the full listing filtered.
            for u in 0..4 {
                let name = format!("user{u}");
                let mut scanned: Vec<&SessionView> = live.values().filter(|s| s.user == name).collect();
                scanned.sort_by_key(|s| (s.created_at, s.handle));
                let mut indexed = engine.user_handles(&name);
                prop_assert_eq!(indexed.len(), engine.user_session_count(&name));
                let by_created: BTreeMap<Handle, Millis> = scanned.iter().map(|s| (s.handle, s.created_at)).collect();
                prop_assert!(indexed.windows(2).all(|w| by_created[&w[0]] <= by_created[&w[1]]), "oldest first");
                indexed.sort();
                let mut expected: Vec<Handle> = scanned.iter().map(|s| s.handle).collect();
                expected.sort();
                prop_assert_eq!(&indexed, &expected);
                if let Some(max) = max_sessions_per_user {
                    prop_assert!(expected.len() as u32 <= max);
                }
                let filtered: Vec<Handle> = paged_handles(&mut engine, None).into_iter().filter(|h| live[h].user == name).collect();
                prop_assert_eq!(paged_handles(&mut engine, Some(&name)), filtered);
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
                    if e.reason == Some(EndReason::Evicted) {
                        prop_assert_eq!(e.kind, EventKind::Revoked);
                        prop_assert!(e.limit.is_some());
                    }
                    if e.kind == EventKind::Expired {
                        let deadline = e.deadline.unwrap();
                        prop_assert!(e.at >= deadline);
                        prop_assert_eq!(deadline, e.session.expires_at);
                    }
                }
            }
        }
        let live = all_sessions(&mut engine);
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
        let evictions = events.iter().filter(|e| e.reason == Some(EndReason::Evicted)).count() as u64;
        prop_assert_eq!(t.evicted, evictions);
    }
}
