//! Screens (insta snapshots at 120x40 on a paused clock) and `App::update`
//! for every key and every engine event kind.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::{App, Confirm, LogEntry, Mode};
use super::fixture::{self, T0, event, session, sessions};
use super::keymap::Action;
use super::mirror::{Ending, SortColumn};
use super::msg::{Command, Msg};
use super::view;
use crate::engine::{EventKind, ExpiryReason, Handle};
use crate::source::{ClockReading, CommandOutcome, SourceCommand, SourceError, SourceUpdate};

fn app() -> App {
    fixture::app_with(sessions(), 120, 40)
}

fn render(app: &mut App) -> Terminal<TestBackend> {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    app.prepare_frame();
    terminal.draw(|frame| view::draw(frame, app)).unwrap();
    app.mark_drawn();
    terminal
}

fn screen(app: &mut App) -> String {
    render(app).backend().to_string()
}

fn key(app: &mut App, code: KeyCode) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn char_key(app: &mut App, c: char) -> Vec<Command> {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char(c), modifiers)))
}

fn send(app: &mut App, event: crate::engine::Event) {
    app.update(Msg::Update(SourceUpdate::Event(event)));
}

fn ctrl_c(app: &mut App) -> Vec<Command> {
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )))
}

fn mouse(kind: MouseEventKind, column: u16, row: u16) -> Msg {
    Msg::Mouse(MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

fn click(app: &mut App, column: u16, row: u16) -> Vec<Command> {
    app.update(mouse(MouseEventKind::Down(MouseButton::Left), column, row))
}

fn tick(app: &mut App, now: i64, real_ms: u64) {
    app.update(Msg::Tick {
        clock: ClockReading {
            now,
            speed: 1.0,
            paused: true,
        },
        real_ms,
    });
}

/// A tick of a clock that runs, as a server's always does.
fn running_tick(app: &mut App, now: i64) {
    app.update(Msg::Tick {
        clock: ClockReading {
            now,
            speed: 1.0,
            paused: false,
        },
        real_ms: 0,
    });
}

/// The link drops for `reason`; the next attempt in `retry_in_ms`.
fn disconnect(app: &mut App, reason: &str, retry_in_ms: u64) {
    app.update(Msg::Update(SourceUpdate::Connection(
        crate::source::ConnectionState::Reconnecting {
            reason: reason.into(),
            retry_in_ms,
        },
    )));
}

fn selected_user(app: &App) -> String {
    app.selected_row().unwrap().session.user.to_string()
}

/// Users in display order, as the table shows them.
fn order(app: &App) -> Vec<String> {
    app.mirror
        .walk(None)
        .map(|p| app.mirror.get(p.1).unwrap().session.user.to_string())
        .collect()
}

// ---- screens ----

#[test]
fn main_screen() {
    let mut app = app();
    for (seq, kind, n) in [(101, EventKind::Created, 7), (102, EventKind::LoggedOut, 2)] {
        let s = sessions()[n - 1].clone();
        send(&mut app, event(seq, kind, T0 - 1_000, &s));
    }
    insta::assert_snapshot!(render(&mut app).backend());
}

#[test]
fn help_screen() {
    let mut app = app();
    char_key(&mut app, '?');
    insta::assert_snapshot!(render(&mut app).backend());
}

#[test]
fn detail_screen() {
    let mut app = app();
    char_key(&mut app, 'j');
    let commands = key(&mut app, KeyCode::Enter);
    let handle = app.selected_row().unwrap().session.handle;
    assert_eq!(
        commands,
        vec![Command::Source(SourceCommand::Detail(handle))]
    );
    let s = app.selected_row().unwrap().session.clone();
    let events = vec![
        event(50, EventKind::Created, s.created_at, &s),
        event(60, EventKind::Touched, s.last_seen_at, &s),
    ];
    app.update(Msg::Outcome(Ok(CommandOutcome::Detail {
        session: Some(s),
        events,
    })));
    insta::assert_snapshot!(render(&mut app).backend());
}

#[test]
fn filter_screen() {
    let mut app = app();
    char_key(&mut app, '/');
    for c in "ali".chars() {
        char_key(&mut app, c);
    }
    insta::assert_snapshot!(render(&mut app).backend());
}

#[test]
fn too_small_terminal_asks_to_be_enlarged() {
    let mut app = fixture::app_with(sessions(), 60, 15);
    let text = screen(&mut app);
    assert!(text.contains("enlarge it to at least 80x24"), "{text}");
    // However small, how to quit stays on screen (the other lines wrap).
    for (w, h) in [
        (30, 8),
        (24, 6),
        (30, 5),
        (60, 3),
        (13, 8),
        (12, 3),
        (10, 10),
        (9, 1),
    ] {
        app.update(Msg::Resize(w, h));
        app.size_paused = true;
        let text = screen(&mut app);
        assert!(text.contains("(q quits)"), "{w}x{h}: {text}");
    }
}

#[test]
fn a_terminal_too_small_takes_only_the_quit_key() {
    let mut app = app();
    char_key(&mut app, 'n');
    assert!(matches!(app.mode, Mode::Prompt { .. }));
    let before = app.mode.clone();
    app.update(Msg::Resize(60, 20));
    for c in ['x', 'y', ' '] {
        assert!(char_key(&mut app, c).is_empty());
    }
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, before, "nothing typed unseen");
    assert!(screen(&mut app).contains("(q quits)"));
    assert_eq!(char_key(&mut app, 'q'), vec![Command::Quit]);
}

#[test]
fn untrusted_user_names_are_escaped_and_cut() {
    let mut app = app();
    let text = screen(&mut app);
    assert!(text.contains("eve\\u{1b}[2J…"), "{text}");
    assert!(text.contains("frank-with-a-…"), "{text}");
    assert!(!text.contains('\u{1b}'));
}

#[test]
fn countdowns_move_with_the_clock_and_nothing_else() {
    let mut app = app();
    let before = screen(&mut app);
    assert!(
        before.contains("13:00"),
        "bob has 13 minutes left: {before}"
    );
    tick(&mut app, T0 + 1_000, 1);
    assert!(app.needs_redraw());
    let after = screen(&mut app);
    assert!(after.contains("12:59"), "{after}");
    tick(&mut app, T0 + 1_400, 2);
    assert!(
        !app.needs_redraw(),
        "no visible countdown moved within the same second"
    );
    tick(&mut app, T0 + 1_400, 1_000);
    assert!(app.needs_redraw(), "the real time in the header moved");
}

#[test]
fn countdowns_turn_colour_as_they_run_low() {
    let mut app = app();
    // frank has 30 s of 15 min left: below 10 %, red.
    let terminal = render(&mut app);
    let buffer = terminal.backend().buffer();
    let row = (0..40)
        .find(|&y| {
            (0..120)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .contains("frank")
        })
        .unwrap();
    let line: String = (0..120).map(|x| buffer[(x, row)].symbol()).collect();
    let x = line.find("00:30").unwrap();
    let x = line[..x].chars().count() as u16;
    assert_eq!(buffer[(x, row)].fg, ratatui::style::Color::Red);
}

#[test]
fn the_selected_rows_countdowns_stay_readable_when_stale_and_on_a_projector() {
    use ratatui::style::Color;
    for (stale, projector) in [(true, false), (false, true), (true, true)] {
        let mut app = remote_app();
        app.theme.projector = projector;
        if stale {
            disconnect(&mut app, "connection refused", 2_000);
        }
        let handle = app.selected_row().unwrap().session.handle.to_string();
        let terminal = render(&mut app);
        let buffer = terminal.backend().buffer();
        let row = (0..40)
            .find(|&y| {
                (0..120)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
                    .contains(&handle)
            })
            .unwrap();
        let line: String = (0..120).map(|x| buffer[(x, row)].symbol()).collect();
        let bar = buffer[(2, row)].bg;
        for text in ["active", ":"] {
            let x = line[..line.rfind(text).unwrap()].chars().count() as u16;
            let cell = &buffer[(x, row)];
            assert_eq!(cell.bg, bar, "{text} on the bar: {stale} {projector}");
            assert_ne!(cell.fg, bar, "{text} readable: {stale} {projector}");
            if stale {
                assert_ne!(cell.fg, Color::DarkGray, "{text}");
            }
        }
    }
}

#[test]
fn the_charts_draw_exactly_the_minutes_their_label_names() {
    for width in [100, 120, 160, 200] {
        let mut app = fixture::app_with(sessions(), width, 40);
        // An hour of activity: more than any chart shows.
        app.activity.advance(T0 + 3_600_000, 8);
        let text = screen(&mut app);
        let row =
            (text.lines().position(|l| l.contains("active ("))).unwrap_or_else(|| panic!("{text}"));
        let label = text.lines().nth(row).unwrap();
        let minutes: usize = label
            .split("active (")
            .nth(1)
            .and_then(|rest| rest.trim_start_matches("last ").split('m').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label}"));
        let bars = text.lines().nth(row + 1).unwrap();
        let at = bars.find('█').unwrap_or_else(|| panic!("{text}"));
        let drawn = bars[at..].chars().take_while(|c| *c == '█').count();
        assert_eq!(drawn, minutes * 6, "{width}: {label}\n{bars}");
        assert!(
            !bars[at..].contains("█│"),
            "a column before the border: {bars}"
        );
    }
}

#[test]
fn an_event_caught_up_after_a_reconnect_counts_in_the_bar_of_its_time() {
    let mut app = remote_app();
    // The link was down for a minute; the charts moved on without events.
    app.activity.advance(T0 + 60_000, 8);
    let new = session(20, "heidi", "192.0.2.1", T0 + 5_000, T0 + 5_000);
    send(&mut app, event(900, EventKind::Created, T0 + 5_000, &new));
    let buckets = &app.activity.buckets;
    let own = (buckets.iter())
        .find(|b| b.start <= T0 + 5_000 && T0 + 5_000 < b.start + 10_000)
        .unwrap();
    assert_eq!(own.logins, 1);
    assert_eq!(buckets.back().unwrap().logins, 0, "not the newest bar");
}

#[test]
fn no_color_draws_without_colours() {
    let mut config = crate::config::Config::default();
    config.dashboard.no_color = true;
    let mut app = app();
    app.theme.no_color = config.dashboard.no_color;
    let terminal = render(&mut app);
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content
            .iter()
            .all(|c| c.fg == ratatui::style::Color::Reset && c.bg == ratatui::style::Color::Reset)
    );
    // Without colours a warning and a critical countdown still differ.
    use crate::tui::theme::Role;
    assert_ne!(app.theme.style(Role::Warn), app.theme.style(Role::Critical));
}

