//! Where the dashboard's sessions come from: one interface, whichever mode runs.
//!
//! A source is connected once and then gives the dashboard an initial
//! [`SourceSnapshot`] followed by a stream of [`SourceUpdate`]s with no gap,
//! and carries out [`SourceCommand`]s (log in, touch, revoke, clock changes).
//! `Embedded` calls an in-process engine; `Remote` calls a session server
//! over HTTP (in the wire types of `crate::api`) and follows its SSE stream,
//! behind the same trait.
//! A source owns no dashboard state and draws nothing; it never hands a
//! session token to the dashboard.

pub mod embedded;
pub mod remote;

use std::collections::BTreeMap;
use std::fmt;
use std::pin::Pin;

use futures_util::Stream;
use futures_util::future::BoxFuture;

use crate::engine::{Event, Handle, Millis, Policy, SessionView, Stats};

pub use embedded::Embedded;
pub use remote::Remote;

/// Live updates after a snapshot.
pub type UpdateStream = Pin<Box<dyn Stream<Item = SourceUpdate> + Send>>;

/// What the dashboard shows about where its sessions come from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceInfo {
    /// "embedded", or the server URL.
    pub mode: String,
    pub policy: Policy,
    /// Whether the clock keys (pause, speed) do anything.
    pub clock_control: bool,
    /// Whether this source can run the login simulator.
    pub simulator: bool,
    /// Whether sessions come over a network link that can drop (a server).
    pub remote: bool,
    /// The server node the dashboard is attached to (`node` in
    /// `/v1/admin/stats`); empty for the embedded engine or a server that
    /// does not say. Nodes that share a store each have their own.
    pub node: String,
}

/// The source's clock, read once per frame. Countdowns are computed from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockReading {
    pub now: Millis,
    pub speed: f64,
    pub paused: bool,
}

/// Every live session at one instant, and what the counters were then.
#[derive(Debug, Clone)]
pub struct SourceSnapshot {
    /// What the source is now (a server that restarted may run another policy).
    pub info: SourceInfo,
    pub sessions: Vec<SessionView>,
    /// The sequence number of the last event the snapshot includes.
    pub seq: u64,
    pub stats: Stats,
    pub now: Millis,
}

/// What a connected source delivers.
#[derive(Debug, Clone)]
pub enum SourceUpdate {
    Event(Event),
    /// Events were missed: the mirror must be replaced by this snapshot.
    Resync(SourceSnapshot),
    /// The server restarted (it is another run, with another instance id):
    /// the mirror must be replaced by this snapshot, and the sessions the
    /// mirror holds that the snapshot lacks were not kept by the server.
    Restarted(SourceSnapshot),
    /// Connection state changed (always `Connected` for the embedded engine).
    Connection(ConnectionState),
    /// What the source is changed with no reload: a reconnect attached to
    /// another node of the same server (behind a load balancer, or restarted
    /// on a durable store).
    Info(SourceInfo),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConnectionState {
    Connected,
    /// Lost; the next try is in this many milliseconds of real time.
    Reconnecting {
        retry_in_ms: u64,
        reason: String,
    },
}

/// What the dashboard asks a source to do.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceCommand {
    Login {
        user: String,
        attributes: BTreeMap<String, String>,
    },
    Touch(Handle),
    Revoke(Handle),
    RevokeUser(String),
    /// The live session and the events of it the source still holds.
    Detail(Handle),
    SetPaused(bool),
    /// Moves the clock speed one step of `engine::clock::SPEED_STEPS`.
    StepSpeed {
        faster: bool,
    },
    SetSimulator(bool),
}

/// A command as the dashboard's log writes it: handles as the 16 hex
/// digits shown on screen (the derived `Debug` wrote them in decimal, which
/// no one can grep for), names quoted and escaped.
impl fmt::Display for SourceCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on_off = |on: bool| if on { "on" } else { "off" };
        match self {
            SourceCommand::Login { user, attributes } => {
                write!(f, "login user={user:?} attributes={attributes:?}")
            }
            SourceCommand::Touch(handle) => write!(f, "touch {handle}"),
            SourceCommand::Revoke(handle) => write!(f, "revoke {handle}"),
            SourceCommand::RevokeUser(user) => write!(f, "revoke every session of {user:?}"),
            SourceCommand::Detail(handle) => write!(f, "details of {handle}"),
            SourceCommand::SetPaused(paused) => write!(f, "pause {}", on_off(*paused)),
            SourceCommand::StepSpeed { faster } => {
                write!(f, "speed {}", if *faster { "up" } else { "down" })
            }
            SourceCommand::SetSimulator(on) => write!(f, "simulator {}", on_off(*on)),
        }
    }
}

/// What came of a command, in words the dashboard can show.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    Done(String),
    /// Done, and this is the session as it is now (a touch whose event the
    /// engine coalesced still moves the countdown on screen).
    Session {
        text: String,
        session: SessionView,
    },
    Detail {
        session: Option<SessionView>,
        events: Vec<Event>,
    },
    Clock(ClockReading),
    Simulator(bool),
}

impl CommandOutcome {
    /// "revoked 1,234 sessions of ada": what revoking a user's sessions did.
    pub fn revoked_of_user(n: u64, user: &str) -> CommandOutcome {
        CommandOutcome::Done(format!(
            "revoked {} session{} of {user}",
            crate::units::thousands(n),
            if n == 1 { "" } else { "s" }
        ))
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    #[error("{0}")]
    Refused(String),
    #[error("not available on this source: {0}")]
    Unsupported(&'static str),
    #[error("{0}")]
    Connection(String),
    /// The server refused the admin token (401).
    #[error("{0}")]
    Unauthorized(String),
}

/// The dashboard's one interface to its sessions.
pub trait SessionSource: Send + Sync + 'static {
    /// What is known before connecting; each snapshot brings the current one.
    fn info(&self) -> SourceInfo;

    /// The current reading of the source's clock; cheap, called every frame.
    fn clock(&self) -> ClockReading;

    /// A snapshot and the updates that follow it, with no gap.
    fn connect(&self) -> BoxFuture<'static, Result<(SourceSnapshot, UpdateStream), SourceError>>;

    fn execute(
        &self,
        command: SourceCommand,
    ) -> BoxFuture<'static, Result<CommandOutcome, SourceError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_revoked_sessions_are_counted_with_separators() {
        let done = |text: &str| CommandOutcome::Done(text.to_owned());
        assert_eq!(
            CommandOutcome::revoked_of_user(2_836, "alice"),
            done("revoked 2,836 sessions of alice")
        );
        assert_eq!(
            CommandOutcome::revoked_of_user(1, "bo"),
            done("revoked 1 session of bo")
        );
    }

    #[test]
    fn a_logged_command_names_its_handle_as_the_screen_shows_it() {
        let handle = Handle(0x240e_8105_926d_9a14);
        assert_eq!(
            SourceCommand::Revoke(handle).to_string(),
            "revoke 240e8105926d9a14"
        );
        assert_eq!(
            SourceCommand::Detail(Handle(7)).to_string(),
            "details of 0000000000000007"
        );
        assert_eq!(
            SourceCommand::RevokeUser("eve\u{1b}".into()).to_string(),
            "revoke every session of \"eve\\u{1b}\""
        );
    }
}
