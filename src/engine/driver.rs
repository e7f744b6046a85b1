//! Runs the engine core on tokio: one owner of the state, one cloneable handle.
//!
//! Like mini-redis's `Db`, the handle fronts shared state behind a mutex that
//! no one outside this file sees, and a background task sleeps until the next
//! deadline, ends what is due and publishes the events. Operations wake the
//! task only when they bring the next deadline forward, so an idle engine with
//! a million sessions costs nothing. Events go out through a `Fanout`: a
//! subscriber that falls behind is told to resync; it never blocks the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{Notify, broadcast};

use super::clock::{Clock, Millis, VirtualClock};
use super::core::{Engine, EngineError, ListQuery, Login, Mine, Page, Stats};
use super::event::{Event, EventKind, TooOld};
use super::fanout::{self, Fanout};
use super::persist::{Change, ChangeSink, Restored};
use super::session::{Policy, SessionView};
use super::snapshot::SnapshotBuilder;
use super::token::{Handle, Token};

/// Sessions ended per lock hold, so a burst of expiries never stalls callers for long.
const EXPIRY_CHUNK: usize = 4096;
/// Session slots a snapshot copies per lock hold: about 0.12 ms at a
/// million sessions, the longest an expiry waits for a dashboard connecting.
const SNAPSHOT_CHUNK: usize = 1024;
/// Sessions a user-wide revoke ends per lock hold.
const REVOKE_CHUNK: usize = 1024;
/// Tries at a chunked snapshot before taking one in a single lock hold. A try
/// fails only if the history ring turned over between two of its lock holds.
const SNAPSHOT_TRIES: usize = 3;

/// Tunables of the driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Events kept for resuming subscribers.
    pub history: usize,
    /// Events a subscriber may fall behind by before it is told to resync.
    pub subscriber_buffer: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            history: 100_000,
            subscriber_buffer: 65_536,
        }
    }
}

/// A cheap, cloneable handle to a running engine. The driver stops when
/// `shutdown` is called or the last handle is dropped.
#[derive(Clone)]
pub struct EngineHandle {
    shared: Arc<Shared>,
    _stop_on_drop: Arc<StopOnDrop>,
}

/// Held by handles only, never by the driver, so its drop means no handle is left.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.shutdown.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

struct Shared {
    engine: Mutex<Engine>,
    clock: Arc<dyn Clock>,
    events: Fanout,
    wake: Notify,
    /// When the driver plans to wake next (`i64::MAX`: only when told).
    planned_wake: AtomicI64,
    shutdown: AtomicBool,
    /// Random per engine run (or kept by a durable store), so a subscriber can
    /// tell a restarted engine that lost its sessions from this one.
    instance: String,
    /// A durable store's ear: every change, in order, with the session's record.
    sink: Option<Arc<dyn ChangeSink>>,
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// Shared with the history and every other subscriber.
    Event(Arc<Event>),
    /// The subscriber fell behind and missed events: reload the snapshot.
    Resync,
}

/// A live feed of events, starting after a known sequence number.
pub struct Subscription {
    /// Events already past when the subscription began, to apply first
    /// (`next` delivers only what follows them).
    pub backlog: Vec<Event>,
    receiver: Feed,
}

/// Where a subscription's events come from.
enum Feed {
    /// This process's engine.
    Engine(fanout::Receiver),
    /// A store that publishes events itself (the Redis store tails its stream).
    Channel(broadcast::Receiver<Arc<Event>>),
}

impl Subscription {
    /// A subscription from a backlog and a receiver of what follows it, for a
    /// store that publishes events itself (the Redis store tails its stream).
    pub fn new(backlog: Vec<Event>, receiver: broadcast::Receiver<Arc<Event>>) -> Self {
        Subscription {
            backlog,
            receiver: Feed::Channel(receiver),
        }
    }

    fn of_engine(backlog: Vec<Event>, receiver: fanout::Receiver) -> Self {
        Subscription {
            backlog,
            receiver: Feed::Engine(receiver),
        }
    }

