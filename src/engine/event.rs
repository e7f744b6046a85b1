//! Engine events and the bounded history ring that lets a subscriber resume.

use std::collections::VecDeque;
use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::clock::Millis;
use super::session::{EndReason, SessionView, rfc3339_ms, rfc3339_ms_opt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Touched,
    Renewed,
    LoggedOut,
    Revoked,
    Expired,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Created,
        EventKind::Touched,
        EventKind::Renewed,
        EventKind::LoggedOut,
        EventKind::Revoked,
        EventKind::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Created => "created",
            EventKind::Touched => "touched",
            EventKind::Renewed => "renewed",
            EventKind::LoggedOut => "logged_out",
            EventKind::Revoked => "revoked",
            EventKind::Expired => "expired",
        }
    }

    /// Whether this event ends its session.
    pub fn is_end(self) -> bool {
        matches!(
            self,
            EventKind::LoggedOut | EventKind::Revoked | EventKind::Expired
        )
    }
}

/// One change to one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// When the engine made the change (for `expired`: when it ended the session).
    #[serde(with = "rfc3339_ms")]
    pub at: Millis,
    pub kind: EventKind,
    /// For `expired`: which deadline passed; for `revoked`: `evicted` when a
    /// login over the user's session limit pushed the session out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
    /// For `expired`: when the session should have ended.
    #[serde(
        default,
        with = "rfc3339_ms_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub deadline: Option<Millis>,
    /// For `revoked` and admin touches: who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<CompactString>,
    /// For an eviction: the user's session limit the login would have passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    pub session: SessionView,
}

impl Event {
    /// An event with no reason, deadline, actor or limit; numbered when kept.
    pub fn new(at: Millis, kind: EventKind, session: SessionView) -> Self {
        Event {
            seq: 0,
            at,
            kind,
            reason: None,
            deadline: None,
            actor: None,
            limit: None,
            session,
        }
    }
}

impl Event {
    /// How late an expiry fired, in milliseconds.
    pub fn lateness_ms(&self) -> Option<i64> {
        self.deadline.map(|d| self.at - d)
    }
}

/// Returned when a subscriber asks for events the ring no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("events after seq {asked} are no longer in the history; reload the snapshot")]
pub struct TooOld {
    pub asked: u64,
}

/// The last `capacity` events, for resuming subscribers.
///
/// Each held event also knows the sequence number of the previous event of
/// its session, so one session's events are found by following that chain
/// back from its newest: the cost is the session's events, not the ring's.
#[derive(Debug)]
pub struct History {
    ring: VecDeque<Held>,
    capacity: usize,
    last_seq: u64,
}

