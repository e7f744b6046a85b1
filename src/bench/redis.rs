//! `sessiontop bench redis`: the Redis store with two nodes on one Redis, and
//! the anchors to judge it by, measured in the same run on the same Redis:
//! `redis-benchmark -t get -c 32`, and Redis's own keyspace notifications
//! under the same expiry load, heard by the same kind of listener.
//!
//! Redis comes from `SESSIONTOP_STORE` when that is a `redis://` URL (the
//! bench then uses the key prefix `sessiontop-bench:` and database 1 for the
//! keyspace anchor); otherwise the bench starts a private `redis-server` with
//! AOF (`appendfsync everysec`) on a free loopback port and stops it after.
//! Touches are measured at the library level (no HTTP) until `serve` runs on
//! the Redis store.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use color_eyre::eyre::{WrapErr, eyre};
use futures_util::StreamExt;
use serde::Serialize;

use super::stats::{quantile, wall_ms};
use crate::config::Config;
use crate::engine::driver::Delivery;
use crate::engine::{EventKind, Login, Policy, Token};
use crate::store::redis::{RedisOptions, RedisStore};

const RATE_PER_S: usize = 10_000;
const RATE_SECONDS: usize = 5;
const BURST: usize = 100_000;
const TOUCH_SECONDS: u64 = 5;
const CONCURRENCY: usize = 64;
/// How long the keyspace listener waits after the last deadline.
const KEYSPACE_GRACE: Duration = Duration::from_secs(20);
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[derive(Debug, Serialize)]
pub struct RedisReport {
    pub redis: String,
    pub sessions: usize,
    pub nodes: usize,
    /// Redis memory per live session (record, deadline entry, user set entry),
    /// without the event stream.
    pub bytes_per_session: f64,
    /// What the stream holds per event (kept up to the retention).
    pub stream_bytes_per_event: f64,
    pub sessions_per_user: usize,
    pub login_per_s: f64,
    /// Library-level: one script call per touch, 32 concurrent callers over two nodes.
    pub touch_per_s: f64,
    pub redis_benchmark_get_c32_per_s: f64,
    pub touch_vs_get: f64,
    /// Whether the AOF was rewritten after the logins, before the measured
    /// phases (see `rewrite_aof`); false when Redis keeps no AOF.
    pub aof_rewritten_before_phases: bool,
    pub expiry: Expiry,
    pub burst: Burst,
    pub keyspace_notifications: Keyspace,
    /// Where the time went in each phase: Redis's own accounting and this
    /// process's CPU (both share the machine's cores).
    pub cost: Vec<PhaseCost>,
}

/// What one phase cost Redis (from `INFO commandstats` after `CONFIG
/// RESETSTAT`, and `INFO cpu`) and the bench process (its two nodes and
/// callers), so a slow figure can be put down to one side or the other.
#[derive(Debug, Serialize)]
pub struct PhaseCost {
    pub phase: &'static str,
    pub wall_ms: f64,
    pub scripts: u64,
    /// Redis's own time per script call (`usec_per_call` of FCALL).
    pub script_us_per_call: f64,
    /// Every command Redis ran in the phase, in µs (scripts, stream reads, ...).
    pub redis_command_ms: f64,
    /// Redis's main thread CPU (user + system), in ms.
    pub redis_main_cpu_ms: f64,
    /// This process's CPU (user + system), in ms.
    pub bench_cpu_ms: f64,
    /// Forks Redis made in the phase (AOF rewrites): each stops it for the
    /// longest fork's time, shown beside.
    pub redis_forks: u64,
    pub redis_latest_fork_ms: f64,
    /// Times Redis wrote the AOF late because a background fsync was slow.
    pub aof_delayed_fsync: u64,
    /// How long Redis's main thread was ready to run but waited for a CPU,
    /// in ms (`/proc/PID/task/PID/schedstat`); only when Redis runs on this
    /// machine. Beside `redis_command_ms - redis_main_cpu_ms`, it tells a
    /// Redis that waited for the CPU from one that waited on memory or disk.
    pub redis_runqueue_wait_ms: Option<f64>,
}

