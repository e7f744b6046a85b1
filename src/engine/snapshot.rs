//! Every live session, collected a chunk at a time between lock holds.
//!
//! A million sessions take a while to copy; the engine lock must not be held
//! that long, or expiries and requests wait. So a snapshot copies the session
//! slots in chunks, one chunk per lock hold. Sessions change between holds,
//! so each hold first brings the slots already copied up to date from the
//! events made since the last hold (each event carries the whole session),
//! then copies the next chunk. After the last hold the copy is exactly the
//! state as of the last event it has seen: every event up to that sequence
//! number is in it, none after it. The driver subscribes in that same hold,
//! so the feed starts with the very next event: no gap and no duplicate.

use super::core::Engine;
use super::event::TooOld;
use super::session::SessionView;

pub(crate) struct SnapshotBuilder {
    /// By slot; `None` where no session lives.
    views: Vec<Option<SessionView>>,
    /// The events up to this seq are in `views`.
    seq: u64,
}

impl SnapshotBuilder {
    pub fn start(engine: &Engine) -> Self {
        SnapshotBuilder {
            views: Vec::with_capacity(engine.slot_count()),
            seq: engine.last_seq(),
        }
    }

    /// The sequence number the copy is up to date with.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// One lock hold's work: catches up with the events since the last step,
    /// then copies up to `chunk` more slots. Returns whether every slot is
    /// copied. `TooOld` means the history lost events since the last step:
    /// start over.
    pub fn step(&mut self, engine: &Engine, chunk: usize) -> Result<bool, TooOld> {
        let copied = self.views.len();
        for event in engine.events_since(self.seq)? {
            let slot = engine.slot_of_handle(event.session.handle) as usize;
            // Slots not copied yet are copied fresh below, changes and all.
            if slot < copied {
                self.views[slot] = (!event.kind.is_end()).then_some(event.session);
            }
        }
        self.seq = engine.last_seq();
        let end = engine.slot_count().min(copied.saturating_add(chunk));
        self.views
            .extend((copied..end).map(|slot| engine.live_view(slot as u32)));
        Ok(self.views.len() >= engine.slot_count())
    }

    /// Touches the memory the next `chunk` slots will be copied into, so
    /// its page faults (a million sessions fill 25,000 pages) are taken
    /// between lock holds, not during one.
    pub fn prefault(&mut self, chunk: usize) {
        let spare = self.views.spare_capacity_mut();
        let n = spare.len().min(chunk);
        let bytes = n * std::mem::size_of::<Option<SessionView>>();
        let start = spare.as_mut_ptr().cast::<u8>();
        let mut offset = 0;
        while offset < bytes {
            // SAFETY: the byte lies within the vector's allocated spare
            // capacity, which holds no value yet; writing it changes nothing
            // the vector relies on.
            unsafe { start.add(offset).write_volatile(0) };
            offset += 4096;
        }
    }

    /// The sessions, in no particular order, in the memory they were copied
    /// into (a second copy of a million views cost a fifth of the snapshot).
    pub fn finish(self) -> Vec<SessionView> {
        let mut views = self.views;
        views.retain(Option::is_some);
        views
            .into_iter()
            .map(|view| view.expect("kept only live slots"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::{Handle, ListQuery, Login, Millis, Policy, Token};

    const T0: Millis = 1_800_000_000_000;

    #[derive(Debug, Clone)]
    enum Op {
        Login(u8),
        Touch(usize),
        Logout(usize),
        RevokeUser(u8),
        Advance(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..5).prop_map(Op::Login),
            2 => any::<usize>().prop_map(Op::Touch),
            1 => any::<usize>().prop_map(Op::Logout),
            1 => (0u8..5).prop_map(Op::RevokeUser),
            2 => (0u16..3000).prop_map(Op::Advance),
        ]
    }

    fn apply(engine: &mut Engine, now: &mut Millis, tokens: &mut Vec<Token>, op: &Op) {
        let pick = |i: usize| i % tokens.len().max(1);
        match *op {
            Op::Login(user) => {
                let (token, _) = engine.login(*now, Login::user(format!("u{user}"))).unwrap();
                tokens.push(token);
            }
            Op::Touch(i) if !tokens.is_empty() => {
                let _ = engine.touch(*now, tokens[pick(i)].expose());
            }
            Op::Logout(i) if !tokens.is_empty() => {
                let _ = engine.logout(*now, tokens[pick(i)].expose());
            }
            Op::RevokeUser(user) => {
                engine.revoke_user(*now, &format!("u{user}"), "op");
            }
            Op::Advance(ms) => {
                *now += Millis::from(ms);
                engine.expire_due(*now);
            }
            _ => {}
        }
    }

    fn by_handle(sessions: Vec<SessionView>) -> BTreeMap<Handle, SessionView> {
        sessions.into_iter().map(|s| (s.handle, s)).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// However sessions change between the chunks, the finished copy is
        /// the engine's state as of the last event the copy saw.
        #[test]
        fn a_chunked_snapshot_equals_the_state_at_its_seq(
            before in proptest::collection::vec(op(), 0..40),
            between in proptest::collection::vec(proptest::collection::vec(op(), 0..6), 1..12),
            chunk in 1usize..4,
        ) {
            let policy = Policy {
                idle_timeout: Duration::from_secs(5),
                // Every touch announced, so events carry every change.
                touch_event_interval: Duration::ZERO,
                ..Policy::default()
            };
            let mut engine = Engine::new(policy, 10_000, T0);
            let (mut now, mut tokens) = (T0, Vec::new());
            for op in &before {
                apply(&mut engine, &mut now, &mut tokens, op);
            }
            let mut builder = SnapshotBuilder::start(&engine);
            let mut rounds = between.iter();
            loop {
                let done = builder.step(&engine, chunk).unwrap();
                if done {
                    break;
                }
                // As the driver does between lock holds: it must change nothing.
                builder.prefault(chunk);
                for op in rounds.next().into_iter().flatten() {
                    apply(&mut engine, &mut now, &mut tokens, op);
                }
            }
            prop_assert_eq!(builder.seq(), engine.last_seq());
            let all = engine.list(&ListQuery { limit: usize::MAX, ..ListQuery::default() });
            prop_assert_eq!(by_handle(builder.finish()), by_handle(all.sessions));
        }
    }

    #[test]
    fn a_snapshot_whose_events_left_the_history_starts_over() {
        let mut engine = Engine::new(Policy::default(), 4, T0);
        for i in 0..6 {
            engine.login(T0, Login::user(format!("u{i}"))).unwrap();
        }
        let mut builder = SnapshotBuilder::start(&engine);
        assert_eq!(builder.step(&engine, 2), Ok(false));
        for i in 0..5 {
            engine.login(T0, Login::user(format!("v{i}"))).unwrap();
        }
        assert!(builder.step(&engine, 2).is_err());
    }

    #[test]
    fn the_finished_snapshot_is_the_memory_it_was_copied_into() {
        let mut engine = Engine::new(Policy::default(), 100, T0);
        let tokens: Vec<_> = (0..50)
            .map(|i| engine.login(T0, Login::user(format!("u{i}"))).unwrap().0)
            .collect();
        for token in tokens.iter().step_by(3) {
            engine.logout(T0, token.expose()).unwrap();
        }
        let mut builder = SnapshotBuilder::start(&engine);
        while !builder.step(&engine, 8).unwrap() {}
        let buffer = builder.views.as_ptr().cast::<u8>();
        let sessions = builder.finish();
        assert_eq!(sessions.len(), 33);
        assert_eq!(sessions.as_ptr().cast::<u8>(), buffer, "no second copy");
    }
}