// ---- keys ----

#[test]
fn q_and_ctrl_c_quit() {
    let mut app = app();
    assert_eq!(char_key(&mut app, 'q'), vec![Command::Quit]);
    assert_eq!(ctrl_c(&mut app), vec![Command::Quit]);
    char_key(&mut app, 'n');
    assert_eq!(ctrl_c(&mut app), vec![Command::Quit], "even in the prompt");
}

#[test]
fn question_mark_opens_help_and_esc_closes_it() {
    let mut app = app();
    char_key(&mut app, '?');
    assert_eq!(app.mode, Mode::Help);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mode, Mode::Normal);
    char_key(&mut app, '?');
    char_key(&mut app, '?');
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn n_offers_a_random_user_and_logs_in_the_typed_name() {
    let mut app = app();
    char_key(&mut app, 'n');
    let Mode::Prompt {
        text: offered,
        suggested: true,
    } = app.mode.clone()
    else {
        panic!("no offer: {:?}", app.mode)
    };
    assert!(crate::sim::user_names().contains(&offered.as_str()));
    // Typing replaces the offer, as it would a selected text.
    for c in "mallory".chars() {
        char_key(&mut app, c);
    }
    key(&mut app, KeyCode::Backspace);
    let commands = key(&mut app, KeyCode::Enter);
    let [Command::Source(SourceCommand::Login { user, attributes })] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(user, "mallor");
    assert_eq!(attributes["ip"], "127.0.0.1");
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn the_offered_name_is_logged_in_with_enter_and_cleared_by_backspace() {
    let mut app = app();
    char_key(&mut app, 'n');
    let Mode::Prompt { text: offered, .. } = app.mode.clone() else {
        panic!("no prompt")
    };
    // A key that types nothing keeps the offer; Right keeps it to edit.
    key(&mut app, KeyCode::Left);
    assert!(matches!(
        app.mode,
        Mode::Prompt {
            suggested: true,
            ..
        }
    ));
    let commands = key(&mut app, KeyCode::Enter);
    let [Command::Source(SourceCommand::Login { user, .. })] = commands.as_slice() else {
        panic!("{commands:?}")
    };
    assert_eq!(user, &offered);

    char_key(&mut app, 'n');
    let Mode::Prompt { text: offered, .. } = app.mode.clone() else {
        panic!("no prompt")
    };
    key(&mut app, KeyCode::Right);
    char_key(&mut app, '2');
    assert_eq!(app.mode, Mode::prompt(format!("{offered}2")));
    key(&mut app, KeyCode::Esc);

    char_key(&mut app, 'n');
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.mode, Mode::prompt(String::new()));
    assert!(screen(&mut app).contains("Ctrl-U clear"));
}

#[test]
fn esc_cancels_the_login_prompt() {
    let mut app = app();
    char_key(&mut app, 'n');
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn shift_n_simulates_a_burst_of_ten_logins() {
    let mut app = app();
    let commands = char_key(&mut app, 'N');
    assert_eq!(commands.len(), 10);
    assert!(
        commands
            .iter()
            .all(|c| matches!(c, Command::Source(SourceCommand::Login { .. })))
    );
    // Ten answers are told as one: the burst, not its last login.
    for i in 0..10 {
        let outcome = if i == 3 {
            Err(SourceError::Refused(
                "max_sessions_reached: ivan has 3 sessions".into(),
            ))
        } else {
            Ok(CommandOutcome::Done(format!(
                "logged in user{i} as 9f2c4e1a0000000{i}"
            )))
        };
        app.update(Msg::Outcome(outcome));
    }
    let status = app.status.as_ref().unwrap();
    assert_eq!(
        status.text,
        "9 simulated logins, 1 refused: max_sessions_reached: ivan has 3 sessions"
    );
    assert!(status.error);
    // A single login afterwards is told as itself.
    app.update(Msg::Outcome(Ok(CommandOutcome::Done(
        "logged in ada as 1".into(),
    ))));
    assert_eq!(app.status.as_ref().unwrap().text, "logged in ada as 1");
}

#[test]
fn a_simulates_activity_on_the_selected_session() {
    let mut app = app();
    let handle = app.selected_row().unwrap().session.handle;
    assert_eq!(
        char_key(&mut app, 'a'),
        vec![Command::Source(SourceCommand::Touch(handle))]
    );
}

#[test]
fn r_asks_before_revoking_and_y_revokes() {
    let mut app = app();
    let handle = app.selected_row().unwrap().session.handle;
    assert!(char_key(&mut app, 'r').is_empty());
    assert!(matches!(app.mode, Mode::Confirm(Confirm::Revoke { handle: h, .. }) if h == handle));
    assert_eq!(
        char_key(&mut app, 'y'),
        vec![Command::Source(SourceCommand::Revoke(handle))]
    );
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn delete_asks_too_and_any_other_key_keeps_the_session() {
    let mut app = app();
    key(&mut app, KeyCode::Delete);
    assert!(matches!(app.mode, Mode::Confirm(_)));
    assert!(char_key(&mut app, 'n').is_empty());
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.status.as_ref().unwrap().text, "nothing revoked");
}

#[test]
fn shift_r_revokes_every_session_of_the_user_after_asking() {
    let mut app = app();
    while selected_user(&app) != "alice" {
        char_key(&mut app, 'j');
    }
    char_key(&mut app, 'R');
    assert_eq!(
        app.mode,
        Mode::Confirm(Confirm::RevokeUser {
            user: "alice".to_owned(),
            sessions: 2
        })
    );
    assert_eq!(
        key(&mut app, KeyCode::Enter),
        vec![Command::Source(SourceCommand::RevokeUser(
            "alice".to_owned()
        ))]
    );
}

#[test]
fn slash_filters_by_user_handle_or_ip_and_esc_clears() {
    let mut app = app();
    char_key(&mut app, '/');
    for c in "ALI".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.mirror.shown(), 2);
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.mirror.shown(), 2, "Enter keeps the filter");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mirror.shown(), 8);
    char_key(&mut app, '/');
    for c in "203.0.113".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.mirror.shown(), 2, "by ip");
    key(&mut app, KeyCode::Esc);
    char_key(&mut app, '/');
    let handle = sessions()[3].handle.to_string();
    for c in handle[10..].chars() {
        char_key(&mut app, c);
    }
    assert_eq!(order(&app), vec!["dave"], "by handle");
}

/// On a big table, typing shows at once but filters once the typing
/// pauses (or at Enter), so no key waits on a filter of every row.
#[test]
fn a_big_table_is_filtered_when_the_typing_pauses() {
    let many: Vec<_> = (0..60_000)
        .map(|n| {
            let user = if n % 1000 == 0 { "alice" } else { "bob" };
            session(n, user, "192.0.2.1", T0, T0)
        })
        .collect();
    let mut app = fixture::app_with(many, 120, 40);
    tick(&mut app, T0, 1_000);
    char_key(&mut app, '/');
    for c in "ali".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.mirror.filter(), "ali", "the typed text shows at once");
    assert_eq!(app.mirror.shown(), 60_000, "not filtered while typing");
    tick(&mut app, T0, 1_100);
    assert_eq!(app.mirror.shown(), 60_000, "nor before the pause is over");
    tick(&mut app, T0, 1_150);
    assert_eq!(app.mirror.shown(), 60, "filtered once the typing paused");
    assert_eq!(
        app.mirror
            .get(app.selected.as_ref().unwrap().1)
            .unwrap()
            .session
            .user,
        "alice"
    );

    char_key(&mut app, 'x');
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.mirror.shown(), 0, "Enter filters at once");
    char_key(&mut app, '/');
    key(&mut app, KeyCode::Backspace);
    assert_eq!(app.mirror.filter(), "ali");
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mirror.shown(), 60_000, "Esc clears at once");
}

#[test]
fn the_filter_shows_as_typed_matches_trimmed_and_reads_the_user_agent_too() {
    let mut app = app();
    char_key(&mut app, '/');
    for c in "  ALI ".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.mirror.shown(), 2, "spaces around it do not count");
    assert!(screen(&mut app).contains("filter \"  ALI \""));
    let ctrl_u = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
    app.update(Msg::Key(ctrl_u));
    assert_eq!(
        app.mirror.filter(),
        "",
        "Ctrl-U clears it, as in the login prompt"
    );
    key(&mut app, KeyCode::Esc);
    char_key(&mut app, '/');
    for c in "firefox/1".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.mirror.shown(), 8, "the ORIGIN column's user agent");
}

#[test]
fn details_stay_open_while_the_filter_shows_their_session_and_close_when_it_hides_it() {
    let mut app = app();
    key(&mut app, KeyCode::Enter);
    let handle = app.detail.as_ref().unwrap().handle;
    let user = app.mirror.get(handle).unwrap().session.user.to_string();
    char_key(&mut app, '/');
    char_key(&mut app, user.chars().next().unwrap());
    assert_eq!(app.detail.as_ref().map(|d| d.handle), Some(handle));
    for c in "zzz".chars() {
        char_key(&mut app, c);
    }
    assert!(
        app.detail.is_none(),
        "no details over rows that are not their session"
    );
}

#[test]
fn the_selection_stays_on_its_session_through_a_filter() {
    let selected_user = |app: &App| {
        let (_, handle) = app.selected.clone().unwrap();
        app.mirror.get(handle).unwrap().session.user.to_string()
    };
    let mut app = app();
    for _ in 0..4 {
        char_key(&mut app, 'j');
    }
    let chosen = selected_user(&app);
    assert_ne!(chosen, order(&app)[0]);
    // A filter that keeps it showing keeps it selected, and so does clearing it.
    char_key(&mut app, '/');
    char_key(&mut app, chosen.chars().next().unwrap());
    assert_eq!(selected_user(&app), chosen);
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.mirror.shown(), 8);
    assert_eq!(selected_user(&app), chosen);
    // One that hides it moves to the first row that shows.
    char_key(&mut app, '/');
    for c in "zzz".chars() {
        char_key(&mut app, c);
    }
    assert_eq!(app.selected, None);
    key(&mut app, KeyCode::Esc);
    assert_eq!(selected_user(&app), order(&app)[0]);
}

