//! Scripted scenarios for lessons: `assets/scenarios/*.toml`.
//!
//! A scenario is a list of steps at clock times from its start: log a user
//! in (with optional per-session timeouts), touch, log out, revoke. It runs
//! beside the engine like the random simulator, in clock time, so pausing
//! and speeding up the clock applies to it too. It holds its users' tokens
//! and never shows them. It keeps no dashboard state.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::engine::{EngineHandle, Handle, Login, Millis, Token};

/// Scenarios that ship with sessiontop, by name.
const BUNDLED: &[(&str, &str)] = &[(
    "each-way",
    include_str!("../../assets/scenarios/each-way.toml"),
)];

/// Who the event log names when a scenario revokes.
pub const TRAINER: &str = "trainer";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub description: String,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(deserialize_with = "step_at")]
    pub at: Duration,
    pub login: Option<String>,
    pub touch: Option<String>,
    pub logout: Option<String>,
    pub revoke: Option<String>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub absolute_timeout: Option<Duration>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Login,
    Touch,
    Logout,
    Revoke,
}

impl Step {
    fn act(&self) -> Option<(Act, &str)> {
        let acts = [
            (Act::Login, &self.login),
            (Act::Touch, &self.touch),
            (Act::Logout, &self.logout),
            (Act::Revoke, &self.revoke),
        ];
        let mut given = acts
            .iter()
            .filter_map(|(act, user)| Some((*act, user.as_deref()?)));
        let first = given.next()?;
        given.next().is_none().then_some(first)
    }
}

fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    crate::units::parse_duration(&s).map_err(serde::de::Error::custom)
}

/// A step's `at`: a duration of at most `MAX_STEP_AT`, refused as written.
fn step_at<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    let at = crate::units::parse_duration(&s).map_err(serde::de::Error::custom)?;
    if at > super::MAX_STEP_AT {
        return Err(serde::de::Error::custom(format!(
            "at = {s:?} is later than a scenario may run (30 days)"
        )));
    }
    Ok(at)
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl Scenario {
    /// A bundled scenario by name ("each-way"), or a scenario file by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, String> {
        let (origin, text) = match BUNDLED.iter().find(|(name, _)| *name == name_or_path) {
            Some((name, text)) => (format!("scenario {name}"), (*text).to_owned()),
            None => {
                let path = Path::new(name_or_path);
                let text = std::fs::read_to_string(path).map_err(|e| {
                    let bundled: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
                    format!(
                        "not a bundled scenario ({}) and not a readable file: {e}",
                        bundled.join(", ")
                    )
                })?;
                (format!("scenario file {}", path.display()), text)
            }
        };
        Self::parse(&text).map_err(|e| format!("{origin}: {e}"))
    }

    pub fn parse(text: &str) -> Result<Scenario, String> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| e.to_string())?;
        for (i, step) in scenario.steps.iter().enumerate() {
            if step.act().is_none() {
                return Err(format!(
                    "step {} needs exactly one of login, touch, logout or revoke",
                    i + 1
                ));
            }
        }
        Ok(scenario)
    }
}

/// A scenario being played on an engine.
pub struct Playback {
    engine: EngineHandle,
    /// Steps still to come, in time order, with their clock times.
    steps: Vec<(Millis, Step)>,
    tokens: HashMap<String, (Token, Handle)>,
}

impl Playback {
    pub fn new(engine: EngineHandle, scenario: Scenario, start: Millis) -> Self {
        let mut steps: Vec<(Millis, Step)> = scenario
            .steps
            .into_iter()
            .map(|step| (start + step.at.as_millis() as Millis, step))
            .collect();
        // Latest last, so the next one due is popped from the end.
        steps.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let playback = Playback {
            engine,
            steps,
            tokens: HashMap::new(),
        };
        playback.hold_at_next();
        playback
    }

    /// The clock may not pass the next step until it is played (as a
    /// lesson's player holds it), so a step happens at its scripted instant
    /// however late the task wakes at a high speed.
    fn hold_at_next(&self) {
        let next = self.next_at();
        self.engine.adjust_clock(|c| c.hold_at(next));
    }

    pub fn finished(&self) -> bool {
        self.steps.is_empty()
    }

    /// When the next step is due.
    pub fn next_at(&self) -> Option<Millis> {
        self.steps.last().map(|(at, _)| *at)
    }

    /// Plays every step due by `now`.
    pub fn act(&mut self, now: Millis) {
        while self.steps.last().is_some_and(|(at, _)| *at <= now) {
            let (_, step) = self.steps.pop().expect("checked");
            self.play(&step);
        }
        self.hold_at_next();
    }

