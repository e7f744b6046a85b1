//! The patterns the OpenAPI document states, which are also what the server
//! checks: one string each, so the document cannot promise what the server
//! refuses, nor the other way round.
//!
//! Written in the common subset of ECMA-262 (JSON Schema's dialect), Python's
//! `re` (what conformance tools validate with) and Rust's `regex`: no `\s`,
//! `\d` or `.`, whose meaning differs between them.

use std::sync::LazyLock;

use regex::Regex;

/// A session handle: 16 hexadecimal digits.
pub const HANDLE: &str = "^[0-9a-fA-F]{16}$";

/// Contains something other than white space (Unicode White_Space, the set
/// Rust's `trim` removes), written out as literal characters.
pub const NOT_BLANK: &str =
    "[^\t-\r \u{85}\u{a0}\u{1680}\u{2000}-\u{200a}\u{2028}\u{2029}\u{202f}\u{205f}\u{3000}]";

/// A duration: numbers with units, such as "90s", "15m", "8h" or "1h 30m".
pub const DURATION: &str = "^[0-9]{1,12} ?(ms|msec|millis|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|wk|wks|week|weeks|M|month|months|y|yr|yrs|year|years)( ?[0-9]{1,12} ?(ms|msec|millis|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|wk|wks|week|weeks|M|month|months|y|yr|yrs|year|years))*$";

/// A listing cursor. Opaque to clients (pass `next_cursor` back as it came);
/// the pattern is here so that every cursor the document allows is one the
/// server can read.
pub const CURSOR: &str = "^(-?(0|[1-9][0-9]{0,17})(\\.(0|[1-9][0-9]{0,8})){3})?$";

fn compiled(pattern: &'static str) -> &'static Regex {
    static HANDLE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(HANDLE).expect("valid"));
    static NOT_BLANK_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(NOT_BLANK).expect("valid"));
    static DURATION_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(DURATION).expect("valid"));
    static CURSOR_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(CURSOR).expect("valid"));
    match pattern {
        HANDLE => &HANDLE_RE,
        NOT_BLANK => &NOT_BLANK_RE,
        DURATION => &DURATION_RE,
        _ => &CURSOR_RE,
    }
}

/// Whether `text` fits `pattern` (one of this module's constants).
pub fn fits(pattern: &'static str, text: &str) -> bool {
    compiled(pattern).is_match(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_the_docs_show_fit_and_others_do_not() {
        for ok in [
            "90s", "15m", "8h", "1h 30m", "1h30m", "60days", "2 weeks", "1M",
        ] {
            assert!(fits(DURATION, ok), "{ok}");
            assert!(humantime::parse_duration(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "15", "m", "1.5h", "15 m ", " 15m", "soon", "15mm", "-5s", "1ns",
        ] {
            assert!(!fits(DURATION, bad), "{bad}");
        }
    }

    #[test]
    fn a_handle_is_sixteen_hex_digits() {
        assert!(fits(HANDLE, "9f2c4e1a7b3d5c60"));
        assert!(fits(HANDLE, "9F2C4E1A7B3D5C60"));
        assert!(!fits(HANDLE, "9f2c4e1a7b3d5c6"));
        assert!(!fits(HANDLE, "9f2c4e1a7b3d5c60a"));
        assert!(!fits(HANDLE, "9f2c4e1a7b3d5c6g"));
    }

    #[test]
    fn blank_is_what_trim_removes() {
        for blank in ["", " ", "\t\n\r", "\u{a0}\u{3000}\u{2028}"] {
            assert!(!fits(NOT_BLANK, blank), "{blank:?}");
            assert!(blank.trim().is_empty());
        }
        for text in ["a", " a ", "\u{1c}", "\u{200b}"] {
            assert!(fits(NOT_BLANK, text), "{text:?}");
            assert!(!text.trim().is_empty());
        }
    }

    #[test]
    fn cursors_that_fit_are_cursors_the_engine_reads() {
        for ok in [
            "",
            "0.0.0.0",
            "-5.1.2.3",
            "999999999999999999.999999999.999999999.999999999",
        ] {
            assert!(fits(CURSOR, ok), "{ok}");
            assert!(
                ok.is_empty() || ok.parse::<crate::engine::Cursor>().is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "garbage",
            "1.x",
            "01.0.0.0",
            "+1.0.0.0",
            "1.0.0",
            "1.0.0.0.0",
            "1.0.0.4294967296",
        ] {
            assert!(!fits(CURSOR, bad), "{bad}");
        }
    }
}
