//! Where the engine's time comes from.
//!
//! The engine never reads the system clock itself: every rule is a function of
//! a `Clock` reading. `SystemClock` is wall time; `VirtualClock` is the
//! trainer's and the tests' clock, which can pause, run at a speed factor and
//! step, so a 15-minute idle timeout can be shown in seconds or tested in none.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC. All engine timestamps use it.
pub type Millis = i64;

/// The slowest and fastest speeds a virtual clock accepts.
pub const SPEED_RANGE: (f64, f64) = (0.5, 100.0);

/// The speeds the dashboard's `+` and `-` step through, within `SPEED_RANGE`.
pub const SPEED_STEPS: [f64; 8] = [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0];

/// The next speed of `SPEED_STEPS` above `speed` (or below it): a speed
/// between two steps (from config) goes to the next one that way.
pub fn stepped_speed(speed: f64, faster: bool) -> f64 {
    if faster {
        SPEED_STEPS
            .into_iter()
            .find(|&s| s > speed)
            .unwrap_or(SPEED_RANGE.1)
    } else {
        SPEED_STEPS
            .into_iter()
            .rev()
            .find(|&s| s < speed)
            .unwrap_or(SPEED_RANGE.0)
    }
}

pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Millis;

    /// How long, in real time, until this clock reads `deadline`.
    /// `None` means never on its own (the clock is paused).
    fn real_wait_until(&self, deadline: Millis) -> Option<Duration>;

    /// The virtual clock behind this one, if it is one.
    fn as_virtual(&self) -> Option<&VirtualClock> {
        None
    }
}

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        system_now()
    }

    fn real_wait_until(&self, deadline: Millis) -> Option<Duration> {
        // To the nanosecond, not the millisecond: a wait floored to whole
        // milliseconds would add up to a millisecond of lateness to every expiry.
        let deadline = UNIX_EPOCH + Duration::from_millis(deadline.max(0) as u64);
        Some(
            deadline
                .duration_since(SystemTime::now())
                .unwrap_or_default(),
        )
    }
}

/// The current wall-clock time in milliseconds.
pub fn system_now() -> Millis {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Millis,
        Err(e) => -(e.duration().as_millis() as Millis),
    }
}

/// A clock that can pause, run faster or slower than real time, and step.
#[derive(Debug)]
pub struct VirtualClock {
    state: Mutex<VirtualState>,
}

#[derive(Debug, Clone, Copy)]
struct VirtualState {
    /// The virtual reading at `anchor`, in fractional milliseconds.
    reading_at_anchor: f64,
    anchor: Instant,
    speed: f64,
    paused: bool,
    /// A reading the clock stops at until the hold is moved (see `hold_at`).
    hold: Option<f64>,
}

impl VirtualState {
    fn reading(&self, at: Instant) -> f64 {
        let running = if self.paused {
            self.reading_at_anchor
        } else {
            let elapsed = at.saturating_duration_since(self.anchor).as_secs_f64() * 1000.0;
            self.reading_at_anchor + elapsed * self.speed
        };
        self.hold.map_or(running, |hold| running.min(hold))
    }

    /// Moves the anchor to `at` so that a change of speed or pause applies from now on.
    fn reanchor(&mut self, at: Instant) {
        self.reading_at_anchor = self.reading(at);
        self.anchor = at;
    }
}

impl VirtualClock {
    /// A clock that starts at `start` and runs at `speed`.
    pub fn new(start: Millis, speed: f64) -> Self {
        VirtualClock {
            state: Mutex::new(VirtualState {
                reading_at_anchor: start as f64,
                anchor: Instant::now(),
                speed: clamp_speed(speed),
                paused: false,
                hold: None,
            }),
        }
    }

    /// A paused clock: it moves only when stepped. What tests use.
    pub fn paused_at(start: Millis) -> Self {
        let clock = Self::new(start, 1.0);
        clock.set_paused(true);
        clock
    }

