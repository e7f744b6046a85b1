//! What the scripts write, read back into the engine's own types: events in
//! the stream, the answers of login, touch and renew, and the sessions of
//! listings, as one length-prefixed string each (no JSON to encode in Redis
//! or to parse here; JSON only in stream entries of older versions).
//! Nothing here is ever shown to a client as it is.

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

fn json_session(raw: RawView) -> Result<SessionView, String> {
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
        session: json_session(raw.v)?,
    })
}

/// Splits an encoded event (`encode` in common.lua) into its parts, each
/// written `<length>:<bytes>`.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn part(&mut self) -> Result<&'a [u8], String> {
        let colon = self
            .0
            .iter()
            .position(|&b| b == b':')
            .ok_or("an event ends early")?;
        let len: usize = std::str::from_utf8(&self.0[..colon])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or("an event has a bad length")?;
        let rest = &self.0[colon + 1..];
        if rest.len() < len {
            return Err("an event ends early".into());
        }
        self.0 = &rest[len..];
        Ok(&rest[..len])
    }

    fn text(&mut self, what: &str) -> Result<&'a str, String> {
        std::str::from_utf8(self.part()?).map_err(|_| format!("an event's {what} is not UTF-8"))
    }
}

/// What an encoded event holds.
struct Parts {
    kind: Option<EventKind>,
    reason: Option<EndReason>,
    actor: Option<CompactString>,
    at: Millis,
    deadline: Option<Millis>,
    limit: Option<u32>,
    session: SessionView,
}

fn decode(bytes: &[u8]) -> Result<Parts, String> {
    let mut reader = Reader(bytes);
    let kind = match reader.text("kind")? {
        "" => None,
        "created" => Some(EventKind::Created),
        "touched" => Some(EventKind::Touched),
        "renewed" => Some(EventKind::Renewed),
        "logged_out" => Some(EventKind::LoggedOut),
        "revoked" => Some(EventKind::Revoked),
        "expired" => Some(EventKind::Expired),
        other => return Err(format!("an event has the unknown kind {other:?}")),
    };
    let reason = match reader.text("reason")? {
        "idle" => Some(EndReason::Idle),
        "absolute" => Some(EndReason::Absolute),
        "closing_time" => Some(EndReason::ClosingTime),
        "evicted" => Some(EndReason::Evicted),
        _ => None,
    };
    let actor = match reader.text("actor")? {
        "" => None,
        actor => Some(CompactString::from(actor)),
    };
    let handle: [u8; 8] = reader
        .part()?
        .try_into()
        .map_err(|_| "an event has a bad handle")?;
    let user = CompactString::from(reader.text("user")?);
    let state = match reader.text("state")? {
        "active" => State::Active,
        "logged_out" => State::LoggedOut,
        "revoked" => State::Revoked,
        "expired" => State::Expired,
        other => return Err(format!("an event has the unknown state {other:?}")),
    };
    let numbers = numbers(reader.part()?).ok_or("an event's numbers are unreadable")?;
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
    let attributes = attributes(reader)?;
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
            attributes: attributes.into(),
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

/// Name-value pairs, each part `<length>:<bytes>`, to the end: how the
/// scripts keep a session's attributes (`attributes` in common.lua).
fn attributes(mut reader: Reader<'_>) -> Result<Attributes, String> {
    let mut attributes = Attributes::new();
    while !reader.0.is_empty() {
        let key = reader.text("attribute name")?;
        let value = reader.text("attribute value")?;
        attributes.insert(key.to_owned(), value.to_owned());
    }
    Ok(attributes)
}

/// What an expiry event needs of a session record as a claim copies it
/// (`emit_record` in common.lua): the stored record, values packed one
/// after another by Redis's cmsgpack, less its verifier hash.
struct Record<'a> {
    user: &'a str,
    created: Millis,
    last_seen: Millis,
    idle_timeout: Millis,
    idle_deadline: Millis,
    absolute: Millis,
    attributes: &'a [u8],
}

