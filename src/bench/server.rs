//! `sessiontop bench server`: touch requests per second and their latency
//! over loopback HTTP with 100,000 live sessions, and events per second
//! delivered to 10 event-stream clients.
//!
//! The server runs in this process on its own tokio runtime; the load
//! generator runs on a separate single-threaded runtime on its own OS thread,
//! with 32 keep-alive connections. Each connection sends one request and
//! waits for its answer (no pipelining), like `wrk` or `redis-benchmark`
//! without `-P`. The client speaks just enough HTTP/1.1 for this request, so
//! that it costs the shared CPU as little as possible.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use color_eyre::eyre::{WrapErr, eyre};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::stats::quantile;
use crate::config::Config;
use crate::engine::{EngineHandle, Login, SystemClock};
use crate::server::auth::{Role, generate_token};
use crate::store::StoreUrl;

const SESSIONS: usize = 100_000;
const CONNECTIONS: usize = 32;
const WARMUP: Duration = Duration::from_secs(1);
const MEASURE: Duration = Duration::from_secs(10);
const STREAM_CLIENTS: usize = 10;
const STREAM_MEASURE: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize)]
pub struct ServerReport {
    pub sessions: usize,
    pub connections: usize,
    pub duration_s: f64,
    pub touch_requests: usize,
    pub touch_rps: f64,
    pub latency_ms: Latency,
    /// Answers other than 200 during the measurement (should be 0).
    pub errors: usize,
    pub sse_clients: usize,
    /// Events received by all stream clients together, per second.
    pub sse_events_per_s: f64,
    pub sse_events_per_s_per_client: f64,
    /// Events the engine published per second meanwhile (each client should see all).
    pub events_published_per_s: f64,
    /// `resync` events the stream clients received (0 means nobody fell behind).
    pub sse_resyncs: usize,
    /// touch requests per second while the stream clients were connected.
    pub touch_rps_with_streams: f64,
    /// The same touch load from `wrk` (an outside C client, like
    /// redis-benchmark), when `wrk` is installed; null otherwise.
    pub wrk: Option<super::wrk::WrkFigures>,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// What every server benchmark starts from: a policy under which nothing
/// expires during the run, and a server config with fresh tokens.
struct Setup {
    policy: crate::engine::Policy,
    driver: crate::engine::driver::DriverConfig,
    server_config: crate::config::ServerConfig,
    app_token: String,
    admin_token: String,
}

impl Setup {
    fn new(config: &Config) -> color_eyre::Result<Setup> {
        let mut policy = config.policy.to_policy()?;
        policy.idle_timeout = policy.idle_bounds.max;
        policy.absolute_timeout = policy.absolute_bounds.max;
        policy.closing_time = None;
        let mut server_config = config.server.clone();
        let app_token = generate_token(Role::App);
        let admin_token = generate_token(Role::Admin);
        server_config.app_token = Some(app_token.clone().into());
        server_config.admin_token = Some(admin_token.clone().into());
        server_config.app_token_file = None;
        server_config.admin_token_file = None;
        Ok(Setup {
            policy,
            driver: config.engine.to_driver_config()?,
            server_config,
            app_token,
            admin_token,
        })
    }
}

pub fn run(config: &Config) -> color_eyre::Result<ServerReport> {
    let runtime = super::runtime()?;
    let Setup {
        policy,
        driver,
        server_config,
        app_token,
        admin_token,
    } = Setup::new(config)?;

    let (engine, addr, stop) = runtime.block_on(async {
        let engine = EngineHandle::spawn(policy, Arc::new(SystemClock), driver);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = engine.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(e) =
                crate::server::serve_engine(serving, &server_config, listener, shutdown).await
            {
                eprintln!("sessiontop bench: the server failed: {e}");
            }
        });
        Ok::<_, std::io::Error>((engine, addr, stop))
    })?;

    let mut tokens = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let (token, _) = engine.login(Login::user(format!("user{:05}", i % 10_000)))?;
        tokens.push(token.expose().to_owned());
    }
    let tokens = Arc::new(tokens);

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the load generator's runtime")?;
    let mut load = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                client.block_on(drive(
                    addr,
                    app_token.clone(),
                    admin_token,
                    tokens.clone(),
                    &engine,
                ))
            })
            .join()
            .map_err(|_| eyre!("the load generator panicked"))
    })??;
    load.wrk = super::wrk::touch(addr, &app_token, &tokens)?;

    let _ = stop.send(());
    engine.shutdown();
    drop(runtime);
    Ok(load)
}

