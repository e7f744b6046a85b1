//! The accept loop and each connection's life: how long a client may take to
//! send a request's headers and its body, how long a connection may sit
//! idle, and how many are served at once.
//!
//! Anyone who can reach the port can open connections and hold them, so
//! every connection has a deadline while it has no request in flight:
//! - the first byte of a request starts `request_header_timeout`; headers
//!   not complete by then get `408 Request Timeout` and the connection closes;
//! - with no byte of a request, `connection_idle_timeout` closes it quietly
//!   (a fresh connection that never speaks, or an idle keep-alive one);
//! - the end of a request's headers starts `request_body_timeout`: a body not
//!   complete by then gets `408 Request Timeout` (the handler waiting for it
//!   is dropped, so nothing was done) and the connection closes;
//! - a request whose body has arrived (an event stream, say) has no deadline
//!   here.
//!
//! At most `max_connections` are served (lowered to fit the open-file limit).
//! At the limit, a new connection closes the connection that has been idle
//! longest (as nginx reuses idle keep-alive connections) and takes its place,
//! so idle connections cannot lock health checks or clients out. When none is
//! idle, a few more are accepted that answer `GET /healthz` as usual and 503
//! to anything else, then close; past those, a connection gets a bare 503.
//! Accept errors (such as "too many open files") are logged once a minute at
//! most, not once per attempt.
//!
//! This module knows HTTP/1.1 connections and nothing of sessions.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;
use tower_service::Service as _;

use super::metrics::{Refusal, Refusals};
use crate::throttle::Throttle;

/// Connections accepted past the limit to answer health checks (and 503).
const OVERFLOW: usize = 32;
/// File descriptors kept for everything but connections (files, the store, logs).
const RESERVED_FDS: usize = 64;
/// How long the server waits for requests in flight when it stops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
/// How long a connection past the limit waits for an idle one to make room.
const MAKE_ROOM: Duration = Duration::from_secs(1);
/// Header and idle timeout of a connection past the limit (shorter if configured so).
const OVERFLOW_TIMEOUT: Duration = Duration::from_secs(1);

/// The `[server]` settings this module enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_header_timeout: Duration,
    pub request_body_timeout: Duration,
    pub connection_idle_timeout: Duration,
    pub max_connections: usize,
}

/// Accepts and serves connections on `listener` until `shutdown` resolves,
/// then lets requests in flight finish (for a few seconds at most).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    refusals: Refusals,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let max = fit_to_open_file_limit(limits.max_connections);
    let served = Arc::new(Semaphore::new(max));
    let overflow = Arc::new(Semaphore::new(OVERFLOW));
    let (stop, stopping) = watch::channel(false);
    // Each connection task holds a sender; when all are gone, all are done.
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let open = Arc::new(OpenConnections::default());
    let accept_errors = Throttle::new(60_000);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            // Shutdown first, so a stream of connections can never starve it.
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    note_accept_error(&accept_errors, &e);
                    // Out of descriptors: wait for connections to close rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Event stream chunks are small writes that must not wait for an ACK.
        let _ = stream.set_nodelay(true);
        let task = Connection {
            stream: Arc::new(stream),
            router: router.clone(),
            limits,
            stopping: stopping.clone(),
            open: open.clone(),
            refusals: refusals.clone(),
            _alive: alive.clone(),
        };
        if let Ok(permit) = served.clone().try_acquire_owned() {
            tokio::spawn(async move {
                task.run(Mode::Served).await;
                drop(permit);
            });
        } else if let Ok(waiting) = overflow.clone().try_acquire_owned() {
            let served = served.clone();
            tokio::spawn(async move {
                task.open.close_longest_idle();
                match tokio::time::timeout(MAKE_ROOM, served.acquire_owned()).await {
                    Ok(Ok(permit)) => {
                        drop(waiting);
                        task.run(Mode::Served).await;
                        drop(permit);
                    }
                    _ => {
                        task.run(Mode::Overflow).await;
                        drop(waiting);
                    }
                }
            });
        } else {
            refusals.count(Refusal::TooManyConnections);
            let _ = task.stream.try_write(&raw_response(
                "503 Service Unavailable\r\nretry-after: 1",
                BUSY,
            ));
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(alive);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, all_done.recv()).await;
    Ok(())
}

