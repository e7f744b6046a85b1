//! How durations and times of day are written, everywhere sessiontop reads one:
//! config.toml, flags, scenario files, API request bodies and the server's
//! policy as a remote dashboard reads it.
//!
//! Counts are written with thousands separators (`thousands`).
//!
//! A leaf: it knows text and `std`/`chrono` types, nothing of sessiontop.
//! Every error is one sentence that says what was sent and what would do.

use std::time::Duration;

use chrono::NaiveTime;

/// The shortest secret sessiontop accepts or issues (API tokens have at
/// least 16 characters, session tokens 43): a text this long is never
/// repeated in a message, wherever it was written (the HTTP API's
/// `api::read::shown` follows the same rule).
pub const REPEATED_BELOW: usize = 16;

/// `text` in quotes if it is short enough to repeat; else "the value".
pub fn quoted(text: &str) -> String {
    if text.trim().chars().count() < REPEATED_BELOW {
        format!("{text:?}")
    } else {
        "the value".to_owned()
    }
}

/// Why a text is not a duration. A text of `REPEATED_BELOW` characters or
/// more is not repeated: it may be a secret written in the wrong place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("{}", no_unit(.0))]
    NoUnit(String),
    #[error("{} is not a duration; use a number and a unit, such as \"90s\", \"15m\" or \"8h\"", quoted(.0))]
    NotADuration(String),
    /// A number and a unit, but more than any duration can hold (about 584
    /// billion years): out of bounds, not misspelt.
    #[error("{} is more than allowed: longer than any duration can be", quoted(.0))]
    TooLong(String),
}

/// A bare number where a duration belongs, and what to write instead.
pub fn no_unit(number: &str) -> String {
    let t = number.trim();
    if t.chars().count() < REPEATED_BELOW {
        format!(
            "{number:?} has no unit; write \"{t}s\" for seconds (or another unit, such as \"15m\" or \"8h\")"
        )
    } else {
        "the value has no unit; write it with one, such as \"90s\", \"15m\" or \"8h\"".to_owned()
    }
}

/// Parses a humantime duration such as "90s", "15m" or "8h".
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let trimmed = s.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::NoUnit(s.to_owned()));
    }
    humantime::parse_duration(trimmed).map_err(|e| match e {
        // The same text with every number made small reads: it is well
        // formed, and only too large.
        humantime::DurationError::NumberOverflow
            if humantime::parse_duration(&small_numbers(trimmed)).is_ok() =>
        {
            DurationError::TooLong(s.to_owned())
        }
        _ => DurationError::NotADuration(s.to_owned()),
    })
}

/// A timeout, which a caller then checks against its bounds: like
/// `parse_duration`, but a well-formed duration too large to hold reads as
/// `Duration::MAX`, so the bounds check refuses it as "more than allowed",
/// echoing what was written.
pub fn parse_timeout(s: &str) -> Result<Duration, DurationError> {
    match parse_duration(s) {
        Err(DurationError::TooLong(_)) => Ok(Duration::MAX),
        other => other,
    }
}

/// `text` with each run of digits replaced by "1".
fn small_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('1');
            }
            in_number = true;
        } else {
            out.push(c);
            in_number = false;
        }
    }
    out
}

/// A duration as sessiontop writes it back ("15m", "1day 2h").
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Parses a closing time "HH:MM" (24-hour wall-clock time).
pub fn parse_closing_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        format!(
            "{} is not a time of day; use 24-hour \"HH:MM\", such as \"23:00\"",
            quoted(s)
        )
    })
}

/// Parses an IANA time zone name such as "Europe/Berlin" or "UTC".
pub fn parse_time_zone(s: &str) -> Result<chrono_tz::Tz, String> {
    s.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        format!("{} is not an IANA time zone name; use one such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"", quoted(s))
    })
}

/// 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_get_separators() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
    }

    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_bare_number_gets_a_hint() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration(" 15m "), Ok(Duration::from_secs(900)));
        let err = parse_duration("300").unwrap_err().to_string();
        assert!(err.contains("\"300s\""), "{err}");
        let err = parse_duration("soon").unwrap_err().to_string();
        assert!(err.contains("soon") && err.contains("15m"), "{err}");
    }

    #[test]
    fn a_number_and_a_unit_too_large_to_hold_is_too_long_not_misspelt() {
        let err = parse_duration("999999999999y").unwrap_err();
        assert_eq!(err, DurationError::TooLong("999999999999y".into()));
        assert!(err.to_string().contains("more than allowed"), "{err}");
        assert_eq!(parse_timeout("999999999999y"), Ok(Duration::MAX));
        assert_eq!(
            parse_timeout("99999999999999999999999days"),
            Ok(Duration::MAX)
        );
        // Too large and misspelt is misspelt.
        assert!(matches!(
            parse_duration("999999999999yz"),
            Err(DurationError::NotADuration(_))
        ));
        assert!(matches!(
            parse_timeout("99999999999999999999999"),
            Err(DurationError::NoUnit(_))
        ));
    }

    #[test]
    fn closing_times_are_24_hour_hh_mm() {
        assert_eq!(
            parse_closing_time("23:00"),
            NaiveTime::from_hms_opt(23, 0, 0).ok_or(String::new())
        );
        assert!(parse_closing_time("25:00").is_err());
        assert!(parse_closing_time("11pm").unwrap_err().contains("HH:MM"));
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            parse_time_zone("Europe/Berlin"),
            Ok(chrono_tz::Europe::Berlin)
        );
        assert_eq!(parse_time_zone("UTC"), Ok(chrono_tz::UTC));
        let err = parse_time_zone("Mars/Olympus").unwrap_err();
        assert!(
            err.contains("Mars/Olympus") && err.contains("IANA"),
            "{err}"
        );
    }
}
