//! The configuration model: config.toml, its defaults, and its validation.
//!
//! Strength order: flags, then environment variables (both folded in by
//! `cli`, the environment read once by `env`), then the config file, then the
//! defaults here. Every bad value is an error that names the key, the value
//! and what is allowed.
//!
//! A leaf: this module reads text and checks values that types alone cannot.
//! It does not load scenario files or build the key map (the simulator and the
//! dashboard check their own parts when they start), and nothing below it
//! calls back into it. Each mode reads and checks only the sections it uses,
//! so `serve` never refuses to start over a dashboard setting: a section a mode
//! does not use is read only to warn about its mistakes (`Config::warnings`).

mod env;
mod read;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveTime;
use chrono_tz::Tz;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::engine::{
    Bounds, ClosingTime, MAX_SESSION_LIMIT, OnLimit, Policy, driver::DriverConfig,
};
use crate::store::StoreUrl;
use crate::units::{
    format_duration, no_unit, parse_closing_time, parse_duration, parse_time_zone, parse_timeout,
    quoted,
};

pub use env::{Environment, VARIABLES};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid{at}: {message}", path = path.display())]
    Parse {
        path: PathBuf,
        /// " at line N (key = value)", or empty when the parser gave no place.
        at: String,
        message: String,
    },
    #[error("{} is not allowed: {allowed}", as_written(key, value, *number))]
    Invalid {
        key: &'static str,
        value: String,
        /// A number, shown without quotes as TOML writes it.
        number: bool,
        allowed: String,
    },
    /// A duration outside its bounds, echoed as it was written.
    #[error("{} is {} than allowed ({limit})", as_written(key, value, false), if *.more { "more" } else { "less" })]
    OutOfRange {
        key: &'static str,
        value: String,
        /// Above the upper bound (else below the lower one).
        more: bool,
        /// The bound, and the key that sets it if there is one.
        limit: String,
    },
    /// A flag or variable whose value does not parse; the message names the value.
    #[error("{key}: {message}")]
    Unreadable { key: &'static str, message: String },
    /// A flag given where it has no effect.
    #[error("{0}")]
    Usage(String),
    /// A value of the config file that parsed but is not allowed, with its place.
    #[error("config file {path} is invalid at line {line}: {source}", path = path.display())]
    InFile {
        path: PathBuf,
        line: usize,
        source: Box<ConfigError>,
    },
}

impl ConfigError {
    /// Names the line of `text` (the config file at `path`) that set the
    /// refused value, or else the bound it broke; unchanged when neither is
    /// in the file (a default, a flag, a variable).
    pub fn in_file(self, path: &Path, text: &str) -> ConfigError {
        let keys = match &self {
            ConfigError::Invalid { key, .. } => vec![*key],
            ConfigError::OutOfRange { key, limit, .. } => {
                let mut keys = vec![*key];
                keys.extend(limit.rsplit_once(", ").map(|(_, bound)| bound));
                keys
            }
            _ => return self,
        };
        // A flag's or a variable's value is not the file's to answer for.
        if !keys[0].contains('.') {
            return self;
        }
        match keys.into_iter().find_map(|key| read::line_of(text, key)) {
            Some(line) => ConfigError::InFile {
                path: path.to_owned(),
                line,
                source: Box::new(self),
            },
            None => self,
        }
    }
}

/// `key = "value"` as the user wrote it (a number without quotes, as TOML
/// writes it): `--flag value` for a flag, `VARIABLE=value` for an
/// environment variable. Only values that parsed as their key's type get
/// here (a duration, a number, a path, a store URL without its password);
/// a value the parser refused is not repeated if it may be a secret
/// (`read::parse_error`, `units::quoted`).
fn as_written(key: &str, value: &str, number: bool) -> String {
    if key.starts_with("--") {
        format!("{key} {value}")
    } else if key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        format!("{key}={value}")
    } else if number {
        format!("{key} = {value}")
    } else {
        format!("{key} = {value:?}")
    }
}

/// Which sections a mode uses, and so which it reads and checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    /// The dashboard: policy, engine, dashboard, simulator, keys.
    Dashboard,
    /// A lesson: the dashboard's sections but the simulator (a lesson plays
    /// its own script).
    Lesson,
    /// `serve`: policy, engine, server, store.
    Server,
    /// `bench`: all of them.
    Everything,
}

