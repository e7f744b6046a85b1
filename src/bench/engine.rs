//! `sessiontop bench engine`: memory per session, cost per operation, and how
//! close to its deadline the engine ends sessions, with N sessions live.
//!
//! Two engines of N sessions each, built side by side so the second one's
//! memory is not the first one's freed pages: a bare one (user name only) and
//! one whose logins carry an ip and a 60-byte user agent, as a web app sends
//! them, with an event for every touch (`touch_event_interval = 0`). Users
//! hold 10 sessions each. Expiry lateness is measured on the bare engine
//! quiet, while a dashboard connects (full snapshots) in a loop, and while
//! `revoke_user` and `?user=` run in a loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use color_eyre::eyre::eyre;
use serde::Serialize;

use super::stats::{quantile, rss_bytes, wall_ms};
use crate::config::Config;
use crate::engine::clock::system_now;
use crate::engine::driver::{Delivery, DriverConfig};
use crate::engine::{
    Attributes, EngineHandle, EventKind, Handle, ListQuery, Login, Policy, SystemClock,
};

const BATCH: usize = 1000;
/// Sessions whose tokens and handles are kept for the per-operation figures.
const SAMPLE: usize = 100_000;
/// Every user holds this many sessions.
const SESSIONS_PER_USER: usize = 10;
const EXPIRY_RATE_PER_S: usize = 10_000;
const EXPIRY_SECONDS: usize = 5;
const BURST: usize = 100_000;
/// Single operations timed one by one (user listings, revokes, "mine").
const SINGLE_OPS: usize = 1000;

#[derive(Debug, Serialize)]
pub struct EngineReport {
    pub sessions: usize,
    pub sessions_per_user: usize,
    /// RSS growth per session: user name only.
    pub bytes_per_session: f64,
    /// RSS growth per session with an ip and a 60-byte user agent (one of 20).
    pub bytes_per_session_with_attributes: f64,
    pub login_ns: f64,
    /// Logins of users holding 10 sessions, without a limit and with one
    /// (1,000, not reached), in alternating batches.
    pub login_same_users_ns: f64,
    pub login_with_limit_ns: f64,
    /// A login at its limit of 10: it evicts the user's oldest session.
    pub login_evicting_ns: f64,
    /// Touch by token inside `touch_event_interval`: no event at the touch.
    pub touch_coalesced_ns: f64,
    /// Touch by token with `touch_event_interval = 0`: every touch publishes
    /// a `touched` event (sessions with attributes), which a subscriber
    /// reads (see `touch_with_subscriber`).
    pub touch_with_event_ns: f64,
    pub revoke_ns: f64,
    /// One operation on a user holding 10 sessions: median and p99.
    pub list_user: OpTime,
    pub mine: OpTime,
    pub revoke_others: OpTime,
    pub revoke_user: OpTime,
    /// An admin get of one session with its events, the history ring full.
    pub get: OpTime,
    /// A full snapshot of every live session, as a dashboard connecting.
    pub snapshot_ms: f64,
    pub expiry_lateness_ms: Lateness,
    pub expiry_lateness_during_snapshots_ms: Lateness,
    pub expiry_lateness_during_user_ops_ms: Lateness,
    pub burst_100k_ms: f64,
}

#[derive(Debug, Serialize)]
pub struct OpTime {
    pub p50_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Serialize)]
pub struct Lateness {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: usize,
    /// Times the subscriber fell behind the engine's buffer (a starved CPU)
    /// and subscribed again; the expiries it missed meanwhile are not in
    /// the samples.
    pub resubscribed: usize,
    /// Load operations completed while measuring (snapshots, or user
    /// listings plus revokes); 0 when measured quiet.
    pub load_ops: usize,
}

pub fn run(sessions: usize, config: &Config) -> color_eyre::Result<EngineReport> {
    if sessions < SAMPLE {
        return Err(eyre!("bench engine needs --sessions of at least {SAMPLE}"));
    }
    let runtime = super::runtime()?;
    let policy = config.policy.to_policy()?;
    runtime.block_on(measure(sessions, policy, config.engine.to_driver_config()?))
}

