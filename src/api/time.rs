//! Times on the wire: RFC 3339 in UTC with milliseconds, such as
//! `2026-01-15T08:00:00.000Z`. Engine time is milliseconds since the epoch.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::engine::Millis;

/// Formats engine time for the wire.
pub fn format(ms: Millis) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => "1970-01-01T00:00:00.000Z".to_owned(),
    }
}

/// Reads a wire time (any RFC 3339 offset) as engine time.
pub fn parse(text: &str) -> Result<Millis, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis())
}

/// `#[serde(with = "rfc3339_ms")]` for a `Millis` field.
pub mod rfc3339_ms {
    use super::*;

    pub fn serialize<S: serde::Serializer>(ms: &Millis, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format(*ms))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Millis, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "rfc3339_ms_opt")]` for an `Option<Millis>` field.
pub mod rfc3339_ms_opt {
    use super::*;

    pub fn serialize<S: serde::Serializer>(ms: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.collect_str(&format(*ms)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        text.map(|text| parse(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_times_are_rfc3339_utc_with_milliseconds_both_ways() {
        assert_eq!(format(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            parse("2023-11-14T22:13:20.123Z").unwrap(),
            1_700_000_000_123
        );
        assert_eq!(
            parse("2023-11-14T23:13:20.123+01:00").unwrap(),
            1_700_000_000_123
        );
    }
}