/// config.toml's sections.
const SECTIONS: &[&str] = &[
    "policy",
    "engine",
    "server",
    "store",
    "dashboard",
    "simulator",
    "keys",
];

impl Uses {
    /// Whether this mode uses `section`; every mode uses `[policy]` and `[engine]`.
    pub fn section(self, section: &str) -> bool {
        match self {
            Uses::Everything => true,
            Uses::Dashboard => !matches!(section, "server" | "store"),
            Uses::Lesson => !matches!(section, "server" | "store" | "simulator"),
            Uses::Server => !matches!(section, "dashboard" | "simulator" | "keys"),
        }
    }

    /// The mode, as a warning names it.
    fn mode(self) -> &'static str {
        match self {
            Uses::Dashboard => "the dashboard",
            Uses::Lesson => "a lesson",
            Uses::Server => "serve",
            Uses::Everything => "bench",
        }
    }

    /// The end of a warning about a mistake in `section`, which this mode ignores.
    fn ignores(self, section: &str) -> String {
        format!(
            "{} does not use [{section}] and goes on without it",
            self.mode()
        )
    }
}

/// A mistake in a section this mode does not use: a warning, not a stop.
#[derive(Debug, thiserror::Error)]
#[error("{error}; {}", uses.ignores(section))]
pub struct Ignored {
    pub error: ConfigError,
    pub section: &'static str,
    pub uses: Uses,
}

/// The whole configuration, as config.toml spells it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub policy: PolicyConfig,
    pub engine: EngineConfig,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub dashboard: DashboardConfig,
    pub simulator: SimulatorConfig,
    /// Action name -> keys, for example `revoke = ["r", "Delete"]`. Checked by
    /// the dashboard's key map when the dashboard starts.
    pub keys: BTreeMap<String, Vec<String>>,
    /// The log filter (`SESSIONTOP_LOG`, else `RUST_LOG`); not a config.toml key.
    pub log_filter: Option<String>,
    /// Mistakes that do not stop this mode (in a section it does not use, or
    /// an unreadable `TZ`), one sentence each, for `main` to print.
    pub warnings: Vec<String>,
    /// The config file these values were read from, if any.
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    #[serde(deserialize_with = "timeout")]
    pub idle_timeout: Duration,
    #[serde(deserialize_with = "timeout")]
    pub absolute_timeout: Duration,
    #[serde(deserialize_with = "closing_time")]
    pub closing_time: Option<NaiveTime>,
    /// The zone the closing time is read in. None: the host's, filled in by
    /// `cli` at start-up (UTC for a `Config` built in code, such as a test's).
    #[serde(deserialize_with = "time_zone")]
    pub time_zone: Option<Tz>,
    #[serde(deserialize_with = "duration")]
    pub min_timeout: Duration,
    #[serde(deserialize_with = "timeout")]
    pub max_idle_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_absolute_timeout: Duration,
    #[serde(deserialize_with = "duration")]
    pub touch_event_interval: Duration,
    /// At most this many live sessions per user (none: no limit).
    pub max_sessions_per_user: Option<u32>,
    /// What a login over the limit does: `evict_oldest` or `refuse`.
    pub on_limit: OnLimit,
    /// The durations as the user wrote them, by key ("policy.idle_timeout"),
    /// whether in the file, a variable or a flag, so a refusal echoes them.
    #[serde(skip)]
    pub written: BTreeMap<&'static str, String>,
}

/// The `[policy]` durations whose text `PolicyConfig::written` keeps.
const POLICY_DURATIONS: &[(&str, &str)] = &[
    ("idle_timeout", "policy.idle_timeout"),
    ("absolute_timeout", "policy.absolute_timeout"),
    ("min_timeout", "policy.min_timeout"),
    ("max_idle_timeout", "policy.max_idle_timeout"),
    ("max_absolute_timeout", "policy.max_absolute_timeout"),
];

impl Default for PolicyConfig {
    fn default() -> Self {
        let policy = Policy::default();
        PolicyConfig {
            idle_timeout: policy.idle_timeout,
            absolute_timeout: policy.absolute_timeout,
            closing_time: None,
            time_zone: None,
            min_timeout: policy.idle_bounds.min,
            max_idle_timeout: policy.idle_bounds.max,
            max_absolute_timeout: policy.absolute_bounds.max,
            touch_event_interval: policy.touch_event_interval,
            max_sessions_per_user: policy.max_sessions_per_user,
            on_limit: policy.on_limit,
            written: BTreeMap::new(),
        }
    }
}