#[derive(Debug)]
struct Held {
    /// Shared with the subscribers' channel: an event is written once.
    event: Arc<Event>,
    /// The previous event of the same session; 0 for none.
    session_prev: u64,
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            ring: VecDeque::with_capacity(capacity.min(1 << 16)),
            capacity: capacity.max(1),
            last_seq: 0,
        }
    }

    /// A history whose next event follows `last_seq`: a restored engine numbers on.
    pub fn continuing(capacity: usize, last_seq: u64) -> Self {
        History {
            last_seq,
            ..History::new(capacity)
        }
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Assigns the next sequence number to `event` and keeps it.
    /// `session_prev` is the sequence number of its session's previous event (0: none).
    pub fn push(&mut self, mut event: Event, session_prev: u64) -> &Arc<Event> {
        self.last_seq += 1;
        event.seq = self.last_seq;
        let oldest = if self.ring.len() == self.capacity {
            let oldest = self.ring.pop_front();
            // The next pushes take the events now at the front, releasing
            // their sessions' attributes: start loading what that reads and
            // writes, a step ahead of each (see `engine::cache`).
            if let Some(next) = self.ring.get(1) {
                next.event.session.attributes.prefetch();
            }
            if let Some(later) = self.ring.get(4) {
                super::cache::prefetch_shared(&later.event);
            }
            oldest
        } else {
            None
        };
        // The oldest event is written over in place when nothing else holds
        // it any more (the subscribers' channel is shorter than the history):
        // freeing a block allocated a hundred thousand events ago and
        // allocating another cost more than the write.
        let event = match oldest.map(|held| held.event) {
            Some(mut held) => match Arc::get_mut(&mut held) {
                Some(slot) => {
                    *slot = event;
                    held
                }
                None => Arc::new(event),
            },
            None => Arc::new(event),
        };
        self.ring.push_back(Held {
            event,
            session_prev,
        });
        &self.ring.back().expect("just pushed").event
    }

    /// The full sequence number of the newest event whose number ends in
    /// `low` (its low 32 bits): what a session keeps of its newest event.
    pub fn expand(&self, low: u32) -> u64 {
        let high = self.last_seq & !u64::from(u32::MAX);
        let seq = high | u64::from(low);
        if seq > self.last_seq {
            seq.saturating_sub(1 << 32)
        } else {
            seq
        }
    }

    /// Every event after `seq`, or `TooOld` if some of them have been dropped.
    pub fn since(&self, seq: u64) -> Result<Vec<Event>, TooOld> {
        if seq >= self.last_seq {
            return if seq == self.last_seq {
                Ok(Vec::new())
            } else {
                // A seq from the future: not this history's.
                Err(TooOld { asked: seq })
            };
        }
        let oldest = self.oldest();
        if seq + 1 < oldest {
            return Err(TooOld { asked: seq });
        }
        let skip = (seq + 1 - oldest) as usize;
        Ok(self
            .ring
            .iter()
            .skip(skip)
            .map(|h| Event::clone(&h.event))
            .collect())
    }

    /// The held events of one session, oldest first, found from `newest`
    /// (the sequence number of its newest event) back along its chain.
    pub fn of_session(&self, handle: super::Handle, newest: u64) -> Vec<Event> {
        let mut events = Vec::new();
        let mut seq = newest;
        while let Some(held) = self.held(seq) {
            // A number that names another session's event ends the chain
            // (a session kept only the low bits of its newest event's number).
            if held.event.session.handle != handle {
                break;
            }
            events.push(Event::clone(&held.event));
            seq = held.session_prev;
        }
        events.reverse();
        events
    }

    fn oldest(&self) -> u64 {
        self.last_seq + 1 - self.ring.len() as u64
    }

    fn held(&self, seq: u64) -> Option<&Held> {
        if seq == 0 || seq > self.last_seq || seq < self.oldest() {
            return None;
        }
        self.ring.get((seq - self.oldest()) as usize)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::engine::Handle;
    use crate::engine::session::State;

    pub(crate) fn event_of(handle: u64) -> Event {
        let session = SessionView {
            handle: Handle(handle),
            user: "u".into(),
            attributes: Default::default(),
            created_at: 0,
            last_seen_at: 0,
            idle_expires_at: 0,
            absolute_expires_at: 0,
            expires_at: 0,
            idle_timeout_ms: 0,
            state: State::Active,
        };
        Event::new(0, EventKind::Touched, session)
    }

    #[test]
    fn a_sessions_events_follow_its_chain_and_end_where_the_ring_does() {
        let mut history = History::new(10);
        let mut newest = [0u64; 3];
        // Sessions 0, 1 and 2 take turns: 15 events, the first five dropped.
        for i in 0..15 {
            let session = i % 3;
            let seq = history.push(event_of(session as u64), newest[session]).seq;
            newest[session] = seq;
        }
        let seqs = |handle: u64| -> Vec<u64> {
            history
                .of_session(Handle(handle), newest[handle as usize])
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        assert_eq!(seqs(0), vec![7, 10, 13]);
        assert_eq!(seqs(1), vec![8, 11, 14]);
        assert_eq!(seqs(2), vec![6, 9, 12, 15]);
        // A number that names another session's event yields nothing.
        assert!(history.of_session(Handle(0), 14).is_empty());
        assert!(history.of_session(Handle(0), 0).is_empty());
    }

    #[test]
    fn low_bits_expand_to_the_newest_number_that_ends_in_them() {
        let mut history = History::continuing(4, (1 << 32) + 5);
        history.push(event_of(1), 0);
        assert_eq!(history.last_seq(), (1 << 32) + 6);
        assert_eq!(history.expand(6), (1 << 32) + 6);
        assert_eq!(history.expand(2), (1 << 32) + 2);
        // Not yet reached in this round: the previous round's.
        assert_eq!(history.expand(7), 7);
        assert_eq!(History::new(4).expand(3), 0);
    }
}
