//! What the scripts write, read back into the engine's own types: events in
//! the stream and the answers of login, touch and renew as flat lists of
//! fields (no JSON to encode in Redis or to parse here), and the views of
//! listings as compact JSON. Short field names keep the stream small; nothing
//! here is ever shown to a client as it is.

use compact_str::CompactString;
use serde::Deserialize;

use crate::engine::{
    Attributes, EndReason, Event, EventKind, ExpiryReason, Handle, Millis, SessionView, State,
};

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

/// The ending reason the engine's types can carry. `evicted` (the per-user
/// limit) has no expiry reason: it is a `revoked` event, said by its actor.
fn reason(raw: Option<String>) -> Option<ExpiryReason> {
    match raw.as_deref() {
        Some("idle") => Some(ExpiryReason::Idle),
        Some("absolute") => Some(ExpiryReason::Absolute),
        Some("closing_time") => Some(ExpiryReason::ClosingTime),
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
        limit: None,
        deadline: raw.d.map(millis),
        actor: raw.a,
        session: session(raw.v)?,
    })
}

/// One value of an event's fields: strings in the stream, and in a script's
/// answer strings or integers (Redis turns Lua numbers into integers).
trait Field {
    fn bytes(&self) -> Option<&[u8]>;
}

impl Field for Vec<u8> {
    fn bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl Field for redis::Value {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            redis::Value::BulkString(bytes) => Some(bytes),
            redis::Value::SimpleString(text) => Some(text.as_bytes()),
            _ => None,
        }
    }
}

fn text<'a, F: Field>(fields: &'a [F], at: usize, what: &str) -> Result<&'a str, String> {
    fields
        .get(at)
        .and_then(Field::bytes)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| format!("an event has no readable {what}"))
}

/// The fields after the kind (see `fields` in common.lua): reason, actor,
/// handle, user, state, the numbers, then the attributes, read by position
/// (the names at even positions are for people reading the stream).
struct Parts {
    kind: Option<EventKind>,
    reason: Option<EndReason>,
    actor: Option<CompactString>,
    at: Millis,
    deadline: Option<Millis>,
    limit: Option<u32>,
    session: SessionView,
}

fn parts<F: Field>(fields: &[F]) -> Result<Parts, String> {
    if fields.len() < 14 || !fields.len().is_multiple_of(2) {
        return Err(format!("an event has {} fields", fields.len()));
    }
    let kind = match text(fields, 1, "kind")? {
        "" => None,
        "created" => Some(EventKind::Created),
        "touched" => Some(EventKind::Touched),
        "renewed" => Some(EventKind::Renewed),
        "logged_out" => Some(EventKind::LoggedOut),
        "revoked" => Some(EventKind::Revoked),
        "expired" => Some(EventKind::Expired),
        other => return Err(format!("an event has the unknown kind {other:?}")),
    };
    let reason = match text(fields, 3, "reason")? {
        "idle" => Some(EndReason::Idle),
        "absolute" => Some(EndReason::Absolute),
        "closing_time" => Some(EndReason::ClosingTime),
        "evicted" => Some(EndReason::Evicted),
        _ => None,
    };
    let actor = match text(fields, 5, "actor")? {
        "" => None,
        actor => Some(CompactString::from(actor)),
    };
    let handle: [u8; 8] = fields[7]
        .bytes()
        .and_then(|b| b.try_into().ok())
        .ok_or("an event has a bad handle")?;
    let user = CompactString::from(text(fields, 9, "user")?);
    let state = match text(fields, 11, "state")? {
        "active" => State::Active,
        "logged_out" => State::LoggedOut,
        "revoked" => State::Revoked,
        "expired" => State::Expired,
        other => return Err(format!("an event has the unknown state {other:?}")),
    };
    let mut numbers = [0i64; 9];
    let mut words = text(fields, 13, "numbers")?.split(' ');
    for n in &mut numbers {
        *n = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or("an event's numbers are unreadable")?;
    }
    let [
        at,
        deadline,
        limit,
        created,
        last_seen,
        idle,
        absolute,
        expires,
        idle_timeout,
    ] = numbers;
    let attributes = if fields.len() > 14 {
        let mut attributes = Attributes::new();
        for pair in fields[14..].chunks(2) {
            let (Some(key), Some(value)) = (pair[0].bytes(), pair[1].bytes()) else {
                return Err("an event has an unreadable attribute".into());
            };
            attributes.insert(
                String::from_utf8_lossy(key).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            );
        }
        attributes.into()
    } else {
        Attributes::new().into()
    };
    Ok(Parts {
        kind,
        reason,
        actor,
        at,
        deadline: (deadline != 0).then_some(deadline),
        limit: u32::try_from(limit).ok().filter(|&l| l != 0),
        session: SessionView {
            handle: Handle(u64::from_be_bytes(handle)),
            user,
            attributes,
            created_at: created,
            last_seen_at: last_seen,
            idle_expires_at: idle,
            absolute_expires_at: absolute,
            expires_at: expires,
            idle_timeout_ms: idle_timeout,
            state,
        },
    })
}

/// The stream entry `seq`: fields as `emit` in common.lua writes them, or
/// (written before them) one field `e` holding the event as JSON.
pub(super) fn entry(seq: u64, fields: &[Vec<u8>]) -> Result<Event, String> {
    if let [name, json] = fields
        && name == b"e"
    {
        return event(json);
    }
    let parts = parts(fields)?;
    Ok(Event {
        seq,
        at: parts.at,
        kind: parts.kind.ok_or("a stream entry has no kind")?,
        reason: parts.reason,
        limit: parts.limit,
        deadline: parts.deadline,
        actor: parts.actor,
        session: parts.session,
    })
}

/// The handle of the stream entry's session, without reading the rest.
pub(super) fn entry_handle(fields: &[Vec<u8>]) -> Option<Handle> {
    match fields {
        [name, json] if name == b"e" => event(json).ok().map(|e| e.session.handle),
        _ => {
            let handle: [u8; 8] = fields.get(7)?.as_slice().try_into().ok()?;
            Some(Handle(u64::from_be_bytes(handle)))
        }
    }
}

/// What a login, touch or renew answered: a refusal (`!gone`, `!collision`,
/// …), or the session, and when its coalesced `touched` event falls due if
/// one waits.
pub(super) enum Answer {
    Refused(String),
    Session(SessionView, Option<Millis>),
}

pub(super) fn answer(reply: redis::Value) -> Result<Answer, String> {
    match reply {
        redis::Value::Array(items) if !items.is_empty() => {
            let wake = match items.first() {
                Some(redis::Value::Int(at)) => Some(*at),
                _ => None,
            };
            Ok(Answer::Session(parts(&items[1..])?.session, wake))
        }
        other => match other.bytes() {
            Some(text) => Ok(Answer::Refused(String::from_utf8_lossy(text).into_owned())),
            None => Err(format!("a script answered {other:?}")),
        },
    }
}
