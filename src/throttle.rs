//! Log lines that would otherwise repeat for every request or connection
//! (Redis refusing a password, the accept loop out of descriptors): one goes
//! out per interval, saying how many were held back since the last.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

pub struct Throttle {
    every_ms: i64,
    /// When the last line went out (ms since the process's first look), or -1.
    last: AtomicI64,
    unlogged: AtomicU64,
}

impl Throttle {
    pub const fn new(every_ms: i64) -> Self {
        Throttle {
            every_ms,
            last: AtomicI64::new(-1),
            unlogged: AtomicU64::new(0),
        }
    }

    /// Whether a line may go out now, and then how many were held back
    /// since the last one.
    fn admit(&self) -> Option<u64> {
        self.admit_at(now_ms())
    }

    /// How many lines were held back since the last one went out, once an
    /// interval has passed since it: the end of a burst, which no later line
    /// may come to report. Taking them counts as a line going out.
    pub fn tail(&self) -> Option<u64> {
        self.tail_at(now_ms())
    }

    fn tail_at(&self, now_ms: i64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        if last < 0 || now_ms - last < self.every_ms || self.unlogged.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.last
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .ok()?;
        Some(self.unlogged.swap(0, Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Whether a line may go out now, and then what it ends with: nothing,
    /// or " (N more since the last line)" for the lines held back.
    pub fn note(&self) -> Option<String> {
        self.admit().map(|unlogged| match unlogged {
            0 => String::new(),
            n => format!(" ({n} more since the last line)"),
        })
    }

    /// `admit` at `now_ms` on the caller's clock.
    fn admit_at(&self, now_ms: i64) -> Option<u64> {
        let last = self.last.load(Ordering::Relaxed);
        let due = last < 0 || now_ms - last >= self.every_ms;
        if due
            && self
                .last
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.unlogged.swap(0, Ordering::Relaxed));
        }
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Milliseconds since the process's first look.
fn now_ms() -> i64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// While the same failure repeats, one line an interval says so, with
    /// how many it left out.
    #[test]
    fn refusals_are_logged_once_a_second_with_a_count() {
        let throttle = Throttle::new(1000);
        assert_eq!(throttle.admit_at(0), Some(0));
        assert_eq!(throttle.admit_at(10), None);
        assert_eq!(throttle.admit_at(999), None);
        assert_eq!(throttle.admit_at(1000), Some(2));
        assert_eq!(throttle.admit_at(1500), None);
        assert_eq!(throttle.admit_at(5000), Some(1));
        assert_eq!(throttle.admit_at(5001), None);
    }

    /// The lines held back at the end of a burst are told once an interval
    /// has passed, and only then; a line told so holds back the next.
    #[test]
    fn the_tail_of_a_burst_is_told_after_an_interval() {
        let throttle = Throttle::new(1000);
        assert_eq!(throttle.tail_at(0), None, "nothing went out yet");
        assert_eq!(throttle.admit_at(0), Some(0));
        assert_eq!(throttle.tail_at(2000), None, "nothing held back");
        assert_eq!(throttle.admit_at(2100), Some(0));
        assert_eq!(throttle.admit_at(2200), None);
        assert_eq!(throttle.admit_at(2300), None);
        assert_eq!(throttle.tail_at(2500), None, "within the interval");
        assert_eq!(throttle.tail_at(3100), Some(2));
        assert_eq!(throttle.tail_at(9000), None, "told once");
        assert_eq!(throttle.admit_at(9000), Some(0));
    }
}
