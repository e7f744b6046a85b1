//! The deadline index: which session ends next, in O(1) per touch.
//!
//! Sessions that share a timeout also share an order: a touch gives a session
//! the latest idle deadline of its timeout, and logins arrive in time order.
//! So each distinct timeout gets a *lane*, a doubly linked list in deadline
//! order, and a touch just moves a session to the back of its lane. An ordered
//! set of lane heads gives the next deadline overall in O(log lanes). Engine
//! time never runs backwards, which keeps every lane sorted; a late append is
//! still placed correctly, just not in O(1).
//!
//! Moving an entry rewrites its lane neighbours, and at a million sessions
//! those sit in cache lines far from anything the touch has loaded: waiting
//! for them doubled a touch's wait on memory. So a touch's move is queued,
//! and the queue is applied a batch at a time, after asking for every
//! neighbour of the batch at once (`settle`). Until then the moved entries
//! stand at their old, earlier deadlines. That never shows: a lane head is
//! never queued (it moves at once), every other change and every walk
//! settles first, so `first` and every walk see what moving at once would
//! have made, in the same order.
//!
//! A `Track` is one such index; the engine keeps one for idle deadlines and one
//! for absolute deadlines. The daily closing time is one instant shared by
//! every live session, so it needs no index.
//!
//! A walk in deadline order that resumes after a cursor must find, in each
//! lane, the first entry past the cursor. Lists cannot be searched, so the
//! track remembers, for the last few cursors it gave out, the next few
//! entries of every lane; an entry still in its place is where its lane
//! resumes. Only a cursor the track no longer remembers, or whose remembered
//! entries all moved, walks its lanes from the front.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

use super::clock::Millis;

pub(crate) type Slot = u32;
type LaneId = u32;
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    deadline: Millis,
    prev: Slot,
    next: Slot,
    lane: LaneId,
    /// When it was placed, counting appends: orders entries with equal deadlines.
    placed: u32,
}

const VACANT: Entry = Entry {
    deadline: 0,
    prev: NIL,
    next: NIL,
    lane: NIL,
    placed: 0,
};

/// Whether `a` was placed after `b`. The counter wraps; entries that can tie
/// were placed within one millisecond of each other, far less than 2^31 apart.
fn placed_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[derive(Debug, Clone, Copy)]
struct Lane {
    timeout: Millis,
    head: Slot,
    tail: Slot,
}

/// Where a walk in deadline order stopped; opaque to callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub deadline: Millis,
    lane: LaneId,
    slot: Slot,
    placed: u32,
}

impl Position {
    /// Where `self` comes relative to `other` in a walk: by deadline, then
    /// lane, then order of placement within the lane. This is the order
    /// `in_order` walks in, and the one `resume` skips by.
    pub fn order(&self, other: &Position) -> std::cmp::Ordering {
        self.deadline
            .cmp(&other.deadline)
            .then(self.lane.cmp(&other.lane))
            .then_with(|| (self.placed.wrapping_sub(other.placed) as i32).cmp(&0))
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}.{}",
            self.deadline, self.lane, self.slot, self.placed
        )
    }
}

impl std::str::FromStr for Position {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split('.');
        let mut next = || parts.next().ok_or(());
        let position = Position {
            deadline: next()?.parse().map_err(|_| ())?,
            lane: next()?.parse().map_err(|_| ())?,
            slot: next()?.parse().map_err(|_| ())?,
            placed: next()?.parse().map_err(|_| ())?,
        };
        if parts.next().is_some() {
            return Err(());
        }
        Ok(position)
    }
}

/// Queued moves applied together (see the module comment).
const SETTLE_BATCH: usize = 32;

/// Entries remembered per lane for a cursor, and cursors remembered.
const HINT_ENTRIES: usize = 8;
const HINT_CURSORS: usize = 64;

/// An entry as it was: it is still in its place if its slot still has this
/// lane, deadline and placement.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    slot: Slot,
    deadline: Millis,
    placed: u32,
}

/// For one cursor: per lane, the first few entries past it.
#[derive(Debug)]
struct Hint {
    after: Position,
    lanes: Vec<(LaneId, Vec<Anchor>)>,
}

