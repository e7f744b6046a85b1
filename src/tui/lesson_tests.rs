//! Lesson mode on screen: insta screens at a projector's 80x24 and at
//! 100x30 in both themes, captions, auto-pause, the replay prompt, the
//! too-small pause, and a server's real logins asking first.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::app::{App, Confirm, Mode};
use super::fixture::{self, T0, event, session, sessions};
use super::lesson::{LessonCommand, LessonNote, LessonState};
use super::msg::{Command, Msg};
use super::view;
use crate::engine::{EventKind, ExpiryReason};
use crate::sim::lesson::Played;
use crate::source::{ClockReading, SourceCommand, SourceUpdate};

fn lesson_app(width: u16, height: u16, projector: bool) -> App {
    let mut app = fixture::app_with(sessions()[..5].to_vec(), width, height);
    app.info.simulator = false;
    app.theme.projector = projector;
    app.start_lesson(LessonState::new(
        "Each way a session ends",
        "Four sessions end four ways.",
        9,
        true,
    ));
    app
}

fn played(app: &mut App, number: usize, caption: &str) {
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number,
        caption: Some(caption.to_owned()),
        ..Played::default()
    })));
}

fn send(app: &mut App, event: crate::engine::Event) -> Vec<Command> {
    app.update(Msg::Update(SourceUpdate::Event(event)))
}

fn key(app: &mut App, c: char) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::NONE,
    )))
}

fn render(app: &mut App) -> Terminal<TestBackend> {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.prepare_frame();
    terminal.draw(|frame| view::draw(frame, app)).unwrap();
    terminal
}

fn screen(app: &mut App) -> String {
    render(app).backend().to_string()
}

/// A lesson in the middle: a step's caption, a click, two endings.
fn mid_lesson(width: u16, height: u16, projector: bool) -> App {
    let mut app = lesson_app(width, height, projector);
    let all = sessions();
    played(&mut app, 3, "Ada is done and logs out.");
    send(&mut app, event(101, EventKind::LoggedOut, T0, &all[0]));
    played(&mut app, 4, "Dave keeps working.");
    send(&mut app, event(102, EventKind::Touched, T0, &all[3]));
    send(&mut app, event(103, EventKind::Expired, T0, &all[1]));
    app
}

#[test]
fn lesson_screen_80x24() {
    insta::assert_snapshot!(render(&mut mid_lesson(80, 24, false)).backend());
}

#[test]
fn lesson_screen_80x24_projector() {
    insta::assert_snapshot!(render(&mut mid_lesson(80, 24, true)).backend());
}

#[test]
fn lesson_screen_100x30() {
    insta::assert_snapshot!(render(&mut mid_lesson(100, 30, false)).backend());
}

#[test]
fn lesson_screen_100x30_projector() {
    insta::assert_snapshot!(render(&mut mid_lesson(100, 30, true)).backend());
}

#[test]
fn at_80_columns_the_origin_and_the_handle_make_room_and_four_endings_show() {
    let mut app = mid_lesson(80, 24, false);
    let all = sessions();
    send(&mut app, event(104, EventKind::Revoked, T0, &all[2]));
    send(&mut app, event(105, EventKind::Expired, T0, &all[4]));
    let text = screen(&mut app);
    assert!(
        !text.contains("ORIGIN") && !text.contains("HANDLE"),
        "{text}"
    );
    for column in ["USER", "IDLE LEFT", "ABSOLUTE", "STATE"] {
        assert!(text.contains(column), "{column}: {text}");
    }
    for ending in ["logged out", "idle for 15m", "revoked by operator"] {
        assert!(text.contains(ending), "{ending}: {text}");
    }
    assert!(text.contains("step 4 of 9"), "the progress line: {text}");
    let at_100 = screen(&mut mid_lesson(100, 30, false));
    assert!(
        at_100.contains("HANDLE") && !at_100.contains("ORIGIN"),
        "{at_100}"
    );
}

#[test]
fn every_event_is_explained_in_plain_words_without_lateness() {
    let mut app = mid_lesson(120, 40, false);
    let text = screen(&mut app);
    assert!(text.contains("Dave keeps working."), "{text}");
    assert!(
        text.contains("alice logged out: the session ended at once"),
        "{text}"
    );
    assert!(
        text.contains("dave clicked: the idle countdown starts again at 15:00; the absolute limit stays at 7:55:00."),
        "{text}"
    );
    assert!(
        text.contains("bob was idle for 15 minutes: the session ended."),
        "{text}"
    );
    assert!(!text.contains("ms late"), "{text}");
    assert!(
        text.contains("touched"),
        "activity is shown in a lesson: {text}"
    );
}

