//! The dashboard's state and its one way to change: `App::update(Msg)`.
//!
//! Input, source updates and ticks arrive as `Msg`s; `update` changes the
//! state and returns `Command`s for the event loop (source calls, quit). It
//! does no I/O and reads no clock: time arrives in `Msg::Tick`. Views read
//! `&App` and never change it. What keys and the mouse do is in `input`.

use std::collections::{HashSet, VecDeque};

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::activity::Activity;
use super::keymap::{Action, KeyMap};
use super::lesson::LessonState;
use super::mirror::{Mirror, Position, SortColumn};
use super::msg::{Command, Msg};
use super::theme::Theme;
use super::view;
use crate::config::Config;
use crate::engine::{Event, EventKind, Handle, Millis, SessionView};
use crate::source::{
    ClockReading, CommandOutcome, ConnectionState, SourceInfo, SourceSnapshot, SourceUpdate,
};

/// A table of this many rows or more is filtered once the typing pauses.
pub(super) const FILTER_PAUSE_ROWS: usize = 50_000;
/// The pause in typing (real ms) after which such a table is filtered.
pub(super) const FILTER_PAUSE_MS: u64 = 150;
/// Logins a burst (`N`) simulates.
pub const BURST: usize = 10;
/// Longest name the login prompt accepts.
pub(super) const MAX_PROMPT: usize = 64;
/// How long a status message stays in the footer (real ms).
const STATUS_MS: u64 = 4_000;

/// The sort a terminal too narrow for the chosen sort's column shows.
const NARROW_SORT: (SortColumn, bool) = (SortColumn::Idle, false);
/// Real milliseconds a config warning stays in the footer at start.
const WARNING_MS: u64 = 15_000;
/// Updates a frozen view holds back at most; then it goes live on its own,
/// rather than let a busy server fill memory while nobody looks.
pub const MAX_HELD: usize = 200_000;

/// Dashboard settings from `[dashboard]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub linger_ms: u64,
    pub warn_below: f64,
    pub critical_below: f64,
    pub event_log: usize,
    pub show_touches: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        let d = &config.dashboard;
        Settings {
            linger_ms: d.linger.as_millis() as u64,
            warn_below: d.warn_below,
            critical_below: d.critical_below,
            event_log: d.event_log,
            show_touches: d.show_touches,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Help,
    /// Typing a filter; it applies as you type.
    Filter,
    /// Typing the user name for a simulated login. A `suggested` name is
    /// replaced by the first key typed, as a selected text would be.
    Prompt {
        text: String,
        suggested: bool,
    },
    Confirm(Confirm),
}

