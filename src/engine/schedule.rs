//! The deadline index: which session ends next, found in O(log n).
//!
//! Two ordered sets of (deadline, slot): one for idle deadlines, which move on
//! every touch, and one for absolute deadlines, which never move. The daily
//! closing time is one instant shared by every live session, so it needs no
//! index. The idle set also gives the admin listing its order.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::clock::Millis;
use super::session::ExpiryReason;

pub(crate) type Slot = u32;

#[derive(Debug, Default)]
pub(crate) struct Schedule {
    idle: BTreeSet<(Millis, Slot)>,
    absolute: BTreeSet<(Millis, Slot)>,
}

impl Schedule {
    pub fn insert(&mut self, slot: Slot, idle: Millis, absolute: Millis) {
        self.idle.insert((idle, slot));
        self.absolute.insert((absolute, slot));
    }

    pub fn move_idle(&mut self, slot: Slot, from: Millis, to: Millis) {
        if from != to {
            self.idle.remove(&(from, slot));
            self.idle.insert((to, slot));
        }
    }

    pub fn remove(&mut self, slot: Slot, idle: Millis, absolute: Millis) {
        self.idle.remove(&(idle, slot));
        self.absolute.remove(&(absolute, slot));
    }

    /// The earliest deadline of any session, with its reason and slot.
    /// On a tie the absolute limit is named, as it is the harder rule.
    pub fn next(&self) -> Option<(Millis, ExpiryReason, Slot)> {
        let idle = self.idle.first().copied();
        let absolute = self.absolute.first().copied();
        match (idle, absolute) {
            (Some((i, is)), Some((a, as_))) => Some(if a <= i {
                (a, ExpiryReason::Absolute, as_)
            } else {
                (i, ExpiryReason::Idle, is)
            }),
            (Some((i, s)), None) => Some((i, ExpiryReason::Idle, s)),
            (None, Some((a, s))) => Some((a, ExpiryReason::Absolute, s)),
            (None, None) => None,
        }
    }

    /// Slots in idle-deadline order, starting after `after` (exclusive).
    pub fn by_idle_deadline(
        &self,
        after: Option<(Millis, Slot)>,
    ) -> impl Iterator<Item = (Millis, Slot)> + '_ {
        let start = match after {
            Some(key) => Bound::Excluded(key),
            None => Bound::Unbounded,
        };
        self.idle.range((start, Bound::Unbounded)).copied()
    }
}
