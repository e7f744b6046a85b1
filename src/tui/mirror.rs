//! The dashboard's own copy of the sessions, kept in display order.
//!
//! Sessions are held by handle; `order` holds the (sort key, handle) of each
//! one that passes the filter, so an event moves one entry in O(log n) and a
//! frame walks only the rows on screen. Re-sorting everything happens only
//! when the user picks another column or filter. Ended sessions stay for a
//! moment ("linger"), marked with how they ended. Nothing here draws.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};
use std::ops::Bound;

use compact_str::CompactString;

use crate::engine::{Event, EventKind, ExpiryReason, Handle, Millis, SessionView};

/// Columns of the sessions table, in the order `<` and `>` walk them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    Handle,
    User,
    Origin,
    Started,
    LastSeen,
    Idle,
    Absolute,
    State,
}

impl SortColumn {
    pub const ALL: [SortColumn; 8] = [
        SortColumn::Handle,
        SortColumn::User,
        SortColumn::Origin,
        SortColumn::Started,
        SortColumn::LastSeen,
        SortColumn::Idle,
        SortColumn::Absolute,
        SortColumn::State,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Handle => "HANDLE",
            SortColumn::User => "USER",
            SortColumn::Origin => "ORIGIN",
            SortColumn::Started => "STARTED",
            SortColumn::LastSeen => "LAST SEEN",
            SortColumn::Idle => "IDLE LEFT",
            SortColumn::Absolute => "ABSOLUTE",
            SortColumn::State => "STATE",
        }
    }

    pub fn step(self, by: isize) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0) as isize;
        let n = SortColumn::ALL.len() as isize;
        SortColumn::ALL[(i + by).rem_euclid(n) as usize]
    }
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    LoggedOut,
    Revoked,
    /// A login of the same user over its session limit pushed it out (the
    /// limit, when the event names it).
    Evicted(Option<u32>),
    Expired(ExpiryReason),
}

impl Ending {
    /// How an ending reads in an ended row and the detail view.
    pub fn label(self) -> String {
        match self {
            Ending::LoggedOut => "logged out".to_owned(),
            Ending::Revoked => "revoked".to_owned(),
            Ending::Evicted(limit) => evicted_label(limit),
            Ending::Expired(ExpiryReason::Idle) => "expired idle".to_owned(),
            Ending::Expired(ExpiryReason::Absolute) => "expired abs".to_owned(),
            Ending::Expired(ExpiryReason::ClosingTime) => "closing time".to_owned(),
            // Eviction ends a session as `revoked`, never as `expired`.
            Ending::Expired(ExpiryReason::Evicted) => evicted_label(None),
        }
    }

    /// How an event ends its session, if it does.
    pub fn of(event: &Event) -> Option<Ending> {
        match (event.kind, event.reason) {
            (EventKind::LoggedOut, _) => Some(Ending::LoggedOut),
            (EventKind::Revoked, Some(ExpiryReason::Evicted)) => Some(Ending::Evicted(event.limit)),
            (EventKind::Revoked, _) => Some(Ending::Revoked),
            (EventKind::Expired, reason) => {
                Some(Ending::Expired(reason.unwrap_or(ExpiryReason::Idle)))
            }
            _ => None,
        }
    }
}