impl PolicyConfig {
    /// The engine policy, after checking the keys against each other.
    pub fn to_policy(&self) -> Result<Policy, ConfigError> {
        // What the user wrote, else the value as sessiontop writes it.
        let show = |key: &'static str, value: Duration| {
            self.written
                .get(key)
                .cloned()
                .unwrap_or_else(|| format_duration(value))
        };
        let out_of_range = |key: &'static str, value: Duration, more: bool, limit: String| {
            ConfigError::OutOfRange {
                key,
                value: show(key, value),
                more,
                limit,
            }
        };
        if self.min_timeout.is_zero() {
            return Err(out_of_range(
                "policy.min_timeout",
                self.min_timeout,
                false,
                "1ms".into(),
            ));
        }
        let max_idle = crate::engine::session::MAX_IDLE_TIMEOUT;
        if self.max_idle_timeout > max_idle {
            return Err(out_of_range(
                "policy.max_idle_timeout",
                self.max_idle_timeout,
                true,
                "49days".into(),
            ));
        }
        if self.max_absolute_timeout > crate::engine::session::MAX_ABSOLUTE_TIMEOUT {
            return Err(out_of_range(
                "policy.max_absolute_timeout",
                self.max_absolute_timeout,
                true,
                "10years".into(),
            ));
        }
        let within = |key: &'static str, value: Duration, max_key: &'static str, max: Duration| {
            if value < self.min_timeout {
                let min = show("policy.min_timeout", self.min_timeout);
                Err(out_of_range(
                    key,
                    value,
                    false,
                    format!("{min}, policy.min_timeout"),
                ))
            } else if value > max {
                let max = show(max_key, max);
                Err(out_of_range(key, value, true, format!("{max}, {max_key}")))
            } else {
                Ok(())
            }
        };
        within(
            "policy.idle_timeout",
            self.idle_timeout,
            "policy.max_idle_timeout",
            self.max_idle_timeout,
        )?;
        within(
            "policy.absolute_timeout",
            self.absolute_timeout,
            "policy.max_absolute_timeout",
            self.max_absolute_timeout,
        )?;
        if let Some(limit) = self.max_sessions_per_user
            && !(1..=MAX_SESSION_LIMIT).contains(&limit)
        {
            return Err(invalid_number(
                "policy.max_sessions_per_user",
                limit.to_string(),
                whole_number_rule("policy.max_sessions_per_user"),
            ));
        }
        Ok(Policy {
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            closing_time: self.closing_time.map(ClosingTime),
            time_zone: self.time_zone.unwrap_or(chrono_tz::UTC),
            idle_bounds: Bounds {
                min: self.min_timeout,
                max: self.max_idle_timeout,
            },
            absolute_bounds: Bounds {
                min: self.min_timeout,
                max: self.max_absolute_timeout,
            },
            touch_event_interval: self.touch_event_interval,
            max_sessions_per_user: self.max_sessions_per_user,
            on_limit: self.on_limit,
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

/// The most events `engine.history` or `engine.subscriber_buffer` may keep:
/// ten million events take a few gigabytes.
const MAX_EVENTS_KEPT: usize = 10_000_000;

impl EngineConfig {
    pub fn to_driver_config(&self) -> Result<DriverConfig, ConfigError> {
        if !(1..=MAX_EVENTS_KEPT).contains(&self.history) {
            return Err(invalid_number(
                "engine.history",
                self.history.to_string(),
                whole_number_rule("engine.history"),
            ));
        }
        if !(16..=MAX_EVENTS_KEPT).contains(&self.subscriber_buffer) {
            return Err(invalid_number(
                "engine.subscriber_buffer",
                self.subscriber_buffer.to_string(),
                whole_number_rule("engine.subscriber_buffer"),
            ));
        }
        Ok(DriverConfig {
            history: self.history,
            subscriber_buffer: self.subscriber_buffer,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub app_token: Option<SecretString>,
    pub admin_token: Option<SecretString>,
    pub app_token_file: Option<PathBuf>,
    pub admin_token_file: Option<PathBuf>,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// Interval of keep-alive comments on the event stream.
    #[serde(deserialize_with = "duration")]
    pub keep_alive: Duration,
    /// How long a client may take to send a request's headers once it began.
    #[serde(deserialize_with = "duration")]
    pub request_header_timeout: Duration,
    /// How long a client may take to send a request's body once its headers are in.
    #[serde(deserialize_with = "duration")]
    pub request_body_timeout: Duration,
    /// How long a connection may sit with no request before it is closed.
    #[serde(deserialize_with = "duration")]
    pub connection_idle_timeout: Duration,
    /// Connections served at once; more get 503 (health checks still answer).
    pub max_connections: usize,
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
            request_header_timeout: Duration::from_secs(10),
            request_body_timeout: Duration::from_secs(10),
            connection_idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
        }
    }
}

/// The longest interval between the event stream's keep-alive comments.
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(30);

impl ServerConfig {
    /// The token files `serve` reads, with their keys: a token given
    /// directly (in config.toml or the environment) wins over its file.
    pub fn token_files(&self) -> Vec<(&'static str, &PathBuf)> {
        [
            (
                "server.app_token_file",
                &self.app_token,
                &self.app_token_file,
            ),
            (
                "server.admin_token_file",
                &self.admin_token,
                &self.admin_token_file,
            ),
        ]
        .into_iter()
        .filter(|(_, token, _)| token.is_none())
        .filter_map(|(key, _, file)| Some((key, file.as_ref()?)))
        .collect()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let at_least = |key: &'static str, value: Duration, min: Duration| {
            if value < min {
                Err(invalid(
                    key,
                    format_duration(value),
                    format!("a duration of at least {}", format_duration(min)),
                ))
            } else {
                Ok(())
            }
        };
        // A dashboard counts 45 s without a byte as a lost stream
        // (`STREAM_SILENCE`): a keep-alive comes well within it.
        if !(Duration::from_millis(10)..=MAX_KEEP_ALIVE).contains(&self.keep_alive) {
            return Err(invalid(
                "server.keep_alive",
                format_duration(self.keep_alive),
                format!(
                    "a duration from 10ms to {} (a dashboard takes 45s of silence for a lost stream)",
                    format_duration(MAX_KEEP_ALIVE)
                ),
            ));
        }
        at_least(
            "server.request_header_timeout",
            self.request_header_timeout,
            Duration::from_millis(10),
        )?;
        at_least(
            "server.request_body_timeout",
            self.request_body_timeout,
            Duration::from_millis(10),
        )?;
        at_least(
            "server.connection_idle_timeout",
            self.connection_idle_timeout,
            Duration::from_millis(10),
        )?;
        // HOST:PORT; whether HOST resolves is for the listener to find.
        let port = self.listen.rsplit_once(':').and_then(|(host, port)| {
            (!host.is_empty())
                .then(|| port.parse::<u16>().ok())
                .flatten()
        });
        if port.is_none() {
            return Err(invalid(
                "server.listen",
                self.listen.clone(),
                "HOST:PORT with a port up to 65535, such as 127.0.0.1:7878",
            ));
        }
        if self.body_limit < 256 {
            return Err(invalid_number(
                "server.body_limit",
                self.body_limit.to_string(),
                whole_number_rule("server.body_limit"),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid_number(
                "server.max_connections",
                self.max_connections.to_string(),
                whole_number_rule("server.max_connections"),
            ));
        }
        Ok(())
    }
}

pub use crate::store::file::Fsync;

/// Where and how `serve` keeps its sessions (`[store]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// None: the mode's default. `cli` gives `serve` a file in the platform
    /// state directory; the dashboard's embedded engine and a `Config` built
    /// in code (tests) keep sessions in memory.
    #[serde(deserialize_with = "store_url")]
    pub url: Option<StoreUrl>,
    #[serde(deserialize_with = "fsync")]
    pub fsync: Fsync,
    /// Events older than this leave the store's history.
    #[serde(deserialize_with = "duration")]
    pub history_retention: Duration,
    /// At most this many events stay in the store's history.
    pub history_max_events: u64,
    /// Prefix of every Redis key, so deployments can share one Redis.
    pub key_prefix: String,
    /// File holding the Redis password (instead of the URL's userinfo).
    pub password_file: Option<PathBuf>,
    /// For `rediss://`: a PEM file of the CA to trust instead of the system's
    /// trust store (a Redis with a privately signed certificate).
    pub tls_ca_file: Option<PathBuf>,
    /// For `rediss://` to a Redis that asks clients for a certificate
    /// (`tls-auth-clients`): this node's certificate (PEM), with `tls_key_file`.
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: None,
            fsync: Fsync::EverySec,
            history_retention: Duration::from_secs(24 * 3600),
            history_max_events: 2_000_000,
            key_prefix: "sessiontop:".to_owned(),
            password_file: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

impl StoreConfig {
    /// The store `serve` uses when none is configured: `sessions.db` in
    /// sessiontop's state directory.
    pub fn default_file(state_dir: &Path) -> StoreUrl {
        StoreUrl::File(state_dir.join("sessiontop").join("sessions.db"))
    }

    /// The store to use: the configured one, else memory.
    pub fn url_or_memory(&self) -> StoreUrl {
        self.url.clone().unwrap_or(StoreUrl::Memory)
    }

    /// What opening the store needs.
    pub fn options(&self) -> crate::store::StoreOptions {
        crate::store::StoreOptions {
            url: self.url_or_memory(),
            fsync: self.fsync,
            max_events: self.history_max_events,
            max_event_age: self.history_retention,
            key_prefix: self.key_prefix.clone(),
            password_file: self.password_file.clone(),
            tls_ca_file: self.tls_ca_file.clone(),
            tls_client: self.tls_cert_file.clone().zip(self.tls_key_file.clone()),
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.history_retention < Duration::from_secs(1) {
            return Err(invalid(
                "store.history_retention",
                format_duration(self.history_retention),
                "a duration of at least 1s",
            ));
        }
        if self.history_max_events == 0 {
            return Err(invalid_number(
                "store.history_max_events",
                "0",
                whole_number_rule("store.history_max_events"),
            ));
        }
        let prefix = &self.key_prefix;
        if prefix.is_empty() || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "store.key_prefix",
                prefix.clone(),
                "1 to 64 printable ASCII characters without spaces, such as \"sessiontop:\"",
            ));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), None) => {
                return Err(invalid(
                    "store.tls_cert_file",
                    cert.display().to_string(),
                    crate::store::redis::CLIENT_CERT_NEEDS_KEY,
                ));
            }
            (None, Some(key)) => {
                return Err(invalid(
                    "store.tls_key_file",
                    key.display().to_string(),
                    crate::store::redis::CLIENT_KEY_NEEDS_CERT,
                ));
            }
            _ => {}
        }
        if let Some(url @ StoreUrl::Redis(text)) = &self.url {
            // The Redis client's own skip-verification flag: refused, not obeyed.
            if text.split_once('#').is_some_and(|(_, f)| f == "insecure") {
                return Err(invalid(
                    "store.url",
                    url.redacted(),
                    crate::store::redis::INSECURE_REFUSED,
                ));
            }
            if let Some(file) = &self.password_file
                && url.has_password()
            {
                return Err(invalid(
                    "store.password_file",
                    file.display().to_string(),
                    crate::store::redis::PASSWORD_TWICE,
                ));
            }
            if let Some(ca) = &self.tls_ca_file
                && !text.starts_with("rediss://")
            {
                return Err(invalid(
                    "store.tls_ca_file",
                    ca.display().to_string(),
                    crate::store::redis::CA_NEEDS_TLS,
                ));
            }
            if let Some(cert) = &self.tls_cert_file
                && !text.starts_with("rediss://")
            {
                return Err(invalid(
                    "store.tls_cert_file",
                    cert.display().to_string(),
                    crate::store::redis::CLIENT_CERT_NEEDS_TLS,
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
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
    /// The server's admin token from `SESSIONTOP_TOKEN`; not a config.toml key.
    #[serde(skip)]
    pub token: Option<SecretString>,
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
            token: None,
        }
    }
}

impl DashboardConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let (min, max) = crate::engine::clock::SPEED_RANGE;
        if !(min..=max).contains(&self.speed) {
            return Err(invalid_number(
                "dashboard.speed",
                self.speed.to_string(),
                "a speed factor from 0.5 to 100",
            ));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(invalid_number(
                "dashboard.fps",
                self.fps.to_string(),
                whole_number_rule("dashboard.fps"),
            ));
        }
        for (key, value) in [
            ("dashboard.warn_below", self.warn_below),
            ("dashboard.critical_below", self.critical_below),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid_number(
                    key,
                    value.to_string(),
                    "a fraction from 0 to 1",
                ));
            }
        }
        if self.critical_below > self.warn_below {
            return Err(invalid_number(
                "dashboard.critical_below",
                self.critical_below.to_string(),
                format!(
                    "a fraction no larger than dashboard.warn_below ({})",
                    self.warn_below
                ),
            ));
        }
        if self.event_log == 0 {
            return Err(invalid_number(
                "dashboard.event_log",
                "0",
                whole_number_rule("dashboard.event_log"),
            ));
        }
        Ok(())
    }
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
    /// The share of logins (0 to 1) made by a few regular users who log in
    /// again from another device while their other sessions live on: with a
    /// per-user session limit, their logins past it evict their oldest sessions.
    pub returning: f64,
    /// A scripted lesson to play instead of random logins: a bundled name or a
    /// file. Loaded and checked by the dashboard when it starts.
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
            returning: 0.15,
            scenario: None,
        }
    }
}