#[test]
fn angle_brackets_pick_the_sort_column_and_i_reverses() {
    let mut app = app();
    assert_eq!(app.mirror.sort(), (SortColumn::Idle, false));
    assert_eq!(
        order(&app)[0],
        "frank-with-a-very-long-user-name",
        "soonest idle deadline first"
    );
    char_key(&mut app, '>');
    assert_eq!(app.mirror.sort().0, SortColumn::Absolute);
    assert_eq!(order(&app)[0], "carol");
    char_key(&mut app, '<');
    char_key(&mut app, '<');
    assert_eq!(app.mirror.sort().0, SortColumn::LastSeen);
    char_key(&mut app, '<');
    char_key(&mut app, '<');
    char_key(&mut app, '<');
    assert_eq!(app.mirror.sort().0, SortColumn::User);
    assert_eq!(order(&app)[..3], ["alice", "alice", "bob"]);
    char_key(&mut app, 'I');
    assert_eq!(app.mirror.sort(), (SortColumn::User, true));
    assert_eq!(order(&app)[0], "grace");
}

#[test]
fn angle_brackets_skip_the_columns_a_narrow_terminal_leaves_out() {
    let mut app = fixture::app_with(sessions(), 80, 24);
    let shown = view::shown_columns(&app, SortColumn::Idle);
    assert!(!shown.contains(&SortColumn::Origin) && !shown.contains(&SortColumn::Handle));
    for _ in 0..2 * SortColumn::ALL.len() {
        char_key(&mut app, '>');
        let sort = app.mirror.sort().0;
        assert!(view::shown_columns(&app, sort).contains(&sort), "{sort:?}");
        let text = screen(&mut app);
        let header = text.lines().find(|l| l.contains("USER")).unwrap();
        assert!(header.contains('↑'), "the sorted column's arrow: {header}");
    }
    for _ in 0..2 * SortColumn::ALL.len() {
        char_key(&mut app, '<');
        let sort = app.mirror.sort().0;
        assert!(view::shown_columns(&app, sort).contains(&sort), "{sort:?}");
    }
}

#[test]
fn a_terminal_narrowed_past_the_sorted_column_sorts_by_idle() {
    let mut app = fixture::app_with(sessions(), 120, 40);
    app.mirror.set_sort(SortColumn::Origin, true);
    app.update(Msg::Resize(80, 24));
    assert_eq!(app.mirror.sort(), (SortColumn::Idle, false));
    // Wide enough again: the sort chosen comes back.
    app.update(Msg::Resize(120, 40));
    assert_eq!(app.mirror.sort(), (SortColumn::Origin, true));
    // Unless another was chosen meanwhile.
    app.update(Msg::Resize(80, 24));
    char_key(&mut app, '>');
    let chosen = app.mirror.sort();
    app.update(Msg::Resize(120, 40));
    assert_eq!(app.mirror.sort(), chosen);
}

#[test]
fn a_wide_user_name_keeps_the_event_log_in_columns() {
    let mut app = fixture::app_with(sessions(), 120, 40);
    let wide = session(41, &"あ".repeat(20), "192.0.2.9", T0, T0);
    let narrow = session(42, "zed", "192.0.2.1", T0, T0);
    send(&mut app, event(101, EventKind::Created, T0, &wide));
    send(&mut app, event(102, EventKind::Created, T0, &narrow));
    let text = screen(&mut app);
    let column = |needle: &str| {
        let line = (text.lines())
            .find(|l| l.contains(&format!("logged in from {needle}")))
            .unwrap();
        let at = line.find("logged in from").unwrap();
        ratatui::text::Line::raw(&line[..at]).width()
    };
    assert_eq!(column("192.0.2.9"), column("192.0.2.1"), "{text}");
}

#[test]
fn on_a_server_space_is_offered_as_freeze() {
    let mut app = remote_app();
    app.clock.paused = false;
    let footer = screen(&mut app).lines().last().unwrap().to_owned();
    assert!(footer.contains("Space freeze"), "{footer}");
    // Frozen, it offers to go live, as the status said.
    char_key(&mut app, ' ');
    app.status = None;
    let footer = screen(&mut app).lines().last().unwrap().to_owned();
    assert!(footer.contains("Space go live"), "{footer}");
}

#[test]
fn space_pauses_and_plus_minus_change_the_speed() {
    let mut app = app();
    tick(&mut app, T0, 0);
    assert_eq!(
        char_key(&mut app, ' '),
        vec![Command::Source(SourceCommand::SetPaused(false))],
        "the fixture clock is paused"
    );
    assert_eq!(
        char_key(&mut app, '+'),
        vec![Command::Source(SourceCommand::StepSpeed { faster: true })]
    );
    assert_eq!(
        char_key(&mut app, '-'),
        vec![Command::Source(SourceCommand::StepSpeed { faster: false })]
    );
    app.update(Msg::Outcome(Ok(CommandOutcome::Clock(ClockReading {
        now: T0,
        speed: 4.0,
        paused: false,
    }))));
    assert!(!app.clock.paused);
    assert!(screen(&mut app).contains("×4"));
    // At either end of the steps a key says so instead of doing nothing.
    for (speed, key, says) in [
        (100.0, '+', "×100 is the fastest"),
        (0.5, '-', "×0.5 is the slowest"),
    ] {
        app.update(Msg::Outcome(Ok(CommandOutcome::Clock(ClockReading {
            now: T0,
            speed,
            paused: false,
        }))));
        assert!(char_key(&mut app, key).is_empty(), "{key}");
        assert_eq!(app.status.as_ref().unwrap().text, says);
    }
}

#[test]
fn clock_keys_say_so_when_the_source_has_no_clock_control() {
    let mut app = app();
    app.info.clock_control = false;
    assert!(char_key(&mut app, '+').is_empty());
    assert!(app.status.as_ref().unwrap().error);
    assert!(char_key(&mut app, ' ').is_empty());
    assert!(
        app.frozen.is_some(),
        "Space freezes the view where the clock runs on"
    );
    assert!(!app.status.as_ref().unwrap().error);
}

#[test]
fn shift_s_toggles_the_simulator() {
    let mut app = app();
    assert_eq!(
        char_key(&mut app, 'S'),
        vec![Command::Source(SourceCommand::SetSimulator(false))]
    );
    app.update(Msg::Outcome(Ok(CommandOutcome::Simulator(false))));
    assert!(!app.simulator_on);
    assert_eq!(
        char_key(&mut app, 'S'),
        vec![Command::Source(SourceCommand::SetSimulator(true))]
    );
}

#[test]
fn f_and_space_pause_the_embedded_clock_alike() {
    let mut app = app();
    tick(&mut app, T0, 0);
    for c in ['f', ' '] {
        assert_eq!(
            char_key(&mut app, c),
            vec![Command::Source(SourceCommand::SetPaused(false))],
            "one idea: the fixture clock is paused, {c:?} lets it go on"
        );
    }
    assert!(app.frozen.is_none());
}

#[test]
fn on_a_server_f_freezes_the_view_until_pressed_again() {
    let mut app = remote_app();
    let bob = sessions()[1].clone();
    send(&mut app, event(100 + 1, EventKind::LoggedOut, T0, &bob));
    char_key(&mut app, 'f');
    assert!(screen(&mut app).contains("FROZEN"));
    let new = session(20, "heidi", "192.0.2.1", T0, T0);
    send(&mut app, event(102, EventKind::Created, T0, &new));
    tick(&mut app, T0 + 5_000, 5_000);
    assert_eq!(app.mirror.active(), 7, "held back while frozen");
    assert_eq!(app.mirror.shown(), 8, "the ended row stays while frozen");
    assert_eq!(app.shown_clock().now, T0, "countdowns stand still too");
    char_key(&mut app, 'f');
    assert_eq!(app.mirror.active(), 8);
    assert_eq!(app.shown_clock().now, T0 + 5_000);
    tick(&mut app, T0 + 5_000, 5_001);
    assert_eq!(app.mirror.shown(), 8, "the ended row left, heidi arrived");
}

#[test]
fn a_session_that_ended_while_frozen_lingers_from_when_it_shows() {
    let mut app = remote_app();
    let linger = app.settings.linger_ms as i64;
    let bob = sessions()[1].clone();
    char_key(&mut app, 'f');
    send(&mut app, event(101, EventKind::Expired, T0 + 1_000, &bob));
    tick(&mut app, T0 + 60_000, 60_000);
    char_key(&mut app, 'f');
    let row = app.mirror.get(bob.handle).expect("shown ended, not gone");
    assert!(row.ended.is_some());
    tick(
        &mut app,
        T0 + 60_000 + linger - 1,
        60_000 + linger as u64 - 1,
    );
    assert!(app.mirror.get(bob.handle).is_some(), "for a whole linger");
    tick(&mut app, T0 + 60_000 + linger, 60_000 + linger as u64);
    assert!(app.mirror.get(bob.handle).is_none(), "then it goes");
}

