//! `sessiontop lesson`: lists the bundled lessons, or runs one.
//!
//! A lesson runs the dashboard on an embedded engine of its own, with the
//! lesson's policy and speed, on a virtual clock that starts paused at the
//! lesson's time of day. The `Runner` plays due steps on every tick and
//! answers the step key; replay throws the engine away and starts afresh.
//! The terminal stays in the alternate screen across replays, and a
//! recording (`--record`) covers them all.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use color_eyre::eyre::{WrapErr, eyre};

use super::app::App;
use super::keymap::{Action, KeyMap};
use super::lesson::{LessonNote, LessonState};
use super::msg::Msg;
use super::record::Cast;
use super::{Ended, Exit, Term, event_loop, init_logging, init_terminal, restore_terminal};
use crate::config::Config;
use crate::engine::clock::system_now;
use crate::engine::{EngineHandle, Millis, VirtualClock};
use crate::sim::lesson::player::Stepped;
use crate::sim::lesson::{Lesson, Player, listing};
use crate::source::{Embedded, SessionSource};

/// Plays a lesson's steps as its clock reaches them, and the step key.
pub struct Runner {
    engine: EngineHandle,
    player: Player,
}

impl Runner {
    /// Steps due by now while the clock runs (a paused lesson moves only
    /// by the step key). The player holds the clock at each step until it is
    /// played, and pauses it there when the step asks.
    pub fn tick(&mut self) -> Vec<Msg> {
        if self
            .engine
            .virtual_clock()
            .is_none_or(|clock| clock.is_paused())
        {
            return Vec::new();
        }
        self.player
            .play_due(self.engine.now())
            .into_iter()
            .map(|p| Msg::Lesson(LessonNote::Played(p)))
            .collect()
    }

    /// The step key: on to the next step or ending, paused there.
    pub fn step(&mut self) -> Vec<Msg> {
        match self.player.step() {
            Stepped::Played(played) => vec![Msg::Lesson(LessonNote::Played(played))],
            // The ending's own event explains it.
            Stepped::Ending(_) => Vec::new(),
            Stepped::Nothing => vec![Msg::Lesson(LessonNote::NothingLeft)],
        }
    }
}

/// With no lesson, prints the bundled ones; with one, runs it in this terminal.
pub fn run(
    config: Config,
    lesson: Option<String>,
    record: Option<PathBuf>,
) -> color_eyre::Result<Ended> {
    let keymap = KeyMap::from_config(&config.keys)?;
    let Some(name) = lesson else {
        let key = |action| keymap.first(action);
        print!(
            "{}",
            listing(&format!(
                "{} step · {} pause/go on · {} pause after endings · {}/{} speed · {} quit",
                key(Action::Step),
                key(Action::Pause),
                key(Action::AutoPause),
                key(Action::Faster),
                key(Action::Slower),
                key(Action::Quit)
            ))
        );
        return Ok(Ended::Quit);
    };
    let lesson = Lesson::load(&name, None)?;
    if !std::io::stdout().is_terminal() {
        return Err(eyre!(
            "a lesson needs a terminal, but standard output is not one; run it in a terminal"
        ));
    }
    let driver = config.engine.to_driver_config()?;
    // The lesson's clock, its closing times and the screen all read one zone:
    // [policy] time_zone, by default the host's.
    let zone = config.policy.to_policy()?.time_zone;
    let cast = match &record {
        Some(path) => Some(
            Cast::create(path, &format!("sessiontop lesson {}", lesson.name))
                .wrap_err_with(|| format!("cannot write the recording {}", path.display()))?,
        ),
        None => None,
    };
    super::tune_allocator();
    let logging = init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the tokio runtime")?;
    let result = runtime.block_on(async move {
        let mut terminal = init_terminal(cast)?;
        let result = classes(&mut terminal, &config, &lesson, keymap, driver, zone).await;
        restore_terminal();
        result
    });
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Err(e) = &result {
        tracing::error!("lesson stopped: {e:#}");
    }
    drop(logging);
    result
}

/// Runs the lesson, and again for every replay, until the trainer quits.
async fn classes(
    terminal: &mut Term,
    config: &Config,
    lesson: &Lesson,
    keymap: KeyMap,
    driver: crate::engine::driver::DriverConfig,
    zone: Tz,
) -> color_eyre::Result<Ended> {
    let mut auto_pause = lesson.auto_pause;
    loop {
        let start = start_time(lesson, zone);
        let clock = Arc::new(VirtualClock::new(start, lesson.speed));
        // The trainer starts it: s for a step, Space to let it run.
        clock.set_paused(true);
        let engine = EngineHandle::spawn(lesson.policy(zone), clock, driver.clone());
        let source = Arc::new(Embedded::new(engine.clone(), None));
        let mut app = App::new(source.info(), config, keymap.clone(), system_now() as u64);
        app.start_lesson(LessonState::new(
            &lesson.title,
            &lesson.summary,
            lesson.steps.len(),
            auto_pause,
        ));
        let mut runner = Runner {
            engine: engine.clone(),
            player: Player::new(engine.clone(), lesson, start),
        };
        let (snapshot, updates) = source
            .connect()
            .await
            .wrap_err("cannot load the sessions")?;
        let exit = event_loop(
            terminal,
            source,
            app,
            snapshot,
            updates,
            config.dashboard.fps,
            Some(&mut runner),
        )
        .await;
        engine.shutdown();
        match exit? {
            Exit::Replay { auto_pause: chosen } => auto_pause = chosen,
            Exit::Quit => return Ok(Ended::Quit),
            Exit::Signal(n) => return Ok(Ended::Signal(n)),
        }
    }
}

/// Today at the lesson's time of day in `zone`, or now on the minute.
fn start_time(lesson: &Lesson, zone: Tz) -> Millis {
    let now = zone
        .timestamp_millis_opt(system_now())
        .single()
        .map_or_else(|| Local::now().naive_local(), |t| t.naive_local());
    let time = lesson.clock.unwrap_or_else(|| {
        NaiveTime::from_hms_opt(now.hour(), now.minute(), 0).unwrap_or(NaiveTime::MIN)
    });
    zone.from_local_datetime(&now.date().and_time(time))
        .earliest()
        .map_or_else(system_now, |t| t.timestamp_millis())
}
