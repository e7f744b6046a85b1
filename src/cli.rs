//! Command-line definitions (clap), and how a command line, the environment
//! and the config file make one `Config`.
//!
//! Flags beat environment variables (read once, in `config::Environment`),
//! which beat the config file, which beats the defaults. A flag given where
//! it has no effect is refused with a sentence, never silently ignored.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveTime;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError, Environment, Ignored, StoreConfig, ThemeName, Uses};
use crate::store::StoreUrl;
use crate::units::{DurationError, parse_closing_time, parse_time_zone, parse_timeout};

#[derive(Debug, Parser)]
#[command(
    name = "sessiontop",
    version,
    about = "A terminal dashboard for live login sessions, with its own session engine.",
    after_help = "With no command, opens the dashboard on the embedded engine with simulated logins.\nUse --server URL to watch a running `sessiontop serve` instead."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten)]
    pub dashboard: DashboardArgs,

    #[command(flatten)]
    misplaced: MisplacedArgs,
}

/// Flags every mode accepts.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// Config file (default: $SESSIONTOP_CONFIG, then $XDG_CONFIG_HOME/sessiontop/config.toml, ~/.config when unset).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Idle timeout, such as 90s or 15m [policy.idle_timeout, SESSIONTOP_IDLE_TIMEOUT].
    #[arg(long, global = true, value_name = "D", value_parser = TimeoutArg::parse)]
    pub idle_timeout: Option<TimeoutArg>,

    /// Absolute timeout, such as 8h [policy.absolute_timeout, SESSIONTOP_ABSOLUTE_TIMEOUT].
    #[arg(long, global = true, value_name = "D", value_parser = TimeoutArg::parse)]
    pub absolute_timeout: Option<TimeoutArg>,

    /// Daily closing time "HH:MM" in policy.time_zone [policy.closing_time, SESSIONTOP_CLOSING_TIME].
    #[arg(long, global = true, value_name = "HH:MM", value_parser = parse_closing_time)]
    pub closing_time: Option<NaiveTime>,
}

/// A timeout flag as given, and what it reads as: a refusal echoes the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeoutArg {
    pub text: String,
    /// `Duration::MAX` for a number too large to hold, which the policy's
    /// bounds then refuse as more than allowed.
    pub value: Duration,
}

impl TimeoutArg {
    fn parse(text: &str) -> Result<TimeoutArg, DurationError> {
        Ok(TimeoutArg {
            text: text.trim().to_owned(),
            value: parse_timeout(text)?,
        })
    }
}

/// Flags of the dashboard.
#[derive(Debug, Args, Default, Clone)]
pub struct DashboardArgs {
    /// Start without simulated logins [simulator.enabled].
    #[arg(long)]
    pub no_sim: bool,

    /// Clock speed of the embedded engine, 0.5 to 100 [dashboard.speed, SESSIONTOP_SPEED].
    #[arg(long, value_name = "X", allow_negative_numbers = true, value_parser = speed_factor)]
    pub speed: Option<f64>,

    /// Draw without colour (NO_COLOR is honoured too) [dashboard.no_color].
    #[arg(long)]
    pub no_color: bool,

    /// Colours: default, or projector for a room [dashboard.theme].
    #[arg(long, value_enum, value_name = "THEME")]
    pub theme: Option<ThemeName>,

    /// Watch a session server instead of the embedded engine [dashboard.server, SESSIONTOP_SERVER].
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,

