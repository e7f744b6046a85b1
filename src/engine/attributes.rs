//! A session's attributes, kept small because there may be millions of them.
//!
//! A web app sends the same few keys (`ip`, `user_agent`) and, for the user
//! agent, one of a few hundred values with every login. Keeping each login's
//! `BTreeMap<String, String>` cost about 600 bytes a session. Here a session's
//! attributes are one shared slice: keys and long values are interned (one copy
//! per distinct text, shared by every session that carries it), short values
//! such as an ip address sit inline. A view of a session clones the slice's
//! `Arc`, never the text. The interner forgets a text a little after the last
//! session holding it has ended: each new text checks two old ones, so the
//! table never holds much more than what live sessions use.

use std::sync::Arc;

use compact_str::CompactString;
use indexmap::IndexSet;
use serde::{Deserialize, Serialize};

/// Free-form facts a login carries, such as `ip` and `user_agent`.
pub type Attributes = std::collections::BTreeMap<String, String>;

/// A text too long to sit inline, shared; or a short one, inline.
#[derive(Clone, PartialEq, Eq)]
enum Text {
    Inline(CompactString),
    Shared(Arc<str>),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Inline(s) => s,
            Text::Shared(s) => s,
        }
    }
}

/// One attribute: an interned key and its value.
type Entry = (Arc<str>, Text);

/// The attributes of one session, sorted by key; empty costs no allocation.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionAttributes(Option<Arc<[Entry]>>);

impl SessionAttributes {
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |entries| entries.len())
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        let entries = self.0.as_ref()?;
        let i = entries.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(entries[i].1.as_str())
    }

    /// Key and value pairs, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|entries| entries.iter())
            .map(|(k, v)| (&**k, v.as_str()))
    }

    /// Builds attributes without interning: for views read off the wire.
    fn from_map(map: Attributes) -> Self {
        if map.is_empty() {
            return SessionAttributes(None);
        }
        let entries: Vec<_> = map
            .into_iter()
            .map(|(k, v)| (Arc::from(k), Text::Inline(CompactString::from(v))))
            .collect();
        SessionAttributes(Some(entries.into()))
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

/// Values up to this many bytes sit inline in the session (an IPv4 or a short IPv6 address).
const INLINE: usize = 24;
/// Old texts checked for release per text added.
const SWEEP_PER_ADD: usize = 2;

/// One shared copy of every attribute key and long value that live sessions hold.
#[derive(Default)]
pub(crate) struct Interner {
    texts: IndexSet<Arc<str>>,
    /// Where the incremental release check goes next.
    sweep: usize,
}

impl Interner {
    /// Compacts a login's attributes, sharing texts other sessions already hold.
    pub fn intern(&mut self, map: Attributes) -> SessionAttributes {
        if map.is_empty() {
            return SessionAttributes(None);
        }
        let entries: Vec<_> = map
            .into_iter()
            .map(|(key, value)| {
                let value = if value.len() <= INLINE {
                    Text::Inline(CompactString::from(value))
                } else {
                    Text::Shared(self.share(value))
                };
                (self.share(key), value)
            })
            .collect();
        SessionAttributes(Some(entries.into()))
    }

    /// How many distinct texts are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.texts.len()
    }

    fn share(&mut self, text: String) -> Arc<str> {
        if let Some(shared) = self.texts.get(text.as_str()) {
            return shared.clone();
        }
        self.release_unused();
        let shared: Arc<str> = Arc::from(text);
        self.texts.insert(shared.clone());
        shared
    }

    /// Drops a few texts that only the interner still holds.
    fn release_unused(&mut self) {
        for _ in 0..SWEEP_PER_ADD {
            if self.texts.is_empty() {
                return;
            }
            if self.sweep >= self.texts.len() {
                self.sweep = 0;
            }
            let unused = self
                .texts
                .get_index(self.sweep)
                .is_some_and(|text| Arc::strong_count(text) == 1);
            if unused {
                // The last text moves into this place; check it next.
                self.texts.swap_remove_index(self.sweep);
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
        // Two keys and one user agent; the short ips sit inline.
        assert_eq!(interner.len(), 3);
        let Text::Shared(first) = &sessions[0].0.as_ref().unwrap()[1].1 else {
            panic!("a long value is shared")
        };
        let Text::Shared(last) = &sessions[99].0.as_ref().unwrap()[1].1 else {
            panic!("a long value is shared")
        };
        assert!(Arc::ptr_eq(first, last));
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