/// "evicted: user over 3 sessions": why an eviction happened, wherever an
/// ending is shown. An event from a server that does not name the limit
/// still says what happened.
pub fn evicted_label(limit: Option<u32>) -> String {
    match limit {
        Some(1) => "evicted: user over 1 session".to_owned(),
        Some(n) => format!("evicted: user over {n} sessions"),
        None => "evicted: user over the session limit".to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub session: SessionView,
    /// How and when (clock time) it ended, while it lingers.
    pub ended: Option<(Ending, Millis)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey {
    Number(i64),
    Text(CompactString),
}

pub type Position = (SortKey, Handle);

pub struct Mirror {
    rows: HashMap<Handle, Row>,
    order: BTreeSet<Position>,
    sort: SortColumn,
    reverse: bool,
    /// The filter as typed; empty shows everything.
    filter: String,
    /// What rows are matched with: the filter, trimmed and lower-case.
    needle: String,
    /// Ended sessions to drop, soonest first, by the clock time they leave.
    leaving: BinaryHeap<Reverse<(Millis, u64)>>,
    ended: usize,
}

impl Mirror {
    pub fn new(sort: SortColumn) -> Self {
        Mirror {
            rows: HashMap::new(),
            order: BTreeSet::new(),
            sort,
            reverse: false,
            filter: String::new(),
            needle: String::new(),
            leaving: BinaryHeap::new(),
            ended: 0,
        }
    }

    pub fn active(&self) -> usize {
        self.rows.len() - self.ended
    }

    /// Rows that pass the filter, ended ones included.
    pub fn shown(&self) -> usize {
        self.order.len()
    }

    pub fn sort(&self) -> (SortColumn, bool) {
        (self.sort, self.reverse)
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }

    pub fn get(&self, handle: Handle) -> Option<&Row> {
        self.rows.get(&handle)
    }

    /// Replaces everything with a snapshot's sessions.
    pub fn load(&mut self, sessions: Vec<SessionView>) {
        self.rows.clear();
        self.leaving.clear();
        self.ended = 0;
        self.rows.reserve(sessions.len());
        for session in sessions {
            self.rows.insert(
                session.handle,
                Row {
                    session,
                    ended: None,
                },
            );
        }
        self.rebuild();
    }

    fn key(&self, row: &Row) -> SortKey {
        let s = &row.session;
        match self.sort {
            SortColumn::Handle => SortKey::Number(s.handle.0 as i64 ^ i64::MIN),
            SortColumn::User => SortKey::Text(s.user.clone()),
            SortColumn::Origin => SortKey::Text(s.attribute("ip").unwrap_or("").into()),
            SortColumn::Started => SortKey::Number(s.created_at),
            SortColumn::LastSeen => SortKey::Number(s.last_seen_at),
            // An ended row's countdowns show "—": it goes by when it ended,
            // so ended rows stay together before every live deadline (and
            // one that just expired keeps its place at the top).
            SortColumn::Idle | SortColumn::Absolute if row.ended.is_some() => {
                SortKey::Number(row.ended.map_or(0, |(_, at)| at))
            }
            SortColumn::Idle => SortKey::Number(s.idle_expires_at),
            SortColumn::Absolute => SortKey::Number(s.absolute_expires_at),
            SortColumn::State => SortKey::Number(match row.ended {
                None => 0,
                Some((Ending::Expired(_), _)) => 1,
                Some((Ending::Revoked | Ending::Evicted(_), _)) => 2,
                Some((Ending::LoggedOut, _)) => 3,
            }),
        }
    }

    pub fn position(&self, handle: Handle) -> Option<Position> {
        let row = self.rows.get(&handle)?;
        self.passes(row).then(|| (self.key(row), handle))
    }

    /// Whether a row's user, handle or origin (ip or user agent, as the
    /// ORIGIN column shows them) holds the filter, in any case.
    fn passes(&self, row: &Row) -> bool {
        let needle = &self.needle;
        if needle.is_empty() {
            return true;
        }
        let s = &row.session;
        contains_lower(&s.user, needle)
            || handle_holds(s.handle, needle)
            || ["ip", "user_agent"]
                .iter()
                .any(|key| s.attribute(key).is_some_and(|v| contains_lower(v, needle)))
    }

    /// Re-sorts from scratch: only when the sort or the filter changes.
    fn rebuild(&mut self) {
        let mut positions: Vec<Position> = self
            .rows
            .values()
            .filter(|row| self.passes(row))
            .map(|row| (self.key(row), row.session.handle))
            .collect();
        positions.sort_unstable();
        self.order = positions.into_iter().collect();
    }

    pub fn set_sort(&mut self, sort: SortColumn, reverse: bool) {
        let resort = sort != self.sort;
        self.sort = sort;
        self.reverse = reverse;
        if resort {
            self.rebuild();
        }
    }

    pub fn set_filter(&mut self, filter: &str) {
        self.type_filter(filter);
        self.apply_filter();
    }

    /// Takes the filter's text as typed, without filtering the rows yet (a
    /// big table waits for a pause in the typing: see `App`); `apply_filter`
    /// makes the rows follow.
    pub fn type_filter(&mut self, filter: &str) {
        if filter != self.filter {
            self.filter = filter.to_owned();
        }
    }

    /// Whether the rows shown follow the filter's text.
    pub fn filter_applied(&self) -> bool {
        self.needle == needle_of(&self.filter)
    }

    /// Filters the rows by the filter's text: a rebuild of every row, once
    /// the needle changed.
    pub fn apply_filter(&mut self) {
        let needle = needle_of(&self.filter);
        if needle != self.needle {
            self.needle = needle;
            self.rebuild();
        }
    }

    /// Sessions held, live and lingering, whether shown or not.
    pub fn held(&self) -> usize {
        self.rows.len()
    }

    /// Applies one engine event. An ended session stays until the clock reads `leave_at`.
    pub fn apply(&mut self, event: &Event, leave_at: Millis) {
        let handle = event.session.handle;
        let old = self.position(handle);
        let ending = Ending::of(event);
        match self.rows.get_mut(&handle) {
            Some(row) if row.ended.is_some() => return,
            Some(row) => {
                row.session = event.session.clone();
                if let Some(ending) = ending {
                    row.ended = Some((ending, event.at));
                }
            }
            None if ending.is_some() => return,
            None => {
                self.rows.insert(
                    handle,
                    Row {
                        session: event.session.clone(),
                        ended: None,
                    },
                );
            }
        }
        if ending.is_some() {
            self.ended += 1;
            self.leaving.push(Reverse((leave_at, handle.0)));
        }
        if let Some(old) = old {
            self.order.remove(&old);
        }
        if let Some(new) = self.position(handle) {
            self.order.insert(new);
        }
    }

    /// Takes a newer view of a live session (from a command's answer, not an event).
    pub fn refresh(&mut self, session: SessionView) {
        let handle = session.handle;
        let Some(row) = self.rows.get(&handle) else {
            return;
        };
        if row.ended.is_some() || row.session.last_seen_at >= session.last_seen_at {
            return;
        }
        let old = self.position(handle);
        if let Some(row) = self.rows.get_mut(&handle) {
            row.session = session;
        }
        if let Some(old) = old {
            self.order.remove(&old);
        }
        if let Some(new) = self.position(handle) {
            self.order.insert(new);
        }
    }

    /// Brings every lingering row's leaving time to `latest` at the most: the
    /// clock slowed, and a linger is a few seconds of real time, not the
    /// clock time it was at the faster speed.
    pub fn cap_lingering(&mut self, latest: Millis) {
        if self.leaving.is_empty() {
            return;
        }
        self.leaving = self
            .leaving
            .drain()
            .map(|Reverse((due, handle))| Reverse((due.min(latest), handle)))
            .collect();
    }

    /// Keeps the ended rows of `handles` until clock time `until` at least:
    /// they ended while the view was frozen, and their linger starts when
    /// they are first shown.
    pub fn linger_until_at_least(&mut self, handles: &HashSet<Handle>, until: Millis) {
        if handles.is_empty() {
            return;
        }
        self.leaving = self
            .leaving
            .drain()
            .map(|Reverse((due, handle))| {
                let unseen = handles.contains(&Handle(handle));
                Reverse((if unseen { due.max(until) } else { due }, handle))
            })
            .collect();
    }

    /// Drops ended sessions whose linger is over by clock time `now`, but
    /// `keep` (whose details are open: it goes once they close); says
    /// whether any left.
    pub fn drop_lingering(&mut self, now: Millis, keep: Option<Handle>) -> bool {
        let mut any = false;
        let mut kept = None;
        while let Some(&Reverse((due, handle))) = self.leaving.peek() {
            if due > now {
                break;
            }
            self.leaving.pop();
            let handle = Handle(handle);
            if Some(handle) == keep {
                kept = Some(Reverse((due, handle.0)));
                continue;
            }
            if let Some(position) = self.position(handle) {
                self.order.remove(&position);
            }
            if self.rows.remove(&handle).is_some() {
                self.ended -= 1;
            }
            any = true;
        }
        self.leaving.extend(kept);
        any
    }

    /// Positions in display order, starting at `from` (inclusive) or at the top.
    pub fn walk<'a>(
        &'a self,
        from: Option<&Position>,
    ) -> Box<dyn Iterator<Item = &'a Position> + 'a> {
        match (from, self.reverse) {
            (None, false) => Box::new(self.order.iter()),
            (None, true) => Box::new(self.order.iter().rev()),
            (Some(p), false) => Box::new(self.order.range((Bound::Included(p), Bound::Unbounded))),
            (Some(p), true) => Box::new(
                self.order
                    .range((Bound::Unbounded, Bound::Included(p)))
                    .rev(),
            ),
        }
    }

    /// Positions in reverse display order, strictly before `from`.
    pub fn walk_back<'a>(&'a self, from: &Position) -> Box<dyn Iterator<Item = &'a Position> + 'a> {
        if self.reverse {
            Box::new(self.order.range((Bound::Excluded(from), Bound::Unbounded)))
        } else {
            Box::new(
                self.order
                    .range((Bound::Unbounded, Bound::Excluded(from)))
                    .rev(),
            )
        }
    }

    /// Whether `a` comes before `b` on screen.
    pub fn before(&self, a: &Position, b: &Position) -> bool {
        if self.reverse { a > b } else { a < b }
    }

    pub fn first(&self) -> Option<&Position> {
        self.walk(None).next()
    }

    pub fn last(&self) -> Option<&Position> {
        if self.reverse {
            self.order.first()
        } else {
            self.order.last()
        }
    }

    /// Every row (any order): for tests and sessions of one user.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    /// The live sessions of `user`: one pass over every row, for a key press
    /// (the detail view keeps the count up to date from events after that).
    pub fn live_sessions_of(&self, user: &str) -> usize {
        self.rows
            .values()
            .filter(|r| r.ended.is_none() && r.session.user == user)
            .count()
    }

    /// Whether `handle` is a live session here.
    pub fn is_live(&self, handle: Handle) -> bool {
        self.rows.get(&handle).is_some_and(|r| r.ended.is_none())
    }
}

