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

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::watch;

use super::ServerState;
use super::auth::AdminCaller;
use super::error::ErrorBody;
use crate::engine::driver::Delivery;
use crate::engine::{EngineHandle, Event, Subscription};

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
        (status = 401, description = "Missing or wrong API token", body = ErrorBody),
        (status = 403, description = "The app token cannot use admin routes", body = ErrorBody),
    )
)]
pub async fn stream(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let engine = &state.engine;
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let mut queued = VecDeque::new();
    let subscription = match parse_last_event_id(last_event_id, engine.instance()) {
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
    let mut subscription = subscription;
    queued.extend(
        std::mem::take(&mut subscription.backlog)
            .into_iter()
            .map(Outgoing::Event),
    );
    state.metrics.stream_clients.fetch_add(1, Ordering::Relaxed);
    let feed = Feed {
        shutdown: state.shutdown.clone(),
        state: state.clone(),
        queued,
        subscription,
    };
    let keep_alive = KeepAlive::new().interval(state.keep_alive);
    Sse::new(futures_util::stream::unfold(feed, next_event)).keep_alive(keep_alive)
}

async fn next_event(mut feed: Feed) -> Option<(Result<SseEvent, Infallible>, Feed)> {
    if *feed.shutdown.borrow() {
        return None;
    }
    let outgoing = match feed.queued.pop_front() {
        Some(outgoing) => outgoing,
        None => {
            let mut shutdown = feed.shutdown.clone();
            tokio::select! {
                biased;
                _ = shutdown.wait_for(|&stop| stop) => return None,
                delivery = feed.subscription.next() => match delivery? {
                    Delivery::Event(event) => Outgoing::Event(event),
                    Delivery::Resync => Outgoing::Resync(ResyncReason::Lagged),
                },
            }
        }
    };
    let sse = render(&feed.state.engine, outgoing);
    Some((Ok(sse), feed))
}

fn render(engine: &EngineHandle, outgoing: Outgoing) -> SseEvent {
    match outgoing {
        Outgoing::Event(event) => SseEvent::default()
            .id(format!("{}-{}", engine.instance(), event.seq))
            .event(event.kind.as_str())
            .data(serde_json::to_string(&event).expect("an event always serializes")),
        Outgoing::Resync(reason) => SseEvent::default().event("resync").data(
            serde_json::to_string(&Resync {
                reason,
                instance: engine.instance().to_owned(),
            })
            .expect("a resync always serializes"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
