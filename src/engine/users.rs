//! The per-user index: which live sessions each user holds, oldest first.
//!
//! Revoking a user, listing a user's sessions, "my sessions" and the limit on
//! sessions per user must cost that user's sessions, not all sessions. Each
//! user gets one entry (its name, kept once however many sessions share it,
//! and the ends of its list); each session record links to the user's
//! previous and next session. A new session goes to the back, so the front is
//! always the user's oldest session: the one a limit evicts. Eight bytes of
//! links per session, one entry per distinct user.

use std::collections::HashMap;

use compact_str::CompactString;

use super::schedule::Slot;
use super::session::Record;

pub(crate) type UserId = u32;
pub(crate) const NIL: Slot = u32::MAX;

#[derive(Debug)]
struct UserEntry {
    name: CompactString,
    oldest: Slot,
    newest: Slot,
    count: u32,
}

#[derive(Debug, Default)]
pub(crate) struct Users {
    ids: HashMap<CompactString, UserId>,
    entries: Vec<UserEntry>,
    free: Vec<UserId>,
}

impl Users {
    pub fn id(&self, name: &str) -> Option<UserId> {
        self.ids.get(name).copied()
    }

    /// Starts loading the user's entry (see `engine::cache`).
    pub fn prefetch(&self, id: UserId) {
        if let Some(entry) = self.entries.get(id as usize) {
            super::cache::prefetch(entry);
        }
    }

    pub fn name(&self, id: UserId) -> &CompactString {
        &self.entries[id as usize].name
    }

    /// How many live sessions the user holds.
    pub fn count(&self, id: UserId) -> u32 {
        self.entries[id as usize].count
    }

    /// The user's oldest live session.
    pub fn oldest(&self, id: UserId) -> Slot {
        self.entries[id as usize].oldest
    }

    /// Adds `slot`, already in `records`, as the newest session of `name`,
    /// and sets its user and links.
    pub fn attach(&mut self, name: CompactString, slot: Slot, records: &mut [Option<Record>]) {
        let id = match self.ids.get(&name) {
            Some(&id) => id,
            None => self.add(name),
        };
        let entry = &mut self.entries[id as usize];
        let previous = entry.newest;
        entry.newest = slot;
        if previous == NIL {
            entry.oldest = slot;
        }
        entry.count += 1;
        let record = live(records, slot);
        record.user = id;
        record.user_prev = previous;
        record.user_next = NIL;
        if previous != NIL {
            live(records, previous).user_next = slot;
        }
    }

    /// Takes `slot`, still in `records`, out of its user's list; forgets the
    /// user once it holds no session.
    pub fn detach(&mut self, slot: Slot, records: &mut [Option<Record>]) {
        let (id, prev, next) = {
            let record = live(records, slot);
            (record.user, record.user_prev, record.user_next)
        };
        let entry = &mut self.entries[id as usize];
        if prev == NIL {
            entry.oldest = next;
        } else {
            live(records, prev).user_next = next;
        }
        let entry = &mut self.entries[id as usize];
        if next == NIL {
            entry.newest = prev;
        } else {
            live(records, next).user_prev = prev;
        }
        let entry = &mut self.entries[id as usize];
        entry.count -= 1;
        if entry.count == 0 {
            let name = std::mem::take(&mut entry.name);
            self.ids.remove(&name);
            self.free.push(id);
        }
    }

    /// The user's sessions, oldest first.
    pub fn slots<'a>(
        &self,
        id: UserId,
        records: &'a [Option<Record>],
    ) -> impl Iterator<Item = Slot> + 'a {
        let mut slot = self.entries[id as usize].oldest;
        std::iter::from_fn(move || {
            if slot == NIL {
                return None;
            }
            let current = slot;
            slot = records[slot as usize]
                .as_ref()
                .expect("listed slots are live")
                .user_next;
            Some(current)
        })
    }

    fn add(&mut self, name: CompactString) -> UserId {
        let entry = UserEntry {
            name: name.clone(),
            oldest: NIL,
            newest: NIL,
            count: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = entry;
                id
            }
            None => {
                super::huge_pages::reserve_one(&mut self.entries);
                self.entries.push(entry);
                (self.entries.len() - 1) as UserId
            }
        };
        self.ids.insert(name, id);
        id
    }
}

fn live(records: &mut [Option<Record>], slot: Slot) -> &mut Record {
    records[slot as usize]
        .as_mut()
        .expect("indexed slots are live")
}
