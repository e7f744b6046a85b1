//! Small dialogs: the login prompt and the revoke confirmations.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::centered;
use crate::tui::app::{App, Confirm, MAX_PROMPT};
use crate::tui::text::{thousands, untrusted, untrusted_end};
use crate::tui::theme::Role;

fn popup(frame: &mut Frame, area: Rect, app: &App, title: &str, lines: Vec<Line>) {
    let theme = &app.theme;
    let rect = centered(area, 64, lines.len() as u16 + 2);
    super::clear_for_popup(frame, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.style(Role::Warn))
                .title(Span::styled(format!(" {title} "), theme.style(Role::Warn))),
        ),
        rect,
    );
}

/// The login prompt; an offered name is shown selected (reversed), as
/// it goes when the user types.
pub fn prompt(frame: &mut Frame, area: Rect, app: &App, input: &str, suggested: bool) {
    let theme = &app.theme;
    let (title, question) = if app.info.remote {
        (
            "Log in on the server",
            " A real session on the server: log in as (type any name):",
        )
    } else {
        (
            "Simulate a login",
            " Log in as (a random user; type another name if you like):",
        )
    };
    let lines = vec![
        Line::from(question),
        Line::from(vec![
            Span::raw(" > "),
            Span::styled(
                untrusted_end(input, 56),
                if suggested {
                    theme.style(Role::Title).add_modifier(Modifier::REVERSED)
                } else {
                    theme.style(Role::Title)
                },
            ),
            Span::styled("▏", theme.style(Role::Key)),
        ]),
        // A key past the limit does nothing: say why.
        Line::styled(
            if input.chars().count() >= MAX_PROMPT {
                format!(" {MAX_PROMPT} characters at most · Enter log in · Esc cancel")
            } else {
                if suggested {
                    " Enter log in · type to replace · Esc cancel".to_owned()
                } else {
                    " Enter log in · Esc cancel · Ctrl-U clear".to_owned()
                }
            },
            theme.style(Role::Muted),
        ),
    ];
    popup(frame, area, app, title, lines);
}

pub fn confirm(frame: &mut Frame, area: Rect, app: &App, confirm: &Confirm) {
    let theme = &app.theme;
    let (title, question) = match confirm {
        Confirm::Revoke { handle, user } => (
            "Revoke session",
            format!(" Revoke session {handle} of {}?", untrusted(user, 24)),
        ),
        Confirm::RevokeUser { user, sessions } => (
            "Revoke user",
            match sessions {
                1 => format!(" Revoke the only live session of {}?", untrusted(user, 24)),
                n => format!(
                    " Revoke all {} live sessions of {}?",
                    thousands(*n as u64),
                    untrusted(user, 24)
                ),
            },
        ),
        Confirm::Burst { count } => (
            "Log in on the server",
            format!(" Create {count} real sessions of random users on the server?"),
        ),
    };
    let answer = match confirm {
        Confirm::Burst { .. } => " y / Enter: create them · any other key: cancel",
        _ => " y / Enter: revoke · any other key: keep",
    };
    let lines = vec![
        Line::from(question),
        Line::styled(answer, theme.style(Role::Muted)),
    ];
    popup(frame, area, app, title, lines);
}
