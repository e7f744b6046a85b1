//! The live event stream, `GET /v1/admin/events`, as server-sent events.
//!
//! Each engine event goes out as `id: <instance>-<seq>`, `event: <kind>`,
//! `data: <event json>`. A client that reconnects with `Last-Event-ID` gets
//! every event after it from the engine's history ring; if the ring no longer
//! holds them (`too_old`), the id names another server run (`other_instance`)
//! or a seq this run has not reached (`ahead`), or is no event id at all
//! (`invalid_id`), it gets one `resync` and then
//! the live stream. A client too slow to keep up falls behind on its own
//! subscription and gets `resync` too: the engine never waits for it,
//! and neither does any other client. Streams end cleanly on shutdown.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::ServerState;
use super::auth::AdminCaller;
use super::error::AdminAuthFailures;
use crate::api::ApiError;
use crate::api::{self, EventId, Resync, ResyncReason};
use crate::engine::driver::Delivery;
use crate::engine::{Event, Subscription};

/// A chunk is sent once it holds this many bytes, or when no more events
/// are waiting. Writing every waiting event in one chunk keeps the cost per
/// event low when many arrive at once.
const CHUNK_BYTES: usize = 64 * 1024;

enum Outgoing {
    Event(Arc<Event>),
    /// With the seq the stream carries on from, for the resync's id.
    Resync(ResyncReason, u64),
}

/// One client's stream: what is queued for it, then the live subscription.
struct Feed {
    state: Arc<ServerState>,
    instance: Arc<str>,
    queued: VecDeque<Outgoing>,
    /// The seq of the newest event queued: where a catch-up resumes from.
    last_queued: u64,
    subscription: Subscription,
    shutdown: watch::Receiver<bool>,
    /// The SHA-256 of the admin token the stream was opened with: the
    /// stream ends once the token files no longer hold it.
    caller: [u8; 32],
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
    /// An id of another server run.
    Foreign,
    /// Not an event id at all.
    Invalid,
}

fn parse_last_event_id(header: Option<&str>, instance: &str) -> Resume {
    let Some(id) = header.map(str::trim).filter(|id| !id.is_empty()) else {
        return Resume::Live;
    };
    match EventId::parse(id) {
        Some(id) if id.instance == instance => Resume::After(id.seq),
        Some(_) => Resume::Foreign,
        None => Resume::Invalid,
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
        (status = 200, description = "`text/event-stream`. Each event: `id: <instance>-<seq>`, `event: <kind>` (created, touched, renewed, logged_out, revoked, expired), `data:` an Event as JSON. `event: resync` (data: Resync) means events were missed: reload the sessions and stats. A comment line is sent every keep-alive interval. The `Sessiontop-Node` response header names the node serving the stream.",
            content_type = "text/event-stream", body = api::Event),
        AdminAuthFailures,
    )
)]
pub async fn stream(
    AdminCaller(caller): AdminCaller,
    State(state): State<Arc<ServerState>>,
    headers: HeaderMap,
    _: super::error::NoBody,
) -> Result<Response, ApiError> {
    let store = &state.store;
    // An id that is present but unreadable is not "no id": it gets a resync.
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("unreadable"));
    let mut queued = VecDeque::new();
    let (live, newest) = store.subscribe_live().await?;
    let resync = |reason| Outgoing::Resync(reason, newest);
    let (mut subscription, mut last_queued) =
        match parse_last_event_id(last_event_id, &store.instance()) {
            Resume::Live => (live, newest),
            // On a shared store, a seq beyond this node's newest may come from
            // a node further ahead: the store decides whether it is one it gave.
            Resume::After(seq) => match store.subscribe_after(seq).await? {
                Ok(subscription) => (subscription, seq),
                Err(_) if seq > newest => {
                    // Not an id this store gave yet: the client's view is of something else.
                    queued.push_back(resync(ResyncReason::Ahead));
                    (live, newest)
                }
                Err(_) => {
                    queued.push_back(resync(ResyncReason::TooOld));
                    (live, newest)
                }
            },
            Resume::Foreign => {
                queued.push_back(resync(ResyncReason::OtherInstance));
                (live, newest)
            }
            Resume::Invalid => {
                queued.push_back(resync(ResyncReason::InvalidId));
                (live, newest)
            }
        };
    for event in std::mem::take(&mut subscription.backlog) {
        last_queued = event.seq;
        queued.push_back(Outgoing::Event(Arc::new(event)));
    }
    state.metrics.stream_clients.fetch_add(1, Ordering::Relaxed);
    let feed = Feed {
        shutdown: state.shutdown.clone(),
        instance: store.instance().into(),
        state: state.clone(),
        queued,
        last_queued,
        subscription,
        caller,
    };
    // A comment first, so the response head goes out now rather than with the
    // first event: clients (and EventSource's `open`) know they are connected.
    let hello = futures_util::stream::once(async { Ok(Bytes::from_static(b": connected\n\n")) });
    let body = Body::from_stream(hello.chain(futures_util::stream::unfold(feed, next_chunk)));
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Which node serves this stream: behind a load balancer, the dashboard
    // names the node it is really attached to, not the one a stats call hit.
    if let Ok(node) = HeaderValue::from_str(store.node()) {
        headers.insert(api::stream::NODE_HEADER, node);
    }
    Ok(response)
}