impl SimulatorConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.initial_logins > 10_000 {
            return Err(invalid_number(
                "simulator.initial_logins",
                self.initial_logins.to_string(),
                whole_number_rule("simulator.initial_logins"),
            ));
        }
        let rate = self.logins_per_minute;
        if !(rate.is_finite() && (0.0..=60_000.0).contains(&rate)) {
            return Err(invalid_number(
                "simulator.logins_per_minute",
                rate.to_string(),
                "a rate from 0 to 60000",
            ));
        }
        if self.activity_interval.is_zero() {
            return Err(invalid(
                "simulator.activity_interval",
                "0s",
                "a duration of at least 1ms",
            ));
        }
        if !(self.returning.is_finite() && (0.0..=1.0).contains(&self.returning)) {
            return Err(invalid_number(
                "simulator.returning",
                self.returning.to_string(),
                "a share from 0 to 1",
            ));
        }
        let mix = &self.mix;
        for (key, value) in [
            ("simulator.mix.go_idle", mix.go_idle),
            ("simulator.mix.log_out", mix.log_out),
            ("simulator.mix.stay", mix.stay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid_number(key, value.to_string(), "a share >= 0"));
            }
        }
        if mix.go_idle + mix.log_out + mix.stay <= 0.0 {
            // Written as TOML's inline table would be.
            return Err(invalid_number(
                "simulator.mix",
                "{ go_idle = 0, log_out = 0, stay = 0 }".to_owned(),
                "at least one share above 0",
            ));
        }
        Ok(())
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

