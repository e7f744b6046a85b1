//! What a session is: the policy that bounds it, the record the engine keeps,
//! and the public view of it that lists, events and the API show.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::attributes::SessionAttributes;
use super::clock::Millis;
use super::token::{Handle, VerifierHash};

/// The timeouts every session lives under.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    pub closing_time: Option<ClosingTime>,
    /// The zone the closing time is a wall-clock time in.
    pub time_zone: Tz,
    /// Bounds a per-session idle timeout given at login must lie within.
    pub idle_bounds: Bounds,
    /// Bounds a per-session absolute timeout given at login must lie within.
    pub absolute_bounds: Bounds,
    /// At most one `touched` event per session per this interval.
    pub touch_event_interval: Duration,
    /// At most this many live sessions per user; `None`: no limit.
    pub max_sessions_per_user: Option<u32>,
    /// What a login over the limit does.
    pub on_limit: OnLimit,
}

/// What a login does when its user already holds the most sessions allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// The user's oldest session ends (`revoked`, reason `evicted`) to make room.
    #[default]
    EvictOldest,
    /// The login fails and nothing changes.
    Refuse,
}

/// The largest per-user session limit a login may ask for when the policy sets none.
pub const MAX_SESSION_LIMIT: u32 = 1_000_000;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(8 * 3600),
            closing_time: None,
            time_zone: chrono_tz::UTC,
            idle_bounds: Bounds {
                min: Duration::from_secs(1),
                max: Duration::from_secs(24 * 3600),
            },
            absolute_bounds: Bounds {
                min: Duration::from_secs(1),
                max: Duration::from_secs(30 * 24 * 3600),
            },
            touch_event_interval: Duration::from_secs(1),
            max_sessions_per_user: None,
            on_limit: OnLimit::EvictOldest,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub min: Duration,
    pub max: Duration,
}

/// The longest idle timeout a session can have (u32 milliseconds: 49 days).
pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_millis(u32::MAX as u64);

/// The longest absolute timeout a policy may allow: ten years (of 365.25
/// days, as durations are read and written), so every deadline is a time
/// RFC 3339 can write (a year of four digits).
pub const MAX_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(10 * 31_557_600);

impl Bounds {
    pub fn contains(&self, d: Duration) -> bool {
        self.min <= d && d <= self.max
    }
}

/// A daily wall-clock time, in the policy's time zone, at which every session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosingTime(pub NaiveTime);

impl ClosingTime {
    /// The first closing instant strictly after `now`, reading the time of day in `tz`.
    pub fn next_after(&self, now: Millis, tz: Tz) -> Millis {
        let now_local = tz
            .timestamp_millis_opt(now)
            .single()
            .unwrap_or_else(|| tz.timestamp_millis_opt(0).unwrap());
        let mut day = now_local.date_naive();
        // Two days cover a closing time that is skipped by a daylight-saving jump.
        for _ in 0..3 {
            let candidate = day.and_time(self.0);
            if let Some(at) = tz.from_local_datetime(&candidate).earliest() {
                let at = at.timestamp_millis();
                if at > now {
                    return at;
                }
            }
            day = day.succ_opt().unwrap_or(day);
        }
        now + 24 * 3600 * 1000
    }
}

impl std::fmt::Display for ClosingTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

/// Why a session ended, where its event kind alone does not say: for
/// `expired`, which deadline passed; for `revoked`, `evicted` when a login of
/// the same user over `max_sessions_per_user` pushed it out (an operator's or
/// the user's own revoke has no reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Idle,
    Absolute,
    ClosingTime,
    Evicted,
}

/// The reasons an `expired` event can carry; kept as a name for the code that
/// only deals with expiry.
pub type ExpiryReason = EndReason;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Active,
    LoggedOut,
    Revoked,
    Expired,
}

/// What the engine keeps per live session. Kept small: there may be millions.
/// Exactly two cache lines, aligned to them, so finding a session waits for
/// two lines, not three.
#[derive(Debug, Clone)]
#[repr(align(64))]
pub(crate) struct Record {
    pub selector: u64,
    pub verifier_hash: VerifierHash,
    /// The user, as an index into the engine's user table.
    pub user: u32,
    /// The user's sessions form a list, oldest first: the per-user index.
    pub user_prev: u32,
    pub user_next: u32,
    pub attributes: SessionAttributes,
    pub created: Millis,
    pub last_seen: Millis,
    /// Milliseconds; u32 holds 49 days, beyond any idle timeout the config allows.
    pub idle_timeout_ms: u32,
    /// A touch since the last `touched` event waits to be announced.
    pub touch_pending: bool,
    pub absolute_deadline: Millis,
    pub last_touch_event: Millis,
    /// The low 32 bits of the sequence number of this session's newest
    /// event, where `History` starts the walk back through its events.
    pub last_event: u32,
}

