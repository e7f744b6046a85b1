//! The detail view (Enter): every field of one session and its own events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::centered;
use super::events::{kind_role, with_reason};
use crate::engine::Millis;
use crate::tui::app::{App, Detail};
use crate::tui::text::{countdown, date_time, duration, time_of_day, untrusted};
use crate::tui::theme::Role;

/// The column of field names.
const NAME_WIDTH: usize = 18;

pub fn draw(frame: &mut Frame, area: Rect, app: &App, detail: &Detail) {
    let theme = &app.theme;
    let popup = centered(
        area,
        area.width.saturating_sub(8).min(110),
        area.height.saturating_sub(4),
    );
    super::clear_for_popup(frame, popup);
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
    // What a value may take: the inner width less the name's column, and a
    // space before the border.
    let room = usize::from(inner.width).saturating_sub(NAME_WIDTH + 2);
    let field = |name: &str, value: String| {
        Line::from(vec![
            Span::styled(format!(" {name:<NAME_WIDTH$}"), theme.style(Role::Muted)),
            Span::raw(value),
        ])
    };
    // The first of `choices` (longest first) that fits whole, else the last cut.
    let fitted = |choices: &[String]| {
        choices
            .iter()
            .find(|c| Line::raw(c.as_str()).width() <= room)
            .cloned()
            .unwrap_or_else(|| untrusted(&choices[choices.len() - 1], room))
    };
    let mut lines = Vec::new();
    match row {
        Some(row) => {
            let s = &row.session;
            let zone = app.zone();
            let ended = row.ended.is_some();
            // The day goes first where the line is short of room.
            let state = match row.ended {
                Some((ending, at)) => fitted(&[
                    format!("ended: {} at {}", ending.label(), date_time(at, &zone)),
                    format!("ended: {} at {}", ending.label(), time_of_day(at, &zone)),
                    format!("ended: {}", ending.label()),
                ]),
                None => "active".to_owned(),
            };
            // A deadline, with how long is left while the session is live.
            let deadline = |at: Millis, what: &str, span: i64| {
                let when = date_time(at, &zone);
                let mut choices = Vec::new();
                if !ended {
                    choices.push(format!(
                        "{when}  (in {}, {what} {})",
                        countdown(at - now),
                        duration(span)
                    ));
                    choices.push(format!("{when}  (in {})", countdown(at - now)));
                } else {
                    choices.push(format!("{when}  ({what} {})", duration(span)));
                }
                choices.push(when);
                fitted(&choices)
            };
            lines.push(field("user", untrusted(&s.user, room)));
            lines.push(field(
                "user's sessions",
                fitted(&[user_sessions(app, detail)]),
            ));
            lines.push(field("state", state));
            lines.push(field("created", date_time(s.created_at, &zone)));
            lines.push(field("last seen", date_time(s.last_seen_at, &zone)));
            lines.push(field(
                "idle deadline",
                deadline(s.idle_expires_at, "timeout", s.idle_timeout_ms),
            ));
            lines.push(field(
                "absolute deadline",
                deadline(
                    s.absolute_expires_at,
                    "limit",
                    s.absolute_expires_at - s.created_at,
                ),
            ));
            if !ended {
                // The closing time ends the session first if it comes before
                // its absolute limit, whether or not idleness ends it sooner.
                let closing = app.closing_of(s, now);
                if let Some(at) = closing {
                    let when = date_time(at, &zone);
                    lines.push(field(
                        "closing time",
                        fitted(&[format!("{when}  (in {})", countdown(at - now)), when]),
                    ));
                }
                let ends_at = closing.map_or(s.expires_at, |at| at.min(s.expires_at));
                lines.push(field("ends at", date_time(ends_at, &zone)));
            }
            if s.attributes.is_empty() {
                lines.push(field("attributes", "none".to_owned()));
            }
            for (key, value) in s.attributes.iter() {
                lines.push(field(
                    &untrusted(key, NAME_WIDTH - 2),
                    untrusted(value, room),
                ));
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
        let spans = vec![
            Span::styled(
                format!(" {} ", time_of_day(e.at, &app.zone())),
                theme.style(Role::Muted),
            ),
            Span::styled(
                format!("{:<11}", e.kind.as_str().replace('_', " ")),
                theme.style(kind_role(e.kind)),
            ),
        ];
        with_reason(app, e, spans, usize::from(bottom.width))
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
