//! The configuration model: config.toml, its defaults, and its validation.
//!
//! Strength order: flags, then `SESSIONTOP_*` environment variables (both
//! handled by clap in `cli`), then the config file, then the defaults here.
//! Every bad value is an error that names the key, the value and what is
//! allowed; nothing starts on a bad config. This module reads files; it does
//! not start anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use serde::{Deserialize, Deserializer};

use crate::engine::{Bounds, ClosingTime, Policy, driver::DriverConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Keys(#[from] crate::tui::keymap::KeyMapError),
    #[error("{key} = {value:?} is not allowed: {allowed}")]
    Invalid {
        key: &'static str,
        value: String,
        allowed: String,
    },
}

/// The whole configuration, as config.toml spells it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub policy: PolicyConfig,
    pub engine: EngineConfig,
    pub server: ServerConfig,
    pub dashboard: DashboardConfig,
    pub simulator: SimulatorConfig,
    pub store: StoreConfig,
    /// Action name -> keys, for example `revoke = ["r", "Delete"]`.
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub absolute_timeout: Duration,
    #[serde(deserialize_with = "closing_time")]
    pub closing_time: Option<NaiveTime>,
    #[serde(deserialize_with = "duration")]
    pub min_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_idle_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_absolute_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub touch_event_interval: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        let policy = Policy::default();
        PolicyConfig {
            idle_timeout: policy.idle_timeout,
            absolute_timeout: policy.absolute_timeout,
            closing_time: None,
            min_timeout: policy.idle_bounds.min,
            max_idle_timeout: policy.idle_bounds.max,
            max_absolute_timeout: policy.absolute_bounds.max,
            touch_event_interval: policy.touch_event_interval,
        }
    }
}

impl PolicyConfig {
    /// The engine policy, after checking the keys against each other.
    pub fn to_policy(&self) -> Result<Policy, ConfigError> {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        if self.min_timeout.is_zero() {
            return Err(invalid(
                "policy.min_timeout",
                show(self.min_timeout),
                "a duration of at least 1ms",
            ));
        }
        let within = |key: &'static str, value: Duration, max: Duration| {
            if value < self.min_timeout || value > max {
                Err(invalid(
                    key,
                    show(value),
                    format!(
                        "a duration from policy.min_timeout ({}) to {}",
                        show(self.min_timeout),
                        show(max)
                    ),
                ))
            } else {
                Ok(())
            }
        };
        if self.max_idle_timeout > crate::engine::session::MAX_IDLE_TIMEOUT {
            return Err(invalid(
                "policy.max_idle_timeout",
                show(self.max_idle_timeout),
                "a duration of at most 49days",
            ));
        }
        within(
            "policy.idle_timeout",
            self.idle_timeout,
            self.max_idle_timeout,
        )?;
        within(
            "policy.absolute_timeout",
            self.absolute_timeout,
            self.max_absolute_timeout,
        )?;
        Ok(Policy {
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            closing_time: self.closing_time.map(ClosingTime),
            idle_bounds: Bounds {
                min: self.min_timeout,
                max: self.max_idle_timeout,
            },
            absolute_bounds: Bounds {
                min: self.min_timeout,
                max: self.max_absolute_timeout,
            },
            touch_event_interval: self.touch_event_interval,
        })
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Events kept for subscribers that resume.
    pub history: usize,
    /// Events a subscriber may fall behind before it must resync.
    pub subscriber_buffer: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        let d = DriverConfig::default();
        EngineConfig {
            history: d.history,
            subscriber_buffer: d.subscriber_buffer,
        }
    }
}

impl EngineConfig {
    pub fn to_driver_config(&self) -> Result<DriverConfig, ConfigError> {
        if self.history == 0 {
            return Err(invalid("engine.history", "0", "a number of events >= 1"));
        }
        if self.subscriber_buffer < 16 {
            return Err(invalid(
                "engine.subscriber_buffer",
                self.subscriber_buffer.to_string(),
                "a number of events >= 16",
            ));
        }
        Ok(DriverConfig {
            history: self.history,
            subscriber_buffer: self.subscriber_buffer,
        })
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub app_token: Option<String>,
    pub admin_token: Option<String>,
    pub app_token_file: Option<PathBuf>,
    pub admin_token_file: Option<PathBuf>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    #[serde(deserialize_with = "duration")]
    pub keep_alive: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:7878".to_owned(),
            app_token: None,
            admin_token: None,
            app_token_file: None,
            admin_token_file: None,
            body_limit: 16 * 1024,
            keep_alive: Duration::from_secs(15),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Speed of the embedded engine's virtual clock at start.
    pub speed: f64,
    /// Frames per second while something moves.
    pub fps: u32,
    /// How long an ended session stays on screen (real time).
    #[serde(deserialize_with = "duration")]
    pub linger: Duration,
    /// Countdown turns yellow below this fraction of its timeout.
    pub warn_below: f64,
    /// Countdown turns red below this fraction of its timeout.
    pub critical_below: f64,
    /// Events kept in the dashboard's log.
    pub event_log: usize,
    /// Whether the event log lists `touched` events (activity) too.
    pub show_touches: bool,
    pub no_color: bool,
    /// Colours: "default", or "projector" (high contrast, large gauges, for a room).
    pub theme: ThemeName,
    /// Server to connect to instead of the embedded engine.
    pub server: Option<String>,
    /// File that holds the server's admin token.
    pub token_file: Option<PathBuf>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            // Ten times real time: a 15-minute idle timeout runs out in 90 seconds of a demo.
            speed: 10.0,
            fps: 30,
            linger: Duration::from_secs(5),
            warn_below: 0.25,
            critical_below: 0.10,
            event_log: 1000,
            show_touches: false,
            no_color: false,
            theme: ThemeName::Default,
            server: None,
            token_file: None,
        }
    }
}

