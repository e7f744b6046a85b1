//! The event stream's ids: `<instance>-<seq>`, built and read here only.
//!
//! `instance` is random per server run; `seq` counts the engine's events.
//! The server writes these as SSE `id:` lines and reads them back from
//! `Last-Event-ID`; the remote source does the reverse.

use std::fmt;

/// One event id, borrowing its instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId<'a> {
    pub instance: &'a str,
    pub seq: u64,
}

impl<'a> EventId<'a> {
    pub fn new(instance: &'a str, seq: u64) -> Self {
        EventId { instance, seq }
    }

    /// Reads an id; `None` if it is not `<instance>-<seq>` with a decimal seq
    /// as `Display` writes it.
    /// An instance is hex and never holds a `-`, so the seq is everything
    /// after the first one: `abc--1` has the seq `-1`, which is malformed,
    /// not the seq 1 of an instance `abc-`.
    pub fn parse(text: &'a str) -> Option<Self> {
        let (instance, seq) = text.trim().split_once('-')?;
        // A seq is written without leading zeros: `abc-05` was not written here.
        if instance.is_empty()
            || seq.is_empty()
            || !seq.bytes().all(|b| b.is_ascii_digit())
            || (seq.len() > 1 && seq.starts_with('0'))
        {
            return None;
        }
        Some(EventId {
            instance,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for EventId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.instance, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_instance_dash_seq_both_ways() {
        let id = EventId::new("abc123", 42);
        assert_eq!(id.to_string(), "abc123-42");
        assert_eq!(EventId::parse("abc123-42"), Some(id));
        assert_eq!(EventId::parse(" abc123-42 "), Some(id));
        assert_eq!(EventId::parse("abc123-0"), Some(EventId::new("abc123", 0)));
    }

    #[test]
    fn anything_else_is_not_an_event_id() {
        for text in [
            "",
            "42",
            "-42",
            "abc-",
            "abc-x",
            "abc-+4",
            "abc-99999999999999999999",
            "abc--1",
            "abc-1-2",
            "abc-05",
            "abc-00",
        ] {
            assert_eq!(EventId::parse(text), None, "{text:?}");
        }
    }
}
