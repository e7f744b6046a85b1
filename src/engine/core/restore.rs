//! The core's side of the store seam: starting from a store's state, and the
//! record of a session as a store keeps it.

use std::sync::Arc;

use super::*;
use crate::engine::persist::{Restored, SelectorKeys, StoredSession};

/// Where a restored session goes on the deadline tracks.
struct Placed {
    slot: Slot,
    idle_deadline: Millis,
    idle_timeout: Millis,
    absolute_deadline: Millis,
    absolute_timeout: Millis,
}

impl Engine {
    /// An engine that carries on from `restored`: the same sessions under the
    /// same handles and tokens, events numbered on from the store's last one.
    /// Sessions whose deadline passed while no engine ran are still live here;
    /// the first `expire_due(now)` ends them with their real deadline.
    pub fn restore(
        policy: Policy,
        history_capacity: usize,
        now: Millis,
        restored: Restored,
    ) -> Engine {
        let mut engine = Engine::new(policy, history_capacity, restored.last_time.min(now));
        if let Some(keys) = restored.selector_keys {
            engine.selectors = SelectorCodec::from_keys(keys);
        }
        engine.history = History::continuing(history_capacity, restored.last_seq);
        let mut sessions = restored.sessions;
        let mut top = 0usize;
        for stored in &sessions {
            let (slot, _) = engine.selectors.decode(stored.handle.0);
            top = top.max(slot as usize + 1);
        }
        super::super::huge_pages::reserve(&mut engine.records, top);
        engine.records.resize(top, None);
        // Oldest first, so each user's list of sessions is oldest first.
        sessions.sort_unstable_by_key(|s| (s.created, s.handle));
        // The sessions are taken apart as they go in (their names and
        // attributes move, never copied); the deadlines stay for the tracks.
        let mut placed = Vec::with_capacity(sessions.len());
        for stored in sessions {
            let (slot, _) = engine.selectors.decode(stored.handle.0);
            let attributes = stored
                .attributes
                .map(|map| engine.interner.intern(Arc::unwrap_or_clone(map)))
                .unwrap_or_default();
            let record = Record {
                selector: stored.handle.0,
                verifier_hash: stored.verifier_hash,
                user: 0,
                user_prev: NIL,
                user_next: NIL,
                attributes,
                created: stored.created,
                last_seen: stored.last_seen,
                idle_timeout_ms: stored.idle_timeout_ms,
                touch_pending: false,
                absolute_deadline: stored.absolute_deadline,
                last_touch_event: stored.last_seen,
                last_event: 0,
            };
            placed.push(Placed {
                slot,
                idle_deadline: record.idle_deadline(),
                idle_timeout: Millis::from(record.idle_timeout_ms),
                absolute_deadline: stored.absolute_deadline,
                absolute_timeout: stored.absolute_deadline - stored.created,
            });
            engine.records[slot as usize] = Some(record);
            engine.users.attach(stored.user, slot, &mut engine.records);
        }
        engine.live = placed.len();
        engine.peak = engine.live as u64;
        // Each lane of a track is kept in deadline order; appending in that
        // order keeps every append O(1).
        placed.sort_unstable_by_key(|p| p.idle_deadline);
        for p in &placed {
            engine.idle.insert(p.slot, p.idle_timeout, p.idle_deadline);
        }
        placed.sort_unstable_by_key(|p| p.absolute_deadline);
        for p in &placed {
            engine
                .absolute
                .insert(p.slot, p.absolute_timeout, p.absolute_deadline);
        }
        let floor = restored.generation_floor;
        engine.free = (0..top as Slot)
            .rev()
            .filter(|&slot| engine.records[slot as usize].is_none())
            .map(|slot| (slot, floor))
            .collect();
        engine.fresh_generation = floor;
        engine
    }

    /// The session behind `handle` as a store keeps it, if it is live.
    /// Attributes never change after login, so they are copied only when
    /// `with_attributes` asks (for the `created` change).
    pub fn stored(&self, handle: Handle, with_attributes: bool) -> Option<StoredSession> {
        let record = self.record(self.live_slot(handle.0)?);
        Some(StoredSession {
            handle,
            verifier_hash: record.verifier_hash,
            user: self.users.name(record.user).clone(),
            attributes: (with_attributes && !record.attributes.is_empty()).then(|| {
                let map: Attributes = record
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                Arc::new(map)
            }),
            created: record.created,
            last_seen: record.last_seen,
            idle_timeout_ms: record.idle_timeout_ms,
            absolute_deadline: record.absolute_deadline,
        })
    }

    /// Announces every coalesced touch now, so a store that is about to close
    /// keeps the last activity of every session.
    pub fn announce_pending_touches(&mut self, now: Millis) {
        let now = now.max(self.latest);
        while let Some(Reverse((_, slot, selector))) = self.pending_touches.pop() {
            if self.live_slot(selector) != Some(slot) || !self.record(slot).touch_pending {
                continue;
            }
            let record = self.record_mut(slot);
            record.touch_pending = false;
            record.last_touch_event = now;
            let view = self.view(slot, State::Active);
            self.emit(slot, Event::new(now, EventKind::Touched, view));
        }
    }

    /// The keys that turn slots into handles, for a store to keep.
    pub fn selector_keys(&self) -> SelectorKeys {
        self.selectors.keys()
    }
}
