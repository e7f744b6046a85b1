//! Lessons: scripted classes on session timeouts, `assets/lessons/*.toml`.
//!
//! A lesson file has a title, its own policy and clock speed, and steps at
//! clock times from the start: log in, act (touch), log out, revoke, revoke a
//! user, renew, set the closing time relative to the step, pause, and a
//! caption in plain words. This module reads and checks a lesson (every error
//! names the step and the field); `player` plays one on an engine. Neither
//! keeps dashboard state or draws anything.

pub mod player;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use toml::Value;

use crate::config::PolicyConfig;
use crate::engine::clock::SPEED_RANGE;
use crate::engine::{Bounds, MAX_SESSION_LIMIT, OnLimit, Policy};

pub use player::{Played, Player};

/// Lessons that ship with sessiontop, by name, in teaching order.
pub const BUNDLED: &[(&str, &str)] = &[
    (
        "idle-vs-absolute",
        include_str!("../../../assets/lessons/idle-vs-absolute.toml"),
    ),
    (
        "closing-time",
        include_str!("../../../assets/lessons/closing-time.toml"),
    ),
    (
        "revocation",
        include_str!("../../../assets/lessons/revocation.toml"),
    ),
    (
        "renewal",
        include_str!("../../../assets/lessons/renewal.toml"),
    ),
    (
        "session-limit",
        include_str!("../../../assets/lessons/session-limit.toml"),
    ),
    (
        "each-way",
        include_str!("../../../assets/lessons/each-way.toml"),
    ),
];

/// A lesson, checked and ready to play.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// The bundled name, or the file's stem.
    pub name: String,
    pub title: String,
    /// One line for `sessiontop lesson`.
    pub summary: String,
    pub speed: f64,
    /// The clock's time of day when the lesson starts (local); `None`: now, on the minute.
    pub clock: Option<NaiveTime>,
    /// Whether the clock pauses after every ending, at start (the `p` key toggles it).
    pub auto_pause: bool,
    pub idle_timeout: Duration,
    pub absolute_timeout: Duration,
    /// What a login step's own timeouts may be (`min_timeout`, `max_idle_timeout`
    /// and `max_absolute_timeout` in the lesson's `[policy]`, as in config.toml).
    pub idle_bounds: Bounds,
    pub absolute_bounds: Bounds,
    pub closing_time: Option<NaiveTime>,
    /// At most this many live sessions per user; `None`: no limit.
    pub max_sessions_per_user: Option<u32>,
    /// What a login over the limit does.
    pub on_limit: OnLimit,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Clock time from the lesson's start.
    pub at: Duration,
    pub act: Option<Act>,
    /// What the trainer's script says about this step.
    pub caption: Option<String>,
    /// Pause the clock after this step, for the room to talk.
    pub pause: bool,
}

/// The attribute a login of a lesson keeps its session's name in, when the
/// script names it apart from its user (`session = "ada-laptop"`).
pub const SESSION_ATTRIBUTE: &str = "session";

/// What a step does. Sessions are named by `session` at login (default: the user).
#[derive(Debug, Clone, PartialEq)]
pub enum Act {
    Login {
        user: String,
        session: String,
        idle_timeout: Option<Duration>,
        absolute_timeout: Option<Duration>,
        ip: Option<String>,
        user_agent: Option<String>,
    },
    Touch(String),
    Logout(String),
    Revoke(String),
    RevokeUser(String),
    Renew(String),
    /// Sets the closing time this long after the step.
    ClosingTime(Duration),
}