/// The caption panel's text with its borders and line breaks taken out.
fn panel(app: &mut App) -> String {
    let text = screen(app);
    let top = text.find("step ").expect("the caption panel");
    text[top..]
        .lines()
        .skip(1)
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace() || c == '"'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where each text starts in the panel; panics if one is not shown.
fn positions(panel: &str, texts: &[&str]) -> Vec<usize> {
    texts
        .iter()
        .map(|t| {
            panel
                .find(t)
                .unwrap_or_else(|| panic!("{t:?} not shown: {panel}"))
        })
        .collect()
}

/// Checks that `newest` all show, in order and last, and that whatever of
/// `older` still fits shows above them, in order.
fn told_in_order(panel: &str, older: &[&str], newest: &[&str]) {
    let mut at: Vec<usize> = older.iter().filter_map(|t| panel.find(t)).collect();
    at.extend(positions(panel, newest));
    assert!(at.is_sorted(), "in the order things happened: {panel}");
}

#[test]
fn a_steps_events_are_told_before_its_note_and_the_newest_shows() {
    // The renewal lesson's fourth step at 100x30: the step's words and its
    // note reach the dashboard before the renewal's own event does.
    let mut app = lesson_app(100, 30, false);
    let ada = sessions()[0].clone();
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 3,
        events: Some((105, 105)),
        ..Played::default()
    })));
    send(&mut app, event(106, EventKind::Touched, T0, &ada));
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 4,
        caption: Some("Ada is made an administrator. The app renews her token, as OWASP asks after any privilege change: same session, same handle, new secret.".to_owned()),
        note: Some("The old token was tried again and refused: only the new one works.".to_owned()),
        events: Some((106, 107)),
        ..Played::default()
    })));
    send(&mut app, event(107, EventKind::Renewed, T0 + 1_000, &ada));
    told_in_order(
        &panel(&mut app),
        &["alice clicked", "Ada is made an administrator"],
        &["alice's token was renewed", "The old token was tried again"],
    );
}

#[test]
fn a_long_step_caption_shows_whole_and_the_newest_explanation_begins_at_80x24() {
    let mut app = lesson_app(80, 24, false);
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 1,
        caption: Some("Ada logs in. Her session gets two countdowns: idle (1 minute without a click) and absolute (3 minutes after login, however busy she is).".to_owned()),
        events: Some((100, 101)),
        ..Played::default()
    })));
    send(&mut app, event(101, EventKind::Created, T0, &sessions()[0]));
    // Three rows: the step's words whole, and the beginning of the login's
    // explanation below them, marked where it was cut.
    let panel = panel(&mut app);
    told_in_order(
        &panel,
        &[],
        &[
            "Ada logs in.",
            "however busy she is).",
            "alice logged in",
            " …",
        ],
    );
}

#[test]
fn an_older_explanation_never_shows_below_the_newest_step() {
    let mut app = lesson_app(100, 30, false);
    let all = sessions();
    for (i, s) in all[..5].iter().enumerate() {
        app.update(Msg::Lesson(LessonNote::Played(Played {
            number: i + 1,
            events: Some((100 + i as u64, 101 + i as u64)),
            ..Played::default()
        })));
        send(&mut app, event(101 + i as u64, EventKind::Created, T0, s));
    }
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 6,
        caption: Some("The park announces its closing time.".to_owned()),
        note: Some(
            "Closing time is now 18:00: every session still open then ends at that instant."
                .to_owned(),
        ),
        events: Some((105, 105)),
        ..Played::default()
    })));
    let panel = panel(&mut app);
    let newest = positions(&panel, &["The park announces", "Closing time is now"]);
    assert!(newest.is_sorted(), "{panel}");
    assert!(
        !panel[newest[0]..].contains("logged in"),
        "an older login is told after the newest step: {panel}"
    );
}