#[test]
fn enter_opens_the_details_and_esc_closes_them() {
    let mut app = app();
    key(&mut app, KeyCode::Enter);
    assert!(app.detail.as_ref().unwrap().loading);
    app.update(Msg::Outcome(Ok(CommandOutcome::Detail {
        session: None,
        events: vec![],
    })));
    assert!(!app.detail.as_ref().unwrap().loading);
    key(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
}

#[test]
fn navigation_keys_move_the_selection() {
    let mut app = fixture::app_with(
        (0..100)
            .map(|i| {
                session(
                    i,
                    &format!("user{i:03}"),
                    "192.0.2.1",
                    T0 - 60_000,
                    T0 - 60_000 + i as i64 * 1000,
                )
            })
            .collect(),
        120,
        40,
    );
    assert_eq!(selected_user(&app), "user000");
    char_key(&mut app, 'j');
    key(&mut app, KeyCode::Down);
    assert_eq!(selected_user(&app), "user002");
    char_key(&mut app, 'k');
    assert_eq!(selected_user(&app), "user001");
    key(&mut app, KeyCode::Up);
    key(&mut app, KeyCode::Up);
    assert_eq!(selected_user(&app), "user000", "stops at the top");
    let page = app.table_height();
    key(&mut app, KeyCode::PageDown);
    assert_eq!(selected_user(&app), format!("user{page:03}"));
    assert!(
        screen(&mut app).contains(&format!("user{page:03}")),
        "scrolled into view"
    );
    key(&mut app, KeyCode::PageUp);
    assert_eq!(selected_user(&app), "user000");
    char_key(&mut app, 'G');
    assert_eq!(selected_user(&app), "user099");
    assert!(screen(&mut app).contains("user099"));
    char_key(&mut app, 'g');
    assert_eq!(selected_user(&app), "user000");
    key(&mut app, KeyCode::End);
    key(&mut app, KeyCode::Home);
    assert_eq!(selected_user(&app), "user000");
}

#[test]
fn mouse_wheel_scrolls_and_click_selects() {
    let mut app = app();
    app.update(mouse(MouseEventKind::ScrollDown, 10, 10));
    assert_eq!(order(&app)[3], selected_user(&app));
    app.update(mouse(MouseEventKind::ScrollUp, 10, 10));
    assert_eq!(order(&app)[0], selected_user(&app));
    let table = app.layout().table;
    app.update(mouse(
        MouseEventKind::Down(MouseButton::Left),
        20,
        table.y + 2 + 4,
    ));
    assert_eq!(order(&app)[4], selected_user(&app));
}

#[test]
fn a_click_on_a_column_title_sorts_by_it_and_a_second_click_reverses() {
    let mut app = fixture::app_with(sessions(), 160, 45);
    let text = screen(&mut app);
    let (y, header) = (text.lines().enumerate())
        .find(|(_, line)| line.contains("USER"))
        .unwrap();
    // Screen columns, not bytes (the border and the arrows are wider in
    // UTF-8), less the quote each line of the backend's text starts with.
    let at = |line: &str, title: &str| line[..line.find(title).unwrap()].chars().count() as u16 - 1;
    let x = |title: &str| at(header, title) + 1;
    assert_eq!(y as u16, app.layout().table.y + 1, "the titles' row");
    click(&mut app, x("USER"), y as u16);
    assert_eq!(app.mirror.sort(), (SortColumn::User, false));
    assert_eq!(order(&app)[..3], ["alice", "alice", "bob"]);
    click(&mut app, x("USER"), y as u16);
    assert_eq!(app.mirror.sort(), (SortColumn::User, true));
    assert_eq!(order(&app)[0], "grace");
    // The titles moved with the new sort's arrow: find them again.
    let text = screen(&mut app);
    let header = text.lines().nth(y).unwrap().to_owned();
    let absolute = at(&header, "ABSOLUTE") + 1;
    click(&mut app, absolute, y as u16);
    assert_eq!(app.mirror.sort(), (SortColumn::Absolute, false));
    assert_eq!(order(&app)[0], "carol");
    // A click on a row below the titles selects it and sorts nothing.
    click(&mut app, absolute, y as u16 + 2);
    assert_eq!(app.mirror.sort(), (SortColumn::Absolute, false));
    assert_eq!(order(&app)[1], selected_user(&app));
    // The space between two titles is no title.
    click(&mut app, at(&header, "ABSOLUTE") - 1, y as u16);
    assert_eq!(app.mirror.sort(), (SortColumn::Absolute, false));
    // At 80 columns the titles that show are where the table draws them.
    app.update(Msg::Resize(80, 24));
    let text = screen(&mut app);
    let y = app.layout().table.y + 1;
    let header = text.lines().nth(usize::from(y)).unwrap().to_owned();
    assert!(
        header.contains("USER") && !header.contains("HANDLE"),
        "{header}"
    );
    click(&mut app, at(&header, "USER") + 1, y);
    assert_eq!(app.mirror.sort(), (SortColumn::User, false));
}

#[test]
fn a_frame_drawn_before_the_resize_event_arrives_fits_the_terminal_it_is_drawn_on() {
    // The terminal shrank and ratatui's frame has the new size, while the
    // resize event that tells the app is still on its way.
    let mut app = fixture::app_with(sessions(), 160, 45);
    for k in 1..=20 {
        tick(&mut app, T0 + k * 10_000, 0);
    }
    let wide = screen(&mut app);
    let stats = wide.lines().take(7).collect::<Vec<_>>().join("\n");
    assert!(stats.contains('█'), "the sparklines have bars: {stats}");
    for (w, h) in [(80, 24), (100, 30), (60, 15), (30, 8)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        app.prepare_frame();
        terminal.draw(|frame| view::draw(frame, &app)).unwrap();
        let text = terminal.backend().to_string();
        assert!(
            text.contains("Sessions") || text.contains("enlarge"),
            "{w}x{h}: {text}"
        );
    }
}

#[test]
fn the_mouse_does_not_reach_through_details_help_or_a_dialog() {
    let mut app = fixture::app_with(sessions(), 160, 45);
    let table = app.layout().table;
    let (header, third_row) = (table.y + 1, table.y + 2 + 2);
    key(&mut app, KeyCode::Enter);
    let shown = app.detail.as_ref().unwrap().handle;
    let sort = app.mirror.sort();
    // Under the details: a title and a row.
    assert!(click(&mut app, 22, header).is_empty());
    assert!(click(&mut app, 22, third_row).is_empty());
    assert_eq!(app.mirror.sort(), sort, "no sort through the details");
    assert_eq!(
        app.selected.as_ref().unwrap().1,
        shown,
        "no selection through them"
    );
    // The wheel moves the selection, and the details follow it.
    let commands = app.update(mouse(MouseEventKind::ScrollDown, 22, third_row));
    let now = app.selected.as_ref().unwrap().1;
    assert_ne!(now, shown);
    assert_eq!(app.detail.as_ref().unwrap().handle, now);
    assert_eq!(commands, vec![Command::Source(SourceCommand::Detail(now))]);
    key(&mut app, KeyCode::Esc);
    // Help stands over the table too.
    char_key(&mut app, '?');
    click(&mut app, 22, header);
    assert_eq!(app.mirror.sort(), sort, "no sort through help");
}

#[test]
fn long_rebound_keys_keep_a_space_before_their_help() {
    let mut app = app();
    let keys = std::collections::BTreeMap::from([
        (
            "revoke".to_owned(),
            vec!["r".to_owned(), "Delete".to_owned(), "Ctrl-r".to_owned()],
        ),
        (
            "page_down".to_owned(),
            vec![
                "PageDown".to_owned(),
                "Ctrl-PageDown".to_owned(),
                "Ctrl-Down".to_owned(),
            ],
        ),
    ]);
    app.keymap = super::keymap::KeyMap::from_config(&keys).unwrap();
    char_key(&mut app, '?');
    let text = screen(&mut app);
    let line = text
        .lines()
        .find(|l| l.contains("revoke the session"))
        .unwrap();
    assert!(
        line.contains("r, Del, Ctrl-r   revoke"),
        "the column widens: {line}"
    );
    // Longer than the column may be: cut, still apart from its help.
    assert!(text.contains("PgDn, Ctrl-PgDn… "), "{text}");
}

#[test]
fn keys_rebound_in_config_work_and_show_in_the_footer() {
    let mut app = app();
    let keys = std::collections::BTreeMap::from([("revoke".to_owned(), vec!["x".to_owned()])]);
    app.keymap = super::keymap::KeyMap::from_config(&keys).unwrap();
    assert!(char_key(&mut app, 'r').is_empty());
    assert_eq!(app.mode, Mode::Normal);
    char_key(&mut app, 'x');
    assert!(matches!(app.mode, Mode::Confirm(_)));
    key(&mut app, KeyCode::Esc);
    assert!(screen(&mut app).contains("x revoke"));
    let keys = std::collections::BTreeMap::from([("quit".to_owned(), vec!["Q".to_owned()])]);
    app.keymap = super::keymap::KeyMap::from_config(&keys).unwrap();
    assert!(char_key(&mut app, 'q').is_empty());
    assert_eq!(ctrl_c(&mut app), vec![Command::Quit], "Ctrl-C always quits");
    let keys = std::collections::BTreeMap::from([(
        "help".to_owned(),
        vec!["h".to_owned(), "F1".to_owned()],
    )]);
    app.keymap = super::keymap::KeyMap::from_config(&keys).unwrap();
    char_key(&mut app, 'h');
    assert!(screen(&mut app).contains("Keys (h or Esc to close)"));
}

// ---- engine events ----

#[test]
fn created_adds_a_row_and_a_log_line() {
    let mut app = app();
    let new = session(20, "heidi", "192.0.2.1", T0, T0);
    send(&mut app, event(101, EventKind::Created, T0, &new));
    assert_eq!(app.mirror.active(), 9);
    assert_eq!(app.activity.totals.logins, 19);
    assert_eq!(app.log[0].event().unwrap().kind, EventKind::Created);
    assert!(screen(&mut app).contains("logged in from 192.0.2.1"));
}

#[test]
fn touched_moves_the_idle_deadline_and_the_row_without_a_log_line() {
    let mut app = app();
    let frank = sessions()[5].clone();
    assert_eq!(order(&app)[0], frank.user);
    send(&mut app, event(101, EventKind::Touched, T0, &frank));
    assert_eq!(
        app.mirror
            .get(frank.handle)
            .unwrap()
            .session
            .idle_expires_at,
        T0 + fixture::IDLE_MS
    );
    assert_eq!(order(&app).last().unwrap(), &frank.user.to_string());
    assert!(
        app.log.is_empty(),
        "activity is hidden from the log by default"
    );
    app.settings.show_touches = true;
    send(&mut app, event(102, EventKind::Touched, T0, &frank));
    assert_eq!(app.log.len(), 1);
}

#[test]
fn a_touch_answer_moves_the_countdown_even_without_an_event() {
    let mut app = app();
    let mut frank = sessions()[5].clone();
    frank.last_seen_at = T0;
    frank.idle_expires_at = T0 + fixture::IDLE_MS;
    app.update(Msg::Outcome(Ok(CommandOutcome::Session {
        text: "activity".to_owned(),
        session: frank.clone(),
    })));
    assert_eq!(
        app.mirror
            .get(frank.handle)
            .unwrap()
            .session
            .idle_expires_at,
        T0 + fixture::IDLE_MS
    );
    assert_eq!(order(&app).last().unwrap(), &frank.user.to_string());
}

#[test]
fn renewed_is_logged() {
    let mut app = app();
    let bob = sessions()[1].clone();
    send(&mut app, event(101, EventKind::Renewed, T0, &bob));
    assert_eq!(app.log[0].event().unwrap().kind, EventKind::Renewed);
    assert!(screen(&mut app).contains("token renewed"));
}

#[test]
fn ended_sessions_linger_marked_with_how_they_ended_then_leave() {
    let mut app = app();
    let all = sessions();
    let ends = [
        (
            EventKind::LoggedOut,
            &all[0],
            Ending::LoggedOut,
            "logged out",
        ),
        (
            EventKind::Revoked,
            &all[1],
            Ending::Revoked,
            "revoked by operator",
        ),
        (
            EventKind::Expired,
            &all[5],
            Ending::Expired(ExpiryReason::Idle),
            "idle for 15m",
        ),
    ];
    for (i, (kind, s, _, _)) in ends.iter().enumerate() {
        send(&mut app, event(101 + i as u64, *kind, T0, s));
    }
    let text = screen(&mut app);
    for (_, s, ending, reason) in &ends {
        assert_eq!(app.mirror.get(s.handle).unwrap().ended.unwrap().0, *ending);
        assert!(text.contains(&ending.label()), "{text}");
        assert!(text.contains(reason), "{text}");
    }
    assert_eq!(app.mirror.active(), 5);
    assert_eq!(app.mirror.shown(), 8, "still on screen");
    tick(&mut app, T0 + 4_999, 4_999);
    assert_eq!(app.mirror.shown(), 8);
    tick(&mut app, T0 + 5_000, 5_000);
    assert_eq!(app.mirror.shown(), 5, "gone after the linger");
}

#[test]
fn a_paused_clock_keeps_an_ended_row_on_screen_for_as_long_as_it_is_paused() {
    let mut app = app();
    let bob = sessions()[1].clone();
    send(&mut app, event(101, EventKind::Expired, T0, &bob));
    // Ten minutes of real time pass; the paused clock stays at T0.
    for real_s in 1..=600 {
        tick(&mut app, T0, real_s * 1_000);
    }
    assert_eq!(app.mirror.shown(), 8, "the ended row is still there");
    assert!(screen(&mut app).contains("✕ expired idle"));
    // The clock goes on: the row leaves after the linger, counted in clock time.
    tick(&mut app, T0 + 5_000, 601_000);
    assert_eq!(app.mirror.shown(), 7);
}

#[test]
fn expiries_show_their_reason_and_lateness() {
    let mut app = app();
    let carol = sessions()[2].clone();
    let mut expired = event(
        101,
        EventKind::Expired,
        carol.absolute_expires_at + 3,
        &carol,
    );
    expired.reason = Some(ExpiryReason::Absolute);
    expired.deadline = Some(carol.absolute_expires_at);
    send(&mut app, expired);
    assert_eq!(app.activity.totals.expired_absolute, 1);
    assert!(screen(&mut app).contains("absolute limit 8h reached · 3 ms late"));
}

#[test]
fn events_already_seen_are_ignored() {
    let mut app = app();
    let new = session(20, "heidi", "192.0.2.1", T0, T0);
    send(&mut app, event(100, EventKind::Created, T0, &new));
    assert_eq!(app.mirror.active(), 8, "seq 100 is in the snapshot already");
}

#[test]
fn resync_replaces_the_mirror() {
    let mut app = app();
    let only = vec![session(30, "ivan", "192.0.2.9", T0, T0)];
    app.update(Msg::Update(SourceUpdate::Resync(fixture::snapshot(
        only, 500,
    ))));
    assert_eq!(order(&app), vec!["ivan"]);
    assert_eq!(app.last_seq, 500);
    assert_eq!(selected_user(&app), "ivan");
}

#[test]
fn a_restarted_server_replaces_the_mirror_and_says_how_many_sessions_were_lost() {
    let mut app = app();
    let before = app.mirror.active();
    // The restarted server kept one of the mirror's sessions and has one of its own.
    let kept = sessions().remove(0);
    let fresh = session(31, "judy", "192.0.2.8", T0, T0);
    app.update(Msg::Update(SourceUpdate::Restarted(fixture::snapshot(
        vec![kept, fresh],
        3,
    ))));
    assert_eq!(app.mirror.active(), 2);
    assert_eq!(
        app.last_seq, 3,
        "the new run's sequence, even though it is lower"
    );
    let status = app.status.as_ref().unwrap();
    assert_eq!(
        status.text,
        format!("server restarted: {} sessions were not kept", before - 1)
    );
    assert!(screen(&mut app).contains("server restarted"));
}

#[test]
fn the_event_log_marks_where_a_restart_or_a_resync_cut_it() {
    let mut app = remote_app();
    let old = session(20, "heidi", "192.0.2.1", T0, T0);
    send(&mut app, event(900, EventKind::Created, T0, &old));
    let kept = sessions().remove(0);
    app.update(Msg::Update(SourceUpdate::Restarted(fixture::snapshot(
        vec![kept.clone()],
        3,
    ))));
    send(&mut app, event(4, EventKind::Revoked, T0, &kept));
    app.update(Msg::Update(SourceUpdate::Resync(fixture::snapshot(
        vec![],
        10,
    ))));
    let marks: Vec<String> = (app.log.iter())
        .map(|entry| match entry {
            LogEntry::Event(event) => event.kind.as_str().to_owned(),
            LogEntry::Mark { text, .. } => text.clone(),
        })
        .collect();
    assert_eq!(
        marks,
        [
            "events were missed here: every session reloaded",
            "revoked",
            "server restarted: 8 sessions were not kept",
            "created",
        ]
    );
    let shown = screen(&mut app);
    assert!(
        shown.contains("── server restarted: 8 sessions were not kept ───"),
        "{shown}"
    );
}

#[test]
fn a_restarted_server_that_kept_every_session_says_only_that_it_restarted() {
    let mut app = app();
    let live: Vec<_> = (app.mirror.walk(None))
        .filter_map(|p| app.mirror.get(p.1))
        .filter(|row| row.ended.is_none())
        .map(|row| row.session.clone())
        .collect();
    app.update(Msg::Update(SourceUpdate::Restarted(fixture::snapshot(
        live, 3,
    ))));
    let status = app.status.as_ref().unwrap();
    assert_eq!(status.text, "server restarted");
    assert!(!status.error);
}

#[test]
fn a_restart_while_frozen_is_told_when_the_view_goes_live() {
    let mut app = remote_app();
    char_key(&mut app, 'f');
    // What happened before the restart waited too, and still shows, first.
    let bob = sessions()[1].clone();
    send(&mut app, event(900, EventKind::Revoked, T0, &bob));
    let kept = sessions().remove(0);
    app.update(Msg::Update(SourceUpdate::Restarted(fixture::snapshot(
        vec![kept],
        3,
    ))));
    char_key(&mut app, 'f');
    let status = app.status.as_ref().unwrap();
    assert_eq!(
        status.text, "server restarted: 6 sessions were not kept",
        "bob was revoked, not lost"
    );
    assert!(matches!(&app.log[0], LogEntry::Mark { .. }));
    assert_eq!(app.log[1].event().unwrap().kind, EventKind::Revoked);
}

#[test]
fn an_event_line_too_long_is_cut_with_an_ellipsis_inside_the_border() {
    let mut app = fixture::app_with(sessions(), 80, 24);
    let long = session(
        40,
        "maximilian.schmidt",
        "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
        T0,
        T0,
    );
    send(&mut app, event(101, EventKind::Created, T0, &long));
    let text = screen(&mut app);
    let line = text
        .lines()
        .find(|l| l.contains("logged in from 2001"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.trim_end_matches('"').ends_with("…│"), "{line}");
}

#[test]
fn a_config_warning_is_in_the_footer_at_start() {
    let config = crate::config::Config {
        warnings: vec![
            "TZ=CET-1CEST is not an IANA time zone name".to_owned(),
            "another".to_owned(),
        ],
        ..Default::default()
    };
    let mut app = App::new(
        fixture::info(),
        &config,
        super::keymap::KeyMap::default(),
        1,
    );
    app.update(Msg::Resize(160, 40));
    let status = app.status.clone().unwrap();
    assert!(status.error);
    assert_eq!(
        status.text,
        "warning: TZ=CET-1CEST is not an IANA time zone name (1 more, in the terminal after you quit)"
    );
    assert!(screen(&mut app).contains("warning: TZ=CET-1CEST"));
}

#[test]
fn a_failed_command_is_shown_as_an_error() {
    let mut app = app();
    app.update(Msg::Outcome(Err(SourceError::Refused(format!(
        "no active session has handle {}",
        Handle(1)
    )))));
    assert!(app.status.as_ref().unwrap().error);
    assert!(screen(&mut app).contains("no active session has handle"));
    // A wide terminal shows a long status whole, before the hints.
    let long = format!(
        "lost the session source: cannot reach http://127.0.0.1:7610: {}",
        "connection refused ".repeat(3)
    );
    let mut app = fixture::app_with(sessions(), 160, 40);
    app.update(Msg::Outcome(Err(SourceError::Refused(long.clone()))));
    assert!(screen(&mut app).contains(long.trim_end()));
}

#[test]
fn the_selection_follows_its_session_when_the_order_changes() {
    let mut app = app();
    char_key(&mut app, 'j');
    let user = selected_user(&app);
    let selected = app.selected_row().unwrap().session.clone();
    send(&mut app, event(101, EventKind::Touched, T0, &selected));
    app.prepare_frame();
    assert_eq!(selected_user(&app), user);
}

#[test]
fn help_fits_the_smallest_terminal_in_two_columns() {
    let mut app = fixture::app_with(sessions(), 100, 24);
    char_key(&mut app, '?');
    let text = screen(&mut app);
    for needle in [
        "simulate a login",
        "quit",
        "Esc",
        "a burst of 10 logins",
        "last session",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn every_help_line_is_whole_at_80x24() {
    let mut app = fixture::app_with(sessions(), 80, 24);
    char_key(&mut app, '?');
    let text = screen(&mut app);
    for spec in crate::tui::keymap::ACTIONS {
        let help = match spec.action {
            Action::Step | Action::AutoPause => continue,
            Action::Faster => "clock faster, up to ×100",
            _ => spec.help,
        };
        assert!(text.contains(help), "{help:?} is cut:\n{text}");
    }
}

#[test]
fn a_closing_time_expiry_names_the_closing_time() {
    let mut app = app();
    app.info.policy.closing_time = Some(crate::engine::ClosingTime(
        chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
    ));
    let dave = sessions()[3].clone();
    let mut expired = event(101, EventKind::Expired, T0, &dave);
    expired.reason = Some(ExpiryReason::ClosingTime);
    expired.deadline = Some(T0);
    send(&mut app, expired);
    assert_eq!(app.activity.totals.expired_closing_time, 1);
    let text = screen(&mut app);
    assert!(
        text.contains("closing time 23:00 reached · 0 ms late"),
        "{text}"
    );
    assert!(text.contains("✕ closing time"), "{text}");
}

#[test]
fn the_header_shows_the_closing_time_in_its_zone() {
    let mut app = app();
    app.info.policy.closing_time = Some(crate::engine::ClosingTime(
        chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
    ));
    app.info.policy.time_zone = chrono_tz::Europe::Berlin;
    let text = screen(&mut app);
    // 09:00 UTC is 10:00 in Berlin: the clock is read in the closing time's zone.
    assert!(
        text.contains("closing 23:00 │ clock 10:00:00 Europe/Berlin"),
        "{text}"
    );
}

#[test]
fn the_header_names_the_policy_zone_without_a_closing_time_too() {
    let mut app = remote_app();
    app.info.policy.time_zone = chrono_tz::Asia::Tokyo;
    let text = screen(&mut app);
    let header = text.lines().next().unwrap();
    assert!(header.contains("closing off"), "{header}");
    assert!(
        header.contains("server time 18:00:00 Asia/Tokyo"),
        "{header}"
    );
}

/// A dashboard on a server whose policy closes at 23:00 in Tokyo, with
/// sessions whose timeouts differ (a longer policy part in the header).
fn tokyo_server_app(width: u16, height: u16) -> App {
    let mut app = fixture::app_with([sessions(), vec![late_session()]].concat(), width, height);
    app.info.remote = true;
    app.info.clock_control = false;
    app.info.simulator = false;
    app.info.mode = "http://127.0.0.1:18716/ (v0.1.0)".to_owned();
    app.info.node = "f0d3d07f".to_owned();
    app.info.policy.time_zone = chrono_tz::Asia::Tokyo;
    app.info.policy.closing_time = Some(crate::engine::ClosingTime(
        chrono::NaiveTime::from_hms_opt(23, 0, 0).unwrap(),
    ));
    // A server's clock is never paused.
    running_tick(&mut app, T0);
    app
}

#[test]
fn the_header_ends_with_the_clocks_zone_at_every_width() {
    for width in (80..=160).step_by(4) {
        let mut app = tokyo_server_app(width, 30);
        let text = screen(&mut app);
        let header = text.lines().next().unwrap().trim_end_matches(['"', ' ']);
        assert!(
            header.ends_with("18:00:00 JST") || header.ends_with("18:00:00 Asia/Tokyo"),
            "{width} columns: {header}"
        );
        assert!(
            header.contains("closing 23:00"),
            "{width} columns: {header}"
        );
    }
}

#[test]
fn a_narrow_header_shortens_the_server_address_before_the_closing_time() {
    let mut app = tokyo_server_app(80, 24);
    let text = screen(&mut app);
    let header = text.lines().next().unwrap();
    assert!(header.contains("idle 15m–1d  absolute 8h–12h"), "{header}");
    assert!(header.contains("closing 23:00"), "{header}");
    // No room for the zone's name: its abbreviation.
    assert!(
        header
            .trim_end_matches(['"', ' '])
            .ends_with("18:00:00 JST"),
        "{header}"
    );
    assert!(header.contains("node f0d3d07f"), "{header}");
    let counters = text.lines().nth(1).unwrap();
    assert!(
        counters
            .trim_end_matches(['"', ' '])
            .ends_with(char::is_numeric),
        "the counters line keeps whole counters: {counters}"
    );
    // With a shorter policy line, the address fits, whole, beside the zone's
    // abbreviation.
    app.info.policy.closing_time = None;
    app.info.policy.max_sessions_per_user = None;
    let text = screen(&mut app);
    let header = text.lines().next().unwrap();
    assert!(header.contains(" 127.0.0.1:18716 "), "{header}");
    assert!(
        header
            .trim_end_matches(['"', ' '])
            .ends_with("18:00:00 JST"),
        "{header}"
    );
}

#[test]
fn the_details_name_the_zone_of_their_times() {
    let mut app = app();
    app.info.policy.time_zone = chrono_tz::Asia::Tokyo;
    char_key(&mut app, 'j');
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app);
    let ends_at = text.lines().find(|l| l.contains("ends at")).unwrap();
    assert!(ends_at.contains(":00.000 JST"), "{ends_at}");
}

/// A session with a day of idle time and a closing time before its
/// absolute limit: its countdowns are the widest the table shows.
fn late_session() -> crate::engine::SessionView {
    let mut late = session(40, "late", "203.0.113.7", T0, T0);
    late.idle_timeout_ms = 24 * 3_600_000;
    late.idle_expires_at = T0 + 24 * 3_600_000;
    late.absolute_expires_at = T0 + 12 * 3_600_000;
    late.expires_at = T0 + (11 * 3_600 + 26 * 60 + 11) * 1_000;
    late
}

#[test]
fn long_countdowns_are_shown_whole_and_the_origin_gives_way() {
    for (width, height) in [(160, 45), (120, 40), (100, 30), (80, 24)] {
        let mut app = fixture::app_with(vec![late_session()], width, height);
        let text = screen(&mut app);
        assert!(text.contains(" 1d 00:00 "), "{width}x{height}:\n{text}");
        assert!(
            text.contains(" 11:26:11 close "),
            "{width}x{height}:\n{text}"
        );
        if text.contains("203.0.113.7") {
            let row = text.lines().find(|l| l.contains("late")).unwrap();
            assert!(
                row.contains("x86_64)") || row.contains("…"),
                "the origin is cut with an ellipsis: {row}"
            );
        }
    }
}

#[test]
fn a_wide_origin_column_shows_as_much_of_the_user_agent_as_fits() {
    let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
    let mut wide = session(41, "wide", "192.0.2.9", T0, T0);
    wide.attributes = std::collections::BTreeMap::from([
        ("ip".to_owned(), "192.0.2.9".to_owned()),
        ("user_agent".to_owned(), agent.to_owned()),
    ])
    .into();
    let mut app = fixture::app_with(vec![wide], 200, 40);
    let text = screen(&mut app);
    assert!(text.contains(&format!("192.0.2.9 · {agent}")), "{text}");
}

// ---- a remote source's link ----

fn remote_app() -> App {
    let mut app = app();
    app.info.remote = true;
    app.info.clock_control = false;
    app
}

#[test]
fn a_remote_header_says_connected_and_how_old_the_last_event_is() {
    let mut app = remote_app();
    tick(&mut app, T0, 1_000);
    assert!(screen(&mut app).contains("● connected · no event yet"));
    send(&mut app, event(900, EventKind::Touched, T0, &sessions()[0]));
    tick(&mut app, T0 + 4_000, 5_000);
    let shown = screen(&mut app);
    assert!(shown.contains("last event 4s ago"), "{shown}");
}

#[test]
fn a_frozen_view_still_tells_how_old_the_last_event_is() {
    let mut app = remote_app();
    tick(&mut app, T0, 1_000);
    char_key(&mut app, 'f');
    send(&mut app, event(900, EventKind::Touched, T0, &sessions()[0]));
    tick(&mut app, T0 + 4_000, 5_000);
    let shown = screen(&mut app);
    assert!(shown.contains("last event 4s ago"), "{shown}");
    // Going live shows the held event; it is no newer for that.
    char_key(&mut app, 'f');
    tick(&mut app, T0 + 6_000, 7_000);
    let shown = screen(&mut app);
    assert!(shown.contains("last event 6s ago"), "{shown}");
}

#[test]
fn a_frozen_view_counts_the_events_waiting_and_shows_the_link_live() {
    let mut app = remote_app();
    tick(&mut app, T0, 1_000);
    char_key(&mut app, 'f');
    assert!(screen(&mut app).contains("FROZEN: the server runs on"));
    send(&mut app, event(900, EventKind::Touched, T0, &sessions()[0]));
    send(&mut app, event(901, EventKind::Touched, T0, &sessions()[1]));
    assert!(screen(&mut app).contains("FROZEN: 2 events waiting"));
    disconnect(&mut app, "connection refused", 2_000);
    let shown = screen(&mut app);
    assert!(shown.contains(" FROZEN   RECONNECTING in 2s"), "{shown}");
    assert!(
        shown.contains("○ disconnected: connection refused"),
        "{shown}"
    );
    assert!(!shown.contains("the server runs on"), "{shown}");
}

#[test]
fn a_dropped_link_counts_down_to_the_retry_and_marks_countdowns_stale() {
    let mut app = remote_app();
    tick(&mut app, T0, 10_000);
    disconnect(&mut app, "connection refused", 4_000);
    tick(&mut app, T0 + 1_000, 11_000);
    let shown = screen(&mut app);
    assert!(shown.contains("RECONNECTING in 3s"), "{shown}");
    assert!(shown.contains("STALE"), "{shown}");
    assert!(
        shown.contains("connection refused"),
        "the reason is shown: {shown}"
    );
    assert!(app.is_stale());
    // Countdowns keep moving from the known deadlines while away.
    let before = shown
        .lines()
        .find(|l| l.contains("alice"))
        .map(str::to_owned);
    tick(&mut app, T0 + 2_000, 12_000);
    let after = screen(&mut app)
        .lines()
        .find(|l| l.contains("alice"))
        .map(str::to_owned);
    assert_ne!(before, after);

    app.update(Msg::Update(SourceUpdate::Connection(
        crate::source::ConnectionState::Connected,
    )));
    tick(&mut app, T0 + 3_000, 13_000);
    let shown = screen(&mut app);
    assert!(
        !shown.contains("STALE") && !shown.contains("RECONNECTING"),
        "{shown}"
    );
    assert!(!app.is_stale());
}

#[test]
fn control_and_alt_keys_type_nothing_in_the_login_prompt() {
    let mut app = app();
    char_key(&mut app, 'n');
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    char_key(&mut app, 'x');
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('a'),
        KeyModifiers::CONTROL,
    )));
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('b'),
        KeyModifiers::ALT,
    )));
    char_key(&mut app, 'Y');
    assert!(
        matches!(&app.mode, Mode::Prompt { text, .. } if text == "xY"),
        "{:?}",
        app.mode
    );
}

