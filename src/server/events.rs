//! The live event stream, `GET /v1/admin/events`, as server-sent events.
//!
//! Each engine event goes out as `id: <instance>-<seq>`, `event: <kind>`,
//! `data: <event json>`. A client that reconnects with `Last-Event-ID` gets
//! every event after it from the engine's history ring; if the ring no longer
//! holds them, or the id names another server run, it gets one `resync` and
//! then the live stream. A client too slow to keep up falls behind on its own
//! broadcast receiver and gets `resync` too: the engine never waits for it,
//! and neither does any other client. Streams end cleanly on shutdown.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde::Serialize;
use tokio::sync::watch;

use super::ServerState;
use super::auth::AdminCaller;
use super::error::AdminAuthFailures;
use crate::engine::driver::Delivery;
use crate::engine::{EngineHandle, Event, Subscription};

/// A chunk is sent once it holds this many bytes, or when no more events
/// are waiting. Writing every waiting event in one chunk keeps the cost per
/// event low when many arrive at once.
const CHUNK_BYTES: usize = 64 * 1024;

/// Why a client must reload its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// `Last-Event-ID` is older than the history ring holds.
    TooOld,
    /// `Last-Event-ID` names another server run (or is not an id of this server).
    OtherInstance,
    /// The client read too slowly and missed events.
    Lagged,
}

/// The data of a `resync` event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Resync {
    pub reason: ResyncReason,
    pub instance: String,
}

enum Outgoing {
    Event(Event),
    Resync(ResyncReason),
}

