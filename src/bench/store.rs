//! `sessiontop bench store`: what the file store costs, at library level.
//!
//! Logs in N sessions (each with an ip and a 55-byte user agent, as a web app
//! sends them) through the file store with the system clock, waits until the
//! writer has committed them all, closes the store, and reports the disk
//! bytes per session. Then it opens the store again and reports how long the
//! start-up takes: reading every session back, restoring the engine, and the
//! first answer. The HTTP figures (touch and login requests per second with
//! `--store file` beside `--store memory`) are `bench server`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::eyre;
use serde::Serialize;

use crate::config::Config;
use crate::engine::{Login, SystemClock};
use crate::store::{StoreOptions, StoreUrl, open};

#[derive(Debug, Serialize)]
pub struct StoreReport {
    pub sessions: usize,
    pub workload: &'static str,
    /// Logins per second into the file store (engine plus queueing; the writer runs behind).
    pub login_per_s: f64,
    /// Seconds from the first login until the writer had committed the last one.
    pub written_after_s: f64,
    /// Size of the store file (WAL folded in) divided by the number of sessions.
    pub disk_bytes_per_session: f64,
    /// Seconds from opening the store until it answers, with every session loaded.
    pub startup_s: f64,
    pub loaded: usize,
}

pub fn run(sessions: usize, config: &Config) -> color_eyre::Result<StoreReport> {
    let runtime = super::runtime()?;
    let dir = std::env::temp_dir().join(format!("sessiontop-bench-store-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("sessions.db");
    let options = StoreOptions {
        max_events: 10_000_000,
        max_event_age: Duration::from_secs(86_400),
        ..StoreOptions::new(StoreUrl::File(path.clone()))
    };
    let mut policy = config.policy.to_policy()?;
    // Nothing expires during the run.
    policy.idle_timeout = policy.idle_bounds.max;
    policy.absolute_timeout = policy.absolute_bounds.max;
    policy.closing_time = None;
    let driver = config.engine.to_driver_config()?;
    let report = runtime.block_on(async {
        let opened = open(&options, policy.clone(), Arc::new(SystemClock), driver.clone())
            .await
            .map_err(|e| eyre!("{e}"))?;
        let store = opened.sessions;
        let started = Instant::now();
        for i in 0..sessions {
            let login = Login {
                attributes: Some(
                    [
                        ("ip".to_owned(), format!("198.51.{}.{}", (i / 250) % 250, i % 250)),
                        ("user_agent".to_owned(), USER_AGENTS[i % USER_AGENTS.len()].to_owned()),
                    ]
                    .into(),
                ),
                ..Login::user(format!("user{:06}", i % 200_000))
            };
            store.login(login).await.map_err(|e| eyre!("{e}"))?;
        }
        let login_per_s = sessions as f64 / started.elapsed().as_secs_f64();
        store.shutdown();
        let written_after_s = started.elapsed().as_secs_f64();
        drop(store);
        let disk = std::fs::metadata(&path)?.len();

        let started = Instant::now();
        let opened = open(&options, policy, Arc::new(SystemClock), driver)
            .await
            .map_err(|e| eyre!("{e}"))?;
        let active = opened.sessions.stats().await.map_err(|e| eyre!("{e}"))?.active;
        let startup_s = started.elapsed().as_secs_f64();
        opened.sessions.shutdown();
        Ok::<_, color_eyre::Report>(StoreReport {
            sessions,
            workload: "logins with attributes ip (7-15 bytes) and user_agent (55 bytes); 200,000 distinct users",
            login_per_s,
            written_after_s,
            disk_bytes_per_session: disk as f64 / sessions.max(1) as f64,
            startup_s,
            loaded: active as usize,
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    report
}

/// 55-byte user agents, as browsers send them.
const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) Safari/605",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.00",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) Mobile/15E1488",
];