    /// File holding the server's admin token (or set SESSIONTOP_TOKEN) [dashboard.token_file].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Flags of `serve` given without it: caught so the error can say where they go.
#[derive(Debug, Args, Default, Clone)]
struct MisplacedArgs {
    #[arg(long, hide = true, value_name = "ADDR")]
    listen: Option<String>,
    #[arg(long, hide = true, value_name = "URL")]
    store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the session server: the engine behind an HTTP API and an event stream.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Measure this machine's capacity and print the figures.
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
    /// A lesson for trainers: with no NAME, lists the bundled lessons.
    ///
    /// Plays a scripted class on session timeouts: s steps, Space pauses,
    /// p pauses after every ending, +/- change the speed, r replays at the end.
    #[command(
        after_help = "A lesson brings its own policy and speed, which its steps are timed for: \
                      --idle-timeout, --absolute-timeout and --closing-time (shared with the \
                      other modes) are refused here; set them in the lesson file's [policy]."
    )]
    Lesson {
        /// A bundled lesson's name, or the path of a lesson file (see assets/lessons/).
        #[arg(value_name = "NAME|PATH")]
        lesson: Option<String>,
        /// Also write what the terminal shows to FILE as an asciicast v2 recording.
        #[arg(long, value_name = "FILE.cast")]
        record: Option<PathBuf>,
        /// Colours: default, or projector for a room [dashboard.theme].
        #[arg(long, value_enum, value_name = "THEME")]
        theme: Option<ThemeName>,
        /// `--speed` after the lesson's name: caught, so that it is refused
        /// with the same sentence as before it.
        #[arg(long, hide = true, allow_negative_numbers = true)]
        speed: Option<String>,
    },
}

const SERVE_HELP: &str = "\
Environment:
  SESSIONTOP_APP_TOKEN     the app API token (logs users in, touches, renews, logs out)
  SESSIONTOP_ADMIN_TOKEN   the admin API token (also /v1/admin and /metrics)
  SESSIONTOP_LISTEN        the address to listen on, like --listen
  SESSIONTOP_STORE         where sessions are kept, like --store
  SESSIONTOP_CONFIG        the config file, like --config
  SESSIONTOP_LOG           the log filter (else RUST_LOG), such as info or debug
  TZ                       the host's time zone, the default of [policy] time_zone
                           (the zone of the closing time); an IANA name such as
                           Europe/Berlin, else the system's zone is used
Tokens are at least 16 characters. A token variable beats server.app_token /
server.admin_token in the config file, which beat their token files. With no
token configured, serve generates both, prints them once and listens only on
loopback.";

const BENCH_HELP: &str = "\
Targets:
  engine  the engine alone: memory per session, the cost of login, touch (with
          and without its event), logout and revoke, and how late expiries fire,
          with --sessions live sessions
  server  the HTTP server over loopback: touch requests per second and their
          latency, and events per second to 10 event-stream clients, with
          100,000 live sessions (--sessions does not apply)
  store   the file store: disk bytes per session, and start-up time with
          --sessions stored sessions (each with an ip and a user agent)
  tui     the dashboard: frame time and events absorbed per second with
          --sessions live sessions; with --remote, a dashboard attached to a
          real server over loopback
  redis   the Redis store: two nodes on one Redis (login, touch, expiry
          lateness), beside redis-benchmark and Redis's own keyspace
          notifications on the same Redis; SESSIONTOP_STORE=redis://… names
          the Redis, else a private redis-server is started on loopback

The default of 1,000,000 sessions takes a while to fill (tens of seconds, more
on a busy machine) and a few hundred MB of memory; try --sessions 100000 for a
quick look.";

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on [server.listen, SESSIONTOP_LISTEN].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// Where sessions are kept: memory, file:PATH (or a bare PATH), redis://HOST:PORT/DB
    /// [store.url, SESSIONTOP_STORE; default: a file in the state directory].
    #[arg(long, value_name = "URL", value_parser = StoreUrlParser)]
    pub store: Option<StoreUrl>,
}

/// `--store`'s parser. clap's own error for a bad value quotes the value,
/// and a store URL may hold a password: this one says only what is wrong.
#[derive(Debug, Clone, Copy)]
struct StoreUrlParser;

