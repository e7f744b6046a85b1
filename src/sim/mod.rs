//! The login simulator: random arrivals of users who act, go quiet, log out
//! or stay until the absolute limit, in the proportions the config asks for.
//!
//! A share of logins (`returning`) comes from a few regular users who log in
//! again from another device while their other sessions live on, so a
//! per-user session limit (`[policy] max_sessions_per_user`) has logins to
//! evict sessions for.
//!
//! It runs as one tokio task beside the embedded engine and plans in the
//! engine's clock time, so pausing or speeding up the clock pauses or speeds
//! up the simulated users too. It holds its users' tokens (as a real web app
//! would) and never shows them. It keeps no dashboard state.

pub mod lesson;
pub mod scenario;

/// The latest a lesson's or scenario's step may come after its start: a
/// script of more than a month is a mistake, and clock times far past it
/// would not fit the engine's milliseconds.
pub const MAX_STEP_AT: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use crate::config::SimulatorConfig;
use crate::engine::{EngineHandle, Login, Millis, Token};

/// The simulated user names, from `assets/users.txt`.
pub fn user_names() -> Vec<&'static str> {
    include_str!("../../assets/users.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// A random user name from the assets.
pub fn random_user(rng: &mut impl Rng) -> String {
    let names = user_names();
    names[rng.random_range(0..names.len())].to_owned()
}

const USER_AGENTS: [&str; 6] = [
    "Firefox/133.0 (X11; Linux x86_64)",
    "Chrome/131.0 (Windows NT 10.0)",
    "Safari/18.1 (Macintosh)",
    "Mobile Safari/18.1 (iPhone)",
    "curl/8.11.0",
    "Edge/131.0 (Windows NT 10.0)",
];

/// Plausible `ip` and `user_agent` attributes (addresses from documentation ranges).
pub fn random_attributes(rng: &mut impl Rng) -> BTreeMap<String, String> {
    let ip = match rng.random_range(0..3) {
        0 => format!("192.0.2.{}", rng.random_range(1..255)),
        1 => format!("198.51.100.{}", rng.random_range(1..255)),
        _ => format!("203.0.113.{}", rng.random_range(1..255)),
    };
    let agent = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
    BTreeMap::from([
        ("ip".to_owned(), ip),
        ("user_agent".to_owned(), agent.to_owned()),
    ])
}

/// Switches the running simulator on and off.
pub struct SimulatorControl {
    enabled: watch::Sender<bool>,
}

impl SimulatorControl {
    pub fn set_enabled(&self, on: bool) {
        self.enabled.send_replace(on);
    }
}

/// How a simulated user's session will end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    GoIdle,
    LogOut,
    Stay,
}

enum Action {
    Login,
    /// A request with the user's token; `remaining` requests left (`None`: forever).
    Touch {
        token: Token,
        remaining: Option<u32>,
        fate: Fate,
    },
    Logout(Token),
}

struct Planned {
    at: Millis,
    order: u64,
    action: Action,
}

