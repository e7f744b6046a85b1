//! The top line: mode, policy, clock (speed, PAUSED, FROZEN) and simulator.
//!
//! Every time on screen is read in the policy's time zone, so the header
//! names that zone beside its clock, whether or not a closing time is set.

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
    // What must show (the policy with its closing time, the clock and its
    // zone, the badges) gets room first: the title goes, then "closing off",
    // then the words "server time" before the server's clock, and last the
    // mode (a server's URL) is shortened to what is left.
    let mut spans = line(app, area, 0, usize::MAX);
    for leave_out in 1..=3 {
        if fits(&spans) {
            break;
        }
        spans = line(app, area, leave_out, usize::MAX);
    }
    if !fits(&spans) {
        let used: usize = spans.iter().map(Span::width).sum();
        let over = used - usize::from(area.width);
        let mode_width = Span::raw(mode(app, usize::MAX)).width();
        spans = line(app, area, 3, mode_width.saturating_sub(over).max(MIN_MODE));
    }
    if !fits(&spans) {
        // The node still tells which server answers.
        spans = line(app, area, 3, 0);
    }
    let theme = &app.theme;
    // Real time beside a clock of its own speed, where there is room for it.
    let used: usize = spans.iter().map(Span::width).sum();
    if app.info.clock_control && area.width >= 110 && used + 16 <= usize::from(area.width) {
        spans.push(Span::styled(" │ ", theme.style(Role::Muted)));
        spans.push(Span::styled("real ", theme.style(Role::Muted)));
        spans.push(Span::raw(time_of_day(
            app.wall_start + app.real_ms as i64,
            &app.zone(),
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The fewest columns the mode is cut to ("127.0…").
const MIN_MODE: usize = 6;

/// The mode ("embedded", a server's URL and version) in at most `max`
/// columns (40 at most). A URL that must be cut loses its scheme first: the
/// address says more.
fn mode(app: &App, max: usize) -> String {
    if app.lesson.is_some() {
        return "lesson".to_owned();
    }
    let mode = app.info.mode.as_str();
    let shown = match (app.info.remote, max < 40) {
        (true, true) => ["http://", "https://"]
            .iter()
            .find_map(|scheme| mode.strip_prefix(scheme))
            .unwrap_or(mode),
        _ => mode,
    };
    untrusted(shown, max.min(40))
}

/// The header's spans, leaving out the first `leave_out` of: the title,
/// "closing off", the label of the server's clock; the mode is cut to
/// `mode_max` columns, or left out at 0.
fn line(app: &App, area: Rect, leave_out: u8, mode_max: usize) -> Vec<Span<'static>> {
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
    // In the zone the clock names, further along the line.
    let closing = match (app.closing_at, policy.closing_time) {
        (Some(at), _) => closing_label(at, &app.zone()),
        (None, Some(c)) => c.to_string(),
        (None, None) => "off".to_owned(),
    };
    let wide = area.width >= 100;
    let (title, closing_off, clock_label) = (wide && leave_out < 1, leave_out < 2, leave_out < 3);
    let mut spans = Vec::new();
    if title {
        spans.push(Span::styled(" sessiontop ", theme.style(Role::Title)));
        spans.push(sep());
    } else {
        spans.push(Span::raw(" "));
    }
    if mode_max > 0 {
        spans.push(Span::raw(mode(app, mode_max)));
        spans.push(Span::raw(" "));
    }
    // Which node of the server: a reconnect may land on another.
    if !app.info.node.is_empty() && app.lesson.is_none() {
        spans.push(Span::styled("node ", theme.style(Role::Muted)));
        spans.push(Span::raw(untrusted(&app.info.node, 16)));
        spans.push(Span::raw(" "));
    }
    let limit = policy.max_sessions_per_user;
    spans.pop_if(|last| last.content == " ");
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
            time_of_day(clock.now, &app.zone()),
            theme.style(Role::Title),
        ));
        spans.push(zone(app));
        spans.push(Span::raw(format!(" ×{}", speed_label(clock.speed))));
    } else {
        // A server's clock runs in real time; what matters is that it is the server's.
        if clock_label {
            spans.push(Span::styled("server time ", theme.style(Role::Muted)));
        }
        spans.push(Span::styled(
            time_of_day(clock.now, &app.zone()),
            theme.style(Role::Title),
        ));
        spans.push(zone(app));
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

/// " Asia/Tokyo": the policy's zone, which the clock, the closing time and
/// every other time on screen are read in.
fn zone(app: &App) -> Span<'static> {
    Span::styled(
        format!(" {}", app.zone().name()),
        app.theme.style(Role::Muted),
    )
}