fn record(mut bytes: &[u8]) -> Result<Record<'_>, String> {
    const BAD: &str = "a copied session record is unreadable";
    fn text<'a>(bytes: &mut &'a [u8]) -> Result<&'a [u8], String> {
        let len = rmp::decode::read_str_len(bytes).map_err(|_| BAD)? as usize;
        let (text, rest) = bytes.split_at_checked(len).ok_or(BAD)?;
        *bytes = rest;
        Ok(text)
    }
    // cmsgpack packs a whole Lua number below 2^63 as an integer.
    fn number(bytes: &mut &[u8]) -> Result<Millis, String> {
        rmp::decode::read_int(bytes).map_err(|_| BAD.into())
    }
    let user = std::str::from_utf8(text(&mut bytes)?).map_err(|_| BAD)?;
    let created = number(&mut bytes)?;
    let seen = number(&mut bytes)?;
    let idle_timeout = number(&mut bytes)?;
    let absolute = number(&mut bytes)?;
    let _announced = number(&mut bytes)?;
    let _pending = number(&mut bytes)?;
    let attributes = text(&mut bytes)?;
    let last_seen = created.checked_add(seen).ok_or(BAD)?;
    Ok(Record {
        user,
        created,
        last_seen,
        idle_timeout,
        idle_deadline: last_seen.checked_add(idle_timeout).ok_or(BAD)?,
        absolute: created.checked_add(absolute).ok_or(BAD)?,
        attributes,
    })
}

/// The `expired` events of a claim's `x` entry (`emit_record` in
/// common.lua), numbered from `first`, with the numbers `encode` would have
/// written for each.
fn expiries(first: u64, batch: &[u8]) -> Result<Vec<Event>, String> {
    const SHORT: &str = "an expiry entry ends early";
    let (head, mut rest) = batch.split_at_checked(32).ok_or(SHORT)?;
    let [at, close_next, closing, count] = le_words(head);
    let mut events = Vec::new();
    while let Some((&code, tail)) = rest.split_first() {
        let (handle, tail) = tail.split_at_checked(8).ok_or(SHORT)?;
        let mut reader = Reader(tail);
        let stored = record(reader.part()?)?;
        rest = reader.0;
        // When it would have ended with nothing more happening: its own
        // deadline or the next closing instant; a session the closing time
        // ended expired at that instant (as `encode` writes it, and as the
        // engine says).
        let mut expires = stored.idle_deadline.min(stored.absolute);
        if close_next != 0 && close_next < expires {
            expires = close_next;
        }
        let (reason, deadline) = match code {
            b'i' => (EndReason::Idle, stored.idle_deadline),
            b'a' => (EndReason::Absolute, stored.absolute),
            b'c' => {
                expires = closing;
                (EndReason::ClosingTime, closing)
            }
            _ => return Err(format!("an expiry entry has the unknown reason {code}")),
        };
        events.push(Event {
            seq: first + events.len() as u64,
            at,
            kind: EventKind::Expired,
            reason: Some(reason),
            limit: None,
            deadline: Some(deadline),
            actor: None,
            session: SessionView {
                handle: Handle(u64::from_be_bytes(handle.try_into().expect("8 bytes"))),
                user: CompactString::from(stored.user),
                attributes: attributes(Reader(stored.attributes))?.into(),
                created_at: stored.created,
                last_seen_at: stored.last_seen,
                idle_expires_at: stored.idle_deadline,
                absolute_expires_at: stored.absolute,
                expires_at: expires,
                idle_timeout_ms: stored.idle_timeout,
                state: State::Expired,
            },
        });
    }
    if events.len() as i64 != count {
        return Err("an expiry entry's count and its sessions disagree".into());
    }
    Ok(events)
}

/// Bytes a session takes in an `x` entry at the least: its reason, its
/// handle and `0:`.
const LEAST_EXPIRY: usize = 1 + 8 + 2;

/// Little-endian 64-bit integers, as Lua's `struct.pack('<i8…')` writes them.
fn le_words<const N: usize>(bytes: &[u8]) -> [i64; N] {
    let mut words = [0; N];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = i64::from_le_bytes(chunk.try_into().expect("8 bytes"));
    }
    words
}

