//! The Redis store: sessions of any number of `serve` nodes, kept in Redis.
//!
//! The truth lives in Redis. Each operation is one Lua function (`lua/`, loaded as a Redis Function) that
//! checks the session, changes it, moves its deadline in a sorted set, keeps
//! the per-user set and appends its event to a Redis Stream, in one step, with
//! Redis's own `TIME`: the stream's order is the truth's order and no node's
//! clock decides a deadline. The session rules are the engine's (see
//! `engine::core`); the scripts follow them and the property test holds them
//! to it.
//!
//! Each node runs two tasks: `feed` tails the stream and fans it out to local
//! subscribers, and `expiry` sleeps until the earliest deadline and claims due
//! sessions with a script, so each ends exactly once whichever node claims it.
//!
//! Keys, under the prefix (default `sessiontop:`): `m` (hash: seq, instance,
//! counters), `s` (hash: handle -> packed record), `d` (sorted set: handle by
//! its own deadline), `t` (sorted set: coalesced touches by when they fall
//! due), `e` (the event stream, ids `<seq>-0`), `u:<user>` (set of handles).
//! Only verifier hashes are stored; a token never reaches Redis.
//!
//! This module must not hold session rules of its own beyond the scripts, nor
//! wait on Redis longer than `OP_TIMEOUT`: a Redis that is down is an
//! `Unavailable` answer, never a hang.
//!
//! `rediss://` is TLS (rustls), with Redis's certificate checked against the
//! system's roots or the operator's CA (`tls_root_cert`); it never connects
//! without that check (`#insecure` is refused). A Redis that asks clients for
//! a certificate gets the node's own (`tls_client`).

mod expiry;
mod feed;
mod history;
mod rehash;
mod scripts;
mod touches;
mod wire;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo};
use tokio::sync::Notify;

use crate::engine::token::{PresentedToken, TokenMint};
use crate::engine::{
    Clock, EngineError, Event, Handle, Login, Millis, Mine, OnLimit, Policy, SessionView, Stats,
    Subscription, SystemClock, Token, Totals,
};
use crate::store::StoreError;

pub use feed::SubscribeError;

use scripts::{STALE, Script, Scripts};

/// How long any one Redis call may take before the answer is `Unavailable`:
/// under a second, so a request has its 503 within one, the reply's way included.
pub const OP_TIMEOUT: Duration = Duration::from_millis(900);
/// How long after an operation began, by Redis's clock, its script may still
/// start. A Redis that stalls (paused, failing over, a slow disk) runs the
/// calls it holds once it wakes, after their callers were told 503 "nothing
/// was changed": a script that starts past its operation's deadline must
/// change nothing. Shorter than `OP_TIMEOUT` by a reply's way back and the
/// error of this node's reading of Redis's clock: a call Redis starts in time
/// but whose answer takes longer than that to come back (a network that fails
/// mid-call) has changed what it changed, though its caller was told 503.
const RUN_WINDOW: Duration = Duration::from_millis(600);
/// How long a node starting up waits for a Redis that is loading its data.
const LOADING_WAIT: Duration = Duration::from_secs(60);
/// How long `reconnect` waits between attempts at a new connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// Sessions one expiry script ends at most, so Redis is never blocked for long.
const EXPIRY_CHUNK: usize = 500;
/// Sessions one revoke-user script ends at most.
const REVOKE_CHUNK: usize = 1000;
/// How long a skew sample with a short round trip stands before any sample
/// may replace it (see `Shared::observe_skew`); clocks drift far slower.
const SKEW_FRESH: Duration = Duration::from_secs(10);

/// How to reach Redis and what to run on it.
#[derive(Clone)]
pub struct RedisOptions {
    /// `redis://HOST:PORT/DB` or `rediss://…`; may hold credentials, never shown.
    pub url: String,
    /// Put before every key, so deployments can share one Redis.
    pub key_prefix: String,
    /// A password from a file, used when the URL has none.
    pub password: Option<String>,
    /// The file `password` came from: read again when Redis refuses the
    /// password, so a rotated one is picked up without a restart.
    pub password_file: Option<std::path::PathBuf>,
    /// For `rediss://`: the PEM certificates of the CA to trust instead of the
    /// system's trust store (a Redis with a privately signed certificate).
    pub tls_root_cert: Option<Vec<u8>>,
    /// For `rediss://` to a Redis that asks clients for a certificate: this
    /// node's certificate and key (PEM).
    pub tls_client: Option<redis::ClientTlsConfig>,
    pub policy: Policy,
    /// Events the stream keeps for resuming subscribers (trimmed approximately).
    pub retention: usize,
    /// How old the stream's events may grow before every node trims them
    /// (`history`); none: kept until `retention` trims them.
    pub max_event_age: Option<Duration>,
    /// This node's clock. It only plans when to wake; every deadline is Redis's.
    pub clock: Arc<dyn Clock>,
}

impl RedisOptions {
    pub fn new(url: impl Into<String>, policy: Policy) -> Self {
        RedisOptions {
            url: url.into(),
            key_prefix: "sessiontop:".into(),
            password: None,
            password_file: None,
            tls_root_cert: None,
            tls_client: None,
            policy,
            retention: 1_000_000,
            max_event_age: None,
            clock: Arc::new(SystemClock),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("key_prefix", &self.key_prefix)
            .field("retention", &self.retention)
            .finish_non_exhaustive()
    }
}

/// Where a listing page ended: the last session's deadline and handle.
/// Written `deadline.a.b.c`, the handle's 64 bits in three parts of at most
/// 22 bits, so it has the shape of the engine's cursors (`api::pattern::CURSOR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCursor {
    deadline: Millis,
    handle: Handle,
}

impl fmt::Display for RedisCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.handle.0;
        write!(
            f,
            "{}.{}.{}.{}",
            self.deadline,
            h >> 42,
            (h >> 21) & 0x1f_ffff,
            h & 0x1f_ffff
        )
    }
}

impl FromStr for RedisCursor {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        let mut parts = s.split('.');
        let deadline = parts.next().ok_or(())?.parse().map_err(|_| ())?;
        let mut part = |bits: u32| -> Result<u64, ()> {
            let n: u64 = parts.next().ok_or(())?.parse().map_err(|_| ())?;
            if n >> bits == 0 { Ok(n) } else { Err(()) }
        };
        let handle = (part(22)? << 42) | (part(21)? << 21) | part(21)?;
        if parts.next().is_some() {
            return Err(());
        }
        Ok(RedisCursor {
            deadline,
            handle: Handle(handle),
        })
    }
}

/// A cheap, cloneable handle to the Redis store. Its tasks stop on `shutdown`
/// or when the last clone is dropped.
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
    _stop_on_drop: Arc<StopOnDrop>,
}

/// Held by store handles only, never by the tasks, so its drop means none is left.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