/// What each whole-number key that is checked allows, said once: by its
/// check, and by the parser's refusal of a number its type cannot hold (a
/// negative one, or one too large), which comes before any check
/// (`read::in_our_words`). A whole-number key not listed takes 0 or more.
const WHOLE_NUMBER_RULES: &[(&str, &str)] = &[
    (
        "policy.max_sessions_per_user",
        "a whole number from 1 to 1000000",
    ),
    ("engine.history", "a number of events from 1 to 10000000"),
    (
        "engine.subscriber_buffer",
        "a number of events from 16 to 10000000",
    ),
    ("server.body_limit", "a number of bytes >= 256"),
    ("server.max_connections", "1 to 1000000"),
    ("store.history_max_events", "a number of events >= 1"),
    ("dashboard.fps", "1 to 120"),
    ("dashboard.event_log", "a number of events >= 1"),
    ("simulator.initial_logins", "0 to 10000"),
];

/// What the whole-number key `key` allows, if it is checked beyond its type.
fn whole_number_allowed(key: &str) -> Option<&'static str> {
    WHOLE_NUMBER_RULES
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, allowed)| *allowed)
}

fn whole_number_rule(key: &str) -> &'static str {
    whole_number_allowed(key).expect("every checked whole-number key is in WHOLE_NUMBER_RULES")
}

