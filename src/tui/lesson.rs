//! Lesson mode's part of the dashboard state: the progress, the captions,
//! and what the lesson's notes and the trainer's keys do to them.
//!
//! Captions come from two places: the script's own text for a step (a
//! `LessonNote` from the player), and an explanation of every event in plain
//! words (`caption::explain`). Endings at one instant of one kind share one
//! caption ("all 7 sessions ended at once"). Nothing here plays the lesson or
//! does I/O; `classroom` does.

use std::collections::VecDeque;

use super::app::App;
use super::caption;
use super::keymap::Action;
use super::msg::Command;
use crate::engine::{Event, EventKind, ExpiryReason, Millis};
use crate::sim::lesson::Played;
use crate::source::SourceCommand;

/// Captions kept for the panel, newest first.
const CAPTIONS: usize = 30;

/// What the lesson player tells the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum LessonNote {
    Played(Played),
    /// The step key found nothing left to happen.
    NothingLeft,
}

/// What the trainer's lesson keys ask of the lesson runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LessonCommand {
    /// Move to the next step or ending and pause there.
    Step,
    /// Start the lesson again from the top.
    Replay,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LessonState {
    pub title: String,
    pub total: usize,
    pub played: usize,
    /// Pause the clock after every ending.
    pub auto_pause: bool,
    /// In the order things happened, oldest first; the panel shows the newest
    /// at the bottom, like subtitles.
    pub captions: VecDeque<Caption>,
    /// Every step played and every session over: the clock was stopped there.
    finished: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    pub text: String,
    /// Steps played when it was said: captions of the latest step stand out.
    pub step: usize,
    /// The script's own words for a step (not an event's explanation).
    pub scripted: bool,
    /// Where it goes among the others: twice the seq of the event it
    /// explains, or, for a step's words, one more than twice the last event's
    /// before them. A step's note arrives before the events of its act (they
    /// come through the source), and still goes after them.
    order: u64,
    /// Endings that share this caption: same instant, same way, same actor.
    group: Option<Group>,
}

#[derive(Debug, Clone, PartialEq)]
struct Group {
    at: Millis,
    kind: EventKind,
    reason: Option<ExpiryReason>,
    actor: Option<String>,
    users: Vec<String>,
    /// The names the sessions go by on screen (`App::name_of`).
    shown: Vec<String>,
}

impl LessonState {
    pub fn new(title: &str, summary: &str, total: usize, auto_pause: bool) -> Self {
        let mut state = LessonState {
            title: title.to_owned(),
            total,
            played: 0,
            auto_pause,
            captions: VecDeque::new(),
            finished: false,
        };
        // `App::start_lesson` adds which keys play it.
        state.push(format!("{title}: {summary}"), Some(0), false, None);
        state
    }

    pub fn steps_done(&self) -> bool {
        self.played >= self.total
    }

    /// Where a caption of this order goes: after every one not later than it.
    fn slot(&self, order: Option<u64>) -> (usize, u64) {
        let last = self.captions.back().map_or(0, |c| c.order);
        let order = order.unwrap_or(last);
        let at = self
            .captions
            .iter()
            .rposition(|c| c.order <= order)
            .map_or(0, |i| i + 1);
        (at, order)
    }

    /// The caption just before where one of this order would go.
    fn before(&self, order: Option<u64>) -> Option<&Caption> {
        let (at, _) = self.slot(order);
        at.checked_sub(1).map(|i| &self.captions[i])
    }

    fn push(&mut self, text: String, order: Option<u64>, scripted: bool, group: Option<Group>) {
        let (mut at, order) = self.slot(order);
        if self.captions.len() == CAPTIONS {
            if at == 0 {
                return;
            }
            self.captions.pop_front();
            at -= 1;
        }
        self.captions.insert(
            at,
            Caption {
                text,
                step: self.played,
                scripted,
                order,
                group,
            },
        );
    }
}

impl App {
    pub(super) fn on_lesson(&mut self, note: LessonNote) {
        let Some(lesson) = &mut self.lesson else {
            return;
        };
        match note {
            LessonNote::Played(played) => {
                lesson.played = lesson.played.max(played.number);
                let (before, after) = played.events.unzip();
                if let Some(text) = played.caption {
                    lesson.push(text, before.map(|seq| 2 * seq + 1), true, None);
                }
                if let Some(text) = played.note {
                    lesson.push(text, after.map(|seq| 2 * seq + 1), false, None);
                }
                if let Some(closing_at) = played.closing_at {
                    self.closing_at = closing_at;
                    self.info.policy.closing_time = closing_at.map(|at| {
                        crate::engine::ClosingTime(crate::tui::text::local_time(at, &self.zone()))
                    });
                }
                if played.pause {
                    let text = format!("paused by the lesson: {}", self.go_on_keys());
                    self.set_status(text, false);
                }
            }
            LessonNote::NothingLeft => {
                self.set_status("nothing left to happen: r replays the lesson", false)
            }
        }
        self.stop_clock_if_finished();
    }

