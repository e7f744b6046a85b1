//! The dashboard: an Elm-style loop over terminal input, source updates and ticks.
//!
//! `run` checks the terminal, starts the embedded engine, the simulator and
//! the source, then runs one `tokio::select!` loop: input, source updates,
//! command outcomes and a 1/fps tick become `Msg`s for `App::update`; the
//! screen is redrawn only when something changed or a visible countdown
//! moved. The terminal is restored on quit, on error and on panic. Logs go to
//! a file, never to the screen. This module owns the terminal and nothing else.

pub mod activity;
pub mod app;
pub mod caption;
pub mod classroom;
pub mod fixture;
mod input;
pub mod keymap;
pub mod lesson;
pub mod mirror;
pub mod msg;
pub mod record;
pub mod text;
pub mod theme;
pub mod view;

#[cfg(test)]
mod lesson_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use color_eyre::eyre::{WrapErr, eyre};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, Event as TermEvent, EventStream};
use crossterm::terminal::EnterAlternateScreen;
use futures_util::{FutureExt, StreamExt};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::config::{Config, SimulatorConfig};
use crate::engine::clock::system_now;
use crate::engine::{EngineHandle, VirtualClock};
use crate::sim::scenario::{Playback, Scenario};
use crate::source::{CommandOutcome, Embedded, Remote, SessionSource, SourceError, UpdateStream};
use app::App;
use keymap::KeyMap;
use lesson::LessonCommand;
use msg::{Command, Msg};
use record::{Cast, Screen};

/// The terminal the dashboard draws on, through a writer that can record it.
pub type Term = Terminal<CrosstermBackend<Screen>>;

/// How an event loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// A signal from outside (its number) ended it.
    Signal(i32),
    /// Lesson mode: start the lesson again, pausing after endings or not
    /// as the trainer last chose.
    Replay {
        auto_pause: bool,
    },
}

/// How the dashboard or a lesson ended, for `main` to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Quit,
    /// A signal from outside (its number): a shell expects exit status 128 + it,
    /// as for a program the signal ended, so a script can tell it from a quit.
    Signal(i32),
}

impl Ended {
    /// The exit status this end calls for.
    pub fn exit_status(self) -> u8 {
        match self {
            Ended::Quit => 0,
            Ended::Signal(n) => 128u8.saturating_add(u8::try_from(n).unwrap_or(0)),
        }
    }
}

/// Source updates applied per wake-up before the screen gets a turn.
const UPDATE_BATCH: usize = 4096;

/// The dashboard's settings that `config` leaves to their owners: the key
/// map and the scenario, each mistake in one sentence (with the config
/// file's line) and with the section it is in.
pub fn check_settings(config: &Config) -> Vec<(&'static str, String)> {
    let mut mistakes = Vec::new();
    if let Err(e) = KeyMap::from_config(&config.keys) {
        mistakes.push(("keys", config.refuse(&e.key(), e)));
    }
    if let Some(name) = &config.simulator.scenario
        && let Err(e) = Scenario::load(name)
    {
        let e = format!("simulator.scenario = {name:?}: {e}");
        mistakes.push(("simulator", config.refuse("simulator.scenario", e)));
    }
    mistakes
}