struct Shared {
    /// Every call's connection (clones share it); replaced when it is stuck
    /// (see `reconnect`).
    conn: Mutex<ConnectionManager>,
    /// Makes the connections; rebuilt when the password file changes.
    client: Mutex<redis::Client>,
    /// What `client` is built from.
    options: RedisOptions,
    /// Tells `reconnect` that a call found the connection stuck.
    stuck: Notify,
    keys: [String; 5],
    prefix: String,
    scripts: Scripts,
    policy: Policy,
    retention: usize,
    max_event_age: Option<Duration>,
    /// The history this node follows (see `feed::follow_reset`).
    instance: Mutex<String>,
    node: String,
    clock: Arc<dyn Clock>,
    /// Redis time minus this node's clock, as measured by the best recent sample.
    skew: AtomicI64,
    /// The reading of Redis's clock that `skew` came from.
    skew_sample: Mutex<Option<ClockSample>>,
    mint: Mutex<TokenMint>,
    feed: feed::Feed,
    /// Wakes the expiry driver when a deadline comes before its plan.
    wake: Notify,
    /// The Redis time the expiry driver plans to wake at (`i64::MAX`: only when told).
    planned_wake: AtomicI64,
    shutdown: AtomicBool,
    /// Touches waiting to go to Redis together (see `touches`).
    touches: touches::Touches,
}

impl Shared {
    fn instance(&self) -> String {
        self.instance
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn stop(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        self.stuck.notify_one();
        self.feed.close();
    }

    /// Takes a measurement of Redis's clock (`redis_now`, read between
    /// `before` and `after` on this node's) into the skew. A slow round trip
    /// says little: Redis read its clock somewhere inside it, so the estimate
    /// can be off by half of it, and the expiry driver would wake that much
    /// late. So, as NTP does, a sample counts only if its round trip is
    /// about as short as the one the skew came from, or that one is older
    /// than `SKEW_FRESH`.
    fn observe_skew(&self, before: Millis, redis_now: Millis, after: Millis) {
        self.take_skew_sample(before, redis_now, after, false);
    }

    /// Keeps the sample, which the skew is read from, if it counts (always
    /// when `force`); see `observe_skew`.
    fn take_skew_sample(&self, before: Millis, redis_now: Millis, after: Millis, force: bool) {
        let rtt = after - before;
        let now = Instant::now();
        let mut sample = self.skew_sample();
        let current = sample.map(|s| (s.rtt, s.at));
        if force || takes_skew_sample(current, rtt, now) {
            let at = now
                .checked_sub(Duration::from_millis(u64::try_from(rtt / 2).unwrap_or(0)))
                .unwrap_or(now);
            *sample = Some(ClockSample { rtt, redis_now, at });
            self.skew
                .store(redis_now - (before + after) / 2, Ordering::Relaxed);
        }
    }

    fn skew_sample(&self) -> MutexGuard<'_, Option<ClockSample>> {
        self.skew_sample
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Learns how far this node's clock is from Redis's.
    async fn measure_skew(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        self.within_timeout(self.retake_skew(&mut conn)).await
    }

    /// Measures the skew and takes the sample whatever its round trip: for
    /// the first measurement, and when the skew is known to be wrong.
    async fn retake_skew(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        let before = self.clock.now();
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query_async(conn).await?;
        let after = self.clock.now();
        self.take_skew_sample(before, secs * 1000 + micros / 1000, after, true);
        Ok(())
    }

    /// Redis's time at `at`, read from the last sample with this node's
    /// monotonic clock: a step of this node's wall clock does not move it.
    fn redis_time_at(&self, at: Instant) -> Millis {
        let (redis_then, then) = match *self.skew_sample() {
            Some(sample) => (sample.redis_now, sample.at),
            // Not yet measured (a node measures before its first call).
            None => (self.estimated_redis_now(), Instant::now()),
        };
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        if at >= then {
            redis_then.saturating_add(ms(at - then))
        } else {
            redis_then.saturating_sub(ms(then - at))
        }
    }

    /// Redis's time as this node estimates it from its own clock and the skew.
    fn estimated_redis_now(&self) -> Millis {
        self.clock.now() + self.skew.load(Ordering::Relaxed)
    }

    /// Wakes the expiry driver if `deadline` (Redis time) comes before its plan.
    fn wake_for(&self, deadline: Millis) {
        if deadline < self.planned_wake.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The closing instants around now, for the scripts to place now among.
    fn closings(&self) -> String {
        let Some(closing) = self.policy.closing_time else {
            return String::new();
        };
        let now = self.estimated_redis_now();
        let mut at = closing.next_after(now - 36 * 3600 * 1000, self.policy.time_zone);
        let mut list = Vec::new();
        while at <= now + 36 * 3600 * 1000 && list.len() < 6 {
            list.push(at.to_string());
            at = closing.next_after(at, self.policy.time_zone);
        }
        list.join(",")
    }

    /// Runs one script of a caller's operation, which changes nothing if
    /// Redis only gets to it after the caller has given up (see `RUN_WINDOW`).
    async fn run<T: FromRedisValue>(
        &self,
        script: &Script,
        args: &[&[u8]],
    ) -> Result<T, StoreError> {
        self.run_until(script, args, Some(Instant::now() + RUN_WINDOW))
            .await
    }

    /// Runs one script with the common arguments, then `args`, then the
    /// Redis time of `run_by`, after which it must not start (`None`:
    /// whenever Redis gets to it, for the node's own work, such as expiry
    /// claims); loads its library first if Redis does not have it.
    async fn run_until<T: FromRedisValue>(
        &self,
        script: &Script,
        args: &[&[u8]],
        run_by: Option<Instant>,
    ) -> Result<T, StoreError> {
        let closings = self.closings();
        let fcall = || {
            let mut call = redis::cmd("FCALL");
            call.arg(script.name()).arg(self.keys.len());
            for key in &self.keys {
                call.arg(key);
            }
            call.arg(&self.prefix)
                .arg(&closings)
                .arg(self.policy.touch_event_interval.as_millis() as u64)
                .arg(self.retention);
            for arg in args {
                call.arg(*arg);
            }
            let by = run_by.map(|by| self.redis_time_at(by).to_string());
            call.arg(by.unwrap_or_default());
            call
        };
        let mut call = fcall();
        let mut conn = self.conn();
        self.within_timeout(async {
            // Loaded, and tried again, when missing; twice, as a node of
            // another version starting at that moment may remove it again.
            let mut loads = 0;
            let mut clock_reread = false;
            loop {
                let sent = Instant::now();
                match call.query_async(&mut conn).await {
                    // Redis answered at once, before the deadline by this
                    // node's reading, that the call came too late: Redis is
                    // not stalled, the reading is off (Redis's clock was
                    // stepped). Read it again and try once more.
                    Err(error)
                        if error.code() == Some(STALE)
                            && !clock_reread
                            && run_by.is_some_and(|by| {
                                sent.elapsed() < RUN_WINDOW / 4 && Instant::now() < by
                            }) =>
                    {
                        clock_reread = true;
                        self.retake_skew(&mut conn).await?;
                        call = fcall();
                    }
                    Err(error) if scripts::is_missing(&error) && loads < 2 => {
                        loads += 1;
                        let load = redis::cmd("FUNCTION")
                            .arg("LOAD")
                            .arg(script.library())
                            .exec_async(&mut conn)
                            .await;
                        match load {
                            Err(error) if !scripts::is_loaded(&error) => return Err(error),
                            _ => {}
                        }
                    }
                    reply => return reply,
                }
            }
        })
        .await
    }

    async fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.conn();
        self.within_timeout(cmd.query_async(&mut conn)).await
    }

    fn conn(&self) -> ConnectionManager {
        self.conn
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A Redis call with the store's deadline (see `within_timeout`); a
    /// failure that leaves the connection stuck asks for a new one.
    async fn within_timeout<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        within_timeout(call).await.map_err(|(error, stuck)| {
            if stuck {
                self.stuck.notify_one();
            }
            error
        })
    }
}

/// Replaces the connection when a call found it stuck, until shutdown. The
/// redis crate reconnects by itself after a lost connection, but when setting
/// up the new one fails for a reason other than I/O (Redis now refuses the
/// password, or has no database of that number) it hands that failure to
/// every later call and never tries again; a new connection manager does.
async fn reconnect(shared: Arc<Shared>) {
    loop {
        shared.stuck.notified().await;
        loop {
            if shared.shutdown.load(Ordering::SeqCst) {
                return;
            }
            // A stale notice (the connection was replaced since) is ignored.
            let mut conn = shared.conn();
            let ping = redis::cmd("PING");
            let ping = ping.query_async::<()>(&mut conn);
            if let Ok(Ok(())) = tokio::time::timeout(OP_TIMEOUT, ping).await {
                break;
            }
            let fresh = ConnectionManager::new_with_config(shared.client(), connection_config());
            match tokio::time::timeout(OP_TIMEOUT, fresh).await {
                Ok(Ok(conn)) => {
                    *shared
                        .conn
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()) = conn;
                    tracing::info!("connected to Redis again, on a new connection");
                    break;
                }
                Ok(Err(error)) if needs_new_connection(&error) => shared.reread_password(),
                _ => {}
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

impl Shared {
    fn client(&self) -> redis::Client {
        (self.client.lock())
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Reads the password file again after Redis refused the password: a
    /// new password there makes a new client, for the next attempt.
    fn reread_password(&self) {
        let Some(path) = &self.options.password_file else {
            return;
        };
        let password = match read_password(path) {
            Ok(password) => password,
            Err(why) => {
                tracing::warn!("Redis refused the password, and {why}");
                return;
            }
        };
        let current = self.client();
        if current.get_connection_info().redis_settings().password() == Some(password.as_str()) {
            tracing::warn!(
                "Redis refused the password in {}: put the new one there",
                path.display()
            );
            return;
        }
        let options = RedisOptions {
            password: Some(password),
            ..self.options.clone()
        };
        match client(&options) {
            Ok(client) => {
                *self
                    .client
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = client;
                tracing::info!("read the Redis password file {} again", path.display());
            }
            Err(error) => {
                tracing::warn!(%error, "the Redis password file's new password is not usable")
            }
        }
    }
}

/// The password in the file at `path` (its last line break is not part of
/// it), or why there is none, in words that name the file.
pub fn read_password(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        format!(
            "cannot read the Redis password file {}: {error}",
            path.display()
        )
    })?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(format!(
            "the Redis password file {} is empty",
            path.display()
        ));
    }
    Ok(password.to_owned())
}

/// Whether a failed call means the connection could not be set up again
/// after it was lost, for a reason that will not go away by itself on that
/// connection (see `reconnect`).
fn needs_new_connection(error: &redis::RedisError) -> bool {
    let text = error.to_string();
    error.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("DB index is out of range")
}

/// The connection manager's settings: each call gives up after `OP_TIMEOUT`.
fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_millis(500))
}

