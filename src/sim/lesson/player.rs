//! Plays a lesson on an engine, in the engine's clock time.
//!
//! The player holds the tokens of the lesson's users, as a web app would,
//! and never shows them; it names sessions by handle only. Each step it plays
//! comes back as a [`Played`] with the caption to show. `step` is the
//! trainer's step key: it moves the paused clock to the next thing that
//! happens, a step or an ending, and stops there.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{TimeZone, Timelike};

use super::{Act, Lesson, Step};
use crate::engine::{
    ClosingTime, EngineError, EngineHandle, Handle, ListQuery, Login, Millis, Token,
};
use crate::sim::scenario::TRAINER;

/// What one played step says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Played {
    /// 1-based.
    pub number: usize,
    /// The script's caption: what the step is about to do.
    pub caption: Option<String>,
    /// What came of the act that its events will not say ("the old token was
    /// tried again and refused"), said after them.
    pub note: Option<String>,
    /// The engine's last event before the act and after it: the act's own
    /// events lie between, so captions can be told in the order things happened.
    pub events: Option<(u64, u64)>,
    /// The step asks for the clock to pause after it.
    pub pause: bool,
    /// Set when the step changed the closing time: the next closing instant.
    pub closing_at: Option<Option<Millis>>,
}

/// What the step key did.
#[derive(Debug, Clone, PartialEq)]
pub enum Stepped {
    Played(Played),
    /// The clock moved to an ending at this instant.
    Ending(Millis),
    /// No step is left and no session is live.
    Nothing,
}

struct Held {
    token: Token,
    handle: Handle,
}

pub struct Player {
    engine: EngineHandle,
    steps: Vec<Step>,
    start: Millis,
    next: usize,
    sessions: HashMap<String, Held>,
}

impl Player {
    /// Holds the engine's clock at the first step: see [`Player::play_next`].
    pub fn new(engine: EngineHandle, lesson: &Lesson, start: Millis) -> Self {
        let player = Player {
            engine,
            steps: lesson.steps.clone(),
            start,
            next: 0,
            sessions: HashMap::new(),
        };
        player.hold_at_next();
        player
    }

    /// The clock may not pass the next step until it is played, so a step
    /// happens at its scripted instant however late a frame finds it due.
    fn hold_at_next(&self) {
        let next = self.next_at();
        self.engine.adjust_clock(|c| c.hold_at(next));
    }

    pub fn total(&self) -> usize {
        self.steps.len()
    }

    /// Steps played so far.
    pub fn played(&self) -> usize {
        self.next
    }

    pub fn finished(&self) -> bool {
        self.next == self.steps.len()
    }

    /// When the next step is due, in clock time.
    pub fn next_at(&self) -> Option<Millis> {
        let step = self.steps.get(self.next)?;
        Some(self.start + step.at.as_millis() as Millis)
    }

    /// When the next live session ends, whichever deadline ends it.
    pub fn next_ending(&self) -> Option<Millis> {
        let page = self.engine.list(&ListQuery {
            limit: usize::MAX,
            ..ListQuery::default()
        });
        page.sessions.iter().map(|s| s.expires_at).min()
    }

    /// Plays every step due by `now`.
    pub fn play_due(&mut self, now: Millis) -> Vec<Played> {
        let mut played = Vec::new();
        while self.next_at().is_some_and(|at| at <= now) {
            played.extend(self.play_next());
        }
        played
    }

    /// The step key: pauses the clock, moves it to the next step or ending,
    /// whichever comes first, and plays the step if it is one.
    pub fn step(&mut self) -> Stepped {
        self.engine.adjust_clock(|c| c.set_paused(true));
        let now = self.engine.now();
        let next_step = self.next_at();
        let target = [next_step, self.next_ending()].into_iter().flatten().min();
        let Some(target) = target else {
            return Stepped::Nothing;
        };
        if target > now {
            let by = Duration::from_millis((target - now) as u64);
            self.engine.adjust_clock(|c| c.step(by));
        }
        if next_step.is_some_and(|at| at <= target) {
            match self.play_next() {
                Some(played) => Stepped::Played(played),
                None => Stepped::Nothing,
            }
        } else {
            Stepped::Ending(target)
        }
    }

    /// Plays the next step now, whenever it was due, then lets the clock run
    /// on to the step after it (the clock is held at each step until it is
    /// played, so "now" is the step's own instant).
    /// A step that asks for a pause pauses the clock at its own instant.
    pub fn play_next(&mut self) -> Option<Played> {
        let played = self.act_next();
        if played.as_ref().is_some_and(|p| p.pause) {
            self.engine.adjust_clock(|c| c.set_paused(true));
        }
        self.hold_at_next();
        played
    }