/// The dashboard's colour theme (`[dashboard] theme`, `--theme`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ThemeName {
    #[default]
    Default,
    /// High contrast on black, with large gauges: for a projector.
    Projector,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    pub enabled: bool,
    /// Logins at start, so the dashboard is alive from the first second.
    pub initial_logins: usize,
    /// Average simulated logins per minute of clock time.
    pub logins_per_minute: f64,
    /// Average pause between a simulated user's requests (clock time).
    #[serde(deserialize_with = "duration")]
    pub activity_interval: Duration,
    /// Shares of simulated users by how their session ends. They need not sum to 1.
    pub mix: SimulatorMix,
    /// A scripted lesson to play instead of random logins: a bundled name or a file.
    pub scenario: Option<String>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            enabled: true,
            initial_logins: 12,
            logins_per_minute: 6.0,
            activity_interval: Duration::from_secs(60),
            mix: SimulatorMix::default(),
            scenario: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorMix {
    /// Users who go quiet and expire idle.
    pub go_idle: f64,
    /// Users who log out.
    pub log_out: f64,
    /// Users who stay active until the absolute limit.
    pub stay: f64,
}

impl Default for SimulatorMix {
    fn default() -> Self {
        SimulatorMix {
            go_idle: 0.55,
            log_out: 0.4,
            stay: 0.05,
        }
    }
}

/// `[store]`: where `sessiontop serve` keeps its sessions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `memory`, `file:PATH` (or a bare path), `redis://…`; unset: a file in the state directory.
    pub url: Option<String>,
    /// `everysec` or `always`.
    pub fsync: String,
    /// Events a durable store keeps for stream clients that fell behind: none older than this…
    #[serde(deserialize_with = "duration")]
    pub history_retention: Duration,
    /// …and at most this many.
    pub history_max_events: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            fsync: "everysec".into(),
            history_retention: Duration::from_secs(24 * 3600),
            history_max_events: 2_000_000,
        }
    }
}

impl StoreConfig {
    /// The file `serve` keeps its sessions in when no store is named.
    pub fn default_path() -> PathBuf {
        dirs::state_dir()
            .or_else(|| dirs::home_dir().map(|home| home.join(".local/state")))
            .unwrap_or_else(std::env::temp_dir)
            .join("sessiontop")
            .join("sessions.db")
    }

    pub fn options(&self) -> Result<crate::store::StoreOptions, ConfigError> {
        let url = match self.url.as_deref() {
            None => crate::store::StoreUrl::File(Self::default_path()),
            Some(url) => crate::store::StoreUrl::parse(url).map_err(|allowed| {
                let shown = crate::store::StoreUrl::Redis(url.to_owned()).redacted();
                invalid("store.url", shown, allowed)
            })?,
        };
        let fsync = self.fsync.parse().map_err(|_| {
            invalid(
                "store.fsync",
                self.fsync.clone(),
                "\"everysec\" or \"always\"",
            )
        })?;
        if self.history_max_events == 0 {
            return Err(invalid("store.history_max_events", "0", "at least 1"));
        }
        Ok(crate::store::StoreOptions {
            url,
            fsync,
            max_events: self.history_max_events,
            max_event_age: self.history_retention,
        })
    }
}

fn invalid(key: &'static str, value: impl Into<String>, allowed: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.into(),
        allowed: allowed.into(),
    }
}

/// Parses a humantime duration such as "90s", "15m" or "8h".
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|_| {
        format!(
            "{s:?} is not a duration; use a number and a unit, such as \"90s\", \"15m\" or \"8h\""
        )
    })
}

/// Parses a closing time "HH:MM" (24-hour, local time).
pub fn parse_closing_time(s: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        format!("{s:?} is not a time of day; use 24-hour \"HH:MM\", such as \"23:00\"")
    })
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