/// An event's nine numbers: `#` and nine little-endian 64-bit integers, or
/// (written by earlier versions) nine decimal integers separated by spaces.
fn numbers(part: &[u8]) -> Option<[i64; 9]> {
    let mut numbers = [0i64; 9];
    if let Some(binary) = part.strip_prefix(b"#") {
        if binary.len() != 72 {
            return None;
        }
        numbers = le_words(binary);
    } else {
        let mut words = std::str::from_utf8(part).ok()?.split(' ');
        for n in &mut numbers {
            *n = words.next()?.parse().ok()?;
        }
        if words.next().is_some() {
            return None;
        }
    }
    Some(numbers)
}

/// The events of the stream entry whose id is `first` (see `emit` in
/// common.lua), numbered from it: a field `v`, one event (and `p`, the seq
/// of its session's previous event, which only the get script reads); or
/// `b`, several events each written `<length>:<event>` (and `q`, their
/// `p`s); or `x`, the sessions an expiry claim ended (`expiries`); or
/// (written by older versions) one field `e`, the event as JSON.
pub(super) fn entry(first: u64, fields: &[Vec<u8>]) -> Result<Vec<Event>, String> {
    match fields {
        [name, value, ..] if name == b"v" => Ok(vec![encoded(first, value)?]),
        [name, batch, ..] if name == b"b" => {
            let mut reader = Reader(batch);
            let mut events = Vec::new();
            while !reader.0.is_empty() {
                events.push(encoded(first + events.len() as u64, reader.part()?)?);
            }
            if events.len() as u64 != span(fields) {
                return Err("a stream entry's events and their links disagree".into());
            }
            Ok(events)
        }
        [name, batch, ..] if name == b"x" => expiries(first, batch),
        [name, json] if name == b"e" => Ok(vec![event(json)?]),
        _ => Err(format!("a stream entry has {} fields", fields.len())),
    }
}

/// How many seqs the stream entry holds, read without its events, so a
/// reader goes past one it cannot read without losing its place.
pub(super) fn span(fields: &[Vec<u8>]) -> u64 {
    if let [name, batch, ..] = fields
        && name == b"x"
        && let Some(head) = batch.get(..32)
    {
        // A count the entry cannot hold is not believed.
        let [_, _, _, count] = le_words(head);
        return usize::try_from(count)
            .ok()
            .filter(|&n| n >= 1 && n <= (batch.len() - 32) / LEAST_EXPIRY)
            .map_or(1, |n| n as u64);
    }
    let links = fields
        .chunks_exact(2)
        .find(|pair| pair[0] == b"q")
        .map(|pair| pair[1].split(|&b| b == b' ').count() as u64);
    links.unwrap_or(1)
}

