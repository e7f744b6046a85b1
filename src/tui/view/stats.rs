//! The stats panel: counters, per-minute rates and sparklines.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use crate::tui::activity::BUCKET_MS;
use crate::tui::app::App;
use crate::tui::text::{duration, thousands};
use crate::tui::theme::{Role, Theme};

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    if area.height < 3 {
        return one_line(frame, area, app);
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Muted))
        .title(Line::from(title(app)));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let a = &app.activity;
    let (logins_per_min, expiries_per_min) = a.per_minute();
    let label = |s: &'static str| Span::styled(s, theme.style(Role::Muted));
    let value = |n: u64| Span::styled(thousands(n), theme.style(Role::Normal));
    let lines = vec![
        Line::from(vec![
            label("active "),
            Span::styled(
                thousands(app.mirror.active() as u64),
                theme.style(Role::Title),
            ),
            label("   peak "),
            value(a.peak),
            label("   logins "),
            value(a.totals.logins),
        ]),
        Line::from(vec![
            label("logins/min "),
            value(logins_per_min as u64),
            label("   expiries/min "),
            value(expiries_per_min as u64),
        ]),
        Line::from(vec![
            label("expired "),
            value(a.expired()),
            label("   logged out "),
            value(a.totals.logged_out),
            label("   revoked "),
            value(a.totals.revoked),
        ]),
    ];
    // The counters keep their room (46 columns, or what a million-login day
    // needs): the charts give way, never a number's digits.
    let widest = lines.iter().map(Line::width).max().unwrap_or(0);
    let [numbers, active, logins, expiries] = Layout::horizontal([
        Constraint::Length(widest.max(46) as u16),
        Constraint::Fill(1),
        Constraint::Fill(1),
        Constraint::Fill(1),
    ])
    .spacing(2)
    .areas(inner);
    frame.render_widget(Paragraph::new(lines), numbers);
    // The three charts span the same whole minutes, as many as the
    // narrowest holds with a column to spare before the border, so the
    // label says exactly what is drawn. The span is named whole or not at
    // all ("(last 2m" reads as broken), as long as the narrowest chart fits
    // it after the longest title.
    let narrowest = [active, logins, expiries]
        .iter()
        .map(|chart| usize::from(chart.width))
        .min()
        .unwrap_or(0);
    let per_minute = (60_000 / BUCKET_MS) as usize;
    let minutes = narrowest.saturating_sub(1) / per_minute;
    let bars = if minutes == 0 {
        narrowest
    } else {
        minutes * per_minute
    };
    let span = [format!(" (last {minutes}m)"), format!(" ({minutes}m)")]
        .into_iter()
        .find(|span| minutes > 0 && "expiries".len() + span.len() <= narrowest)
        .unwrap_or_default();
    spark(
        frame,
        active,
        theme,
        "active",
        &span,
        a.series(bars, |b| b.active),
        Role::Title,
    );
    spark(
        frame,
        logins,
        theme,
        "logins",
        &span,
        a.series(bars, |b| b.logins),
        Role::Good,
    );
    spark(
        frame,
        expiries,
        theme,
        "expiries",
        &span,
        a.series(bars, |b| b.expiries),
        Role::Critical,
    );
}

fn spark(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    span: &str,
    data: Vec<u64>,
    role: Role,
) {
    if area.height < 2 || area.width < 4 {
        return;
    }
    let [title_area, chart] =
        Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(title.to_owned(), theme.style(role)),
            Span::styled(span.to_owned(), theme.style(Role::Muted)),
        ])),
        title_area,
    );
    let chart = Rect {
        width: chart
            .width
            .min(u16::try_from(data.len()).unwrap_or(u16::MAX)),
        ..chart
    };
    frame.render_widget(
        Sparkline::default().data(&data).style(theme.style(role)),
        chart,
    );
}

/// " Activity ", and for a server, the state of the link to it.
fn title(app: &App) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let mut spans = vec![Span::styled(" Activity ", theme.style(Role::Title))];
    if !app.info.remote {
        return spans;
    }
    if let crate::source::ConnectionState::Reconnecting { reason, .. } = &app.connection {
        // The cause stays in view for as long as the link is down.
        let width = usize::from(app.size.0).saturating_sub(40).max(20);
        spans.push(Span::styled(
            format!(
                "○ disconnected: {} ",
                crate::tui::text::untrusted(reason, width)
            ),
            theme.style(Role::Critical),
        ));
        return spans;
    }
    spans.push(Span::styled("● connected", theme.style(Role::Good)));
    let age = match app.last_event_ms {
        Some(at) => format!(
            " · last event {} ago ",
            duration(app.real_ms.saturating_sub(at) as i64)
        ),
        None => " · no event yet ".to_owned(),
    };
    spans.push(Span::styled(age, theme.style(Role::Muted)));
    spans
}

/// The counters on one line, for a short terminal. A counter that does not
/// fit whole is left out, with those after it, rather than cut mid-word.
fn one_line(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let a = &app.activity;
    let label = |s: &'static str| Span::styled(s, theme.style(Role::Muted));
    let value = |n: u64| Span::styled(thousands(n), theme.style(Role::Normal));
    let mut spans = title(app);
    let counters = [
        [
            label(" active "),
            Span::styled(
                thousands(app.mirror.active() as u64),
                theme.style(Role::Title),
            ),
        ],
        [label(" · logins "), value(a.totals.logins)],
        [label(" · expired "), value(a.expired())],
        [label(" · logged out "), value(a.totals.logged_out)],
        [label(" · revoked "), value(a.totals.revoked)],
    ];
    let mut used: usize = spans.iter().map(Span::width).sum();
    for counter in counters {
        let width: usize = counter.iter().map(Span::width).sum();
        if used + width > usize::from(area.width) {
            break;
        }
        used += width;
        spans.extend(counter);
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