fn invalid(key: &'static str, value: impl Into<String>, allowed: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.into(),
        number: false,
        allowed: allowed.into(),
    }
}

/// `invalid` for a number, which TOML writes without quotes.
fn invalid_number(
    key: &'static str,
    value: impl Into<String>,
    allowed: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: value.into(),
        number: true,
        allowed: allowed.into(),
    }
}

impl Config {
    /// `error`, about the value of `key` ("section.name"), with the config
    /// file's line that set it in front, as every config error has it; as it
    /// is when no file set `key`. For a check made outside this module (the
    /// dashboard's key map).
    pub fn refuse(&self, key: &str, error: impl std::fmt::Display) -> String {
        let error = ConfigError::Usage(error.to_string());
        let place = self.file.as_ref().and_then(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            Some((path, read::line_of(&text, key)?))
        });
        match place {
            Some((path, line)) => ConfigError::InFile {
                path: path.clone(),
                line,
                source: Box::new(error),
            },
            None => error,
        }
        .to_string()
    }

    /// Reads a config file for a mode that uses `uses` (not yet checked: see `validate`).
    pub fn from_file(path: &Path, uses: Uses) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::read(&text, path, uses)?;
        config.file = Some(path.to_owned());
        Ok(config)
    }

    /// Reads config.toml text for a mode that uses `uses` (not yet checked: see `validate`).
    pub fn from_toml(text: &str, uses: Uses) -> Result<Config, ConfigError> {
        Self::read(text, Path::new("(text)"), uses)
    }

    /// Unknown sections, and bad TOML outside the sections a mode does not
    /// use, stop every mode. A section the mode uses is read strictly; one
    /// it does not use is read only to warn about it (even when it is not
    /// TOML at all), and left at its defaults.
    fn read(text: &str, path: &Path, uses: Uses) -> Result<Config, ConfigError> {
        let (text, mut warnings) = read::without_broken_unused_sections(text, path, uses)?;
        let text = text.as_ref();
        let parse_error = |e: toml::de::Error| read::parse_error(text, path, &e);
        let raw: toml::Table = toml::from_str(text).map_err(parse_error)?;
        toml::from_str::<read::KnownSections>(text).map_err(parse_error)?;
        let mut config = Config::default();
        let mut reader = read::SectionReader::new(text, path, uses);
        if let Some(policy) = reader.read("policy")? {
            config.policy = policy;
        }
        if let Some(engine) = reader.read("engine")? {
            config.engine = engine;
        }
        if let Some(server) = reader.read("server")? {
            config.server = server;
        }
        if let Some(store) = reader.read("store")? {
            config.store = store;
        }
        if let Some(dashboard) = reader.read("dashboard")? {
            config.dashboard = dashboard;
        }
        if let Some(simulator) = reader.read("simulator")? {
            config.simulator = simulator;
        }
        if let Some(keys) = reader.read("keys")? {
            config.keys = keys;
        }
        if let Some(toml::Value::Table(policy)) = raw.get("policy") {
            for (name, key) in POLICY_DURATIONS {
                if let Some(toml::Value::String(text)) = policy.get(*name) {
                    config.policy.written.insert(key, text.trim().to_owned());
                }
            }
        }
        warnings.extend(reader.into_warnings());
        config.warnings = warnings;
        Ok(config)
    }

    /// Checks every value of the sections `uses` names that types alone
    /// cannot. Mistakes in the other sections come back, to be warned about.
    pub fn validate(&self, uses: Uses) -> Result<Vec<Ignored>, ConfigError> {
        self.policy.to_policy()?;
        self.engine.to_driver_config()?;
        let checks: [(&str, Result<(), ConfigError>); 4] = [
            ("dashboard", self.dashboard.validate()),
            ("simulator", self.simulator.validate()),
            ("server", self.server.validate()),
            ("store", self.store.validate()),
        ];
        let mut ignored = Vec::new();
        for (section, checked) in checks {
            match checked {
                Err(e) if uses.section(section) => return Err(e),
                Err(error) => ignored.push(Ignored {
                    error,
                    section,
                    uses,
                }),
                Ok(()) => {}
            }
        }
        Ok(ignored)
    }

    /// Expands a leading `~` in every path setting, with `home` as the user's home.
    pub fn expand_paths(&mut self, home: Option<&Path>) {
        let expand = |path: &mut Option<PathBuf>| {
            if let Some(p) = path {
                *p = expand_home(p, home);
            }
        };
        expand(&mut self.server.app_token_file);
        expand(&mut self.server.admin_token_file);
        expand(&mut self.dashboard.token_file);
        expand(&mut self.store.password_file);
        expand(&mut self.store.tls_ca_file);
        expand(&mut self.store.tls_cert_file);
        expand(&mut self.store.tls_key_file);
        if let Some(StoreUrl::File(path)) = &mut self.store.url {
            *path = expand_home(path, home);
        }
        if let Some(scenario) = &mut self.simulator.scenario
            && (scenario == "~" || scenario.starts_with("~/"))
        {
            *scenario = expand_home(Path::new(scenario), home).display().to_string();
        }
    }

    /// The secret files this mode reads (and the file store's sessions) that
    /// every user of the machine may read (as ssh warns of an open key; a warning, not a refusal, since
    /// some secret mounts are world-readable in a private namespace): one
    /// sentence each.
    pub fn readable_secret_files(&self, uses: Uses) -> Vec<String> {
        let serve = uses.section("server");
        let mut files: Vec<(&str, &PathBuf)> = Vec::new();
        if serve {
            files.extend(self.server.token_files());
            match &self.store.url {
                Some(StoreUrl::Redis(_)) => {
                    let secrets = [
                        ("store.password_file", &self.store.password_file),
                        ("store.tls_key_file", &self.store.tls_key_file),
                    ];
                    files.extend(
                        secrets
                            .into_iter()
                            .filter_map(|(k, f)| Some((k, f.as_ref()?))),
                    );
                }
                // Its sessions' users and addresses, not their tokens.
                Some(StoreUrl::File(path)) => files.push(("the sessions file", path)),
                _ => {}
            }
        }
        // The dashboard reads its token file only when attached to a server.
        let attached = matches!(uses, Uses::Dashboard) && self.dashboard.server.is_some();
        if let Some(file) = self.dashboard.token_file.as_ref().filter(|_| attached) {
            files.push(("the token file", file));
        }
        (files.into_iter())
            .filter_map(|(key, path)| {
                let mode = readable_by_all(path)?;
                Some(format!(
                    "{key} {} can be read by every user of this machine (mode {mode:o}); chmod o-r it",
                    path.display()
                ))
            })
            .collect()
    }
}

