//! The detail view (Enter): every field of one session and its own events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use super::events::{kind_role, reason};
use crate::tui::app::{App, Detail};
use crate::tui::text::{countdown, date_time, duration, time_of_day, untrusted};
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, detail: &Detail) {
    let theme = &app.theme;
    let popup = centered(
        area,
        area.width.saturating_sub(8).min(110),
        area.height.saturating_sub(4),
    );
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Title))
        .title(Span::styled(
            format!(" Session {} (Esc to close) ", detail.handle),
            theme.style(Role::Title),
        ));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);

    let now = app.shown_clock().now;
    let row = app.mirror.get(detail.handle);
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!(" {name:<18}"), theme.style(Role::Muted)),
            Span::raw(value),
        ])
    };
    let mut lines = Vec::new();
    match row {
        Some(row) => {
            let s = &row.session;
            let state = match row.ended {
                Some((ending, at)) => {
                    format!(
                        "ended: {} at {}",
                        ending.label(),
                        date_time(at, &app.zone())
                    )
                }
                None => "active".to_owned(),
            };
            lines.push(field("user", untrusted(&s.user, 80)));
            lines.push(field("user's sessions", user_sessions(app, detail)));
            lines.push(field("state", state));
            lines.push(field("created", date_time(s.created_at, &app.zone())));
            lines.push(field("last seen", date_time(s.last_seen_at, &app.zone())));
            lines.push(field(
                "idle deadline",
                format!(
                    "{}  (in {}, timeout {})",
                    date_time(s.idle_expires_at, &app.zone()),
                    countdown(s.idle_expires_at - now),
                    duration(s.idle_timeout_ms)
                ),
            ));
            lines.push(field(
                "absolute deadline",
                format!(
                    "{}  (in {}, limit {})",
                    date_time(s.absolute_expires_at, &app.zone()),
                    countdown(s.absolute_expires_at - now),
                    duration(s.absolute_expires_at - s.created_at)
                ),
            ));
            lines.push(field("ends at", date_time(s.expires_at, &app.zone())));
            if s.attributes.is_empty() {
                lines.push(field("attributes", "none".to_owned()));
            }
            for (key, value) in s.attributes.iter() {
                lines.push(field(&untrusted(key, 16), untrusted(value, 90)));
            }
        }
        None => lines.push(Line::styled(
            " This session is no longer on screen.",
            theme.style(Role::Muted),
        )),
    }
    let fields = lines.len() as u16;
    let [top, bottom] =
        Layout::vertical([Constraint::Length(fields + 1), Constraint::Fill(1)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), top);

    let mut history = vec![Line::styled(
        if detail.loading {
            " Events (loading…)"
        } else {
            " Events, newest first"
        },
        theme.style(Role::Title),
    )];
    history.extend(detail.events.iter().rev().map(|e| {
        Line::from(vec![
            Span::styled(
                format!(" {} ", time_of_day(e.at, &app.zone())),
                theme.style(Role::Muted),
            ),
            Span::styled(
                format!("{:<11}", e.kind.as_str().replace('_', " ")),
                theme.style(kind_role(e.kind)),
            ),
            Span::raw(reason(app, e)),
        ])
    }));
    if !detail.loading && detail.events.is_empty() {
        history.push(Line::styled(" none held", theme.style(Role::Muted)));
    }
    frame.render_widget(Paragraph::new(history), bottom);
}

/// "alice has 3 live sessions (limit 3)": the user's sessions the dashboard
/// holds, beside the policy's per-user limit when there is one.
pub fn user_sessions(app: &App, detail: &Detail) -> String {
    let n = detail.user_live;
    let mut text = format!(
        "{} has {n} live session{}",
        untrusted(&detail.user, 40),
        if n == 1 { "" } else { "s" }
    );
    if let Some(limit) = app.info.policy.max_sessions_per_user {
        text.push_str(&format!(" (limit {limit})"));
    }
    text
}