#[test]
fn the_login_prompt_says_when_a_name_is_as_long_as_it_may_be() {
    let mut app = app();
    char_key(&mut app, 'n');
    app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('u'),
        KeyModifiers::CONTROL,
    )));
    for _ in 0..63 {
        char_key(&mut app, 'a');
    }
    assert!(!screen(&mut app).contains("characters at most"));
    char_key(&mut app, 'a');
    char_key(&mut app, 'b');
    assert!(
        matches!(&app.mode, Mode::Prompt { text, .. } if text.len() == 64 && !text.contains('b'))
    );
    assert!(screen(&mut app).contains("64 characters at most · Enter log in"));
}

#[test]
fn the_filter_says_when_it_is_as_long_as_it_may_be() {
    let mut app = app();
    char_key(&mut app, '/');
    for _ in 0..63 {
        char_key(&mut app, 'a');
    }
    assert!(!screen(&mut app).contains("characters at most"));
    char_key(&mut app, 'a');
    char_key(&mut app, 'b');
    assert_eq!(app.mirror.filter(), "a".repeat(64));
    assert!(screen(&mut app).contains("64 characters at most · Enter keep"));
}

#[test]
fn a_frozen_view_goes_live_by_itself_before_it_holds_too_much() {
    let mut app = remote_app();
    char_key(&mut app, 'f');
    assert!(app.frozen.is_some());
    let session = sessions()[0].clone();
    for i in 0..super::app::MAX_HELD as u64 {
        send(
            &mut app,
            event(10_000 + i, EventKind::Touched, T0, &session),
        );
    }
    assert!(app.frozen.is_none(), "unfrozen at the cap");
    assert_eq!(
        app.last_seq,
        10_000 + super::app::MAX_HELD as u64 - 1,
        "nothing was lost"
    );
}

