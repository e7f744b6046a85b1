//! A session's attributes, kept small because there may be millions of them.
//!
//! A web app sends the same few keys (`ip`, `user_agent`) with every login,
//! and for the user agent one of a few hundred values. Keeping each login's
//! `BTreeMap<String, String>` cost about 600 bytes a session. Here what many
//! sessions share, the keys and the long values (a user agent), is one
//! interned *shape*; a session holds its shape and its short values (an ip
//! address), 32 bytes in all for `{ip, user_agent}`, with no allocation of
//! its own. The interner forgets a shape a little after the last session holding
//! it has ended: each new shape checks two old ones, so the table never holds
//! much more than what live sessions use.

use std::hash::Hash;
use std::sync::Arc;

use compact_str::CompactString;
use indexmap::IndexSet;
use serde::{Deserialize, Serialize};

/// Free-form facts a login carries, such as `ip` and `user_agent`.
pub type Attributes = std::collections::BTreeMap<String, String>;

/// Values up to this many bytes sit inline in the session (an IPv4 or a short
/// IPv6 address); longer ones are part of the shape and shared.
const INLINE: usize = 24;
/// Old shapes checked for release per shape added.
const SWEEP_PER_ADD: usize = 2;

/// The keys of a set of attributes, sorted, and for each its value if long
/// (shared by every session of this shape) or `None` if the session holds it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Shape(Box<[ShapeEntry]>);

/// A key, and its value when the shape holds it.
type ShapeEntry = (Box<str>, Option<Box<str>>);

/// The attributes of one session, sorted by key: its shape and its own
/// short values. Empty costs nothing; one short value (the usual ip) sits
/// inline, so a view of the session copies it and counts one more holder of
/// the shape, which many sessions share and which therefore stays in the
/// cache. Nothing of one session's alone is behind a pointer, so a touch
/// reads no line but the record's to copy its attributes into an event.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionAttributes {
    shape: Option<Arc<Shape>>,
    short: Short,
}

/// A session's own short values, in key order.
#[derive(Clone, Default, PartialEq, Eq)]
enum Short {
    #[default]
    None,
    One(CompactString),
    Many(Arc<[CompactString]>),
}

impl SessionAttributes {
    pub fn is_empty(&self) -> bool {
        self.shape.is_none()
    }

    /// Starts loading the values a clone updates, when the session holds
    /// several short values (see `engine::cache`).
    pub(crate) fn prefetch(&self) {
        if let Short::Many(values) = &self.short {
            super::cache::prefetch(Arc::as_ptr(values));
        }
    }

    pub fn len(&self) -> usize {
        self.shape().map_or(0, |shape| shape.0.len())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let shape = self.shape()?;
        let i = shape.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(self.value(shape, i))
    }

    /// Key and value pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let shape = self.shape();
        let mut short = 0;
        shape
            .into_iter()
            .flat_map(|shape| shape.0.iter())
            .map(move |(key, long)| match long {
                Some(long) => (&**key, &**long),
                None => {
                    short += 1;
                    (&**key, self.short(short - 1))
                }
            })
    }

    fn shape(&self) -> Option<&Shape> {
        self.shape.as_deref()
    }

    /// The `n`-th (from 0) short value.
    fn short(&self, n: usize) -> &str {
        match (&self.short, n) {
            (Short::One(value), 0) => value,
            (Short::Many(values), n) => values.get(n).map_or("", |v| v),
            _ => "",
        }
    }

    fn value<'a>(&'a self, shape: &'a Shape, i: usize) -> &'a str {
        match &shape.0[i].1 {
            Some(long) => long,
            None => {
                let rank = shape.0[..i]
                    .iter()
                    .filter(|(_, long)| long.is_none())
                    .count();
                self.short(rank)
            }
        }
    }

    /// Splits a map into its shape and its short values.
    fn split(map: Attributes) -> (Shape, Vec<CompactString>) {
        let mut short = Vec::new();
        let entries = map
            .into_iter()
            .map(|(key, value)| {
                if value.len() <= INLINE {
                    short.push(CompactString::from(value));
                    (key.into_boxed_str(), None)
                } else {
                    (key.into_boxed_str(), Some(value.into_boxed_str()))
                }
            })
            .collect();
        (Shape(entries), short)
    }

    fn assemble(shape: Arc<Shape>, mut short: Vec<CompactString>) -> Self {
        let short = match short.len() {
            0 => Short::None,
            1 => Short::One(short.pop().expect("one value")),
            _ => Short::Many(short.into()),
        };
        SessionAttributes {
            shape: Some(shape),
            short,
        }
    }

    /// Builds attributes without interning: for views read off the wire.
    fn from_map(map: Attributes) -> Self {
        if map.is_empty() {
            return SessionAttributes::default();
        }
        let (shape, short) = Self::split(map);
        Self::assemble(Arc::new(shape), short)
    }
}