impl Act {
    /// The step as a person would say it, when the script gives no caption.
    pub fn describe(&self) -> String {
        match self {
            Act::Login { user, .. } => format!("{user} logs in"),
            Act::Touch(s) => format!("{s} clicks"),
            Act::Logout(s) => format!("{s} logs out"),
            Act::Revoke(s) => format!("the trainer revokes {s}'s session"),
            Act::RevokeUser(u) => format!("the trainer logs {u} out everywhere"),
            Act::Renew(s) => format!("{s}'s token is renewed"),
            Act::ClosingTime(d) => format!(
                "the closing time is set {} from now",
                humantime::format_duration(*d)
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct LessonError {
    pub origin: String,
    pub message: String,
}

/// The step keys a lesson file may use.
const STEP_FIELDS: &[&str] = &[
    "at",
    "login",
    "touch",
    "logout",
    "revoke",
    "revoke_user",
    "renew",
    "closing_time",
    "caption",
    "pause",
    "session",
    "idle_timeout",
    "absolute_timeout",
    "ip",
    "user_agent",
];
const ACTS: &[&str] = &[
    "login",
    "touch",
    "logout",
    "revoke",
    "revoke_user",
    "renew",
    "closing_time",
];
const LOGIN_ONLY: &[&str] = &[
    "session",
    "idle_timeout",
    "absolute_timeout",
    "ip",
    "user_agent",
];

/// One line per bundled lesson, for `sessiontop lesson`, then `keys`: the
/// lesson keys as the dashboard's key map binds them.
pub fn listing(keys: &str) -> String {
    let mut out = String::from("Bundled lessons (start one with `sessiontop lesson NAME`):\n\n");
    for (name, _) in BUNDLED {
        match Lesson::bundled(name) {
            Ok(lesson) => out.push_str(&format!("  {name:<18} {}\n", lesson.summary)),
            Err(e) => out.push_str(&format!("  {name:<18} (broken: {e})\n")),
        }
    }
    out.push_str(
        "\nA lesson file of your own works too: `sessiontop lesson PATH` (see assets/lessons/).\n",
    );
    out.push_str(&format!("Keys: {keys}.\n"));
    out
}

impl Lesson {
    /// A bundled lesson by name.
    pub fn bundled(name: &str) -> Result<Lesson, LessonError> {
        let (_, text) = BUNDLED
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| LessonError {
                origin: format!("lesson {name}"),
                message: "no bundled lesson has this name".to_owned(),
            })?;
        Self::parse(name, text).map_err(|message| LessonError {
            origin: format!("lesson {name}"),
            message,
        })
    }

    /// A bundled lesson by name, or a lesson file by path; a relative path
    /// resolves from `base` (a config file's folder) or else the current directory.
    pub fn load(name_or_path: &str, base: Option<&Path>) -> Result<Lesson, LessonError> {
        if BUNDLED.iter().any(|(n, _)| *n == name_or_path) {
            return Self::bundled(name_or_path);
        }
        let path = resolve(name_or_path, base);
        let origin = format!("lesson file {}", path.display());
        let names = BUNDLED
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(", ");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let looks_like_a_name = !name_or_path.contains(['/', '.']);
            if looks_like_a_name && e.kind() == std::io::ErrorKind::NotFound {
                LessonError {
                    origin: format!("lesson {name_or_path}"),
                    message: format!(
                        "no bundled lesson has this name and no file does either; the bundled lessons are {names}"
                    ),
                }
            } else {
                LessonError {
                    origin: origin.clone(),
                    message: format!("cannot read it ({e}); the bundled lessons are {names}"),
                }
            }
        })?;
        let name = path
            .file_stem()
            .map_or("lesson".to_owned(), |s| s.to_string_lossy().into_owned());
        Self::parse(&name, &text).map_err(|message| LessonError { origin, message })
    }

    /// Reads and checks a lesson; an error names the step and the field.
    pub fn parse(name: &str, text: &str) -> Result<Lesson, String> {
        let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
        for key in table.keys() {
            if ![
                "title",
                "summary",
                "speed",
                "clock",
                "auto_pause",
                "policy",
                "step",
            ]
            .contains(&key.as_str())
            {
                return Err(format!(
                    "unknown field {key:?}; a lesson has title, summary, speed, clock, auto_pause, [policy] and [[step]]"
                ));
            }
        }
        let title = string(&table, "title")?.ok_or("a lesson needs a title")?;
        let summary = string(&table, "summary")?.unwrap_or_else(|| title.clone());
        let speed = match table.get("speed") {
            None => 1.0,
            Some(Value::Float(f)) => *f,
            Some(Value::Integer(i)) => *i as f64,
            Some(other) => return Err(format!("speed = {other} is not a number")),
        };
        if !(SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed) {
            return Err(format!("speed = {speed} is outside 0.5 to 100"));
        }
        let clock = string(&table, "clock")?
            .map(|s| time_of_day(&s).map_err(|e| format!("clock = {s:?} {e}")))
            .transpose()?;
        let auto_pause = match table.get("auto_pause") {
            None => true,
            Some(Value::Boolean(b)) => *b,
            Some(other) => return Err(format!("auto_pause = {other} is not true or false")),
        };
        let defaults = Policy::default();
        let mut lesson = Lesson {
            name: name.to_owned(),
            title,
            summary,
            speed,
            clock,
            auto_pause,
            idle_timeout: defaults.idle_timeout,
            absolute_timeout: defaults.absolute_timeout,
            idle_bounds: defaults.idle_bounds,
            absolute_bounds: defaults.absolute_bounds,
            closing_time: None,
            max_sessions_per_user: None,
            on_limit: OnLimit::default(),
            steps: Vec::new(),
        };
        // The lesson's [policy] is checked as config.toml's is, with the
        // same words: the value as written, and the bound and its key.
        let mut checked = PolicyConfig::default();
        if let Some(policy) = table.get("policy") {
            let Value::Table(policy) = policy else {
                return Err("policy must be a table: [policy]".to_owned());
            };
            for (key, value) in policy {
                if key == "max_sessions_per_user" {
                    lesson.max_sessions_per_user = Some(
                        value
                            .as_integer()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| (1..=MAX_SESSION_LIMIT).contains(n))
                            .ok_or_else(|| {
                                format!(
                                    "policy.max_sessions_per_user = {value} is not a whole number from 1 to {MAX_SESSION_LIMIT}"
                                )
                            })?,
                    );
                    continue;
                }
                let text = value
                    .as_str()
                    .ok_or_else(|| format!("policy.{key} = {value} must be a string"))?;
                let field = |e: String| format!("policy.{key} = {text:?}: {e}");
                if let Some((name, slot)) = policy_duration(&mut checked, key) {
                    *slot =
                        crate::units::parse_timeout(text).map_err(|e| format!("{name}: {e}"))?;
                    checked.written.insert(name, text.trim().to_owned());
                    continue;
                }
                match key.as_str() {
                    "closing_time" => lesson.closing_time = Some(time_of_day(text).map_err(field)?),
                    "on_limit" => {
                        lesson.on_limit = match text {
                            "evict_oldest" => OnLimit::EvictOldest,
                            "refuse" => OnLimit::Refuse,
                            _ => {
                                return Err(field(
                                    "is not \"evict_oldest\" or \"refuse\"".to_owned(),
                                ));
                            }
                        }
                    }
                    _ => {
                        return Err(format!(
                            "unknown field policy.{key}; the lesson policy has idle_timeout, absolute_timeout, closing_time, max_sessions_per_user and on_limit (and, as in config.toml, min_timeout, max_idle_timeout and max_absolute_timeout)"
                        ));
                    }
                }
            }
        }
        let policy = checked.to_policy().map_err(|e| e.to_string())?;
        lesson.idle_timeout = policy.idle_timeout;
        lesson.absolute_timeout = policy.absolute_timeout;
        lesson.idle_bounds = policy.idle_bounds;
        lesson.absolute_bounds = policy.absolute_bounds;
        let steps = match table.get("step") {
            Some(Value::Array(steps)) if !steps.is_empty() => steps,
            _ => return Err("a lesson needs at least one [[step]]".to_owned()),
        };
        let mut checker = Checker {
            limit: lesson.max_sessions_per_user,
            on_limit: lesson.on_limit,
            ..Checker::default()
        };
        for (i, step) in steps.iter().enumerate() {
            let Value::Table(step) = step else {
                return Err(format!("step {} must be a table: [[step]]", i + 1));
            };
            let step = checker
                .step(step, &lesson)
                .map_err(|e| format!("step {}{e}", i + 1))?;
            lesson.steps.push(step);
        }
        Ok(lesson)
    }

