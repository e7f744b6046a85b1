//! Sessions and events as the API shows them, and their conversions from
//! and to the engine's own types (field for field: the engine decides what a
//! session is, this file decides how it looks in JSON).

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::time::{rfc3339_ms, rfc3339_ms_opt};
use crate::engine::{self, Handle, Millis, SessionAttributes};

/// A session as the world may see it: a handle, never a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session's public name: its selector as 16 lower-case hex digits.
    #[schema(value_type = String, example = "9f2c4e1a7b3d5c60", pattern = "^[0-9a-f]{16}$")]
    pub handle: Handle,
    #[schema(value_type = String)]
    pub user: CompactString,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: SessionAttributes,
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Millis,
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: Millis,
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub idle_expires_at: Millis,
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub absolute_expires_at: Millis,
    /// The earliest of the idle, absolute and closing-time deadlines.
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: Millis,
    /// This session's idle timeout in milliseconds (the policy's, or its own override).
    pub idle_timeout_ms: i64,
    pub state: State,
}

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    LoggedOut,
    Revoked,
    Expired,
}

/// Why a session ended, where the event kind alone does not say: on
/// `expired`, which deadline passed (`idle`, `absolute`, `closing_time`); on
/// `revoked`, `evicted` when a login over the user's `max_sessions_per_user`
/// pushed the session out (a revoke by an operator or the user has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    Idle,
    Absolute,
    ClosingTime,
    Evicted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    Touched,
    Renewed,
    LoggedOut,
    Revoked,
    Expired,
}

/// One change to one session, as the event stream and session details show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: u64,
    /// When the engine made the change (for `expired`: when it ended the session).
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub at: Millis,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<ExpiryReason>,
    /// For `expired`: when the session should have ended.
    #[serde(
        default,
        with = "rfc3339_ms_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deadline: Option<Millis>,
    /// For `revoked` and admin touches: who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub actor: Option<CompactString>,
    /// On an eviction: the user's session limit the login would have passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    pub session: SessionView,
}

/// Maps two enums that have the same variants, both ways.
macro_rules! same_variants {
    ($wire:ident, $engine:path, [$($variant:ident),+ $(,)?]) => {
        impl From<$engine> for $wire {
            fn from(value: $engine) -> Self {
                use $engine as E;
                match value {
                    $(E::$variant => $wire::$variant,)+
                }
            }
        }

        impl From<$wire> for $engine {
            fn from(value: $wire) -> Self {
                use $engine as E;
                match value {
                    $($wire::$variant => E::$variant,)+
                }
            }
        }
    };
}

same_variants!(State, engine::State, [Active, LoggedOut, Revoked, Expired]);
same_variants!(
    ExpiryReason,
    engine::ExpiryReason,
    [Idle, Absolute, ClosingTime, Evicted]
);
same_variants!(
    EventKind,
    engine::EventKind,
    [Created, Touched, Renewed, LoggedOut, Revoked, Expired]
);

impl From<engine::SessionView> for SessionView {
    fn from(s: engine::SessionView) -> Self {
        SessionView {
            handle: s.handle,
            user: s.user,
            attributes: s.attributes,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            idle_expires_at: s.idle_expires_at,
            absolute_expires_at: s.absolute_expires_at,
            expires_at: s.expires_at,
            idle_timeout_ms: s.idle_timeout_ms,
            state: s.state.into(),
        }
    }
}

impl From<&engine::SessionView> for SessionView {
    fn from(s: &engine::SessionView) -> Self {
        s.clone().into()
    }
}

impl From<SessionView> for engine::SessionView {
    fn from(s: SessionView) -> Self {
        engine::SessionView {
            handle: s.handle,
            user: s.user,
            attributes: s.attributes,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            idle_expires_at: s.idle_expires_at,
            absolute_expires_at: s.absolute_expires_at,
            expires_at: s.expires_at,
            idle_timeout_ms: s.idle_timeout_ms,
            state: s.state.into(),
        }
    }
}

impl From<engine::Event> for Event {
    fn from(e: engine::Event) -> Self {
        Event {
            seq: e.seq,
            at: e.at,
            kind: e.kind.into(),
            reason: e.reason.map(Into::into),
            deadline: e.deadline,
            actor: e.actor,
            limit: e.limit,
            session: e.session.into(),
        }
    }
}

impl From<&engine::Event> for Event {
    fn from(e: &engine::Event) -> Self {
        e.clone().into()
    }
}

impl From<Event> for engine::Event {
    fn from(e: Event) -> Self {
        engine::Event {
            seq: e.seq,
            at: e.at,
            kind: e.kind.into(),
            reason: e.reason.map(Into::into),
            deadline: e.deadline,
            actor: e.actor,
            limit: e.limit,
            session: e.session.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"seq":7,"at":"2027-01-15T08:15:00.003Z","kind":"expired","reason":"idle","deadline":"2027-01-15T08:15:00.000Z","session":{"handle":"00000000000000aa","user":"u","attributes":{},"created_at":"2027-01-15T08:00:00.000Z","last_seen_at":"2027-01-15T08:00:00.000Z","idle_expires_at":"2027-01-15T08:15:00.000Z","absolute_expires_at":"2027-01-15T16:00:00.000Z","expires_at":"2027-01-15T08:15:00.000Z","idle_timeout_ms":900000,"state":"expired"}}"#;

    #[test]
    fn an_event_reads_and_writes_back_byte_for_byte_through_the_engine_type() {
        let wire: Event = serde_json::from_str(EVENT).unwrap();
        let engine_event: engine::Event = wire.into();
        assert_eq!(engine_event.lateness_ms(), Some(3));
        let back = serde_json::to_string(&Event::from(&engine_event)).unwrap();
        assert_eq!(back, EVENT);
    }
}
