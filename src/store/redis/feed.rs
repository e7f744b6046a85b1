//! This node's view of the event stream: one task tails the Redis Stream
//! with `XREAD BLOCK` and fans each event out to local subscribers through a
//! broadcast channel, so a thousand dashboards cost Redis one reader.
//!
//! Stream ids are `<seq>-0`, so a subscriber resumes on any node from the seq
//! another node gave it. A subscription is exact: under one lock it takes the
//! last seq published here and a receiver for what follows, and reads the
//! backlog up to that seq from the stream. When Redis cannot be read, or the
//! stream skips ahead of this node, every subscription here is closed: its
//! client reconnects and resumes, or is told to resync.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{broadcast, watch};

use super::{OP_TIMEOUT, Shared, wire};
use crate::engine::{Event, EventKind, Subscription, TooOld};
use crate::store::StoreError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Events a subscriber may fall behind by before it is told to resync.
const SUBSCRIBER_BUFFER: usize = 65_536;
/// How long one `XREAD` waits for new entries.
const BLOCK: Duration = Duration::from_millis(1000);
/// Entries the tail reads from the stream per call. An entry holds one
/// script call's events: one for most, a few for gathered touches, up to
/// a thousand or two for a claim or a revoke of many sessions.
const BATCH: usize = 128;
/// Entries a resume reads per call: mostly single events, and every call
/// may take up to `OP_TIMEOUT` when Redis is slow, so fewer, bigger calls.
const RANGE_BATCH: usize = 1024;
/// Events the tail publishes before it lets other tasks (the subscribers)
/// run: one read may bring more events than a subscriber's buffer holds.
const PUBLISH_RUN: usize = 1024;
/// How long the reader waits after a read that found fewer than `BATCH`
/// new entries while events keep coming. Each `XREAD` costs Redis's one
/// thread about as much as a few entries do, so reading every entry the
/// moment it lands spends more of Redis on the readers than on the writes;
/// a millisecond's wait lets a busy stream's next read take them together.
/// A quiet stream is read the moment an event lands (the read blocks).
const GATHER: Duration = Duration::from_millis(1);
/// How long reading may keep failing before local subscriptions are closed:
/// a slow answer is retried from the same id and loses nothing, while an
/// outage closes them so their clients resume (or resync) later. A read that
/// has not answered `OUTAGE` after its block ended counts as an outage too:
/// a stalled Redis (a frozen host, a network that drops packets) never
/// answers with an error.
const OUTAGE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    TooOld(#[from] TooOld),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(super) struct Feed {
    sender: Mutex<broadcast::Sender<Arc<Event>>>,
    /// False while the stream cannot be read: no subscription is taken then,
    /// so a client is told the store is unavailable instead of waiting on a
    /// feed that says nothing.
    readable: AtomicBool,
    /// The last seq sent to local subscribers.
    published: watch::Sender<u64>,
}

impl Feed {
    pub fn new(seq: u64) -> Self {
        Feed {
            sender: Mutex::new(broadcast::channel(SUBSCRIBER_BUFFER).0),
            readable: AtomicBool::new(true),
            published: watch::Sender::new(seq),
        }
    }

    fn sender(&self) -> std::sync::MutexGuard<'_, broadcast::Sender<Arc<Event>>> {
        self.sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every local subscription and takes no more until the stream reads again.
    fn outage(&self) {
        self.readable.store(false, Ordering::SeqCst);
        self.close();
    }

    /// A receiver of what follows and the last seq published, unless the
    /// stream cannot be read now.
    fn subscribe(&self) -> Result<(broadcast::Receiver<Arc<Event>>, u64), StoreError> {
        let sender = self.sender();
        if !self.readable.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable(
                "the event stream cannot be read from Redis".into(),
            ));
        }
        Ok((sender.subscribe(), *self.published.borrow()))
    }

    /// Ends every local subscription (each sees the end of its feed).
    pub fn close(&self) {
        *self.sender() = broadcast::channel(SUBSCRIBER_BUFFER).0;
    }

    fn publish(&self, event: Event) {
        let sender = self.sender();
        let seq = event.seq;
        // No subscriber is not an error: the stream still holds the event.
        let _ = sender.send(Arc::new(event));
        self.published.send_replace(seq);
    }
}

pub(super) type StreamEntries = Vec<(String, Vec<Vec<u8>>)>;

pub(super) fn seq_of(id: &str) -> Option<u64> {
    id.strip_suffix("-0")?.parse().ok()
}