/// Starts measuring one phase's cost.
struct PhaseMeter {
    phase: &'static str,
    started: Instant,
    redis_cpu: f64,
    own_cpu: f64,
    forks: u64,
    /// Redis's process id, when it runs on this machine, and its main
    /// thread's run-queue wait so far (ns).
    redis_wait: Option<(u32, u64)>,
}

impl PhaseMeter {
    async fn start(
        phase: &'static str,
        admin: &mut redis::aio::MultiplexedConnection,
    ) -> color_eyre::Result<Self> {
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .exec_async(admin)
            .await?;
        let pid = info_field(admin, "server", "process_id").await? as u32;
        Ok(PhaseMeter {
            phase,
            redis_wait: runqueue_wait_ns(pid).map(|wait| (pid, wait)),
            started: Instant::now(),
            redis_cpu: redis_main_cpu_ms(admin).await?,
            own_cpu: own_cpu_ms(),
            forks: info_field(admin, "stats", "total_forks").await? as u64,
        })
    }

    async fn stop(
        self,
        admin: &mut redis::aio::MultiplexedConnection,
    ) -> color_eyre::Result<PhaseCost> {
        let wall_ms = self.started.elapsed().as_secs_f64() * 1e3;
        let redis_runqueue_wait_ms = self.redis_wait.and_then(|(pid, before)| {
            runqueue_wait_ns(pid).map(|now| now.saturating_sub(before) as f64 / 1e6)
        });
        let own = own_cpu_ms() - self.own_cpu;
        let redis_cpu = redis_main_cpu_ms(admin).await? - self.redis_cpu;
        let forks = info_field(admin, "stats", "total_forks").await? as u64 - self.forks;
        let latest_fork_us = info_field(admin, "stats", "latest_fork_usec").await?;
        // Counted since the last CONFIG RESETSTAT, at the phase's start.
        let aof_delayed_fsync = info_field(admin, "persistence", "aof_delayed_fsync").await? as u64;
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(admin)
            .await?;
        let (mut scripts, mut script_us, mut command_us) = (0, 0.0, 0.0);
        // cmdstat_evalsha:calls=12,usec=345,usec_per_call=28.75,...
        for line in stats.lines() {
            let Some((name, fields)) = line.split_once(':') else {
                continue;
            };
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            // The INFO and CONFIG calls of this meter are not the phase's.
            if name == "cmdstat_info" || name.starts_with("cmdstat_config") {
                continue;
            }
            command_us += field("usec");
            if matches!(name, "cmdstat_fcall" | "cmdstat_evalsha" | "cmdstat_eval") {
                scripts += field("calls") as u64;
                script_us += field("usec");
            }
        }
        Ok(PhaseCost {
            phase: self.phase,
            wall_ms,
            scripts,
            script_us_per_call: if scripts > 0 {
                script_us / scripts as f64
            } else {
                0.0
            },
            redis_command_ms: command_us / 1e3,
            redis_main_cpu_ms: redis_cpu,
            bench_cpu_ms: own,
            redis_forks: forks,
            redis_latest_fork_ms: latest_fork_us / 1e3,
            aof_delayed_fsync,
            redis_runqueue_wait_ms,
        })
    }
}

/// The run-queue wait (ns) of the main thread of process `pid`, if it is a
/// `redis-server` on this machine.
fn runqueue_wait_ns(pid: u32) -> Option<u64> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if !comm.starts_with("redis-server") {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/schedstat")).ok()?;
    stat.split_whitespace().nth(1)?.parse().ok()
}

/// One number from `INFO section`, 0 when Redis does not report it.
async fn info_field(
    admin: &mut redis::aio::MultiplexedConnection,
    section: &str,
    key: &str,
) -> color_eyre::Result<f64> {
    let info: String = redis::cmd("INFO").arg(section).query_async(admin).await?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0))
}

