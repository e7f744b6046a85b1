//! Engine events and the bounded history ring that lets a subscriber resume.

use std::collections::VecDeque;

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
#[derive(Debug)]
pub struct History {
    ring: VecDeque<Event>,
    capacity: usize,
    last_seq: u64,
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
    pub fn push(&mut self, mut event: Event) -> &Event {
        self.last_seq += 1;
        event.seq = self.last_seq;
        if self.ring.len() == self.capacity {
            self.ring.pop_front();
        }
        self.ring.push_back(event);
        self.ring.back().expect("just pushed")
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
        let oldest = self.last_seq + 1 - self.ring.len() as u64;
        if seq + 1 < oldest {
            return Err(TooOld { asked: seq });
        }
        let skip = (seq + 1 - oldest) as usize;
        Ok(self.ring.iter().skip(skip).cloned().collect())
    }

    /// The held events of one session, oldest first.
    pub fn of_session(&self, handle: super::Handle) -> Vec<Event> {
        self.ring
            .iter()
            .filter(|e| e.session.handle == handle)
            .cloned()
            .collect()
    }
}