// ---- evictions (a login over the user's session limit) ----

/// The `revoked` event a login over a limit of `limit` sends for `session`.
fn evicted(seq: u64, session: &crate::engine::SessionView, limit: u32) -> crate::engine::Event {
    let mut e = event(seq, EventKind::Revoked, T0, session);
    e.actor = None;
    e.reason = Some(ExpiryReason::Evicted);
    e.limit = Some(limit);
    e
}

/// alice's oldest session evicted by her third login, with a limit of 2.
fn app_after_an_eviction() -> App {
    let mut app = app();
    app.info.policy.max_sessions_per_user = Some(2);
    let all = sessions();
    send(&mut app, evicted(101, &all[0], 2));
    let third = session(20, "alice", "203.0.113.9", T0, T0);
    send(&mut app, event(102, EventKind::Created, T0, &third));
    app
}

#[test]
fn an_eviction_says_evicted_user_over_n_sessions_in_the_log_and_the_ended_row() {
    let mut app = app_after_an_eviction();
    let alice = sessions()[0].clone();
    let row = app.mirror.get(alice.handle).unwrap();
    assert_eq!(row.ended.unwrap().0, Ending::Evicted(Some(2)));
    let text = screen(&mut app);
    let log_line = text
        .lines()
        .find(|l| l.contains("revoked") && l.contains("alice"))
        .unwrap_or_else(|| panic!("no eviction in the log:\n{text}"));
    assert!(
        log_line.contains("evicted: user over 2 sessions"),
        "{log_line}"
    );
    assert!(
        !log_line.contains("revoked by"),
        "no one revoked it: {log_line}"
    );
    let ended_row = text
        .lines()
        .find(|l| l.contains("✕ evicted"))
        .unwrap_or_else(|| panic!("no ended row:\n{text}"));
    assert!(
        ended_row.contains("✕ evicted: user over 2 sessions") && ended_row.contains("alice"),
        "the whole reason fits on the row: {ended_row}"
    );
    assert_eq!(app.activity.totals.revoked, 2, "1 in the snapshot, 1 now");
    assert_eq!(app.activity.totals.evicted, 1);
}