impl PartialEq for Planned {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Planned {}
impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Planned {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// How many regular users the returning logins share.
pub const REGULARS: usize = 3;

/// The longest real-time nap between checks, so clock changes apply promptly.
const MAX_NAP: Duration = Duration::from_millis(250);

/// Starts the simulator on `engine`; it starts on or off as the config says.
pub fn spawn(engine: EngineHandle, config: SimulatorConfig) -> Arc<SimulatorControl> {
    let (enabled, watcher) = watch::channel(config.enabled);
    let sim = Simulator::new(engine, config, StdRng::from_os_rng());
    tokio::spawn(sim.run(watcher));
    Arc::new(SimulatorControl { enabled })
}

struct Simulator {
    engine: EngineHandle,
    config: SimulatorConfig,
    idle_timeout_ms: i64,
    rng: StdRng,
    plan: BinaryHeap<Reverse<Planned>>,
    order: u64,
    /// The users who keep logging in from one more device.
    regulars: Vec<String>,
}

impl Simulator {
    fn new(engine: EngineHandle, config: SimulatorConfig, mut rng: StdRng) -> Self {
        let idle_timeout_ms = engine.policy().idle_timeout.as_millis() as i64;
        let regulars = user_names()
            .choose_multiple(&mut rng, REGULARS)
            .map(|name| (*name).to_owned())
            .collect();
        Simulator {
            engine,
            config,
            idle_timeout_ms,
            rng,
            plan: BinaryHeap::new(),
            order: 0,
            regulars,
        }
    }

    async fn run(mut self, mut enabled: watch::Receiver<bool>) {
        let mut burst_done = false;
        loop {
            if !*enabled.borrow_and_update() {
                if enabled.changed().await.is_err() {
                    return;
                }
                continue;
            }
            if !burst_done {
                burst_done = true;
                self.burst();
            }
            self.act(self.engine.now());
            let nap = self
                .plan
                .peek()
                .and_then(|p| self.engine.clock().real_wait_until(p.0.at))
                .map_or(MAX_NAP, |wait| wait.min(MAX_NAP));
            tokio::select! {
                _ = tokio::time::sleep(nap) => {}
                changed = enabled.changed() => {
                    if changed.is_err() { return; }
                    if !*enabled.borrow() {
                        // Off: forget the next arrival; on again plans a fresh one.
                        self.plan.retain(|p| !matches!(p.0.action, Action::Login));
                    }
                }
            }
        }
    }

    /// The logins at start.
    fn burst(&mut self) {
        for _ in 0..self.config.initial_logins {
            self.login();
        }
    }

    /// Does everything due by `now`, and plans the next arrival if none is planned.
    fn act(&mut self, now: Millis) {
        if !self
            .plan
            .iter()
            .any(|p| matches!(p.0.action, Action::Login))
        {
            self.plan_next_login(now);
        }
        while self.plan.peek().is_some_and(|p| p.0.at <= now) {
            let Reverse(planned) = self.plan.pop().expect("peeked");
            self.perform(planned.action, planned.at, now);
        }
    }

    fn schedule(&mut self, at: Millis, action: Action) {
        self.order += 1;
        self.plan.push(Reverse(Planned {
            at,
            order: self.order,
            action,
        }));
    }

    fn plan_next_login(&mut self, now: Millis) {
        if self.config.logins_per_minute <= 0.0 {
            return;
        }
        let mean_ms = 60_000.0 / self.config.logins_per_minute;
        let wait = self.exponential(mean_ms);
        self.schedule(now + wait, Action::Login);
    }

    /// A random pause with the given mean (exponential, so arrivals are Poisson).
    fn exponential(&mut self, mean_ms: f64) -> Millis {
        let u: f64 = self.rng.random_range(f64::EPSILON..1.0);
        (-u.ln() * mean_ms).round().max(1.0) as Millis
    }

    /// The pause before a user's next request, short enough not to go idle.
    fn activity_pause(&mut self, limit_fraction: f64) -> Millis {
        let mean = self.config.activity_interval.as_millis() as f64;
        let limit = (self.idle_timeout_ms as f64 * limit_fraction).max(1.0) as Millis;
        self.exponential(mean).min(limit)
    }

    fn pick_fate(&mut self) -> Fate {
        let mix = &self.config.mix;
        let total = mix.go_idle + mix.log_out + mix.stay;
        let x = self.rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        if x < mix.go_idle {
            Fate::GoIdle
        } else if x < mix.go_idle + mix.log_out {
            Fate::LogOut
        } else {
            Fate::Stay
        }
    }

    fn login(&mut self) {
        let returning = !self.regulars.is_empty()
            && self.config.returning > 0.0
            && self.rng.random_bool(self.config.returning.min(1.0));
        let user = if returning {
            self.regulars[self.rng.random_range(0..self.regulars.len())].clone()
        } else {
            random_user(&mut self.rng)
        };
        let attributes = random_attributes(&mut self.rng);
        let login = Login {
            user,
            attributes: Some(attributes),
            ..Login::default()
        };
        match self.engine.login(login) {
            Ok((token, _)) => {
                let fate = self.pick_fate();
                let remaining = match fate {
                    Fate::Stay => None,
                    _ => Some(self.rng.random_range(0..=3)),
                };
                self.next_request(token, remaining, fate, self.engine.now());
            }
            Err(e) => tracing::warn!("simulated login refused: {e}"),
        }
    }

    fn next_request(&mut self, token: Token, remaining: Option<u32>, fate: Fate, now: Millis) {
        match (remaining, fate) {
            (Some(0), Fate::LogOut) => {
                let pause = self.activity_pause(0.8);
                self.schedule(now + pause, Action::Logout(token));
            }
            // Goes quiet: the engine will end the session when it idles out.
            (Some(0), _) => {}
            (remaining, fate) => {
                let pause = self.activity_pause(if fate == Fate::Stay { 0.5 } else { 0.8 });
                self.schedule(
                    now + pause,
                    Action::Touch {
                        token,
                        remaining,
                        fate,
                    },
                );
            }
        }
    }

    /// Carries out an action planned for `at`, now that the clock reads `now`.
    fn perform(&mut self, action: Action, at: Millis, now: Millis) {
        match action {
            Action::Login => {
                self.login();
                // From the planned time, not from now: a late wake-up must not thin out arrivals.
                self.plan_next_login(at);
            }
            Action::Touch {
                token,
                remaining,
                fate,
            } => {
                // An ended session (revoked, absolute limit) simply stops.
                if self.engine.touch(token.expose()).is_ok() {
                    self.next_request(token, remaining.map(|r| r - 1), fate, now);
                }
            }
            Action::Logout(token) => {
                let _ = self.engine.logout(token.expose());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimulatorMix;
    use crate::engine::driver::DriverConfig;
    use crate::engine::{Policy, Stats, VirtualClock};

    /// Runs `users` simulated users of one kind for `minutes` of paused-clock
    /// time in 10-second steps, and returns the engine's counters.
    async fn run_mix(mix: SimulatorMix, users: usize, rate: f64, minutes: u64) -> Stats {
        run(mix, users, rate, minutes, 0.0, None).await.0.stats()
    }

    /// Like `run_mix`, with a share of returning logins and a per-user limit;
    /// returns the engine and the simulator's regular users.
    async fn run(
        mix: SimulatorMix,
        users: usize,
        rate: f64,
        minutes: u64,
        returning: f64,
        limit: Option<u32>,
    ) -> (EngineHandle, Vec<String>) {
        let policy = Policy {
            absolute_timeout: Duration::from_secs(30 * 60),
            max_sessions_per_user: limit,
            ..Policy::default()
        };
        let clock = Arc::new(VirtualClock::paused_at(1_000_000));
        let engine = EngineHandle::spawn(policy, clock, DriverConfig::default());
        let config = SimulatorConfig {
            enabled: true,
            initial_logins: users,
            logins_per_minute: rate,
            activity_interval: Duration::from_secs(60),
            mix,
            returning,
            scenario: None,
        };
        let mut sim = Simulator::new(engine.clone(), config, StdRng::seed_from_u64(3));
        sim.burst();
        for _ in 0..minutes * 6 {
            engine.adjust_clock(|c| c.step(Duration::from_secs(10)));
            sim.act(engine.now());
        }
        (engine, sim.regulars.clone())
    }

    #[tokio::test]
    async fn with_a_session_limit_returning_users_evict_their_oldest_sessions() {
        let (engine, regulars) = run(SimulatorMix::default(), 12, 6.0, 30, 0.5, Some(2)).await;
        let stats = engine.stats();
        assert!(
            stats.totals.evicted >= 5,
            "regulars logging in again past the limit evict: {:?}",
            stats.totals
        );
        for user in &regulars {
            let held = engine
                .list(&crate::engine::ListQuery {
                    user: Some(user.clone()),
                    limit: usize::MAX,
                    ..Default::default()
                })
                .sessions
                .len();
            assert!(held <= 2, "{user} holds {held} sessions, over the limit");
        }
    }

    #[tokio::test]
    async fn without_a_limit_returning_users_hold_several_sessions_and_nothing_is_evicted() {
        let (engine, regulars) = run(SimulatorMix::default(), 12, 6.0, 10, 0.5, None).await;
        assert_eq!(engine.stats().totals.evicted, 0);
        let most = regulars
            .iter()
            .map(|user| {
                engine
                    .list(&crate::engine::ListQuery {
                        user: Some(user.clone()),
                        limit: usize::MAX,
                        ..Default::default()
                    })
                    .sessions
                    .len()
            })
            .max()
            .unwrap();
        assert!(
            most >= 3,
            "a regular is logged in on several devices: {most}"
        );
    }

    fn only(go_idle: f64, log_out: f64, stay: f64) -> SimulatorMix {
        SimulatorMix {
            go_idle,
            log_out,
            stay,
        }
    }

    #[tokio::test]
    async fn users_who_go_quiet_expire_idle() {
        let stats = run_mix(only(1.0, 0.0, 0.0), 20, 0.0, 25).await;
        assert_eq!(stats.totals.logins, 20);
        assert_eq!(stats.totals.expired_idle, 20);
        assert_eq!(stats.totals.logged_out + stats.totals.expired_absolute, 0);
    }

    #[tokio::test]
    async fn users_who_log_out_log_out_before_they_idle() {
        let stats = run_mix(only(0.0, 1.0, 0.0), 20, 0.0, 25).await;
        assert_eq!(stats.totals.logged_out, 20);
        assert_eq!(stats.totals.expired_idle, 0);
    }

    #[tokio::test]
    async fn users_who_stay_stay_until_the_absolute_limit() {
        let stats = run_mix(only(0.0, 0.0, 1.0), 20, 0.0, 20).await;
        assert_eq!(
            stats.active, 20,
            "still there after 20 minutes, past the idle timeout"
        );
        let stats = run_mix(only(0.0, 0.0, 1.0), 20, 0.0, 35).await;
        assert_eq!(stats.totals.expired_absolute, 20);
        assert_eq!(stats.totals.expired_idle + stats.totals.logged_out, 0);
    }

    #[tokio::test]
    async fn logins_arrive_at_the_configured_rate() {
        let stats = run_mix(only(1.0, 0.0, 0.0), 0, 30.0, 20).await;
        // 600 expected; a Poisson count stays well within this band.
        assert!(
            (450..=750).contains(&stats.totals.logins),
            "{}",
            stats.totals.logins
        );
    }

    #[test]
    fn user_names_come_from_the_assets_without_comments() {
        let names = user_names();
        assert!(names.len() >= 20);
        assert!(names.iter().all(|n| !n.starts_with('#') && !n.is_empty()));
    }

    #[test]
    fn random_attributes_carry_an_ip_and_a_user_agent() {
        let mut rng = StdRng::seed_from_u64(7);
        let attributes = random_attributes(&mut rng);
        assert!(attributes["ip"].contains('.'));
        assert!(!attributes["user_agent"].is_empty());
    }
}