pub fn run(config: Config) -> color_eyre::Result<Ended> {
    // A bad setting is reported first, whether or not there is a terminal.
    let keymap = KeyMap::from_config(&config.keys)?;
    if !std::io::stdout().is_terminal() {
        return Err(eyre!(
            "the dashboard needs a terminal, but standard output is not one; run it in a terminal (for figures without one, use `sessiontop bench`)"
        ));
    }
    tune_allocator();
    let logging = init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .wrap_err("cannot start the tokio runtime")?;
    let result = runtime.block_on(async move {
        let seed = system_now() as u64;
        let fps = config.dashboard.fps;
        if let Some(url) = &config.dashboard.server {
            let source = Arc::new(Remote::with_token_file(
                url,
                config.dashboard.token_file.as_deref(),
                config.dashboard.token.as_ref(),
            )?);
            let app = App::new(source.info(), &config, keymap, seed);
            return run_with(source, app, fps, |_| {}).await;
        }
        let clock = Arc::new(VirtualClock::new(system_now(), config.dashboard.speed));
        let engine = EngineHandle::spawn(
            config.policy.to_policy()?,
            clock,
            config.engine.to_driver_config()?,
        );
        // The simulator starts once the snapshot is taken, so its first logins
        // arrive as events and fill the event log from the first second.
        let simulator = crate::sim::spawn(
            engine.clone(),
            SimulatorConfig {
                enabled: false,
                ..config.simulator.clone()
            },
        );
        let scenario = match &config.simulator.scenario {
            Some(name) => Some(Scenario::load(name).map_err(|e| eyre!(e))?),
            None => None,
        };
        let start_simulator =
            (config.simulator.enabled && scenario.is_none()).then(|| simulator.clone());
        let source = Arc::new(Embedded::new(engine.clone(), Some(simulator)));
        let mut app = App::new(source.info(), &config, keymap, seed);
        app.simulator_on = start_simulator.is_some();
        let playback_engine = engine.clone();
        let result = run_with(source, app, fps, move |app| {
            if let Some(simulator) = start_simulator {
                simulator.set_enabled(true);
            }
            if let Some(scenario) = scenario {
                app.set_status(format!("scenario: {}", scenario.description), false);
                let start = playback_engine.now();
                tokio::spawn(Playback::new(playback_engine, scenario, start).run());
            }
        })
        .await;
        engine.shutdown();
        result
    });
    // Drop the runtime without waiting on tasks that sleep until the next deadline.
    runtime.shutdown_timeout(Duration::from_millis(100));
    if let Err(e) = &result {
        tracing::error!("dashboard stopped: {e:#}");
    }
    drop(logging);
    result
}

/// Keeps freed memory in the process instead of giving it back to the OS at
/// once. With glibc's default, the heap top is trimmed and faulted in again
/// every few frames while sessions come and go, which cost 4 ms frames in
/// `bench tui`; with this, frames stay well under 1 ms. Only the dashboard
/// process calls it.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is thread-safe and only sets allocator parameters;
    // any value is valid for these two options.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TOP_PAD, 16 << 20);
    }
}

/// Where the dashboard logs: a file in the user's state (or cache) directory,
/// written by a background thread so logging never stalls a frame. Never the
/// terminal. The guard flushes the file when dropped at exit.
pub(crate) struct Logging {
    _guard: tracing_appender::non_blocking::WorkerGuard,
}

pub(crate) fn init_logging() -> Option<Logging> {
    let dir = dirs::state_dir()
        .or_else(dirs::cache_dir)?
        .join("sessiontop");
    std::fs::create_dir_all(&dir).ok()?;
    // The log names users and their addresses: readable by this user only.
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let path = dir.join("dashboard.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .ok()?;
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
    }
    let appender = tracing_appender::rolling::never(&dir, "dashboard.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("SESSIONTOP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(writer)
        .try_init()
        .ok()?;
    Some(Logging { _guard: guard })
}

/// Enters the alternate screen with raw mode and mouse capture; panics restore
/// it first. With a cast, everything drawn from here on is recorded.
pub(crate) fn init_terminal(cast: Option<Cast>) -> color_eyre::Result<Term> {
    // color-eyre's hooks first, so the terminal is restored before its report prints.
    let _ = color_eyre::install();
    crossterm::terminal::enable_raw_mode().wrap_err("cannot set up the terminal")?;
    let mut screen = Screen::new(cast);
    let (width, height) = crossterm::terminal::size().wrap_err("cannot read the terminal size")?;
    screen
        .start_recording(width, height)
        .wrap_err("cannot write the recording")?;
    if let Err(e) = crossterm::execute!(screen, EnterAlternateScreen) {
        restore_terminal();
        return Err(e).wrap_err("cannot set up the terminal");
    }
    let terminal = match Terminal::new(CrosstermBackend::new(screen)) {
        Ok(terminal) => terminal,
        Err(e) => {
            restore_terminal();
            return Err(e).wrap_err("cannot set up the terminal");
        }
    };
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
        // A panic in any task (the simulator, a command) leaves the screen
        // restored and the state unknown: stop rather than draw on.
        std::process::exit(101);
    }));
    // Not recorded: a recording has no mouse.
    crossterm::execute!(std::io::stdout(), EnableMouseCapture)
        .wrap_err("cannot enable the mouse")?;
    Ok(terminal)
}