/// Event `seq` from its `v` value.
pub(super) fn encoded(seq: u64, value: &[u8]) -> Result<Event, String> {
    let parts = decode(value)?;
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

/// A session as `encode` in common.lua writes it for an answer or a listing.
pub(super) fn session(encoded: &[u8]) -> Result<SessionView, String> {
    Ok(decode(encoded)?.session)
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
        redis::Value::Array(items) => match items.as_slice() {
            [wake, redis::Value::BulkString(encoded)] => {
                let wake = match wake {
                    redis::Value::Int(at) => Some(*at),
                    _ => None,
                };
                Ok(Answer::Session(session(encoded)?, wake))
            }
            _ => Err(format!("a script answered {} values", items.len())),
        },
        redis::Value::BulkString(text) => {
            Ok(Answer::Refused(String::from_utf8_lossy(&text).into_owned()))
        }
        redis::Value::SimpleString(text) => Ok(Answer::Refused(text)),
        other => Err(format!("a script answered {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As common.lua's `encode` writes it: a handle with zero bytes and
    /// attributes holding the separator still read back exactly.
    #[test]
    fn an_encoded_event_reads_back_whatever_its_bytes() {
        let handle = 0x000a_0b0c_0d0e_0f10u64.to_be_bytes();
        let mut bytes = b"7:expired4:idle0:8:".to_vec();
        bytes.extend_from_slice(&handle);
        bytes.extend_from_slice(b"5:al:ce7:expired");
        let head = bytes.clone();
        let mut numbers = b"#".to_vec();
        for n in [1000i64, 900, 0, 100, 200, 900, 5000, 900, 700] {
            numbers.extend_from_slice(&n.to_le_bytes());
        }
        bytes.extend_from_slice(b"73:");
        bytes.extend_from_slice(&numbers);
        bytes.extend_from_slice(b"2:ip3:a:b0:0:");
        let event = entry(42, &[b"v".to_vec(), bytes.clone()])
            .expect("readable")
            .remove(0);
        assert_eq!(event.seq, 42);
        assert_eq!(event.kind, EventKind::Expired);
        assert_eq!(event.reason, Some(EndReason::Idle));
        assert_eq!(event.actor, None);
        assert_eq!(
            (event.at, event.deadline, event.limit),
            (1000, Some(900), None)
        );
        assert_eq!(event.session.handle, Handle(u64::from_be_bytes(handle)));
        assert_eq!(event.session.user, "al:ce");
        assert_eq!(event.session.state, State::Expired);
        assert_eq!(event.session.created_at, 100);
        assert_eq!(event.session.expires_at, 900);
        assert_eq!(event.session.idle_timeout_ms, 700);
        let json = serde_json::to_value(&event.session.attributes).unwrap();
        assert_eq!(json, serde_json::json!({"ip": "a:b", "": ""}));
        // Earlier versions wrote the numbers in decimal: the same event.
        let mut text = head;
        let decimal = b"1000 900 0 100 200 900 5000 900 700";
        text.extend_from_slice(format!("{}:", decimal.len()).as_bytes());
        text.extend_from_slice(decimal);
        text.extend_from_slice(b"2:ip3:a:b0:0:");
        let old = entry(42, &[b"v".to_vec(), text])
            .expect("readable")
            .remove(0);
        assert_eq!(old, event);
        // Cut anywhere before its attributes, it is an error, never a panic.
        for end in 0..bytes.len() - b"2:ip3:a:b0:0:".len() {
            assert!(entry(42, &[b"v".to_vec(), bytes[..end].to_vec()]).is_err());
        }

        // Three events in one entry are numbered from its id, whatever bytes they hold.
        let mut batch = Vec::new();
        for _ in 0..3 {
            batch.extend_from_slice(format!("{}:", bytes.len()).as_bytes());
            batch.extend_from_slice(&bytes);
        }
        let fields = [
            b"b".to_vec(),
            batch.clone(),
            b"q".to_vec(),
            b"0 7 42".to_vec(),
        ];
        assert_eq!(span(&fields), 3);
        let events = entry(42, &fields).expect("readable");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [42, 43, 44]);
        assert!(events.iter().all(|e| e.session.user == "al:ce"));
        // Links that do not match the events, or a cut event, are errors.
        let short = [b"b".to_vec(), batch.clone(), b"q".to_vec(), b"0 7".to_vec()];
        assert!(entry(42, &short).is_err());
        let cut = [
            b"b".to_vec(),
            batch[..batch.len() - 1].to_vec(),
            b"q".to_vec(),
            b"0 7 42".to_vec(),
        ];
        assert!(entry(42, &cut).is_err());
    }

    /// A session record as Redis's cmsgpack packs it (`store` in common.lua)
    /// and a claim copies it, without its verifier hash.
    fn stored(user: &str, numbers: [i64; 4], attributes: &[u8]) -> Vec<u8> {
        let [created, seen, idle, absolute] = numbers;
        let mut v = Vec::new();
        rmp::encode::write_str(&mut v, user).unwrap();
        for n in [created, seen, idle, absolute] {
            rmp::encode::write_sint(&mut v, n).unwrap();
        }
        rmp::encode::write_uint(&mut v, 0).unwrap();
        rmp::encode::write_uint(&mut v, 1).unwrap();
        rmp::encode::write_str_len(&mut v, attributes.len() as u32).unwrap();
        v.extend_from_slice(attributes);
        rmp::encode::write_uint(&mut v, 7).unwrap();
        rmp::encode::write_uint(&mut v, 41).unwrap();
        v
    }

    /// A claim's `x` entry: each session's `expired` event is made from the
    /// record the claim copied, with the numbers `encode` would have written.
    #[test]
    fn a_claims_expiries_read_back_from_the_records_it_copied() {
        let c = 1_800_000_000_000i64;
        // At, the next closing instant (none), the closing instant that ended sessions, how many.
        let mut batch = Vec::new();
        for n in [c + 5_000, 0, c + 50, 3] {
            batch.extend_from_slice(&n.to_le_bytes());
        }
        let sessions: [(u8, u64, &str, [i64; 4]); 3] = [
            (b'i', 1, "al:ce", [c, 100, 700, 9_000]),
            (b'a', 2, "bob", [c, 2_000, 60_000, 3_000]),
            (b'c', 3, "émile", [c, 0, 60_000, 90_000]),
        ];
        for (code, handle, user, numbers) in sessions {
            batch.push(code);
            batch.extend_from_slice(&handle.to_be_bytes());
            let record = stored(user, numbers, b"2:ip3:a:b10:user_agent0:");
            batch.extend_from_slice(format!("{}:", record.len()).as_bytes());
            batch.extend_from_slice(&record);
        }
        let fields = [b"x".to_vec(), batch.clone()];
        assert_eq!(span(&fields), 3);
        let events = entry(42, &fields).expect("readable");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [42, 43, 44]);
        let idle = &events[0];
        assert_eq!(idle.kind, EventKind::Expired);
        assert_eq!(
            (idle.at, idle.actor.as_deref(), idle.limit),
            (c + 5_000, None, None)
        );
        assert_eq!(
            (idle.reason, idle.deadline),
            (Some(EndReason::Idle), Some(c + 800))
        );
        assert_eq!(idle.session.handle, Handle(1));
        assert_eq!(idle.session.user, "al:ce");
        assert_eq!(idle.session.state, State::Expired);
        assert_eq!(
            (
                idle.session.created_at,
                idle.session.last_seen_at,
                idle.session.idle_expires_at,
                idle.session.absolute_expires_at,
                idle.session.idle_timeout_ms,
            ),
            (c, c + 100, c + 800, c + 9_000, 700)
        );
        assert_eq!(idle.session.expires_at, c + 800);
        let json = serde_json::to_value(&idle.session.attributes).unwrap();
        assert_eq!(json, serde_json::json!({"ip": "a:b", "user_agent": ""}));
        let absolute = &events[1];
        assert_eq!(absolute.reason, Some(EndReason::Absolute));
        assert_eq!(absolute.deadline, Some(c + 3_000));
        assert_eq!(absolute.session.user, "bob");
        // The closing time that ended it is its deadline, and when it expired.
        let closing = &events[2];
        assert_eq!(closing.reason, Some(EndReason::ClosingTime));
        assert_eq!(closing.deadline, Some(c + 50));
        assert_eq!(closing.session.expires_at, c + 50);
        assert_eq!(closing.session.user, "émile");

        // A next closing instant sooner than a session's own deadlines is when it would end.
        let mut soon = batch.clone();
        soon[8..16].copy_from_slice(&(c + 500).to_le_bytes());
        let events = entry(42, &[b"x".to_vec(), soon]).expect("readable");
        assert_eq!(events[0].session.expires_at, c + 500);

        // A count that does not match, an unknown reason, or a cut entry is
        // an error, never a panic.
        let mut miscounted = batch.clone();
        miscounted[24..32].copy_from_slice(&4i64.to_le_bytes());
        assert!(entry(42, &[b"x".to_vec(), miscounted]).is_err());
        let mut unknown = batch.clone();
        unknown[32] = b'z';
        assert!(entry(42, &[b"x".to_vec(), unknown]).is_err());
        for end in 0..batch.len() {
            assert!(entry(42, &[b"x".to_vec(), batch[..end].to_vec()]).is_err());
        }
        // Numbers past what a time can be are an error too, not an overflow.
        let mut huge = batch[..32].to_vec();
        huge[24..32].copy_from_slice(&1i64.to_le_bytes());
        huge.push(b'i');
        huge.extend_from_slice(&7u64.to_be_bytes());
        let record = stored("x", [i64::MAX, 1, 1, 1], b"");
        huge.extend_from_slice(format!("{}:", record.len()).as_bytes());
        huge.extend_from_slice(&record);
        assert!(entry(42, &[b"x".to_vec(), huge]).is_err());
        // A count the entry cannot hold is not believed for its span.
        let mut absurd = batch.clone();
        absurd[24..32].copy_from_slice(&i64::MAX.to_le_bytes());
        assert_eq!(span(&[b"x".to_vec(), absurd]), 1);
    }
}