#[derive(Debug, Default)]
pub(crate) struct Track {
    entries: Vec<Entry>,
    lanes: Vec<Lane>,
    lane_of_timeout: HashMap<Millis, LaneId>,
    free_lanes: Vec<LaneId>,
    /// (deadline of the lane's head, lane) for every non-empty lane.
    heads: BTreeSet<(Millis, LaneId)>,
    /// Appends so far (wrapping): stamps each entry's `placed`.
    placements: u32,
    /// Where walks after recently given cursors resume (see the module comment).
    hints: RefCell<VecDeque<Hint>>,
    /// Moves not yet made: (slot, new deadline), in the order asked. None of
    /// these slots is a lane head.
    queued: Vec<(Slot, Millis)>,
}

impl Track {
    /// Adds `slot` with a deadline `timeout` after its start.
    pub fn insert(&mut self, slot: Slot, timeout: Millis, deadline: Millis) {
        self.settle();
        let lane = self.lane_for(timeout);
        let index = slot as usize;
        if self.entries.len() <= index {
            let more = index + 1 - self.entries.len();
            super::huge_pages::reserve(&mut self.entries, more);
            self.entries.resize(index + 1, VACANT);
        }
        self.entries[index] = Entry {
            deadline,
            lane,
            ..VACANT
        };
        self.append(slot);
    }

    /// Gives `slot` a new, later-or-equal deadline in the same lane. The
    /// move may be queued (see the module comment).
    pub fn reschedule(&mut self, slot: Slot, deadline: Millis) {
        let entry = &self.entries[slot as usize];
        if entry.deadline == deadline {
            return;
        }
        if entry.prev == NIL {
            // A lane head: `first` must see it move.
            self.settle();
            self.move_to(slot, deadline);
            return;
        }
        self.queued.push((slot, deadline));
        if self.queued.len() == SETTLE_BATCH {
            self.settle();
        }
    }

    /// Makes every queued move, after asking for all the lines they rewrite.
    pub fn settle(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        let queued = std::mem::take(&mut self.queued);
        for &(slot, _) in &queued {
            self.prefetch_neighbours(slot);
        }
        for &(slot, deadline) in &queued {
            self.move_to(slot, deadline);
        }
        self.queued = queued;
        self.queued.clear();
    }

    fn move_to(&mut self, slot: Slot, deadline: Millis) {
        if self.entries[slot as usize].deadline == deadline {
            return;
        }
        self.unlink(slot);
        self.entries[slot as usize].deadline = deadline;
        self.append(slot);
    }

    pub fn remove(&mut self, slot: Slot) {
        self.settle();
        self.unlink(slot);
        let lane = self.entries[slot as usize].lane;
        self.entries[slot as usize] = VACANT;
        if self.lanes[lane as usize].head == NIL {
            let timeout = self.lanes[lane as usize].timeout;
            self.lane_of_timeout.remove(&timeout);
            self.free_lanes.push(lane);
        }
    }

    /// Starts loading `slot`'s entry (see `engine::cache`).
    pub fn prefetch(&self, slot: Slot) {
        if let Some(entry) = self.entries.get(slot as usize) {
            super::cache::prefetch(entry);
        }
    }

    /// Starts loading the entries before and after `slot`'s, which a
    /// reschedule or removal rewrites.
    pub fn prefetch_neighbours(&self, slot: Slot) {
        if let Some(entry) = self.entries.get(slot as usize) {
            for neighbour in [entry.prev, entry.next] {
                self.prefetch(neighbour);
            }
        }
    }

    /// Where `slot` stands in deadline order. Needs `settle` first.
    pub fn position(&self, slot: Slot) -> Position {
        debug_assert!(self.queued.is_empty(), "settle before reading positions");
        let entry = &self.entries[slot as usize];
        Position {
            deadline: entry.deadline,
            lane: entry.lane,
            slot,
            placed: entry.placed,
        }
    }

    /// The earliest deadline and its slot.
    pub fn first(&self) -> Option<(Millis, Slot)> {
        let &(deadline, lane) = self.heads.first()?;
        Some((deadline, self.lanes[lane as usize].head))
    }