/// The client for `options.url`: plain, or TLS trusting the system's roots or
/// the given CA. `#insecure` (no certificate check) is refused, not obeyed.
fn client(options: &RedisOptions) -> Result<redis::Client, StoreError> {
    // The URL is never quoted: it may hold a password.
    let mut info = options
        .url
        .as_str()
        .into_connection_info()
        .map_err(|_| StoreError::Unavailable(super::REDIS_URL_HELP.into()))?;
    let settings = info.redis_settings();
    if settings.username().is_some() && settings.password().is_none() && options.password.is_none()
    {
        // Most likely a password written where the user goes; not quoted,
        // for that reason.
        tracing::warn!(
            "the Redis URL names a user but no password: a password alone is written \
             redis://:PASSWORD@HOST:PORT/DB (with the colon)"
        );
    }
    if let Some(password) = &options.password {
        if info.redis_settings().password().is_some() {
            return Err(StoreError::Unavailable(PASSWORD_TWICE.into()));
        }
        let settings = info.redis_settings().clone().set_password(password);
        info = info.set_redis_settings(settings);
    }
    let tls = match info.addr() {
        redis::ConnectionAddr::TcpTls { insecure: true, .. } => {
            return Err(StoreError::Unavailable(INSECURE_REFUSED.into()));
        }
        redis::ConnectionAddr::TcpTls { .. } => true,
        _ => false,
    };
    if !tls && options.tls_root_cert.is_some() {
        return Err(StoreError::Unavailable(CA_NEEDS_TLS.into()));
    }
    if !tls && options.tls_client.is_some() {
        return Err(StoreError::Unavailable(CLIENT_CERT_NEEDS_TLS.into()));
    }
    if options.tls_root_cert.is_none() && options.tls_client.is_none() {
        return redis::Client::open(info).map_err(|e| unavailable(&e));
    }
    let certificates = redis::TlsCertificates {
        client_tls: options.tls_client.clone(),
        root_cert: options.tls_root_cert.clone(),
    };
    redis::Client::build_with_tls(info, certificates)
        .map_err(|e| StoreError::Unavailable(format!("the TLS certificates are not usable: {e}")))
}

/// Why a `rediss://…#insecure` URL is refused.
pub const INSECURE_REFUSED: &str = "a store URL ending in #insecure would skip checking Redis's certificate, which sessiontop refuses: to trust a privately signed Redis, set [store] tls_ca_file to its CA's PEM file";
/// Why a password both in the URL and in a password file is refused.
pub const PASSWORD_TWICE: &str =
    "the Redis password is given twice, in the store URL and in [store] password_file: keep one";
/// Why a CA file with a plain `redis://` URL is refused.
pub const CA_NEEDS_TLS: &str = "tls_ca_file needs a rediss:// store URL";
/// Why a client certificate with a plain `redis://` URL is refused.
pub const CLIENT_CERT_NEEDS_TLS: &str = "tls_cert_file needs a rediss:// store URL";
/// Why a client certificate without its key is refused, and the other way round.
pub const CLIENT_CERT_NEEDS_KEY: &str =
    "a TLS client certificate needs its private key: set tls_key_file too";
pub const CLIENT_KEY_NEEDS_CERT: &str =
    "a TLS client key needs its certificate: set tls_cert_file too";