/// What the filter's text is matched as: trimmed, in lower case.
fn needle_of(filter: &str) -> String {
    filter.trim().to_lowercase()
}

/// Whether a handle's 16 hex digits (as shown) hold `needle_lower`, without
/// formatting a string for every row.
fn handle_holds(handle: Handle, needle_lower: &str) -> bool {
    let needle = needle_lower.as_bytes();
    if needle.len() > 16 || !needle.iter().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let mut hex = [0u8; 16];
    for (i, digit) in hex.iter_mut().enumerate() {
        *digit = b"0123456789abcdef"[(handle.0 >> (60 - 4 * i) & 0xf) as usize];
    }
    needle.is_empty() || hex.windows(needle.len()).any(|w| w == needle)
}

fn contains_lower(haystack: &str, needle_lower: &str) -> bool {
    if haystack.is_ascii() {
        haystack
            .as_bytes()
            .windows(needle_lower.len().max(1))
            .any(|w| w.eq_ignore_ascii_case(needle_lower.as_bytes()))
            || needle_lower.is_empty()
    } else {
        haystack.to_lowercase().contains(needle_lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixture::{T0, session};

    #[test]
    fn a_handle_holds_a_needle_as_its_shown_digits_do() {
        for handle in [0, 1, 0x9f2c_4e1a_7b3d_5c60, u64::MAX, 0x000a_0000_0000_00f0] {
            let shown = Handle(handle).to_string();
            for needle in [
                "",
                "0",
                "9f2c",
                "5c60",
                "000a",
                "f0",
                "ff",
                "g",
                "9f2c4e1a7b3d5c60",
                "9f2c4e1a7b3d5c600",
                "ada",
            ] {
                assert_eq!(
                    handle_holds(Handle(handle), needle),
                    shown.contains(needle),
                    "{shown} {needle:?}"
                );
            }
        }
    }

    /// Typing on, back and anew shows the rows, in order, that a fresh
    /// filter gives.
    #[test]
    fn typing_shows_what_a_fresh_filter_shows() {
        let sessions: Vec<SessionView> = (0..300)
            .map(|n| {
                let user = ["ada", "adam", "bob", "madame"][n as usize % 4];
                session(
                    n,
                    user,
                    &format!("10.0.{}.{}", n % 7, n),
                    T0,
                    T0 + (n as i64 * 7919) % 600_000,
                )
            })
            .collect();
        let shown = |mirror: &Mirror| mirror.walk(None).map(|(_, h)| *h).collect::<Vec<_>>();
        let mut typed = Mirror::new(SortColumn::Idle);
        typed.load(sessions.clone());
        for filter in [
            "a", "ad", "ada", "adam", "ada", "", "10.0.3", "10.0.3.1", "9f",
        ] {
            typed.set_filter(filter);
            let mut fresh = Mirror::new(SortColumn::Idle);
            fresh.load(sessions.clone());
            fresh.set_filter(filter);
            assert_eq!(shown(&typed), shown(&fresh), "{filter:?}");
            assert!(!shown(&typed).is_empty() || filter == "9f", "{filter:?}");
        }
    }
}
