//! Following the event stream: resume where the mirror is, reconnect with
//! backoff when the link drops, reload the snapshot on `resync`.
//!
//! A reconnect sends `Last-Event-ID`, so the server replays what was missed.
//! When it cannot (history too old, a slow client, a restarted server), it
//! says `resync` and the follower loads a fresh snapshot; if the snapshot is
//! of another server run, the dashboard is told the server restarted. A 401 while
//! reconnecting reads the token file again, so a rotated token is picked up.

use std::sync::Arc;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::super::{ConnectionState, SourceError, SourceUpdate};
use super::{Shared, snapshot};
use crate::api::{self, EventId};
use crate::engine::Event;

/// Reconnect backoff: first wait and ceiling.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Where the mirror is: the server instance and the last event applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    pub instance: String,
    pub seq: u64,
}

impl Resume {
    fn last_event_id(&self) -> String {
        EventId::new(&self.instance, self.seq).to_string()
    }
}

/// What one SSE message means to the mirror.
#[derive(Debug, PartialEq)]
enum Message {
    Event(Box<Event>),
    Resync,
    /// Already applied (at or before the resume point), or not ours.
    Skip,
}

fn interpret(kind: &str, id: &str, data: &str, resume: &Resume) -> Result<Message, String> {
    if kind == "resync" {
        return Ok(Message::Resync);
    }
    let event: api::Event =
        serde_json::from_str(data).map_err(|e| format!("unreadable event {id:?}: {e}"))?;
    if EventId::parse(id).is_some_and(|id| id.instance != resume.instance) {
        // An event of another server run can only be applied after a new snapshot.
        return Ok(Message::Resync);
    }
    if event.seq <= resume.seq {
        return Ok(Message::Skip);
    }
    Ok(Message::Event(Box::new(event.into())))
}

/// The wait before reconnect attempt `attempt` (0-based): doubling, capped, with ±25 % jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    let jitter = rand::random_range(0.75..1.25);
    base.mul_f64(jitter)
}

