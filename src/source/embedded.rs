//! The embedded source: an engine in this process, on a virtual clock the
//! trainer can pause and speed up, with the login simulator beside it.
//!
//! It translates dashboard commands into engine calls and engine deliveries
//! into source updates. It keeps no session state of its own, and tokens the
//! engine returns on login are dropped here, never passed on.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream;

use super::{
    ClockReading, CommandOutcome, SessionSource, SourceCommand, SourceError, SourceInfo,
    SourceSnapshot, SourceUpdate, UpdateStream,
};
use crate::engine::clock::stepped_speed;
use crate::engine::driver::{Delivery, Snapshot, Subscription};
use crate::engine::{EngineHandle, Login};
use crate::sim::SimulatorControl;

/// Who the event log names when the person at the dashboard acts.
pub const OPERATOR: &str = "operator";

#[derive(Clone)]
pub struct Embedded {
    engine: EngineHandle,
    simulator: Option<Arc<SimulatorControl>>,
}

impl Embedded {
    pub fn new(engine: EngineHandle, simulator: Option<Arc<SimulatorControl>>) -> Self {
        Embedded { engine, simulator }
    }

    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }
}

/// A snapshot, with the counters as they were at its sequence number, and
/// the feed of every event after it: one atomic engine call, so no event is
/// missed or counted twice.
fn take_snapshot(engine: &EngineHandle, info: SourceInfo) -> (SourceSnapshot, Subscription) {
    let Snapshot {
        sessions,
        seq,
        now,
        stats,
        subscription,
    } = engine.snapshot();
    let snapshot = SourceSnapshot {
        info,
        sessions,
        seq,
        stats,
        now,
    };
    (snapshot, subscription)
}

impl SessionSource for Embedded {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            remote: false,
            mode: "embedded".to_owned(),
            policy: self.engine.policy(),
            clock_control: self.engine.virtual_clock().is_some(),
            simulator: self.simulator.is_some(),
            node: String::new(),
        }
    }

    fn clock(&self) -> ClockReading {
        let now = self.engine.now();
        match self.engine.virtual_clock() {
            Some(clock) => ClockReading {
                now,
                speed: clock.speed(),
                paused: clock.is_paused(),
            },
            None => ClockReading {
                now,
                speed: 1.0,
                paused: false,
            },
        }
    }

    fn connect(&self) -> BoxFuture<'static, Result<(SourceSnapshot, UpdateStream), SourceError>> {
        let source = self.clone();
        async move {
            let (snapshot, subscription) = take_snapshot(&source.engine, source.info());
            let updates = stream::unfold(
                (source, subscription),
                |(source, mut subscription)| async move {
                    match subscription.next().await? {
                        Delivery::Event(event) => {
                            let event = Arc::unwrap_or_clone(event);
                            Some((SourceUpdate::Event(event), (source, subscription)))
                        }
                        Delivery::Resync => {
                            let (snapshot, subscription) =
                                take_snapshot(&source.engine, source.info());
                            Some((SourceUpdate::Resync(snapshot), (source, subscription)))
                        }
                    }
                },
            );
            Ok((snapshot, Box::pin(updates) as UpdateStream))
        }
        .boxed()
    }

    fn execute(
        &self,
        command: SourceCommand,
    ) -> BoxFuture<'static, Result<CommandOutcome, SourceError>> {
        let result = self.execute_now(command);
        async move { result }.boxed()
    }
}