    /// Slots in deadline order, starting after `after`. Needs `settle` first.
    pub fn in_order(&self, after: Option<Position>) -> InOrder<'_> {
        debug_assert!(self.queued.is_empty(), "settle before walking");
        let hints = self.hints.borrow();
        let hint = after.and_then(|after| hints.iter().find(|h| h.after == after));
        let mut frontier = BinaryHeap::new();
        for &(_, lane) in &self.heads {
            let start = match (after, hint) {
                (Some(after), Some(hint)) => self.resume_hinted(lane, after, hint),
                _ => self.resume(lane, after),
            };
            if start != NIL {
                frontier.push(Reverse((
                    self.entries[start as usize].deadline,
                    lane,
                    start,
                )));
            }
        }
        InOrder {
            track: self,
            frontier,
        }
    }

    /// Remembers where each lane of `walk` continues, for the walk that
    /// will resume after `after`, the last position `walk` gave.
    pub fn remember(&self, after: Position, walk: &InOrder<'_>) {
        let lanes = walk
            .frontier
            .iter()
            .map(|&Reverse((_, lane, first))| {
                let mut anchors = Vec::with_capacity(HINT_ENTRIES);
                let mut slot = first;
                while slot != NIL && anchors.len() < HINT_ENTRIES {
                    let entry = &self.entries[slot as usize];
                    anchors.push(Anchor {
                        slot,
                        deadline: entry.deadline,
                        placed: entry.placed,
                    });
                    slot = entry.next;
                }
                (lane, anchors)
            })
            .collect();
        let mut hints = self.hints.borrow_mut();
        hints.retain(|h| h.after != after);
        if hints.len() == HINT_CURSORS {
            hints.pop_front();
        }
        hints.push_back(Hint { after, lanes });
    }

    /// Like `resume`, from what was remembered for `after`. The first
    /// remembered entry still in its place is the first past the cursor:
    /// entries only leave the stretch between the cursor and it (new ones
    /// go to the back). A lane that had nothing past the cursor then may
    /// have gained entries at its back since; it is walked from there.
    fn resume_hinted(&self, lane: LaneId, after: Position, hint: &Hint) -> Slot {
        let Some((_, anchors)) = hint.lanes.iter().find(|(l, _)| *l == lane) else {
            return self.resume_from_back(lane, after);
        };
        let in_place = anchors.iter().find(|a| {
            let entry = &self.entries.get(a.slot as usize);
            entry
                .is_some_and(|e| e.lane == lane && e.deadline == a.deadline && e.placed == a.placed)
        });
        match in_place {
            Some(anchor) => anchor.slot,
            None => self.resume(lane, Some(after)),
        }
    }

    /// The first slot of `lane` past `after`, walking from the back: cheap
    /// when few entries are past it.
    fn resume_from_back(&self, lane: LaneId, after: Position) -> Slot {
        let mut first = NIL;
        let mut slot = self.lanes[lane as usize].tail;
        while slot != NIL {
            let position = Position {
                deadline: self.entries[slot as usize].deadline,
                lane,
                slot,
                placed: self.entries[slot as usize].placed,
            };
            if position.order(&after).is_le() {
                break;
            }
            first = slot;
            slot = self.entries[slot as usize].prev;
        }
        first
    }

    /// The first slot of `lane` that comes after `after` in the total order
    /// (deadline, lane, order within the lane).
    fn resume(&self, lane: LaneId, after: Option<Position>) -> Slot {
        let head = self.lanes[lane as usize].head;
        let Some(after) = after else {
            return head;
        };
        if lane == after.lane
            && let Some(entry) = self.entries.get(after.slot as usize)
            && entry.lane == lane
            && entry.deadline == after.deadline
            && entry.placed == after.placed
        {
            return entry.next;
        }
        // The cursor's entry moved or went: find the first entry past its place.
        let mut slot = head;
        while slot != NIL {
            let Entry {
                deadline, placed, ..
            } = self.entries[slot as usize];
            let past = match lane.cmp(&after.lane) {
                std::cmp::Ordering::Greater => deadline >= after.deadline,
                std::cmp::Ordering::Less => deadline > after.deadline,
                std::cmp::Ordering::Equal => {
                    deadline > after.deadline
                        || (deadline == after.deadline && placed_after(placed, after.placed))
                }
            };
            if past {
                break;
            }
            slot = self.entries[slot as usize].next;
        }
        slot
    }

    fn lane_for(&mut self, timeout: Millis) -> LaneId {
        if let Some(&lane) = self.lane_of_timeout.get(&timeout) {
            return lane;
        }
        let fresh = Lane {
            timeout,
            head: NIL,
            tail: NIL,
        };
        let lane = match self.free_lanes.pop() {
            Some(lane) => {
                self.lanes[lane as usize] = fresh;
                lane
            }
            None => {
                self.lanes.push(fresh);
                (self.lanes.len() - 1) as LaneId
            }
        };
        self.lane_of_timeout.insert(timeout, lane);
        lane
    }

    /// Puts a detached `slot` into its lane in deadline order: at the back,
    /// unless engine time stepped back, in which case it walks to its place.
    fn append(&mut self, slot: Slot) {
        let Entry { deadline, lane, .. } = self.entries[slot as usize];
        self.entries[slot as usize].placed = self.placements;
        self.placements = self.placements.wrapping_add(1);
        let mut after = self.lanes[lane as usize].tail;
        while after != NIL && self.entries[after as usize].deadline > deadline {
            after = self.entries[after as usize].prev;
        }
        let before = if after == NIL {
            self.lanes[lane as usize].head
        } else {
            self.entries[after as usize].next
        };
        self.entries[slot as usize].prev = after;
        self.entries[slot as usize].next = before;
        if before == NIL {
            self.lanes[lane as usize].tail = slot;
        } else {
            self.entries[before as usize].prev = slot;
        }
        if after == NIL {
            let old_head = self.lanes[lane as usize].head;
            self.lanes[lane as usize].head = slot;
            self.replace_head(lane, old_head);
        } else {
            self.entries[after as usize].next = slot;
        }
    }

    fn unlink(&mut self, slot: Slot) {
        let Entry {
            prev, next, lane, ..
        } = self.entries[slot as usize];
        if next == NIL {
            self.lanes[lane as usize].tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        if prev == NIL {
            self.lanes[lane as usize].head = next;
            self.replace_head(lane, slot);
        } else {
            self.entries[prev as usize].next = next;
        }
        self.entries[slot as usize].prev = NIL;
        self.entries[slot as usize].next = NIL;
    }

    /// Keeps `heads` in step after the head of `lane` changed from `old_head`.
    fn replace_head(&mut self, lane: LaneId, old_head: Slot) {
        if old_head != NIL {
            self.heads
                .remove(&(self.entries[old_head as usize].deadline, lane));
        }
        let head = self.lanes[lane as usize].head;
        if head != NIL {
            self.heads
                .insert((self.entries[head as usize].deadline, lane));
        }
    }
}