async fn drive(
    addr: SocketAddr,
    app_token: String,
    admin_token: String,
    tokens: Arc<Vec<String>>,
    engine: &EngineHandle,
) -> color_eyre::Result<ServerReport> {
    let app_token: Arc<str> = app_token.into();

    // Phase 1: touches alone.
    let phase = touch_phase(&[addr], &app_token, &tokens, 0, WARMUP, MEASURE).await?;
    let mut latencies: Vec<f64> = phase
        .latencies_us
        .iter()
        .map(|&us| us as f64 / 1000.0)
        .collect();
    let touch_requests = latencies.len();
    let touch_rps = touch_requests as f64 / MEASURE.as_secs_f64();

    // Phase 2: the same load with 10 event-stream clients connected.
    let stop_streams = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::new();
    for _ in 0..STREAM_CLIENTS {
        streams.push(tokio::spawn(count_stream_events(
            addr,
            admin_token.clone(),
            stop_streams.clone(),
        )));
    }
    // Let every stream connect before the clock starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seq_before = engine.stats().last_seq;
    let started = Instant::now();
    let with_streams = touch_phase(
        &[addr],
        &app_token,
        &tokens,
        1,
        Duration::ZERO,
        STREAM_MEASURE,
    )
    .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let published = engine.stats().last_seq - seq_before;
    // Let the streams drain what was published, then stop them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_streams.store(true, Ordering::SeqCst);
    let mut received = 0usize;
    let mut resyncs = 0usize;
    for stream in streams {
        let (events, resync) = stream.await??;
        received += events;
        resyncs += resync;
    }

    Ok(ServerReport {
        sessions: tokens.len(),
        connections: CONNECTIONS,
        duration_s: MEASURE.as_secs_f64(),
        touch_requests,
        touch_rps,
        latency_ms: Latency {
            p50: quantile(&mut latencies, 0.5),
            p99: quantile(&mut latencies, 0.99),
            max: quantile(&mut latencies, 1.0),
        },
        errors: phase.errors,
        sse_clients: STREAM_CLIENTS,
        sse_events_per_s: received as f64 / elapsed,
        sse_events_per_s_per_client: received as f64 / elapsed / STREAM_CLIENTS as f64,
        events_published_per_s: published as f64 / elapsed,
        sse_resyncs: resyncs,
        touch_rps_with_streams: with_streams.latencies_us.len() as f64
            / STREAM_MEASURE.as_secs_f64(),
        wrk: None,
    })
}

struct PhaseResult {
    latencies_us: Vec<u32>,
    errors: usize,
}

/// 32 connections touch sessions round-robin for `warmup + measure`;
/// only requests that start after the warm-up are recorded.
async fn touch_phase(
    addrs: &[SocketAddr],
    app_token: &Arc<str>,
    tokens: &Arc<Vec<String>>,
    offset: usize,
    warmup: Duration,
    measure: Duration,
) -> color_eyre::Result<PhaseResult> {
    let request = |_| {
        let tokens = tokens.clone();
        Request {
            path: "/v1/sessions/touch",
            expect: 200,
            body: Box::new(move |i| format!("{{\"token\":\"{}\"}}", tokens[i % tokens.len()])),
        }
    };
    run_phase(
        addrs,
        app_token,
        request,
        |c| c * 7 + offset,
        warmup,
        measure,
    )
    .await
}