    /// The next event; `None` once the engine has shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        match &mut self.receiver {
            Feed::Engine(receiver) => match receiver.recv().await {
                Ok(event) => Some(Delivery::Event(event)),
                Err(fanout::RecvError::Lagged) => Some(Delivery::Resync),
                Err(fanout::RecvError::Closed) => None,
            },
            Feed::Channel(receiver) => match receiver.recv().await {
                Ok(event) => Some(Delivery::Event(event)),
                Err(broadcast::error::RecvError::Lagged(_)) => Some(Delivery::Resync),
                Err(broadcast::error::RecvError::Closed) => None,
            },
        }
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Delivery> {
        match &mut self.receiver {
            Feed::Engine(receiver) => match receiver.try_recv() {
                Ok(event) => Some(Delivery::Event(event)),
                Err(fanout::TryRecvError::Lagged) => Some(Delivery::Resync),
                Err(_) => None,
            },
            Feed::Channel(receiver) => match receiver.try_recv() {
                Ok(event) => Some(Delivery::Event(event)),
                Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Delivery::Resync),
                Err(_) => None,
            },
        }
    }
}

/// Every live session as of one event, and the feed of every event after it.
///
/// `sessions` holds exactly the changes of the events up to `seq` (in no
/// particular order); `subscription` delivers `seq + 1`, `seq + 2`, … with no
/// gap and no duplicate (or `Resync` if its reader falls behind); `stats`
/// counts the same events `sessions` reflects.
pub struct Snapshot {
    pub sessions: Vec<SessionView>,
    pub seq: u64,
    pub now: Millis,
    pub stats: Stats,
    pub subscription: Subscription,
}

impl EngineHandle {
    /// Starts an engine and its driver task on the current tokio runtime.
    pub fn spawn(policy: Policy, clock: Arc<dyn Clock>, config: DriverConfig) -> Self {
        let engine = Engine::new(policy, config.history, clock.now());
        Self::start(engine, clock, config, random_instance(), None)
    }

    /// Starts an engine that carries on from a durable store's state under the
    /// store's instance id, and tells `sink` of every change from then on.
    /// Sessions that ended while no engine ran end first, with their real deadlines.
    pub fn spawn_restored(
        policy: Policy,
        clock: Arc<dyn Clock>,
        config: DriverConfig,
        instance: String,
        restored: Restored,
        sink: Arc<dyn ChangeSink>,
    ) -> Self {
        let engine = Engine::restore(policy, config.history, clock.now(), restored);
        Self::start(engine, clock, config, instance, Some(sink))
    }

    fn start(
        engine: Engine,
        clock: Arc<dyn Clock>,
        config: DriverConfig,
        instance: String,
        sink: Option<Arc<dyn ChangeSink>>,
    ) -> Self {
        let events = Fanout::new(config.subscriber_buffer.max(16));
        let shared = Arc::new(Shared {
            engine: Mutex::new(engine),
            clock,
            events,
            wake: Notify::new(),
            planned_wake: AtomicI64::new(i64::MIN),
            shutdown: AtomicBool::new(false),
            instance,
            sink,
        });
        tokio::spawn(drive(shared.clone()));
        EngineHandle {
            _stop_on_drop: Arc::new(StopOnDrop(shared.clone())),
            shared,
        }
    }

