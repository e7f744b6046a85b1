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

fn split(engine: &EngineHandle, snapshot: Snapshot) -> (SourceSnapshot, Subscription) {
    let stats = engine.stats();
    let Snapshot {
        sessions,
        seq,
        now,
        subscription,
    } = snapshot;
    (
        SourceSnapshot {
            sessions,
            seq,
            stats,
            now,
        },
        subscription,
    )
}

impl SessionSource for Embedded {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            mode: "embedded".to_owned(),
            policy: self.engine.policy(),
            clock_control: self.engine.virtual_clock().is_some(),
            simulator: self.simulator.is_some(),
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
        let engine = self.engine.clone();
        async move {
            let (snapshot, subscription) = split(&engine, engine.snapshot());
            let updates = stream::unfold(
                (engine, subscription),
                |(engine, mut subscription)| async move {
                    match subscription.next().await? {
                        Delivery::Event(event) => {
                            Some((SourceUpdate::Event(event), (engine, subscription)))
                        }
                        Delivery::Resync => {
                            let (snapshot, subscription) = split(&engine, engine.snapshot());
                            Some((SourceUpdate::Resync(snapshot), (engine, subscription)))
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
                self.engine
                    .touch_handle(handle, OPERATOR)
                    .map_err(refused)?;
                Ok(CommandOutcome::Done(format!("activity on {handle}")))
            }
            SourceCommand::Revoke(handle) => {
                self.engine.revoke(handle, OPERATOR).map_err(refused)?;
                Ok(CommandOutcome::Done(format!("revoked {handle}")))
            }
            SourceCommand::RevokeUser(user) => {
                let n = self.engine.revoke_user(&user, OPERATOR);
                Ok(CommandOutcome::Done(format!(
                    "revoked {n} session{} of {user}",
                    if n == 1 { "" } else { "s" }
                )))
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
            SourceCommand::ScaleSpeed(factor) => {
                self.engine
                    .adjust_clock(|c| c.set_speed(c.speed() * factor))
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