    fn act_next(&mut self) -> Option<Played> {
        let step = self.steps.get(self.next)?.clone();
        self.next += 1;
        let before = self.engine.stats().last_seq;
        let mut played = Played {
            number: self.next,
            caption: step.caption.clone(),
            pause: step.pause,
            events: Some((before, before)),
            ..Played::default()
        };
        let Some(act) = &step.act else {
            return Some(played);
        };
        let note = match self.act(act) {
            Ok(Outcome::Quiet) => None,
            Ok(Outcome::Note(note)) => Some(note),
            Ok(Outcome::Closing(at, note)) => {
                played.closing_at = Some(Some(at));
                Some(note)
            }
            // A step on a session that has already ended is part of the lesson.
            Err(e) => Some(format!("{}, but {e}.", act.describe())),
        };
        played.note = note;
        played.events = Some((before, self.engine.stats().last_seq));
        Some(played)
    }

    fn held(&self, session: &str) -> Result<&Held, String> {
        self.sessions
            .get(session)
            .ok_or_else(|| format!("{session}'s session has already ended"))
    }

    fn act(&mut self, act: &Act) -> Result<Outcome, String> {
        let ended = |session: &str, e: EngineError| match e {
            EngineError::InvalidToken | EngineError::NoSuchSession(_) => {
                format!("{session}'s session has already ended")
            }
            other => other.to_string(),
        };
        match act {
            Act::Login {
                user,
                session,
                idle_timeout,
                absolute_timeout,
                ip,
                user_agent,
            } => {
                let mut attributes = BTreeMap::from([
                    (
                        "ip".to_owned(),
                        ip.clone().unwrap_or_else(|| "192.0.2.10".to_owned()),
                    ),
                    (
                        "user_agent".to_owned(),
                        user_agent
                            .clone()
                            .unwrap_or_else(|| "Firefox/133.0 (X11; Linux x86_64)".to_owned()),
                    ),
                ]);
                // A session named apart from its user keeps its name, which
                // the lesson's table shows.
                if session != user {
                    attributes.insert(super::SESSION_ATTRIBUTE.to_owned(), session.clone());
                }
                let login = Login {
                    user: user.clone(),
                    attributes: Some(attributes),
                    idle_timeout: *idle_timeout,
                    absolute_timeout: *absolute_timeout,
                    max_sessions_per_user: None,
                };
                let (token, view) = self.engine.login(login).map_err(|e| e.to_string())?;
                self.sessions.insert(
                    session.clone(),
                    Held {
                        token,
                        handle: view.handle,
                    },
                );
                Ok(Outcome::Quiet)
            }
            Act::Touch(session) => {
                let held = self.held(session)?;
                self.engine
                    .touch(held.token.expose())
                    .map_err(|e| ended(session, e))?;
                Ok(Outcome::Quiet)
            }
            Act::Logout(session) => {
                let held = self
                    .sessions
                    .remove(session)
                    .ok_or_else(|| format!("{session}'s session has already ended"))?;
                self.engine
                    .logout(held.token.expose())
                    .map_err(|e| ended(session, e))?;
                Ok(Outcome::Quiet)
            }
            Act::Revoke(session) => {
                let held = self
                    .sessions
                    .remove(session)
                    .ok_or_else(|| format!("{session}'s session has already ended"))?;
                self.engine
                    .revoke(held.handle, TRAINER)
                    .map_err(|e| ended(session, e))?;
                Ok(Outcome::Quiet)
            }
            Act::RevokeUser(user) => {
                let n = self.engine.revoke_user(user, TRAINER);
                if n == 0 {
                    return Err(format!("{user} had no live session left"));
                }
                Ok(Outcome::Quiet)
            }
            Act::Renew(session) => {
                let held = self.held(session)?;
                let old = held.token.expose().to_owned();
                let (token, _) = self.engine.renew(&old).map_err(|e| ended(session, e))?;
                let replay = self.engine.touch(&old);
                if let Some(held) = self.sessions.get_mut(session) {
                    held.token = token;
                }
                Ok(Outcome::Note(match replay {
                    Err(_) => "The old token was tried again and refused: only the new one works."
                        .to_owned(),
                    Ok(_) => "The old token still worked: that is a bug.".to_owned(),
                }))
            }
            Act::ClosingTime(after) => {
                let at = self.engine.now() + after.as_millis() as Millis;
                // The time of day in the zone the engine reads closing times in.
                let zone = self.engine.policy().time_zone;
                let local = zone
                    .timestamp_millis_opt(at)
                    .single()
                    .ok_or("the closing time is out of range")?;
                let closing = ClosingTime(local.time().with_nanosecond(0).unwrap_or(local.time()));
                let next = self
                    .engine
                    .set_closing_time(Some(closing))
                    .ok_or("the closing time could not be set")?;
                Ok(Outcome::Closing(
                    next,
                    format!(
                        "Closing time is now {}: every session still open then ends at that instant.",
                        clock_label(next, zone)
                    ),
                ))
            }
        }
    }
}

enum Outcome {
    /// The events say it all.
    Quiet,
    Note(String),
    Closing(Millis, String),
}

/// "18:00", or "18:00:30" when the seconds matter, in `zone`.
pub fn clock_label(at: Millis, zone: chrono_tz::Tz) -> String {
    match zone.timestamp_millis_opt(at).single() {
        Some(t) if t.second() == 0 => t.format("%H:%M").to_string(),
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => "?".to_owned(),
    }
}