/// Whether `pem` holds CA certificates the Redis client can trust; if not, why.
pub fn check_ca_pem(pem: &[u8]) -> Result<(), String> {
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    };
    check_pem(pem, "it", certificates)
}

/// Whether `client` holds a certificate and a private key the Redis client can use; if not, why.
pub fn check_client_pem(client: &redis::ClientTlsConfig) -> Result<(), String> {
    let certificates = redis::TlsCertificates {
        client_tls: Some(client.clone()),
        root_cert: None,
    };
    check_pem(&client.client_cert, "the certificate file", certificates)
}

/// Whether `certificates` can be built, `pem` (what `holder` names) holding
/// at least one certificate. The client's own messages name what failed to
/// parse, never a key's bytes.
fn check_pem(pem: &[u8], holder: &str, certificates: redis::TlsCertificates) -> Result<(), String> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    if !pem.windows(BEGIN.len()).any(|w| w == BEGIN) {
        return Err(format!(
            "{holder} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    redis::Client::build_with_tls("rediss://localhost/", certificates)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Says in one sentence why a node could not connect at start-up, naming the
/// TLS cause when there is one. Neither Redis's nor rustls's errors hold a password.
fn not_connected(error: &redis::RedisError, tls: bool, client_cert: bool) -> StoreError {
    let text = error.to_string();
    let why = if client_cert && error.kind() == redis::ErrorKind::InvalidClientConfig {
        // Built only at the first connection: rustls refused this node's own certificate.
        if text.contains("KeyMismatch") {
            "tls_key_file is not the private key of tls_cert_file".into()
        } else if text.contains("UnsupportedCertVersion") {
            "this node's TLS client certificate (tls_cert_file) is not X.509 version 3, which TLS needs".into()
        } else {
            format!(
                "this node's TLS client certificate (tls_cert_file) is not usable ({})",
                text.rsplit(" - ").next().unwrap_or(&text)
            )
        }
    } else if text.contains("CertificateRequired") {
        "Redis asks for a TLS client certificate (its tls-auth-clients setting): set [store] tls_cert_file and tls_key_file to this node's certificate and key".into()
    } else if let Some(alert) = text.split("received fatal alert: ").nth(1).filter(|alert| {
        [
            "UnknownCA",
            "BadCertificate",
            "CertificateUnknown",
            "DecryptError",
        ]
        .iter()
        .any(|a| alert.starts_with(a))
    }) {
        format!(
            "Redis refused this node's TLS client certificate ({alert}): it must be signed by a CA that Redis trusts (its tls-ca-cert-file), and tls_key_file must be its key"
        )
    } else if let Some(problem) = text.split("invalid peer certificate: ").nth(1) {
        certificate_refused(problem)
    } else if text.contains("NOAUTH") {
        "Redis asks for a password: give it in the store URL (redis://:PASSWORD@HOST:PORT/DB) or in the file [store] password_file names".into()
    } else if error.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("WRONGPASS") {
        "Redis refused the password (or the user and password): check the store URL's USER:PASSWORD or [store] password_file (a Redis with no password set refuses one too)".into()
    } else if text.contains("DB index is out of range") {
        "Redis has no database of the number the store URL ends with (/DB): Redis has 16 (0 to 15) unless its `databases` setting says otherwise".into()
    } else if error.kind() == redis::ErrorKind::Parse {
        "what answers at that address does not speak the Redis protocol: check the host and port"
            .into()
    } else if error.is_connection_refusal() {
        nothing_accepts(&text)
    } else if error.is_timeout() {
        return no_answer_at_start(tls);
    } else if tls && (error.is_connection_dropped() || text.contains("corrupt message")) {
        format!(
            "the TLS handshake with Redis failed ({text}): if Redis serves plain text on that port, use a redis:// URL"
        )
    } else if !tls && error.is_connection_dropped() {
        "Redis closed the connection at once: if it serves TLS on that port, use a rediss:// URL"
            .into()
    } else if error.kind() == redis::ErrorKind::Io {
        format!("Redis cannot be reached ({text})")
    } else {
        return unavailable(error);
    };
    StoreError::Unavailable(why)
}

/// Why rustls refused Redis's certificate (`problem`, in rustls's words), and what to do.
fn certificate_refused(problem: &str) -> String {
    if problem.contains("UnknownIssuer") {
        "Redis's TLS certificate is not trusted (it is not signed by a CA this node trusts): set [store] tls_ca_file to the PEM file of the CA that signed it".into()
    } else if problem.contains("NotValidForName") || problem.contains("not valid for name") {
        format!(
            "Redis's TLS certificate is not valid for the host in the store URL ({problem}): use a host name the certificate names"
        )
    } else if problem.contains("Expired") || problem.contains("expired") {
        format!("Redis's TLS certificate has expired ({problem})")
    } else {
        format!("Redis's TLS certificate was refused ({problem})")
    }
}

fn nothing_accepts(text: &str) -> String {
    format!("nothing accepts connections at that address ({text}): is Redis running there?")
}

/// Why the first connection did not come in time: the client retries a
/// refused connection until the deadline, so a refusal is asked of the
/// address once more, directly, to say so rather than "did not answer".
async fn silent_at_start(client: &redis::Client, tls: bool) -> StoreError {
    let (host, port) = match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, port) => (host.clone(), *port),
        redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
        _ => return no_answer_at_start(tls),
    };
    let probe = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_millis(500), probe).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            StoreError::Unavailable(nothing_accepts(&e.to_string()))
        }
        _ => no_answer_at_start(tls),
    }
}

fn no_answer_at_start(tls: bool) -> StoreError {
    if tls {
        StoreError::Unavailable(
            "Redis did not complete a TLS handshake in time: if it serves plain text on that port, use a redis:// URL".into(),
        )
    } else {
        no_answer()
    }
}

/// A call Redis did not answer within `OP_TIMEOUT` (or could no longer start in time).
fn no_answer() -> StoreError {
    StoreError::Unavailable("Redis did not answer in time".into())
}

/// A Redis call with the store's deadline; every failure is `Unavailable`,
/// said with whether it leaves the connection stuck (`needs_new_connection`).
async fn within_timeout<T>(
    call: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, (StoreError, bool)> {
    match tokio::time::timeout(OP_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err((unavailable(&error), needs_new_connection(&error))),
        Err(_) => Err((no_answer(), false)),
    }
}

fn is_loading(error: &redis::RedisError) -> bool {
    error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
}

/// Says what went wrong in one sentence; Redis's errors never hold a password.
fn unavailable(error: &redis::RedisError) -> StoreError {
    if error.code() == Some(STALE) {
        StoreError::Unavailable("Redis answered too late".into())
    } else if is_loading(error) {
        StoreError::Unavailable("Redis is loading its data after a restart".into())
    } else if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
        StoreError::Unavailable(format!("Redis cannot be reached ({:?})", error.kind()))
    } else if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly) {
        StoreError::Unavailable(
            "Redis is a read-only replica: give the store URL of the primary".into(),
        )
    } else {
        if let Some(more) = REFUSALS.note() {
            tracing::error!(%error, "Redis refused an operation{more}");
        }
        StoreError::Unavailable(format!("Redis refused the operation: {error}"))
    }
}