#[test]
fn an_eviction_without_a_limit_on_the_event_still_says_what_happened() {
    let mut app = app();
    let mut e = evicted(101, &sessions()[1], 3);
    e.limit = None;
    send(&mut app, e);
    let text = screen(&mut app);
    assert!(
        text.contains("evicted: user over the session limit"),
        "{text}"
    );
    let mut one = evicted(102, &sessions()[2], 1);
    one.session.user = "carol".into();
    send(&mut app, one);
    assert!(screen(&mut app).contains("evicted: user over 1 session "));
}

#[test]
fn the_details_of_an_ended_session_keep_the_activity_the_log_hides() {
    let mut app = app();
    assert!(!app.settings.show_touches);
    let bob = sessions()[1].clone();
    send(&mut app, event(900, EventKind::Touched, T0 + 1_000, &bob));
    send(&mut app, event(901, EventKind::Revoked, T0 + 2_000, &bob));
    assert!(
        app.log
            .iter()
            .all(|e| e.event().unwrap().kind != EventKind::Touched),
        "the log hides activity"
    );
    app.selected = app.mirror.position(bob.handle);
    key(&mut app, KeyCode::Enter);
    // The source no longer holds an ended session's events.
    app.update(Msg::Outcome(Ok(CommandOutcome::Detail {
        session: None,
        events: vec![],
    })));
    let kinds: Vec<EventKind> = (app.detail.as_ref().unwrap().events.iter())
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [EventKind::Touched, EventKind::Revoked]);
}

#[test]
fn open_details_keep_an_ended_session_on_screen_until_they_close() {
    let mut app = app();
    let bob = sessions()[1].clone();
    app.selected = app.mirror.position(bob.handle);
    key(&mut app, KeyCode::Enter);
    send(&mut app, event(900, EventKind::Revoked, T0, &bob));
    tick(&mut app, T0 + 3_600_000, 1_000);
    assert!(
        app.mirror.get(bob.handle).is_some(),
        "kept while its details are open"
    );
    assert!(!screen(&mut app).contains("no longer on screen"));
    key(&mut app, KeyCode::Esc);
    tick(&mut app, T0 + 3_600_001, 2_000);
    assert!(app.mirror.get(bob.handle).is_none(), "gone once they close");
}

#[test]
fn the_detail_view_shows_the_eviction_and_the_users_live_sessions_against_the_limit() {
    let mut app = app_after_an_eviction();
    let all = sessions();
    app.selected = app.mirror.position(all[0].handle);
    key(&mut app, KeyCode::Enter);
    let detail = app.detail.as_ref().unwrap();
    assert_eq!((detail.user.as_str(), detail.user_live), ("alice", 2));
    app.update(Msg::Outcome(Ok(CommandOutcome::Detail {
        session: None,
        events: vec![],
    })));
    let text = screen(&mut app);
    assert!(
        text.contains("ended: evicted: user over 2 sessions at 2026-11-26"),
        "{text}"
    );
    assert!(
        text.contains("alice has 2 live sessions (limit 2)"),
        "{text}"
    );
    // The event log's copy of the eviction is the detail's history.
    assert!(
        text.lines()
            .filter(|l| l.contains("evicted: user over 2 sessions"))
            .count()
            >= 2,
        "the state and the history: {text}"
    );
    // The count follows events of that user, and only hers.
    send(&mut app, event(103, EventKind::LoggedOut, T0, &all[7]));
    send(
        &mut app,
        event(
            104,
            EventKind::Created,
            T0,
            &session(21, "bob", "192.0.2.3", T0, T0),
        ),
    );
    assert!(screen(&mut app).contains("alice has 1 live session (limit 2)"));
    app.info.policy.max_sessions_per_user = None;
    let text = screen(&mut app);
    assert!(
        text.contains("alice has 1 live session ") && !text.contains("session (limit"),
        "no limit, none shown: {text}"
    );
}

#[test]
fn eviction_screen() {
    let mut app = app_after_an_eviction();
    insta::assert_snapshot!(render(&mut app).backend());
}

#[test]
fn the_header_shows_the_per_user_limit_and_the_server_node() {
    let mut app = app();
    assert!(!screen(&mut app).contains("/user"));
    app.info.policy.max_sessions_per_user = Some(3);
    let text = screen(&mut app);
    let header = text.lines().next().unwrap();
    assert!(header.contains("closing off  max 3/user"), "{header}");
    // At 80 columns, "closing off" makes room for the limit.
    app.update(Msg::Resize(80, 24));
    let header = screen(&mut app).lines().next().unwrap().to_owned();
    assert!(
        header.contains("absolute 8h  max 3/user │") && !header.contains("closing"),
        "{header}"
    );
    app.update(Msg::Resize(120, 40));
    app.info.remote = true;
    app.info.clock_control = false;
    app.info.simulator = false;
    app.info.mode = "http://127.0.0.1:7878 (v0.1.0)".into();
    app.info.node = "3fa9c2d1".into();
    let text = screen(&mut app);
    let header = text.lines().next().unwrap();
    assert!(
        header.contains("http://127.0.0.1:7878 (v0.1.0) node 3fa9c2d1 │"),
        "{header}"
    );
    // A reconnect that lands on another node says so, and the header follows.
    let mut info = app.info.clone();
    info.node = "77e0b5aa".into();
    app.update(Msg::Update(SourceUpdate::Info(info)));
    let text = screen(&mut app);
    assert!(
        text.lines().next().unwrap().contains("node 77e0b5aa"),
        "{text}"
    );
    assert!(
        text.contains("reconnected to server node 77e0b5aa"),
        "{text}"
    );
    // A long server URL, the node and a RECONNECTING badge all fit in 120
    // columns: the title and "closing off" make room.
    app.info.mode = "http://127.0.0.1:41987 (v0.1.0)".into();
    running_tick(&mut app, T0);
    disconnect(&mut app, "connection reset", 2_000);
    let header = screen(&mut app).lines().next().unwrap().to_owned();
    assert!(
        header.contains("node 77e0b5aa")
            && header.contains("max 3/user")
            && header.contains(" RECONNECTING in 2s "),
        "{header}"
    );
    assert!(!header.contains("sessiontop"), "{header}");
}