/// What a connection past the limit is told.
const BUSY: &str = "{\"error\":\"too_many_connections\",\"message\":\"the server is serving as many connections as it may; try again soon\"}";

/// What a connection that took too long to send its headers is told.
const HEADER_TIMEOUT: &str = "{\"error\":\"request_timeout\",\"message\":\"the request headers did not arrive in time; send a request's headers at once\"}";

/// What a request whose body took too long is told.
const BODY_TIMEOUT: &str = "{\"error\":\"request_timeout\",\"message\":\"the request body did not arrive in time; send a request's body at once\"}";

/// A whole HTTP/1.1 answer written straight to a socket hyper no longer serves.
fn raw_response(status_and_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status_and_headers}\r\ncontent-type: application/json\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Within the limit: the whole API, with keep-alive.
    Served,
    /// Past the limit: `/healthz` only, one request, then close.
    Overflow,
}

struct Connection {
    stream: Arc<TcpStream>,
    router: Router,
    limits: Limits,
    stopping: watch::Receiver<bool>,
    open: Arc<OpenConnections>,
    refusals: Refusals,
    _alive: mpsc::Sender<()>,
}

/// The served connections, so that one past the limit can close an idle one.
#[derive(Default)]
struct OpenConnections(std::sync::Mutex<Vec<std::sync::Weak<Activity>>>);

impl OpenConnections {
    fn add(&self, activity: &Arc<Activity>) {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|a| a.strong_count() > 0);
        open.push(Arc::downgrade(activity));
    }

    /// Asks the connection idle longest to close; false if none is idle.
    fn close_longest_idle(&self) -> bool {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|a| a.strong_count() > 0);
        let longest = open
            .iter()
            .filter_map(|a| a.upgrade())
            .filter(|a| !a.closing.load(Ordering::Acquire))
            .filter_map(|a| a.idle_since().map(|since| (since, a)))
            .min_by_key(|(since, _)| *since);
        match longest {
            Some((_, activity)) => {
                activity.closing.store(true, Ordering::Release);
                activity.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Why the watchdog ended a connection.
enum Ending {
    Done,
    HeaderTimeout,
    Idle,
}

impl Connection {
    async fn run(mut self, mode: Mode) {
        let activity = Arc::new(Activity::new());
        let limits = match mode {
            Mode::Served => {
                self.open.add(&activity);
                self.limits
            }
            Mode::Overflow => Limits {
                request_header_timeout: self.limits.request_header_timeout.min(OVERFLOW_TIMEOUT),
                request_body_timeout: self.limits.request_body_timeout.min(OVERFLOW_TIMEOUT),
                connection_idle_timeout: self.limits.connection_idle_timeout.min(OVERFLOW_TIMEOUT),
                ..self.limits
            },
        };
        let io = TokioIo::new(Watched {
            stream: self.stream.clone(),
            activity: activity.clone(),
        });
        let router = self.router.clone();
        let service_activity = activity.clone();
        let body_timeout = limits.request_body_timeout;
        let refusals = self.refusals.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let guard = InFlight::start(service_activity.clone());
            let mut router = router.clone();
            let refusals = refusals.clone();
            async move {
                let response = if mode == Mode::Overflow && request.uri().path() != "/healthz" {
                    refusals.count(Refusal::TooManyConnections);
                    busy()
                } else {
                    let (request, arrival) = BodyArrival::watch(request);
                    tokio::select! {
                        biased;
                        response = router.call(request) => match response {
                            Ok(response) => arrival.close_if_unread(response),
                            Err(never) => match never {},
                        },
                        _ = arrival.overdue(Instant::now() + body_timeout) => {
                            refusals.count(Refusal::BodyTimeout);
                            body_too_slow()
                        }
                    }
                };
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        inner: body,
                        _guard: guard,
                    })
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .keep_alive(mode == Mode::Served);
        let ending = {
            let conn = builder.serve_connection(io, service);
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                let deadline = activity.deadline(&limits);
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        }
                        break Ending::Done;
                    }
                    _ = tokio::time::sleep_until(deadline.at) => {
                        // A request may have begun or ended meanwhile.
                        let current = activity.deadline(&limits);
                        if Instant::now() >= current.at {
                            break current.ending;
                        }
                    }
                    // The deadline moved: look again.
                    _ = activity.changed.notified() => {}
                    _ = activity.close.notified() => {
                        // Closed to make room, unless a request began meanwhile.
                        if activity.idle_since().is_some() {
                            break Ending::Idle;
                        }
                        activity.closing.store(false, Ordering::Release);
                    }
                    _ = self.stopping.changed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        };
        if let Ending::HeaderTimeout = ending {
            self.refusals.count(Refusal::HeaderTimeout);
            let _ = self
                .stream
                .try_write(&raw_response("408 Request Timeout", HEADER_TIMEOUT));
        }
    }
}