/// A walk over a track's slots in deadline order.
pub(crate) struct InOrder<'a> {
    track: &'a Track,
    frontier: BinaryHeap<Reverse<(Millis, LaneId, Slot)>>,
}

impl InOrder<'_> {
    /// Whether the walk has given every slot.
    pub fn is_done(&self) -> bool {
        self.frontier.is_empty()
    }
}

impl Iterator for InOrder<'_> {
    type Item = (Position, Slot);

    fn next(&mut self) -> Option<Self::Item> {
        let Reverse((deadline, lane, slot)) = self.frontier.pop()?;
        let next = self.track.entries[slot as usize].next;
        if next != NIL {
            let next_deadline = self.track.entries[next as usize].deadline;
            self.frontier.push(Reverse((next_deadline, lane, next)));
        }
        Some((
            Position {
                deadline,
                lane,
                slot,
                placed: self.track.entries[slot as usize].placed,
            },
            slot,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(track: &Track) -> Vec<Slot> {
        track.in_order(None).map(|(_, slot)| slot).collect()
    }

    #[test]
    fn first_is_the_earliest_deadline_across_lanes() {
        let mut track = Track::default();
        track.insert(0, 100, 1_100);
        track.insert(1, 50, 1_050);
        track.insert(2, 100, 1_200);
        assert_eq!(track.first(), Some((1_050, 1)));
        track.remove(1);
        assert_eq!(track.first(), Some((1_100, 0)));
        assert_eq!(order(&track), [0, 2]);
    }

    #[test]
    fn reschedule_moves_a_slot_to_the_back_of_its_lane() {
        let mut track = Track::default();
        for slot in 0..4 {
            track.insert(slot, 100, 1_000 + slot as Millis);
        }
        track.reschedule(0, 1_010);
        assert_eq!(order(&track), [1, 2, 3, 0]);
        assert_eq!(track.first(), Some((1_001, 1)));
    }

    #[test]
    fn an_out_of_order_append_still_lands_in_order() {
        let mut track = Track::default();
        track.insert(0, 100, 1_000);
        track.insert(1, 100, 1_020);
        track.insert(2, 100, 1_010);
        track.insert(3, 100, 900);
        assert_eq!(order(&track), [3, 0, 2, 1]);
        assert_eq!(track.first(), Some((900, 3)));
    }

    #[test]
    fn walking_resumes_after_a_position_across_lanes() {
        let mut track = Track::default();
        track.insert(0, 100, 1_000);
        track.insert(1, 7, 1_000);
        track.insert(2, 100, 1_005);
        track.insert(3, 7, 1_003);
        let all: Vec<_> = track.in_order(None).collect();
        assert_eq!(
            all.iter().map(|&(_, s)| s).collect::<Vec<_>>(),
            [0, 1, 3, 2]
        );
        for (i, &(position, _)) in all.iter().enumerate() {
            let rest: Vec<_> = track.in_order(Some(position)).map(|(_, s)| s).collect();
            let expected: Vec<_> = all[i + 1..].iter().map(|&(_, s)| s).collect();
            assert_eq!(rest, expected, "after {position}");
        }
    }

    #[test]
    fn ties_after_a_cursor_whose_session_moved_are_not_skipped() {
        let mut track = Track::default();
        for slot in 0..4 {
            track.insert(slot, 100, 1_000);
        }
        let first: Vec<_> = track.in_order(None).take(1).collect();
        let (position, slot) = first[0];
        assert_eq!(slot, 0);
        // The cursor's own session is touched before the next page is asked for.
        track.reschedule(0, 1_050);
        let rest: Vec<_> = track.in_order(Some(position)).map(|(_, s)| s).collect();
        assert_eq!(rest, [1, 2, 3, 0]);
        // And if it ended instead.
        track.remove(0);
        let rest: Vec<_> = track.in_order(Some(position)).map(|(_, s)| s).collect();
        assert_eq!(rest, [1, 2, 3]);
    }

    /// Pages of `limit` through `track`, remembering each cursor as the engine does.
    fn paged(track: &Track, limit: usize, mut between: impl FnMut(&Track)) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let mut walk = track.in_order(after);
            let mut last = None;
            for _ in 0..limit {
                let Some((position, slot)) = walk.next() else {
                    break;
                };
                out.push(slot);
                last = Some(position);
            }
            match last {
                Some(last) if !walk.is_done() => {
                    track.remember(last, &walk);
                    after = Some(last);
                }
                _ => return out,
            }
            between(track);
        }
    }

    #[test]
    fn a_remembered_cursor_resumes_every_lane_where_it_stopped() {
        let mut track = Track::default();
        for slot in 0..60 {
            // Three lanes, interleaved deadlines.
            let timeout = [100, 130, 170][slot as usize % 3];
            track.insert(slot, timeout, 1_000 + slot as Millis + timeout);
        }
        let all = order(&track);
        assert_eq!(paged(&track, 7, |_| {}), all);
        assert!(!track.hints.borrow().is_empty());
    }

    #[test]
    fn a_remembered_cursor_skips_entries_that_moved_or_went() {
        let mut track = Track::default();
        for slot in 0..40 {
            track.insert(slot, 100, 1_000 + slot as Millis);
        }
        let first: Vec<_> = {
            let mut walk = track.in_order(None);
            let page: Vec<_> = (&mut walk).take(10).collect();
            track.remember(page[9].0, &walk);
            page
        };
        let cursor = first[9].0;
        // The next two entries past the cursor move to the back, one more ends.
        track.reschedule(10, 2_000);
        track.reschedule(11, 2_001);
        track.remove(12);
        let rest: Vec<_> = track.in_order(Some(cursor)).map(|(_, s)| s).collect();
        let mut expected: Vec<Slot> = (13..40).collect();
        expected.extend([10, 11]);
        assert_eq!(rest, expected);
    }

    #[test]
    fn a_lane_that_was_behind_the_cursor_resumes_at_its_new_entries() {
        let mut track = Track::default();
        track.insert(0, 10, 1_010);
        for slot in 1..10 {
            track.insert(slot, 500, 1_500 + slot as Millis);
        }
        let mut walk = track.in_order(None);
        let page: Vec<_> = (&mut walk).take(3).collect();
        track.remember(page[2].0, &walk);
        // The short lane gets an entry past the cursor after the cursor was given.
        track.insert(20, 10, 1_504);
        let rest: Vec<_> = track.in_order(Some(page[2].0)).map(|(_, s)| s).collect();
        assert_eq!(rest, [3, 20, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn empty_lanes_are_reclaimed() {
        let mut track = Track::default();
        for slot in 0..100 {
            track.insert(slot, 1_000 + slot as Millis, 5_000 + slot as Millis);
        }
        for slot in 0..100 {
            track.remove(slot);
        }
        assert!(track.lane_of_timeout.is_empty());
        assert!(track.heads.is_empty());
        track.insert(0, 3, 10);
        assert_eq!(track.lanes.len(), 100, "a freed lane is reused");
    }

    /// What a test does to a track: the slot is taken modulo the slots in use.
    #[derive(Debug, Clone)]
    enum Op {
        Insert { timeout: Millis },
        Touch { slot: usize },
        Remove { slot: usize },
        Advance { ms: Millis },
        Walk,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            2 => prop_oneof![Just(10), Just(25), Just(40)].prop_map(|timeout| Op::Insert { timeout }),
            6 => any::<usize>().prop_map(|slot| Op::Touch { slot }),
            1 => any::<usize>().prop_map(|slot| Op::Remove { slot }),
            2 => (0..5 as Millis).prop_map(|ms| Op::Advance { ms }),
            1 => Just(Op::Walk),
        ]
    }

    proptest::proptest! {
        /// Queued moves never show: a track that queues them gives, at
        /// every step, the `first` and (settled) the walks of a track that
        /// moves at once.
        #[test]
        fn queued_moves_show_what_moving_at_once_would(
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let (mut queued, mut at_once) = (Track::default(), Track::default());
            let mut live: Vec<(Slot, Millis)> = Vec::new();
            let (mut now, mut next_slot) = (1_000, 0);
            for op in ops {
                match op {
                    Op::Insert { timeout } => {
                        queued.insert(next_slot, timeout, now + timeout);
                        at_once.insert(next_slot, timeout, now + timeout);
                        live.push((next_slot, timeout));
                        next_slot += 1;
                    }
                    Op::Touch { slot } if !live.is_empty() => {
                        let (slot, timeout) = live[slot % live.len()];
                        queued.reschedule(slot, now + timeout);
                        at_once.reschedule(slot, now + timeout);
                        at_once.settle();
                    }
                    Op::Remove { slot } if !live.is_empty() => {
                        let (slot, _) = live.swap_remove(slot % live.len());
                        queued.remove(slot);
                        at_once.remove(slot);
                    }
                    Op::Advance { ms } => now += ms,
                    Op::Walk => {
                        queued.settle();
                        let walk = |t: &Track| t.in_order(None).collect::<Vec<_>>();
                        proptest::prop_assert_eq!(walk(&queued), walk(&at_once));
                    }
                    _ => {}
                }
                proptest::prop_assert_eq!(queued.first(), at_once.first());
            }
        }
    }

    #[test]
    fn positions_round_trip_through_text() {
        let position = Position {
            deadline: 1_800_000_000_123,
            lane: 2,
            slot: 77,
            placed: 9,
        };
        assert_eq!(position.to_string().parse(), Ok(position));
        assert!("1.2.3".parse::<Position>().is_err());
        assert!("1.2.3.4.5".parse::<Position>().is_err());
    }
}
