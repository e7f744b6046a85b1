//! The engine's side of the store seam: what a store keeps of a session, the
//! changes it is told of, and the state it hands back at start-up.
//!
//! The engine's events already are a complete log of every change. A store
//! that keeps state outside the process (the file store) receives each event
//! together with the session's record as it stands after the change, which is
//! what it needs to write the session behind: the record holds the verifier
//! hash, which no event carries. Nothing here does I/O; a store implements
//! [`ChangeSink`] and is called under the engine lock, so it must not block.

use std::sync::Arc;

use compact_str::CompactString;

use super::attributes::Attributes;
use super::clock::Millis;
use super::event::Event;
use super::token::{Handle, VerifierHash};

/// Everything a store keeps of one live session. Never a token: the verifier
/// is kept only as its SHA-256, so a stolen store cannot log anyone in.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSession {
    pub handle: Handle,
    pub verifier_hash: VerifierHash,
    pub user: CompactString,
    pub attributes: Option<Arc<Attributes>>,
    pub created: Millis,
    pub last_seen: Millis,
    pub idle_timeout_ms: u32,
    pub absolute_deadline: Millis,
}

/// One change: its event, and the session as it stands after it (`None` once
/// the event has ended the session).
#[derive(Debug, Clone)]
pub struct Change {
    pub event: Event,
    pub session: Option<StoredSession>,
}

/// Where the engine sends its changes, in order, as they happen.
pub trait ChangeSink: Send + Sync + 'static {
    /// Takes the changes of one operation. Called under the engine lock: it
    /// must hand them on (a channel) and return, never wait for a disk.
    fn record(&self, changes: Vec<Change>);
}

/// The secret keys of the selector codec. Kept by a durable store so that a
/// restarted engine decodes the handles (and tokens) it issued before.
pub type SelectorKeys = [(u64, u64); 4];

/// What a store hands back to start an engine where the last one stopped.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    /// The sequence number of the last event the store holds: events continue after it.
    pub last_seq: u64,
    pub selector_keys: Option<SelectorKeys>,
    /// Higher than every generation ever issued, so a reused slot never repeats a handle.
    pub generation_floor: u32,
    /// The latest engine time the store saw. Deadlines that passed between it
    /// and now (a closing time among them) end at start-up with their real deadline.
    pub last_time: Millis,
    pub sessions: Vec<StoredSession>,
}
