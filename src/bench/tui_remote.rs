//! `sessiontop bench tui --remote`: the dashboard connected to a real server
//! over loopback. How long it takes to start with 100,000 live sessions, how
//! many events a second it absorbs from the event stream, and how long an
//! engine event takes to reach the frame that shows it.
//!
//! The server runs in this process (its own engine on the system clock) and
//! the dashboard side is the real `Remote` source feeding the real `App`,
//! drawn into a 200x50 test backend at 30 frames a second, as the event loop
//! would. Only the terminal is missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::eyre;
use futures_util::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use super::stats::{quantile, wall_ms};
use crate::config::{Config, ServerConfig};
use crate::engine::{EngineHandle, Handle, Login, SystemClock};
use crate::source::{Remote, SessionSource, SourceUpdate, UpdateStream};
use crate::tui::app::App;
use crate::tui::keymap::KeyMap;
use crate::tui::msg::Msg;
use crate::tui::view;

const SESSIONS: usize = 100_000;
const FLOOD_EVENTS: usize = 300_000;
const PACED_RATE: usize = 2_000;
const PACED_SECONDS: u64 = 3;
const FRAME: Duration = Duration::from_millis(33);
const ADMIN: &str = "bench-remote-admin-token-0123456789";
const APP: &str = "bench-remote-app-token-0123456789";

#[derive(Debug, Serialize)]
pub struct RemoteTuiReport {
    pub sessions: usize,
    /// From starting to connect until the first frame with every session is drawn.
    pub start_ms: f64,
    /// Events a second the dashboard absorbed from a server emitting as fast as it can.
    pub events_per_s: f64,
    pub flood_events: usize,
    /// From an event's engine time to the end of the frame that shows it, at a steady rate.
    pub event_to_frame_ms: Latency,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub events: usize,
    pub rate_per_s: usize,
}

pub fn run(config: &Config) -> color_eyre::Result<RemoteTuiReport> {
    crate::tui::tune_allocator();
    let runtime = super::runtime()?;
    runtime.block_on(measure(config))
}

struct Dashboard {
    app: App,
    terminal: Terminal<TestBackend>,
    updates: UpdateStream,
    source: Remote,
    started: Instant,
}

impl Dashboard {
    fn draw(&mut self) -> color_eyre::Result<()> {
        self.app.update(Msg::Tick {
            clock: self.source.clock(),
            real_ms: self.started.elapsed().as_millis() as u64,
        });
        self.app.prepare_frame();
        self.terminal.draw(|f| view::draw(f, &self.app))?;
        self.app.mark_drawn();
        Ok(())
    }

    /// Runs the event loop's shape until the event with `until_seq` is on screen:
    /// apply what arrives, draw every frame. `seen` gets each event's engine time
    /// and the wall-clock time the frame that shows it was done.
    async fn follow(
        &mut self,
        until_seq: u64,
        mut seen: impl FnMut(i64, f64),
    ) -> color_eyre::Result<usize> {
        let mut applied = 0;
        let mut pending: Vec<i64> = Vec::new();
        let mut frame = tokio::time::interval(FRAME);
        loop {
            tokio::select! {
                update = self.updates.next() => {
                    let mut next = update;
                    // Take what is already waiting, as the dashboard does.
                    for _ in 0..4096 {
                        match next {
                            Some(SourceUpdate::Event(event)) => {
                                pending.push(event.at);
                                self.app.update(Msg::Update(SourceUpdate::Event(event)));
                                applied += 1;
                            }
                            Some(SourceUpdate::Resync(_)) => {
                                return Err(eyre!("the dashboard fell behind and had to resync"));
                            }
                            Some(other) => {
                                self.app.update(Msg::Update(other));
                            }
                            None => return Err(eyre!("the event stream ended")),
                        }
                        match self.updates.next().now_or_never() {
                            Some(update) => next = update,
                            None => break,
                        }
                    }
                }
                _ = frame.tick() => {
                    self.draw()?;
                    let shown = wall_ms();
                    for at in pending.drain(..) {
                        seen(at, shown);
                    }
                    if self.app.last_seq >= until_seq {
                        return Ok(applied);
                    }
                }
            }
        }
    }
}