impl Embedded {
    /// Engine calls are quick and synchronous, so commands run right away.
    fn execute_now(&self, command: SourceCommand) -> Result<CommandOutcome, SourceError> {
        let refused = |e: crate::engine::EngineError| SourceError::Refused(e.to_string());
        match command {
            SourceCommand::Login { user, attributes } => {
                let login = Login {
                    user,
                    attributes: (!attributes.is_empty()).then_some(attributes),
                    ..Login::default()
                };
                let (_token, session) = self.engine.login(login).map_err(refused)?;
                Ok(CommandOutcome::Done(format!(
                    "logged in {} as {}",
                    session.user, session.handle
                )))
            }
            SourceCommand::Touch(handle) => {
                let session = self
                    .engine
                    .touch_handle(handle, OPERATOR)
                    .map_err(refused)?;
                Ok(CommandOutcome::Session {
                    text: format!("activity on {handle}"),
                    session,
                })
            }
            SourceCommand::Revoke(handle) => {
                self.engine.revoke(handle, OPERATOR).map_err(refused)?;
                Ok(CommandOutcome::Done(format!("revoked {handle}")))
            }
            SourceCommand::RevokeUser(user) => {
                let n = self.engine.revoke_user(&user, OPERATOR);
                Ok(CommandOutcome::revoked_of_user(n as u64, &user))
            }
            SourceCommand::Detail(handle) => match self.engine.get(handle) {
                Some((session, events)) => Ok(CommandOutcome::Detail {
                    session: Some(session),
                    events,
                }),
                None => Ok(CommandOutcome::Detail {
                    session: None,
                    events: Vec::new(),
                }),
            },
            SourceCommand::SetPaused(paused) => {
                self.engine
                    .adjust_clock(|c| c.set_paused(paused))
                    .ok_or(SourceError::Unsupported("pausing the system clock"))?;
                Ok(CommandOutcome::Clock(self.clock()))
            }
            SourceCommand::StepSpeed { faster } => {
                self.engine
                    .adjust_clock(|c| c.set_speed(stepped_speed(c.speed(), faster)))
                    .ok_or(SourceError::Unsupported(
                        "changing the system clock's speed",
                    ))?;
                Ok(CommandOutcome::Clock(self.clock()))
            }
            SourceCommand::SetSimulator(on) => {
                let sim = self
                    .simulator
                    .as_ref()
                    .ok_or(SourceError::Unsupported("the simulator"))?;
                sim.set_enabled(on);
                Ok(CommandOutcome::Simulator(on))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use futures_util::StreamExt;

    use super::*;
    use crate::engine::driver::DriverConfig;
    use crate::engine::{EventKind, Policy, VirtualClock};

    fn source() -> Embedded {
        let clock = Arc::new(VirtualClock::paused_at(1_000_000));
        Embedded::new(
            EngineHandle::spawn(Policy::default(), clock, DriverConfig::default()),
            None,
        )
    }

    async fn next_event(updates: &mut super::super::UpdateStream) -> crate::engine::Event {
        match tokio::time::timeout(Duration::from_secs(5), updates.next()).await {
            Ok(Some(SourceUpdate::Event(event))) => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn commands_become_events_after_the_snapshot() {
        let source = source();
        source
            .execute(SourceCommand::Login {
                user: "before".to_owned(),
                attributes: BTreeMap::new(),
            })
            .await
            .unwrap();
        let (snapshot, mut updates) = source.connect().await.unwrap();
        assert_eq!(snapshot.sessions.len(), 1);
        assert_eq!(snapshot.stats.totals.logins, 1);

        let outcome = source
            .execute(SourceCommand::Login {
                user: "alice".to_owned(),
                attributes: BTreeMap::from([("ip".to_owned(), "192.0.2.1".to_owned())]),
            })
            .await
            .unwrap();
        let CommandOutcome::Done(text) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(text.starts_with("logged in alice as "), "{text}");
        let created = next_event(&mut updates).await;
        assert_eq!(created.kind, EventKind::Created);
        assert_eq!(created.seq, snapshot.seq + 1, "no gap after the snapshot");
        let handle = created.session.handle;

        // Touch events are coalesced per second of clock time; step past that.
        source
            .engine()
            .adjust_clock(|c| c.step(Duration::from_secs(2)));
        source.execute(SourceCommand::Touch(handle)).await.unwrap();
        assert_eq!(next_event(&mut updates).await.kind, EventKind::Touched);

        let detail = source.execute(SourceCommand::Detail(handle)).await.unwrap();
        let CommandOutcome::Detail { session, events } = detail else {
            panic!()
        };
        assert_eq!(session.unwrap().user, "alice");
        assert_eq!(events.len(), 2);

        source.execute(SourceCommand::Revoke(handle)).await.unwrap();
        let revoked = next_event(&mut updates).await;
        assert_eq!(revoked.kind, EventKind::Revoked);
        assert_eq!(revoked.actor.as_deref(), Some(OPERATOR));
        assert!(source.execute(SourceCommand::Revoke(handle)).await.is_err());

        let outcome = source
            .execute(SourceCommand::RevokeUser("before".to_owned()))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            CommandOutcome::Done("revoked 1 session of before".to_owned())
        );
    }

    #[tokio::test]
    async fn clock_commands_pause_and_scale_the_virtual_clock() {
        let source = source();
        assert!(source.info().clock_control);
        let CommandOutcome::Clock(clock) = source
            .execute(SourceCommand::SetPaused(false))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert!(!clock.paused);
        // + and - step through 0.5, 1, 2, 5, 10, 20, 50, 100, and stop at the ends.
        let mut speeds = Vec::new();
        for faster in [true; 8].into_iter().chain([false; 8]) {
            let Ok(CommandOutcome::Clock(clock)) =
                source.execute(SourceCommand::StepSpeed { faster }).await
            else {
                panic!()
            };
            speeds.push(clock.speed);
        }
        assert_eq!(
            speeds,
            [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 100.0, 100.0]
                .into_iter()
                .chain([50.0, 20.0, 10.0, 5.0, 2.0, 1.0, 0.5, 0.5])
                .collect::<Vec<_>>()
        );
        // A speed between two steps (from config) goes to the next one.
        source.engine.adjust_clock(|c| c.set_speed(3.0));
        let Ok(CommandOutcome::Clock(clock)) = source
            .execute(SourceCommand::StepSpeed { faster: false })
            .await
        else {
            panic!()
        };
        assert_eq!(clock.speed, 2.0);
        source.engine.adjust_clock(|c| c.set_speed(100.0));
        assert_eq!(source.clock().speed, 100.0);
    }

    #[tokio::test]
    async fn without_a_simulator_the_toggle_says_so() {
        let source = source();
        assert!(!source.info().simulator);
        let err = source
            .execute(SourceCommand::SetSimulator(true))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("simulator"), "{err}");
    }
}