impl clap::builder::TypedValueParser for StoreUrlParser {
    type Value = StoreUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<StoreUrl, clap::Error> {
        let flag = arg.map_or_else(|| "--store".to_owned(), |arg| arg.to_string());
        let invalid = |why: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value for '{flag}': {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| invalid("the store URL is not valid UTF-8"))?;
        StoreUrl::parse(text).map_err(|why| invalid(&why))
    }
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// What to measure (see Targets below).
    #[arg(value_enum)]
    pub target: BenchTarget,
    /// Live sessions to measure with.
    #[arg(long, default_value_t = 1_000_000)]
    pub sessions: usize,
    /// Print the report (a JSON object) on one line instead of indented.
    #[arg(long)]
    pub json: bool,
    /// For `bench tui`: measure a dashboard connected to a real server over loopback.
    #[arg(long)]
    pub remote: bool,
    /// For `bench server`: also run it on this store (file, file:PATH, redis://…) and compare
    /// it with the memory store in the same run.
    #[arg(long, value_name = "STORE", value_parser = StoreUrlParser)]
    pub store: Option<StoreUrl>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTarget {
    /// The engine alone, with --sessions live sessions.
    Engine,
    /// The HTTP server over loopback, with 100,000 live sessions.
    Server,
    /// The file store: disk bytes per session and start-up time with --sessions stored sessions.
    Store,
    /// The dashboard's frames, with --sessions live sessions (--remote: attached to a server).
    Tui,
    /// The Redis store (SESSIONTOP_STORE=redis://…, or a private redis-server).
    Redis,
}

/// Which flag or variable set a config key, so an error names what the user typed.
#[derive(Default)]
struct Origins(Vec<(&'static str, &'static str)>);

impl Origins {
    fn set(&mut self, key: &'static str, origin: &'static str) {
        self.0.retain(|(k, _)| *k != key);
        self.0.push((key, origin));
    }

    fn origin(&self, key: &'static str) -> &'static str {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(key, |(_, origin)| origin)
    }

    fn rename(&self, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Invalid {
                key,
                value,
                number,
                allowed,
            } => ConfigError::Invalid {
                key: self.origin(key),
                value,
                number,
                allowed,
            },
            ConfigError::OutOfRange {
                key,
                value,
                more,
                limit,
            } => ConfigError::OutOfRange {
                key: self.origin(key),
                value,
                more,
                limit,
            },
            other => other,
        }
    }
}

impl Cli {
    /// The sections this command uses.
    pub fn uses(&self) -> Uses {
        match &self.command {
            None => Uses::Dashboard,
            Some(Command::Serve(_)) => Uses::Server,
            Some(Command::Bench(_)) => Uses::Everything,
            Some(Command::Lesson { .. }) => Uses::Lesson,
        }
    }

    /// The config file's settings with the environment and this command line on
    /// top, `~` expanded and checked for this command.
    pub fn load_config(&self, env: &Environment) -> Result<Config, ConfigError> {
        self.refuse_misplaced_flags()?;
        self.refuse_dashboard_flags()?;
        self.refuse_flags_a_lesson_sets_itself()?;
        let mut origins = Origins::default();
        let explicit = self
            .common
            .config
            .as_ref()
            .or(env.config.as_ref())
            .map(|p| crate::config::expand_home(p, env.home.as_deref()));
        let file = explicit.or_else(|| env.default_config.clone().filter(|p| p.exists()));
        let mut config = match &file {
            Some(path) => Config::from_file(path, self.uses())?,
            None => Config::default(),
        };

        // The environment.
        let mut config_warnings = Vec::new();
        // A lesson brings its own policy and speed: the standing ones in the
        // environment are not for it, and not read.
        let lesson = matches!(self.command, Some(Command::Lesson { .. }));
        let timeout = |key: &'static str, text: &str| {
            parse_timeout(text).map_err(|e| ConfigError::Unreadable {
                key,
                message: e.to_string(),
            })
        };
        if let Some(text) = env.idle_timeout.as_ref().filter(|_| !lesson) {
            config.policy.idle_timeout = timeout("SESSIONTOP_IDLE_TIMEOUT", text)?;
            config
                .policy
                .written
                .insert("policy.idle_timeout", text.clone());
            origins.set("policy.idle_timeout", "SESSIONTOP_IDLE_TIMEOUT");
        }
        if let Some(text) = env.absolute_timeout.as_ref().filter(|_| !lesson) {
            config.policy.absolute_timeout = timeout("SESSIONTOP_ABSOLUTE_TIMEOUT", text)?;
            config
                .policy
                .written
                .insert("policy.absolute_timeout", text.clone());
            origins.set("policy.absolute_timeout", "SESSIONTOP_ABSOLUTE_TIMEOUT");
        }
        if let Some(text) = env.closing_time.as_ref().filter(|_| !lesson) {
            config.policy.closing_time =
                Some(
                    parse_closing_time(text).map_err(|message| ConfigError::Unreadable {
                        key: "SESSIONTOP_CLOSING_TIME",
                        message,
                    })?,
                );
        }
        let uses = self.uses();
        // A variable for a section this mode does not use is warned about, as
        // a mistake in that section of the file is.
        let mut unused_or = |section: &'static str, error: ConfigError| {
            if uses.section(section) {
                return Err(error);
            }
            let ignored = Ignored {
                error,
                section,
                uses,
            };
            config_warnings.push(ignored.to_string());
            Ok(())
        };
        if let Some(text) = env.speed.as_ref().filter(|_| !lesson) {
            match text.parse() {
                Ok(speed) => {
                    config.dashboard.speed = speed;
                    origins.set("dashboard.speed", "SESSIONTOP_SPEED");
                }
                Err(_) => unused_or(
                    "dashboard",
                    ConfigError::Unreadable {
                        key: "SESSIONTOP_SPEED",
                        message: format!(
                            "{text:?} is not a number; use a speed factor from 0.5 to 100"
                        ),
                    },
                )?,
            }
        }
        if let Some(server) = &env.server {
            config.dashboard.server = Some(server.clone());
        }
        if let Some(token) = &env.token {
            config.dashboard.token = Some(token.clone());
        }
        if env.no_color {
            config.dashboard.no_color = true;
        }
        if let Some(listen) = &env.listen {
            config.server.listen = listen.clone();
            origins.set("server.listen", "SESSIONTOP_LISTEN");
        }
        if let Some(token) = &env.app_token {
            config.server.app_token = Some(token.clone());
        }
        if let Some(token) = &env.admin_token {
            config.server.admin_token = Some(token.clone());
        }
        if let Some(text) = &env.store {
            match StoreUrl::parse(text) {
                Ok(url) => {
                    config.store.url = Some(url);
                    origins.set("store.url", "SESSIONTOP_STORE");
                }
                Err(message) => unused_or(
                    "store",
                    ConfigError::Unreadable {
                        key: "SESSIONTOP_STORE",
                        message,
                    },
                )?,
            }
        }
        config.log_filter = env.log.clone();
        config.warnings.append(&mut config_warnings);