/// `CONNECTIONS` connections, each sending its `request` from its `first` index on,
/// recording from after `warmup` for `measure`; spread evenly over the `addrs`
/// (the nodes of one store).
async fn run_phase(
    addrs: &[SocketAddr],
    app_token: &Arc<str>,
    request: impl Fn(usize) -> Request,
    first: impl Fn(usize) -> usize,
    warmup: Duration,
    measure: Duration,
) -> color_eyre::Result<PhaseResult> {
    let start = Instant::now();
    let record_from = start + warmup;
    let end = record_from + measure;
    let mut tasks = Vec::new();
    for connection in 0..CONNECTIONS {
        tasks.push(tokio::spawn(request_loop(
            addrs[connection % addrs.len()],
            app_token.clone(),
            request(connection),
            first(connection),
            record_from,
            end,
        )));
    }
    let mut result = PhaseResult {
        latencies_us: Vec::new(),
        errors: 0,
    };
    for task in tasks {
        let (latencies, errors) = task.await??;
        result.latencies_us.extend(latencies);
        result.errors += errors;
    }
    Ok(result)
}

/// One kind of request a load connection sends over and over.
struct Request {
    path: &'static str,
    expect: u16,
    /// The JSON body of the i-th request.
    body: Box<dyn Fn(usize) -> String + Send + Sync>,
}

async fn request_loop(
    addr: SocketAddr,
    app_token: Arc<str>,
    what: Request,
    first: usize,
    record_from: Instant,
    end: Instant,
) -> color_eyre::Result<(Vec<u32>, usize)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let mut request = Vec::with_capacity(512);
    let mut buffer = Vec::with_capacity(8192);
    let mut latencies = Vec::with_capacity(1 << 16);
    let mut errors = 0;
    let mut i = first;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let body = (what.body)(i);
        i += CONNECTIONS * 7 + 1;
        request.clear();
        write!(
            request,
            "POST {} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {app_token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            what.path,
            body.len()
        )?;
        stream.write_all(&request).await?;
        let status = read_response(&mut stream, &mut buffer).await?;
        if sent >= record_from {
            latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            if status != what.expect {
                errors += 1;
            }
        }
    }
    Ok((latencies, errors))
}

/// Reads one response with a Content-Length body; returns its status.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> color_eyre::Result<u16> {
    loop {
        if let Some(head_end) = find(buffer, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buffer[..head_end])?;
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| eyre!("not an HTTP response"))?;
            let length: usize = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            let total = head_end + 4 + length;
            while buffer.len() < total {
                read_more(stream, buffer).await?;
            }
            buffer.drain(..total);
            return Ok(status);
        }
        read_more(stream, buffer).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> color_eyre::Result<()> {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await?;
    if n == 0 {
        return Err(eyre!("the server closed the connection"));
    }
    buffer.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Follows the event stream and counts events (and resyncs) until told to stop.
async fn count_stream_events(
    addr: SocketAddr,
    admin_token: String,
    stop: Arc<AtomicBool>,
) -> color_eyre::Result<(usize, usize)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!(
        "GET /v1/admin/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {admin_token}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut chunk = vec![0u8; 64 * 1024];
    let mut carry: Vec<u8> = Vec::new();
    let (mut events, mut resyncs) = (0usize, 0usize);
    while !stop.load(Ordering::SeqCst) {
        let n =
            match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut chunk)).await {
                Ok(n) => n?,
                Err(_) => continue,
            };
        if n == 0 {
            break;
        }
        // Count "\nid: " (one per event) and "event: resync", across chunk
        // edges: only matches that end in the new bytes count.
        let old = carry.len();
        carry.extend_from_slice(&chunk[..n]);
        events += count_new(&carry, "\nid: ", old);
        resyncs += count_new(&carry, "event: resync", old);
        let keep = carry.len().saturating_sub(16);
        carry.drain(..keep);
    }
    Ok((events, resyncs))
}