async fn measure(config: &Config) -> color_eyre::Result<RemoteTuiReport> {
    let mut policy = config.policy.to_policy()?;
    // Every touch is an event, so the flood is as dense as the engine can make it.
    policy.touch_event_interval = Duration::ZERO;
    // Room for the whole flood, so a stream that falls behind catches up
    // instead of resyncing; the figure is the pipe's rate, not a resync's.
    let mut driver = config.engine.to_driver_config()?;
    driver.subscriber_buffer = driver.subscriber_buffer.max(2 * FLOOD_EVENTS);
    let engine = EngineHandle::spawn(policy, Arc::new(SystemClock), driver);
    let mut handles: Vec<Handle> = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let (_, session) = engine.login(Login::user(format!("user{i:06}")))?;
        handles.push(session.handle);
    }
    let server_config = ServerConfig {
        admin_token: Some(ADMIN.into()),
        app_token: Some(APP.into()),
        ..config.server.clone()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let served = engine.clone();
    tokio::spawn(async move {
        crate::server::serve_engine(served, &server_config, listener, std::future::pending()).await
    });

    // Start: connect, load the snapshot in pages, draw the first frame.
    let started = Instant::now();
    let source = Remote::new(&url, ADMIN.into())?;
    let (snapshot, updates) = source.connect().await?;
    let mut app = App::new(source.info(), config, KeyMap::default(), 1);
    app.update(Msg::Resize(200, 50));
    app.update(Msg::Snapshot(snapshot));
    let mut dashboard = Dashboard {
        app,
        terminal: Terminal::new(TestBackend::new(200, 50))?,
        updates,
        source,
        started,
    };
    dashboard.draw()?;
    let start_ms = started.elapsed().as_secs_f64() * 1e3;
    if dashboard.app.mirror.active() != SESSIONS {
        return Err(eyre!(
            "the dashboard loaded {} of {SESSIONS} sessions",
            dashboard.app.mirror.active()
        ));
    }

    // Latency at a steady rate.
    let paced = PACED_RATE * PACED_SECONDS as usize;
    let until = engine.stats().last_seq + paced as u64;
    let producer_engine = engine.clone();
    let producer_handles = handles.clone();
    let producer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        let per_tick = PACED_RATE / 100;
        let mut sent = 0;
        while sent < paced {
            tick.tick().await;
            for _ in 0..per_tick {
                let handle = producer_handles[sent % producer_handles.len()];
                let _ = producer_engine.touch_handle(handle, "bench");
                sent += 1;
            }
        }
    });
    let mut latency = Vec::with_capacity(paced);
    dashboard
        .follow(until, |at, shown| latency.push(shown - at as f64))
        .await?;
    producer.await?;

    // Flood: the engine emits as fast as it can while the dashboard keeps drawing.
    let until = engine.stats().last_seq + FLOOD_EVENTS as u64;
    let flood_engine = engine.clone();
    let flood_handles = handles.clone();
    let flood = tokio::task::spawn_blocking(move || {
        for i in 0..FLOOD_EVENTS {
            let _ = flood_engine.touch_handle(flood_handles[i % flood_handles.len()], "bench");
        }
    });
    let flood_started = Instant::now();
    let absorbed = dashboard.follow(until, |_, _| {}).await?;
    let events_per_s = absorbed as f64 / flood_started.elapsed().as_secs_f64();
    flood.await?;
    engine.shutdown();

    Ok(RemoteTuiReport {
        sessions: SESSIONS,
        start_ms,
        events_per_s,
        flood_events: FLOOD_EVENTS,
        event_to_frame_ms: Latency {
            p50: quantile(&mut latency, 0.5),
            p99: quantile(&mut latency, 0.99),
            max: quantile(&mut latency, 1.0),
            events: latency.len(),
            rate_per_s: PACED_RATE,
        },
    })
}
