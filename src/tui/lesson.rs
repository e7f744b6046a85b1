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
    /// Oldest first; the panel shows the newest at the bottom, like subtitles.
    pub captions: VecDeque<Caption>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Caption {
    pub text: String,
    /// Steps played when it was said: captions of the latest step stand out.
    pub step: usize,
    /// The script's own words for a step (not an event's explanation).
    pub scripted: bool,
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
}

impl LessonState {
    pub fn new(title: &str, summary: &str, total: usize, auto_pause: bool) -> Self {
        let mut state = LessonState {
            title: title.to_owned(),
            total,
            played: 0,
            auto_pause,
            captions: VecDeque::new(),
        };
        state.push(format!(
            "{title}: {summary} Press s to play one step at a time, or Space to let it run."
        ));
        state
    }

    pub fn steps_done(&self) -> bool {
        self.played >= self.total
    }

    fn push(&mut self, text: String) {
        self.push_caption(text, None);
    }

    fn push_caption(&mut self, text: String, group: Option<Group>) {
        if self.captions.len() == CAPTIONS {
            self.captions.pop_front();
        }
        self.captions.push_back(Caption {
            text,
            step: self.played,
            scripted: false,
            group,
        });
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
                if let Some(text) = played.caption {
                    lesson.push_caption(text, None);
                    if let Some(last) = lesson.captions.back_mut() {
                        last.scripted = true;
                    }
                }
                if let Some(closing_at) = played.closing_at {
                    self.closing_at = closing_at;
                    self.info.policy.closing_time = closing_at.map(|at| {
                        crate::engine::ClosingTime(crate::tui::text::local_time(at, &self.zone()))
                    });
                }
                if played.pause {
                    self.set_status("paused by the lesson: Space goes on · s steps", false);
                }
            }
            LessonNote::NothingLeft => {
                self.set_status("nothing left to happen: r replays the lesson", false)
            }
        }
    }

    /// Explains an event in the caption panel; an ending may pause the clock.
    pub(super) fn caption_event(&mut self, event: &Event) {
        let text = caption::sentence(caption::explain(self, event));
        let auto_pause = self.lesson.as_ref().is_some_and(|l| l.auto_pause);
        let zone = self.zone();
        let Some(lesson) = &mut self.lesson else {
            return;
        };
        if event.kind == EventKind::Touched
            && event.actor.is_none()
            && lesson.captions.back().is_some_and(|c| c.text == text)
        {
            return;
        }
        // The eviction's caption already says the user logged in once more;
        // the login's own would push it out of a projector's small panel.
        if event.kind == EventKind::Created
            && lesson.captions.back().is_some_and(|c| {
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
            lesson.push(text);
            return;
        }
        let user = event.session.user.to_string();
        let actor = event.actor.as_ref().map(|a| a.to_string());
        if let Some(Caption {
            text: shown,
            group: Some(group),
            ..
        }) = lesson.captions.back_mut()
            && group.at == event.at
            && group.kind == event.kind
            && group.reason == event.reason
            && group.actor == actor
        {
            group.users.push(user);
            *shown = caption::sentence(caption::explain_group(&group.users, event, &zone));
        } else {
            let group = Group {
                at: event.at,
                kind: event.kind,
                reason: event.reason,
                actor,
                users: vec![user],
            };
            lesson.push_caption(text, Some(group));
        }
        if auto_pause && !self.clock.paused && !self.pause_requested {
            self.pause_requested = true;
            self.outbox
                .push(Command::Source(SourceCommand::SetPaused(true)));
        }
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