/// Matches of `needle` in `haystack` that end after its first `old` bytes.
/// Searched as text where it can be, as std's substring search is much
/// cheaper than a window-by-window compare, and this client shares the CPU
/// with the server it measures.
fn count_new(haystack: &[u8], needle: &str, old: usize) -> usize {
    let skip = old.saturating_sub(needle.len() - 1);
    let tail = &haystack[skip..];
    match std::str::from_utf8(tail) {
        Ok(text) => text.matches(needle).count(),
        Err(_) => tail
            .windows(needle.len())
            .filter(|w| *w == needle.as_bytes())
            .count(),
    }
}

/// Touch and login requests per second through the HTTP server on one store,
/// measured beside the same load on the memory store in the same run.
#[derive(Debug, Serialize)]
pub struct StoreComparison {
    pub workload: &'static str,
    pub sessions: usize,
    pub connections: usize,
    pub phase_s: f64,
    pub memory: StoreFigures,
    pub store: StoreFigures,
    /// `store` over `memory`.
    pub touch_ratio: f64,
    pub login_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct StoreFigures {
    pub store: String,
    /// `serve` nodes sharing the store, the load spread evenly over them
    /// (two on Redis, one otherwise).
    pub nodes: usize,
    pub touch_rps: f64,
    /// On a Redis on this machine: `redis-benchmark -t get -c 32` against it,
    /// right after the touches, and the touches over it (#9 asks ≥ 0.4).
    pub redis_benchmark_get_c32_per_s: Option<f64>,
    pub touch_vs_get: Option<f64>,
    pub touch_p99_ms: f64,
    pub login_rps: f64,
    pub login_p99_ms: f64,
    /// Answers other than 200 / 201 (should be 0).
    pub errors: usize,
}

const COMPARE_PHASE: Duration = Duration::from_secs(5);

/// `bench server --store URL`: the memory store, then `url`, under the same load.
pub fn compare_stores(config: &Config, url: StoreUrl) -> color_eyre::Result<StoreComparison> {
    let dir = std::env::temp_dir().join(format!("sessiontop-bench-server-{}", std::process::id()));
    let url = match url {
        // `--store file` with no path: a fresh file in a temporary directory.
        StoreUrl::File(path) if path.as_os_str() == "file" => {
            StoreUrl::File(dir.join("sessions.db"))
        }
        other => other,
    };
    let memory = measure_store(config, StoreUrl::Memory)?;
    let store = measure_store(config, url);
    let _ = std::fs::remove_dir_all(&dir);
    let store = store?;
    Ok(StoreComparison {
        workload: "100,000 live sessions; touch: POST /v1/sessions/touch with a live token; login: POST /v1/sessions with a user, an ip and a 55-byte user agent; 32 keep-alive connections, one request in flight each",
        sessions: SESSIONS,
        connections: CONNECTIONS,
        phase_s: COMPARE_PHASE.as_secs_f64(),
        touch_ratio: store.touch_rps / memory.touch_rps,
        login_ratio: store.login_rps / memory.login_rps,
        memory,
        store,
    })
}

fn measure_store(config: &Config, url: StoreUrl) -> color_eyre::Result<StoreFigures> {
    let runtime = super::runtime()?;
    let Setup {
        policy,
        driver,
        server_config,
        app_token,
        ..
    } = Setup::new(config)?;
    let mut options = config.store.options();
    options.url = url.clone();

    // On Redis, two serve nodes share it, as behind a load balancer; every
    // other store has one process.
    let nodes = if matches!(url, StoreUrl::Redis(_)) {
        2
    } else {
        1
    };
    let mut served = Vec::new();
    for _ in 0..nodes {
        served.push(runtime.block_on(async {
            let opened = crate::store::open(
                &options,
                policy.clone(),
                Arc::new(SystemClock),
                driver.clone(),
            )
            .await
            .map_err(|e| eyre!("{e}"))?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let serving = opened.sessions.clone();
            let server_config = server_config.clone();
            tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) =
                    crate::server::serve_store(serving, &server_config, listener, shutdown).await
                {
                    eprintln!("sessiontop bench: the server failed: {e}");
                }
            });
            Ok::<_, color_eyre::Report>((opened.sessions, addr, stop))
        })?);
    }
    let addrs: Vec<SocketAddr> = served.iter().map(|(_, addr, _)| *addr).collect();
    let sessions = served[0].0.clone();
    let tokens: Vec<String> = runtime.block_on(async {
        let mut tokens = Vec::with_capacity(SESSIONS);
        for i in 0..SESSIONS {
            let (token, _) = sessions
                .login(Login::user(format!("user{:05}", i % 10_000)))
                .await
                .map_err(|e| eyre!("{e}"))?;
            tokens.push(token.expose().to_owned());
        }
        Ok::<_, color_eyre::Report>(tokens)
    })?;
    let tokens = Arc::new(tokens);
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the load generator's runtime")?;
    let app_token: Arc<str> = app_token.into();
    let figures = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                client.block_on(async {
                    let mut touch =
                        touch_phase(&addrs, &app_token, &tokens, 0, WARMUP, COMPARE_PHASE).await?;
                    let get_per_s = redis_benchmark_beside(&url).await;
                    let mut login = login_phase(&addrs, &app_token, WARMUP, COMPARE_PHASE).await?;
                    let p99 = |phase: &mut PhaseResult| {
                        let mut ms: Vec<f64> = phase
                            .latencies_us
                            .iter()
                            .map(|&us| us as f64 / 1000.0)
                            .collect();
                        quantile(&mut ms, 0.99)
                    };
                    let touch_rps = touch.latencies_us.len() as f64 / COMPARE_PHASE.as_secs_f64();
                    Ok::<_, color_eyre::Report>(StoreFigures {
                        store: url.redacted(),
                        nodes,
                        touch_rps,
                        redis_benchmark_get_c32_per_s: get_per_s,
                        touch_vs_get: get_per_s.map(|get| touch_rps / get),
                        touch_p99_ms: p99(&mut touch),
                        login_rps: login.latencies_us.len() as f64 / COMPARE_PHASE.as_secs_f64(),
                        login_p99_ms: p99(&mut login),
                        errors: touch.errors + login.errors,
                    })
                })
            })
            .join()
            .map_err(|_| eyre!("the load generator panicked"))
    })??;
    for (sessions, _, stop) in served {
        let _ = stop.send(());
        runtime.block_on(async { tokio::time::sleep(Duration::from_millis(200)).await });
        sessions.shutdown();
    }
    drop(runtime);
    Ok(figures)
}

/// `redis-benchmark -t get -c 32` on the Redis `url` names, when it is on
/// this machine (a loopback address) and redis-benchmark is installed.
async fn redis_benchmark_beside(url: &StoreUrl) -> Option<f64> {
    let StoreUrl::Redis(url) = url else {
        return None;
    };
    let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).ok()?;
    let redis::ConnectionAddr::Tcp(host, port) = info.addr() else {
        return None;
    };
    if !matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1") {
        return None;
    }
    let port = *port;
    tokio::task::spawn_blocking(move || super::redis::redis_benchmark(Some(port)))
        .await
        .ok()
        .filter(|&get| get > 0.0)
}

async fn login_phase(
    addrs: &[SocketAddr],
    app_token: &Arc<str>,
    warmup: Duration,
    measure: Duration,
) -> color_eyre::Result<PhaseResult> {
    let request = |_| Request {
        path: "/v1/sessions",
        expect: 201,
        body: Box::new(|i| {
            format!(
                "{{\"user\":\"bench{}\",\"attributes\":{{\"ip\":\"198.51.100.{}\",\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0\"}}}}",
                i % 50_000,
                i % 250
            )
        }),
    };
    run_phase(addrs, app_token, request, |c| c, warmup, measure).await
}