    /// The engine policy this lesson's sessions live under; its closing
    /// times of day are read in `zone`.
    pub fn policy(&self, zone: chrono_tz::Tz) -> Policy {
        Policy {
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            closing_time: self.closing_time.map(crate::engine::ClosingTime),
            time_zone: zone,
            max_sessions_per_user: self.max_sessions_per_user,
            on_limit: self.on_limit,
            idle_bounds: self.idle_bounds,
            absolute_bounds: self.absolute_bounds,
            ..Policy::default()
        }
    }
}

/// The config policy's duration behind a lesson's `[policy]` key, with the
/// name config errors give it.
fn policy_duration<'a>(
    policy: &'a mut PolicyConfig,
    key: &str,
) -> Option<(&'static str, &'a mut Duration)> {
    Some(match key {
        "idle_timeout" => ("policy.idle_timeout", &mut policy.idle_timeout),
        "absolute_timeout" => ("policy.absolute_timeout", &mut policy.absolute_timeout),
        "min_timeout" => ("policy.min_timeout", &mut policy.min_timeout),
        "max_idle_timeout" => ("policy.max_idle_timeout", &mut policy.max_idle_timeout),
        "max_absolute_timeout" => (
            "policy.max_absolute_timeout",
            &mut policy.max_absolute_timeout,
        ),
        _ => return None,
    })
}