/// The next piece of the stream: every event already waiting (up to
/// `CHUNK_BYTES`), else the next one to arrive, else a keep-alive comment.
/// `None` ends the stream: on shutdown, or when the engine is gone.
async fn next_chunk(mut feed: Feed) -> Option<(Result<Bytes, Infallible>, Feed)> {
    if *feed.shutdown.borrow() {
        return None;
    }
    let mut chunk = Vec::with_capacity(1024);
    if !feed.written().await {
        return None;
    }
    feed.write_queued(&mut chunk);
    if chunk.is_empty() {
        let mut shutdown = feed.shutdown.clone();
        let keep_alive = feed.state.keep_alive;
        let revoked = super::auth::until_admin_token_leaves(feed.state.tokens.clone(), feed.caller);
        let delivery = tokio::select! {
            biased;
            _ = shutdown.wait_for(|&stop| stop) => return None,
            () = revoked => return None,
            delivery = tokio::time::timeout(keep_alive, feed.subscription.next()) => delivery,
        };
        match delivery {
            Err(_) => chunk.extend_from_slice(b":\n\n"),
            Ok(None) => return None,
            Ok(Some(delivery)) => feed.take(delivery).await,
        }
        while feed.queued.len() < 1024 {
            let Some(delivery) = feed.subscription.try_next() else {
                break;
            };
            feed.take(delivery).await;
        }
        if !feed.written().await {
            return None;
        }
        feed.write_queued(&mut chunk);
    }
    Some((Ok(Bytes::from(chunk)), feed))
}

impl Feed {
    /// Waits until the store holds every event queued (a file store sends
    /// none before its writer committed it: after a crash, no id a client
    /// saw is given to another event). False on shutdown.
    async fn written(&self) -> bool {
        if !self.queued.iter().any(|o| matches!(o, Outgoing::Event(_))) {
            return true;
        }
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            biased;
            _ = shutdown.wait_for(|&stop| stop) => false,
            () = self.state.store.written(self.last_queued) => true,
        }
    }

    /// Queues what the subscription delivered. A client that fell behind its
    /// live feed catches up from the store's history (the engine's ring, or a
    /// durable store's file) and gets `resync` only when that no longer holds
    /// what it missed.
    async fn take(&mut self, delivery: Delivery) {
        let event = match delivery {
            Delivery::Event(event) => event,
            Delivery::Resync => {
                let store = &self.state.store;
                match store.subscribe_after(self.last_queued).await {
                    Ok(Ok(mut subscription)) => {
                        for event in std::mem::take(&mut subscription.backlog) {
                            self.push(Arc::new(event));
                        }
                        self.subscription = subscription;
                    }
                    _ => match store.subscribe_live().await {
                        Ok((subscription, newest)) => {
                            self.queued
                                .push_back(Outgoing::Resync(ResyncReason::Lagged, newest));
                            self.subscription = subscription;
                            self.last_queued = newest;
                        }
                        // The store is gone for now: end the stream; the client reconnects.
                        Err(_) => self.shutdown = watch::channel(true).1,
                    },
                }
                return;
            }
        };
        self.push(event);
    }

    fn push(&mut self, event: Arc<Event>) {
        // A catch-up can overlap what was queued already: never send an event twice.
        if event.seq > self.last_queued {
            self.last_queued = event.seq;
            self.queued.push_back(Outgoing::Event(event));
        }
    }

    /// Writes queued events into `chunk`, up to `CHUNK_BYTES`.
    fn write_queued(&mut self, chunk: &mut Vec<u8>) {
        while chunk.len() < CHUNK_BYTES {
            let Some(outgoing) = self.queued.pop_front() else {
                break;
            };
            write_sse(chunk, &self.state.frames, &self.instance, &outgoing);
        }
    }
}

/// Appends one server-sent event.
fn write_sse(out: &mut Vec<u8>, frames: &FrameCache, instance: &str, outgoing: &Outgoing) {
    match outgoing {
        Outgoing::Event(event) => out.extend_from_slice(&frames.frame(instance, event)),
        Outgoing::Resync(reason, seq) => {
            // An id, so a client that reconnects on its own after reloading
            // resumes from here instead of asking for the lost events again.
            let _ = write!(
                out,
                "id: {}\nevent: resync\ndata: ",
                EventId::new(instance, *seq)
            );
            // Writing to a Vec cannot fail, and a Resync always serializes.
            let _ = serde_json::to_writer(
                &mut *out,
                &Resync {
                    reason: *reason,
                    instance: instance.to_owned(),
                },
            );
            out.extend_from_slice(b"\n\n");
        }
    }
}

