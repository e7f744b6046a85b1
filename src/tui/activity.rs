//! Counters, rates and sparkline history for the stats panel.
//!
//! Fed by the same events as the mirror; rates are per minute of clock time,
//! so they mean the same at ×1 and ×100. Nothing here draws.

use std::collections::VecDeque;

use crate::engine::{Event, EventKind, ExpiryReason, Millis, Stats, Totals};

/// Clock time per sparkline bar.
pub const BUCKET_MS: i64 = 10_000;
/// Bars kept (the widest sparkline we draw).
pub const BUCKETS: usize = 120;
const MINUTE: i64 = 60_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub start: Millis,
    pub logins: u64,
    pub expiries: u64,
    /// Most sessions active at once during the bucket.
    pub active: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Activity {
    pub totals: Totals,
    pub peak: u64,
    logins: VecDeque<Millis>,
    expiries: VecDeque<Millis>,
    pub buckets: VecDeque<Bucket>,
}

impl Activity {
    pub fn load(&mut self, stats: &Stats, now: Millis) {
        self.totals = stats.totals.clone();
        self.peak = stats.peak;
        self.advance(now, stats.active);
    }

    pub fn record(&mut self, event: &Event, active: u64) {
        let t = &mut self.totals;
        match (event.kind, event.reason) {
            (EventKind::Created, _) => t.logins += 1,
            (EventKind::Touched, _) => t.touches += 1,
            (EventKind::Renewed, _) => t.renewals += 1,
            (EventKind::LoggedOut, _) => t.logged_out += 1,
            (EventKind::Revoked, reason) => {
                t.revoked += 1;
                if reason == Some(ExpiryReason::Evicted) {
                    t.evicted += 1;
                }
            }
            (EventKind::Expired, Some(ExpiryReason::Absolute)) => t.expired_absolute += 1,
            (EventKind::Expired, Some(ExpiryReason::ClosingTime)) => t.expired_closing_time += 1,
            (EventKind::Expired, _) => t.expired_idle += 1,
        }
        self.peak = self.peak.max(active);
        self.advance(event.at, active);
        // An event caught up after a reconnect counts in the bar of its own
        // time, not the newest one (nor at all if the charts no longer reach
        // back to it).
        let bucket = self.buckets.iter_mut().rev().find(|b| b.start <= event.at);
        let (count, times) = match event.kind {
            EventKind::Created => (bucket.map(|b| &mut b.logins), &mut self.logins),
            EventKind::Expired => (bucket.map(|b| &mut b.expiries), &mut self.expiries),
            _ => return,
        };
        if let Some(count) = count {
            *count += 1;
        }
        // In order, so the minute's window drops the oldest first.
        times.insert(times.partition_point(|&t| t <= event.at), event.at);
    }

    /// Moves the sparkline window to `now`, carrying the active count forward.
    pub fn advance(&mut self, now: Millis, active: u64) {
        let start = now.div_euclid(BUCKET_MS) * BUCKET_MS;
        match self.buckets.back_mut() {
            Some(last) if last.start >= start => last.active = last.active.max(active),
            Some(last) => {
                let carried = active;
                let mut next = last.start + BUCKET_MS;
                // Empty buckets for quiet stretches, but never more than the window.
                next = next.max(start - BUCKET_MS * BUCKETS as i64);
                while next <= start {
                    self.push(Bucket {
                        start: next,
                        logins: 0,
                        expiries: 0,
                        active: carried,
                    });
                    next += BUCKET_MS;
                }
            }
            None => self.push(Bucket {
                start,
                logins: 0,
                expiries: 0,
                active,
            }),
        }
        for recent in [&mut self.logins, &mut self.expiries] {
            while recent.front().is_some_and(|&t| t <= now - MINUTE) {
                recent.pop_front();
            }
        }
    }

    fn push(&mut self, bucket: Bucket) {
        if self.buckets.len() == BUCKETS {
            self.buckets.pop_front();
        }
        self.buckets.push_back(bucket);
    }

    /// Logins and expiries in the last minute of clock time.
    pub fn per_minute(&self) -> (usize, usize) {
        (self.logins.len(), self.expiries.len())
    }

    pub fn expired(&self) -> u64 {
        let t = &self.totals;
        t.expired_idle + t.expired_absolute + t.expired_closing_time
    }

    /// The last `n` buckets' values, oldest first.
    pub fn series(&self, n: usize, value: impl Fn(&Bucket) -> u64) -> Vec<u64> {
        let skip = self.buckets.len().saturating_sub(n);
        self.buckets.iter().skip(skip).map(value).collect()
    }
}
