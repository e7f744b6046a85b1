//! `/metrics`: the server's figures in the Prometheus text format.
//!
//! Session counts come straight from the engine's counters at scrape time.
//! Two things the engine does not count are kept here: HTTP requests by
//! route and status (a middleware), and how late expiries fire (a task that
//! follows the event feed and reads `at - deadline` off each `expired` event).
//! The exposition format is small enough to write by hand.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ServerState;
use super::auth::AdminCaller;
use super::error::AdminAuthFailures;
use crate::engine::driver::Delivery;
use crate::engine::{EngineHandle, EventKind};

/// Upper bounds of the expiry lateness buckets, in milliseconds.
const LATENESS_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

/// Route pattern -> (method, status) -> requests.
type RequestCounts = HashMap<String, HashMap<(Method, u16), u64>>;

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<RequestCounts>,
    lateness: Lateness,
    /// Event stream clients connected now.
    pub stream_clients: AtomicU64,
}

#[derive(Default)]
struct Lateness {
    buckets: [AtomicU64; LATENESS_BUCKETS_MS.len()],
    count: AtomicU64,
    sum_ms: AtomicU64,
    /// Expiries the follower missed because it fell behind the feed.
    missed_feed: AtomicU64,
}

impl Lateness {
    fn observe(&self, ms: u64) {
        for (bucket, &bound) in self.buckets.iter().zip(&LATENESS_BUCKETS_MS) {
            if ms <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

impl Metrics {
    fn count_request(&self, route: &str, method: &Method, status: u16) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !requests.contains_key(route) {
            requests.insert(route.to_owned(), HashMap::new());
        }
        if let Some(by_status) = requests.get_mut(route) {
            *by_status.entry((method.clone(), status)).or_default() += 1;
        }
    }

    /// The whole exposition, at this instant.
    pub fn render(&self, engine: &EngineHandle) -> String {
        let stats = engine.stats();
        let t = &stats.totals;
        let mut out = String::with_capacity(4096);
        // Written as plain lines so the order is fixed and easy to read.
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        let simple = [
            (
                "sessiontop_active_sessions",
                "gauge",
                "Sessions alive now.",
                stats.active,
            ),
            (
                "sessiontop_peak_sessions",
                "gauge",
                "Most sessions alive at once since the server started.",
                stats.peak,
            ),
            (
                "sessiontop_logins_total",
                "counter",
                "Sessions started.",
                t.logins,
            ),
            (
                "sessiontop_touches_total",
                "counter",
                "Touches, including those whose event was coalesced.",
                t.touches,
            ),
            (
                "sessiontop_renewals_total",
                "counter",
                "Token renewals.",
                t.renewals,
            ),
            (
                "sessiontop_events_last_seq",
                "counter",
                "Sequence number of the newest event.",
                stats.last_seq,
            ),
            (
                "sessiontop_event_stream_clients",
                "gauge",
                "Clients connected to /v1/admin/events.",
                self.stream_clients.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in simple {
            line(header(name, kind, help));
            line(format!("{name} {value}"));
        }
        line(header(
            "sessiontop_sessions_ended_total",
            "counter",
            "Sessions ended, by how they ended.",
        ));
        for (reason, n) in [
            ("logged_out", t.logged_out),
            ("revoked", t.revoked),
            ("idle", t.expired_idle),
            ("absolute", t.expired_absolute),
            ("closing_time", t.expired_closing_time),
        ] {
            line(format!(
                "sessiontop_sessions_ended_total{{reason=\"{reason}\"}} {n}"
            ));
        }

        let lateness = &self.lateness;
        line(header(
            "sessiontop_expiry_lateness_seconds",
            "histogram",
            "How long after its deadline the engine ended an expired session.",
        ));
        for (bucket, &bound) in lateness.buckets.iter().zip(&LATENESS_BUCKETS_MS) {
            line(format!(
                "sessiontop_expiry_lateness_seconds_bucket{{le=\"{}\"}} {}",
                bound as f64 / 1000.0,
                bucket.load(Ordering::Relaxed)
            ));
        }
        let count = lateness.count.load(Ordering::Relaxed);
        line(format!(
            "sessiontop_expiry_lateness_seconds_bucket{{le=\"+Inf\"}} {count}"
        ));
        line(format!(
            "sessiontop_expiry_lateness_seconds_sum {}",
            lateness.sum_ms.load(Ordering::Relaxed) as f64 / 1000.0
        ));
        line(format!("sessiontop_expiry_lateness_seconds_count {count}"));
        line(header(
            "sessiontop_expiry_lateness_missed_total",
            "counter",
            "Times the lateness follower fell behind the event feed and skipped expiries.",
        ));
        line(format!(
            "sessiontop_expiry_lateness_missed_total {}",
            lateness.missed_feed.load(Ordering::Relaxed)
        ));

        line(header(
            "sessiontop_http_requests_total",
            "counter",
            "HTTP requests, by route and status.",
        ));
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut rows: Vec<(&String, &(Method, u16), &u64)> = requests
            .iter()
            .flat_map(|(route, by)| by.iter().map(move |(key, n)| (route, key, n)))
            .collect();
        rows.sort_by(|a, b| (a.0, a.1.0.as_str(), a.1.1).cmp(&(b.0, b.1.0.as_str(), b.1.1)));
        for (route, (method, status), n) in rows {
            line(format!(
                "sessiontop_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape_label(route)
            ));
        }
        out
    }
}

fn header(name: &str, kind: &str, help: &str) -> String {
    format!("# HELP {name} {help}\n# TYPE {name} {kind}")
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Follows the engine's events and records the lateness of each expiry.
pub async fn follow_expiries(engine: EngineHandle, metrics: Arc<Metrics>) {
    let Ok(mut feed) = engine.subscribe_after(engine.stats().last_seq) else {
        return;
    };
    while let Some(delivery) = feed.next().await {
        match delivery {
            Delivery::Event(event) if event.kind == EventKind::Expired => {
                if let Some(ms) = event.lateness_ms() {
                    metrics.lateness.observe(ms.max(0) as u64);
                }
            }
            Delivery::Event(_) => {}
            Delivery::Resync => {
                metrics.lateness.missed_feed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Counts every request by its route pattern (never the raw path, which may
/// hold a user name) and status, and logs it at debug level.
pub async fn count_requests(
    State(state): State<Arc<ServerState>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_deref().unwrap_or("unmatched");
    state.metrics.count_request(route, &method, status);
    tracing::debug!(
        %method,
        route,
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
pub async fn metrics(_: AdminCaller, State(state): State<Arc<ServerState>>) -> Response {
    let body = state.metrics.render(state.store.engine());
    let mut response = body.into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
