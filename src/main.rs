//! CLI parsing and dispatch only: read the environment once, build the config
//! for the command, run the command. Each mode checks its own parts as it
//! starts (the dashboard its key map and scenario, `serve` its tokens).

use std::process::ExitCode;

use clap::Parser;
use sessiontop::cli::{Cli, Command};
use sessiontop::config::Environment;
use sessiontop::tui::Ended;
use sessiontop::tui::text::printable;

/// Everything printed goes through `printable`: an error may quote what a
/// server answered or a file held, which must not drive the terminal.
fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = Environment::from_process();
    let config = match cli.load_config(&env) {
        Ok(config) => {
            // Before the dashboard takes the terminal; also in scrollback after it.
            for warning in &config.warnings {
                eprintln!("sessiontop: warning: {}", printable(warning));
            }
            config
        }
        Err(e) => {
            eprintln!("sessiontop: {}", printable(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    // The key map and the scenario are config too: a bad one is a usage
    // error like the rest where it is used (a lesson uses only the keys), and
    // a warning where it is not, as for any other section.
    for (section, refused) in sessiontop::tui::check_settings(&config) {
        match (&cli.command, section) {
            (None, _) | (Some(Command::Lesson { .. }), "keys") => {
                eprintln!("sessiontop: {}", printable(&refused.to_string()));
                return ExitCode::from(2);
            }
            (Some(Command::Serve(_)), _) => eprintln!(
                "sessiontop: warning: {}; serve does not use [{section}] and goes on without it",
                printable(&refused.to_string())
            ),
            _ => {}
        }
    }
    // `serve` stops gracefully on a signal, as a service manager expects: 0.
    let result = match cli.command {
        None => sessiontop::tui::run(config),
        Some(Command::Serve(_)) => sessiontop::server::run(config).map(|()| Ended::Quit),
        Some(Command::Lesson { lesson, record, .. }) => {
            sessiontop::tui::classroom::run(config, lesson, record)
        }
        Some(Command::Bench(bench)) => {
            sessiontop::bench::run(&bench, &config).map(|()| Ended::Quit)
        }
    };
    match result {
        Ok(ended) => ExitCode::from(ended.exit_status()),
        Err(e) => {
            eprintln!("sessiontop: {}", printable(&format!("{e:#}")));
            if is_usage_error(&e) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// What the user gave is wrong (a lesson that does not load, an API token
/// that is not allowed, an address `serve` will not listen on without
/// tokens), found as the mode starts: exit 2, as for any other setting.
fn is_usage_error(e: &color_eyre::Report) -> bool {
    use sessiontop::server::ServerError;
    e.chain().any(|cause| {
        cause.is::<sessiontop::sim::lesson::LessonError>()
            || cause.is::<sessiontop::server::auth::TokenError>()
            || cause.downcast_ref::<ServerError>().is_some_and(|e| {
                matches!(
                    e,
                    ServerError::Config(_)
                        | ServerError::Tokens(_)
                        | ServerError::BadAddress { .. }
                        | ServerError::NotLoopback { .. }
                )
            })
    })
}
