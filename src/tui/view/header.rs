//! The top line: mode, policy, clock (speed, PAUSED, FROZEN) and simulator.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use std::collections::BTreeSet;

use crate::tui::app::{App, speed_label};
use crate::tui::caption::closing_label;
use crate::tui::text::{duration, time_of_day, untrusted};
use crate::tui::theme::Role;

/// What the header says of one timeout: the value every live session on
/// screen has, or "per session" with the range when they differ, or the
/// policy's when no live session is on screen.
fn timeout_label(values: &BTreeSet<i64>, policy_ms: i64, room: bool) -> String {
    match (values.first(), values.last()) {
        (Some(a), Some(b)) if a == b => duration(*a),
        (Some(a), Some(b)) if room => format!("per session ({}–{})", duration(*a), duration(*b)),
        (Some(_), Some(_)) => "per session".to_owned(),
        _ => duration(policy_ms),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let fits = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>() <= area.width.into();
    // What must show (the server and its node, the policy, the clock, the
    // badges) gets room first: the title goes, then "closing off", then the
    // words "server time" before the server's clock.
    let mut spans = line(app, area, 0);
    for leave_out in 1..=3 {
        if fits(&spans) {
            break;
        }
        spans = line(app, area, leave_out);
    }
    let theme = &app.theme;
    // Real time beside a clock of its own speed, where there is room for it.
    let used: usize = spans.iter().map(Span::width).sum();
    if app.info.clock_control && area.width >= 110 && used + 16 <= usize::from(area.width) {
        spans.push(Span::styled(" │ ", theme.style(Role::Muted)));
        spans.push(Span::styled("real ", theme.style(Role::Muted)));
        spans.push(Span::raw(time_of_day(
            app.wall_start + app.real_ms as i64,
            &app.tz,
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The header's spans, leaving out the first `leave_out` of: the title,
/// "closing off", the label of the server's clock.
fn line(app: &App, area: Rect, leave_out: u8) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let policy = &app.info.policy;
    let clock = app.shown_clock();
    let sep = || Span::styled(" │ ", theme.style(Role::Muted));
    let (mut idle, mut absolute) = (BTreeSet::new(), BTreeSet::new());
    for position in app.mirror.walk(app.top.as_ref()).take(app.table_height()) {
        if let Some(row) = app.mirror.get(position.1)
            && row.ended.is_none()
        {
            idle.insert(row.session.idle_timeout_ms);
            absolute.insert(row.session.absolute_expires_at - row.session.created_at);
        }
    }
    // The zone the closing time is read in, beside it.
    let closing = match (app.closing_at, policy.closing_time) {
        (Some(at), _) => closing_label(at, &app.tz),
        (None, Some(c)) => format!("{c} {}", policy.time_zone.name()),
        (None, None) => "off".to_owned(),
    };
    let wide = area.width >= 100;
    let (title, closing_off, clock_label) = (wide && leave_out < 1, leave_out < 2, leave_out < 3);
    let mode = if app.lesson.is_some() {
        "lesson".to_owned()
    } else {
        untrusted(&app.info.mode, 40)
    };
    let mut spans = Vec::new();
    if title {
        spans.push(Span::styled(" sessiontop ", theme.style(Role::Title)));
        spans.push(sep());
    } else {
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(mode));
    // Which node of the server: a reconnect may land on another.
    if !app.info.node.is_empty() && app.lesson.is_none() {
        spans.push(Span::styled(" node ", theme.style(Role::Muted)));
        spans.push(Span::raw(untrusted(&app.info.node, 16)));
    }
    let limit = policy.max_sessions_per_user;
    spans.extend([
        sep(),
        Span::styled("idle ", theme.style(Role::Muted)),
        Span::raw(timeout_label(
            &idle,
            policy.idle_timeout.as_millis() as i64,
            wide,
        )),
        Span::styled("  absolute ", theme.style(Role::Muted)),
        Span::raw(timeout_label(
            &absolute,
            policy.absolute_timeout.as_millis() as i64,
            wide,
        )),
    ]);
    // A narrow header leaves out "closing off" to make room for the limit.
    if closing != "off" || (closing_off && (wide || limit.is_none())) {
        spans.push(Span::styled("  closing ", theme.style(Role::Muted)));
        spans.push(Span::raw(closing));
    }
    if let Some(limit) = limit {
        spans.push(Span::styled("  max ", theme.style(Role::Muted)));
        spans.push(Span::raw(format!("{limit}/user")));
    }
    spans.push(sep());
    if app.info.clock_control {
        spans.push(Span::styled("clock ", theme.style(Role::Muted)));
        spans.push(Span::styled(
            time_of_day(clock.now, &app.tz),
            theme.style(Role::Title),
        ));
        spans.push(Span::raw(format!(" ×{}", speed_label(clock.speed))));
    } else {
        // A server's clock runs in real time; what matters is that it is the server's.
        if clock_label {
            spans.push(Span::styled("server time ", theme.style(Role::Muted)));
        }
        spans.push(Span::styled(
            time_of_day(clock.now, &app.tz),
            theme.style(Role::Title),
        ));
    }
    if clock.paused {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" PAUSED ", theme.style(Role::Badge)));
    }
    if app.frozen.is_some() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            " FROZEN: the server runs on ",
            theme.style(Role::Badge),
        ));
    }
    if let Some(seconds) = app.reconnect_in_s() {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(
            format!(" RECONNECTING in {seconds}s "),
            theme.style(Role::Badge),
        ));
    }
    if app.info.simulator {
        spans.push(sep());
        spans.push(Span::styled("sim ", theme.style(Role::Muted)));
        spans.push(if app.simulator_on {
            Span::styled("on", theme.style(Role::Good))
        } else {
            Span::styled("off", theme.style(Role::Warn))
        });
    }
    spans
}