impl From<Attributes> for SessionAttributes {
    fn from(map: Attributes) -> Self {
        SessionAttributes::from_map(map)
    }
}

impl std::fmt::Debug for SessionAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for SessionAttributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for SessionAttributes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Attributes::deserialize(d).map(SessionAttributes::from_map)
    }
}

/// One shared copy of every shape that live sessions hold.
#[derive(Default)]
pub(crate) struct Interner {
    shapes: IndexSet<Arc<Shape>>,
    /// Where the incremental release check goes next.
    sweep: usize,
}

impl Interner {
    /// Compacts a login's attributes, sharing the shape other sessions already hold.
    pub fn intern(&mut self, map: Attributes) -> SessionAttributes {
        if map.is_empty() {
            return SessionAttributes::default();
        }
        let (shape, short) = SessionAttributes::split(map);
        let shape = match self.shapes.get(&shape) {
            Some(shared) => shared.clone(),
            None => {
                self.release_unused();
                let shared = Arc::new(shape);
                self.shapes.insert(shared.clone());
                shared
            }
        };
        SessionAttributes::assemble(shape, short)
    }

    /// How many distinct shapes are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Drops a few shapes that only the interner still holds.
    fn release_unused(&mut self) {
        for _ in 0..SWEEP_PER_ADD {
            if self.shapes.is_empty() {
                return;
            }
            if self.sweep >= self.shapes.len() {
                self.sweep = 0;
            }
            let unused = self
                .shapes
                .get_index(self.sweep)
                .is_some_and(|shape| Arc::strong_count(shape) == 1);
            if unused {
                // The last shape moves into this place; check it next.
                self.shapes.swap_remove_index(self.sweep);
            } else {
                self.sweep += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(ip: &str, agent: &str) -> Attributes {
        Attributes::from([
            ("ip".to_owned(), ip.to_owned()),
            ("user_agent".to_owned(), agent.to_owned()),
        ])
    }

    const AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

    #[test]
    fn attributes_read_back_as_given_in_key_order() {
        let mut interner = Interner::default();
        let a = interner.intern(login("192.0.2.1", AGENT));
        assert_eq!(a.get("ip"), Some("192.0.2.1"));
        assert_eq!(a.get("user_agent"), Some(AGENT));
        assert_eq!(a.get("nope"), None);
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            [("ip", "192.0.2.1"), ("user_agent", AGENT)]
        );
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            format!(r#"{{"ip":"192.0.2.1","user_agent":"{AGENT}"}}"#)
        );
        let back: SessionAttributes =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(
            back.iter().collect::<Vec<_>>(),
            a.iter().collect::<Vec<_>>()
        );
        assert!(interner.intern(Attributes::new()).is_empty());
    }

    #[test]
    fn repeated_long_values_and_keys_are_held_once() {
        let mut interner = Interner::default();
        let sessions: Vec<_> = (0..100)
            .map(|i| interner.intern(login(&format!("10.0.0.{i}"), AGENT)))
            .collect();
        // One shape (two keys and the user agent); the short ips sit inline.
        assert_eq!(interner.len(), 1);
        let first = sessions[0].shape.as_ref().unwrap();
        let last = sessions[99].shape.as_ref().unwrap();
        assert!(Arc::ptr_eq(first, last));
        assert_eq!(sessions[42].get("ip"), Some("10.0.0.42"));
        assert_eq!(sessions[42].len(), 2);
        assert!(
            matches!(sessions[42].short, Short::One(_)),
            "one short value sits inline"
        );
        assert_eq!(std::mem::size_of::<SessionAttributes>(), 32);
    }

    #[test]
    fn several_short_and_long_values_keep_their_keys() {
        let mut interner = Interner::default();
        let map = Attributes::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), AGENT.to_owned()),
            ("c".to_owned(), "3".to_owned()),
            ("d".to_owned(), format!("{AGENT}!")),
            ("e".to_owned(), String::new()),
        ]);
        let attributes = interner.intern(map.clone());
        let back: Attributes = attributes
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(back, map);
        for (key, value) in &map {
            assert_eq!(attributes.get(key), Some(value.as_str()), "{key}");
        }
        assert_eq!(SessionAttributes::from(map.clone()).iter().count(), 5);
    }

    #[test]
    fn texts_no_session_holds_are_released() {
        let mut interner = Interner::default();
        for i in 0..1000 {
            // Each session's agent is unique and dropped right away.
            drop(interner.intern(login("10.0.0.1", &format!("{AGENT} build {i}"))));
        }
        assert!(interner.len() < 10, "{} texts held", interner.len());
    }
}