/// Rewrites the append-only file and waits for it, before each measured
/// phase (and before the logins that prepare it). Logins double the AOF
/// quickly (an RDB-encoded base, then each script's effects as commands), so
/// Redis forks for automatic rewrites (`auto-aof-rewrite-percentage`) every
/// few hundred thousand logins; without this, one may fall inside a phase
/// or not, run to run. The phases then start where a Redis spends most of its
/// time, between rewrites; a fork during a phase still shows in its
/// `redis_forks`. Returns whether Redis keeps an AOF.
async fn rewrite_aof(admin: &mut redis::aio::MultiplexedConnection) -> color_eyre::Result<bool> {
    if info_field(admin, "persistence", "aof_enabled").await? != 1.0 {
        return Ok(false);
    }
    async fn settled(admin: &mut redis::aio::MultiplexedConnection) -> color_eyre::Result<()> {
        let give_up = Instant::now() + Duration::from_secs(300);
        while info_field(admin, "persistence", "aof_rewrite_in_progress").await? != 0.0
            || info_field(admin, "persistence", "aof_rewrite_scheduled").await? != 0.0
        {
            if Instant::now() > give_up {
                return Err(eyre!("Redis did not finish rewriting its AOF within 300 s"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }
    settled(admin).await?;
    redis::cmd("BGREWRITEAOF").exec_async(admin).await?;
    settled(admin).await?;
    Ok(true)
}

/// Redis's main thread CPU so far, in ms.
async fn redis_main_cpu_ms(
    admin: &mut redis::aio::MultiplexedConnection,
) -> color_eyre::Result<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(admin).await?;
    let field = |key: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    // Redis 6.2+ reports its main thread apart; older ones only the process.
    let cpu = match (
        field("used_cpu_user_main_thread"),
        field("used_cpu_sys_main_thread"),
    ) {
        (Some(user), Some(sys)) => user + sys,
        _ => field("used_cpu_user").unwrap_or(0.0) + field("used_cpu_sys").unwrap_or(0.0),
    };
    Ok(cpu * 1e3)
}

/// This process's CPU so far (user + system, Linux), in ms; 0 where unknown.
fn own_cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): utime is the
    // 12th and stime the 13th, in clock ticks of 1/100 s on Linux.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(user), Some(sys)) => (user + sys) * 10.0,
        _ => 0.0,
    }
}

#[derive(Debug, Serialize)]
pub struct Lateness {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub samples: usize,
}

#[derive(Debug, Serialize)]
pub struct Expiry {
    pub achieved_rate_per_s: f64,
    /// `at - deadline` of each `expired` event: when Redis ended it.
    pub ended_ms: Lateness,
    /// When the listener (a subscriber on node A) received it, minus the deadline.
    pub received_ms: Lateness,
}

#[derive(Debug, Serialize)]
pub struct Burst {
    pub sessions: usize,
    pub deadline_spread_ms: f64,
    /// The latest `at - deadline` of their `expired` events: when Redis had
    /// ended (and appended the event of) every one.
    pub all_emitted_ms: f64,
    /// From the earliest deadline until the listener had every `expired` event.
    pub all_received_ms: f64,
    pub received: usize,
}

#[derive(Debug, Serialize)]
pub struct Keyspace {
    pub resident_keys: usize,
    pub expiring_at_10k_per_s: usize,
    pub received_within_grace: usize,
    pub received_ms: Lateness,
    pub burst_keys: usize,
    pub burst_received_within_grace: usize,
    pub burst_all_received_ms: Option<f64>,
    pub grace_s: u64,
}

/// A `redis-server` of the bench's own, stopped when dropped.
struct PrivateRedis {
    child: Child,
    dir: std::path::PathBuf,
    port: u16,
}