fn busy() -> Response<Body> {
    let mut response = Response::new(Body::from(BUSY));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// The 408 for a body that missed its deadline; the connection closes after it.
fn body_too_slow() -> Response<Body> {
    let mut response = Response::new(Body::from(BODY_TIMEOUT));
    *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    // The rest of the body may still trickle in: hyper closes rather than read it.
    headers.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// Whether a request's body has arrived (or is no longer wanted), so its
/// deadline can pass unnoticed, and whether it was read to its end.
struct BodyArrival {
    arrived: std::sync::atomic::AtomicBool,
    read: std::sync::atomic::AtomicBool,
}

impl BodyArrival {
    /// The request with its body watched, and the watch.
    fn watch(request: Request<Incoming>) -> (Request<Body>, Arc<BodyArrival>) {
        let (parts, body) = request.into_parts();
        let empty = body.is_end_stream();
        let arrival = Arc::new(BodyArrival {
            arrived: std::sync::atomic::AtomicBool::new(empty),
            read: std::sync::atomic::AtomicBool::new(empty),
        });
        let body = Body::new(Arriving {
            inner: body,
            arrival: arrival.clone(),
        });
        (Request::from_parts(parts, body), arrival)
    }

    fn arrived(&self) {
        self.arrived.store(true, Ordering::Release);
    }

    /// Resolves at `deadline` if the body has not arrived by then; never otherwise.
    async fn overdue(&self, deadline: Instant) {
        if !self.arrived.load(Ordering::Acquire) {
            tokio::time::sleep_until(deadline).await;
            if !self.arrived.load(Ordering::Acquire) {
                return;
            }
        }
        std::future::pending::<()>().await
    }

    /// A request answered before its body was read (refused by its token,
    /// say) leaves the rest of the body on the connection, and hyper closes
    /// it rather than read that. The answer says so (`Connection: close`), so
    /// a client's pool opens a new connection instead of failing its next
    /// request on this one.
    fn close_if_unread(&self, mut response: Response<Body>) -> Response<Body> {
        if !self.read.load(Ordering::Acquire) {
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
        }
        response
    }
}

/// A request body that says when it has all arrived (or is dropped unread:
/// a handler that does not want it is not waiting for it).
struct Arriving {
    inner: Incoming,
    arrival: Arc<BodyArrival>,
}

impl HttpBody for Arriving {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || self.inner.is_end_stream() {
            self.arrival.arrived();
        }
        if frame.is_none() || (matches!(frame, Some(Ok(_))) && self.inner.is_end_stream()) {
            self.arrival.read.store(true, Ordering::Release);
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Arriving {
    fn drop(&mut self) {
        self.arrival.arrived();
    }
}

/// What a connection is doing, in milliseconds since it was accepted.
struct Activity {
    accepted: Instant,
    in_flight: AtomicU32,
    /// When the last request finished (or the connection opened).
    quiet_since: AtomicU64,
    /// When the first byte of a request whose head is not complete arrived.
    head_since: AtomicU64,
    /// Asks the connection to close if it is idle (to make room for another).
    close: tokio::sync::Notify,
    /// Chosen to make room, so no other newcomer picks it too.
    closing: std::sync::atomic::AtomicBool,
    /// Wakes the watchdog when a request head begins or a request ends.
    changed: tokio::sync::Notify,
}

const NONE: u64 = u64::MAX;

struct Deadline {
    at: Instant,
    ending: Ending,
}

impl Activity {
    fn new() -> Self {
        Activity {
            accepted: Instant::now(),
            in_flight: AtomicU32::new(0),
            quiet_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            close: tokio::sync::Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// Since when the connection has been idle (no request, no partial head), if it is.
    fn idle_since(&self) -> Option<Instant> {
        let idle = self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE;
        idle.then(|| {
            self.accepted + Duration::from_millis(self.quiet_since.load(Ordering::Acquire))
        })
    }

    fn now_ms(&self) -> u64 {
        self.accepted.elapsed().as_millis() as u64
    }

    fn read(&self, bytes: usize) {
        if bytes > 0
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now_ms(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    /// The moment this connection's current wait ends, and how.
    fn deadline(&self, limits: &Limits) -> Deadline {
        let at = |ms: u64, limit: Duration| self.accepted + Duration::from_millis(ms) + limit;
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Nothing to enforce while a request runs; look again later.
            return Deadline {
                at: Instant::now() + limits.connection_idle_timeout,
                ending: Ending::Done,
            };
        }
        match self.head_since.load(Ordering::Acquire) {
            NONE => Deadline {
                at: at(
                    self.quiet_since.load(Ordering::Acquire),
                    limits.connection_idle_timeout,
                ),
                ending: Ending::Idle,
            },
            since => Deadline {
                at: at(since, limits.request_header_timeout),
                ending: Ending::HeaderTimeout,
            },
        }
    }
}

/// A request in flight on a connection, from its complete head until its
/// response body is sent (or dropped).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(NONE, Ordering::Release);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .quiet_since
            .store(activity.now_ms(), Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

/// A response body that ends its request's `InFlight` when it is done.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, shared with the watchdog (which may still answer 408 after
/// the HTTP connection is dropped), noting when request bytes arrive.
struct Watched {
    stream: Arc<TcpStream>,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.stream.poll_read_ready(cx))?;
            match self.stream.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    self.activity.read(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.stream.poll_write_ready(cx))?;
            match self.stream.try_write(data) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => return Poll::Ready(result),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a socket this struct keeps open; it only ends writing.
        let result = unsafe { libc::shutdown(self.stream.as_raw_fd(), libc::SHUT_WR) };
        if result == 0 {
            Poll::Ready(Ok(()))
        } else {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::NotConnected => Poll::Ready(Ok(())),
                _ => Poll::Ready(Err(e)),
            }
        }
    }
}

/// Errors of one connection that the accept loop simply skips.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Logs accept errors once, then at most once a minute with how many there were.
fn note_accept_error(throttle: &Throttle, e: &io::Error) {
    if let Some(more) = throttle.note() {
        tracing::warn!(
            "cannot accept connections: {e}; lower server.max_connections or raise the open-file limit (ulimit -n){more}"
        );
    }
}

/// Raises the soft open-file limit to the hard one, and lowers `wanted`
/// connections to what the limit leaves room for.
fn fit_to_open_file_limit(wanted: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return wanted;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let room = usize::try_from(soft)
        .unwrap_or(usize::MAX)
        .saturating_sub(RESERVED_FDS + OVERFLOW)
        .max(1);
    if wanted > room {
        tracing::warn!(
            "server.max_connections lowered from {wanted} to {room} to fit the open-file limit ({soft}, see ulimit -n)"
        );
        room
    } else {
        wanted
    }
}