        // The command line.
        let c = &self.common;
        if let Some(d) = &c.idle_timeout {
            config.policy.idle_timeout = d.value;
            config
                .policy
                .written
                .insert("policy.idle_timeout", d.text.clone());
            origins.set("policy.idle_timeout", "--idle-timeout");
        }
        if let Some(d) = &c.absolute_timeout {
            config.policy.absolute_timeout = d.value;
            config
                .policy
                .written
                .insert("policy.absolute_timeout", d.text.clone());
            origins.set("policy.absolute_timeout", "--absolute-timeout");
        }
        if let Some(t) = c.closing_time {
            config.policy.closing_time = Some(t);
        }
        let d = &self.dashboard;
        if d.no_sim {
            config.simulator.enabled = false;
        }
        if let Some(speed) = d.speed {
            config.dashboard.speed = speed;
            origins.set("dashboard.speed", "--speed");
        }
        if d.no_color {
            config.dashboard.no_color = true;
        }
        if let Some(theme) = d.theme {
            config.dashboard.theme = theme;
        }
        if let Some(Command::Lesson {
            theme: Some(theme), ..
        }) = &self.command
        {
            config.dashboard.theme = *theme;
        }
        if let Some(server) = &d.server {
            config.dashboard.server = Some(server.clone());
        }
        if let Some(file) = &d.token_file {
            config.dashboard.token_file = Some(file.clone());
        }
        if let Some(Command::Serve(serve)) = &self.command {
            if let Some(listen) = &serve.listen {
                config.server.listen = listen.clone();
                origins.set("server.listen", "--listen");
            }
            if let Some(store) = &serve.store {
                config.store.url = Some(store.clone());
                origins.set("store.url", "--store");
                // As redis-cli warns of `-a`: a command line is anyone's to read.
                if store.has_password() {
                    config.warnings.push(
                        "the Redis password in --store can be read by every user of this machine (ps shows command lines); put it in [store] password_file, or the URL in SESSIONTOP_STORE".into(),
                    );
                }
            }
            if config.store.url.is_none() {
                let state = env.state_dir.as_deref().ok_or_else(|| {
                    ConfigError::Usage(
                        "serve cannot find a state directory for its sessions file (no home directory); set --store file:PATH, or --store memory".into(),
                    )
                })?;
                config.store.url = Some(StoreConfig::default_file(state));
            }
        }
        for name in &env.empty_tokens {
            config.warnings.push(format!(
                "{name} is set but empty, so it is not used (a secret that failed to load?)"
            ));
        }
        if config.policy.time_zone.is_none() {
            let zone = env
                .time_zone
                .as_deref()
                .and_then(|name| parse_time_zone(name).ok());
            if let Some(tz) = &env.unreadable_tz {
                let instead = match zone {
                    Some(zone) => format!("{}, the system's zone", zone.name()),
                    None => "UTC".to_owned(),
                };
                config.warnings.push(format!(
                    "TZ={tz} is not an IANA time zone name such as \"Europe/Berlin\", so the closing time is read in {instead}; set [policy] time_zone to choose the zone"
                ));
            }
            config.policy.time_zone = Some(zone.unwrap_or(chrono_tz::UTC));
        }