impl PrivateRedis {
    fn start() -> color_eyre::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let dir = std::env::temp_dir().join(format!("sessiontop-bench-redis-{port}"));
        std::fs::create_dir_all(&dir)?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args(["--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .wrap_err(
                "cannot start redis-server: is it installed? (apt-get install redis-server)",
            )?;
        let redis = PrivateRedis { child, dir, port };
        let give_up = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > give_up {
                return Err(eyre!("redis-server did not start within 20 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(redis)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn run(sessions: usize, config: &Config) -> color_eyre::Result<RedisReport> {
    let policy = config.policy.to_policy()?;
    let from_env = std::env::var("SESSIONTOP_STORE")
        .ok()
        .filter(|url| url.starts_with("redis://") || url.starts_with("rediss://"));
    let private = match from_env {
        Some(_) => None,
        None => Some(PrivateRedis::start()?),
    };
    let (url, port) = match (&from_env, &private) {
        (Some(url), _) => (url.clone(), None),
        (None, Some(p)) => (format!("redis://127.0.0.1:{}/0", p.port), Some(p.port)),
        (None, None) => unreachable!("one of the two is set"),
    };
    let runtime = super::runtime()?;
    runtime.block_on(measure(sessions, policy, url, port))
}

pub(super) fn redis_benchmark(port: Option<u16>) -> f64 {
    // Only for a Redis the bench can name by port: its own.
    let Some(port) = port else { return 0.0 };
    let output = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-t",
            "get",
            "-c",
            "32",
            "-n",
            "300000",
            "-q",
        ])
        .output();
    let Ok(output) = output else { return 0.0 };
    let text = String::from_utf8_lossy(&output.stdout);
    // "GET: 123456.79 requests per second, p50=0.135 msec" (after \r progress lines)
    text.rsplit('\r')
        .flat_map(|s| s.lines())
        .find_map(|line| {
            let rest = line.trim().strip_prefix("GET: ")?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0.0)
}

fn login_for(user: usize, idle: Option<Duration>) -> Login {
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert(
        "ip".to_owned(),
        format!("198.51.{}.{}", user % 256, user / 256 % 256),
    );
    attributes.insert("user_agent".to_owned(), USER_AGENT.to_owned());
    Login {
        user: format!("user{user:07}"),
        attributes: Some(attributes),
        idle_timeout: idle,
        absolute_timeout: None,
        max_sessions_per_user: None,
    }
}

async fn measure(
    sessions: usize,
    mut policy: Policy,
    url: String,
    port: Option<u16>,
) -> color_eyre::Result<RedisReport> {
    // Long timeouts for the resident sessions, so only the measured ones expire.
    policy.idle_timeout = policy.idle_bounds.max;
    policy.absolute_timeout = policy.absolute_bounds.max;
    policy.closing_time = None;
    let connect = |prefix: &str| {
        let mut options = RedisOptions::new(url.clone(), policy.clone());
        options.key_prefix = prefix.to_owned();
        options.retention = 1_000_000;
        RedisStore::connect(options)
    };
    let prefix = "sessiontop-bench:";
    let mut admin = patient_connection(&url).await?;
    let stale: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut admin)
        .await?;
    for key in stale {
        redis::cmd("UNLINK").arg(key).exec_async(&mut admin).await?;
    }
    let a = connect(prefix).await.map_err(|e| eyre!("{e}"))?;
    let b = connect(prefix).await.map_err(|e| eyre!("{e}"))?;
    let nodes = [a.clone(), b.clone()];

    // Memory and login rate: N sessions with a user, an ip and a user agent.
    let sessions_per_user = 4;
    let stream_key = format!("{prefix}e");
    let stream_before = memory_usage(&mut admin, &stream_key).await?;
    let before = a.used_memory().await.map_err(|e| eyre!("{e}"))?;
    let keep = 100_000.min(sessions);
    let mut cost = Vec::new();
    let meter = PhaseMeter::start("login", &mut admin).await?;
    let started = Instant::now();
    let tokens: Vec<Option<Token>> = futures_util::stream::iter(0..sessions)
        .map(|i| {
            let node = nodes[i % 2].clone();
            async move {
                let (token, _) = node
                    .login(login_for(i / sessions_per_user, None))
                    .await
                    .map_err(|e| eyre!("{e}"))?;
                Ok::<_, color_eyre::Report>((i < keep).then_some(token))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let login_per_s = sessions as f64 / started.elapsed().as_secs_f64();
    cost.push(meter.stop(&mut admin).await?);
    let after = a.used_memory().await.map_err(|e| eyre!("{e}"))?;
    // The `created` events are history, not session state: counted apart.
    let stream = memory_usage(&mut admin, &stream_key)
        .await?
        .saturating_sub(stream_before);
    let bytes_per_session =
        after.saturating_sub(before).saturating_sub(stream) as f64 / sessions as f64;
    let stream_bytes_per_event = stream as f64 / sessions as f64;
    let tokens: Arc<Vec<Token>> = Arc::new(tokens.into_iter().flatten().collect());
    let aof_rewritten_before_phases = rewrite_aof(&mut admin).await?;

    // Touches: 32 concurrent callers, half on each node.
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut callers = Vec::new();
    for c in 0..32usize {
        let (node, tokens, done, count) = (
            nodes[c % 2].clone(),
            tokens.clone(),
            done.clone(),
            count.clone(),
        );
        callers.push(tokio::spawn(async move {
            let mut i = c * 7919;
            while !done.load(Ordering::Relaxed) {
                i = (i + 104_729) % tokens.len();
                if node.touch(tokens[i].expose()).await.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let meter = PhaseMeter::start("touch", &mut admin).await?;
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(TOUCH_SECONDS)).await;
    done.store(true, Ordering::Relaxed);
    let touches = count.load(Ordering::Relaxed);
    let touch_per_s = touches as f64 / started.elapsed().as_secs_f64();
    cost.push(meter.stop(&mut admin).await?);
    for caller in callers {
        caller.await?;
    }
    let get_per_s = tokio::task::spawn_blocking(move || redis_benchmark(port)).await?;

    let expiry = expiry_at_rate(&nodes, &mut admin, &mut cost).await?;
    let burst = burst(&nodes, &mut admin, &mut cost).await?;
    for node in &nodes {
        node.shutdown();
    }
    let keyspace = keyspace(&url, sessions).await?;

    Ok(RedisReport {
        redis: if port.is_some() {
            "private redis-server, AOF everysec".into()
        } else {
            "SESSIONTOP_STORE".into()
        },
        sessions,
        nodes: 2,
        bytes_per_session,
        stream_bytes_per_event,
        sessions_per_user,
        login_per_s,
        touch_per_s,
        redis_benchmark_get_c32_per_s: get_per_s,
        touch_vs_get: if get_per_s > 0.0 {
            touch_per_s / get_per_s
        } else {
            0.0
        },
        aof_rewritten_before_phases,
        expiry,
        burst,
        keyspace_notifications: keyspace,
        cost,
    })
}

/// Logs in `count` sessions whose idle deadlines fall at `target(i)` (wall ms,
/// the same clock as Redis's here), and returns their handles' deadlines.
async fn targeted(
    nodes: &[RedisStore; 2],
    count: usize,
    first_user: usize,
    target: impl Fn(usize) -> f64,
) -> color_eyre::Result<HashMap<crate::engine::Handle, i64>> {
    let targets: Vec<f64> = (0..count).map(target).collect();
    let views = futures_util::stream::iter(0..count)
        .map(|i| {
            let node = nodes[i % 2].clone();
            let idle = Duration::from_millis((targets[i] - wall_ms()).max(1000.0) as u64);
            async move {
                node.login(login_for(first_user + i, Some(idle)))
                    .await
                    .map_err(|e| eyre!("{e}"))
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut deadlines = HashMap::new();
    for view in views {
        let (_, view) = view?;
        deadlines.insert(view.handle, view.idle_expires_at);
    }
    Ok(deadlines)
}

/// A subscriber on one node that resumes from its last seq when its stream
/// is closed, as a dashboard does.
struct Listener {
    node: RedisStore,
    subscription: crate::engine::Subscription,
    backlog: std::collections::VecDeque<crate::engine::Event>,
    last_seq: u64,
}

impl Listener {
    async fn start(node: &RedisStore) -> color_eyre::Result<Listener> {
        let last_seq = node.stats().await.map_err(|e| eyre!("{e}"))?.last_seq;
        let subscription = node
            .subscribe_after(last_seq)
            .await
            .map_err(|e| eyre!("{e}"))?;
        Ok(Listener {
            node: node.clone(),
            subscription,
            backlog: Default::default(),
            last_seq,
        })
    }

    /// The next `expired` event, or `None` after 5 s without one.
    async fn next_expired(&mut self) -> color_eyre::Result<Option<crate::engine::Event>> {
        loop {
            let event = match self.backlog.pop_front() {
                Some(event) => event,
                None => {
                    let next = self.subscription.next();
                    match tokio::time::timeout(Duration::from_secs(5), next).await {
                        Err(_) => return Ok(None),
                        Ok(Some(Delivery::Event(event))) => Arc::unwrap_or_clone(event),
                        Ok(Some(Delivery::Resync)) => {
                            return Err(eyre!("the listener fell behind"));
                        }
                        Ok(None) => {
                            self.subscription = self
                                .node
                                .subscribe_after(self.last_seq)
                                .await
                                .map_err(|e| eyre!("{e}"))?;
                            self.backlog = std::mem::take(&mut self.subscription.backlog).into();
                            continue;
                        }
                    }
                }
            };
            self.last_seq = event.seq;
            if event.kind == EventKind::Expired {
                return Ok(Some(event));
            }
        }
    }
}

async fn expiry_at_rate(
    nodes: &[RedisStore; 2],
    admin: &mut redis::aio::MultiplexedConnection,
    cost: &mut Vec<PhaseCost>,
) -> color_eyre::Result<Expiry> {
    rewrite_aof(admin).await?;
    let count = RATE_PER_S * RATE_SECONDS;
    let start = wall_ms() + 15_000.0;
    let deadlines = targeted(nodes, count, 50_000_000, |i| {
        start + i as f64 * 1000.0 / RATE_PER_S as f64
    })
    .await?;
    let mut listener = Listener::start(&nodes[0]).await?;
    // Measured from just before the first deadline: only the expiries.
    tokio::time::sleep(Duration::from_millis(
        (start - wall_ms() - 200.0).max(0.0) as u64
    ))
    .await;
    let meter = PhaseMeter::start("expiry at 10,000/s", admin).await?;
    let (mut ended, mut received) = (Vec::new(), Vec::new());
    let give_up = Instant::now() + Duration::from_secs(90);
    while ended.len() < count && Instant::now() < give_up {
        if let Some(event) = listener.next_expired().await?
            && let Some(deadline) = deadlines.get(&event.session.handle)
        {
            ended.push((event.at - deadline) as f64);
            received.push(wall_ms() - *deadline as f64);
        }
    }
    cost.push(meter.stop(admin).await?);
    let (min, max) = deadlines
        .values()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    Ok(Expiry {
        achieved_rate_per_s: count as f64 / ((max - min).max(1) as f64 / 1000.0),
        ended_ms: lateness(&mut ended),
        received_ms: lateness(&mut received),
    })
}

async fn burst(
    nodes: &[RedisStore; 2],
    admin: &mut redis::aio::MultiplexedConnection,
    cost: &mut Vec<PhaseCost>,
) -> color_eyre::Result<Burst> {
    rewrite_aof(admin).await?;
    let at = wall_ms() + 25_000.0;
    let deadlines = targeted(nodes, BURST, 60_000_000, |_| at).await?;
    let mut listener = Listener::start(&nodes[0]).await?;
    let (min, max) = deadlines
        .values()
        .fold((i64::MAX, i64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
    tokio::time::sleep(Duration::from_millis(
        (min as f64 - wall_ms() - 200.0).max(0.0) as u64,
    ))
    .await;
    let meter = PhaseMeter::start("100,000 sharing a deadline", admin).await?;
    let mut received = 0;
    let mut last = 0.0;
    let mut emitted = i64::MIN;
    let give_up = Instant::now() + Duration::from_secs(120);
    while received < BURST && Instant::now() < give_up {
        if let Some(event) = listener.next_expired().await?
            && let Some(deadline) = deadlines.get(&event.session.handle)
        {
            received += 1;
            last = wall_ms();
            emitted = emitted.max(event.at - deadline);
        }
    }
    cost.push(meter.stop(admin).await?);
    Ok(Burst {
        sessions: BURST,
        deadline_spread_ms: (max - min) as f64,
        all_emitted_ms: emitted as f64,
        all_received_ms: last - min as f64,
        received,
    })
}

/// The same load on plain Redis keys with expiry times, heard through
/// keyspace notifications (`expired` events), in database 1.
async fn keyspace(url: &str, resident: usize) -> color_eyre::Result<Keyspace> {
    let url = match url.rsplit_once('/') {
        Some((base, db)) if db.parse::<u32>().is_ok() => format!("{base}/1"),
        _ => format!("{}/1", url.trim_end_matches('/')),
    };
    let client = redis::Client::open(url.as_str())?;
    let mut conn = patient_connection(&url).await?;
    redis::cmd("FLUSHDB").exec_async(&mut conn).await?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Ex")
        .exec_async(&mut conn)
        .await?;
    let value = "x".repeat(120);
    for chunk in (0..resident).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET")
                .arg(format!("r:{i}"))
                .arg(&value)
                .arg("EX")
                .arg(36_000)
                .ignore();
        }
        pipe.exec_async(&mut conn).await?;
    }
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe("__keyevent@1__:expired").await?;
    let mut messages = pubsub.into_on_message();

    let count = RATE_PER_S * RATE_SECONDS;
    let start = wall_ms() as i64 + 5_000;
    let burst_at = start + 3_000;
    let mut pipe = redis::pipe();
    for i in 0..count {
        let at = start + (i * 1000 / RATE_PER_S) as i64;
        pipe.cmd("SET")
            .arg(format!("x:{at}:{i}"))
            .arg(&value)
            .arg("PXAT")
            .arg(at)
            .ignore();
    }
    for i in 0..BURST {
        pipe.cmd("SET")
            .arg(format!("b:{burst_at}:{i}"))
            .arg(&value)
            .arg("PXAT")
            .arg(burst_at)
            .ignore();
    }
    pipe.exec_async(&mut conn).await?;
    let last_deadline = (start + (RATE_SECONDS * 1000) as i64).max(burst_at);
    let listen_until = last_deadline as f64 + KEYSPACE_GRACE.as_millis() as f64;
    let mut received = Vec::new();
    let (mut burst_received, mut burst_last) = (0, None);
    while wall_ms() < listen_until {
        let wait = Duration::from_millis((listen_until - wall_ms()).max(1.0) as u64);
        let Ok(Some(message)) = tokio::time::timeout(wait, messages.next()).await else {
            break;
        };
        let key: String = message.get_payload().unwrap_or_default();
        let mut parts = key.split(':');
        let (kind, at) = (
            parts.next(),
            parts.next().and_then(|a| a.parse::<f64>().ok()),
        );
        match (kind, at) {
            (Some("x"), Some(at)) => received.push(wall_ms() - at),
            (Some("b"), Some(at)) => {
                burst_received += 1;
                if burst_received == BURST {
                    burst_last = Some(wall_ms() - at);
                }
            }
            _ => {}
        }
    }
    redis::cmd("FLUSHDB").exec_async(&mut conn).await?;
    Ok(Keyspace {
        resident_keys: resident,
        expiring_at_10k_per_s: count,
        received_within_grace: received.len(),
        received_ms: lateness(&mut received),
        burst_keys: BURST,
        burst_received_within_grace: burst_received,
        burst_all_received_ms: burst_last,
        grace_s: KEYSPACE_GRACE.as_secs(),
    })
}

/// A connection for the bench's own big commands, with no response timeout.
async fn patient_connection(url: &str) -> color_eyre::Result<redis::aio::MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    Ok(redis::Client::open(url)?
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

async fn memory_usage(
    conn: &mut redis::aio::MultiplexedConnection,
    key: &str,
) -> color_eyre::Result<u64> {
    let bytes: Option<u64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(conn)
        .await?;
    Ok(bytes.unwrap_or(0))
}

fn lateness(samples: &mut [f64]) -> Lateness {
    let max = samples.iter().copied().fold(0.0, f64::max);
    Lateness {
        p50: quantile(samples, 0.5),
        p99: quantile(samples, 0.99),
        max,
        samples: samples.len(),
    }
}
