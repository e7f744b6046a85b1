//! The engine's core: every session rule, as plain synchronous code.
//!
//! Each operation takes the current time as an argument and first ends every
//! session whose deadline has passed, so no operation ever sees a session that
//! should already be over. Changes become events in the history ring and in an
//! outbox that the driver publishes. No I/O, no tokio, no clock reads here.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::attributes::{Attributes, Interner};
use super::clock::Millis;
use super::event::{Event, EventKind, History, TooOld};
use super::schedule::{Position, Slot, Track};
use super::session::{
    EndReason, ExpiryReason, MAX_SESSION_LIMIT, OnLimit, Policy, Record, SessionView, State,
};
use super::token::{
    Handle, PresentedToken, SelectorCodec, Token, TokenMint, VerifierHash, hashes_match,
};
use super::users::{NIL, Users};

mod restore;

/// Longest user name, in bytes.
pub const MAX_USER_LEN: usize = 256;
/// Most attributes a session may carry, and the longest key and value.
pub const MAX_ATTRIBUTES: usize = 32;
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 64;
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Unknown, malformed and ended tokens all get this one answer, so the
    /// answer tells an attacker nothing.
    #[error("the token is not valid for any active session")]
    InvalidToken,
    #[error("no active session has handle {0}")]
    NoSuchSession(Handle),
    #[error("invalid user: {0}")]
    InvalidUser(&'static str),
    #[error("invalid attributes: {0}")]
    InvalidAttributes(String),
    #[error("{field} {value} is outside the allowed range {min} to {max}")]
    TimeoutOutOfBounds {
        field: &'static str,
        value: String,
        min: String,
        max: String,
    },
    /// The message does not repeat `value`: the API reads a number too large
    /// or too small to hold as the nearest `u32`, which is not what was sent.
    #[error("max_sessions_per_user must be a whole number from 1 to {max} on this server")]
    LimitOutOfBounds { value: u32, max: u32 },
    /// The login would pass the limit and the policy says to refuse it.
    #[error(
        "the user already has {limit} active session{s}, the most allowed; end one first",
        s = if *limit == 1 { "" } else { "s" }
    )]
    SessionLimit { limit: u32 },
}

/// What a login asks for.
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub user: String,
    pub attributes: Option<Attributes>,
    pub idle_timeout: Option<Duration>,
    pub absolute_timeout: Option<Duration>,
    /// This login's own limit on the user's sessions, within the policy's.
    pub max_sessions_per_user: Option<u32>,
}

impl Login {
    pub fn user(user: impl Into<String>) -> Self {
        Login {
            user: user.into(),
            ..Login::default()
        }
    }
}

/// A presented token, read, whose session has been asked for (`Engine::locate`).
/// Holds the token's secret part, so it has no `Debug`.
pub struct Located {
    presented: Option<PresentedToken>,
    slot: Option<Slot>,
}

/// One page of the session listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub user: Option<String>,
    pub limit: usize,
    pub cursor: Option<Cursor>,
}

/// Where a listing page ended; pass it back to get the next page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(Position);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Cursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        s.parse().map(Cursor)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Page {
    pub sessions: Vec<SessionView>,
    pub next_cursor: Option<Cursor>,
}

/// A user's own sessions, as the holder of one of them sees them.
#[derive(Debug, Clone)]
pub struct Mine {
    /// The session whose token asked.
    pub current: Handle,
    /// Every live session of the same user, oldest first.
    pub sessions: Vec<SessionView>,
}

/// Counters since the engine started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub logins: u64,
    pub touches: u64,
    pub renewals: u64,
    pub logged_out: u64,
    /// Every `revoked` session, evicted ones included.
    pub revoked: u64,
    /// Of the revoked, those a login over the user's session limit pushed out.
    #[serde(default)]
    pub evicted: u64,
    pub expired_idle: u64,
    pub expired_absolute: u64,
    pub expired_closing_time: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub active: u64,
    pub peak: u64,
    pub totals: Totals,
    pub last_seq: u64,
}

/// What a session's closing event says besides the session itself.
struct Ending {
    kind: EventKind,
    reason: Option<EndReason>,
    deadline: Option<Millis>,
    actor: Option<CompactString>,
    limit: Option<u32>,
}

