//! The session engine: every rule about sessions, and nothing else.
//!
//! `core` is plain synchronous Rust over an injected clock reading: create,
//! touch, renew, log out, revoke, expire, and the event log. `driver` runs it
//! on tokio, sleeping until the next deadline, behind one cloneable handle.
//! This module must not do I/O of its own, know about HTTP or terminals, or
//! put a token anywhere but the login and renew answers.

mod attributes;
mod cache;
pub mod clock;
mod core;
pub mod driver;
pub mod event;
mod fanout;
mod huge_pages;
pub mod persist;
mod schedule;
pub mod session;
mod snapshot;
pub mod token;
mod users;

pub use attributes::{Attributes, SessionAttributes};
pub use clock::{Clock, Millis, SystemClock, VirtualClock};
pub use core::{
    Cursor, Engine, EngineError, ListQuery, Located, Login, MAX_ATTRIBUTE_KEY_LEN,
    MAX_ATTRIBUTE_VALUE_LEN, MAX_ATTRIBUTES, MAX_USER_LEN, Mine, Page, Stats, Totals,
};
pub(crate) use core::{pick_limit, pick_timeout, validate_attributes, validate_user};
pub use driver::{EngineHandle, Subscription};
pub use event::{Event, EventKind, TooOld};
pub use session::{
    Bounds, ClosingTime, EndReason, ExpiryReason, MAX_SESSION_LIMIT, OnLimit, Policy, SessionView,
    State,
};
pub use token::{Handle, Token};