pub(crate) fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableMouseCapture,
        crossterm::cursor::Show
    );
    ratatui::restore();
}

/// Ctrl-Z: gives the terminal back as found and stops the process, as a
/// shell's job control expects; on `fg` takes the terminal again and
/// redraws it whole. Returns the terminal's size, which may have changed.
fn suspend(terminal: &mut Term) -> color_eyre::Result<Msg> {
    restore_terminal();
    // SAFETY: raise(3) with a signal number; SIGSTOP cannot be caught, so
    // no handler of ours runs. The process goes on here when continued.
    unsafe {
        libc::raise(libc::SIGSTOP);
    }
    crossterm::terminal::enable_raw_mode().wrap_err("cannot set up the terminal again")?;
    crossterm::execute!(
        std::io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        crossterm::cursor::Hide
    )
    .wrap_err("cannot set up the terminal again")?;
    // Clears the screen and forgets what was drawn, so the next frame is
    // drawn whole (`clear` would ask the terminal where its cursor is,
    // an answer the input reader may take first).
    let size = terminal.size()?;
    terminal.resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
    Ok(Msg::Resize(size.width, size.height))
}

async fn run_with(
    source: Arc<dyn SessionSource>,
    mut app: App,
    fps: u32,
    connected: impl FnOnce(&mut App),
) -> color_eyre::Result<Ended> {
    let connecting = source.connect();
    tokio::pin!(connecting);
    // A server slow to answer is said to be waited for, rather than leave
    // the terminal silent until the request gives up.
    let answer = tokio::select! {
        answer = &mut connecting => answer,
        () = tokio::time::sleep(Duration::from_millis(500)),
            if source.info().remote && std::io::stderr().is_terminal() =>
        {
            eprint!("sessiontop: connecting to {}…", source.info().mode);
            let answer = connecting.await;
            eprint!("\r\x1b[2K");
            answer
        }
    };
    let (snapshot, updates) = answer.wrap_err("cannot load the sessions")?;
    connected(&mut app);
    tracing::info!(
        mode = %source.info().mode,
        sessions = snapshot.sessions.len(),
        "dashboard started"
    );
    let mut terminal = init_terminal(None)?;
    let result = event_loop(&mut terminal, source, app, snapshot, updates, fps, None).await;
    restore_terminal();
    result.map(|exit| match exit {
        Exit::Signal(n) => Ended::Signal(n),
        // No lesson, so no replay.
        Exit::Quit | Exit::Replay { .. } => Ended::Quit,
    })
}