    fn play(&mut self, step: &Step) {
        let Some((act, user)) = step.act() else {
            return;
        };
        let result = match act {
            Act::Login => {
                let mut attributes = BTreeMap::new();
                attributes.insert(
                    "ip".to_owned(),
                    step.ip.clone().unwrap_or_else(|| "192.0.2.1".to_owned()),
                );
                attributes.insert(
                    "user_agent".to_owned(),
                    step.user_agent
                        .clone()
                        .unwrap_or_else(|| "sessiontop scenario".to_owned()),
                );
                let login = Login {
                    user: user.to_owned(),
                    attributes: Some(attributes),
                    idle_timeout: step.idle_timeout,
                    absolute_timeout: step.absolute_timeout,
                    max_sessions_per_user: None,
                };
                self.engine.login(login).map(|(token, session)| {
                    self.tokens.insert(user.to_owned(), (token, session.handle));
                })
            }
            Act::Touch => match self.tokens.get(user) {
                Some((token, _)) => self.engine.touch(token.expose()).map(drop),
                None => Ok(()),
            },
            Act::Logout => match self.tokens.remove(user) {
                Some((token, _)) => self.engine.logout(token.expose()),
                None => Ok(()),
            },
            Act::Revoke => match self.tokens.remove(user) {
                Some((_, handle)) => self.engine.revoke(handle, TRAINER),
                None => Ok(()),
            },
        };
        // A step on a session that has already ended is part of the lesson, not a fault.
        if let Err(e) = result {
            tracing::info!("scenario step {act:?} {user}: {e}");
        }
    }

    /// Plays the scenario to its end in clock time.
    pub async fn run(mut self) {
        while !self.finished() {
            self.act(self.engine.now());
            let nap = self
                .next_at()
                .and_then(|at| self.engine.clock().real_wait_until(at))
                .map_or(super::MAX_NAP, |wait| wait.min(super::MAX_NAP));
            tokio::time::sleep(nap).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::driver::DriverConfig;
    use crate::engine::{Policy, VirtualClock};

    #[test]
    fn every_bundled_scenario_parses() {
        for (name, _) in BUNDLED {
            let scenario = Scenario::load(name).unwrap();
            assert!(!scenario.steps.is_empty(), "{name}");
        }
    }

    #[test]
    fn a_step_must_do_exactly_one_thing() {
        let err = Scenario::parse(
            "description = \"x\"\n[[step]]\nat = \"0s\"\nlogin = \"a\"\ntouch = \"a\"\n",
        )
        .unwrap_err();
        assert!(err.contains("step 1"), "{err}");
        let err = Scenario::parse("description = \"x\"\n[[step]]\nat = \"soon\"\nlogin = \"a\"\n")
            .unwrap_err();
        assert!(err.contains("soon"), "{err}");
        let err =
            Scenario::parse("description = \"x\"\n[[step]]\nat = \"40days\"\nlogin = \"a\"\n")
                .unwrap_err();
        assert!(
            err.contains("at = \"40days\" is later than a scenario may run (30 days)"),
            "{err}"
        );
        assert!(
            Scenario::load("no-such-scenario")
                .unwrap_err()
                .contains("each-way")
        );
    }

    /// At a high speed the task wakes late in clock time; the clock is held
    /// at each step, so every step still happens at its own instant.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_fast_clock_plays_each_step_at_its_instant() {
        let start = 1_000_000;
        let clock = Arc::new(VirtualClock::paused_at(start));
        let engine = EngineHandle::spawn(Policy::default(), clock, DriverConfig::default());
        let scenario = Scenario::parse(
            "description = \"x\"\n[[step]]\nat = \"10s\"\nlogin = \"a\"\n[[step]]\nat = \"20s\"\ntouch = \"a\"\n",
        )
        .unwrap();
        let playback = Playback::new(engine.clone(), scenario, start);
        engine.adjust_clock(|c| {
            c.set_speed(1000.0);
            c.set_paused(false);
        });
        tokio::time::timeout(Duration::from_secs(10), playback.run())
            .await
            .expect("played within 10 s");
        let page = engine.list(&crate::engine::ListQuery::default());
        let session = &page.sessions[0];
        assert_eq!(session.created_at, start + 10_000);
        assert_eq!(session.last_seen_at, start + 20_000);
    }

    #[tokio::test]
    async fn each_way_ends_one_session_each_way() {
        let clock = Arc::new(VirtualClock::paused_at(1_000_000));
        let engine = EngineHandle::spawn(Policy::default(), clock, DriverConfig::default());
        let mut playback = Playback::new(
            engine.clone(),
            Scenario::load("each-way").unwrap(),
            engine.now(),
        );
        for _ in 0..4 * 60 {
            playback.act(engine.now());
            engine.adjust_clock(|c| c.step(Duration::from_secs(1)));
        }
        assert!(playback.finished());
        let totals = engine.stats().totals;
        assert_eq!(totals.logins, 4);
        assert_eq!(
            (
                totals.logged_out,
                totals.expired_idle,
                totals.expired_absolute,
                totals.revoked
            ),
            (1, 1, 1, 1)
        );
    }
}