#[test]
fn the_progress_title_shortens_by_whole_parts_and_is_never_cut_mid_word() {
    for (title, total) in [
        ("Idle and absolute timeouts", 12),
        ("A limit on sessions per user", 10),
        ("Token renewal after a privilege change", 7),
        ("Revoking a session, and a user everywhere", 11),
    ] {
        for width in [80, 84, 88, 92, 96, 100, 110, 120, 200] {
            let mut app = fixture::app_with(sessions()[..5].to_vec(), width, 24);
            app.info.simulator = false;
            app.start_lesson(LessonState::new(title, "A summary.", total, true));
            app.update(Msg::Lesson(LessonNote::Played(Played {
                number: total,
                ..Played::default()
            })));
            let text = screen(&mut app);
            let line = text
                .lines()
                .find(|l| l.contains(" played") || l.contains("ending"))
                .unwrap_or_else(|| panic!("no progress at {width}: {text}"));
            let shown = line
                .trim_matches('"')
                .trim_end_matches('┐')
                .trim_end_matches('─');
            assert!(
                shown.ends_with(' '),
                "{title} at {width} columns is cut: {line}"
            );
            assert!(line.contains("played"), "the progress stays: {line}");
        }
    }
    let mut app = fixture::app_with(sessions()[..5].to_vec(), 80, 24);
    app.start_lesson(LessonState::new("Idle and absolute timeouts", "", 12, true));
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 12,
        ..Played::default()
    })));
    assert!(
        screen(&mut app)
            .contains("┌ Idle and absolute timeouts · all 12 steps played · s: the next ending ─"),
        "at 80 columns the badge makes way, whole"
    );
    let mut app = fixture::app_with(sessions()[..5].to_vec(), 200, 50);
    app.start_lesson(LessonState::new(
        "Revoking a session, and a user everywhere",
        "",
        11,
        true,
    ));
    assert!(
        screen(&mut app).contains("┌ Revoking a session, and a user everywhere · step 0 of 11 "),
        "a title that fits is whole"
    );
}

#[test]
fn a_title_too_long_to_show_gives_the_badge_and_hint_back() {
    let mut app = fixture::app_with(sessions()[..5].to_vec(), 80, 24);
    app.start_lesson(LessonState::new(&"W".repeat(76), "", 2, true));
    let text = screen(&mut app);
    assert!(
        text.contains("┌ step 0 of 2 · pauses after endings "),
        "{text}"
    );
}

#[test]
fn endings_at_one_instant_share_one_caption() {
    let mut app = lesson_app(120, 40, false);
    for (i, s) in sessions()[..5].iter().enumerate() {
        let mut e = event(101 + i as u64, EventKind::Expired, T0, s);
        e.reason = Some(ExpiryReason::ClosingTime);
        e.deadline = Some(T0);
        send(&mut app, e);
    }
    let captions = &app.lesson.as_ref().unwrap().captions;
    assert_eq!(
        captions.len(),
        2,
        "the welcome and one for the five endings"
    );
    assert_eq!(
        captions.back().unwrap().text,
        "09:00 closing time: all 5 sessions still open ended at once (alice, bob, carol, dave, …)."
    );
}

#[test]
fn a_click_that_runs_past_the_closing_time_says_the_closing_time_is_the_limit() {
    let mut app = lesson_app(120, 40, false);
    let mut s = sessions()[3].clone();
    let closing = T0 + 60_000;
    s.expires_at = closing;
    let mut touched = event(101, EventKind::Touched, T0, &s);
    touched.session.expires_at = closing;
    send(&mut app, touched);
    let text = &app.lesson.as_ref().unwrap().captions.back().unwrap().text;
    assert_eq!(
        text,
        "dave clicked: the idle countdown would run to 09:15:00, past the 09:01 closing time, so the closing time is now the limit (1:00 left)."
    );
}

#[test]
fn the_clock_pauses_after_an_ending_when_asked_and_not_after_a_click() {
    let mut app = lesson_app(120, 40, false);
    app.clock.paused = false;
    let all = sessions();
    assert!(send(&mut app, event(101, EventKind::Touched, T0, &all[0])).is_empty());
    assert_eq!(
        send(&mut app, event(102, EventKind::LoggedOut, T0, &all[0])),
        vec![Command::Source(SourceCommand::SetPaused(true))]
    );
    assert!(
        send(&mut app, event(103, EventKind::LoggedOut, T0, &all[1])).is_empty(),
        "asked once"
    );
    key(&mut app, 'p');
    assert!(!app.lesson.as_ref().unwrap().auto_pause);
    app.pause_requested = false;
    assert!(send(&mut app, event(104, EventKind::Revoked, T0, &all[2])).is_empty());
}

