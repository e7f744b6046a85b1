//! CLI parsing and dispatch only.

use std::process::ExitCode;

use clap::Parser;
use sessiontop::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("sessiontop: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        None => sessiontop::tui::run(config),
        Some(Command::Serve { .. }) => sessiontop::server::run(config),
        Some(Command::Lesson { lesson, record }) => {
            sessiontop::tui::classroom::run(config, lesson, record)
        }
        Some(Command::Bench {
            target,
            sessions,
            json,
            remote,
        }) => sessiontop::bench::run(target, sessions, json, remote, &config),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessiontop: {e:#}");
            ExitCode::FAILURE
        }
    }
}
