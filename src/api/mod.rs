//! The wire contract: every type that crosses HTTP, in one place.
//!
//! Session and event views, request and response bodies, the error body and
//! its codes, the stream's `resync` and event ids, the policy's wire form and
//! the stats. The server (`crate::server`) answers with these types and the
//! remote source (`crate::source::remote`) reads them, so the two cannot
//! drift apart; the OpenAPI document is derived from them too.
//!
//! This module owns the JSON shape (field names, RFC 3339 times, humantime
//! durations) and the conversions from and to engine types. It must not hold
//! session rules (those are the engine's), know about axum or reqwest, or
//! give a token anywhere but in `TokenResponse`.

pub mod body;
pub mod error;
pub mod event_id;
pub mod pattern;
pub mod read;
pub mod session;
pub mod stats;
pub mod stream;
pub mod time;

pub use body::{
    ListParams, LoginRequest, MySession, MySessions, RevokeMineRequest, RevokedCount,
    SessionDetail, SessionPage, SessionResponse, TokenRequest, TokenResponse,
};
pub use error::{ApiError, ErrorBody, ErrorCode};
pub use event_id::EventId;
pub use session::{Event, EventKind, ExpiryReason, SessionView, State};
pub use stats::{PolicyView, StatsResponse, Totals};
pub use stream::{Resync, ResyncReason};
