//! The engine's events, from the one writer to every subscriber.
//!
//! Like tokio's `broadcast` channel, which it replaces for the engine: a
//! bounded ring that keeps the newest events; a subscriber that falls so far
//! behind that its next event has left the ring is told it lagged and goes on
//! from the oldest one kept. It costs the writer less, because the writer is
//! the touch that a web app waits for: an event goes in by moving one pointer
//! into a ring of pointers under an uncontended lock, with no per-slot lock,
//! and nobody is woken unless a subscriber is waiting. A subscriber takes up
//! to `BATCH` events per lock hold. A sole subscriber (the usual case: one
//! dashboard, one event stream) moves its events out of the ring, so the
//! writer never has to release an event written long ago, whose memory is
//! far from anything it touches; with no subscriber the ring holds nothing.
//!
//! A store that publishes events itself (Redis) still uses `broadcast`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::event::Event;

/// Events a subscriber takes per lock hold.
const BATCH: usize = 64;
/// How far ahead of the oldest event the writer asks for the events it will
/// drop next (see `engine::cache`).
const PREFETCH_AHEAD: usize = 8;

/// The writing end. Dropping it ends every subscription once its events are read.
pub struct Fanout {
    shared: Arc<Shared>,
}

struct Shared {
    ring: Mutex<Ring>,
    /// Woken when events arrive or the writer goes, if anyone waits.
    notify: Notify,
    /// Subscribers between "nothing to read" and being woken.
    waiting: AtomicUsize,
}

struct Ring {
    /// `None` where the sole subscriber took the event.
    events: VecDeque<Option<Arc<Event>>>,
    capacity: usize,
    /// Live receivers.
    receivers: usize,
    /// How many events were ever sent: the index the next one gets.
    sent: u64,
    closed: bool,
}

impl Ring {
    /// The index of the oldest event kept.
    fn oldest(&self) -> u64 {
        self.sent - self.events.len() as u64
    }
}

/// Why `recv` gave no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvError {
    /// Events were dropped before this subscriber read them; it goes on
    /// from the oldest event kept.
    Lagged,
    /// The writer is gone and every event was read.
    Closed,
}

/// Why `try_recv` gave no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    Empty,
    Lagged,
    Closed,
}

impl Fanout {
    /// A ring that keeps the newest `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Fanout {
            shared: Arc::new(Shared {
                ring: Mutex::new(Ring {
                    events: VecDeque::with_capacity(capacity.max(1)),
                    capacity: capacity.max(1),
                    receivers: 0,
                    sent: 0,
                    closed: false,
                }),
                notify: Notify::new(),
                waiting: AtomicUsize::new(0),
            }),
        }
    }

    /// Sends `event` to every subscriber.
    pub fn send(&self, event: Arc<Event>) {
        {
            let mut ring = self.shared.ring.lock();
            ring.sent += 1;
            if ring.receivers == 0 {
                // A subscriber starts with the next event: none will read this.
                debug_assert!(ring.events.is_empty(), "the last subscriber let go");
                return;
            }
            if ring.events.len() == ring.capacity {
                ring.events.pop_front();
                // The next sends release the events now at the front, which
                // were written long ago: start loading their counts.
                if let Some(Some(later)) = ring.events.get(PREFETCH_AHEAD) {
                    super::cache::prefetch_shared(later);
                }
            }
            ring.events.push_back(Some(event));
        }
        // A subscriber counts itself as waiting before it looks for events
        // (under the lock just released), so either it sees this event or
        // this sees it waiting.
        if self.shared.waiting.load(Ordering::SeqCst) != 0 {
            self.shared.notify.notify_waiters();
        }
    }

    /// A subscription to every event sent from now on.
    pub fn subscribe(&self) -> Receiver {
        let mut ring = self.shared.ring.lock();
        ring.receivers += 1;
        let next = ring.sent;
        drop(ring);
        Receiver {
            shared: self.shared.clone(),
            next,
            taken: VecDeque::with_capacity(BATCH),
        }
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        self.shared.ring.lock().closed = true;
        self.shared.notify.notify_waiters();
    }
}

/// One subscriber's end.
pub struct Receiver {
    shared: Arc<Shared>,
    /// The index of the next event to take from the ring.
    next: u64,
    /// Events taken from the ring and not yet given out.
    taken: VecDeque<Arc<Event>>,
}