impl Ending {
    fn new(kind: EventKind) -> Self {
        Ending {
            kind,
            reason: None,
            deadline: None,
            actor: None,
            limit: None,
        }
    }

    fn revoked_by(actor: impl Into<CompactString>) -> Self {
        Ending {
            actor: Some(actor.into()),
            ..Ending::new(EventKind::Revoked)
        }
    }
}

pub struct Engine {
    policy: Policy,
    /// Live sessions by slot; a selector decodes to its slot.
    records: Vec<Option<Record>>,
    /// Vacant slots, with the generation their next session gets.
    free: Vec<(Slot, u32)>,
    /// The generation a never-used slot starts at: above every generation a
    /// restored engine's predecessors issued, so no handle is ever issued twice.
    fresh_generation: u32,
    live: usize,
    selectors: SelectorCodec,
    /// Each user's live sessions, oldest first.
    users: Users,
    /// Shared copies of attribute keys and long values.
    interner: Interner,
    /// Coalesced touches still to announce: (when, slot, selector), soonest first.
    pending_touches: BinaryHeap<Reverse<(Millis, Slot, u64)>>,
    /// Live sessions by idle deadline, and by absolute deadline.
    idle: Track,
    absolute: Track,
    /// Engine time never runs backwards, even if the clock does.
    latest: Millis,
    /// The next daily closing instant, if a closing time is set.
    next_closing: Option<Millis>,
    mint: TokenMint,
    history: History,
    outbox: Vec<Arc<Event>>,
    totals: Totals,
    peak: u64,
    /// Compared against when a token's selector is unknown, so a miss costs what a hit does.
    decoy_hash: VerifierHash,
}

