//! Times on the wire: RFC 3339 in UTC with milliseconds, such as
//! `2026-01-15T08:00:00.000Z`. Engine time is milliseconds since the epoch.

// One implementation for the engine's own serde and the wire's.
pub use crate::engine::session::{
    format_rfc3339 as format, parse_rfc3339 as parse, rfc3339_ms, rfc3339_ms_opt,
};

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