/// Redis's refusals, logged at most once a second with how many came in
/// between: while Redis refuses the password, every call fails the same way.
static REFUSALS: crate::throttle::Throttle = crate::throttle::Throttle::new(1000);

/// When a coalesced touch falls due, as a script writes it in a list of
/// strings: decimal Redis time, or empty for none.
fn wake_of(text: &[u8]) -> Option<Millis> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn broken(what: String) -> StoreError {
    tracing::error!(%what, "unreadable data in Redis");
    StoreError::Unavailable(what)
}

/// Whether a skew sample with round trip `rtt` replaces the `current` one
/// (its round trip and when it was taken); see `Shared::observe_skew`.
/// One reading of Redis's clock: its round trip, and Redis's time at the
/// instant of this node's monotonic clock halfway through it.
#[derive(Clone, Copy)]
struct ClockSample {
    rtt: Millis,
    redis_now: Millis,
    at: Instant,
}

fn takes_skew_sample(current: Option<(Millis, Instant)>, rtt: Millis, now: Instant) -> bool {
    match current {
        Some((best, at)) => rtt <= best + 1 || now.duration_since(at) > SKEW_FRESH,
        None => true,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    getrandom::fill(&mut raw).expect("the OS random number generator failed");
    hex::encode(raw)
}

/// A random selector of 52 bits: exact in a Lua number, so a user's set can
/// hold it as an integer (an intset, the smallest set Redis has). Uniqueness
/// is checked in the login script; the secret is the verifier, not this.
fn random_selector() -> u64 {
    let mut raw = [0u8; 8];
    getrandom::fill(&mut raw).expect("the OS random number generator failed");
    u64::from_be_bytes(raw) >> 12
}

/// The set of every deployment's key prefix on this Redis: how a node finds a
/// deployment inside its own prefix, which it could not find without a scan
/// of the keyspace. The name is no deployment's key: those end in `m`, `s`,
/// `d`, `t` or `e`, or hold `u:`.
pub const REGISTRY: &str = "sessiontop-registry";

/// Why this deployment's keys would overlap another's on this Redis, if they
/// would. A deployment keeps its user sets at `<prefix>u:<user>`, so a prefix
/// that begins with another deployment's prefix and `u:` names keys inside
/// it: the two would write into each other's keys (a login stopped halfway,
/// a user's set holding another deployment's session). So a node refuses to
/// start when a live deployment encloses its prefix (found by its meta key)
/// or lies inside it (found in `REGISTRY`), or when its own meta key is not a
/// hash; otherwise it adds its prefix to the registry. A Redis user whose
/// ACL does not reach the registry skips that part.
async fn overlap(conn: &mut ConnectionManager, prefix: &str) -> redis::RedisResult<Option<String>> {
    let inside = |inner: &str, outer: &str| inner.starts_with(&format!("{outer}u:"));
    let refusal = |inner: &str, outer: &str| {
        format!(
            "the key prefix {inner:?} lies inside the keys of the deployment with prefix \
             {outer:?} on this Redis (its user sets are {outer:?} + \"u:\" + the user): \
             no deployment's [store] key_prefix may begin with another's and \"u:\" \
             (a deployment no longer used goes once its keys are deleted: every key that \
             begins with its prefix)"
        )
    };
    for (at, _) in prefix.match_indices("u:").filter(|&(at, _)| at > 0) {
        let outer = &prefix[..at];
        if is_deployment(conn, outer).await? {
            return Ok(Some(refusal(prefix, outer)));
        }
    }
    let registered: redis::RedisResult<Vec<String>> =
        redis::cmd("SMEMBERS").arg(REGISTRY).query_async(conn).await;
    let registered = match registered {
        Ok(registered) => Some(registered),
        Err(error) if error.code() == Some("NOPERM") => None,
        Err(error) => return Err(error),
    };
    for inner in registered.iter().flatten() {
        if inside(inner, prefix) {
            if is_deployment(conn, inner).await? {
                return Ok(Some(refusal(inner, prefix)));
            }
            // Gone: its keys are no more.
            redis::cmd("SREM")
                .arg(REGISTRY)
                .arg(inner)
                .exec_async(conn)
                .await?;
        }
    }
    let kind: String = redis::cmd("TYPE")
        .arg(format!("{prefix}m"))
        .query_async(conn)
        .await?;
    if kind != "hash" && kind != "none" {
        return Ok(Some(format!(
            "Redis holds a {kind} at {:?}, where this deployment keeps its counts: another \
             deployment's key prefix overlaps {prefix:?}; no deployment's [store] key_prefix \
             may begin with another's and \"u:\"",
            format!("{prefix}m")
        )));
    }
    if registered.is_some() {
        redis::cmd("SADD")
            .arg(REGISTRY)
            .arg(prefix)
            .exec_async(conn)
            .await?;
    }
    Ok(None)
}

/// Whether a deployment with key prefix `prefix` has keys on this Redis.
async fn is_deployment(conn: &mut ConnectionManager, prefix: &str) -> redis::RedisResult<bool> {
    redis::cmd("HEXISTS")
        .arg(format!("{prefix}m"))
        .arg("instance")
        .query_async(conn)
        .await
        .or_else(|error| {
            // Not a hash: not a deployment's meta key either.
            if error.code() == Some("WRONGTYPE") {
                Ok(false)
            } else {
                Err(error)
            }
        })
}

/// The cluster-wide instance id in `meta`: the one there, or a new one when
/// there is none (first start, or Redis lost its data). Every node that asks
/// at once gets the same.
async fn ensure_instance(conn: &mut ConnectionManager, meta: &str) -> redis::RedisResult<String> {
    redis::cmd("HSETNX")
        .arg(meta)
        .arg("instance")
        .arg(random_hex(6))
        .exec_async(conn)
        .await?;
    redis::cmd("HGET")
        .arg(meta)
        .arg("instance")
        .query_async(conn)
        .await
}

impl RedisStore {
    /// Connects, makes sure the cluster-wide instance id exists and starts this
    /// node's stream tail and expiry driver on the current tokio runtime.
    pub async fn connect(options: RedisOptions) -> Result<RedisStore, StoreError> {
        let client = client(&options)?;
        let tls = matches!(
            client.get_connection_info().addr(),
            redis::ConnectionAddr::TcpTls { .. }
        );
        let conn = match tokio::time::timeout(
            OP_TIMEOUT,
            ConnectionManager::new_with_config(client.clone(), connection_config()),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(error)) => {
                return Err(not_connected(&error, tls, options.tls_client.is_some()));
            }
            Err(_) => return Err(silent_at_start(&client, tls).await),
        };
        let prefix = options.key_prefix.clone();
        let keys = ["m", "s", "d", "t", "e"].map(|k| format!("{prefix}{k}"));
        let mut probe = conn.clone();
        // A Redis that has just restarted answers LOADING until its data is
        // in memory: wait for it (up to `LOADING_WAIT`) rather than give up.
        let loading_until = tokio::time::Instant::now() + LOADING_WAIT;
        let instance: String = loop {
            let answer = tokio::time::timeout(OP_TIMEOUT, async {
                match overlap(&mut probe, &prefix).await? {
                    Some(refusal) => Ok(Err(refusal)),
                    None => ensure_instance(&mut probe, &keys[0]).await.map(Ok),
                }
            })
            .await;
            match answer {
                Ok(Ok(Ok(instance))) => break instance,
                Ok(Ok(Err(refusal))) => return Err(StoreError::Conflict(refusal)),
                Ok(Err(error))
                    if is_loading(&error) && tokio::time::Instant::now() < loading_until =>
                {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Err(error)) => {
                    return Err(not_connected(&error, tls, options.tls_client.is_some()));
                }
                Err(_) => return Err(no_answer_at_start(tls)),
            }
        };
        let seq: Option<u64> = within_timeout(
            redis::cmd("HGET")
                .arg(&keys[0])
                .arg("seq")
                .query_async(&mut probe),
        )
        .await
        .map_err(|(error, _)| error)?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            client: Mutex::new(client.clone()),
            options: options.clone(),
            stuck: Notify::new(),
            keys,
            prefix,
            scripts: Scripts::new(),
            policy: options.policy,
            retention: options.retention.max(1),
            max_event_age: options.max_event_age,
            instance: Mutex::new(instance),
            node: random_hex(4),
            clock: options.clock,
            skew: AtomicI64::new(0),
            skew_sample: Mutex::new(None),
            mint: Mutex::new(TokenMint::default()),
            feed: feed::Feed::new(seq.unwrap_or(0)),
            wake: Notify::new(),
            planned_wake: AtomicI64::new(i64::MIN),
            shutdown: AtomicBool::new(false),
            touches: Default::default(),
        });
        let store = RedisStore {
            _stop_on_drop: Arc::new(StopOnDrop(shared.clone())),
            shared: shared.clone(),
        };
        shared.measure_skew().await?;
        let loaded = scripts::loaded_libraries(&mut probe).await;
        let removed = scripts::remove_other_versions(&shared.scripts, &loaded, &mut probe).await;
        if removed > 0 {
            tracing::info!(
                removed,
                "removed the Redis functions of other sessiontop versions"
            );
        }
        let _ = tokio::time::timeout(
            2 * OP_TIMEOUT,
            scripts::load_missing(&shared.scripts, &loaded, &mut probe),
        )
        .await;
        tokio::spawn(feed::tail(shared.clone()));
        tokio::spawn(reconnect(shared.clone()));
        tokio::spawn(rehash::help(shared.clone()));
        tokio::spawn(history::trim(shared.clone()));
        tokio::spawn(expiry::drive(shared));
        Ok(store)
    }

    /// Stops this node's tasks; subscriptions end. Sessions stay in Redis.
    pub fn shutdown(&self) {
        self.shared.stop();
    }

    /// The cluster-wide id that prefixes event ids, the same on every node.
    /// A new one when Redis lost its data (see `feed::follow_reset`).
    pub fn instance(&self) -> String {
        self.shared.instance()
    }

    /// This node's own id, random per run, for the dashboard to show.
    pub fn node(&self) -> &str {
        &self.shared.node
    }

    pub fn policy(&self) -> &Policy {
        &self.shared.policy
    }

    /// Redis's clock, the one every deadline is measured by.
    pub async fn now(&self) -> Result<Millis, StoreError> {
        let (secs, micros): (i64, i64) = self.shared.query(&redis::cmd("TIME")).await?;
        Ok(secs * 1000 + micros / 1000)
    }

    /// Redis's clock as this node estimates it, without asking Redis.
    pub fn estimated_now(&self) -> Millis {
        self.shared.estimated_redis_now()
    }

    /// When the closing time next ends every session, by Redis's clock.
    pub fn next_closing(&self) -> Option<Millis> {
        let policy = &self.shared.policy;
        let closing = policy.closing_time?;
        Some(closing.next_after(self.estimated_now(), policy.time_zone))
    }

    /// Starts a session; the token is returned here and nowhere else.
    pub async fn login(&self, login: Login) -> Result<(Token, SessionView), StoreError> {
        let policy = &self.shared.policy;
        let user = crate::engine::validate_user(&login.user)?;
        let attributes = crate::engine::validate_attributes(login.attributes)?;
        let idle = crate::engine::pick_timeout(
            "idle_timeout",
            login.idle_timeout,
            policy.idle_timeout,
            policy.idle_bounds,
        )?;
        let absolute = crate::engine::pick_timeout(
            "absolute_timeout",
            login.absolute_timeout,
            policy.absolute_timeout,
            policy.absolute_bounds,
        )?;
        let idle = idle.min(crate::engine::session::MAX_IDLE_TIMEOUT.as_millis() as i64);
        let limit =
            crate::engine::pick_limit(login.max_sessions_per_user, policy.max_sessions_per_user)?;
        let (idle, absolute) = (idle.to_string(), absolute.to_string());
        let limit = limit.unwrap_or(0).to_string();
        let on_limit: &[u8] = match policy.on_limit {
            OnLimit::EvictOldest => b"evict_oldest",
            OnLimit::Refuse => b"refuse",
        };
        // Selectors are random: one already taken anywhere is drawn again.
        for _ in 0..8 {
            let selector = random_selector();
            let (token, hash) = self.mint().issue(selector);
            let handle = selector.to_be_bytes();
            let mut args: Vec<&[u8]> = vec![
                &handle,
                &hash,
                user.as_bytes(),
                idle.as_bytes(),
                absolute.as_bytes(),
                limit.as_bytes(),
                on_limit,
            ];
            for (key, value) in attributes.iter() {
                args.push(key.as_bytes());
                args.push(value.as_bytes());
            }
            let reply = self.shared.run(&self.shared.scripts.login, &args).await?;
            match wire::answer(reply).map_err(broken)? {
                wire::Answer::Session(view, _) => return Ok((token, view)),
                wire::Answer::Refused(reply) if reply == "!collision" => continue,
                wire::Answer::Refused(reply) if reply == "!user_key" => {
                    tracing::error!(
                        key = format!("{}u:{user}", self.shared.prefix),
                        "Redis holds another kind of key where this user's set goes: another \
                         deployment's key prefix overlaps this one"
                    );
                    return Err(StoreError::Unavailable(
                        "Redis holds another deployment's key where this user's sessions are \
                         listed (overlapping key prefixes); nothing was changed"
                            .into(),
                    ));
                }
                wire::Answer::Refused(reply) if reply.starts_with("!limit:") => {
                    let limit = reply["!limit:".len()..]
                        .parse()
                        .map_err(|_| broken(format!("a login script answered {reply:?}")))?;
                    return Err(EngineError::SessionLimit { limit }.into());
                }
                wire::Answer::Refused(reply) => {
                    return Err(broken(format!("a login script answered {reply:?}")));
                }
            }
        }
        Err(StoreError::Unavailable(
            "no free session selector was found".into(),
        ))
    }

    fn mint(&self) -> std::sync::MutexGuard<'_, TokenMint> {
        self.shared
            .mint
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records activity on the session behind `token`.
    pub async fn touch(&self, token: &str) -> Result<SessionView, StoreError> {
        let presented = PresentedToken::parse(token).ok_or(EngineError::InvalidToken)?;
        let handle = presented.selector.to_be_bytes().to_vec();
        let hash = presented.verifier_hash().to_vec();
        self.touch_script([handle, hash, Vec::new()])
            .await?
            .ok_or(StoreError::Engine(EngineError::InvalidToken))
    }

    /// Records activity on a session by handle: an operator's or simulator's touch.
    pub async fn touch_handle(
        &self,
        handle: Handle,
        actor: &str,
    ) -> Result<SessionView, StoreError> {
        let args = [
            handle.0.to_be_bytes().to_vec(),
            Vec::new(),
            actor.as_bytes().to_vec(),
        ];
        self.touch_script(args)
            .await?
            .ok_or(StoreError::Engine(EngineError::NoSuchSession(handle)))
    }

    async fn touch_script(&self, args: [Vec<u8>; 3]) -> Result<Option<SessionView>, StoreError> {
        match touches::touch(&self.shared, args).await? {
            wire::Answer::Session(view, wake) => {
                if let Some(wake) = wake {
                    self.shared.wake_for(wake);
                }
                Ok(Some(view))
            }
            wire::Answer::Refused(_) => Ok(None),
        }
    }

    /// Replaces the token of a session: same handle, new secret; the old token dies.
    pub async fn renew(&self, token: &str) -> Result<(Token, SessionView), StoreError> {
        let presented = PresentedToken::parse(token).ok_or(EngineError::InvalidToken)?;
        let handle = presented.selector.to_be_bytes();
        let (new_token, new_hash) = self.mint().issue(presented.selector);
        let reply = self
            .shared
            .run(
                &self.shared.scripts.renew,
                &[&handle, &presented.verifier_hash(), &new_hash],
            )
            .await?;
        match wire::answer(reply).map_err(broken)? {
            wire::Answer::Session(view, _) => Ok((new_token, view)),
            wire::Answer::Refused(_) => Err(EngineError::InvalidToken.into()),
        }
    }

    /// Ends the session behind `token` at the user's request.
    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        let presented = PresentedToken::parse(token).ok_or(EngineError::InvalidToken)?;
        let handle = presented.selector.to_be_bytes();
        let reply: String = self
            .shared
            .run(
                &self.shared.scripts.finish,
                &[&handle, &presented.verifier_hash(), b"logged_out", b""],
            )
            .await?;
        match reply.as_str() {
            "!gone" => Err(EngineError::InvalidToken.into()),
            _ => Ok(()),
        }
    }

    /// The live sessions of the token's user, oldest first, and which is the
    /// caller's (touched, as every request that shows its token).
    pub async fn mine(&self, token: &str) -> Result<Mine, StoreError> {
        let presented = PresentedToken::parse(token).ok_or(EngineError::InvalidToken)?;
        let handle = presented.selector.to_be_bytes();
        let reply: redis::Value = self
            .shared
            .run(
                &self.shared.scripts.mine,
                &[&handle, &presented.verifier_hash()],
            )
            .await?;
        let reply: Vec<Vec<u8>> = match reply {
            redis::Value::Array(_) => FromRedisValue::from_redis_value(reply)
                .map_err(|e| broken(format!("the mine script answered {e}")))?,
            _ => return Err(EngineError::InvalidToken.into()),
        };
        let mut reply = reply.into_iter();
        if let Some(wake) = reply.next().as_deref().and_then(wake_of) {
            self.shared.wake_for(wake);
        }
        let current = reply
            .next()
            .and_then(|hex| std::str::from_utf8(&hex).ok()?.parse().ok())
            .ok_or_else(|| broken("the mine script named no current session".into()))?;
        let sessions = reply
            .map(|encoded| wire::session(&encoded))
            .collect::<Result<Vec<_>, _>>()
            .map_err(broken)?;
        Ok(Mine { current, sessions })
    }

    /// Ends one of the token's user's sessions (`Some(handle)`) or every one
    /// but the caller's (`None`); returns how many ended.
    pub async fn revoke_mine(
        &self,
        token: &str,
        handle: Option<Handle>,
    ) -> Result<usize, StoreError> {
        let presented = PresentedToken::parse(token).ok_or(EngineError::InvalidToken)?;
        let caller = presented.selector.to_be_bytes();
        let target = handle.map(|h| h.0.to_be_bytes());
        let reply: redis::Value = self
            .shared
            .run(
                &self.shared.scripts.revoke_mine,
                &[
                    &caller,
                    &presented.verifier_hash(),
                    target.as_ref().map_or(&[][..], |t| &t[..]),
                ],
            )
            .await?;
        if let redis::Value::Array(items) = &reply
            && let [redis::Value::Int(n), wake] = items.as_slice()
        {
            if let redis::Value::Int(wake) = wake {
                self.shared.wake_for(*wake);
            }
            return Ok(usize::try_from(*n).unwrap_or(0));
        }
        let text: String = FromRedisValue::from_redis_value(reply)
            .map_err(|e| broken(format!("the revoke script answered {e}")))?;
        match (text.as_str(), handle) {
            ("!gone", _) => Err(EngineError::InvalidToken.into()),
            ("!none", Some(handle)) => Err(EngineError::NoSuchSession(handle).into()),
            _ => Err(broken(format!("the revoke script answered {text:?}"))),
        }
    }

    /// Ends a session on an operator's order.
    pub async fn revoke(&self, handle: Handle, actor: &str) -> Result<(), StoreError> {
        let reply: String = self
            .shared
            .run(
                &self.shared.scripts.finish,
                &[&handle.0.to_be_bytes(), b"", b"revoked", actor.as_bytes()],
            )
            .await?;
        match reply.as_str() {
            "!gone" => Err(EngineError::NoSuchSession(handle).into()),
            _ => Ok(()),
        }
    }

    /// Ends every session of `user` through the user's set; returns how many.
    /// Each chunk is one script; sessions the user starts meanwhile may end too.
    pub async fn revoke_user(&self, user: &str, actor: &str) -> Result<usize, StoreError> {
        let chunk = REVOKE_CHUNK.to_string();
        let mut total = 0;
        loop {
            let (revoked, left): (usize, usize) = self
                .shared
                .run(
                    &self.shared.scripts.revoke_user,
                    &[user.as_bytes(), actor.as_bytes(), chunk.as_bytes()],
                )
                .await?;
            total += revoked;
            if left == 0 {
                return Ok(total);
            }
        }
    }

    /// A live session and its events that the stream still holds, oldest
    /// first (found along the session's own chain, never by a scan; at most
    /// the newest 1,000).
    pub async fn get(
        &self,
        handle: Handle,
    ) -> Result<Option<(SessionView, Vec<Event>)>, StoreError> {
        let reply: Vec<Vec<u8>> = self
            .shared
            .run(&self.shared.scripts.get, &[&handle.0.to_be_bytes()])
            .await?;
        let Some((view, chain)) = reply.split_first() else {
            return Ok(None);
        };
        let view = wire::session(view).map_err(broken)?;
        let mut events = Vec::with_capacity(chain.len() / 2);
        for pair in chain.chunks_exact(2).rev() {
            let seq = std::str::from_utf8(&pair[0])
                .ok()
                .and_then(|seq| seq.parse().ok())
                .ok_or_else(|| broken("the get script named an event by no seq".into()))?;
            events.push(wire::encoded(seq, &pair[1]).map_err(broken)?);
        }
        Ok(Some((view, events)))
    }

    /// Live sessions, soonest deadline first, one page at a time; by user
    /// through the user's own set, never a scan.
    pub async fn list(
        &self,
        user: Option<&str>,
        limit: usize,
        cursor: Option<&RedisCursor>,
    ) -> Result<(Vec<SessionView>, Option<RedisCursor>), StoreError> {
        let limit = limit.clamp(1, 100_000).to_string();
        let (deadline, handle) = match cursor {
            Some(c) => (c.deadline.to_string(), c.handle.0.to_be_bytes().to_vec()),
            None => (String::new(), Vec::new()),
        };
        let reply: Vec<Vec<u8>> = self
            .shared
            .run(
                &self.shared.scripts.list,
                &[
                    user.unwrap_or("").as_bytes(),
                    limit.as_bytes(),
                    deadline.as_bytes(),
                    &handle,
                ],
            )
            .await?;
        let mut reply = reply.into_iter();
        let next = String::from_utf8(reply.next().unwrap_or_default())
            .map_err(|_| broken("a listing cursor is not UTF-8".into()))?;
        // The script writes where the page ended as `deadline:handle-hex`.
        let next = if next.is_empty() {
            None
        } else {
            let unreadable = || broken(format!("a listing cursor is unreadable: {next}"));
            let (deadline, handle) = next.split_once(':').ok_or_else(unreadable)?;
            Some(RedisCursor {
                deadline: deadline.parse().map_err(|_| unreadable())?,
                handle: handle.parse().map_err(|_| unreadable())?,
            })
        };
        let sessions = reply
            .map(|encoded| wire::session(&encoded))
            .collect::<Result<Vec<_>, _>>()
            .map_err(broken)?;
        Ok((sessions, next))
    }

    /// Cluster-wide counts: every node gives the same.
    /// For tests: this node reads Redis's clock `ms` behind where it is, as
    /// if Redis's clock had just been stepped forward by `ms`.
    #[doc(hidden)]
    pub fn misread_redis_clock_for_tests(&self, ms: Millis) {
        if let Some(sample) = self.shared.skew_sample().as_mut() {
            sample.redis_now -= ms;
        }
        self.shared.skew.fetch_sub(ms, Ordering::Relaxed);
    }

    /// Trims the event stream of the entries older than `cutoff` (Redis
    /// time), as the age limit does now and then; the least seq kept.
    #[doc(hidden)]
    pub async fn trim_history_before(&self, cutoff: Millis) -> Result<Option<u64>, StoreError> {
        history::trim_before(&self.shared, cutoff).await
    }

    /// Whether Redis takes a write from this node now (within the one-second
    /// limit): a PING would pass where every change is refused, on a Redis
    /// that became a read-only replica or is at its `maxmemory` with
    /// `noeviction`. So this writes, as a login does: this node's id into the
    /// field `ready` of the deployment's own meta hash. Nothing reads that
    /// field (the meta hash's readers ask for their fields by name, and
    /// `stats` picks its counts out of `HGETALL`), and it never grows.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let mut conn = self.shared.conn();
        let mut write = redis::cmd("HSET");
        write
            .arg(&self.shared.keys[0])
            .arg("ready")
            .arg(self.node());
        self.shared
            .within_timeout(write.query_async::<()>(&mut conn))
            .await
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL")
            .arg(&self.shared.keys[0])
            .cmd("HLEN")
            .arg(&self.shared.keys[1]);
        let mut conn = self.shared.conn();
        let (meta, active): (std::collections::HashMap<String, String>, u64) = self
            .shared
            .within_timeout(pipe.query_async(&mut conn))
            .await?;
        let count = |key: &str| meta.get(key).and_then(|v| v.parse().ok()).unwrap_or(0u64);
        Ok(Stats {
            active,
            peak: count("peak").max(active),
            totals: Totals {
                logins: count("logins"),
                touches: count("touches"),
                renewals: count("renewals"),
                logged_out: count("logged_out"),
                revoked: count("revoked"),
                evicted: count("evicted"),
                expired_idle: count("expired_idle"),
                expired_absolute: count("expired_absolute"),
                expired_closing_time: count("expired_closing_time"),
            },
            last_seq: count("seq"),
        })
    }

    /// Events after `seq` from the stream, then everything that follows, with
    /// no gap and no duplicate, on whichever node.
    pub async fn subscribe_after(
        &self,
        seq: u64,
    ) -> Result<crate::engine::Subscription, SubscribeError> {
        feed::subscribe_after(&self.shared, seq).await
    }

    /// Everything that happens from now on, and the seq of the newest event before it.
    pub async fn subscribe_live(&self) -> Result<(Subscription, u64), StoreError> {
        feed::subscribe_live(&self.shared).await
    }

    /// Redis memory in use, in bytes (`INFO memory`), for the benchmarks.
    pub async fn used_memory(&self) -> Result<u64, StoreError> {
        let info: String = self.shared.query(redis::cmd("INFO").arg("memory")).await?;
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| broken("INFO memory has no used_memory".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_has_the_shape_the_api_allows() {
        for handle in [0, 1, 0x000f_ffff_ffff_ffff, u64::MAX] {
            let cursor = RedisCursor {
                deadline: 1_790_000_000_123,
                handle: Handle(handle),
            };
            let text = cursor.to_string();
            assert!(
                crate::api::pattern::fits(crate::api::pattern::CURSOR, &text),
                "{text}"
            );
            assert_eq!(text.parse::<RedisCursor>(), Ok(cursor));
        }
        assert!("1.2.3".parse::<RedisCursor>().is_err());
        assert!("1.4194304.0.0".parse::<RedisCursor>().is_err());
    }

    /// A slow round trip cannot move the skew that a fast one measured, until
    /// that one is old; the first sample always counts.
    #[test]
    fn the_skew_comes_from_the_fastest_recent_round_trip() {
        let start = std::time::Instant::now();
        assert!(takes_skew_sample(None, 80, start));
        let fast = Some((1, start));
        assert!(takes_skew_sample(fast, 0, start));
        assert!(takes_skew_sample(fast, 2, start), "within a millisecond");
        assert!(!takes_skew_sample(fast, 40, start + Duration::from_secs(1)));
        assert!(takes_skew_sample(
            fast,
            40,
            start + SKEW_FRESH + Duration::from_millis(1)
        ));
    }
}
