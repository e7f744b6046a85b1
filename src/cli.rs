//! Command-line definitions (clap). Flags beat `SESSIONTOP_*` environment
//! variables, which beat the config file; `Cli::apply` folds them into a `Config`.

use std::path::PathBuf;
use std::time::Duration;

use chrono::NaiveTime;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{Config, ConfigError, parse_closing_time, parse_duration};

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
}

/// Flags every mode accepts.
#[derive(Debug, Args, Default, Clone)]
pub struct CommonArgs {
    /// Config file (default: $SESSIONTOP_CONFIG, then ~/.config/sessiontop/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Idle timeout, such as 90s or 15m [policy.idle_timeout].
    #[arg(long, global = true, value_name = "D", env = "SESSIONTOP_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Absolute timeout, such as 8h [policy.absolute_timeout].
    #[arg(long, global = true, value_name = "D", env = "SESSIONTOP_ABSOLUTE_TIMEOUT", value_parser = parse_duration)]
    pub absolute_timeout: Option<Duration>,

    /// Daily closing time, local "HH:MM" [policy.closing_time].
    #[arg(long, global = true, value_name = "HH:MM", env = "SESSIONTOP_CLOSING_TIME", value_parser = parse_closing_time)]
    pub closing_time: Option<NaiveTime>,
}

/// Flags of the dashboard.
#[derive(Debug, Args, Default, Clone)]
pub struct DashboardArgs {
    /// Start without simulated logins [simulator.enabled].
    #[arg(long)]
    pub no_sim: bool,

    /// Clock speed of the embedded engine, 0.5 to 100 [dashboard.speed].
    #[arg(long, value_name = "X", env = "SESSIONTOP_SPEED")]
    pub speed: Option<f64>,

    /// Draw without colour (NO_COLOR is honoured too) [dashboard.no_color].
    #[arg(long)]
    pub no_color: bool,

    /// Watch a session server instead of the embedded engine [dashboard.server].
    #[arg(long, value_name = "URL", env = "SESSIONTOP_SERVER")]
    pub server: Option<String>,

    /// File holding the server's admin token (or set SESSIONTOP_TOKEN) [dashboard.token_file].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the session server: the engine behind an HTTP API and an event stream.
    Serve {
        /// Address to listen on [server.listen].
        #[arg(long, value_name = "ADDR", env = "SESSIONTOP_LISTEN")]
        listen: Option<String>,
    },
    /// Measure this machine's capacity and print the figures.
    Bench {
        #[arg(value_enum)]
        target: BenchTarget,
        /// Live sessions to measure with.
        #[arg(long, default_value_t = 1_000_000)]
        sessions: usize,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// For `bench tui`: measure a dashboard connected to a real server over loopback.
        #[arg(long)]
        remote: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTarget {
    Engine,
    Server,
    /// The file store: disk bytes per session and start-up time with N stored sessions.
    Store,
    Tui,
    /// The Redis store (SESSIONTOP_STORE=redis://…, or a private redis-server).
    Redis,
}

impl Cli {
    /// The config file's settings with this command line's flags on top.
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        let mut config = Config::load(self.common.config.as_deref())?;
        let c = &self.common;
        if let Some(d) = c.idle_timeout {
            config.policy.idle_timeout = d;
        }
        if let Some(d) = c.absolute_timeout {
            config.policy.absolute_timeout = d;
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
        }
        if d.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
            config.dashboard.no_color = true;
        }
        if let Some(server) = &d.server {
            config.dashboard.server = Some(server.clone());
        }
        if let Some(file) = &d.token_file {
            config.dashboard.token_file = Some(file.clone());
        }
        if let Some(Command::Serve {
            listen: Some(listen),
        }) = &self.command
        {
            config.server.listen = listen.clone();
        }
        config.validate().map_err(|e| flag_names(e, self))?;
        Ok(config)
    }
}

/// Names the flag rather than the config key when the bad value came from a flag.
fn flag_names(error: ConfigError, cli: &Cli) -> ConfigError {
    match error {
        ConfigError::Invalid {
            key,
            value,
            allowed,
        } => {
            let key = match key {
                "policy.idle_timeout" if cli.common.idle_timeout.is_some() => {
                    "--idle-timeout (or SESSIONTOP_IDLE_TIMEOUT)"
                }
                "policy.absolute_timeout" if cli.common.absolute_timeout.is_some() => {
                    "--absolute-timeout (or SESSIONTOP_ABSOLUTE_TIMEOUT)"
                }
                "dashboard.speed" if cli.dashboard.speed.is_some() => {
                    "--speed (or SESSIONTOP_SPEED)"
                }
                other => other,
            };
            ConfigError::Invalid {
                key,
                value,
                allowed,
            }
        }
        other => other,
    }
}