/// The charts' headings show their time span whole or not at all, the
/// same on all three, whatever the width: never "expiries (last 2m" cut at
/// the border.
#[test]
fn a_charts_time_span_is_never_cut() {
    for width in 80..=160 {
        let mut app = fixture::app_with(sessions(), width, 30);
        let text = screen(&mut app);
        let line = text
            .lines()
            .find(|line| line.contains("active") && line.contains("expiries"))
            .expect("the charts' headings");
        let spans: Vec<&str> = line.split(['(', ')']).skip(1).step_by(2).collect();
        assert!(
            spans.is_empty() || (spans.len() == 3 && spans.iter().all(|s| *s == spans[0])),
            "at {width} columns: {line}"
        );
        assert!(
            spans.iter().all(|s| s.ends_with('m')),
            "at {width} columns: {line}"
        );
    }
}

/// The footer shows whole hints, never one cut mid-word, and always ends
/// with help and quit, whatever the width and however long the status.
#[test]
fn the_footer_keeps_help_and_quit_and_cuts_no_hint() {
    let mut app = app();
    let mut known: Vec<String> = app
        .keymap
        .hints()
        .into_iter()
        .map(|(_, key, hint)| format!("{key} {hint}"))
        .collect();
    // The fixture's clock is paused: Space says it goes on.
    known.push("Space go on".to_owned());
    for status in [
        None,
        Some("logged in dmitri as 66fda2a3dcd1debe and nine more"),
    ] {
        for width in view::MIN_WIDTH..=200 {
            app.size = (width, 30);
            app.status = status.map(|text| super::app::Status {
                text: text.to_owned(),
                error: false,
                until_ms: u64::MAX,
            });
            let shown = screen(&mut app);
            let footer = shown.lines().last().unwrap().trim_matches('"');
            assert!(
                footer.trim_end().ends_with("? help  q quit"),
                "{width}: {footer:?}"
            );
            let hints = footer.rsplit('│').next().unwrap();
            for piece in hints.split("  ").map(str::trim).filter(|p| !p.is_empty()) {
                assert!(
                    known.iter().any(|k| k == piece),
                    "{width}: {piece:?} in {footer:?}"
                );
            }
            if status.is_some() {
                assert!(footer.contains(" logged in dmitri"), "{width}: {footer:?}");
            }
        }
    }
}

/// The embedded header at its fullest (a closing time, a limit, a slow
/// paused clock, the simulator): whatever the width, whole words only, no
/// separator in front, and the badge always shows.
#[test]
fn the_embedded_header_leaves_out_whole_parts_at_every_width() {
    for width in view::MIN_WIDTH..=200 {
        let mut app = fixture::app_with(sessions(), width, 30);
        app.info.policy.closing_time = Some(crate::engine::ClosingTime(
            chrono::NaiveTime::from_hms_opt(23, 59, 0).unwrap(),
        ));
        app.info.policy.idle_timeout = std::time::Duration::from_secs(90);
        app.info.policy.time_zone = chrono_tz::America::Sao_Paulo;
        app.update(Msg::Tick {
            clock: ClockReading {
                now: T0,
                speed: 0.625,
                paused: true,
            },
            real_ms: 0,
        });
        let text = screen(&mut app);
        let header = text.lines().next().unwrap().trim_matches('"').trim_end();
        assert!(!header.contains('…'), "{width}: {header}");
        assert!(!header.starts_with(" │"), "{width}: {header}");
        assert!(header.contains("closing 23:59"), "{width}: {header}");
        assert!(header.contains("×0.625  PAUSED"), "{width}: {header}");
        // The real time, where there is room, comes last.
        let before_real = header.split(" │ real ").next().unwrap();
        assert!(
            before_real.ends_with("PAUSED") || before_real.ends_with("sim on"),
            "{width}: {header}"
        );
        if width >= 120 {
            assert!(header.contains(" embedded "), "{width}: {header}");
        }
    }
}

/// A closing time before the absolute limits is every live session's hard
/// end, touched or not, idle deadline sooner or not: the ABSOLUTE column
/// counts down to it, and the details name it.
#[test]
fn the_closing_time_is_every_sessions_hard_end() {
    let mut app = app();
    app.info.policy.closing_time = Some(crate::engine::ClosingTime(
        chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
    ));
    let text = screen(&mut app);
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("● active")).collect();
    assert!(!rows.is_empty(), "{text}");
    for row in rows {
        // Carol logged in 7h50m ago: her absolute limit, in 10m, comes first.
        if !row.contains("carol") {
            assert!(row.contains(" 1:00:00 close "), "{row}");
        }
    }
    char_key(&mut app, 'j');
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app);
    assert!(
        text.contains("closing time      2026-11-26 10:00:00.000 UTC  (in 1:00:00)"),
        "{text}"
    );
}

/// The details of an ended session count down to nothing, and at 80x24 no
/// line runs into the border: each is whole, shortened, or cut with "…".
#[test]
fn the_details_of_an_ended_session_at_80x24() {
    let mut app = fixture::app_with(sessions(), 80, 24);
    let mut ended = app.selected_row().unwrap().session.clone();
    ended.attributes = std::collections::BTreeMap::from([(
        "user_agent".to_owned(),
        "Mozilla/5.0 (X11; Linux x86_64) with a long useragentstring/1.0 (with long comments)"
            .to_owned(),
    )])
    .into();
    send(&mut app, event(200, EventKind::Touched, T0, &ended));
    let mut expired = event(201, EventKind::Expired, T0, &ended);
    expired.reason = Some(ExpiryReason::Idle);
    expired.deadline = Some(T0);
    send(&mut app, expired);
    key(&mut app, KeyCode::Enter);
    let text = screen(&mut app);
    let detail: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start_matches('"').starts_with('│') && l.matches('│').count() >= 4)
        .collect();
    assert!(text.contains("ended: expired idle"), "{text}");
    assert!(
        !text.contains("(in "),
        "no countdown on an ended session:\n{text}"
    );
    assert!(!text.contains("ends at"), "{text}");
    for line in detail {
        // The table's border, then the popup's content between its own.
        let inside = line.split('│').nth(2).unwrap();
        assert!(
            inside.ends_with(' ') || inside.ends_with('…'),
            "cut at the border: {line}"
        );
    }
}

/// A server's header, frozen or not, at every width: the address whole or
/// left out (never "127.0.0.1:1…", another port), and the FROZEN badge whole.
#[test]
fn a_server_header_leaves_out_whole_parts_at_every_width() {
    for frozen in [false, true] {
        for width in view::MIN_WIDTH..=200 {
            let mut app = tokyo_server_app(width, 30);
            if frozen {
                char_key(&mut app, 'f');
            }
            let text = screen(&mut app);
            let header = text.lines().next().unwrap().trim_matches('"').trim_end();
            assert!(!header.contains('…'), "{width}: {header}");
            assert!(header.contains("node f0d3d07f"), "{width}: {header}");
            if frozen {
                assert!(
                    header.ends_with(" FROZEN") || header.ends_with("FROZEN: the server runs on"),
                    "{width}: {header}"
                );
            } else {
                assert!(
                    header.ends_with("18:00:00 JST") || header.ends_with("18:00:00 Asia/Tokyo"),
                    "{width}: {header}"
                );
            }
            if width >= 140 {
                assert!(header.contains("127.0.0.1:18716"), "{width}: {header}");
            }
        }
    }
}

/// A long filter at 80 columns: the footer shows the end being typed and
/// the keys' help whole, and the table's title keeps its closing quote.
#[test]
fn a_long_filter_shows_its_end_and_keeps_within_the_borders() {
    let mut app = fixture::app_with(sessions(), 80, 24);
    char_key(&mut app, '/');
    let typed = "averyveryverylongfiltertextthatgoesonandonandonuntiltheend42";
    for c in typed.chars() {
        char_key(&mut app, c);
    }
    let text = screen(&mut app);
    let footer = text.lines().last().unwrap().trim_matches('"').trim_end();
    assert!(footer.contains("untiltheend42▏"), "{footer}");
    assert!(
        footer.ends_with("Enter keep · Esc clear · ↑↓ select"),
        "{footer}"
    );
    let title = text.lines().find(|l| l.contains(" Sessions ")).unwrap();
    assert!(title.contains("…\" ─"), "{title}");
}

/// A row that ended at ×100 lingers 5 s of real time, 500 s of clock; once
/// the clock slows to ×0.5 that must not become 1,000 s of real time.
#[test]
fn slowing_the_clock_does_not_stretch_an_ended_rows_linger() {
    let mut app = app();
    let at = |now: i64, speed: f64, real_ms: u64| Msg::Tick {
        clock: ClockReading {
            now,
            speed,
            paused: false,
        },
        real_ms,
    };
    app.update(at(T0, 100.0, 0));
    let bob = sessions()[1].clone();
    send(&mut app, event(101, EventKind::Expired, T0, &bob));
    app.update(at(T0 + 100_000, 0.5, 1_000));
    assert_eq!(app.mirror.shown(), 8, "a second after it ended, it lingers");
    // Five seconds of real time at ×0.5 are 2.5 s of clock.
    app.update(at(T0 + 102_500, 0.5, 6_000));
    assert_eq!(app.mirror.shown(), 7, "gone after the linger");
}

/// A million-login day's counters are shown whole: the charts give way,
/// never a number's digits.
#[test]
fn big_counters_are_never_cut() {
    for width in [100, 160] {
        let mut app = fixture::app_with(sessions(), width, 40);
        app.activity.peak = 1_204_227;
        app.activity.totals.logins = 1_504_227;
        app.activity.totals.logged_out = 1_302_256;
        app.activity.totals.revoked = 400_012;
        let shown = screen(&mut app);
        for figure in [
            "peak 1,204,227",
            "logins 1,504,227",
            "logged out 1,302,256",
            "revoked 400,012",
        ] {
            assert!(
                shown.contains(figure),
                "{width} columns, {figure}:\n{shown}"
            );
        }
    }
}