/// Tails the stream from the seq the node started at, until shutdown.
pub(super) async fn tail(shared: Arc<Shared>) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(BLOCK + 5 * OP_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let mut conn: Option<ConnectionManager> = None;
    let mut last = *shared.feed.published.borrow();
    let mut healthy = true;
    let mut failing_since: Option<tokio::time::Instant> = None;
    while !shared.shutdown.load(Ordering::SeqCst) {
        if conn.is_none() {
            let connect = ConnectionManager::new_with_config(shared.client(), config.clone());
            match tokio::time::timeout(OP_TIMEOUT, connect).await {
                Ok(Ok(c)) => conn = Some(c),
                _ => {
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if healthy && since.elapsed() >= OUTAGE {
                        tracing::warn!("the event stream cannot be read: Redis is unreachable");
                        shared.feed.outage();
                        healthy = false;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let read_at = tokio::time::Instant::now();
        let mut read = redis::cmd("XREAD");
        read.arg("COUNT")
            .arg(BATCH)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&shared.keys[4])
            .arg(format!("{last}-0"));
        let read = read.query_async::<Option<Vec<(String, StreamEntries)>>>(c);
        let Ok(reply) = tokio::time::timeout(BLOCK + OUTAGE, read).await else {
            // Stalled: failing since the read began. The connection may hold
            // the late answer, so the next read is on a new one.
            failing_since.get_or_insert(read_at);
            if healthy {
                tracing::warn!("the event stream cannot be read: Redis does not answer");
                shared.feed.outage();
                healthy = false;
            }
            conn = None;
            continue;
        };
        match reply {
            Ok(streams) => {
                failing_since = None;
                if !healthy {
                    tracing::info!("the event stream is readable again");
                    shared.feed.readable.store(true, Ordering::SeqCst);
                    healthy = true;
                }
                // Nothing new for a whole BLOCK: a moment to check that Redis
                // still holds the history this node follows.
                let quiet = streams
                    .as_ref()
                    .is_none_or(|streams| streams.iter().all(|(_, entries)| entries.is_empty()));
                if quiet && let Some(seq) = follow_reset(&shared, c).await {
                    last = seq;
                }
                let mut read = 0;
                let mut run = 0;
                for (_, entries) in streams.unwrap_or_default() {
                    read += entries.len();
                    for (id, fields) in entries {
                        let Some(first) = seq_of(&id) else { continue };
                        if first != last + 1 {
                            // Trimmed past this node: its subscribers must resync.
                            tracing::warn!(last, first, "the event stream skipped ahead");
                            shared.feed.close();
                        }
                        last = first + wire::span(&fields) - 1;
                        match wire::entry(first, &fields) {
                            Ok(events) => {
                                run += events.len();
                                for event in events {
                                    if matches!(
                                        event.kind,
                                        EventKind::Created
                                            | EventKind::Touched
                                            | EventKind::Renewed
                                    ) {
                                        shared.wake_for(event.session.expires_at);
                                    }
                                    shared.feed.publish(event);
                                }
                            }
                            Err(error) => {
                                tracing::error!(%error, first, "an unreadable stream entry");
                                shared.feed.published.send_replace(last);
                            }
                        }
                        if run >= PUBLISH_RUN {
                            run = 0;
                            tokio::task::yield_now().await;
                        }
                    }
                }
                if read > 0 && read < BATCH {
                    tokio::time::sleep(GATHER).await;
                }
            }
            Err(error) => {
                if super::needs_new_connection(&error) {
                    conn = None;
                }
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if healthy && since.elapsed() >= OUTAGE {
                    tracing::warn!(%error, "the event stream cannot be read");
                    shared.feed.outage();
                    healthy = false;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
    shared.feed.close();
}

/// Starts following a new history when Redis no longer holds the one this
/// node follows: its instance id is gone (Redis restarted without
/// persistence, or was flushed) or another node has already named the new
/// one. New events then count from 1 again, below where this node reads, so
/// without this it would publish nothing until the count passed its old
/// place. Local subscriptions end: their clients come back with an id of the
/// old instance and are told to resync (dashboards say the server restarted).
/// Returns the seq to read the stream after.
async fn follow_reset(shared: &Shared, conn: &mut ConnectionManager) -> Option<u64> {
    let current: Option<String> = redis::cmd("HGET")
        .arg(&shared.keys[0])
        .arg("instance")
        .query_async(conn)
        .await
        .ok()?;
    let old = shared.instance();
    if current.as_deref() == Some(old.as_str()) {
        return None;
    }
    let instance = super::ensure_instance(conn, &shared.keys[0]).await.ok()?;
    tracing::warn!(
        old,
        new = instance,
        "Redis no longer holds the sessions this node knew (restarted without persistence, or \
         flushed): the event stream starts again"
    );
    // The registry went with the data: this deployment enters it again, so a
    // node of an overlapping one is still refused at its start. One that
    // started in between cannot be stopped from here, only named.
    match super::overlap(conn, &shared.prefix).await {
        Ok(None) => {}
        Ok(Some(overlap)) => tracing::error!(
            "{overlap}; the two deployments now write into each other's keys: stop one of them"
        ),
        Err(error) => {
            tracing::warn!(%error, "this deployment's key prefix could not be registered again")
        }
    }
    *shared
        .instance
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = instance;
    shared.feed.published.send_replace(0);
    shared.feed.close();
    Some(0)
}

/// Everything that happens from now on, and the seq it starts after. "Now"
/// is Redis's newest event, not the last this node has read off the stream
/// (it may lag by a read), so a client that changed something and then
/// subscribes never sees its own change come as news.
pub(super) async fn subscribe_live(shared: &Shared) -> Result<(Subscription, u64), StoreError> {
    let (receiver, published) = shared.feed.subscribe()?;
    let current: Option<u64> = shared
        .query(redis::cmd("HGET").arg(&shared.keys[0]).arg("seq"))
        .await?;
    match current {
        // Taken after the receiver: whatever comes later reaches it.
        Some(current) if current > published => Ok((
            Subscription::new(Vec::new(), skipping_through(receiver, current)),
            current,
        )),
        _ => Ok((Subscription::new(Vec::new(), receiver), published)),
    }
}

/// A subscription that starts right after `seq`.
pub(super) async fn subscribe_after(
    shared: &Shared,
    seq: u64,
) -> Result<Subscription, SubscribeError> {
    let (receiver, published) = shared.feed.subscribe()?;
    if seq <= published {
        let backlog = read_range(shared, seq, published).await?;
        return Ok(Subscription::new(backlog, receiver));
    }
    // The client has seen more than this node has published yet (it comes
    // from a node further ahead): what this node publishes up to `seq` is
    // skipped, so it gets no duplicate.
    let current: Option<u64> = shared
        .query(redis::cmd("HGET").arg(&shared.keys[0]).arg("seq"))
        .await?;
    if seq > current.unwrap_or(0) {
        return Err(TooOld { asked: seq }.into());
    }
    Ok(Subscription::new(
        Vec::new(),
        skipping_through(receiver, seq),
    ))
}

/// A receiver of what `input` delivers after `seq`. If `input` lags, the
/// output ends, so its subscriber resumes (or resyncs) rather than miss events.
fn skipping_through(
    mut input: broadcast::Receiver<Arc<Event>>,
    seq: u64,
) -> broadcast::Receiver<Arc<Event>> {
    let (output, receiver) = broadcast::channel(SUBSCRIBER_BUFFER);
    tokio::spawn(async move {
        loop {
            match input.recv().await {
                Ok(event) if event.seq <= seq => continue,
                Ok(event) => {
                    if output.send(event).is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    });
    receiver
}

/// Events after `seq` up to and including `upto`, or `TooOld` once trimmed.
async fn read_range(shared: &Shared, seq: u64, upto: u64) -> Result<Vec<Event>, SubscribeError> {
    let mut events = Vec::new();
    if seq >= upto {
        return Ok(events);
    }
    // The entry that holds seq + 1 may begin before it (`emit` in common.lua).
    let holding: StreamEntries = shared
        .query(
            redis::cmd("XREVRANGE")
                .arg(&shared.keys[4])
                .arg(format!("{}-0", seq + 1))
                .arg("-")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    let Some(mut from) = holding.first().and_then(|(id, _)| seq_of(id)) else {
        return Err(TooOld { asked: seq }.into());
    };
    while from <= upto {
        let entries: StreamEntries = shared
            .query(
                redis::cmd("XRANGE")
                    .arg(&shared.keys[4])
                    .arg(format!("{from}-0"))
                    .arg(format!("{upto}-0"))
                    .arg("COUNT")
                    .arg(RANGE_BATCH),
            )
            .await?;
        if entries.first().and_then(|(id, _)| seq_of(id)) != Some(from) {
            return Err(TooOld { asked: seq }.into());
        }
        for (id, fields) in &entries {
            let Some(first) = seq_of(id) else { continue };
            from = first + wire::span(fields);
            let entry = wire::entry(first, fields)
                .map_err(|e| SubscribeError::Store(StoreError::Unavailable(e)))?;
            events.extend(entry.into_iter().filter(|e| e.seq > seq && e.seq <= upto));
        }
    }
    if events.first().map(|e| e.seq) != Some(seq + 1) {
        return Err(TooOld { asked: seq }.into());
    }
    Ok(events)
}