    /// "Space goes on · s steps", with the keys as bound.
    pub(super) fn go_on_keys(&self) -> String {
        format!(
            "{} goes on · {} steps",
            self.keymap.first(Action::Pause),
            self.keymap.first(Action::Step)
        )
    }

    /// The end of a lesson's prompt: "r replay · q quit", with the quit key
    /// as bound (r always replays a finished lesson, see `input`).
    pub fn replay_or_quit(&self) -> String {
        format!("r replay · {} quit", self.keymap.first(Action::Quit))
    }

    /// Every step of the lesson played and every session over.
    pub(super) fn lesson_finished(&self) -> bool {
        self.lesson
            .as_ref()
            .is_some_and(|l| l.steps_done() && self.mirror.active() == 0)
    }

    /// A finished lesson stops its clock, as a film stops at its end: the
    /// last endings stay on screen, and the times shown stay those of the
    /// end. Space does not run it on (see `input`); r replays it.
    fn stop_clock_if_finished(&mut self) {
        if !self.lesson_finished() {
            return;
        }
        let Some(lesson) = self.lesson.as_mut().filter(|l| !l.finished) else {
            return;
        };
        lesson.finished = true;
        // "Space goes on · s steps" no longer holds: the panel says what does.
        self.status = None;
        if !self.clock.paused && !self.pause_requested {
            self.pause_requested = true;
            self.outbox
                .push(Command::Source(SourceCommand::SetPaused(true)));
        }
    }

    /// Explains an event in the caption panel; an ending may pause the clock.
    pub(super) fn caption_event(&mut self, event: &Event) {
        let text = caption::sentence(caption::explain(self, event));
        let shown = self.name_of(&event.session).to_owned();
        let auto_pause = self.lesson.as_ref().is_some_and(|l| l.auto_pause);
        let zone = self.zone();
        let Some(lesson) = &mut self.lesson else {
            return;
        };
        let order = Some(2 * event.seq);
        if event.kind == EventKind::Touched
            && event.actor.is_none()
            && lesson.before(order).is_some_and(|c| c.text == text)
        {
            return;
        }
        // The eviction's caption already says the user logged in once more;
        // the login's own would push it out of a projector's small panel.
        if event.kind == EventKind::Created
            && lesson.before(order).is_some_and(|c| {
                c.group.as_ref().is_some_and(|g| {
                    g.at == event.at
                        && g.reason == Some(ExpiryReason::Evicted)
                        && g.users.iter().any(|u| *u == event.session.user)
                })
            })
        {
            return;
        }
        if !event.kind.is_end() {
            lesson.push(text, order, false, None);
            return;
        }
        let user = event.session.user.to_string();
        let actor = event.actor.as_ref().map(|a| a.to_string());
        let (slot, _) = lesson.slot(order);
        if let Some(Caption {
            text: shown_text,
            group: Some(group),
            order: shared,
            ..
        }) = slot.checked_sub(1).and_then(|i| lesson.captions.get_mut(i))
            && group.at == event.at
            && group.kind == event.kind
            && group.reason == event.reason
            && group.actor == actor
        {
            group.users.push(user);
            group.shown.push(shown);
            *shown_text = caption::sentence(caption::explain_group(
                &group.users,
                &group.shown,
                event,
                &zone,
            ));
            *shared = 2 * event.seq;
        } else {
            let group = Group {
                at: event.at,
                kind: event.kind,
                reason: event.reason,
                actor,
                users: vec![user],
                shown: vec![shown],
            };
            lesson.push(text, order, false, Some(group));
        }
        if auto_pause && !self.clock.paused && !self.pause_requested {
            self.pause_requested = true;
            self.outbox
                .push(Command::Source(SourceCommand::SetPaused(true)));
        }
        self.stop_clock_if_finished();
    }

    pub(super) fn toggle_auto_pause(&mut self) {
        let Some(lesson) = &mut self.lesson else {
            self.set_status("pausing after endings is part of lesson mode", true);
            return;
        };
        lesson.auto_pause = !lesson.auto_pause;
        let text = if lesson.auto_pause {
            "the clock will pause after every ending"
        } else {
            "the clock runs on after endings"
        };
        self.set_status(text, false);
    }
}