impl Mode {
    /// A login prompt holding what the user typed.
    pub fn prompt(text: String) -> Mode {
        Mode::Prompt {
            text,
            suggested: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Confirm {
    Revoke {
        handle: Handle,
        user: String,
    },
    RevokeUser {
        user: String,
        sessions: usize,
    },
    /// Simulated logins that would be real sessions on a server.
    Burst {
        count: usize,
    },
}

/// A burst's logins still to be answered, and its refusals so far.
#[derive(Debug, Default)]
pub(super) struct Burst {
    pub(super) left: usize,
    pub(super) failed: usize,
    pub(super) error: String,
}

/// The detail view of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub handle: Handle,
    /// Its events, oldest first: the source's history, then what arrived since.
    pub events: Vec<Event>,
    pub loading: bool,
    /// Whose session it is, and how many live sessions that user has now:
    /// counted once when the view opens, then kept up to date by events.
    pub user: String,
    pub user_live: usize,
}

impl Detail {
    /// The detail view of `session`, its events still to load.
    pub fn of(mirror: &Mirror, session: &crate::engine::SessionView) -> Self {
        Detail {
            handle: session.handle,
            events: Vec::new(),
            loading: true,
            user: session.user.to_string(),
            user_live: mirror.live_sessions_of(&session.user),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    pub text: String,
    pub error: bool,
    pub until_ms: u64,
}

pub struct App {
    pub info: SourceInfo,
    pub keymap: KeyMap,
    pub theme: Theme,
    pub settings: Settings,
    pub clock: ClockReading,
    /// Real milliseconds since the dashboard started.
    pub real_ms: u64,
    /// When typed filter text is to be applied to a big table (real ms).
    pub(super) filter_due: Option<u64>,
    /// Wall-clock time when the dashboard started (the header shows real time from it).
    pub wall_start: Millis,
    pub mirror: Mirror,
    /// The selected row's position (kept even if it leaves, to find its neighbour).
    pub selected: Option<Position>,
    /// The first row on screen; `None` is the top of the list.
    pub top: Option<Position>,
    pub size: (u16, u16),
    /// Newest first.
    pub log: VecDeque<LogEntry>,
    /// The activity the log does not show (`show_touches` off), newest
    /// first and as many as the log: the details of a session that has ended
    /// read its history here and in the log.
    hidden_touches: VecDeque<Event>,
    pub activity: Activity,
    pub mode: Mode,
    pub detail: Option<Detail>,
    /// Updates held back while the view is frozen, and the clock it froze at.
    pub frozen: Option<(ClockReading, Vec<SourceUpdate>)>,
    /// How many of the held updates are events (the header counts them).
    pub(super) held_events: usize,
    pub status: Option<Status>,
    pub simulator_on: bool,
    /// The logins of a burst (`N`) still to be answered, and how many of its
    /// answers were errors: the burst is told as one.
    pub(super) burst: Option<Burst>,
    /// Lesson mode: progress and captions.
    pub lesson: Option<LessonState>,
    /// The next closing instant, when a lesson has set one (the sessions'
    /// own views predate it until their next event).
    pub closing_at: Option<Millis>,
    /// The clock was paused because the terminal is too small; it goes on when it fits.
    pub size_paused: bool,
    /// The sort a narrower terminal put aside (its column did not fit), to
    /// come back when it fits again.
    sort_before_narrowing: Option<(SortColumn, bool)>,
    /// A pause after an ending was asked for and the clock has not said so yet.
    pub(super) pause_requested: bool,
    /// Commands that arose while handling a message, returned by `update`.
    pub(super) outbox: Vec<Command>,
    pub connection: ConnectionState,
    /// Real milliseconds when `connection` last changed.
    pub connection_since_ms: u64,
    /// Real milliseconds when the last event arrived.
    pub last_event_ms: Option<u64>,
    pub last_seq: u64,
    pub(super) rng: StdRng,
    dirty: bool,
    /// The clock's and the real second last drawn: when either moves, so does the screen.
    drawn_second: (i64, u64),
}

impl App {
    pub fn new(info: SourceInfo, config: &Config, keymap: KeyMap, seed: u64) -> Self {
        App {
            info,
            keymap,
            theme: Theme {
                no_color: config.dashboard.no_color,
                projector: config.dashboard.theme == crate::config::ThemeName::Projector,
            },
            settings: Settings::from_config(config),
            clock: ClockReading {
                now: 0,
                speed: config.dashboard.speed,
                paused: false,
            },
            real_ms: 0,
            filter_due: None,
            wall_start: 0,
            mirror: Mirror::new(SortColumn::Idle),
            selected: None,
            top: None,
            size: (120, 40),
            log: VecDeque::new(),
            hidden_touches: VecDeque::new(),
            activity: Activity::default(),
            mode: Mode::Normal,
            detail: None,
            frozen: None,
            held_events: 0,
            // A warning printed before the screen was taken would be out of
            // sight until the end: the footer says the first for a while.
            status: config.warnings.first().map(|first| Status {
                text: match config.warnings.len() {
                    1 => format!("warning: {first}"),
                    n => format!(
                        "warning: {first} ({} more, in the terminal after you quit)",
                        n - 1
                    ),
                },
                error: true,
                until_ms: WARNING_MS,
            }),
            simulator_on: config.simulator.enabled,
            burst: None,
            lesson: None,
            closing_at: None,
            size_paused: false,
            sort_before_narrowing: None,
            pause_requested: false,
            outbox: Vec::new(),
            connection: ConnectionState::Connected,
            connection_since_ms: 0,
            last_event_ms: None,
            last_seq: 0,
            rng: StdRng::seed_from_u64(seed),
            dirty: true,
            drawn_second: (i64::MIN, u64::MAX),
        }
    }

    /// Turns lesson mode on: captions, progress, activity in the log, no lateness.
    pub fn start_lesson(&mut self, mut lesson: LessonState) {
        self.settings.show_touches = true;
        if let Some(intro) = lesson.captions.front_mut() {
            intro.text.push_str(&format!(
                " Press {} to play one step at a time, or {} to let it run.",
                self.keymap.first(Action::Step),
                self.keymap.first(Action::Pause)
            ));
        }
        self.lesson = Some(lesson);
    }

    /// The clock reading the screen shows (held while frozen).
    pub fn shown_clock(&self) -> ClockReading {
        self.frozen.as_ref().map_or(self.clock, |(clock, _)| *clock)
    }

    /// Whether the next frame would differ from the last one drawn.
    pub fn needs_redraw(&self) -> bool {
        self.dirty || self.second() != self.drawn_second
    }

    /// Brings selection and scrolling up to date; call before drawing.
    pub fn prepare_frame(&mut self) {
        self.refresh_selection();
        self.ensure_visible();
    }

    fn second(&self) -> (i64, u64) {
        let real = (self.wall_start.max(0) as u64 + self.real_ms) / 1000;
        (self.shown_clock().now.div_euclid(1000), real)
    }

    pub fn mark_drawn(&mut self) {
        self.dirty = false;
        self.drawn_second = self.second();
    }

    pub fn selected_row(&self) -> Option<&super::mirror::Row> {
        self.mirror.get(self.selected.as_ref()?.1)
    }

    /// Rows of the sessions table that fit on screen.
    pub fn table_height(&self) -> usize {
        self.layout().table_rows()
    }

    /// Where each part of the screen goes, at the current size and mode.
    pub fn layout(&self) -> view::Areas {
        view::layout(self.size, self.lesson.is_some())
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Command> {
        let mut commands = self.handle(msg);
        if !self.outbox.is_empty() {
            commands.append(&mut self.outbox);
        }
        commands
    }

    fn handle(&mut self, msg: Msg) -> Vec<Command> {
        match msg {
            Msg::Tick { clock, real_ms } => {
                if clock.speed < self.clock.speed {
                    self.mirror
                        .cap_lingering(clock.now.saturating_add(self.linger_at(clock.speed)));
                }
                self.clock = clock;
                self.real_ms = real_ms;
                if self.filter_due.is_some_and(|due| due <= real_ms) {
                    self.apply_filter();
                }
                if clock.paused {
                    self.pause_requested = false;
                }
                // Ended rows stay for a while of clock time: a paused clock or a
                // frozen view keeps what just happened on screen.
                let open = self.detail.as_ref().map(|detail| detail.handle);
                if self.frozen.is_none() && self.mirror.drop_lingering(clock.now, open) {
                    self.dirty = true;
                }
                if self.status.as_ref().is_some_and(|s| s.until_ms <= real_ms) {
                    self.status = None;
                    self.dirty = true;
                }
                if self.frozen.is_none() {
                    self.activity
                        .advance(clock.now, self.mirror.active() as u64);
                }
                return Vec::new();
            }
            Msg::Snapshot(snapshot) => self.load(snapshot),
            Msg::Update(update) => self.on_update(update),
            Msg::Resize(w, h) => self.resize(w, h),
            Msg::Lesson(note) => self.on_lesson(note),
            Msg::Key(key) => {
                self.dirty = true;
                return self.on_key(key);
            }
            Msg::Mouse(mouse) => {
                self.dirty = true;
                return self.on_mouse(mouse);
            }
            Msg::Outcome(outcome) => self.on_outcome(outcome),
        }
        self.dirty = true;
        Vec::new()
    }

    /// While the terminal is too small to show the sessions, the embedded
    /// clock pauses, so nothing happens unseen; it goes on once it fits.
    fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
        // A sort by a column the narrower terminal leaves out would show no
        // order: the idle countdown, which always shows, takes over, soonest
        // first, until the terminal is wide enough again for the one chosen.
        let sort = self.mirror.sort();
        if view::fits((width, height)) {
            let shows = |app: &App, column| view::shown_columns(app, column).contains(&column);
            match self.sort_before_narrowing {
                Some(chosen) if sort == NARROW_SORT && shows(self, chosen.0) => {
                    self.mirror.set_sort(chosen.0, chosen.1);
                    self.sort_before_narrowing = None;
                    self.top = None;
                }
                _ if !shows(self, sort.0) => {
                    self.sort_before_narrowing = Some(sort);
                    self.mirror.set_sort(NARROW_SORT.0, NARROW_SORT.1);
                    self.top = None;
                }
                // Another sort chosen since: it stays.
                _ if sort != NARROW_SORT => self.sort_before_narrowing = None,
                _ => {}
            }
        }
        if !self.info.clock_control {
            return;
        }
        let fits = view::fits((width, height));
        if !fits && !self.clock.paused && !self.size_paused {
            self.size_paused = true;
            self.outbox
                .push(Command::Source(crate::source::SourceCommand::SetPaused(
                    true,
                )));
        } else if fits && self.size_paused {
            self.size_paused = false;
            self.outbox
                .push(Command::Source(crate::source::SourceCommand::SetPaused(
                    false,
                )));
        }
    }

    fn load(&mut self, snapshot: SourceSnapshot) {
        self.info = snapshot.info;
        self.last_seq = snapshot.seq;
        self.clock.now = snapshot.now;
        self.mirror.load(snapshot.sessions);
        if let Some(detail) = &mut self.detail {
            detail.user_live = self.mirror.live_sessions_of(&detail.user);
        }
        self.activity.load(&snapshot.stats, snapshot.now);
        self.refresh_selection();
    }

    /// The name a session goes by on screen: its user, or in a lesson the
    /// name the script gave it (`session = "ada-laptop"`), so a room can tell
    /// one user's sessions apart where the table has no room for more.
    pub fn name_of<'a>(&self, session: &'a SessionView) -> &'a str {
        match session.attribute(crate::sim::lesson::SESSION_ATTRIBUTE) {
            Some(name) if self.lesson.is_some() => name,
            _ => &session.user,
        }
    }

    /// How many events a frozen view holds back.
    pub fn events_waiting(&self) -> usize {
        if self.frozen.is_some() {
            self.held_events
        } else {
            0
        }
    }

    /// Applies what a frozen view held back, in order, and goes live.
    pub(super) fn unfreeze(&mut self) {
        if let Some((_, held)) = self.frozen.take() {
            // What ended while the view was frozen was never seen ended: it
            // lingers from now, not from when it ended.
            let unseen: HashSet<Handle> = held
                .iter()
                .filter_map(|update| match update {
                    SourceUpdate::Event(event) if event.kind.is_end() => Some(event.session.handle),
                    _ => None,
                })
                .collect();
            let arrived = self.last_event_ms;
            for update in held {
                self.on_update(update);
            }
            self.last_event_ms = arrived;
            let linger = self.linger_at(self.clock.speed);
            self.mirror
                .linger_until_at_least(&unseen, self.clock.now.saturating_add(linger));
        }
    }

    pub(super) fn on_update(&mut self, update: SourceUpdate) {
        // The link's state is news of the link, not of the sessions: a
        // frozen view shows it live (a server gone is never hidden).
        if let Some((_, held)) = &mut self.frozen
            && !matches!(update, SourceUpdate::Connection(_))
        {
            // The header's "last event … ago" tells the link's news too.
            // What came before a restart or resync is kept and shown first,
            // as a live view would have: its events in the log, before the mark.
            match &update {
                SourceUpdate::Event(_) => {
                    self.last_event_ms = Some(self.real_ms);
                    self.held_events += 1;
                }
                SourceUpdate::Resync(_) | SourceUpdate::Restarted(_) => self.last_event_ms = None,
                _ => {}
            }
            held.push(update);
            if held.len() >= MAX_HELD {
                self.unfreeze();
                self.set_status("view live again: too many events were waiting", true);
            }
            return;
        }
        match update {
            SourceUpdate::Event(event) => self.apply_event(event),
            SourceUpdate::Resync(snapshot) => {
                self.load(snapshot);
                // What came before may be another server's: its age says nothing now.
                self.last_event_ms = None;
                self.log_entry(LogEntry::Mark {
                    at: self.clock.now,
                    text: "events were missed here: every session reloaded".to_owned(),
                });
                self.set_status("reloaded every session: events were missed (resync)", false);
            }
            SourceUpdate::Restarted(snapshot) => {
                let kept = (snapshot.sessions.iter())
                    .filter(|s| {
                        self.mirror
                            .get(s.handle)
                            .is_some_and(|row| row.ended.is_none())
                    })
                    .count();
                let lost = self.mirror.active().saturating_sub(kept);
                self.load(snapshot);
                self.last_event_ms = None;
                // The events before it are the last run's: the log says where it ends.
                self.log_entry(LogEntry::Mark {
                    at: self.clock.now,
                    text: restart_status(lost),
                });
                self.set_status(restart_status(lost), lost > 0);
            }
            SourceUpdate::Info(info) => {
                if info.node != self.info.node && !info.node.is_empty() {
                    self.set_status(
                        format!(
                            "reconnected to server node {}",
                            crate::tui::text::untrusted(&info.node, 16)
                        ),
                        false,
                    );
                }
                self.info = info;
            }
            SourceUpdate::Connection(state) => {
                if let ConnectionState::Reconnecting { reason, .. } = &state {
                    self.set_status(format!("lost the session source: {reason}"), true);
                }
                self.connection = state;
                self.connection_since_ms = self.real_ms;
            }
        }
    }

    /// Applies one engine event to the mirror, the counters, the log and the detail view.
    fn apply_event(&mut self, event: Event) {
        if event.seq != 0 && event.seq <= self.last_seq {
            return;
        }
        self.last_seq = self.last_seq.max(event.seq);
        self.last_event_ms = Some(self.real_ms);
        // The event is news from the clock too: never show a time before it.
        self.clock.now = self.clock.now.max(event.at);
        let linger = self.linger_at(self.clock.speed);
        let handle = event.session.handle;
        let was_live = self.mirror.is_live(handle);
        self.mirror.apply(&event, event.at.saturating_add(linger));
        if let Some(detail) = &mut self.detail
            && detail.user == event.session.user
        {
            match (was_live, self.mirror.is_live(handle)) {
                (false, true) => detail.user_live += 1,
                (true, false) => detail.user_live = detail.user_live.saturating_sub(1),
                _ => {}
            }
        }
        self.activity.record(&event, self.mirror.active() as u64);
        if self.lesson.is_some() {
            self.caption_event(&event);
        }
        if let Some(detail) = &mut self.detail
            && detail.handle == event.session.handle
        {
            detail.events.push(event.clone());
        }
        if event.kind != EventKind::Touched || self.settings.show_touches {
            self.log_entry(LogEntry::Event(event));
        } else {
            push_newest(&mut self.hidden_touches, event, self.settings.event_log);
        }
    }

    fn log_entry(&mut self, entry: LogEntry) {
        push_newest(&mut self.log, entry, self.settings.event_log);
    }

    /// The linger: real time at the clock's `speed`, counted in clock time
    /// (so a paused clock keeps an ended row on screen).
    fn linger_at(&self, speed: f64) -> Millis {
        (self.settings.linger_ms as f64 * speed.max(0.0)) as Millis
    }

    /// The zone every time on screen is read in: the policy's, which its
    /// closing time is in too. Times in the viewer's own zone beside a
    /// closing time in another read as the wrong distance apart. The embedded
    /// engine's policy zone is the host's unless the config names one.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.info.policy.time_zone
    }

    /// The closing instant that will end `session` before its absolute
    /// limit, if one will (whether or not idleness ends it sooner): the next
    /// after `now` by the closing time a lesson set just now or the policy's,
    /// or the one the session's own deadline names.
    pub fn closing_of(&self, session: &SessionView, now: Millis) -> Option<Millis> {
        let next = self.closing_at.or_else(|| {
            let policy = &self.info.policy;
            policy
                .closing_time
                .map(|c| c.next_after(now, policy.time_zone))
        });
        let named = (session.expires_at < session.idle_expires_at).then_some(session.expires_at);
        [next, named]
            .into_iter()
            .flatten()
            .min()
            .filter(|&at| at < session.absolute_expires_at)
    }

    /// Whether the link to the sessions is down, so what is shown may be out of date.
    pub fn is_stale(&self) -> bool {
        matches!(self.connection, ConnectionState::Reconnecting { .. })
    }

    /// Real seconds until the next reconnection attempt, while disconnected.
    pub fn reconnect_in_s(&self) -> Option<u64> {
        match &self.connection {
            ConnectionState::Reconnecting { retry_in_ms, .. } => {
                let waited = self.real_ms.saturating_sub(self.connection_since_ms);
                Some(retry_in_ms.saturating_sub(waited).div_ceil(1000))
            }
            ConnectionState::Connected => None,
        }
    }

    pub(super) fn set_status(&mut self, text: impl Into<String>, error: bool) {
        self.status = Some(Status {
            text: text.into(),
            error,
            until_ms: self.real_ms + STATUS_MS,
        });
    }

    fn on_outcome(&mut self, outcome: Result<CommandOutcome, crate::source::SourceError>) {
        if let (Some(burst), Ok(CommandOutcome::Done(_)) | Err(_)) = (&mut self.burst, &outcome) {
            burst.left -= 1;
            if let Err(e) = &outcome {
                burst.failed += 1;
                burst.error = e.to_string();
            }
            if burst.left > 0 {
                return;
            }
            let Burst { failed, error, .. } = self.burst.take().unwrap_or_default();
            let done = BURST - failed;
            // On a server they are real sessions, as its confirmation said.
            let what = if self.info.remote {
                "logins on the server"
            } else {
                "simulated logins"
            };
            return if failed == 0 {
                self.set_status(format!("{done} {what}"), false)
            } else {
                self.set_status(format!("{done} {what}, {failed} refused: {error}"), true)
            };
        }
        match outcome {
            Ok(CommandOutcome::Done(text)) => self.set_status(text, false),
            Ok(CommandOutcome::Session { text, session }) => {
                self.mirror.refresh(session);
                self.set_status(text, false);
            }
            Ok(CommandOutcome::Detail { session, events }) => {
                let Some(detail) = &mut self.detail else {
                    return;
                };
                if session.as_ref().is_some_and(|s| s.handle != detail.handle) {
                    return;
                }
                let arrived: Vec<Event> = std::mem::take(&mut detail.events);
                let mut all = if events.is_empty() {
                    // The source no longer holds them (ended session): use
                    // what we saw, activity the log hides included.
                    let mut seen: Vec<Event> = (self.log.iter().filter_map(LogEntry::event))
                        .chain(&self.hidden_touches)
                        .filter(|e| e.session.handle == detail.handle)
                        .cloned()
                        .collect();
                    seen.sort_by_key(|e| (e.seq, e.at));
                    seen
                } else {
                    events
                };
                let known = all.last().map_or(0, |e| e.seq);
                all.extend(arrived.into_iter().filter(|e| e.seq > known));
                detail.events = all;
                detail.loading = false;
            }
            Ok(CommandOutcome::Clock(clock)) => {
                self.clock = clock;
                // The panel says what a finished lesson offers.
                if self.lesson_finished() {
                    return;
                }
                let text = if self.size_paused && clock.paused {
                    "clock paused while the terminal is too small".to_owned()
                } else if self.lesson.is_some() && clock.paused {
                    format!("paused: {}", self.go_on_keys())
                } else if clock.paused {
                    format!("clock paused (×{} when resumed)", speed_label(clock.speed))
                } else {
                    format!("clock running at ×{}", speed_label(clock.speed))
                };
                self.set_status(text, false);
            }
            Ok(CommandOutcome::Simulator(on)) => {
                self.simulator_on = on;
                self.set_status(if on { "simulator on" } else { "simulator off" }, false);
            }
            Err(e) => self.set_status(e.to_string(), true),
        }
    }

    pub(super) fn move_selection(&mut self, by: isize) {
        self.refresh_selection();
        let Some(current) = self.selected.clone() else {
            return;
        };
        let target = if by >= 0 {
            self.mirror
                .walk(Some(&current))
                .take(by as usize + 1)
                .last()
                .cloned()
        } else {
            self.mirror
                .walk_back(&current)
                .take(by.unsigned_abs())
                .last()
                .cloned()
        };
        if let Some(target) = target {
            self.selected = Some(target);
        }
        self.ensure_visible();
    }

    /// Follows the selected session to its new position, or to its neighbour if it left.
    pub(super) fn refresh_selection(&mut self) {
        self.selected = match self.selected.take() {
            Some(old) => self
                .mirror
                .position(old.1)
                .or_else(|| self.mirror.walk(Some(&old)).next().cloned())
                .or_else(|| self.mirror.last().cloned()),
            None => self.mirror.first().cloned(),
        };
    }

    /// Scrolls so the selected row is on screen and the screen is full.
    pub(super) fn ensure_visible(&mut self) {
        let height = self.table_height().max(1);
        let Some(selected) = self.selected.clone() else {
            self.top = None;
            return;
        };
        if let Some(top) = &self.top
            && self.mirror.before(&selected, top)
        {
            self.top = Some(selected);
        } else if !self
            .mirror
            .walk(self.top.as_ref())
            .take(height)
            .any(|p| *p == selected)
        {
            self.top = Some(
                self.mirror
                    .walk_back(&selected)
                    .take(height - 1)
                    .last()
                    .cloned()
                    .unwrap_or(selected),
            );
        }
        if let Some(top) = self.top.clone() {
            let shown = self.mirror.walk(Some(&top)).take(height).count();
            if shown < height {
                self.top = self
                    .mirror
                    .walk_back(&top)
                    .take(height - shown)
                    .last()
                    .cloned()
                    .or(Some(top));
            }
            if self.top.as_ref() == self.mirror.first() {
                self.top = None;
            }
        }
    }
}

/// "2", "0.5", "100".
pub fn speed_label(speed: f64) -> String {
    if speed.fract() == 0.0 {
        format!("{speed:.0}")
    } else {
        format!("{speed}")
    }
}

/// What the footer says after a restart: a durable server keeps every
/// session, and "0 sessions were not kept" reads like a loss.
/// Puts `item` at the front of `newest_first`, dropping the oldest past `cap`.
fn push_newest<T>(newest_first: &mut VecDeque<T>, item: T, cap: usize) {
    if newest_first.len() == cap {
        newest_first.pop_back();
    }
    newest_first.push_front(item);
}

/// One line of the event log: an event, or a mark where the log has a seam
/// (a server restart, missed events).
#[derive(Debug, Clone)]
pub enum LogEntry {
    Event(Event),
    Mark { at: Millis, text: String },
}

impl LogEntry {
    pub fn event(&self) -> Option<&Event> {
        match self {
            LogEntry::Event(event) => Some(event),
            LogEntry::Mark { .. } => None,
        }
    }
}

fn restart_status(lost: usize) -> String {
    match lost {
        0 => "server restarted".to_owned(),
        1 => "server restarted: 1 session was not kept".to_owned(),
        n => format!(
            "server restarted: {} sessions were not kept",
            super::text::thousands(n as u64)
        ),
    }
}