fn closing_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveTime>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() || s.trim() == "off" {
        return Ok(None);
    }
    parse_closing_time(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl Config {
    /// Reads and checks a config file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Finds the config file: the explicit path, else `$SESSIONTOP_CONFIG`, else
    /// `sessiontop/config.toml` in the user config directory if it exists.
    pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(path) = explicit {
            return Some(path.to_owned());
        }
        if let Some(path) = std::env::var_os("SESSIONTOP_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        let path = dirs::config_dir()?.join("sessiontop").join("config.toml");
        path.exists().then_some(path)
    }

    /// Loads the config the rules above find, or the defaults if there is none.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        match Self::locate(explicit) {
            Some(path) => Self::from_file(&path),
            None => Ok(Config::default()),
        }
    }

    /// Checks every value that types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.policy.to_policy()?;
        self.store.options()?;
        self.engine.to_driver_config()?;
        let d = &self.dashboard;
        if !(crate::engine::clock::SPEED_RANGE.0..=crate::engine::clock::SPEED_RANGE.1)
            .contains(&d.speed)
        {
            return Err(invalid(
                "dashboard.speed",
                d.speed.to_string(),
                "a speed factor from 0.5 to 100",
            ));
        }
        if !(1..=120).contains(&d.fps) {
            return Err(invalid("dashboard.fps", d.fps.to_string(), "1 to 120"));
        }
        for (key, value) in [
            ("dashboard.warn_below", d.warn_below),
            ("dashboard.critical_below", d.critical_below),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(key, value.to_string(), "a fraction from 0 to 1"));
            }
        }
        if d.critical_below > d.warn_below {
            return Err(invalid(
                "dashboard.critical_below",
                d.critical_below.to_string(),
                format!(
                    "a fraction no larger than dashboard.warn_below ({})",
                    d.warn_below
                ),
            ));
        }
        if d.event_log == 0 {
            return Err(invalid(
                "dashboard.event_log",
                "0",
                "a number of events >= 1",
            ));
        }
        let s = &self.simulator;
        if s.initial_logins > 10_000 {
            return Err(invalid(
                "simulator.initial_logins",
                s.initial_logins.to_string(),
                "0 to 10000",
            ));
        }
        if !(s.logins_per_minute.is_finite() && (0.0..=60_000.0).contains(&s.logins_per_minute)) {
            return Err(invalid(
                "simulator.logins_per_minute",
                s.logins_per_minute.to_string(),
                "a rate from 0 to 60000",
            ));
        }
        if s.activity_interval.is_zero() {
            return Err(invalid(
                "simulator.activity_interval",
                "0s",
                "a duration of at least 1ms",
            ));
        }
        for (key, value) in [
            ("simulator.mix.go_idle", s.mix.go_idle),
            ("simulator.mix.log_out", s.mix.log_out),
            ("simulator.mix.stay", s.mix.stay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(key, value.to_string(), "a share >= 0"));
            }
        }
        if s.mix.go_idle + s.mix.log_out + s.mix.stay <= 0.0 {
            return Err(invalid(
                "simulator.mix",
                "all zero",
                "at least one share above 0",
            ));
        }
        if let Some(scenario) = &s.scenario {
            crate::sim::scenario::Scenario::load(scenario)
                .map_err(|e| invalid("simulator.scenario", scenario.clone(), e))?;
        }
        crate::tui::keymap::KeyMap::from_config(&self.keys)?;
        if self.server.keep_alive < Duration::from_millis(10) {
            return Err(invalid(
                "server.keep_alive",
                humantime::format_duration(self.server.keep_alive).to_string(),
                "a duration of at least 10ms",
            ));
        }
        if self.server.body_limit < 256 {
            return Err(invalid(
                "server.body_limit",
                self.server.body_limit.to_string(),
                "a number of bytes >= 256",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_config_toml_is_the_defaults() {
        let text = include_str!("../config.toml");
        assert_eq!(Config::from_toml(text).unwrap(), Config::default());
    }

    #[test]
    fn a_bad_duration_names_the_key_and_the_value() {
        let err = Config::from_toml("[policy]\nidle_timeout = \"15x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("idle_timeout"), "{err}");
        assert!(err.contains("15x"), "{err}");
        assert!(err.contains("15m"), "{err}");
    }

    #[test]
    fn an_unknown_key_is_an_error() {
        let err = Config::from_toml("[policy]\nidle = \"15m\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("idle"), "{err}");
    }

    #[test]
    fn idle_timeout_above_its_maximum_is_refused() {
        let err = Config::from_toml("[policy]\nidle_timeout = \"48h\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("policy.idle_timeout"), "{err}");
        assert!(err.contains("2days"), "{err}");
    }

    #[test]
    fn closing_time_must_be_hh_mm() {
        assert!(Config::from_toml("[policy]\nclosing_time = \"25:00\"\n").is_err());
        let config = Config::from_toml("[policy]\nclosing_time = \"23:00\"\n").unwrap();
        assert_eq!(
            config.policy.closing_time,
            NaiveTime::from_hms_opt(23, 0, 0)
        );
    }

    #[test]
    fn the_red_threshold_may_not_sit_above_the_yellow_one() {
        let err = Config::from_toml("[dashboard]\nwarn_below = 0.05\ncritical_below = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dashboard.critical_below"), "{err}");
    }

    #[test]
    fn speed_out_of_range_is_refused() {
        let err = Config::from_toml("[dashboard]\nspeed = 500.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dashboard.speed"), "{err}");
    }
}