        self.refuse_flags_a_server_ignores(&config, env)?;
        config.expand_paths(env.home.as_deref());
        let open = config.readable_secret_files(self.uses());
        config.warnings.extend(open);
        let ignored = config.validate(self.uses()).map_err(|e| {
            let e = origins.rename(e);
            // A value the file set is refused with the file's line.
            match file
                .as_ref()
                .and_then(|p| Some((p, std::fs::read_to_string(p).ok()?)))
            {
                Some((path, text)) => e.in_file(path, &text),
                None => e,
            }
        })?;
        for mut ignored in ignored {
            ignored.error = origins.rename(ignored.error);
            config.warnings.push(ignored.to_string());
        }
        // Allowed (a policy may want only the hard limit), but more often
        // the two values swapped: said, not refused.
        let policy = &config.policy;
        if !lesson && policy.idle_timeout >= policy.absolute_timeout {
            config.warnings.push(format!(
                "the idle timeout ({}, {}) is not shorter than the absolute timeout ({}, {}): \
                 no session can end idle, each lasts until its absolute limit",
                crate::units::format_duration(policy.idle_timeout),
                origins.origin("policy.idle_timeout"),
                crate::units::format_duration(policy.absolute_timeout),
                origins.origin("policy.absolute_timeout"),
            ));
        }
        Ok(config)
    }

    /// `sessiontop --theme projector serve`: a dashboard flag given before
    /// `serve`, which draws no dashboard.
    fn refuse_dashboard_flags(&self) -> Result<(), ConfigError> {
        if !matches!(self.command, Some(Command::Serve(_))) {
            return Ok(());
        }
        let d = &self.dashboard;
        let given = [
            ("--theme", d.theme.is_some()),
            ("--no-color", d.no_color),
            ("--no-sim", d.no_sim),
            ("--speed", d.speed.is_some()),
            ("--server", d.server.is_some()),
            ("--token-file", d.token_file.is_some()),
        ];
        match given.into_iter().find(|(_, given)| *given) {
            Some((flag, _)) => Err(ConfigError::Usage(format!(
                "{flag} is a dashboard flag and `sessiontop serve` draws no dashboard; drop {flag}"
            ))),
            None => Ok(()),
        }
    }

    /// `sessiontop lesson NAME --idle-timeout 5m`: a lesson's script is timed
    /// against its own policy and speed, so it brings them; a flag that would
    /// change them is refused rather than ignored.
    fn refuse_flags_a_lesson_sets_itself(&self) -> Result<(), ConfigError> {
        if !matches!(self.command, Some(Command::Lesson { .. })) {
            return Ok(());
        }
        let (c, d) = (&self.common, &self.dashboard);
        let given = [
            ("--idle-timeout", "idle_timeout", c.idle_timeout.is_some()),
            (
                "--absolute-timeout",
                "absolute_timeout",
                c.absolute_timeout.is_some(),
            ),
            ("--closing-time", "closing_time", c.closing_time.is_some()),
            (
                "--speed",
                "speed",
                d.speed.is_some()
                    || matches!(&self.command, Some(Command::Lesson { speed: Some(_), .. })),
            ),
        ];
        if let Some((flag, key, _)) = given.into_iter().find(|(_, _, given)| *given) {
            let instead = if key == "speed" {
                "speed = … at the top of a lesson file; +/- change it while it runs"
            } else {
                &format!("{key} = … in a lesson file's [policy]")
            };
            return Err(ConfigError::Usage(format!(
                "{flag} does not apply to `sessiontop lesson`: a lesson's steps are timed for its own policy and speed ({instead}); drop {flag}"
            )));
        }
        if matches!(
            &self.command,
            Some(Command::Lesson {
                lesson: None,
                record: Some(_),
                ..
            })
        ) {
            return Err(ConfigError::Usage(
                "--record records a lesson as it plays: name one (sessiontop lesson NAME --record FILE); `sessiontop lesson` lists them".to_owned(),
            ));
        }
        if d.server.is_some() || d.no_sim {
            let flag = if d.no_sim { "--no-sim" } else { "--server" };
            return Err(ConfigError::Usage(format!(
                "{flag} does not apply to `sessiontop lesson`: a lesson plays its own logins on an engine of its own; drop {flag}"
            )));
        }
        Ok(())
    }

    /// `sessiontop --listen …` is a `serve` flag given to the dashboard.
    fn refuse_misplaced_flags(&self) -> Result<(), ConfigError> {
        let m = &self.misplaced;
        for (flag, given) in [("--listen", &m.listen), ("--store", &m.store)] {
            if given.is_some() {
                let hint = match &self.command {
                    Some(Command::Serve(_)) => "put it after `serve`".to_owned(),
                    _ => format!("run `sessiontop serve {flag} …`"),
                };
                return Err(ConfigError::Usage(format!(
                    "{flag} belongs to `sessiontop serve`: {hint}"
                )));
            }
        }
        // `bench`'s options for one target are refused with the others, not ignored.
        if let Some(Command::Bench(bench)) = &self.command {
            let misplaced = [
                ("--remote", bench.remote, BenchTarget::Tui),
                ("--store", bench.store.is_some(), BenchTarget::Server),
            ];
            for (flag, given, target) in misplaced {
                if given && bench.target != target {
                    let name = target.to_possible_value().expect("no target is skipped");
                    return Err(ConfigError::Usage(format!(
                        "{flag} is for `sessiontop bench {}` only",
                        name.get_name()
                    )));
                }
            }
        }
        Ok(())
    }

    /// A dashboard watching a server has no clock or simulator of its own to
    /// set; one on its own engine has no server to give a token to.
    fn refuse_flags_a_server_ignores(
        &self,
        config: &Config,
        env: &Environment,
    ) -> Result<(), ConfigError> {
        if self.command.is_some() {
            return Ok(());
        }
        let Some(server) = &config.dashboard.server else {
            if self.dashboard.token_file.is_some() {
                return Err(ConfigError::Usage(
                    "--token-file names a file holding a server's admin token, and no server is given: add --server URL, or drop --token-file".into(),
                ));
            }
            return Ok(());
        };
        let name = if self.dashboard.server.is_some() {
            "--server"
        } else if env.server.is_some() {
            "SESSIONTOP_SERVER"
        } else {
            "dashboard.server"
        };
        crate::source::remote::base_url(server, name)
            .map_err(|e| ConfigError::Usage(e.to_string()))?;
        let refused = if self.dashboard.speed.is_some() {
            Some("--speed")
        } else if env.speed.is_some() {
            Some("SESSIONTOP_SPEED")
        } else if self.dashboard.no_sim {
            Some("--no-sim")
        } else {
            None
        };
        match refused {
            Some(flag) => Err(ConfigError::Usage(format!(
                "{flag} applies to the embedded engine, not to a server ({server}): a server's clock runs in real time and it simulates no logins; drop {flag} or --server"
            ))),
            None => Ok(()),
        }
    }
}

/// `--speed`'s value as a number; its range is checked with the config's.
fn speed_factor(text: &str) -> Result<f64, String> {
    text.trim()
        .parse()
        .map_err(|_| "not a number; use a speed factor from 0.5 to 100, such as 10".to_owned())
}