impl Engine {
    pub fn new(policy: Policy, history_capacity: usize, now: Millis) -> Self {
        let next_closing = policy
            .closing_time
            .map(|c| c.next_after(now, policy.time_zone));
        Engine {
            policy,
            records: Vec::new(),
            free: Vec::new(),
            fresh_generation: 0,
            live: 0,
            selectors: SelectorCodec::default(),
            users: Users::default(),
            interner: Interner::default(),
            pending_touches: BinaryHeap::new(),
            idle: Track::default(),
            absolute: Track::default(),
            latest: now,
            next_closing,
            mint: TokenMint::default(),
            history: History::new(history_capacity),
            outbox: Vec::new(),
            totals: Totals::default(),
            peak: 0,
            decoy_hash: [0xA5; 32],
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn active(&self) -> usize {
        self.live
    }

    /// The next daily closing instant, when a closing time is set.
    pub fn next_closing(&self) -> Option<Millis> {
        self.next_closing
    }

    /// Starts a session; the token is returned here and nowhere else.
    pub fn login(
        &mut self,
        now: Millis,
        login: Login,
    ) -> Result<(Token, SessionView), EngineError> {
        let now = self.catch_up(now);
        let user = validate_user(&login.user)?;
        let attributes = validate_attributes(login.attributes)?;
        let idle = pick_timeout(
            "idle_timeout",
            login.idle_timeout,
            self.policy.idle_timeout,
            self.policy.idle_bounds,
        )?;
        let absolute = pick_timeout(
            "absolute_timeout",
            login.absolute_timeout,
            self.policy.absolute_timeout,
            self.policy.absolute_bounds,
        )?;
        let limit = self.pick_limit(login.max_sessions_per_user)?;
        // Everything that can refuse the login is checked before anything changes.
        let held = self.users.id(&user).map_or(0, |id| self.users.count(id));
        if let Some(limit) = limit
            && held >= limit
        {
            match self.policy.on_limit {
                OnLimit::Refuse => return Err(EngineError::SessionLimit { limit }),
                OnLimit::EvictOldest => self.evict(now, &user, held + 1 - limit, limit),
            }
        }
        let attributes = self.interner.intern(attributes);

        let (slot, generation) = self
            .free
            .pop()
            .unwrap_or((self.records.len() as Slot, self.fresh_generation));
        let selector = self.selectors.encode(slot, generation);
        let (token, verifier_hash) = self.mint.issue(selector);
        let record = Record {
            selector,
            verifier_hash,
            user: 0,
            user_prev: NIL,
            user_next: NIL,
            attributes,
            created: now,
            last_seen: now,
            idle_timeout_ms: u32::try_from(idle).unwrap_or(u32::MAX),
            touch_pending: false,
            absolute_deadline: now.saturating_add(absolute),
            last_touch_event: now,
            last_event: 0,
        };
        if slot as usize == self.records.len() {
            super::huge_pages::reserve_one(&mut self.records);
            self.records.push(Some(record));
        } else {
            self.records[slot as usize] = Some(record);
        }
        self.users.attach(user, slot, &mut self.records);
        self.live += 1;
        let record = self.record(slot);
        let (idle_deadline, absolute_deadline) = (record.idle_deadline(), record.absolute_deadline);
        self.idle.insert(slot, idle, idle_deadline);
        self.absolute.insert(slot, absolute, absolute_deadline);
        self.totals.logins += 1;
        self.peak = self.peak.max(self.live as u64);
        let view = self.view(slot, State::Active);
        self.emit(slot, Event::new(now, EventKind::Created, view.clone()));
        Ok((token, view))
    }

    /// Records activity on the session behind `token`.
    pub fn touch(&mut self, now: Millis, token: &str) -> Result<SessionView, EngineError> {
        let located = self.locate(token);
        self.touch_located(now, located)
    }

    /// `touch` of a token `locate` has read.
    pub fn touch_located(
        &mut self,
        now: Millis,
        located: Located,
    ) -> Result<SessionView, EngineError> {
        let now = self.catch_up(now);
        let slot = self.authenticate(located)?;
        Ok(self.touch_slot(now, slot, None))
    }

    /// Records activity on a session by handle: an operator's or simulator's touch.
    pub fn touch_handle(
        &mut self,
        now: Millis,
        handle: Handle,
        actor: &str,
    ) -> Result<SessionView, EngineError> {
        let now = self.catch_up(now);
        let slot = self.slot_of(handle)?;
        Ok(self.touch_slot(now, slot, Some(actor)))
    }

    fn touch_slot(&mut self, now: Millis, slot: Slot, actor: Option<&str>) -> SessionView {
        // An operator's touch is an act worth its own event, with its actor:
        // never coalesced.
        let announce = self.mark_seen(now, slot, actor.is_some());
        self.totals.touches += 1;
        let view = self.view(slot, State::Active);
        if announce {
            let actor = actor.map(CompactString::from);
            self.emit(
                slot,
                Event {
                    actor,
                    ..Event::new(now, EventKind::Touched, view.clone())
                },
            );
        }
        view
    }

    /// Moves the session's idle deadline for activity at `now`. Returns whether
    /// a `touched` event is due now. Events are coalesced to at most one per
    /// `touch_event_interval`: a touch inside the interval is announced when
    /// the interval ends, so watchers never keep a stale deadline for longer.
    /// A `forced` touch is announced now whatever the interval.
    fn mark_seen(&mut self, now: Millis, slot: Slot, forced: bool) -> bool {
        let record = self.records[slot as usize]
            .as_mut()
            .expect("indexed slots are live");
        // Never coalesce for longer than the session's own idle timeout, so a
        // watcher hears of a touch before the old deadline passes.
        let interval = (self.policy.touch_event_interval.as_millis() as i64)
            .min(i64::from(record.idle_timeout_ms));
        record.last_seen = record.last_seen.max(now);
        let idle_deadline = record.idle_deadline();
        let announce = forced || now - record.last_touch_event >= interval;
        let mut deferred = None;
        if announce {
            record.last_touch_event = now;
            record.touch_pending = false;
        } else if !record.touch_pending {
            record.touch_pending = true;
            deferred = Some((record.last_touch_event + interval, record.selector));
        }
        self.idle.reschedule(slot, idle_deadline);
        if let Some((due, selector)) = deferred {
            self.pending_touches.push(Reverse((due, slot, selector)));
        }
        announce
    }

    /// Announces the coalesced touches whose interval has ended by `now`.
    fn announce_due_touches(&mut self, now: Millis) {
        while let Some(&Reverse((due, slot, selector))) = self.pending_touches.peek() {
            if due > now {
                break;
            }
            self.pending_touches.pop();
            let live = self.live_slot(selector) == Some(slot);
            if !live || !self.record(slot).touch_pending {
                continue;
            }
            let record = self.record_mut(slot);
            record.touch_pending = false;
            record.last_touch_event = now;
            let view = self.view(slot, State::Active);
            self.emit(slot, Event::new(now, EventKind::Touched, view));
        }
    }

    /// Replaces the token of a session: same handle, new secret; the old token dies.
    /// Renewing is activity, announced by the `renewed` event alone.
    pub fn renew(&mut self, now: Millis, token: &str) -> Result<(Token, SessionView), EngineError> {
        let now = self.catch_up(now);
        let slot = self.authenticate(self.locate(token))?;
        let selector = self.record(slot).selector;
        let (token, hash) = self.mint.issue(selector);
        self.record_mut(slot).verifier_hash = hash;
        self.totals.renewals += 1;
        self.mark_seen(now, slot, false);
        let record = self.record_mut(slot);
        record.last_touch_event = now;
        // The renewal announces this activity; nothing is left to announce.
        record.touch_pending = false;
        let view = self.view(slot, State::Active);
        self.emit(slot, Event::new(now, EventKind::Renewed, view.clone()));
        Ok((token, view))
    }

    /// Ends the session behind `token` at the user's request.
    pub fn logout(&mut self, now: Millis, token: &str) -> Result<(), EngineError> {
        let now = self.catch_up(now);
        let slot = self.authenticate(self.locate(token))?;
        self.totals.logged_out += 1;
        self.end(now, slot, Ending::new(EventKind::LoggedOut));
        Ok(())
    }

    /// Ends a session on an operator's order.
    pub fn revoke(&mut self, now: Millis, handle: Handle, actor: &str) -> Result<(), EngineError> {
        let now = self.catch_up(now);
        let slot = self.slot_of(handle)?;
        self.totals.revoked += 1;
        self.end(now, slot, Ending::revoked_by(actor));
        Ok(())
    }

    /// Ends every session of `user`; returns how many there were.
    /// Costs the user's sessions, through the per-user index.
    pub fn revoke_user(&mut self, now: Millis, user: &str, actor: &str) -> usize {
        let now = self.catch_up(now);
        let handles = self.user_handles(user);
        self.revoke_handles(now, &handles, actor)
    }

    /// The handles of `user`'s live sessions, oldest first.
    pub fn user_handles(&self, user: &str) -> Vec<Handle> {
        let Some(id) = self.users.id(user) else {
            return Vec::new();
        };
        self.users
            .slots(id, &self.records)
            .map(|slot| Handle(self.record(slot).selector))
            .collect()
    }

    /// How many live sessions `user` holds.
    pub fn user_session_count(&self, user: &str) -> usize {
        self.users
            .id(user)
            .map_or(0, |id| self.users.count(id) as usize)
    }

    /// Revokes those of `handles` still live; returns how many it ended.
    pub fn revoke_handles(&mut self, now: Millis, handles: &[Handle], actor: &str) -> usize {
        let now = self.catch_up(now);
        let mut ended = 0;
        for &handle in handles {
            if let Some(slot) = self.live_slot(handle.0) {
                self.totals.revoked += 1;
                self.end(now, slot, Ending::revoked_by(actor));
                ended += 1;
            }
        }
        ended
    }

    /// Ends the `n` oldest sessions of `user` to make room under `limit`.
    fn evict(&mut self, now: Millis, user: &str, n: u32, limit: u32) {
        let Some(id) = self.users.id(user) else {
            return;
        };
        for _ in 0..n {
            let oldest = self.users.oldest(id);
            self.totals.revoked += 1;
            self.totals.evicted += 1;
            let ending = Ending {
                reason: Some(EndReason::Evicted),
                limit: Some(limit),
                ..Ending::new(EventKind::Revoked)
            };
            self.end(now, oldest, ending);
        }
    }

    /// The live sessions of the user behind `token`, and which one is the
    /// caller's. Showing the token is activity: the caller's session is
    /// touched first, as every request that shows a token touches it.
    pub fn mine(&mut self, now: Millis, token: &str) -> Result<Mine, EngineError> {
        let now = self.catch_up(now);
        let caller = self.authenticate(self.locate(token))?;
        self.touch_slot(now, caller, None);
        let id = self.record(caller).user;
        let sessions = self
            .users
            .slots(id, &self.records)
            .map(|slot| self.view(slot, State::Active))
            .collect();
        Ok(Mine {
            current: Handle(self.record(caller).selector),
            sessions,
        })
    }

    /// Ends one of the caller's user's sessions, and touches the caller's
    /// (unless it was the one ended). A handle of another user's session gets
    /// the same answer as an unknown one, and changes nothing.
    pub fn revoke_mine(
        &mut self,
        now: Millis,
        token: &str,
        handle: Handle,
    ) -> Result<(), EngineError> {
        let now = self.catch_up(now);
        let caller = self.authenticate(self.locate(token))?;
        let slot = self.slot_of(handle)?;
        if self.record(slot).user != self.record(caller).user {
            return Err(EngineError::NoSuchSession(handle));
        }
        let actor = self.session_actor(caller);
        self.totals.revoked += 1;
        self.end(now, slot, Ending::revoked_by(actor));
        if slot != caller {
            self.touch_slot(now, caller, None);
        }
        Ok(())
    }

    /// Ends every session of the caller's user except the caller's own, and
    /// touches the caller's; returns how many it ended.
    pub fn revoke_others(&mut self, now: Millis, token: &str) -> Result<usize, EngineError> {
        let now = self.catch_up(now);
        let caller = self.authenticate(self.locate(token))?;
        let id = self.record(caller).user;
        let others: Vec<Slot> = self
            .users
            .slots(id, &self.records)
            .filter(|&slot| slot != caller)
            .collect();
        let actor = self.session_actor(caller);
        for &slot in &others {
            self.totals.revoked += 1;
            self.end(now, slot, Ending::revoked_by(actor.clone()));
        }
        self.touch_slot(now, caller, None);
        Ok(others.len())
    }

    /// A user acting through one session is named in events by its handle.
    fn session_actor(&self, slot: Slot) -> CompactString {
        compact_str::format_compact!("session {}", Handle(self.record(slot).selector))
    }

    /// Sets or clears the daily closing time from `now` on. A lesson sets it
    /// while sessions run; every session still live at the next closing
    /// instant ends there. Returns that instant.
    pub fn set_closing_time(
        &mut self,
        now: Millis,
        closing: Option<super::session::ClosingTime>,
    ) -> Option<Millis> {
        let now = self.catch_up(now);
        self.policy.closing_time = closing;
        self.next_closing = closing.map(|c| c.next_after(now, self.policy.time_zone));
        self.next_closing
    }

    pub fn get(&self, handle: Handle) -> Option<SessionView> {
        let slot = self.slot_of(handle).ok()?;
        Some(self.view(slot, State::Active))
    }

    /// Active sessions in idle-deadline order, one page at a time.
    pub fn list(&mut self, query: &ListQuery) -> Page {
        self.idle.settle();
        if let Some(user) = &query.user {
            return self.list_user(user, query);
        }
        let limit = query.limit.max(1);
        let mut sessions = Vec::with_capacity(limit.min(1024));
        let mut walk = self.idle.in_order(query.cursor.map(|c| c.0));
        let mut last = None;
        for (position, slot) in walk.by_ref() {
            sessions.push(self.view(slot, State::Active));
            last = Some(position);
            if sessions.len() == limit {
                break;
            }
        }
        let next_cursor = match last {
            Some(last) if !walk.is_done() => {
                // So the next page resumes each lane where this one stopped.
                self.idle.remember(last, &walk);
                Some(Cursor(last))
            }
            _ => None,
        };
        Page {
            sessions,
            next_cursor,
        }
    }

    /// One user's sessions in idle-deadline order: the same order and cursors
    /// as the full listing, at the cost of the user's sessions alone.
    fn list_user(&self, user: &str, query: &ListQuery) -> Page {
        let Some(id) = self.users.id(user) else {
            return Page::default();
        };
        let mut rows: Vec<(Position, Slot)> = self
            .users
            .slots(id, &self.records)
            .map(|slot| (self.idle.position(slot), slot))
            .collect();
        rows.sort_unstable_by(|a, b| a.0.order(&b.0));
        let start = match query.cursor {
            Some(Cursor(after)) => rows.partition_point(|(p, _)| p.order(&after).is_le()),
            None => 0,
        };
        let limit = query.limit.max(1);
        let page = &rows[start..rows.len().min(start.saturating_add(limit))];
        let more = start + page.len() < rows.len();
        Page {
            sessions: page
                .iter()
                .map(|&(_, slot)| self.view(slot, State::Active))
                .collect(),
            next_cursor: more.then(|| Cursor(page[page.len() - 1].0)),
        }
    }

    pub fn stats(&self) -> Stats {
        Stats {
            active: self.live as u64,
            peak: self.peak,
            totals: self.totals.clone(),
            last_seq: self.history.last_seq(),
        }
    }

    /// Events after `seq`, from the history ring.
    pub fn events_since(&self, seq: u64) -> Result<Vec<Event>, TooOld> {
        self.history.since(seq)
    }

    pub fn last_seq(&self) -> u64 {
        self.history.last_seq()
    }

    /// The events of a live session that the history still holds, oldest
    /// first; none for a handle that names no live session. Costs the
    /// session's events, not the history's.
    pub fn session_events(&self, handle: Handle) -> Vec<Event> {
        let Ok(slot) = self.slot_of(handle) else {
            return Vec::new();
        };
        let newest = self.history.expand(self.record(slot).last_event);
        self.history.of_session(handle, newest)
    }

    /// How many session slots there are, live or vacant: a snapshot walks them.
    pub(crate) fn slot_count(&self) -> usize {
        self.records.len()
    }

    /// The live session in `slot`, if there is one.
    pub(crate) fn live_view(&self, slot: Slot) -> Option<SessionView> {
        self.records[slot as usize].as_ref()?;
        Some(self.view(slot, State::Active))
    }

    /// The slot a handle names, whether or not its session is still live.
    pub(crate) fn slot_of_handle(&self, handle: Handle) -> Slot {
        self.selectors.decode(handle.0).0
    }

    /// Hands over the events made since the last call.
    pub fn take_events(&mut self) -> Vec<Arc<Event>> {
        std::mem::take(&mut self.outbox)
    }

    /// Returns an emptied `take_events` vector, so the next events need no allocation.
    pub fn give_back_outbox(&mut self, mut emptied: Vec<Arc<Event>>) {
        // A burst's large vector is let go rather than held for good.
        if self.outbox.is_empty() && (self.outbox.capacity()..=1024).contains(&emptied.capacity()) {
            emptied.clear();
            self.outbox = emptied;
        }
    }

    /// When the next session will end, if any is live.
    pub fn next_deadline(&self) -> Option<Millis> {
        let touch = self.pending_touches.peek().map(|Reverse((due, _, _))| *due);
        [
            self.next_expiry().map(|(at, _, _)| at),
            self.next_closing,
            touch,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The earliest idle or absolute deadline, its reason and its session.
    /// On a tie the absolute limit is named, as it is the harder rule.
    fn next_expiry(&self) -> Option<(Millis, ExpiryReason, Slot)> {
        let idle = self.idle.first();
        let absolute = self.absolute.first();
        match (idle, absolute) {
            (Some((i, _)), Some((a, slot))) if a <= i => Some((a, ExpiryReason::Absolute, slot)),
            (Some((i, slot)), _) => Some((i, ExpiryReason::Idle, slot)),
            (None, Some((a, slot))) => Some((a, ExpiryReason::Absolute, slot)),
            (None, None) => None,
        }
    }

    /// Engine time for an operation at `now`: never earlier than any before it.
    /// Ends what is due by then, so no operation sees a session past its deadline.
    fn catch_up(&mut self, now: Millis) -> Millis {
        let now = now.max(self.latest);
        self.expire_due(now);
        now
    }

    /// Ends every session whose deadline is at or before `now`; returns how many ended.
    pub fn expire_due(&mut self, now: Millis) -> usize {
        self.expire_due_at_most(now, usize::MAX)
    }

    /// Like `expire_due`, but stops after `max` sessions so a caller can yield.
    pub fn expire_due_at_most(&mut self, now: Millis, max: usize) -> usize {
        let now = now.max(self.latest);
        self.latest = now;
        self.announce_due_touches(now);
        let mut ended = 0;
        while ended < max {
            let next = self.next_expiry();
            if let Some(closing) = self.next_closing.filter(|&c| c <= now) {
                match next {
                    // Every session still live at the closing instant ends there.
                    Some((deadline, _, slot)) if closing <= deadline => {
                        self.expire(now, slot, ExpiryReason::ClosingTime, closing)
                    }
                    Some((deadline, reason, slot)) => self.expire(now, slot, reason, deadline),
                    None => {
                        self.next_closing = self
                            .policy
                            .closing_time
                            .map(|c| c.next_after(now, self.policy.time_zone));
                        continue;
                    }
                }
            } else {
                match next {
                    Some((deadline, reason, slot)) if deadline <= now => {
                        self.expire(now, slot, reason, deadline)
                    }
                    _ => break,
                }
            }
            ended += 1;
        }
        ended
    }

    fn expire(&mut self, now: Millis, slot: Slot, reason: ExpiryReason, deadline: Millis) {
        match reason {
            EndReason::Idle => self.totals.expired_idle += 1,
            EndReason::Absolute => self.totals.expired_absolute += 1,
            EndReason::ClosingTime => self.totals.expired_closing_time += 1,
            EndReason::Evicted => unreachable!("eviction is not an expiry"),
        }
        let ending = Ending {
            reason: Some(reason),
            deadline: Some(deadline),
            ..Ending::new(EventKind::Expired)
        };
        self.end(now, slot, ending);
    }

    fn end(&mut self, now: Millis, slot: Slot, ending: Ending) {
        let state = match ending.kind {
            EventKind::LoggedOut => State::LoggedOut,
            EventKind::Revoked => State::Revoked,
            _ => State::Expired,
        };
        let view = self.view(slot, state);
        self.users.detach(slot, &mut self.records);
        let record = self.records[slot as usize]
            .take()
            .expect("ending a live slot");
        self.idle.remove(slot);
        self.absolute.remove(slot);
        self.live -= 1;
        let (_, generation) = self.selectors.decode(record.selector);
        self.free.push((slot, generation.wrapping_add(1)));
        let session_prev = self.history.expand(record.last_event);
        self.keep_event(
            Event {
                reason: ending.reason,
                deadline: ending.deadline,
                actor: ending.actor,
                limit: ending.limit,
                ..Event::new(now, ending.kind, view)
            },
            session_prev,
        );
    }

    /// Numbers the event of the live session in `slot`, keeps it in the
    /// history and queues it for publishing.
    fn emit(&mut self, slot: Slot, event: Event) {
        let record = self.records[slot as usize]
            .as_mut()
            .expect("an event of a live session");
        let session_prev = self.history.expand(record.last_event);
        // Truncated on purpose: `History::expand` restores the rest.
        record.last_event = (self.history.last_seq() + 1) as u32;
        self.keep_event(event, session_prev);
    }

    /// Numbers the event, keeps it in the history and queues it for publishing.
    fn keep_event(&mut self, event: Event, session_prev: u64) {
        let event = self.history.push(event, session_prev).clone();
        self.outbox.push(event);
    }

    /// Reads `token` and starts loading the session it names: at a million
    /// sessions its record and deadline entry are far away in memory, so
    /// they are asked for first and arrive while the caller reads the clock,
    /// the engine ends what is due and the verifier is hashed (see `cache`).
    /// A hint only: `authenticate` decides, after all that.
    pub fn locate(&self, token: &str) -> Located {
        let presented = PresentedToken::parse(token);
        let slot = presented.as_ref().map(|p| {
            let (slot, _) = self.selectors.decode(p.selector);
            self.prefetch_slot(slot);
            slot
        });
        Located { presented, slot }
    }

    fn authenticate(&self, located: Located) -> Result<Slot, EngineError> {
        let Located { presented, slot } = located;
        // Hash even when there is nothing to compare against, so a miss costs what a hit does.
        let hash = presented.as_ref().map(PresentedToken::verifier_hash);
        let slot = presented
            .as_ref()
            .zip(slot)
            .and_then(|(p, slot)| self.live_at(p.selector, slot));
        if let Some(slot) = slot {
            // What the operation reads next.
            let record = self.record(slot);
            self.users.prefetch(record.user);
            record.attributes.prefetch();
            self.idle.prefetch_neighbours(slot);
        }
        let stored = slot.map_or(&self.decoy_hash, |slot| &self.record(slot).verifier_hash);
        let verified = hash.is_some_and(|hash| hashes_match(&hash, stored));
        match slot {
            Some(slot) if verified => Ok(slot),
            _ => Err(EngineError::InvalidToken),
        }
    }

    /// Starts loading what finding the session in `slot` reads: its record
    /// and its idle deadline entry.
    fn prefetch_slot(&self, slot: Slot) {
        if let Some(record) = self.records.get(slot as usize) {
            super::cache::prefetch_all(record);
        }
        self.idle.prefetch(slot);
    }

    /// The slot of the live session with this selector, if there is one.
    fn live_slot(&self, selector: u64) -> Option<Slot> {
        let (slot, _) = self.selectors.decode(selector);
        self.prefetch_slot(slot);
        self.live_at(selector, slot)
    }

    /// `slot`, if the live session there has this selector.
    fn live_at(&self, selector: u64, slot: Slot) -> Option<Slot> {
        match self.records.get(slot as usize) {
            Some(Some(record)) if record.selector == selector => Some(slot),
            _ => None,
        }
    }

    fn slot_of(&self, handle: Handle) -> Result<Slot, EngineError> {
        self.live_slot(handle.0)
            .ok_or(EngineError::NoSuchSession(handle))
    }

    fn record(&self, slot: Slot) -> &Record {
        self.records[slot as usize]
            .as_ref()
            .expect("indexed slots are live")
    }

    fn record_mut(&mut self, slot: Slot) -> &mut Record {
        self.records[slot as usize]
            .as_mut()
            .expect("indexed slots are live")
    }

    fn view(&self, slot: Slot, state: State) -> SessionView {
        let record = self.record(slot);
        record.view(self.users.name(record.user), self.next_closing, state)
    }

    fn pick_limit(&self, asked: Option<u32>) -> Result<Option<u32>, EngineError> {
        pick_limit(asked, self.policy.max_sessions_per_user)
    }
}

/// The per-user session limit for a login: its own if given (within the
/// policy's `max`), else the policy's.
pub(crate) fn pick_limit(asked: Option<u32>, max: Option<u32>) -> Result<Option<u32>, EngineError> {
    let Some(asked) = asked else {
        return Ok(max);
    };
    let ceiling = max.unwrap_or(MAX_SESSION_LIMIT);
    if asked == 0 || asked > ceiling {
        return Err(EngineError::LimitOutOfBounds {
            value: asked,
            max: ceiling,
        });
    }
    Ok(Some(asked))
}

/// A login's own timeout in milliseconds: the policy's default, or the one
/// asked for if it lies within the bounds.
pub(crate) fn pick_timeout(
    field: &'static str,
    asked: Option<Duration>,
    default: Duration,
    bounds: super::session::Bounds,
) -> Result<i64, EngineError> {
    let Some(asked) = asked else {
        return Ok(default.as_millis() as i64);
    };
    if !bounds.contains(asked) {
        return Err(EngineError::TimeoutOutOfBounds {
            field,
            value: humantime::format_duration(asked).to_string(),
            min: humantime::format_duration(bounds.min).to_string(),
            max: humantime::format_duration(bounds.max).to_string(),
        });
    }
    Ok(asked.as_millis() as i64)
}

pub(crate) fn validate_user(user: &str) -> Result<CompactString, EngineError> {
    if user.trim().is_empty() {
        return Err(EngineError::InvalidUser("the user name is empty"));
    }
    if user.len() > MAX_USER_LEN {
        return Err(EngineError::InvalidUser(
            "the user name is longer than 256 bytes",
        ));
    }
    Ok(CompactString::from(user))
}

pub(crate) fn validate_attributes(
    attributes: Option<Attributes>,
) -> Result<Attributes, EngineError> {
    let Some(attributes) = attributes else {
        return Ok(Attributes::new());
    };
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(EngineError::InvalidAttributes(format!(
            "at most {MAX_ATTRIBUTES} attributes are allowed, got {}",
            attributes.len()
        )));
    }
    for (key, value) in &attributes {
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_LEN {
            return Err(EngineError::InvalidAttributes(format!(
                "attribute names must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes"
            )));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_LEN {
            return Err(EngineError::InvalidAttributes(format!(
                "attribute {key:?} is longer than {MAX_ATTRIBUTE_VALUE_LEN} bytes"
            )));
        }
    }
    Ok(attributes)
}
