//! `sessiontop bench`: capacity figures for this machine, as a user would ask for them.
//!
//! Each target measures one part and prints one JSON object: indented, or
//! on one line with `--json` (for scripts). Benchmarks live here, not in tests: a test never fails because
//! the machine is slow.

mod engine;
mod redis;
mod server;
mod stats;
mod store;
mod tui;
mod tui_remote;
mod wrk;

use crate::cli::{BenchArgs, BenchTarget};
use crate::config::Config;

/// The tokio runtime every benchmark runs on.
fn runtime() -> color_eyre::Result<tokio::runtime::Runtime> {
    use color_eyre::eyre::WrapErr;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the tokio runtime")
}

pub fn run(args: &BenchArgs, config: &Config) -> color_eyre::Result<()> {
    let (sessions, remote) = (args.sessions, args.remote);
    let report = match args.target {
        BenchTarget::Server if args.store.is_some() => {
            let store = args.store.clone().expect("checked");
            serde_json::to_value(server::compare_stores(config, store)?)?
        }
        BenchTarget::Engine => serde_json::to_value(engine::run(sessions, config)?)?,
        // Measured with 100,000 live sessions, the figure the issue asks for.
        BenchTarget::Server => serde_json::to_value(server::run(config)?)?,
        // Two nodes on one Redis, beside redis-benchmark and keyspace notifications.
        BenchTarget::Redis => serde_json::to_value(redis::run(sessions, config)?)?,
        BenchTarget::Store => serde_json::to_value(store::run(sessions, config)?)?,
        BenchTarget::Tui if !remote => serde_json::to_value(tui::run(sessions, config)?)?,
        BenchTarget::Tui => serde_json::to_value(tui_remote::run(config)?)?,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