impl Record {
    pub fn idle_deadline(&self) -> Millis {
        self.last_seen + Millis::from(self.idle_timeout_ms)
    }

    pub fn view(&self, user: &CompactString, closing: Option<Millis>, state: State) -> SessionView {
        let idle = self.idle_deadline();
        let mut expires_at = idle.min(self.absolute_deadline);
        if let Some(closing) = closing {
            expires_at = expires_at.min(closing);
        }
        SessionView {
            handle: Handle(self.selector),
            user: user.clone(),
            attributes: self.attributes.clone(),
            created_at: self.created,
            last_seen_at: self.last_seen,
            idle_expires_at: idle,
            absolute_expires_at: self.absolute_deadline,
            expires_at,
            idle_timeout_ms: i64::from(self.idle_timeout_ms),
            state,
        }
    }
}

/// A session as the world may see it: a handle, never a token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionView {
    pub handle: Handle,
    pub user: CompactString,
    #[serde(default)]
    pub attributes: SessionAttributes,
    #[serde(with = "rfc3339_ms")]
    pub created_at: Millis,
    #[serde(with = "rfc3339_ms")]
    pub last_seen_at: Millis,
    #[serde(with = "rfc3339_ms")]
    pub idle_expires_at: Millis,
    #[serde(with = "rfc3339_ms")]
    pub absolute_expires_at: Millis,
    /// The earliest of the idle, absolute and closing-time deadlines.
    #[serde(with = "rfc3339_ms")]
    pub expires_at: Millis,
    /// This session's idle timeout in milliseconds (the policy's, or its own override).
    pub idle_timeout_ms: i64,
    pub state: State,
}

impl SessionView {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key)
    }
}

/// Formats engine time as RFC 3339 UTC with milliseconds, such as
/// `2026-01-15T08:00:00.000Z` (how times go over the wire: `api::time`).
/// Every session view and event carries several, so this skips chrono's
/// `strftime`, which parses its pattern on every call.
pub fn format_rfc3339(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Reads an RFC 3339 time (any offset) as engine time.
pub fn parse_rfc3339(text: &str) -> Result<Millis, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis())
}

/// `#[serde(with = "rfc3339_ms")]` for a `Millis` field.
pub mod rfc3339_ms {
    use super::*;

    pub fn serialize<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_rfc3339(*ms))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "rfc3339_ms_opt")]` for an `Option<Millis>` field.
pub mod rfc3339_ms_opt {
    use super::*;

    pub fn serialize<S: serde::Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.collect_str(&format_rfc3339(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|text| parse_rfc3339(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_fills_two_cache_lines() {
        assert_eq!(std::mem::size_of::<Option<Record>>(), 128);
        assert_eq!(std::mem::align_of::<Record>(), 64);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(
            format_rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        // Whole seconds and the epoch keep their three digits.
        assert_eq!(
            format_rfc3339(1_700_000_000_000),
            "2023-11-14T22:13:20.000Z"
        );
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn closing_time_is_the_next_occurrence_in_the_policy_zone() {
        let closing = ClosingTime(NaiveTime::from_hms_opt(23, 0, 0).unwrap());
        let berlin = chrono_tz::Europe::Berlin;
        let at = |tz: Tz, d: u32, h: u32| {
            tz.with_ymd_and_hms(2026, 3, d, h, 0, 0)
                .earliest()
                .unwrap()
                .timestamp_millis()
        };
        let next = closing.next_after(at(berlin, 10, 12), berlin);
        assert_eq!(next, at(berlin, 10, 23));
        // 23:00 in Berlin is 22:00 UTC in winter: the zone decides the instant.
        assert_eq!(next, at(chrono_tz::UTC, 10, 22));
        assert_eq!(
            closing.next_after(at(berlin, 10, 12), chrono_tz::UTC),
            at(chrono_tz::UTC, 10, 23)
        );
        // At the closing instant itself, the next one is a day later.
        assert_eq!(closing.next_after(next, berlin), at(berlin, 11, 23));
        // Across the spring change (29 March 2026 in Berlin) the day is 23 hours long.
        let before = at(berlin, 28, 23);
        assert_eq!(
            closing.next_after(before, berlin) - before,
            23 * 3600 * 1000
        );
    }
}
