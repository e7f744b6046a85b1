//! Turning keys and mouse actions into state changes and commands.
//!
//! Part of `App::update`: the modes (help, prompt, filter, confirm) decide
//! what a key means, then the key table maps it to an action. No I/O here.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};

use super::app::{
    App, BURST, Confirm, Detail, FILTER_PAUSE_MS, FILTER_PAUSE_ROWS, MAX_PROMPT, Mode,
};
use super::keymap::Action;
use super::lesson::LessonCommand;
use super::msg::Command;
use super::view;
use crate::engine::SessionView;
use crate::sim;
use crate::source::SourceCommand;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        // Ctrl-C always quits, whatever the mode and however `quit` is rebound.
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return vec![Command::Quit];
        }
        // A screen too small shows only how to quit: no key acts unseen (on a
        // hidden prompt or confirmation, or the clock it holds paused).
        if !view::fits(self.size) {
            return match self.keymap.action(&key) {
                Some(Action::Quit) => vec![Command::Quit],
                _ => Vec::new(),
            };
        }
        match self.mode.clone() {
            Mode::Help => {
                match self.keymap.action(&key) {
                    Some(Action::Quit) => return vec![Command::Quit],
                    Some(Action::Help) => self.mode = Mode::Normal,
                    _ if key.code == KeyCode::Esc => self.mode = Mode::Normal,
                    _ => {}
                }
                Vec::new()
            }
            Mode::Prompt {
                text: mut input,
                suggested,
            } => {
                // Right or End keeps the offer to edit, as they would a
                // selected text; anything else typed or deleted replaces it.
                if suggested && matches!(key.code, KeyCode::Right | KeyCode::End) {
                    self.mode = Mode::prompt(input);
                    return Vec::new();
                }
                if suggested && key.code != KeyCode::Enter && key.code != KeyCode::Esc {
                    input.clear();
                }
                match key.code {
                    KeyCode::Esc => self.mode = Mode::Normal,
                    KeyCode::Enter => {
                        let user = input.trim().to_owned();
                        if user.is_empty() {
                            self.set_status("type a user name, or Esc to cancel", true);
                            return Vec::new();
                        }
                        self.mode = Mode::Normal;
                        return vec![Command::Source(SourceCommand::Login {
                            user,
                            attributes: manual_attributes(),
                        })];
                    }
                    KeyCode::Backspace => {
                        input.pop();
                        self.mode = Mode::prompt(input);
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        self.mode = Mode::prompt(String::new());
                    }
                    KeyCode::Char(c) if typed(&key) && input.chars().count() < MAX_PROMPT => {
                        input.push(c);
                        self.mode = Mode::prompt(input);
                    }
                    // A key that types nothing leaves the prompt (and an offer) as it was.
                    _ => {}
                }
                Vec::new()
            }
            Mode::Filter => {
                let mut filter = self.mirror.filter().to_owned();
                match key.code {
                    KeyCode::Esc => {
                        filter.clear();
                        self.mode = Mode::Normal;
                    }
                    KeyCode::Enter => {
                        self.mode = Mode::Normal;
                        self.apply_filter();
                    }
                    KeyCode::Backspace => {
                        filter.pop();
                    }
                    KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        filter.clear();
                    }
                    KeyCode::Down => self.move_selection(1),
                    KeyCode::Up => self.move_selection(-1),
                    KeyCode::Char(c) if typed(&key) && filter.chars().count() < MAX_PROMPT => {
                        filter.push(c)
                    }
                    _ => {}
                }
                if filter.is_empty() {
                    // Cleared (Esc, Ctrl-U, the last Backspace): all rows at once.
                    self.set_filter("");
                } else {
                    self.type_filter(&filter);
                }
                Vec::new()
            }
            Mode::Confirm(confirm) => {
                self.mode = Mode::Normal;
                match key.code {
                    KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => match confirm {
                        Confirm::Revoke { handle, .. } => {
                            vec![Command::Source(SourceCommand::Revoke(handle))]
                        }
                        Confirm::RevokeUser { user, .. } => {
                            vec![Command::Source(SourceCommand::RevokeUser(user))]
                        }
                        Confirm::Burst { .. } => self.burst(),
                    },
                    _ => {
                        let text = match confirm {
                            Confirm::Burst { .. } => "no session created",
                            _ => "nothing revoked",
                        };
                        self.set_status(text, false);
                        Vec::new()
                    }
                }
            }
            Mode::Normal => {
                if key.code == KeyCode::Esc {
                    if self.detail.take().is_none() && !self.mirror.filter().is_empty() {
                        self.set_filter("");
                    }
                    return Vec::new();
                }
                // At the end of a lesson, r replays it: the prompt on screen says so.
                if self.lesson_finished()
                    && key.code == KeyCode::Char('r')
                    && key.modifiers.difference(KeyModifiers::SHIFT).is_empty()
                {
                    return vec![Command::Lesson(LessonCommand::Replay)];
                }
                match self.keymap.action(&key) {
                    Some(action) => self.on_action(action),
                    None => Vec::new(),
                }
            }
        }
    }

    /// Filters the table; the selection stays on its session while the
    /// filter shows it, as htop's and k9s's do.
    fn set_filter(&mut self, filter: &str) {
        self.mirror.type_filter(filter);
        self.apply_filter();
    }

    /// Typing into the filter. A table of `FILTER_PAUSE_ROWS` rows or more is
    /// filtered once the typing pauses for `FILTER_PAUSE_MS` (or at Enter):
    /// filtering a million rows takes a few hundred ms, which every key would
    /// otherwise wait for. The typed text shows at once.
    fn type_filter(&mut self, filter: &str) {
        if filter == self.mirror.filter() {
            return;
        }
        if self.mirror.held() < FILTER_PAUSE_ROWS {
            self.set_filter(filter);
        } else {
            self.mirror.type_filter(filter);
            self.filter_due = Some(self.real_ms + FILTER_PAUSE_MS);
        }
    }

    /// Makes the rows follow the filter's text, if they do not yet.
    pub(super) fn apply_filter(&mut self) {
        self.filter_due = None;
        if self.mirror.filter_applied() {
            return;
        }
        self.mirror.apply_filter();
        self.top = None;
        let kept = self
            .selected
            .as_ref()
            .and_then(|(_, handle)| self.mirror.position(*handle));
        self.selected = kept.or_else(|| self.mirror.first().cloned());
        // Details of a session the filter hides would stand over rows that
        // are not it: they close, as the selection moves on.
        if (self.detail.as_ref())
            .is_some_and(|detail| self.mirror.position(detail.handle).is_none())
        {
            self.detail = None;
        }
    }

    /// The selected session, if it is still live.
    fn selected_live(&self) -> Option<&SessionView> {
        self.selected_row()
            .filter(|row| row.ended.is_none())
            .map(|row| &row.session)
    }

    fn on_action(&mut self, action: Action) -> Vec<Command> {
        let page = self.table_height().max(1) as isize;
        match action {
            Action::Quit => return vec![Command::Quit],
            Action::Help => self.mode = Mode::Help,
            Action::Login => {
                self.mode = Mode::Prompt {
                    text: sim::random_user(&mut self.rng),
                    suggested: true,
                }
            }
            // On a server these are real sessions: ask first.
            Action::Burst if self.info.remote => {
                self.mode = Mode::Confirm(Confirm::Burst { count: BURST })
            }
            Action::Burst => return self.burst(),
            Action::Activity => match self.selected_live() {
                Some(s) => return vec![Command::Source(SourceCommand::Touch(s.handle))],
                None => self.set_status("select a live session first", true),
            },
            Action::Revoke => match self.selected_live() {
                Some(s) => {
                    self.mode = Mode::Confirm(Confirm::Revoke {
                        handle: s.handle,
                        user: s.user.to_string(),
                    })
                }
                None => self.set_status("select a live session first", true),
            },
            Action::RevokeUser => match self.selected_live().map(|s| s.user.to_string()) {
                Some(user) => {
                    let sessions = self.mirror.live_sessions_of(&user);
                    self.mode = Mode::Confirm(Confirm::RevokeUser { user, sessions });
                }
                None => self.set_status("select a live session first", true),
            },
            Action::Filter => self.mode = Mode::Filter,
            Action::SortNext | Action::SortPrev => {
                let (column, reverse) = self.mirror.sort();
                let by = if action == Action::SortNext { 1 } else { -1 };
                // Columns a narrow terminal leaves out are skipped: a sort
                // by one would show no arrow and no visible order.
                let mut next = column.step(by);
                while next != column && !view::shown_columns(self, next).contains(&next) {
                    next = next.step(by);
                }
                self.mirror.set_sort(next, reverse);
                self.top = None;
            }
            Action::SortReverse => {
                let (column, reverse) = self.mirror.sort();
                self.mirror.set_sort(column, !reverse);
                self.top = None;
            }
            // Pause and freeze are one idea: hold the screen. The embedded
            // clock pauses, and with it everything; a server's clock runs on,
            // so there the view freezes and events wait.
            Action::Pause | Action::Freeze => {
                if self.lesson_finished() && self.clock.paused {
                    // Nothing is left to happen: running on would only take
                    // the last endings off the screen (so too for +/-).
                    let text = format!("the lesson is over: {}", self.replay_or_quit());
                    self.set_status(text, false);
                    return Vec::new();
                }
                if self.info.clock_control {
                    self.size_paused = false;
                    return vec![Command::Source(SourceCommand::SetPaused(
                        !self.clock.paused,
                    ))];
                }
                self.toggle_freeze();
            }
            Action::Step => {
                if self.lesson.is_some() {
                    return vec![Command::Lesson(LessonCommand::Step)];
                }
                self.set_status("s steps through a lesson: see `sessiontop lesson`", true);
            }
            Action::AutoPause => self.toggle_auto_pause(),
            Action::Faster | Action::Slower if self.lesson_finished() => {
                let text = format!("the lesson is over: {}", self.replay_or_quit());
                self.set_status(text, false);
            }
            Action::Faster | Action::Slower => {
                if !self.info.clock_control {
                    self.set_status("the clock speed cannot change on a server", true);
                } else {
                    let faster = action == Action::Faster;
                    let speed = self.clock.speed;
                    if crate::engine::clock::stepped_speed(speed, faster) == speed {
                        let end = if faster { "fastest" } else { "slowest" };
                        self.set_status(format!("×{speed} is the {end}"), false);
                    } else {
                        return vec![Command::Source(SourceCommand::StepSpeed { faster })];
                    }
                }
            }
            Action::Simulator => {
                if !self.info.simulator {
                    self.set_status("no simulator on this source", true);
                } else {
                    return vec![Command::Source(SourceCommand::SetSimulator(
                        !self.simulator_on,
                    ))];
                }
            }

            Action::Detail => {
                if self.detail.is_some() {
                    self.detail = None;
                } else if let Some(row) = self.selected_row() {
                    let handle = row.session.handle;
                    self.detail = Some(Detail::of(&self.mirror, &row.session));
                    return vec![Command::Source(SourceCommand::Detail(handle))];
                }
            }
            Action::Down => return self.move_and_follow(1),
            Action::Up => return self.move_and_follow(-1),
            Action::PageDown => return self.move_and_follow(page),
            Action::PageUp => return self.move_and_follow(-page),
            Action::Top => {
                self.selected = self.mirror.first().cloned();
                self.top = None;
            }
            Action::Bottom => {
                self.selected = self.mirror.last().cloned();
                self.ensure_visible();
            }
        }
        Vec::new()
    }

    fn toggle_freeze(&mut self) {
        if self.frozen.is_some() {
            // What the held updates say (a restart, a resync) comes after.
            self.set_status("view live again", false);
            self.unfreeze();
        } else {
            self.frozen = Some((self.clock, Vec::new()));
            self.held_events = 0;
            let text = format!(
                "view frozen (the server runs on): {} goes live",
                self.keymap.first(Action::Pause)
            );
            self.set_status(text, false);
        }
    }

    /// Ten simulated logins of random users.
    fn burst(&mut self) -> Vec<Command> {
        self.burst = Some(super::app::Burst {
            left: BURST,
            ..Default::default()
        });
        (0..BURST)
            .map(|_| {
                let user = sim::random_user(&mut self.rng);
                let attributes = sim::random_attributes(&mut self.rng);
                Command::Source(SourceCommand::Login { user, attributes })
            })
            .collect()
    }

    /// Moves the selection; an open detail view follows it.
    fn move_and_follow(&mut self, by: isize) -> Vec<Command> {
        self.move_selection(by);
        match (&self.detail, self.selected_row()) {
            (Some(detail), Some(row)) if detail.handle != row.session.handle => {
                let handle = row.session.handle;
                self.detail = Some(Detail::of(&self.mirror, &row.session));
                vec![Command::Source(SourceCommand::Detail(handle))]
            }
            _ => Vec::new(),
        }
    }

    pub(super) fn on_mouse(&mut self, mouse: MouseEvent) -> Vec<Command> {
        // Help and the dialogs stand over the table: the mouse does not reach
        // through them. Over details the wheel moves the selection, which the
        // details follow, and a click does nothing (it would act on a row or
        // a title the details hide).
        let over_table = matches!(self.mode, Mode::Normal | Mode::Filter);
        if !view::fits(self.size) || !over_table {
            return Vec::new();
        }
        let (column, row) = (mouse.column, mouse.row);
        match mouse.kind {
            MouseEventKind::ScrollDown => return self.move_and_follow(3),
            MouseEventKind::ScrollUp => return self.move_and_follow(-3),
            _ if self.detail.is_some() => {}
            // A click on a column's title sorts by it, and on the sorted
            // column's title reverses the order, as in htop.
            MouseEventKind::Down(MouseButton::Left)
                if self.layout().on_table_header(column, row) =>
            {
                if let Some(clicked) = view::column_at(self, column) {
                    let (sorted, reverse) = self.mirror.sort();
                    self.mirror.set_sort(clicked, clicked == sorted && !reverse);
                    self.top = None;
                }
            }
            MouseEventKind::Down(MouseButton::Left) => {
                let at = self.layout().table_row_at(column, row);
                if let Some(p) = at.and_then(|row| self.mirror.walk(self.top.as_ref()).nth(row)) {
                    self.selected = Some(p.clone());
                }
            }
            _ => {}
        }
        Vec::new()
    }
}

/// What the operator's own simulated logins carry.
fn manual_attributes() -> std::collections::BTreeMap<String, String> {
    std::collections::BTreeMap::from([
        ("ip".to_owned(), "127.0.0.1".to_owned()),
        ("user_agent".to_owned(), "sessiontop (operator)".to_owned()),
    ])
}

/// Whether a key is plain text to type: no Ctrl, no Alt, not a control character.
fn typed(key: &KeyEvent) -> bool {
    let plain = !key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    plain && matches!(key.code, KeyCode::Char(c) if !c.is_control())
}
