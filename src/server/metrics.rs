//! `/metrics`: the server's figures in the Prometheus text format (0.0.4),
//! encoded by `prometheus-client`.
//!
//! Session counts come from the store's counters, read at each scrape (for
//! Redis, cluster-wide). Two things the engine does not count are kept here: HTTP
//! requests by method, route and status (a middleware), and how late expiries
//! fire (a task that follows the event feed and reads `at - deadline` off each
//! `expired` event).
//!
//! Every label is bounded by construction, because anyone who can reach the
//! port chooses what a request says: the method is an enum whose unknown
//! values fold into `other`, the route is one of the router's own patterns
//! (never the raw path, which may hold a user name) or `unmatched`, and the
//! status is a three-digit code.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::ServerState;
use super::auth::AdminCaller;
use super::error::AdminAuthFailures;
use crate::engine::driver::Delivery;
use crate::engine::{Event, EventKind, Stats, Subscription};
use crate::store::Sessions;

/// Upper bounds of the expiry lateness buckets, in seconds.
const LATENESS_BUCKETS_S: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

pub struct Metrics {
    registry: Registry,
    figures: Arc<StoreFigures>,
    requests: Family<RequestLabels, Counter>,
    lateness: Histogram,
    /// Expiries the follower missed because it fell behind the feed.
    missed_feed: Counter,
    /// Event stream clients connected now.
    pub stream_clients: Arc<AtomicU64>,
    /// Answers the connection layer gave itself.
    pub refusals: Refusals,
}

/// The HTTP methods a client may use; anything else counts as `other`.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum MethodLabel {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Patch,
    Options,
    Other,
}

impl MethodLabel {
    pub fn of(method: &Method) -> Self {
        match *method {
            Method::GET => MethodLabel::Get,
            Method::HEAD => MethodLabel::Head,
            Method::POST => MethodLabel::Post,
            Method::PUT => MethodLabel::Put,
            Method::DELETE => MethodLabel::Delete,
            Method::PATCH => MethodLabel::Patch,
            Method::OPTIONS => MethodLabel::Options,
            _ => MethodLabel::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Post => "POST",
            MethodLabel::Put => "PUT",
            MethodLabel::Delete => "DELETE",
            MethodLabel::Patch => "PATCH",
            MethodLabel::Options => "OPTIONS",
            MethodLabel::Other => "other",
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A route pattern of the router (such as `/v1/sessions/touch`), or `unmatched`.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub struct RouteLabel(Arc<str>);

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&&*self.0, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    route: RouteLabel,
    status: u16,
}

/// How a session ended, as the `reason` label spells it.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum EndLabel {
    LoggedOut,
    Revoked,
    Idle,
    Absolute,
    ClosingTime,
}

impl EncodeLabelValue for EndLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            EndLabel::LoggedOut => "logged_out",
            EndLabel::Revoked => "revoked",
            EndLabel::Idle => "idle",
            EndLabel::Absolute => "absolute",
            EndLabel::ClosingTime => "closing_time",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    reason: EndLabel,
}

/// Why the connection layer answered a request itself, before or instead of
/// a handler (so the request counter never sees it).
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Refusal {
    /// 503 `too_many_connections`: past `server.max_connections`.
    TooManyConnections,
    /// 408: the headers missed `server.request_header_timeout`.
    HeaderTimeout,
    /// 408: the body missed `server.request_body_timeout`.
    BodyTimeout,
}

impl EncodeLabelValue for Refusal {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        let text = match self {
            Refusal::TooManyConnections => "too_many_connections",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::BodyTimeout => "body_timeout",
        };
        EncodeLabelValue::encode(&text, encoder)
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: Refusal,
}

/// The connection layer's own answers (408 and 503), by reason.
#[derive(Debug, Clone, Default)]
pub struct Refusals(Family<RefusalLabels, Counter>);

impl Refusals {
    pub fn count(&self, reason: Refusal) {
        self.0.get_or_create(&RefusalLabels { reason }).inc();
    }
}

/// The store's counters, as the scrape read them just before encoding
/// (none when the store could not answer: the session figures are left out).
struct StoreFigures {
    latest: Mutex<Option<Stats>>,
    stream_clients: Arc<AtomicU64>,
}

