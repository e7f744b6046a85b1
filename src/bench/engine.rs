//! `sessiontop bench engine`: memory per session, cost per operation, and how
//! close to its deadline the engine ends sessions, with N sessions live.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{WrapErr, eyre};
use serde::Serialize;

use super::stats::{quantile, rss_bytes, wall_ms};
use crate::config::Config;
use crate::engine::clock::system_now;
use crate::engine::driver::{Delivery, DriverConfig};
use crate::engine::{EngineHandle, EventKind, Handle, Login, Policy, SystemClock};

const BATCH: usize = 1000;
/// Sessions whose tokens and handles are kept for the touch and revoke figures.
const SAMPLE: usize = 100_000;
const EXPIRY_RATE_PER_S: usize = 10_000;
const EXPIRY_SECONDS: usize = 5;
const BURST: usize = 100_000;

#[derive(Debug, Serialize)]
pub struct EngineReport {
    pub sessions: usize,
    pub bytes_per_session: f64,
    pub login_ns: f64,
    pub touch_ns: f64,
    pub revoke_ns: f64,
    pub expiry_lateness_ms: Lateness,
    pub burst_100k_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct Lateness {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: usize,
}

pub fn run(sessions: usize, config: &Config) -> color_eyre::Result<EngineReport> {
    if sessions < SAMPLE {
        return Err(eyre!("bench engine needs --sessions of at least {SAMPLE}"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the tokio runtime")?;
    let policy = config.policy.to_policy()?;
    runtime.block_on(measure(sessions, policy, config.engine.to_driver_config()?))
}

async fn measure(
    sessions: usize,
    mut policy: Policy,
    driver: DriverConfig,
) -> color_eyre::Result<EngineReport> {
    // Long timeouts for the resident sessions, so only the measured ones expire.
    policy.idle_timeout = policy.idle_bounds.max;
    policy.absolute_timeout = policy.absolute_bounds.max;
    policy.closing_time = None;

    // Kept tokens live in memory allocated and written before the baseline.
    let mut tokens: Vec<String> = Vec::with_capacity(SAMPLE);
    let mut handles: Vec<Handle> = Vec::with_capacity(SAMPLE);
    let rss_before = rss_bytes();
    let engine = EngineHandle::spawn(policy, Arc::new(SystemClock), driver);

    let users: Vec<String> = (0..10_000).map(|i| format!("user{i:05}")).collect();
    let keep_every = sessions / SAMPLE;
    let mut login_ns = Vec::with_capacity(sessions / BATCH);
    for batch in 0..sessions / BATCH {
        let start = Instant::now();
        for i in 0..BATCH {
            let n = batch * BATCH + i;
            let (token, session) = engine.login(Login::user(users[n % users.len()].as_str()))?;
            if n.is_multiple_of(keep_every) && tokens.len() < SAMPLE {
                tokens.push(token.expose().to_owned());
                handles.push(session.handle);
            }
        }
        login_ns.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    let kept_bytes =
        (tokens.capacity() * (std::mem::size_of::<String>() + 48) + handles.capacity() * 8) as u64;
    let rss_after = rss_bytes();
    let bytes_per_session = rss_after
        .saturating_sub(rss_before)
        .saturating_sub(kept_bytes) as f64
        / sessions as f64;

    let mut touch_ns = Vec::new();
    let mut order: Vec<usize> = (0..tokens.len()).collect();
    shuffle(&mut order);
    for chunk in order.chunks(BATCH) {
        let start = Instant::now();
        for &i in chunk {
            engine.touch(&tokens[i])?;
        }
        touch_ns.push(start.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }

    let lateness = expiry_lateness(&engine).await?;
    let burst = burst(&engine).await?;

    let mut revoke_ns = Vec::new();
    for chunk in order.chunks(BATCH) {
        let start = Instant::now();
        for &i in chunk {
            engine.revoke(handles[i], "bench")?;
        }
        revoke_ns.push(start.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    engine.shutdown();

    Ok(EngineReport {
        sessions,
        bytes_per_session,
        login_ns: quantile(&mut login_ns, 0.5),
        touch_ns: quantile(&mut touch_ns, 0.5),
        revoke_ns: quantile(&mut revoke_ns, 0.5),
        expiry_lateness_ms: lateness,
        burst_100k_ms: burst,
    })
}

/// Logs in sessions whose idle deadlines fall 10,000 a second, and measures
/// how late each `expired` event reaches a subscriber, by the system clock.
async fn expiry_lateness(engine: &EngineHandle) -> color_eyre::Result<Lateness> {
    let total = EXPIRY_RATE_PER_S * EXPIRY_SECONDS;
    let mut subscription = engine.subscribe_after(engine.stats().last_seq)?;
    let collector = tokio::spawn(async move {
        let mut lateness = Vec::with_capacity(total);
        while lateness.len() < total {
            match subscription.next().await {
                Some(Delivery::Event(e)) if e.kind == EventKind::Expired => {
                    let deadline = e.deadline.unwrap_or(e.at) as f64;
                    lateness.push(wall_ms() - deadline);
                }
                Some(Delivery::Event(_)) => {}
                Some(Delivery::Resync) | None => return Err(eyre!("the subscriber lost events")),
            }
        }
        Ok(lateness)
    });
    let first_deadline = system_now() + 2_000;
    for i in 0..total {
        let deadline = first_deadline + (i * 1000 / EXPIRY_RATE_PER_S) as i64;
        let timeout = (deadline - system_now()).max(1_000) as u64;
        engine.login(Login {
            idle_timeout: Some(Duration::from_millis(timeout)),
            ..Login::user("lateness")
        })?;
    }
    let mut lateness = collector.await??;
    Ok(Lateness {
        p50: quantile(&mut lateness, 0.5),
        p99: quantile(&mut lateness, 0.99),
        max: quantile(&mut lateness, 1.0),
        samples: lateness.len(),
    })
}

/// 100,000 sessions share one deadline: how long until the last one's event arrives.
async fn burst(engine: &EngineHandle) -> color_eyre::Result<f64> {
    let mut subscription = engine.subscribe_after(engine.stats().last_seq)?;
    let collector = tokio::spawn(async move {
        let mut seen = 0;
        while seen < BURST {
            match subscription.next().await {
                Some(Delivery::Event(e)) if e.kind == EventKind::Expired => seen += 1,
                Some(Delivery::Event(_)) => {}
                Some(Delivery::Resync) | None => return Err(eyre!("the subscriber lost events")),
            }
        }
        Ok(wall_ms())
    });
    let deadline = system_now() + 3_000;
    for _ in 0..BURST {
        let timeout = (deadline - system_now()).max(1_000) as u64;
        engine.login(Login {
            idle_timeout: Some(Duration::from_millis(timeout)),
            ..Login::user("burst")
        })?;
    }
    let last_event_at = collector.await??;
    Ok(last_event_at - deadline as f64)
}

fn shuffle(items: &mut [usize]) {
    use rand::seq::SliceRandom;
    items.shuffle(&mut rand::rng());
}