#[test]
fn a_finished_lesson_stops_its_clock_and_offers_nothing_that_runs_on() {
    let mut app = lesson_app(120, 40, false);
    app.lesson.as_mut().unwrap().auto_pause = false;
    app.clock.paused = false;
    let all = sessions();
    for (i, s) in all[..4].iter().enumerate() {
        assert!(
            send(&mut app, event(101 + i as u64, EventKind::LoggedOut, T0, s)).is_empty(),
            "steps are left to play"
        );
    }
    assert!(
        app.update(Msg::Lesson(LessonNote::Played(Played {
            number: 9,
            ..Played::default()
        })))
        .is_empty(),
        "a session is still live"
    );
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 9,
        pause: true,
        ..Played::default()
    })));
    assert_eq!(
        send(&mut app, event(105, EventKind::LoggedOut, T0, &all[4])),
        vec![Command::Source(SourceCommand::SetPaused(true))],
        "the last ending after the last step stops the clock"
    );
    let footer = screen(&mut app).lines().last().unwrap().to_owned();
    assert!(
        !footer.contains("Space") && !footer.contains("s step"),
        "nothing is offered that would go on: {footer}"
    );
    assert_eq!(
        app.update(Msg::Outcome(Ok(crate::source::CommandOutcome::Clock(
            ClockReading {
                now: T0,
                speed: 1.0,
                paused: true,
            }
        )))),
        vec![]
    );
    app.clock.paused = true;
    assert!(key(&mut app, ' ').is_empty(), "Space does not run it on");
    assert!(screen(&mut app).contains("the lesson is over: r replay · q quit"));
    app.status = None;
    assert!(key(&mut app, '+').is_empty(), "nor does + speed it up");
    assert!(screen(&mut app).contains("the lesson is over: r replay · q quit"));
    // The words that end it are the panel's title.
    assert!(
        screen(&mut app)
            .contains("┌ Each way a session ends · lesson finished: r replay · q quit "),
        "{}",
        screen(&mut app)
    );
}

#[test]
fn the_lesson_texts_name_the_keys_as_bound() {
    let mut keys = std::collections::BTreeMap::new();
    keys.insert("step".to_owned(), vec!["t".to_owned()]);
    keys.insert("pause".to_owned(), vec!["Tab".to_owned()]);
    keys.insert("quit".to_owned(), vec!["Q".to_owned()]);
    let mut app = fixture::app_with(Vec::new(), 120, 40);
    app.keymap = crate::tui::keymap::KeyMap::from_config(&keys).unwrap();
    app.info.simulator = false;
    app.start_lesson(LessonState::new("A lesson", "A summary.", 2, true));
    let text = screen(&mut app);
    assert!(
        text.contains("Press t to play one step at a time, or Tab to let it run."),
        "{text}"
    );
    assert!(
        text.contains("No live sessions yet. Press t for the next step."),
        "{text}"
    );
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 1,
        pause: true,
        ..Played::default()
    })));
    assert!(screen(&mut app).contains("paused by the lesson: Tab goes on · t steps"));
    played(&mut app, 2, "The end.");
    assert!(screen(&mut app).contains("lesson finished: r replay · Q quit"));
}

#[test]
fn the_step_key_asks_the_lesson_runner_and_r_replays_only_at_the_end() {
    let mut app = lesson_app(120, 40, false);
    assert_eq!(
        key(&mut app, 's'),
        vec![Command::Lesson(LessonCommand::Step)]
    );
    assert_eq!(
        key(&mut app, 'r'),
        Vec::<Command>::new(),
        "r is revoke (it asks) while the lesson runs"
    );
    assert!(matches!(app.mode, Mode::Confirm(Confirm::Revoke { .. })));
    key(&mut app, 'n');
    played(&mut app, 9, "The end.");
    for (i, s) in sessions()[..5].iter().enumerate() {
        send(&mut app, event(101 + i as u64, EventKind::LoggedOut, T0, s));
    }
    let text = screen(&mut app);
    assert!(
        text.contains("lesson finished: r replay · q quit"),
        "{text}"
    );
    assert_eq!(
        key(&mut app, 'r'),
        vec![Command::Lesson(LessonCommand::Replay)]
    );
}