/// Relative paths resolve from `base` when given, else from the current directory.
pub fn resolve(path: &str, base: Option<&Path>) -> PathBuf {
    let path = Path::new(path);
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_owned(),
    }
}

/// What the steps so far have done, to check the next one against.
#[derive(Default)]
struct Checker {
    at: Duration,
    /// Sessions logged in and not yet ended by a step.
    live: HashSet<String>,
    /// Every session and user a login has named.
    known: HashSet<String>,
    users: HashSet<String>,
    /// Each user's live sessions, oldest first: a login over the limit
    /// evicts the first (or is refused).
    by_user: HashMap<String, Vec<String>>,
    limit: Option<u32>,
    on_limit: OnLimit,
}

impl Checker {
    /// A step ends `session`.
    fn end(&mut self, session: &str) {
        self.live.remove(session);
        for held in self.by_user.values_mut() {
            held.retain(|s| s != session);
        }
    }

    /// Checks one step; errors start with what follows "step N".
    fn step(&mut self, step: &toml::Table, lesson: &Lesson) -> Result<Step, String> {
        for key in step.keys() {
            if !STEP_FIELDS.contains(&key.as_str()) {
                return Err(format!(
                    ": unknown field {key:?}; a step can have {}",
                    STEP_FIELDS.join(", ")
                ));
            }
        }
        let acts: Vec<&str> = ACTS
            .iter()
            .copied()
            .filter(|a| step.contains_key(*a))
            .collect();
        let name = acts.first().copied();
        let label = match name {
            Some(act) => format!(
                " ({act} = {})",
                step.get(act).map_or(String::new(), |v| v.to_string())
            ),
            None => String::new(),
        };
        let fail = |field: &str, message: String| format!("{label}, {field}: {message}");
        if acts.len() > 1 {
            return Err(format!(
                "{label}: does {} at once; give each its own step",
                acts.join(" and ")
            ));
        }
        if name != Some("login")
            && let Some(field) = LOGIN_ONLY.iter().find(|f| step.contains_key(**f))
        {
            return Err(fail(field, "belongs to a login step".to_owned()));
        }
        let text = |field: &str| -> Result<Option<String>, String> {
            match step.get(field) {
                None => Ok(None),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
                Some(other) => Err(fail(field, format!("{other} is not a non-empty string"))),
            }
        };
        let at = match text("at")? {
            Some(s) => {
                let at = duration(&s).map_err(|e| fail("at", format!("{s:?} {e}")))?;
                if at > super::MAX_STEP_AT {
                    return Err(fail(
                        "at",
                        format!("{s:?} is later than a lesson may run (30 days)"),
                    ));
                }
                at
            }
            None => self.at,
        };
        if at < self.at {
            return Err(fail(
                "at",
                format!(
                    "{} comes before the step above ({}); list steps in time order",
                    humantime::format_duration(at),
                    humantime::format_duration(self.at)
                ),
            ));
        }
        self.at = at;
        let caption = text("caption")?;
        let pause = match step.get("pause") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => return Err(fail("pause", format!("{other} is not true or false"))),
        };
        let timeout = |field: &str, bounds: crate::engine::Bounds| -> Result<_, String> {
            text(field)?
                .map(|s| {
                    let d = duration(&s).map_err(|e| fail(field, format!("{s:?} {e}")))?;
                    if bounds.contains(d) {
                        Ok(d)
                    } else {
                        Err(fail(
                            field,
                            format!(
                                "{s:?} is outside {} to {}",
                                humantime::format_duration(bounds.min),
                                humantime::format_duration(bounds.max)
                            ),
                        ))
                    }
                })
                .transpose()
        };
        let act = match name {
            None => {
                if caption.is_none() && !pause {
                    return Err(
                        ": does nothing; give it an action, a caption or pause = true".to_owned(),
                    );
                }
                None
            }
            Some("login") => {
                let user = text("login")?.ok_or_else(|| fail("login", "is empty".to_owned()))?;
                let session = text("session")?.unwrap_or_else(|| user.clone());
                if self.live.contains(&session) {
                    return Err(fail(
                        "session",
                        format!(
                            "{session:?} is already logged in; name this one, such as session = \"{session}-phone\""
                        ),
                    ));
                }
                let held = self.by_user.entry(user.clone()).or_default();
                let over = self.limit.is_some_and(|limit| held.len() >= limit as usize);
                if over && self.on_limit == OnLimit::EvictOldest {
                    let oldest = held.remove(0);
                    self.live.remove(&oldest);
                }
                if !over || self.on_limit == OnLimit::EvictOldest {
                    held.push(session.clone());
                    self.live.insert(session.clone());
                }
                self.known.insert(session.clone());
                self.users.insert(user.clone());
                Some(Act::Login {
                    user,
                    session,
                    idle_timeout: timeout("idle_timeout", lesson.idle_bounds)?,
                    absolute_timeout: timeout("absolute_timeout", lesson.absolute_bounds)?,
                    ip: text("ip")?,
                    user_agent: text("user_agent")?,
                })
            }
            Some("revoke_user") => {
                let user = text("revoke_user")?.unwrap_or_default();
                if !self.users.contains(&user) {
                    return Err(fail(
                        "revoke_user",
                        format!("no step above logs in a session of user {user:?}"),
                    ));
                }
                for session in self.by_user.remove(&user).unwrap_or_default() {
                    self.live.remove(&session);
                }
                Some(Act::RevokeUser(user))
            }
            Some("closing_time") => {
                let s = text("closing_time")?.unwrap_or_default();
                Some(Act::ClosingTime(
                    relative(&s).map_err(|e| fail("closing_time", e))?,
                ))
            }
            Some(act) => {
                let session = text(act)?.unwrap_or_default();
                if !self.known.contains(&session) {
                    return Err(fail(
                        act,
                        format!("no step above logs in a session named {session:?}"),
                    ));
                }
                Some(match act {
                    "touch" => Act::Touch(session),
                    "renew" => Act::Renew(session),
                    "logout" => {
                        self.end(&session);
                        Act::Logout(session)
                    }
                    _ => {
                        self.end(&session);
                        Act::Revoke(session)
                    }
                })
            }
        };
        Ok(Step {
            at,
            act,
            caption,
            pause,
        })
    }
}

fn string(table: &toml::Table, key: &str) -> Result<Option<String>, String> {
    match table.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{key} = {other} must be a string")),
    }
}

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|_| {
        "is not a duration; use a number and a unit, such as \"30s\", \"2m\" or \"1m30s\""
            .to_owned()
    })
}

fn time_of_day(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| "is not a time of day; use 24-hour \"HH:MM\", such as \"18:00\"".to_owned())
}

/// A closing time relative to its step: "+2m".
fn relative(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix('-') {
        let _ = duration(rest).map_err(|e| format!("{text:?} {e}"))?;
        return Err(format!(
            "{text:?} is in the past; give a time after the step, such as \"+2m\""
        ));
    }
    let Some(rest) = t.strip_prefix('+') else {
        return Err(format!(
            "{text:?} is not relative; give a time after the step, such as \"+2m\""
        ));
    };
    let d = duration(rest).map_err(|e| format!("{text:?} {e}"))?;
    if d.is_zero() {
        return Err(format!(
            "{text:?} is not after the step; give a time after it, such as \"+2m\""
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
