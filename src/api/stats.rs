//! `GET /v1/admin/stats`: counters, the policy's wire form and the server's clock.

use std::time::Duration;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use super::time::{rfc3339_ms, rfc3339_ms_opt};
use crate::engine::{self, Bounds, ClosingTime, Millis, OnLimit, Policy};

/// Counters since the server started, with ended sessions by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Totals {
    pub logins: u64,
    pub touches: u64,
    pub renewals: u64,
    pub logged_out: u64,
    /// Every revoked session, evicted ones included.
    pub revoked: u64,
    /// Of the revoked, those a login over the user's session limit pushed out.
    #[serde(default)]
    pub evicted: u64,
    pub expired_idle: u64,
    pub expired_absolute: u64,
    pub expired_closing_time: u64,
}

/// The policy every session lives under. Durations are humantime strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    #[schema(example = "15m")]
    pub idle_timeout: String,
    #[schema(example = "8h")]
    pub absolute_timeout: String,
    /// Daily local closing time, "HH:MM", if set.
    pub closing_time: Option<String>,
    /// The IANA time zone the closing time is read in (absent from older servers: UTC).
    #[serde(default = "utc")]
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Bounds a login's own timeouts must lie within.
    pub min_timeout: String,
    pub max_idle_timeout: String,
    pub max_absolute_timeout: String,
    pub touch_event_interval: String,
    /// At most this many live sessions per user; null: no limit.
    #[serde(default)]
    pub max_sessions_per_user: Option<u32>,
    /// What a login over the limit does: `evict_oldest` or `refuse`.
    #[serde(default)]
    #[schema(value_type = String, example = "evict_oldest")]
    pub on_limit: OnLimit,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsResponse {
    pub active: u64,
    pub peak: u64,
    /// Counters since the server started, with ended sessions by reason.
    pub totals: Totals,
    pub policy: PolicyView,
    /// The server's clock, RFC 3339 UTC with milliseconds.
    #[serde(with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub server_time: Millis,
    /// When the closing time next ends every session, if one is set.
    #[serde(with = "rfc3339_ms_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_closing: Option<Millis>,
    pub version: String,
    /// The prefix of event stream ids: new at every start of a server on the
    /// memory store, kept across restarts by a durable store.
    pub instance: String,
    /// Sequence number of the newest event.
    pub last_seq: u64,
    /// Where the sessions are kept: `memory`, `file:PATH`, or a Redis URL without credentials.
    #[serde(default)]
    pub store: String,
    /// This server process's own id, random per run. Nodes that share a Redis
    /// store answer with one `instance` and each with its own `node`.
    #[serde(default)]
    pub node: String,
}

impl StatsResponse {
    /// The engine's counters as the dashboard keeps them.
    pub fn engine_stats(&self) -> engine::Stats {
        engine::Stats {
            active: self.active,
            peak: self.peak,
            totals: self.totals.clone().into(),
            last_seq: self.last_seq,
        }
    }
}

fn utc() -> String {
    "UTC".to_owned()
}

/// A duration as the wire writes it: humantime, such as "15m" or "1h 30m".
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl From<&Policy> for PolicyView {
    fn from(policy: &Policy) -> Self {
        PolicyView {
            idle_timeout: format_duration(policy.idle_timeout),
            absolute_timeout: format_duration(policy.absolute_timeout),
            closing_time: policy.closing_time.map(|c| c.to_string()),
            time_zone: policy.time_zone.name().to_owned(),
            min_timeout: format_duration(policy.idle_bounds.min),
            max_idle_timeout: format_duration(policy.idle_bounds.max),
            max_absolute_timeout: format_duration(policy.absolute_bounds.max),
            touch_event_interval: format_duration(policy.touch_event_interval),
            max_sessions_per_user: policy.max_sessions_per_user,
            on_limit: policy.on_limit,
        }
    }
}

impl TryFrom<&PolicyView> for Policy {
    /// Which field could not be read, and why.
    type Error = String;

    fn try_from(view: &PolicyView) -> Result<Policy, String> {
        let duration = |field: &str, text: &str| {
            humantime::parse_duration(text.trim())
                .map_err(|_| format!("the server's {field} {text:?} is not a duration"))
        };
        let closing_time = match view.closing_time.as_deref() {
            None => None,
            Some(text) => Some(ClosingTime(
                NaiveTime::parse_from_str(text.trim(), "%H:%M").map_err(|_| {
                    format!("the server's closing_time {text:?} is not a time of day")
                })?,
            )),
        };
        let time_zone = crate::units::parse_time_zone(&view.time_zone).map_err(|_| {
            format!(
                "the server's time_zone {:?} is not a time zone",
                view.time_zone
            )
        })?;
        let min = duration("min_timeout", &view.min_timeout)?;
        Ok(Policy {
            time_zone,
            idle_timeout: duration("idle_timeout", &view.idle_timeout)?,
            absolute_timeout: duration("absolute_timeout", &view.absolute_timeout)?,
            closing_time,
            idle_bounds: Bounds {
                min,
                max: duration("max_idle_timeout", &view.max_idle_timeout)?,
            },
            absolute_bounds: Bounds {
                min,
                max: duration("max_absolute_timeout", &view.max_absolute_timeout)?,
            },
            touch_event_interval: duration("touch_event_interval", &view.touch_event_interval)?,
            max_sessions_per_user: view.max_sessions_per_user,
            on_limit: view.on_limit,
        })
    }
}

impl From<engine::Totals> for Totals {
    fn from(t: engine::Totals) -> Self {
        Totals {
            logins: t.logins,
            touches: t.touches,
            renewals: t.renewals,
            logged_out: t.logged_out,
            revoked: t.revoked,
            evicted: t.evicted,
            expired_idle: t.expired_idle,
            expired_absolute: t.expired_absolute,
            expired_closing_time: t.expired_closing_time,
        }
    }
}

impl From<Totals> for engine::Totals {
    fn from(t: Totals) -> Self {
        engine::Totals {
            logins: t.logins,
            touches: t.touches,
            renewals: t.renewals,
            logged_out: t.logged_out,
            revoked: t.revoked,
            evicted: t.evicted,
            expired_idle: t.expired_idle,
            expired_absolute: t.expired_absolute,
            expired_closing_time: t.expired_closing_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_goes_over_the_wire_and_comes_back_the_same() {
        let policy = Policy {
            closing_time: Some(ClosingTime(NaiveTime::from_hms_opt(23, 5, 0).unwrap())),
            idle_timeout: Duration::from_secs(90),
            ..Policy::default()
        };
        let view = PolicyView::from(&policy);
        assert_eq!(view.idle_timeout, "1m 30s");
        assert_eq!(view.closing_time.as_deref(), Some("23:05"));
        assert_eq!(Policy::try_from(&view).unwrap(), policy);
    }

    #[test]
    fn an_unreadable_policy_names_the_field() {
        let mut view = PolicyView::from(&Policy::default());
        view.absolute_timeout = "soon".into();
        let err = Policy::try_from(&view).unwrap_err();
        assert!(err.contains("absolute_timeout \"soon\""), "{err}");
    }
}