impl Receiver {
    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<Event>, TryRecvError> {
        if let Some(event) = self.taken.pop_front() {
            return Ok(event);
        }
        let mut ring = self.shared.ring.lock();
        if self.next < ring.oldest() {
            self.next = ring.oldest();
            return Err(TryRecvError::Lagged);
        }
        let start = (self.next - ring.oldest()) as usize;
        if start == ring.events.len() {
            return Err(if ring.closed {
                TryRecvError::Closed
            } else {
                TryRecvError::Empty
            });
        }
        let end = ring.events.len().min(start + BATCH);
        // Only a sole subscriber takes, and only what it reads: every event
        // at or past any subscriber's next is still there.
        if ring.receivers == 1 {
            let taken = ring.events.range_mut(start..end).map(Option::take);
            self.taken.extend(taken.flatten());
        } else {
            self.taken
                .extend(ring.events.range(start..end).flatten().cloned());
        }
        debug_assert_eq!(self.taken.len(), end - start, "an event was missing");
        self.next += (end - start) as u64;
        drop(ring);
        self.taken.pop_front().ok_or(TryRecvError::Empty)
    }

    /// The next event, waiting for one if need be. Like tokio's own
    /// channels it spends the task's budget, so a reader draining a full
    /// ring lets the other tasks on its thread run every so often.
    pub async fn recv(&mut self) -> Result<Arc<Event>, RecvError> {
        tokio::task::coop::consume_budget().await;
        loop {
            if let Some(given) = self.try_give() {
                return given;
            }
            let shared = self.shared.clone();
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let _waiting = Waiting::count(&shared.waiting);
            match self.try_give() {
                Some(given) => return given,
                None => notified.await,
            }
        }
    }

    /// `try_recv` for `recv`: `None` when there is nothing yet.
    fn try_give(&mut self) -> Option<Result<Arc<Event>, RecvError>> {
        match self.try_recv() {
            Ok(event) => Some(Ok(event)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Lagged) => Some(Err(RecvError::Lagged)),
            Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let unread = {
            let mut ring = self.shared.ring.lock();
            ring.receivers -= 1;
            // Nobody reads these any more: they are let go here, after the
            // lock, not by the writer's next send under the engine's lock.
            if ring.receivers == 0 {
                // Whole again, as `new` makes it: a ring that has to grow
                // costs every send while it grows.
                let whole = VecDeque::with_capacity(ring.capacity);
                std::mem::replace(&mut ring.events, whole)
            } else {
                VecDeque::new()
            }
        };
        drop(unread);
    }
}

/// Counts a subscriber as waiting for as long as it lives, even if the
/// waiting future is dropped.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `touched` event numbered `seq`.
    fn event(seq: u64) -> Arc<Event> {
        Arc::new(Event {
            seq,
            ..crate::engine::event::tests::event_of(seq)
        })
    }

    fn seqs(receiver: &mut Receiver) -> Vec<u64> {
        std::iter::from_fn(|| receiver.try_recv().ok().map(|e| e.seq)).collect()
    }