/// One event as a complete SSE frame. The JSON is compact, so it holds no
/// line break and fits on one `data:` line.
fn render_event(instance: &str, event: &Event) -> Bytes {
    use std::io::Write as _;
    let mut out = Vec::with_capacity(512);
    // Writing to a Vec cannot fail, and an Event always serializes.
    let _ = write!(
        out,
        "id: {}\nevent: {}\ndata: ",
        EventId::new(instance, event.seq),
        event.kind.as_str()
    );
    let _ = serde_json::to_writer(&mut out, &api::Event::from(event));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The newest events as rendered frames, shared by every stream client, so
/// an event is serialized once however many clients follow the stream.
/// Holds a run of consecutive sequence numbers; anything else is rendered
/// on the spot (a resuming client's backlog, for example).
pub struct FrameCache {
    ring: Mutex<VecDeque<(u64, Bytes)>>,
    capacity: usize,
}

impl FrameCache {
    pub fn new(capacity: usize) -> Self {
        FrameCache {
            ring: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity: capacity.max(1),
        }
    }

    fn frame(&self, instance: &str, event: &Event) -> Bytes {
        let seq = event.seq;
        {
            let mut ring = self.lock();
            if let Some(&(front, _)) = ring.front()
                && let Some((cached, frame)) = seq
                    .checked_sub(front)
                    .and_then(|i| ring.get(usize::try_from(i).ok()?))
                && *cached == seq
            {
                if names(frame, instance) {
                    return frame.clone();
                }
                // The store started a new history (a shared store that lost
                // its data): its seqs count again, so the old run is stale.
                ring.clear();
            }
        }
        let frame = render_event(instance, event);
        let mut ring = self.lock();
        match ring.back() {
            Some(&(back, _)) if seq == back + 1 => {}
            Some(&(back, _)) if seq <= back => return frame,
            // Empty, or a gap: start a new run here.
            _ => ring.clear(),
        }
        if ring.len() == self.capacity {
            ring.pop_front();
        }
        ring.push_back((seq, frame.clone()));
        frame
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, Bytes)>> {
        self.ring
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether `frame` is an event of `instance` (it starts `id: <instance>-`).
fn names(frame: &[u8], instance: &str) -> bool {
    frame
        .strip_prefix(b"id: ")
        .and_then(|rest| rest.strip_prefix(instance.as_bytes()))
        .is_some_and(|rest| rest.starts_with(b"-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resync_is_an_event_named_resync_with_json_data() {
        let mut out = Vec::new();
        let frames = FrameCache::new(4);
        write_sse(
            &mut out,
            &frames,
            "abc",
            &Outgoing::Resync(ResyncReason::TooOld, 7),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "id: abc-7\nevent: resync\ndata: {\"reason\":\"too_old\",\"instance\":\"abc\"}\n\n"
        );
    }

    fn event(seq: u64) -> Event {
        let json = format!(
            r#"{{"seq":{seq},"at":"2026-01-01T00:00:00.000Z","kind":"created","session":{{"handle":"0000000000000001","user":"u","attributes":{{}},"created_at":"2026-01-01T00:00:00.000Z","last_seen_at":"2026-01-01T00:00:00.000Z","idle_expires_at":"2026-01-01T00:15:00.000Z","absolute_expires_at":"2026-01-01T08:00:00.000Z","expires_at":"2026-01-01T00:15:00.000Z","idle_timeout_ms":900000,"state":"active"}}}}"#
        );
        serde_json::from_str::<api::Event>(&json).unwrap().into()
    }

    #[test]
    fn an_event_frame_is_id_event_and_one_data_line() {
        let frame = render_event("abc", &event(7));
        let text = std::str::from_utf8(&frame).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "id: abc-7");
        assert_eq!(lines[1], "event: created");
        assert!(lines[2].starts_with("data: {\"seq\":7,"));
        assert_eq!(&lines[3..], ["", ""]);
    }

    #[test]
    fn the_frame_cache_serves_consecutive_events_and_renders_the_rest() {
        let frames = FrameCache::new(2);
        for seq in [1, 2, 3] {
            let first = frames.frame("abc", &event(seq));
            let again = frames.frame("abc", &event(seq));
            assert_eq!(first, again);
            assert_eq!(
                first.as_ptr(),
                again.as_ptr(),
                "seq {seq} came from the cache"
            );
        }
        // Evicted, and a gap: both still render correctly.
        assert_eq!(
            frames.frame("abc", &event(1)),
            render_event("abc", &event(1))
        );
        assert_eq!(
            frames.frame("abc", &event(9)),
            render_event("abc", &event(9))
        );
        let nine = frames.frame("abc", &event(9));
        assert_eq!(nine.as_ptr(), frames.frame("abc", &event(9)).as_ptr());
    }
    #[test]
    fn a_cached_frame_of_another_instance_is_never_sent() {
        let frames = FrameCache::new(4);
        let old = frames.frame("old", &event(1));
        assert!(old.starts_with(b"id: old-1\n"));
        // The same seq in a new history (a store that lost its data).
        let new = frames.frame("new", &event(1));
        assert!(new.starts_with(b"id: new-1\n"), "{new:?}");
        assert!(frames.frame("new", &event(1)).starts_with(b"id: new-1\n"));
        assert!(!names(b"id: newer-1\n", "new"));
    }
}