    /// Stops the driver task. Subscriptions end once every handle is dropped.
    pub fn shutdown(&self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    pub fn now(&self) -> Millis {
        self.shared.clock.now()
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Runs `op` on the engine at the current time, then publishes its events
    /// and wakes the driver if the next deadline moved earlier.
    fn apply<R>(&self, op: impl FnOnce(&mut Engine, Millis) -> R) -> R {
        self.apply_prepared(|_| (), |engine, now, ()| op(engine, now))
    }

    /// `apply` with a first step before the clock is read (see `Engine::locate`).
    fn apply_prepared<P, R>(
        &self,
        prepare: impl FnOnce(&Engine) -> P,
        op: impl FnOnce(&mut Engine, Millis, P) -> R,
    ) -> R {
        let mut engine = self.lock();
        let prepared = prepare(&engine);
        let now = self.shared.clock.now();
        let result = op(&mut engine, now, prepared);
        self.publish(&mut engine);
        result
    }

    fn publish(&self, engine: &mut Engine) {
        self.shared.send_events(engine);
        if let Some(next) = engine.next_deadline()
            && next < self.shared.planned_wake.load(Ordering::SeqCst)
        {
            self.shared.wake.notify_one();
        }
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        self.shared.engine.lock()
    }

    pub fn policy(&self) -> Policy {
        self.lock().policy().clone()
    }

    pub fn next_closing(&self) -> Option<Millis> {
        self.lock().next_closing()
    }

    pub fn login(&self, login: Login) -> Result<(Token, SessionView), EngineError> {
        self.apply(|e, now| e.login(now, login))
    }

    pub fn touch(&self, token: &str) -> Result<SessionView, EngineError> {
        self.apply_prepared(|e| e.locate(token), |e, now, at| e.touch_located(now, at))
    }

    pub fn touch_handle(&self, handle: Handle, actor: &str) -> Result<SessionView, EngineError> {
        self.apply(|e, now| e.touch_handle(now, handle, actor))
    }

    pub fn renew(&self, token: &str) -> Result<(Token, SessionView), EngineError> {
        self.apply(|e, now| e.renew(now, token))
    }

    pub fn logout(&self, token: &str) -> Result<(), EngineError> {
        self.apply(|e, now| e.logout(now, token))
    }

    pub fn revoke(&self, handle: Handle, actor: &str) -> Result<(), EngineError> {
        self.apply(|e, now| e.revoke(now, handle, actor))
    }

    /// Ends every session `user` holds now; returns how many. A user with
    /// many sessions is revoked a chunk per lock hold.
    pub fn revoke_user(&self, user: &str, actor: &str) -> usize {
        let handles = self.apply(|e, now| {
            e.expire_due(now);
            e.user_handles(user)
        });
        let mut revoked = 0;
        for chunk in handles.chunks(REVOKE_CHUNK) {
            revoked += self.apply(|e, now| e.revoke_handles(now, chunk, actor));
        }
        revoked
    }

    /// The live sessions of the token's user, and which is the caller's.
    pub fn mine(&self, token: &str) -> Result<Mine, EngineError> {
        self.apply(|e, now| e.mine(now, token))
    }

    /// Ends one of the token's user's sessions (another user's handle: `NoSuchSession`).
    pub fn revoke_mine(&self, token: &str, handle: Handle) -> Result<(), EngineError> {
        self.apply(|e, now| e.revoke_mine(now, token, handle))
    }

    /// Ends every session of the token's user but the caller's; returns how many.
    pub fn revoke_others(&self, token: &str) -> Result<usize, EngineError> {
        self.apply(|e, now| e.revoke_others(now, token))
    }

    /// Sets or clears the daily closing time; returns the next closing instant.
    pub fn set_closing_time(&self, closing: Option<super::session::ClosingTime>) -> Option<Millis> {
        self.apply(|e, now| e.set_closing_time(now, closing))
    }

    /// A live session and the events of it the history still holds.
    pub fn get(&self, handle: Handle) -> Option<(SessionView, Vec<Event>)> {
        self.apply(|e, now| {
            e.expire_due(now);
            e.get(handle).map(|s| (s, e.session_events(handle)))
        })
    }

    pub fn list(&self, query: &ListQuery) -> Page {
        self.apply(|e, now| {
            e.expire_due(now);
            e.list(query)
        })
    }

    pub fn stats(&self) -> Stats {
        self.apply(|e, now| {
            e.expire_due(now);
            e.stats()
        })
    }

    /// Events after `seq` from the history, then everything that follows, with no gap.
    pub fn subscribe_after(&self, seq: u64) -> Result<Subscription, TooOld> {
        let engine = self.lock();
        let backlog = engine.events_since(seq)?;
        Ok(Subscription::of_engine(
            backlog,
            self.shared.events.subscribe(),
        ))
    }

    /// Announces every coalesced touch now (before a durable store closes).
    pub fn announce_pending_touches(&self) {
        self.apply(|e, now| e.announce_pending_touches(now));
    }

    /// Everything that happens from now on, and the sequence number it follows.
    pub fn subscribe_live(&self) -> (Subscription, u64) {
        let engine = self.lock();
        let subscription = Subscription::of_engine(Vec::new(), self.shared.events.subscribe());
        (subscription, engine.last_seq())
    }

    /// Every live session and the events that follow, as one atomic step
    /// (see `Snapshot`). Copied a chunk per lock hold, handing the lock
    /// fairly to any waiter between holds and then the CPU to any thread
    /// that is ready to run, so even a million sessions never keep the
    /// expiry driver or a request waiting for long. The memory the next
    /// chunk goes into is faulted in between holds, not during one.
    ///
    /// The copy does not run at a lower CPU priority (nice 19 or
    /// `SCHED_IDLE`): it holds the engine lock for most of its time, so a
    /// copy preempted by other work would keep the driver waiting on the
    /// lock (priority inversion). Measured with `SCHED_IDLE` on a loaded
    /// 2-core machine: expiry lateness p99 reached 15 to 62 ms in some runs.
    pub fn snapshot(&self) -> Snapshot {
        for _ in 0..SNAPSHOT_TRIES {
            if let Some(snapshot) = self.snapshot_in_chunks(SNAPSHOT_CHUNK) {
                return snapshot;
            }
        }
        self.snapshot_in_chunks(usize::MAX)
            .expect("one lock hold sees no history turn over")
    }

    /// A snapshot; `None` if the history lost events between two lock holds.
    fn snapshot_in_chunks(&self, chunk: usize) -> Option<Snapshot> {
        let mut builder = None;
        loop {
            let mut engine = self.lock();
            let now = self.shared.clock.now();
            engine.expire_due(now);
            self.publish(&mut engine);
            let done = builder
                .get_or_insert_with(|| SnapshotBuilder::start(&engine))
                .step(&engine, chunk)
                .ok()?;
            if done {
                // Subscribed in the hold that saw the last event, so the feed
                // starts right after it.
                let subscription =
                    Subscription::of_engine(Vec::new(), self.shared.events.subscribe());
                let stats = engine.stats();
                drop(engine);
                let builder = builder.take().expect("started in this hold or before");
                return Some(Snapshot {
                    seq: builder.seq(),
                    sessions: builder.finish(),
                    now,
                    stats,
                    subscription,
                });
            }
            MutexGuard::unlock_fair(engine);
            // A thread woken meanwhile, such as the expiry driver at its
            // deadline, gets this CPU before the next chunk: on a busy
            // machine it would otherwise wait for a time slice.
            std::thread::yield_now();
            if let Some(builder) = builder.as_mut() {
                builder.prefault(chunk);
            }
        }
    }

    /// The virtual clock, if this engine runs on one.
    pub fn virtual_clock(&self) -> Option<&VirtualClock> {
        self.shared.clock.as_virtual()
    }

    /// Changes the virtual clock (pause, speed, step) and lets the driver re-plan.
    /// Returns `None` when the engine runs on the system clock.
    pub fn adjust_clock<R>(&self, change: impl FnOnce(&VirtualClock) -> R) -> Option<R> {
        let clock = self.shared.clock.as_virtual()?;
        let result = change(clock);
        self.shared.wake.notify_one();
        Some(result)
    }
}

impl Shared {
    /// Sends the engine's new events to the store, then to every subscriber.
    fn send_events(&self, engine: &mut Engine) {
        let mut events = engine.take_events();
        if events.is_empty() {
            engine.give_back_outbox(events);
            return;
        }
        if let Some(sink) = &self.sink {
            let changes = events
                .iter()
                .map(|event| Change {
                    event: Event::clone(event),
                    session: (!event.kind.is_end())
                        .then(|| {
                            engine.stored(event.session.handle, event.kind == EventKind::Created)
                        })
                        .flatten(),
                })
                .collect();
            sink.record(changes);
        }
        for event in events.drain(..) {
            self.events.send(event);
        }
        // Its allocation serves the next operation's events.
        engine.give_back_outbox(events);
    }
}

/// A new random instance id: 12 hex digits.
pub fn random_instance() -> String {
    let mut instance = [0u8; 6];
    getrandom::fill(&mut instance).expect("the OS random number generator failed");
    hex::encode(instance)
}

async fn drive(shared: Arc<Shared>) {
    loop {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let (next, more_due) = {
            let mut engine = shared.engine.lock();
            let now = shared.clock.now();
            let ended = engine.expire_due_at_most(now, EXPIRY_CHUNK);
            shared.send_events(&mut engine);
            let next = engine.next_deadline();
            // Stored under the lock, so an operation that brings the deadline
            // forward after this point sees the plan and wakes us.
            shared
                .planned_wake
                .store(next.unwrap_or(i64::MAX), Ordering::SeqCst);
            (next, ended == EXPIRY_CHUNK)
        };
        if more_due {
            tokio::task::yield_now().await;
            continue;
        }
        let wait = next.and_then(|deadline| shared.clock.real_wait_until(deadline));
        match wait {
            Some(wait) => {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}