    #[test]
    fn every_subscriber_gets_every_event_after_it_subscribed_in_order() {
        let fanout = Fanout::new(1000);
        fanout.send(event(1));
        let (mut a, mut b) = (fanout.subscribe(), fanout.subscribe());
        for seq in 2..=300 {
            fanout.send(event(seq));
        }
        let expected: Vec<u64> = (2..=300).collect();
        assert_eq!(seqs(&mut a), expected);
        assert_eq!(a.try_recv().unwrap_err(), TryRecvError::Empty);
        assert_eq!(seqs(&mut b), expected);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_told_and_goes_on_from_the_oldest_kept() {
        let fanout = Fanout::new(10);
        let mut slow = fanout.subscribe();
        for seq in 1..=25 {
            fanout.send(event(seq));
        }
        assert_eq!(slow.try_recv().unwrap_err(), TryRecvError::Lagged);
        assert_eq!(seqs(&mut slow), (16..=25).collect::<Vec<_>>());
    }

    #[test]
    fn subscribers_coming_and_going_each_get_every_event_after_they_came() {
        let fanout = Fanout::new(1000);
        let mut a = fanout.subscribe();
        for seq in 1..=100 {
            fanout.send(event(seq));
        }
        // Alone, `a` takes its events out of the ring.
        let first: Vec<u64> = (0..50).map(|_| a.try_recv().unwrap().seq).collect();
        assert_eq!(first, (1..=50).collect::<Vec<_>>());
        let mut b = fanout.subscribe();
        for seq in 101..=150 {
            fanout.send(event(seq));
        }
        assert_eq!(seqs(&mut b), (101..=150).collect::<Vec<_>>());
        drop(b);
        for seq in 151..=160 {
            fanout.send(event(seq));
        }
        assert_eq!(seqs(&mut a), (51..=160).collect::<Vec<_>>());
        let mut c = fanout.subscribe();
        fanout.send(event(161));
        assert_eq!(seqs(&mut a), [161]);
        assert_eq!(seqs(&mut c), [161]);
    }

    #[test]
    fn a_sole_subscriber_leaves_nothing_behind_and_no_subscriber_keeps_nothing() {
        let fanout = Fanout::new(10);
        let unread = event(1);
        fanout.send(unread.clone());
        assert_eq!(Arc::strong_count(&unread), 1, "nobody would read it");
        let mut a = fanout.subscribe();
        let read = event(2);
        fanout.send(read.clone());
        assert_eq!(a.try_recv().unwrap().seq, 2);
        assert_eq!(Arc::strong_count(&read), 1, "taken out, then dropped");
        let unread = event(3);
        fanout.send(unread.clone());
        assert_eq!(Arc::strong_count(&unread), 2);
        drop(a);
        assert_eq!(Arc::strong_count(&unread), 1, "let go with its last reader");
        let mut b = fanout.subscribe();
        fanout.send(event(4));
        assert_eq!(seqs(&mut b), [4]);
    }

    #[test]
    fn the_ring_holds_no_more_than_its_capacity() {
        let fanout = Fanout::new(10);
        let _subscriber = fanout.subscribe();
        let first = event(1);
        fanout.send(first.clone());
        for seq in 2..=11 {
            fanout.send(event(seq));
        }
        assert_eq!(Arc::strong_count(&first), 1, "the oldest event was let go");
    }

    #[tokio::test]
    async fn a_waiting_subscriber_is_woken_by_an_event_and_by_the_writer_going() {
        let fanout = Fanout::new(10);
        let mut receiver = fanout.subscribe();
        let reader = tokio::spawn(async move {
            let first = receiver.recv().await.map(|e| e.seq);
            let end = receiver.recv().await.map(|e| e.seq);
            (first, end)
        });
        tokio::task::yield_now().await;
        fanout.send(event(7));
        tokio::task::yield_now().await;
        drop(fanout);
        let (first, end) = reader.await.unwrap();
        assert_eq!(first, Ok(7));
        assert_eq!(end, Err(RecvError::Closed));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_reader_draining_a_full_ring_lets_other_tasks_run() {
        let fanout = Fanout::new(50_000);
        let mut receiver = fanout.subscribe();
        for seq in 1..=50_000 {
            fanout.send(event(seq));
        }
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = {
            let ran = ran.clone();
            tokio::spawn(async move { ran.store(true, Ordering::SeqCst) })
        };
        let mut ran_while_draining = false;
        for _ in 0..50_000 {
            receiver.recv().await.unwrap();
            ran_while_draining |= ran.load(Ordering::SeqCst);
        }
        assert!(
            ran_while_draining,
            "the other task waited for the whole ring"
        );
        other.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_event_is_missed_by_a_subscriber_that_waits_between_them() {
        let fanout = Arc::new(Fanout::new(1 << 16));
        let mut receiver = fanout.subscribe();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Ok(event) = receiver.recv().await {
                got.push(event.seq);
            }
            got
        });
        let writer = {
            let fanout = fanout.clone();
            std::thread::spawn(move || {
                for seq in 1..=20_000 {
                    fanout.send(event(seq));
                    if seq % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        };
        writer.join().unwrap();
        drop(Arc::into_inner(fanout).expect("the writer thread is done"));
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
            .await
            .expect("the reader saw the end")
            .unwrap();
        assert_eq!(got, (1..=20_000).collect::<Vec<_>>());
    }
}