/// Follows the event stream until the dashboard stops listening, reconnecting as needed.
pub async fn follow(shared: Arc<Shared>, mut resume: Resume, updates: mpsc::Sender<SourceUpdate>) {
    let mut attempt = 0u32;
    // The snapshot just read the stats; after a lost link, the node may be another.
    let mut reattached = false;
    loop {
        let outcome = stream_once(&shared, &mut resume, &updates, &mut attempt, reattached).await;
        reattached = true;
        let reason = match outcome {
            Ok(StreamEnd::DashboardGone) => return,
            // A fresh snapshot was loaded: follow on from it at once.
            Ok(StreamEnd::Reloaded) => {
                reattached = false;
                continue;
            }
            Ok(StreamEnd::Closed) => "the server closed the event stream".to_owned(),
            Err(SourceError::Unauthorized(text)) if shared.http.reread_token() => {
                tracing::info!("the server refused the token; the token file holds a new one");
                format!("{text}; the token file holds a new token, trying it")
            }
            Err(e) => e.to_string(),
        };
        let wait = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let state = ConnectionState::Reconnecting {
            retry_in_ms: wait.as_millis() as u64,
            reason,
        };
        if updates.send(SourceUpdate::Connection(state)).await.is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

/// Reads the node's stats again; a pooled connection to a node that went
/// away may fail the first ask, and the second goes over a fresh one.
async fn refresh_node(shared: &Shared) -> Result<bool, SourceError> {
    match snapshot::refresh_node(shared).await {
        Err(SourceError::Connection(e)) => {
            tracing::debug!("asking which node answers again: {e}");
            snapshot::refresh_node(shared).await
        }
        other => other,
    }
}

enum StreamEnd {
    DashboardGone,
    Closed,
    Reloaded,
}

async fn stream_once(
    shared: &Shared,
    resume: &mut Resume,
    updates: &mpsc::Sender<SourceUpdate>,
    attempt: &mut u32,
    reattached: bool,
) -> Result<StreamEnd, SourceError> {
    let request = shared
        .http
        .stream_request("/v1/admin/events")
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", resume.last_event_id());
    let response = shared.http.send(request).await?;
    *attempt = 0;
    if updates
        .send(SourceUpdate::Connection(ConnectionState::Connected))
        .await
        .is_err()
    {
        return Ok(StreamEnd::DashboardGone);
    }
    // The stream names the node that serves it, which a stats call behind a
    // load balancer may not have reached.
    let streaming_node = response
        .headers()
        .get(crate::api::stream::NODE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // After a lost link, or when the stream comes from a node other than the
    // snapshot's (the snapshot's node may have stopped before the stream was
    // asked for), the node may run another policy or version: ask it.
    let another_node = streaming_node
        .as_deref()
        .is_some_and(|node| node != shared.facts().node);
    let mut changed = false;
    if reattached || another_node {
        changed = match refresh_node(shared).await {
            Ok(changed) => changed,
            // The stream is up; the header keeps the policy it knew.
            Err(e) => {
                tracing::warn!("cannot read which node answers: {e}");
                false
            }
        };
    }
    if let Some(node) = streaming_node {
        changed |= snapshot::set_node(shared, &node);
    }
    if changed {
        tracing::info!(node = %shared.facts().node, "attached to another server node, or its policy changed");
        if updates
            .send(SourceUpdate::Info(shared.info()))
            .await
            .is_err()
        {
            return Ok(StreamEnd::DashboardGone);
        }
    }
    let mut messages = response.bytes_stream().eventsource();
    while let Some(message) = messages.next().await {
        let message =
            message.map_err(|e| SourceError::Connection(format!("event stream broke: {e}")))?;
        let interpreted = interpret(&message.event, &message.id, &message.data, resume)
            .unwrap_or_else(|reason| {
                // Skipping it would leave a silent gap: reload instead.
                tracing::warn!(%reason, "an event the dashboard cannot read; reloading");
                Message::Resync
            });
        let update = match interpreted {
            Message::Event(event) => {
                resume.seq = event.seq;
                SourceUpdate::Event(*event)
            }
            Message::Skip => continue,
            Message::Resync => {
                // Drop this stream first: while the snapshot loads in pages it
                // would fall behind on the server and only earn another resync.
                drop(messages);
                let snapshot = snapshot::load(shared).await?;
                let instance = shared.facts().instance;
                let restarted = instance != resume.instance;
                *resume = Resume {
                    instance,
                    seq: snapshot.seq,
                };
                let update = if restarted {
                    tracing::info!("the server restarted; reloaded its sessions");
                    SourceUpdate::Restarted(snapshot)
                } else {
                    SourceUpdate::Resync(snapshot)
                };
                if updates.send(update).await.is_err() {
                    return Ok(StreamEnd::DashboardGone);
                }
                return Ok(StreamEnd::Reloaded);
            }
        };
        if updates.send(update).await.is_err() {
            return Ok(StreamEnd::DashboardGone);
        }
    }
    Ok(StreamEnd::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume() -> Resume {
        Resume {
            instance: "abc123".into(),
            seq: 10,
        }
    }

    fn event_json(seq: u64) -> String {
        format!(
            r#"{{"seq":{seq},"at":"2027-01-15T08:00:00.000Z","kind":"created","session":{{"handle":"00000000000000aa","user":"u","attributes":{{}},"created_at":"2027-01-15T08:00:00.000Z","last_seen_at":"2027-01-15T08:00:00.000Z","idle_expires_at":"2027-01-15T08:15:00.000Z","absolute_expires_at":"2027-01-15T16:00:00.000Z","expires_at":"2027-01-15T08:15:00.000Z","idle_timeout_ms":900000,"state":"active"}}}}"#
        )
    }

    #[test]
    fn events_after_the_resume_point_apply_and_earlier_ones_are_skipped() {
        let new = interpret("created", "abc123-11", &event_json(11), &resume()).unwrap();
        assert!(matches!(new, Message::Event(e) if e.seq == 11));
        let old = interpret("created", "abc123-10", &event_json(10), &resume()).unwrap();
        assert_eq!(old, Message::Skip);
    }

    #[test]
    fn another_instance_or_a_resync_event_means_reload() {
        assert_eq!(
            interpret("resync", "", "", &resume()).unwrap(),
            Message::Resync
        );
        let other = interpret("created", "ffff00-11", &event_json(11), &resume()).unwrap();
        assert_eq!(other, Message::Resync);
    }

    #[test]
    fn an_unreadable_event_is_an_error_not_a_panic() {
        assert!(interpret("created", "abc123-11", "{nope", &resume()).is_err());
    }

    #[test]
    fn resuming_sends_the_event_id_of_the_last_event_applied() {
        assert_eq!(resume().last_event_id(), "abc123-10");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_ceiling() {
        for attempt in 0..40 {
            let wait = backoff(attempt);
            let base = BACKOFF_START
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(wait >= base.mul_f64(0.75) && wait <= base.mul_f64(1.25));
        }
        assert!(backoff(30) <= BACKOFF_MAX.mul_f64(1.25));
    }
}