impl std::fmt::Debug for StoreFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreFigures")
    }
}

/// The registry owns its collectors; the figures are shared with `Metrics`.
#[derive(Debug)]
struct SharedFigures(Arc<StoreFigures>);

impl Collector for SharedFigures {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// `help` ends with a full stop, as the registry writes its own metrics' help.
fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

/// `name` is without `_total`: the encoder adds it to counters.
fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)
}

impl Collector for StoreFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        gauge(
            e,
            "sessiontop_event_stream_clients",
            "Clients connected to /v1/admin/events.",
            self.stream_clients.load(Ordering::Relaxed),
        )?;
        let latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        gauge(
            e,
            "sessiontop_store_up",
            "1 when the session store answered this scrape, 0 when it did not (its figures are then left out).",
            u64::from(latest.is_some()),
        )?;
        let Some(stats) = latest.as_ref() else {
            return Ok(());
        };
        let t = &stats.totals;
        gauge(
            e,
            "sessiontop_active_sessions",
            "Sessions alive now.",
            stats.active,
        )?;
        gauge(
            e,
            "sessiontop_peak_sessions",
            "Most sessions alive at once since the server started.",
            stats.peak,
        )?;
        counter(e, "sessiontop_logins", "Sessions started.", t.logins)?;
        counter(
            e,
            "sessiontop_touches",
            "Touches, including those whose event was coalesced.",
            t.touches,
        )?;
        counter(e, "sessiontop_renewals", "Token renewals.", t.renewals)?;
        // A gauge, so the name stays what it always was (a counter's gains `_total`).
        gauge(
            e,
            "sessiontop_events_last_seq",
            "Sequence number of the newest event.",
            stats.last_seq,
        )?;
        let mut ended = e.encode_descriptor(
            "sessiontop_sessions_ended",
            "Sessions ended, by how they ended.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in [
            (EndLabel::LoggedOut, t.logged_out),
            (EndLabel::Revoked, t.revoked),
            (EndLabel::Idle, t.expired_idle),
            (EndLabel::Absolute, t.expired_absolute),
            (EndLabel::ClosingTime, t.expired_closing_time),
        ] {
            ConstCounter::new(n).encode(ended.encode_family(&EndLabels { reason })?)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let stream_clients = Arc::new(AtomicU64::new(0));
        let figures = Arc::new(StoreFigures {
            latest: Mutex::new(None),
            stream_clients: stream_clients.clone(),
        });
        registry.register_collector(Box::new(SharedFigures(figures.clone())));
        let lateness = Histogram::new(LATENESS_BUCKETS_S);
        registry.register_with_unit(
            "sessiontop_expiry_lateness",
            "How long after its deadline the engine ended an expired session",
            Unit::Seconds,
            lateness.clone(),
        );
        let missed_feed = Counter::default();
        registry.register(
            "sessiontop_expiry_lateness_missed",
            "Times the lateness follower lost events the history no longer held (it may have missed expiries there)",
            missed_feed.clone(),
        );
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "sessiontop_http_requests",
            "HTTP requests, by method, route and status",
            requests.clone(),
        );
        let refusals = Refusals::default();
        registry.register(
            "sessiontop_http_refused",
            "Requests the connection layer answered itself (408, 503), by reason",
            refusals.0.clone(),
        );
        Metrics {
            registry,
            figures,
            requests,
            lateness,
            missed_feed,
            stream_clients,
            refusals,
        }
    }

    /// Counts one request. `route` is a pattern of the router, or None.
    pub fn count_request(&self, route: Option<&MatchedPath>, method: &Method, status: u16) {
        let route = RouteLabel(match route {
            Some(path) => Arc::from(path.as_str()),
            None => Arc::from("unmatched"),
        });
        self.requests
            .get_or_create(&RequestLabels {
                method: MethodLabel::of(method),
                route,
                status,
            })
            .inc();
    }

    /// The whole exposition, at this instant, with the store's counters
    /// `stats` (None: the store did not answer; its figures are left out).
    pub fn render(&self, stats: Option<Stats>) -> String {
        *self
            .figures
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = stats;
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// Follows the store's events from the start of this run and records the
/// lateness of each expiry (on a shared store, every node's). A follower that falls behind (a burst
/// of events) takes the feed up again from the last event it saw, out of the
/// history; one the store cut off (Redis away) does the same a second later,
/// so the expiries a returning Redis makes at once, late by the outage, are
/// counted too. Only expiries the history no longer holds are missed.
pub async fn follow_expiries(store: Sessions, metrics: Arc<Metrics>) {
    // From the start of this run where the store can say (a file store's
    // expiries at start-up, of sessions that ran out while no server ran,
    // come first), else from now.
    let mut last = store.run_start();
    loop {
        let feed = match last {
            Some(seq) => match store.subscribe_after(seq).await {
                Ok(Ok(feed)) => Ok(feed),
                // Trimmed past it, or another store (emptied, restarted).
                Ok(Err(_)) => {
                    metrics.missed_feed.inc();
                    store.subscribe_live().await.map(|(feed, _)| feed)
                }
                Err(error) => Err(error),
            },
            None => store.subscribe_live().await.map(|(feed, _)| feed),
        };
        match feed {
            Ok(feed) => {
                if record_lateness(feed, &metrics, &mut last).await == FeedEnd::Behind {
                    continue;
                }
            }
            Err(error) => tracing::debug!(%error, "expiry lateness cannot follow the store"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Why a followed feed ended.
#[derive(Debug, PartialEq, Eq)]
enum FeedEnd {
    /// The follower fell behind: take it up again from the history at once.
    Behind,
    /// The store closed it.
    Closed,
}

/// Records the lateness of each expiry `feed` delivers until it ends;
/// `last` keeps the seq of the newest event it saw.
async fn record_lateness(
    mut feed: Subscription,
    metrics: &Metrics,
    last: &mut Option<u64>,
) -> FeedEnd {
    let record = |event: &Event, last: &mut Option<u64>| {
        *last = Some(event.seq);
        if event.kind == EventKind::Expired
            && let Some(ms) = event.lateness_ms()
        {
            metrics.lateness.observe(ms.max(0) as f64 / 1000.0);
        }
    };
    for event in std::mem::take(&mut feed.backlog) {
        record(&event, last);
    }
    while let Some(delivery) = feed.next().await {
        match delivery {
            Delivery::Event(event) => record(&event, last),
            // Without a seq to go on from, nothing is left but to count it.
            Delivery::Resync if last.is_none() => {
                metrics.missed_feed.inc();
            }
            Delivery::Resync => return FeedEnd::Behind,
        }
    }
    FeedEnd::Closed
}

/// Counts every request by its method, route pattern and status, and logs it
/// at debug level.
pub async fn count_requests(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    state.metrics.count_request(route.as_ref(), &method, status);
    tracing::debug!(
        method = MethodLabel::of(&method).as_str(),
        route = route.as_ref().map_or("unmatched", |r| r.as_str()),
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain", body = String),
        AdminAuthFailures,
    )
)]
pub async fn metrics(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    _: super::error::NoBody,
) -> Response {
    let stats = match state.store.stats().await {
        Ok(stats) => Some(stats),
        Err(error) => {
            tracing::warn!(%error, "/metrics without the session figures");
            None
        }
    };
    let body = state.metrics.render(stats);
    let mut response = body.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::driver::DriverConfig;
    use crate::engine::{EngineHandle, Policy, VirtualClock};
    use rand::{Rng, SeedableRng};

    fn metrics() -> (Metrics, EngineHandle) {
        let engine = EngineHandle::spawn(
            Policy::default(),
            Arc::new(VirtualClock::paused_at(1_000_000)),
            DriverConfig::default(),
        );
        (Metrics::new(), engine)
    }

    fn random_method(rng: &mut impl Rng) -> Method {
        let len = rng.random_range(1..40);
        let name: String = (0..len)
            .map(|_| char::from(rng.random_range(b'A'..=b'Z')))
            .collect();
        Method::from_bytes(name.as_bytes()).unwrap()
    }

    #[tokio::test]
    async fn ten_thousand_made_up_methods_leave_the_exposition_the_same_size() {
        let (metrics, engine) = metrics();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        metrics.count_request(None, &random_method(&mut rng), 405);
        let before = metrics.render(Some(engine.stats()));
        for _ in 0..10_000 {
            metrics.count_request(None, &random_method(&mut rng), 405);
        }
        let after = metrics.render(Some(engine.stats()));
        assert_eq!(before.lines().count(), after.lines().count(), "{after}");
        // Only the count of the one `other` line grew: 1 -> 10001, four digits more.
        assert_eq!(after.len(), before.len() + 4, "{after}");
        assert!(
            after.contains(
                "sessiontop_http_requests_total{method=\"other\",route=\"unmatched\",status=\"405\"} 10001"
            ),
            "{after}"
        );
        engine.shutdown();
    }

    /// A follower that falls behind a burst (its feed holds 64 events, the
    /// burst is 5,000 expiries) takes the feed up again from the history and
    /// counts every expiry, none missed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_follower_behind_a_burst_catches_up_from_the_history() {
        let engine = EngineHandle::spawn(
            Policy::default(),
            Arc::new(VirtualClock::paused_at(1_000_000)),
            DriverConfig {
                history: 100_000,
                subscriber_buffer: 64,
            },
        );
        let metrics = Arc::new(Metrics::new());
        let follower = tokio::spawn(follow_expiries(
            Sessions::memory(engine.clone()),
            metrics.clone(),
        ));
        let count = || {
            let text = metrics.render(None);
            let n = text
                .lines()
                .find_map(|line| line.strip_prefix("sessiontop_expiry_lateness_seconds_count "))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            (n, text)
        };
        // The follower subscribes on its own task: once an expiry is counted,
        // it surely is (an expiry made before it subscribed is not seen, so
        // one more is made until one is).
        let mut short = 0;
        while count().0 == 0 {
            assert!(short < 100, "the follower never counted an expiry");
            let mut login = crate::engine::Login::user(format!("short{short}"));
            login.idle_timeout = Some(std::time::Duration::from_secs(60));
            engine.login(login).unwrap();
            engine.adjust_clock(|c| c.step(std::time::Duration::from_secs(61)));
            short += 1;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        // Every expiry made so far has been delivered by now.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let before = count().0;
        for i in 0..5_000 {
            engine
                .login(crate::engine::Login::user(format!("u{i}")))
                .unwrap();
        }
        engine.adjust_clock(|c| c.step(std::time::Duration::from_secs(16 * 60)));
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let text = loop {
            let (n, text) = count();
            if n >= before + 5_000 {
                assert_eq!(n, before + 5_000, "{text}");
                break text;
            }
            assert!(std::time::Instant::now() < give_up, "{text}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert!(
            text.contains("sessiontop_expiry_lateness_missed_total 0"),
            "{text}"
        );
        follower.abort();
        engine.shutdown();
    }

    #[tokio::test]
    async fn the_exposition_keeps_its_names() {
        let (metrics, engine) = metrics();
        metrics.count_request(None, &Method::POST, 404);
        metrics.lateness.observe(0.003);
        let text = metrics.render(Some(engine.stats()));
        for line in [
            "sessiontop_active_sessions 0",
            "sessiontop_peak_sessions 0",
            "sessiontop_logins_total 0",
            "sessiontop_touches_total 0",
            "sessiontop_renewals_total 0",
            "sessiontop_events_last_seq 0",
            "sessiontop_event_stream_clients 0",
            "sessiontop_store_up 1",
            "sessiontop_sessions_ended_total{reason=\"closing_time\"} 0",
            "# TYPE sessiontop_expiry_lateness_seconds histogram",
            "sessiontop_expiry_lateness_seconds_bucket{le=\"0.002\"} 0",
            "sessiontop_expiry_lateness_seconds_bucket{le=\"0.005\"} 1",
            "sessiontop_expiry_lateness_seconds_count 1",
            "sessiontop_expiry_lateness_missed_total 0",
            "sessiontop_http_requests_total{method=\"POST\",route=\"unmatched\",status=\"404\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        // A store that did not answer: said so, and its figures left out
        // rather than shown as zeros.
        let text = metrics.render(None);
        assert!(text.lines().any(|l| l == "sessiontop_store_up 0"), "{text}");
        assert!(!text.contains("sessiontop_active_sessions"), "{text}");
        assert!(text.contains("sessiontop_http_requests_total"), "{text}");
        engine.shutdown();
    }
}
