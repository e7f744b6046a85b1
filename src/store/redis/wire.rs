//! The compact JSON the scripts write (views in replies, events in the
//! stream), read back into the engine's own types. Short field names keep the
//! stream small; nothing here is ever shown to a client as it is.

use compact_str::CompactString;
use serde::Deserialize;

use crate::engine::{Attributes, EndReason, Event, EventKind, Handle, Millis, SessionView, State};

#[derive(Deserialize)]
struct RawView {
    h: String,
    u: CompactString,
    /// An empty Lua table arrives as `{}` or `[]`.
    #[serde(default)]
    a: serde_json::Value,
    c: f64,
    l: f64,
    i: f64,
    x: f64,
    e: f64,
    o: f64,
    st: State,
    /// From a touch: when its coalesced `touched` event falls due.
    #[serde(default)]
    w: Option<f64>,
}

#[derive(Deserialize)]
struct RawEvent {
    s: f64,
    t: f64,
    k: EventKind,
    #[serde(default)]
    r: Option<String>,
    #[serde(default)]
    d: Option<f64>,
    #[serde(default)]
    a: Option<CompactString>,
    /// For an eviction: the user's session limit.
    #[serde(default)]
    m: Option<u32>,
    v: RawView,
}

/// The scripts' times are whole milliseconds carried as JSON numbers.
fn millis(n: f64) -> Millis {
    n as Millis
}

fn session(raw: RawView) -> Result<SessionView, String> {
    let handle: Handle = raw
        .h
        .parse()
        .map_err(|_| format!("a stored session has a bad handle {:?}", raw.h))?;
    let attributes = match raw.a {
        serde_json::Value::Object(map) if !map.is_empty() => {
            let mut attributes = Attributes::new();
            for (key, value) in map {
                if let serde_json::Value::String(value) = value {
                    attributes.insert(key, value);
                }
            }
            attributes.into()
        }
        _ => Attributes::new().into(),
    };
    Ok(SessionView {
        handle,
        user: raw.u,
        attributes,
        created_at: millis(raw.c),
        last_seen_at: millis(raw.l),
        idle_expires_at: millis(raw.i),
        absolute_expires_at: millis(raw.x),
        expires_at: millis(raw.e),
        idle_timeout_ms: raw.o as i64,
        state: raw.st,
    })
}

/// A session view as a script returned it, and when a coalesced touch of it
/// falls due, if one waits.
pub(super) fn view(json: &str) -> Result<(SessionView, Option<Millis>), String> {
    let raw: RawView =
        serde_json::from_str(json).map_err(|e| format!("a script's reply is unreadable: {e}"))?;
    let wake = raw.w.map(millis);
    Ok((session(raw)?, wake))
}

/// Why a session ended: an expiry's deadline, or `evicted` on a `revoked`
/// event that a login over the user's session limit caused.
fn reason(raw: Option<String>) -> Option<EndReason> {
    match raw.as_deref() {
        Some("idle") => Some(EndReason::Idle),
        Some("absolute") => Some(EndReason::Absolute),
        Some("closing_time") => Some(EndReason::ClosingTime),
        Some("evicted") => Some(EndReason::Evicted),
        _ => None,
    }
}

/// An event as a script appended it to the stream.
pub(super) fn event(json: &[u8]) -> Result<Event, String> {
    let raw: RawEvent =
        serde_json::from_slice(json).map_err(|e| format!("a stream entry is unreadable: {e}"))?;
    Ok(Event {
        seq: raw.s as u64,
        at: millis(raw.t),
        kind: raw.k,
        reason: reason(raw.r),
        limit: raw.m,
        deadline: raw.d.map(millis),
        actor: raw.a,
        session: session(raw.v)?,
    })
}
