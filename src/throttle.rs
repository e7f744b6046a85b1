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
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        self.admit_at(EPOCH.get_or_init(Instant::now).elapsed().as_millis() as i64)
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
}