/// One client's stream: what is queued for it, then the live subscription.
struct Feed {
    state: Arc<ServerState>,
    instance: Arc<str>,
    queued: VecDeque<Outgoing>,
    subscription: Subscription,
    shutdown: watch::Receiver<bool>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.state
            .metrics
            .stream_clients
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `Last-Event-ID` asks for.
#[derive(Debug, PartialEq, Eq)]
enum Resume {
    /// No header: live events from now on.
    Live,
    /// Events after this seq of this instance.
    After(u64),
    /// An id this server run never gave.
    Foreign,
}

fn parse_last_event_id(header: Option<&str>, instance: &str) -> Resume {
    let Some(id) = header.map(str::trim).filter(|id| !id.is_empty()) else {
        return Resume::Live;
    };
    match id.rsplit_once('-') {
        Some((prefix, seq)) if prefix == instance => {
            seq.parse().map(Resume::After).unwrap_or(Resume::Foreign)
        }
        _ => Resume::Foreign,
    }
}

/// A subscription that starts at the newest event. The ring holds at least
/// one event, so it can only be "too old" if the ring turned over between the
/// two calls; then try again.
fn subscribe_live(engine: &EngineHandle) -> Subscription {
    loop {
        if let Ok(subscription) = engine.subscribe_after(engine.stats().last_seq) {
            return subscription;
        }
    }
}

/// The engine's events, live, as server-sent events.
#[utoipa::path(
    get,
    path = "/v1/admin/events",
    tag = "admin",
    params(("Last-Event-ID" = Option<String>, Header,
        description = "Resume after this event id (`<instance>-<seq>`); without it, the stream starts with the next event")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "`text/event-stream`. Each event: `id: <instance>-<seq>`, `event: <kind>` (created, touched, renewed, logged_out, revoked, expired), `data:` an Event as JSON. `event: resync` (data: Resync) means events were missed: reload the sessions and stats. A comment line is sent every keep-alive interval.",
            content_type = "text/event-stream", body = Event),
        AdminAuthFailures,
    )
)]
pub async fn stream(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Response {
    let engine = &state.engine;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let mut queued = VecDeque::new();
    let mut subscription = match parse_last_event_id(last_event_id, engine.instance()) {
        Resume::Live => subscribe_live(engine),
        Resume::After(seq) => match engine.subscribe_after(seq) {
            Ok(subscription) => subscription,
            Err(_) => {
                queued.push_back(Outgoing::Resync(ResyncReason::TooOld));
                subscribe_live(engine)
            }
        },
        Resume::Foreign => {
            queued.push_back(Outgoing::Resync(ResyncReason::OtherInstance));
            subscribe_live(engine)
        }
    };
    queued.extend(
        std::mem::take(&mut subscription.backlog)
            .into_iter()
            .map(Outgoing::Event),
    );
    state.metrics.stream_clients.fetch_add(1, Ordering::Relaxed);
    let feed = Feed {
        shutdown: state.shutdown.clone(),
        instance: engine.instance().into(),
        state: state.clone(),
        queued,
        subscription,
    };
    let body = Body::from_stream(futures_util::stream::unfold(feed, next_chunk));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The next piece of the stream: every event already waiting (up to
/// `CHUNK_BYTES`), else the next one to arrive, else a keep-alive comment.
/// `None` ends the stream: on shutdown, or when the engine is gone.
async fn next_chunk(mut feed: Feed) -> Option<(Result<Bytes, Infallible>, Feed)> {
    if *feed.shutdown.borrow() {
        return None;
    }
    let mut chunk = Vec::with_capacity(1024);
    while chunk.len() < CHUNK_BYTES {
        let Some(outgoing) = feed.queued.pop_front() else {
            break;
        };
        write_sse(&mut chunk, &feed.instance, &outgoing);
    }
    if chunk.is_empty() {
        let mut shutdown = feed.shutdown.clone();
        let keep_alive = feed.state.keep_alive;
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|&stop| stop) => return None,
            delivery = tokio::time::timeout(keep_alive, feed.subscription.next()) => match delivery {
                Err(_) => chunk.extend_from_slice(b":\n\n"),
                Ok(None) => return None,
                Ok(Some(delivery)) => write_sse(&mut chunk, &feed.instance, &delivery.into()),
            },
        }
        while chunk.len() < CHUNK_BYTES {
            let Some(delivery) = feed.subscription.try_next() else {
                break;
            };
            write_sse(&mut chunk, &feed.instance, &delivery.into());
        }
    }
    Some((Ok(Bytes::from(chunk)), feed))
}

impl From<Delivery> for Outgoing {
    fn from(delivery: Delivery) -> Self {
        match delivery {
            Delivery::Event(event) => Outgoing::Event(event),
            Delivery::Resync => Outgoing::Resync(ResyncReason::Lagged),
        }
    }
}

/// Appends one server-sent event. The JSON is compact, so it holds no line
/// break and fits on one `data:` line.
fn write_sse(out: &mut Vec<u8>, instance: &str, outgoing: &Outgoing) {
    use std::io::Write as _;
    // Writing to a Vec cannot fail, and both types always serialize.
    match outgoing {
        Outgoing::Event(event) => {
            let _ = write!(
                out,
                "id: {instance}-{}\nevent: {}\ndata: ",
                event.seq,
                event.kind.as_str()
            );
            let _ = serde_json::to_writer(&mut *out, event);
        }
        Outgoing::Resync(reason) => {
            out.extend_from_slice(b"event: resync\ndata: ");
            let _ = serde_json::to_writer(
                &mut *out,
                &Resync {
                    reason: *reason,
                    instance: instance.to_owned(),
                },
            );
        }
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resync_is_an_event_named_resync_with_json_data() {
        let mut out = Vec::new();
        write_sse(&mut out, "abc", &Outgoing::Resync(ResyncReason::TooOld));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: resync\ndata: {\"reason\":\"too_old\",\"instance\":\"abc\"}\n\n"
        );
    }

    #[test]
    fn last_event_id_is_instance_dash_seq() {
        assert_eq!(parse_last_event_id(None, "abc"), Resume::Live);
        assert_eq!(parse_last_event_id(Some(""), "abc"), Resume::Live);
        assert_eq!(
            parse_last_event_id(Some("abc-42"), "abc"),
            Resume::After(42)
        );
        assert_eq!(parse_last_event_id(Some("xyz-42"), "abc"), Resume::Foreign);
        assert_eq!(parse_last_event_id(Some("abc-x"), "abc"), Resume::Foreign);
        assert_eq!(parse_last_event_id(Some("42"), "abc"), Resume::Foreign);
    }
}
