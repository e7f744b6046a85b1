//! The sessions table: only the rows on screen are built, each frame.
//!
//! Countdowns are computed here from each session's deadlines and the clock
//! reading, so they move without any event.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::engine::SessionView;
use crate::tui::app::App;
use crate::tui::mirror::{Row as MirrorRow, SortColumn};
use crate::tui::text::{ago, bar, countdown, thousands, time_of_day, untrusted};
use crate::tui::theme::Role;

const GAUGE: usize = 8;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let (sort, reverse) = app.mirror.sort();
    let filter = app.mirror.filter();
    let mut title = vec![
        Span::styled(" Sessions ", theme.style(Role::Title)),
        Span::styled(
            format!(
                "{} shown · sorted by {} {} ",
                thousands(app.mirror.shown() as u64),
                sort.title().to_lowercase(),
                if reverse { "↓" } else { "↑" }
            ),
            theme.style(Role::Muted),
        ),
    ];
    if !filter.is_empty() {
        title.push(Span::styled(
            format!("· filter \"{}\" ", untrusted(filter, 30)),
            theme.style(Role::Warn),
        ));
    }
    if app.is_stale() {
        title.push(Span::styled(
            " STALE: disconnected, counting down from the last known deadlines ",
            theme.style(Role::Badge),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Muted))
        .title(Line::from(title));

    let clock = app.shown_clock();
    let height = area.height.saturating_sub(3) as usize;
    let selected = app.selected.as_ref();
    let rows: Vec<Row> = app
        .mirror
        .walk(app.top.as_ref())
        .take(height)
        .filter_map(|position| {
            let row = app.mirror.get(position.1)?;
            let mut built = build_row(app, row, clock.now);
            if Some(position) == selected {
                built = built.style(theme.style(Role::Selected));
            }
            Some(built)
        })
        .collect();

    let header = Row::new(SortColumn::ALL.iter().map(|column| {
        let mut text = column.title().to_owned();
        if *column == sort {
            text.push_str(if reverse { " ↓" } else { " ↑" });
            Cell::from(text).style(theme.style(Role::Key))
        } else {
            Cell::from(text).style(theme.style(Role::Muted))
        }
    }));
    let widths = [
        Constraint::Length(16),
        Constraint::Length(14),
        Constraint::Fill(1),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(GAUGE as u16 + 8),
        Constraint::Length(9),
        Constraint::Length(14),
    ];
    let empty = rows.is_empty();
    frame.render_widget(Table::new(rows, widths).header(header).block(block), area);
    if empty {
        let text = if filter.is_empty() {
            "No live sessions. Press n to simulate a login, or S to start the simulator."
        } else {
            "No session matches the filter. Esc clears it."
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(Line::styled(text, theme.style(Role::Muted)), inner);
    }
}

/// Origin: "ip · user agent", escaped.
fn origin(session: &SessionView) -> String {
    match (session.attribute("ip"), session.attribute("user_agent")) {
        (Some(ip), Some(agent)) => untrusted(&format!("{ip} · {agent}"), 48),
        (Some(ip), None) => untrusted(ip, 48),
        (None, Some(agent)) => untrusted(agent, 48),
        (None, None) => String::new(),
    }
}

fn build_row<'a>(app: &App, row: &MirrorRow, now: i64) -> Row<'a> {
    let theme = &app.theme;
    let s = &row.session;
    let handle = Cell::from(s.handle.to_string());
    let user = Cell::from(untrusted(&s.user, 14));
    let origin = Cell::from(origin(s));
    let started = Cell::from(time_of_day(s.created_at, &app.tz));
    let last_seen = Cell::from(ago(now - s.last_seen_at));
    if let Some((ending, _)) = row.ended {
        let style = theme.style(Role::Ended);
        let state_role = if matches!(ending, crate::tui::mirror::Ending::LoggedOut) {
            Role::Muted
        } else {
            Role::Critical
        };
        return Row::new(vec![
            handle.style(style),
            user.style(style),
            origin.style(style),
            started.style(style),
            last_seen.style(style),
            Cell::from("—"),
            Cell::from("—"),
            Cell::from(format!("✕ {}", ending.label())).style(theme.style(state_role)),
        ]);
    }
    let idle_left = s.idle_expires_at - now;
    let idle_ratio = idle_left as f64 / s.idle_timeout_ms.max(1) as f64;
    let idle_style = countdown_style(app, idle_ratio);
    let idle = Line::from(vec![
        Span::styled(bar(idle_ratio, GAUGE), idle_style),
        Span::styled(format!(" {}", countdown(idle_left)), idle_style),
    ]);
    // The hard end: the absolute limit, or the closing time when that comes
    // first (then it is the session's end unless idleness ends it sooner).
    let hard_end = if s.expires_at < s.idle_expires_at {
        s.expires_at
    } else {
        s.absolute_expires_at
    };
    let absolute_left = hard_end - now;
    let absolute_ratio =
        absolute_left as f64 / (s.absolute_expires_at - s.created_at).max(1) as f64;
    let absolute = Cell::from(countdown(absolute_left)).style(countdown_style(app, absolute_ratio));
    Row::new(vec![
        handle,
        user,
        origin,
        started,
        last_seen,
        Cell::from(idle),
        absolute,
        Cell::from("● active").style(theme.style(Role::Good)),
    ])
}

fn countdown_style(app: &App, ratio: f64) -> Style {
    let s = &app.settings;
    let role = if app.is_stale() {
        Role::Muted
    } else if ratio < s.critical_below {
        Role::Critical
    } else if ratio < s.warn_below {
        Role::Warn
    } else {
        Role::Good
    };
    app.theme.style(role)
}