/// The dashboard's one loop: input, source updates, command outcomes and
/// ticks become messages; a lesson's runner plays its steps on ticks and
/// answers the lesson keys.
pub(crate) async fn event_loop(
    terminal: &mut Term,
    source: Arc<dyn SessionSource>,
    mut app: App,
    snapshot: crate::source::SourceSnapshot,
    mut updates: UpdateStream,
    fps: u32,
    mut lesson: Option<&mut classroom::Runner>,
) -> color_eyre::Result<Exit> {
    let started = Instant::now();
    app.wall_start = system_now();
    let size = terminal.size()?;
    app.update(Msg::Resize(size.width, size.height));
    app.update(Msg::Snapshot(snapshot));
    // The first frame shows the source's clock (a lesson's speed, paused),
    // not the config's speed until the first tick.
    app.update(Msg::Tick {
        clock: source.clock(),
        real_ms: 0,
    });
    let mut input = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(fps.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (outcome_tx, mut outcomes) =
        mpsc::unbounded_channel::<Result<CommandOutcome, SourceError>>();
    let mut source_open = true;
    // kill, timeout, tmux, scripts and systemd end a program with these
    // (Ctrl-C and Ctrl-\ come as keys in raw mode): leave the terminal as found.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut quit = signal(SignalKind::quit())?;
    // A stop from outside (kill -TSTP) is taken as Ctrl-Z is.
    let mut stop = signal(SignalKind::from_raw(libc::SIGTSTP))?;
    loop {
        if app.needs_redraw() {
            app.prepare_frame();
            terminal.draw(|frame| view::draw(frame, &app))?;
            app.mark_drawn();
        }
        let mut msgs = Vec::new();
        tokio::select! {
            _ = terminate.recv() => return Ok(Exit::Signal(libc::SIGTERM)),
            _ = hangup.recv() => return Ok(Exit::Signal(libc::SIGHUP)),
            _ = interrupt.recv() => return Ok(Exit::Signal(libc::SIGINT)),
            _ = quit.recv() => return Ok(Exit::Signal(libc::SIGQUIT)),
            _ = stop.recv() => msgs.push(suspend(terminal)?),
            input = input.next() => match input {
                Some(Ok(TermEvent::Key(key))) if keymap::is_suspend(&key) => {
                    msgs.push(suspend(terminal)?);
                }
                Some(Ok(TermEvent::Key(key))) => msgs.push(Msg::Key(key)),
                Some(Ok(TermEvent::Mouse(mouse))) => msgs.push(Msg::Mouse(mouse)),
                Some(Ok(TermEvent::Resize(w, h))) => msgs.push(Msg::Resize(w, h)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).wrap_err("cannot read the terminal"),
                None => return Ok(Exit::Quit),
            },
            update = updates.next(), if source_open => match update {
                Some(update) => {
                    msgs.push(Msg::Update(update));
                    // Take what else is already waiting, so a burst costs one frame.
                    while msgs.len() < UPDATE_BATCH {
                        match updates.next().now_or_never() {
                            Some(Some(update)) => msgs.push(Msg::Update(update)),
                            Some(None) => { source_open = false; break; }
                            None => break,
                        }
                    }
                }
                None => {
                    source_open = false;
                    msgs.push(Msg::Outcome(Err(SourceError::Connection("the session source stopped".to_owned()))));
                }
            },
            Some(outcome) = outcomes.recv() => msgs.push(Msg::Outcome(outcome)),
            _ = tick.tick() => {
                // A resize whose event has not come yet (the frame already
                // has the new size): the app's clicks and pages follow it too.
                if let Ok(size) = terminal.size()
                    && (size.width, size.height) != app.size
                {
                    msgs.push(Msg::Resize(size.width, size.height));
                }
                if let Some(runner) = lesson.as_deref_mut() {
                    msgs.extend(runner.tick());
                }
                msgs.push(Msg::Tick {
                    clock: source.clock(),
                    real_ms: started.elapsed().as_millis() as u64,
                });
            }
        }
        let mut queue = VecDeque::from(msgs);
        while let Some(msg) = queue.pop_front() {
            for command in app.update(msg) {
                match command {
                    Command::Quit => return Ok(Exit::Quit),
                    Command::Lesson(LessonCommand::Replay) if lesson.is_some() => {
                        let auto_pause = app.lesson.as_ref().is_some_and(|l| l.auto_pause);
                        return Ok(Exit::Replay { auto_pause });
                    }
                    Command::Lesson(LessonCommand::Step) => {
                        if let Some(runner) = lesson.as_deref_mut() {
                            queue.extend(runner.step());
                        }
                    }
                    Command::Lesson(_) => {}
                    Command::Source(command) => {
                        tracing::info!(%command, "command");
                        let run = source.execute(command);
                        let tx = outcome_tx.clone();
                        tokio::spawn(async move {
                            let outcome = run.await;
                            if let Err(e) = &outcome {
                                tracing::warn!("command failed: {e}");
                            }
                            let _ = tx.send(outcome);
                        });
                    }
                }
            }
        }
    }
}