/// The file's permission bits, when others may read it.
#[cfg(unix)]
pub(crate) fn readable_by_all(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o004 != 0).then_some(mode)
}

#[cfg(not(unix))]
pub(crate) fn readable_by_all(_: &Path) -> Option<u32> {
    None
}

/// `~` or `~/rest` with the home directory in front; any other path as it is.
pub fn expand_home(path: &Path, home: Option<&Path>) -> PathBuf {
    let Some(home) = home else {
        return path.to_owned();
    };
    match path.strip_prefix("~") {
        Ok(rest) if rest.as_os_str().is_empty() => home.to_owned(),
        Ok(rest) => home.join(rest),
        Err(_) => path.to_owned(),
    }
}

/// A duration written with a unit ("90s"); a bare number gets told to add one.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationText(parse_duration))
}

/// A timeout, which `to_policy` checks against its bounds: one too large to
/// hold reads as `Duration::MAX`, so it is refused as more than allowed.
fn timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationText(parse_timeout))
}

struct DurationText(fn(&str) -> Result<Duration, crate::units::DurationError>);

impl Visitor<'_> for DurationText {
    type Value = Duration;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a duration with a unit, such as \"90s\", \"15m\" or \"8h\"")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        (self.0)(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        Err(E::custom(bare_number(&v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Err(E::custom(bare_number(&v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Err(E::custom(bare_number(&v.to_string())))
    }
}

/// A number without quotes where a duration belongs; one as long as a
/// secret is not repeated (`units::no_unit`).
fn bare_number(v: &str) -> String {
    if v.len() < crate::units::REPEATED_BELOW {
        format!(
            "{v} has no unit; write \"{v}s\" for seconds (durations are strings with a unit, such as \"15m\" or \"8h\")"
        )
    } else {
        no_unit(v)
    }
}

fn closing_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveTime>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() || s.trim() == "off" {
        return Ok(None);
    }
    parse_closing_time(&s).map(Some).map_err(de::Error::custom)
}

fn time_zone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tz>, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    parse_time_zone(&s).map(Some).map_err(de::Error::custom)
}

fn store_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<StoreUrl>, D::Error> {
    let s = String::deserialize(d)?;
    StoreUrl::parse(&s).map(Some).map_err(de::Error::custom)
}

fn fsync<'de, D: Deserializer<'de>>(d: D) -> Result<Fsync, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "everysec" => Ok(Fsync::EverySec),
        "always" => Ok(Fsync::Always),
        _ => Err(de::Error::custom(format!(
            "{} is not an fsync choice; use \"everysec\" (a crash loses at most about a second) or \"always\"",
            quoted(&s)
        ))),
    }
}

#[cfg(test)]
mod tests;