    fn with_state<R>(&self, f: impl FnOnce(&mut VirtualState) -> R) -> R {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state)
    }

    pub fn is_paused(&self) -> bool {
        self.with_state(|s| s.paused)
    }

    pub fn speed(&self) -> f64 {
        self.with_state(|s| s.speed)
    }

    pub fn set_paused(&self, paused: bool) {
        self.with_state(|s| {
            s.reanchor(Instant::now());
            s.paused = paused;
        });
    }

    /// Sets the speed factor, clamped to `SPEED_RANGE`; returns the speed now in force.
    pub fn set_speed(&self, speed: f64) -> f64 {
        self.with_state(|s| {
            s.reanchor(Instant::now());
            s.speed = clamp_speed(speed);
            s.speed
        })
    }

    /// Stops the clock at `at` (never reading past it, running or stepped)
    /// until the hold is moved or lifted (`None`); it then goes on from where
    /// it stopped. A lesson holds it at its next step, so the step happens at
    /// its scripted instant however late the runner looks, as the driver ends
    /// sessions at their deadlines.
    pub fn hold_at(&self, at: Option<Millis>) {
        self.with_state(|s| {
            s.reanchor(Instant::now());
            s.hold = at.map(|at| at as f64);
        });
    }

    /// Moves the clock forward by `by`, paused or not (never past a hold).
    pub fn step(&self, by: Duration) {
        self.with_state(|s| {
            s.reanchor(Instant::now());
            s.reading_at_anchor += by.as_secs_f64() * 1000.0;
        });
    }
}

fn clamp_speed(speed: f64) -> f64 {
    if speed.is_nan() {
        1.0
    } else {
        speed.clamp(SPEED_RANGE.0, SPEED_RANGE.1)
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Millis {
        self.with_state(|s| s.reading(Instant::now()).floor() as Millis)
    }

    fn real_wait_until(&self, deadline: Millis) -> Option<Duration> {
        self.with_state(|s| {
            if s.paused || s.hold.is_some_and(|hold| deadline as f64 > hold) {
                return None;
            }
            let ahead = deadline as f64 - s.reading(Instant::now());
            Some(Duration::from_secs_f64((ahead / s.speed / 1000.0).max(0.0)))
        })
    }

    fn as_virtual(&self) -> Option<&VirtualClock> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_moves_only_when_stepped() {
        let clock = VirtualClock::paused_at(1_000);
        assert_eq!(clock.now(), 1_000);
        assert_eq!(clock.real_wait_until(5_000), None);
        clock.step(Duration::from_millis(250));
        assert_eq!(clock.now(), 1_250);
    }

    #[test]
    fn a_held_clock_stops_at_the_hold_and_goes_on_from_there() {
        let clock = VirtualClock::paused_at(1_000);
        clock.hold_at(Some(1_500));
        clock.step(Duration::from_millis(950));
        assert_eq!(clock.now(), 1_500, "it never reads past the hold");
        assert_eq!(
            clock.real_wait_until(1_600),
            None,
            "beyond the hold: not on its own"
        );
        clock.hold_at(Some(3_000));
        assert_eq!(
            clock.now(),
            1_500,
            "moving the hold does not jump the clock"
        );
        clock.step(Duration::from_millis(100));
        assert_eq!(clock.now(), 1_600);
        clock.hold_at(None);
        clock.step(Duration::from_millis(5_000));
        assert_eq!(clock.now(), 6_600);
    }

    #[test]
    fn speed_is_clamped_to_the_allowed_range() {
        let clock = VirtualClock::new(0, 1.0);
        assert_eq!(clock.set_speed(1_000.0), 100.0);
        assert_eq!(clock.set_speed(0.01), 0.5);
        assert_eq!(clock.set_speed(f64::NAN), 1.0);
    }

    #[test]
    fn a_fast_clock_waits_less_real_time() {
        let clock = VirtualClock::new(0, 100.0);
        let wait = clock.real_wait_until(clock.now() + 10_000).unwrap();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(wait >= Duration::from_millis(90), "{wait:?}");
    }
}