#[test]
fn a_selected_ended_row_stays_readable_in_both_themes() {
    for projector in [false, true] {
        let mut app = mid_lesson(100, 30, projector);
        let alice = sessions()[0].handle;
        key(&mut app, 'g');
        for _ in 0..sessions().len() {
            if app.selected_row().unwrap().session.handle == alice {
                break;
            }
            key(&mut app, 'j');
        }
        assert_eq!(app.selected_row().unwrap().session.handle, alice);
        let terminal = render(&mut app);
        let buffer = terminal.backend().buffer();
        let row = (0..30)
            .find(|&y| {
                let line: String = (0..100).map(|x| buffer[(x, y)].symbol()).collect();
                line.contains("alice") && line.contains("logged out")
            })
            .unwrap();
        let line: String = (0..100).map(|x| buffer[(x, row)].symbol()).collect();
        let x = line[..line.find("alice").unwrap()].chars().count() as u16;
        let cell = &buffer[(x, row)];
        assert_ne!(cell.fg, cell.bg, "projector {projector}");
        assert!(
            !(cell.fg == Color::DarkGray && cell.bg == Color::DarkGray),
            "grey on grey"
        );
        assert_ne!(cell.fg, Color::DarkGray, "projector {projector}: {cell:?}");
    }
}

#[test]
fn a_lessons_help_is_whole_at_80x24_and_names_replay() {
    for (width, height) in [(80, 24), (100, 30)] {
        let mut app = lesson_app(width, height, false);
        key(&mut app, '?');
        let text = screen(&mut app);
        for spec in crate::tui::keymap::ACTIONS {
            let help = match spec.action {
                // A lesson plays its own logins: no simulator.
                crate::tui::keymap::Action::Simulator => continue,
                crate::tui::keymap::Action::Faster if width < 100 => "clock faster, up to ×100",
                _ => spec.help,
            };
            assert!(text.contains(help), "{help:?} is cut:\n{text}");
        }
        assert!(text.contains("replay a finished lesson"), "{text}");
    }
}

#[test]
fn a_lessons_table_and_log_name_sessions_as_the_script_does() {
    let mut app = lesson_app(80, 24, false);
    let mut laptop = session(30, "ada", "192.0.2.9", T0, T0);
    laptop.attributes = std::collections::BTreeMap::from([(
        crate::sim::lesson::SESSION_ATTRIBUTE.to_owned(),
        "ada-laptop".to_owned(),
    )])
    .into();
    send(&mut app, event(101, EventKind::Created, T0, &laptop));
    let text = screen(&mut app);
    assert_eq!(
        text.matches("ada-laptop").count(),
        3,
        "the table's row, the log's line and the caption: {text}"
    );
    assert!(
        text.contains("ada logged in on ada-laptop: an idle countdown"),
        "{text}"
    );
    // Outside a lesson the attribute is a web app's own: the user shows.
    app.lesson = None;
    assert!(!screen(&mut app).contains("ada-laptop"));
}

#[test]
fn a_terminal_too_small_pauses_the_clock_until_it_fits() {
    let mut app = lesson_app(80, 24, false);
    app.clock.paused = false;
    assert_eq!(
        app.update(Msg::Resize(70, 20)),
        vec![Command::Source(SourceCommand::SetPaused(true))]
    );
    app.clock.paused = true;
    assert!(screen(&mut app).contains("The clock is paused until it fits."));
    assert!(app.update(Msg::Resize(75, 22)).is_empty());
    assert_eq!(
        app.update(Msg::Resize(80, 24)),
        vec![Command::Source(SourceCommand::SetPaused(false))]
    );
    // A clock the trainer paused stays paused.
    assert!(app.update(Msg::Resize(70, 20)).is_empty());
    assert!(app.update(Msg::Resize(90, 30)).is_empty());
}

#[test]
fn the_header_shows_the_timeouts_the_sessions_on_screen_have() {
    let mut app = fixture::app_with(sessions(), 120, 40);
    let text = screen(&mut app);
    assert!(text.contains("idle 15m  absolute 8h"), "{text}");
    let mut own = session(30, "ivan", "192.0.2.9", T0, T0);
    own.idle_timeout_ms = 60_000;
    own.idle_expires_at = T0 + 60_000;
    send(&mut app, event(101, EventKind::Created, T0, &own));
    let text = screen(&mut app);
    assert!(text.contains("idle per session (1m–15m)"), "{text}");
}

#[test]
fn on_a_server_n_and_shift_n_ask_before_making_real_sessions() {
    let mut app = fixture::app_with(sessions(), 120, 40);
    app.info.remote = true;
    app.info.clock_control = false;
    app.info.simulator = false;
    let burst = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('N'),
        KeyModifiers::SHIFT,
    )));
    assert!(burst.is_empty(), "nothing yet");
    assert_eq!(app.mode, Mode::Confirm(Confirm::Burst { count: 10 }));
    assert!(screen(&mut app).contains("Create 10 real sessions"));
    assert_eq!(key(&mut app, 'y').len(), 10);
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('N'),
        KeyModifiers::SHIFT,
    )));
    assert!(key(&mut app, 'x').is_empty(), "any other key cancels");
    key(&mut app, 'n');
    assert!(screen(&mut app).contains("A real session on the server"));
}

