//! `sessiontop bench tui`: how fast the dashboard draws and absorbs events
//! with N sessions live.
//!
//! `frame_ms` is one full frame (selection upkeep, building the visible rows
//! and rendering into a 200x50 test backend) while events arrive between
//! frames; `events_per_s` is how many engine events `App::update` absorbs.
//! The sessions and events are synthetic and built before timing starts.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

use super::stats::{quantile, rss_bytes};
use crate::config::Config;
use crate::engine::{Event, EventKind, ExpiryReason, SessionView};
use crate::source::{ClockReading, SourceUpdate};
use crate::tui::app::App;
use crate::tui::fixture::{self, T0};
use crate::tui::keymap::KeyMap;
use crate::tui::msg::Msg;
use crate::tui::view;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 50;
const FRAMES: usize = 2_000;
const EVENTS_PER_FRAME: usize = 50;
const ABSORB_EVENTS: usize = 500_000;
const FRAME_MS: i64 = 33;

#[derive(Debug, Serialize)]
pub struct TuiReport {
    pub sessions: usize,
    pub frame_ms: FrameTimes,
    pub events_per_s: f64,
    /// Loading the initial snapshot into the dashboard's mirror.
    pub load_ms: f64,
    /// Resident memory added by building the sessions and loading them, per
    /// session; it counts the benchmark's own copy of the sessions too.
    pub bytes_per_session: f64,
}

#[derive(Debug, Serialize)]
pub struct FrameTimes {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub frames: usize,
    pub events_between_frames: usize,
}

/// A small deterministic generator, so runs are comparable.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn synthetic_session(n: u64, rng: &mut Lcg) -> SessionView {
    let users = crate::sim::user_names();
    let user = format!("{}{}", users[rng.below(users.len())], n % 1000);
    let ip = format!("198.51.100.{}", rng.below(254) + 1);
    let created = T0 - rng.below(7 * 3_600_000) as i64;
    let last_seen = T0 - rng.below(fixture::IDLE_MS as usize) as i64;
    let mut session = fixture::session(n, &user, &ip, created, last_seen.max(created));
    session.handle.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    session
}

/// Events as a busy engine would send them: mostly activity, logins and ends in balance.
fn synthetic_events(
    live: &mut Vec<SessionView>,
    count: usize,
    first_seq: u64,
    next_id: &mut u64,
    rng: &mut Lcg,
) -> Vec<Event> {
    let mut events = Vec::with_capacity(count);
    for i in 0..count {
        let seq = first_seq + i as u64;
        let at = T0 + (i as i64);
        let roll = rng.below(100);
        let event = if live.is_empty() || (70..85).contains(&roll) {
            *next_id += 1;
            let session = synthetic_session(*next_id, rng);
            live.push(session.clone());
            fixture::event(seq, EventKind::Created, at, &session)
        } else if roll < 70 {
            let index = rng.below(live.len());
            fixture::event(seq, EventKind::Touched, at, &live[index])
        } else {
            let index = rng.below(live.len());
            let session = live.swap_remove(index);
            let kind = [EventKind::Expired, EventKind::LoggedOut, EventKind::Revoked][rng.below(3)];
            let mut event = fixture::event(seq, kind, at, &session);
            if kind == EventKind::Expired {
                event.reason = Some(ExpiryReason::Idle);
            }
            event
        };
        events.push(event);
    }
    events
}

pub fn run(sessions: usize, config: &Config) -> color_eyre::Result<TuiReport> {
    crate::tui::tune_allocator();
    let rss_before = rss_bytes();
    let mut rng = Lcg(7);
    let mut live: Vec<SessionView> = (0..sessions as u64)
        .map(|n| synthetic_session(n, &mut rng))
        .collect();
    let mut next_id = sessions as u64;

    let mut app = App::new(fixture::info(), config, KeyMap::default(), 1);
    app.update(Msg::Resize(WIDTH, HEIGHT));
    let started = Instant::now();
    app.update(Msg::Snapshot(fixture::snapshot(live.clone(), 0)));
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let bytes_per_session = rss_bytes().saturating_sub(rss_before) as f64 / sessions.max(1) as f64;

    // Absorbing events.
    let events = synthetic_events(&mut live, ABSORB_EVENTS, 1, &mut next_id, &mut rng);
    // A tick per thousand events, as the event loop would give at 30 fps and 30,000 events/s.
    let started = Instant::now();
    for (i, event) in events.into_iter().enumerate() {
        app.update(Msg::Update(SourceUpdate::Event(event)));
        if i % 1000 == 999 {
            app.update(Msg::Tick {
                clock: ClockReading {
                    now: T0 + i as i64,
                    speed: 1.0,
                    paused: false,
                },
                real_ms: (i as u64 / 1000) * FRAME_MS as u64,
            });
        }
    }
    let events_per_s = ABSORB_EVENTS as f64 / started.elapsed().as_secs_f64();

    // Frames, with events arriving between them and the clock running.
    let mut terminal = Terminal::new(TestBackend::new(WIDTH, HEIGHT))?;
    let mut seq = ABSORB_EVENTS as u64 + 1;
    let mut times = Vec::with_capacity(FRAMES);
    for frame in 0..FRAMES {
        let events = synthetic_events(&mut live, EVENTS_PER_FRAME, seq, &mut next_id, &mut rng);
        seq += EVENTS_PER_FRAME as u64;
        for event in events {
            app.update(Msg::Update(SourceUpdate::Event(event)));
        }
        app.update(Msg::Tick {
            clock: ClockReading {
                now: T0 + ABSORB_EVENTS as i64 + frame as i64 * FRAME_MS,
                speed: 1.0,
                paused: false,
            },
            real_ms: (ABSORB_EVENTS as u64 / 1000 + frame as u64) * FRAME_MS as u64,
        });
        // Scroll now and then, so frames are not all drawn from the same rows.
        if frame % 100 == 50 {
            app.update(Msg::Key(crossterm::event::KeyEvent::new(
                crossterm::event::KeyCode::PageDown,
                crossterm::event::KeyModifiers::NONE,
            )));
        }
        let started = Instant::now();
        app.prepare_frame();
        terminal.draw(|f| view::draw(f, &app))?;

        app.mark_drawn();
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    Ok(TuiReport {
        sessions,
        frame_ms: FrameTimes {
            p50: quantile(&mut times, 0.5),
            p99: quantile(&mut times, 0.99),
            max: quantile(&mut times, 1.0),
            frames: FRAMES,
            events_between_frames: EVENTS_PER_FRAME,
        },
        events_per_s,
        load_ms,
        bytes_per_session,
    })
}