/// An engine of N live sessions and the tokens and handles of a sample.
struct Fleet {
    engine: EngineHandle,
    /// Tokens of every session of the sampled users (every tenth user, up
    /// to SAMPLE sessions): `tokens[u * 10 + k]` is the k-th session of
    /// sampled user `u`, who is `users[u * 10]`.
    tokens: Vec<String>,
    handles: Vec<Handle>,
    users: Vec<String>,
    bytes_per_session: f64,
    login_ns: f64,
}

/// Twenty user agents of exactly 60 bytes.
fn user_agents() -> Vec<String> {
    (0..20)
        .map(|i| {
            let agent = format!("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/2010 Fx/{i:02}");
            format!("{agent:<60}")
        })
        .collect()
}

fn ip_of(n: usize) -> String {
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

impl Fleet {
    fn build(
        sessions: usize,
        policy: Policy,
        driver: DriverConfig,
        with_attributes: bool,
    ) -> color_eyre::Result<Fleet> {
        let user_count = sessions / SESSIONS_PER_USER;
        let users: Vec<String> = (0..user_count).map(|i| format!("user{i:07}")).collect();
        let agents = user_agents();
        // Kept tokens live in memory allocated before the baseline.
        let mut tokens: Vec<String> = Vec::with_capacity(SAMPLE);
        let mut handles: Vec<Handle> = Vec::with_capacity(SAMPLE);
        // (user, login number) of each kept session, to order the sample by.
        let mut kept: Vec<(usize, usize)> = Vec::with_capacity(SAMPLE);
        let rss_before = rss_bytes();
        let engine = EngineHandle::spawn(policy, Arc::new(SystemClock), driver);
        let mut login_ns = Vec::with_capacity(sessions / BATCH);
        // Session n belongs to user n % users; sampled users are those divisible by 10.
        for batch in 0..sessions / BATCH {
            let start = Instant::now();
            for i in 0..BATCH {
                let n = batch * BATCH + i;
                let user = n % user_count;
                let attributes = with_attributes.then(|| {
                    Attributes::from([
                        ("ip".to_owned(), ip_of(n)),
                        ("user_agent".to_owned(), agents[n % agents.len()].clone()),
                    ])
                });
                let login = Login {
                    attributes,
                    ..Login::user(users[user].as_str())
                };
                let (token, session) = engine.login(login)?;
                if user.is_multiple_of(SESSIONS_PER_USER) && user < SAMPLE {
                    tokens.push(token.expose().to_owned());
                    handles.push(session.handle);
                    kept.push((user, n));
                }
            }
            login_ns.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
        }
        let kept_bytes = (tokens.capacity() * (std::mem::size_of::<String>() + 48)
            + handles.capacity() * 8
            + kept.capacity() * 16) as u64;
        let rss_after = rss_bytes();
        let bytes_per_session = rss_after
            .saturating_sub(rss_before)
            .saturating_sub(kept_bytes) as f64
            / sessions as f64;
        // Order the sample by user: tokens[u * 10 + k].
        let mut sample: Vec<((usize, usize), (String, Handle))> = kept
            .into_iter()
            .zip(tokens.into_iter().zip(handles))
            .collect();
        sample.sort_unstable_by_key(|&(key, _)| key);
        let (tokens, handles) = sample.into_iter().map(|(_, kept)| kept).unzip();
        Ok(Fleet {
            engine,
            tokens,
            handles,
            users,
            bytes_per_session,
            login_ns: quantile(&mut login_ns, 0.5),
        })
    }

    /// How many users are sampled.
    fn sampled_users(&self) -> usize {
        self.tokens.len() / SESSIONS_PER_USER
    }

    /// The name of sampled user `i`.
    fn sampled_user(&self, i: usize) -> &str {
        &self.users[i * SESSIONS_PER_USER]
    }
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
    policy.max_sessions_per_user = None;
    policy.touch_event_interval = Duration::from_secs(1);

    let bare = Fleet::build(sessions, policy.clone(), driver.clone(), false)?;
    let eventful = Fleet::build(
        sessions,
        Policy {
            touch_event_interval: Duration::ZERO,
            ..policy
        },
        driver,
        true,
    )?;

    let mut order: Vec<usize> = (0..bare.tokens.len()).collect();
    shuffle(&mut order);
    let touch_with_event_ns = touch_with_subscriber(&eventful, &order)?;
    let bytes_per_session_with_attributes = eventful.bytes_per_session;
    eventful.engine.shutdown();
    drop(eventful);

    // Once to open each session's interval, then again inside it.
    touch_all(&bare, &order)?;
    let touch_coalesced_ns = touch_all(&bare, &order)?;

    let engine = &bare.engine;
    let started = Instant::now();
    let snapshot = engine.snapshot();
    let snapshot_ms = started.elapsed().as_secs_f64() * 1e3;
    drop(snapshot);

    // Distinct sampled users for each figure that changes them.
    let ops = SINGLE_OPS.min(bare.sampled_users() / 3);
    let list_user = time_each(0..ops, |i| {
        let user = &bare.users[(i * 7919) % bare.users.len()];
        let page = engine.list(&ListQuery {
            user: Some(user.clone()),
            limit: 100,
            cursor: None,
        });
        assert_eq!(page.sessions.len(), SESSIONS_PER_USER);
    });
    let get = time_each(0..ops, |i| {
        let found = engine.get(bare.handles[i * SESSIONS_PER_USER]);
        assert!(found.is_some());
    });
    let mine = time_each(0..ops, |i| {
        let mine = engine.mine(&bare.tokens[i * SESSIONS_PER_USER]);
        assert_eq!(mine.map(|m| m.sessions.len()).ok(), Some(SESSIONS_PER_USER));
    });
    let revoke_others = time_each(0..ops, |i| {
        let revoked = engine.revoke_others(&bare.tokens[i * SESSIONS_PER_USER]);
        assert_eq!(revoked.ok(), Some(SESSIONS_PER_USER - 1));
    });
    let revoke_user = time_each(ops..2 * ops, |i| {
        let user = bare.sampled_user(i);
        assert_eq!(engine.revoke_user(user, "bench"), SESSIONS_PER_USER);
    });
    let login_evicting_ns = login_evicting(&bare, 2 * ops..3 * ops)?;
    // After the figures above: these logins give some users more than 10 sessions.
    let (login_same_users_ns, login_with_limit_ns) = login_with_and_without_limit(&bare)?;

    let expiry_lateness_ms = expiry_lateness(engine, 0, |_| 0).await?;
    let expiry_lateness_during_snapshots_ms = {
        let loaded = engine.clone();
        expiry_lateness(engine, 1, move |_| {
            let snapshot = loaded.snapshot();
            std::hint::black_box(snapshot.sessions.len());
            1
        })
        .await?
    };
    let expiry_lateness_during_user_ops_ms = {
        let loaded = engine.clone();
        let users = bare.users.clone();
        expiry_lateness(engine, 1, move |round| {
            let engine = &loaded;
            // A listing and a revoke of one user, who then logs back in.
            let user = &users[(round * 104_729) % users.len()];
            let page = engine.list(&ListQuery {
                user: Some(user.clone()),
                limit: 100,
                cursor: None,
            });
            std::hint::black_box(page.sessions.len());
            let revoked = engine.revoke_user(user, "bench");
            for _ in 0..revoked {
                let _ = engine.login(Login::user(user.as_str()));
            }
            2
        })
        .await?
    };
    let burst = burst(engine).await?;

    // The sampled users no figure above revoked (the lateness load may have
    // revoked a few; those answer NoSuchSession and are not counted).
    let untouched = 3 * ops * SESSIONS_PER_USER;
    let mut live: Vec<Handle> = bare.handles[untouched..].to_vec();
    shuffle_handles(&mut live);
    let mut revoke_ns = Vec::new();
    for chunk in live.chunks(BATCH) {
        let start = Instant::now();
        let revoked = chunk
            .iter()
            .filter(|&&handle| engine.revoke(handle, "bench").is_ok())
            .count();
        revoke_ns.push(start.elapsed().as_nanos() as f64 / revoked.max(1) as f64);
    }
    engine.shutdown();

    Ok(EngineReport {
        sessions,
        sessions_per_user: SESSIONS_PER_USER,
        bytes_per_session: bare.bytes_per_session,
        bytes_per_session_with_attributes,
        login_ns: bare.login_ns,
        login_same_users_ns,
        login_with_limit_ns,
        login_evicting_ns,
        touch_coalesced_ns,
        touch_with_event_ns,
        revoke_ns: quantile(&mut revoke_ns, 0.5),
        list_user,
        mine,
        revoke_others,
        revoke_user,
        get,
        snapshot_ms,
        expiry_lateness_ms,
        expiry_lateness_during_snapshots_ms,
        expiry_lateness_during_user_ops_ms,
        burst_100k_ms: burst,
    })
}

/// Touches every sampled session once, in `order`; the median of batch means.
fn touch_all(fleet: &Fleet, order: &[usize]) -> color_eyre::Result<f64> {
    let mut touch_ns = Vec::new();
    let mut staged = Staged::default();
    for chunk in order.chunks(BATCH) {
        staged.fill(fleet, chunk);
        let start = Instant::now();
        for token in staged.tokens() {
            fleet.engine.touch(token)?;
        }
        touch_ns.push(start.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    Ok(quantile(&mut touch_ns, 0.5))
}

/// A batch's tokens side by side, as a server holds a request's token in the
/// buffer it just read: the figure is the engine's work, not the bench's
/// fetching of a token from a random place in a 100,000-token table.
#[derive(Default)]
struct Staged {
    text: String,
    ends: Vec<usize>,
}

impl Staged {
    fn fill(&mut self, fleet: &Fleet, chunk: &[usize]) {
        self.text.clear();
        self.ends.clear();
        for &i in chunk {
            self.text.push_str(&fleet.tokens[i]);
            self.ends.push(self.text.len());
        }
    }

    fn tokens(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

/// `touch_all` with a subscriber reading every event, as an event stream
/// does: after each batch it reads the batch's events, which counts in the
/// batch's time. It reads on the touching thread, as a busy server's stream
/// task runs between requests, so no event has to wake a sleeping thread.
fn touch_with_subscriber(fleet: &Fleet, order: &[usize]) -> color_eyre::Result<f64> {
    let (mut subscription, _) = fleet.engine.subscribe_live();
    let mut touch_ns = Vec::new();
    let mut staged = Staged::default();
    for chunk in order.chunks(BATCH) {
        staged.fill(fleet, chunk);
        let start = Instant::now();
        for token in staged.tokens() {
            fleet.engine.touch(token)?;
        }
        let mut read = 0;
        while read < chunk.len() {
            match subscription.try_next() {
                Some(Delivery::Event(e)) => {
                    read += usize::from(e.kind == EventKind::Touched);
                    std::hint::black_box(&e);
                }
                Some(Delivery::Resync) => return Err(eyre!("the subscriber fell behind")),
                None => return Err(eyre!("a touch published no event")),
            }
        }
        touch_ns.push(start.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    Ok(quantile(&mut touch_ns, 0.5))
}

/// Logins of users that hold 10 sessions, in alternating batches without a
/// limit and with a per-login limit of 1,000 (checked, not reached).
fn login_with_and_without_limit(fleet: &Fleet) -> color_eyre::Result<(f64, f64)> {
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..40 {
        let limit = (round % 2 == 1).then_some(1000);
        let start = Instant::now();
        for i in 0..BATCH {
            let user = &fleet.users[(round * BATCH + i) * 13 % fleet.users.len()];
            fleet.engine.login(Login {
                max_sessions_per_user: limit,
                ..Login::user(user.as_str())
            })?;
        }
        let ns = start.elapsed().as_nanos() as f64 / BATCH as f64;
        if limit.is_some() {
            with.push(ns);
        } else {
            without.push(ns);
        }
    }
    Ok((quantile(&mut without, 0.5), quantile(&mut with, 0.5)))
}

/// Logins at a per-login limit the user already holds: each evicts the oldest.
fn login_evicting(fleet: &Fleet, users: std::ops::Range<usize>) -> color_eyre::Result<f64> {
    let mut ns = Vec::new();
    let users: Vec<usize> = users.collect();
    for batch in 0..5 {
        let start = Instant::now();
        for i in 0..BATCH {
            let user = fleet.sampled_user(users[(batch * BATCH + i) % users.len()]);
            fleet.engine.login(Login {
                max_sessions_per_user: Some(SESSIONS_PER_USER as u32),
                ..Login::user(user)
            })?;
        }
        ns.push(start.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    Ok(quantile(&mut ns, 0.5))
}

/// Times `op` once per item: median and p99 in microseconds.
fn time_each<T>(items: impl IntoIterator<Item = T>, mut op: impl FnMut(T)) -> OpTime {
    let mut us: Vec<f64> = items
        .into_iter()
        .map(|item| {
            let start = Instant::now();
            op(item);
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    OpTime {
        p50_us: quantile(&mut us, 0.5),
        p99_us: quantile(&mut us, 0.99),
    }
}

/// Logs in sessions whose idle deadlines fall 10,000 a second, and measures
/// how late each `expired` event reaches a subscriber, by the system clock.
/// Meanwhile `threads` threads run `load` in a loop (given the round; it
/// returns how many load operations it did).
async fn expiry_lateness(
    engine: &EngineHandle,
    threads: usize,
    load: impl Fn(usize) -> usize + Send + Sync + 'static,
) -> color_eyre::Result<Lateness> {
    let total = EXPIRY_RATE_PER_S * EXPIRY_SECONDS;
    let (mut subscription, _) = engine.subscribe_live();
    let first_deadline = system_now() + 2_000;
    // A machine too busy for the subscriber to keep up costs samples, not
    // the run: it subscribes again, and stops waiting well after the last deadline.
    let give_up = tokio::time::Instant::now()
        + Duration::from_millis(2_000 + (EXPIRY_SECONDS as u64 + 10) * 1_000);
    let resubscribe = engine.clone();
    let collector = tokio::spawn(async move {
        let mut lateness = Vec::with_capacity(total);
        let mut resubscribed = 0;
        while lateness.len() < total {
            match tokio::time::timeout_at(give_up, subscription.next()).await {
                Ok(Some(Delivery::Event(e))) if e.kind == EventKind::Expired => {
                    let deadline = e.deadline.unwrap_or(e.at) as f64;
                    lateness.push(wall_ms() - deadline);
                }
                Ok(Some(Delivery::Event(_))) => {}
                Ok(Some(Delivery::Resync)) => {
                    subscription = resubscribe.subscribe_live().0;
                    resubscribed += 1;
                }
                Ok(None) => return Err(eyre!("the engine stopped")),
                Err(_) => break,
            }
        }
        if lateness.is_empty() {
            return Err(eyre!("no expiry reached the subscriber"));
        }
        Ok((lateness, resubscribed))
    });
    for i in 0..total {
        let deadline = first_deadline + (i * 1000 / EXPIRY_RATE_PER_S) as i64;
        let timeout = (deadline - system_now()).max(1_000) as u64;
        engine.login(Login {
            idle_timeout: Some(Duration::from_millis(timeout)),
            ..Login::user("lateness")
        })?;
    }
    // The load starts with the first deadline and runs until the last event.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = Arc::new(load);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (stop, done, load) = (stop.clone(), done.clone(), load.clone());
            let wait = Duration::from_millis((first_deadline - system_now()).max(0) as u64);
            std::thread::spawn(move || {
                std::thread::sleep(wait);
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    done.fetch_add(load(round), Ordering::Relaxed);
                    round += 1;
                }
            })
        })
        .collect();
    let result = collector.await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    let (mut lateness, resubscribed) = result??;
    Ok(Lateness {
        p50: quantile(&mut lateness, 0.5),
        p99: quantile(&mut lateness, 0.99),
        max: quantile(&mut lateness, 1.0),
        samples: lateness.len(),
        resubscribed,
        load_ops: done.load(Ordering::Relaxed),
    })
}

/// 100,000 sessions share one deadline: how long until the last one's event arrives.
async fn burst(engine: &EngineHandle) -> color_eyre::Result<f64> {
    let (mut subscription, _) = engine.subscribe_live();
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

fn shuffle_handles(items: &mut [Handle]) {
    use rand::seq::SliceRandom;
    items.shuffle(&mut rand::rng());
}