#[test]
fn on_a_server_help_and_the_empty_table_leave_out_keys_it_cannot_use() {
    let mut app = fixture::app_with(Vec::new(), 120, 40);
    app.info.remote = true;
    app.info.clock_control = false;
    app.info.simulator = false;
    let text = screen(&mut app);
    assert!(text.contains("No live sessions on the server"), "{text}");
    assert!(!text.contains("S to start the simulator"), "{text}");
    key(&mut app, '?');
    let help = screen(&mut app);
    for gone in ["clock faster", "simulated logins on or off", "lesson:"] {
        assert!(!help.contains(gone), "{gone}: {help}");
    }
    assert!(help.contains("freeze view; server runs on"), "{help}");
    let mut embedded = fixture::app_with(Vec::new(), 120, 40);
    key(&mut embedded, '?');
    assert!(screen(&mut embedded).contains("clock faster"));
}

#[test]
fn a_closing_time_set_by_the_lesson_shows_in_the_header_and_the_countdowns() {
    let mut app = lesson_app(120, 40, false);
    app.update(Msg::Lesson(LessonNote::Played(Played {
        number: 1,
        pause: true,
        closing_at: Some(Some(T0 + 120_000)),
        ..Played::default()
    })));
    app.update(Msg::Tick {
        clock: ClockReading {
            now: T0,
            speed: 1.0,
            paused: true,
        },
        real_ms: 1,
    });
    let text = screen(&mut app);
    assert!(text.contains("closing 09:02"), "{text}");
    assert!(text.contains("02:00 close"), "{text}");
}

/// A lesson with a limit of 2: alice's third login evicts her oldest session.
fn eviction_lesson(width: u16, height: u16, projector: bool) -> App {
    let mut app = fixture::app_with(sessions(), width, height);
    app.info.simulator = false;
    app.info.policy.max_sessions_per_user = Some(2);
    app.theme.projector = projector;
    app.start_lesson(LessonState::new(
        "A limit on sessions per user",
        "At most 2 sessions per user.",
        6,
        true,
    ));
    let all = sessions();
    played(&mut app, 3, "Alice logs in a third time.");
    let mut e = event(101, EventKind::Revoked, T0, &all[0]);
    e.actor = None;
    e.reason = Some(ExpiryReason::Evicted);
    e.limit = Some(2);
    send(&mut app, e);
    let third = session(20, "alice", "203.0.113.9", T0, T0);
    send(&mut app, event(102, EventKind::Created, T0, &third));
    app
}

#[test]
fn eviction_lesson_screen_80x24() {
    insta::assert_snapshot!(render(&mut eviction_lesson(80, 24, false)).backend());
}

#[test]
fn eviction_lesson_screen_80x24_projector() {
    insta::assert_snapshot!(render(&mut eviction_lesson(80, 24, true)).backend());
}

#[test]
fn eviction_lesson_screen_100x30() {
    insta::assert_snapshot!(render(&mut eviction_lesson(100, 30, false)).backend());
}

#[test]
fn eviction_lesson_screen_100x30_projector() {
    insta::assert_snapshot!(render(&mut eviction_lesson(100, 30, true)).backend());
}

#[test]
fn an_eviction_is_explained_with_the_limit_the_reason_and_the_header() {
    for (width, height) in [(80, 24), (100, 30)] {
        let mut app = eviction_lesson(width, height, false);
        let captions: Vec<&str> = app
            .lesson
            .as_ref()
            .unwrap()
            .captions
            .iter()
            .map(|c| c.text.as_str())
            .collect();
        let all = sessions();
        let expected = format!(
            "alice logged in once more, over the limit of 2 sessions per user: the oldest of alice's sessions, {}, was evicted and ended at once.",
            all[0].handle
        );
        assert!(captions.contains(&expected.as_str()), "{captions:#?}");
        assert!(
            !captions
                .iter()
                .any(|c| c.starts_with("alice logged in from")),
            "the eviction's caption says it, not a second one: {captions:#?}"
        );
        let text = screen(&mut app);
        assert!(
            text.contains("over the limit of 2 sessions per user"),
            "the eviction's caption is on screen: {text}"
        );
        assert!(text.contains("max 2/user"), "{text}");
        assert!(text.contains("evicted: user over 2 sessions"), "{text}");
    }
}
