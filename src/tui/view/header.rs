//! The top line: mode, policy, clock (speed, PAUSED, FROZEN) and simulator.
//!
//! Every time on screen is read in the policy's time zone, so the header
//! names that zone beside its clock, whether or not a closing time is set.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use std::collections::BTreeSet;

use chrono::TimeZone;

use crate::engine::Millis;
use crate::tui::app::{App, speed_label};
use crate::tui::caption::closing_label;
use crate::tui::text::{duration, time_of_day, untrusted};
use crate::tui::theme::Role;

/// What the header says of one timeout: the value every live session on
/// screen has, or "per session" with the range when they differ (just the
/// range on a narrow screen), or the policy's when no live session is on
/// screen.
fn timeout_label(values: &BTreeSet<i64>, policy_ms: i64, room: bool) -> String {
    match (values.first(), values.last()) {
        (Some(a), Some(b)) if a == b => duration(*a),
        (Some(a), Some(b)) if room => format!("per session ({}–{})", duration(*a), duration(*b)),
        // Shorter than "per session", and says more.
        (Some(a), Some(b)) => format!("{}–{}", duration(*a), duration(*b)),
        _ => duration(policy_ms),
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let width = usize::from(area.width);
    let used = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>();
    let timeouts = Timeouts::on_screen(app);
    let line = |leave_out, mode_max| line(app, area, &timeouts, leave_out, mode_max);
    // The line with the mode shortened to what is left, if any of it fits.
    let shortened_mode = |leave_out: u8| {
        let full = line(leave_out, usize::MAX);
        let over = used(&full).saturating_sub(width);
        let mode_width = Span::raw(mode(app, usize::MAX)).width();
        let room = mode_width.saturating_sub(over);
        (!mode(app, room).is_empty()).then(|| line(leave_out, room))
    };
    // What must show (the policy with its closing time, the clock and its
    // zone, the badges) gets room first: the title goes, then "closing off",
    // then the words "server time" before the server's clock and "per
    // session" before a range of timeouts, then the mode
    // (a server's URL) is shortened, then the zone's name gives way to its
    // abbreviation, then the mode is left out (the node still says which
    // server answers), then the word "clock" before the embedded clock, the
    // simulator's state (the footer still offers its key), the words after
    // FROZEN, and last "absolute" is written "abs".
    let attempts = (0..=3)
        .map(|leave_out| line(leave_out, usize::MAX))
        .chain([3, 4].into_iter().filter_map(shortened_mode))
        .chain((4..=LEAVE_OUT_ALL).map(|leave_out| line(leave_out, 0)));
    let mut spans = Vec::new();
    for attempt in attempts {
        spans = attempt;
        if used(&spans) <= width {
            break;
        }
    }
    let theme = &app.theme;
    // Real time beside a clock of its own speed, where there is room for it.
    if app.info.clock_control && area.width >= 110 && used(&spans) + 16 <= width {
        spans.push(Span::styled(" │ ", theme.style(Role::Muted)));
        spans.push(Span::styled("real ", theme.style(Role::Muted)));
        spans.push(Span::raw(time_of_day(
            app.wall_start + app.real_ms as i64,
            &app.zone(),
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// How many of the header's parts `line` can leave out.
const LEAVE_OUT_ALL: u8 = 8;

/// The mode ("embedded", a server's URL and version) in at most `max`
/// columns (40 at most). A server's mode gives way part by part: its
/// scheme, then its version, then all of it (the node still says which
/// server answers); an address is never cut, as "127.0.0.1:1793…" reads as
/// another port. A word ("embedded", "lesson") is whole or left out.
fn mode(app: &App, max: usize) -> String {
    let word = if app.lesson.is_some() {
        Some("lesson")
    } else {
        (!app.info.remote).then_some(app.info.mode.as_str())
    };
    if let Some(word) = word {
        return if word.len() <= max {
            word.to_owned()
        } else {
            String::new()
        };
    }
    let mode = app.info.mode.as_str();
    let bare = ["http://", "https://"]
        .iter()
        .find_map(|scheme| mode.strip_prefix(scheme))
        .unwrap_or(mode);
    let address = bare
        .split_once(" (")
        .map_or(bare, |(address, _)| address)
        .trim_end_matches('/');
    let room = max.min(40);
    let fits = |text: &str| Line::raw(text).width() <= room;
    match [mode, bare, address]
        .into_iter()
        .find(|choice| fits(choice))
    {
        Some(choice) => untrusted(choice, room),
        // A host name longer than the header allows: its start, marked cut.
        None if max >= 40 => untrusted(address, room),
        None => String::new(),
    }
}

/// The idle and absolute timeouts of the live sessions on screen.
struct Timeouts {
    idle: BTreeSet<i64>,
    absolute: BTreeSet<i64>,
}

impl Timeouts {
    fn on_screen(app: &App) -> Timeouts {
        let (mut idle, mut absolute) = (BTreeSet::new(), BTreeSet::new());
        for position in app.mirror.walk(app.top.as_ref()).take(app.table_height()) {
            if let Some(row) = app.mirror.get(position.1)
                && row.ended.is_none()
            {
                idle.insert(row.session.idle_timeout_ms);
                absolute.insert(row.session.absolute_expires_at - row.session.created_at);
            }
        }
        Timeouts { idle, absolute }
    }
}

/// The header's spans, leaving out the first `leave_out` of: the title,
/// "closing off", the label of the server's clock, the zone's full name,
/// the label of the embedded clock, the simulator's state, the words after
/// FROZEN, and (last) "absolute" gives way to "abs"; the mode is shortened
/// to `mode_max` columns, or left out at 0.
fn line(
    app: &App,
    area: Rect,
    timeouts: &Timeouts,
    leave_out: u8,
    mode_max: usize,
) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let policy = &app.info.policy;
    let clock = app.shown_clock();
    let sep = || Span::styled(" │ ", theme.style(Role::Muted));
    // In the zone the clock names, further along the line.
    let closing = match (app.closing_at, policy.closing_time) {
        (Some(at), _) => closing_label(at, &app.zone()),
        (None, Some(c)) => c.to_string(),
        (None, None) => "off".to_owned(),
    };
    let wide = area.width >= 100;
    let (title, closing_off, clock_label) = (wide && leave_out < 1, leave_out < 2, leave_out < 3);
    // "per session" goes with the clock's label, before anything is cut.
    let per_session = wide && clock_label;
    let zone_name = leave_out < 4;
    let (embedded_clock_label, simulator) = (leave_out < 5, leave_out < 6);
    let (frozen_words, short_labels) = (leave_out < 7, leave_out >= 8);
    let mut spans = Vec::new();
    if title {
        spans.push(Span::styled(" sessiontop ", theme.style(Role::Title)));
        spans.push(sep());
    } else {
        spans.push(Span::raw(" "));
    }
    let mode = mode(app, mode_max);
    if !mode.is_empty() {
        spans.push(Span::raw(mode));
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
    // Nothing before the policy: no separator in front of it.
    match spans.last() {
        None => spans.push(Span::raw(" ")),
        Some(last) if last.content != sep().content => spans.push(sep()),
        Some(_) => {}
    }
    spans.extend([
        Span::styled("idle ", theme.style(Role::Muted)),
        Span::raw(timeout_label(
            &timeouts.idle,
            policy.idle_timeout.as_millis() as i64,
            per_session,
        )),
        Span::styled(
            if short_labels {
                "  abs "
            } else {
                "  absolute "
            },
            theme.style(Role::Muted),
        ),
        Span::raw(timeout_label(
            &timeouts.absolute,
            policy.absolute_timeout.as_millis() as i64,
            per_session,
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
        if embedded_clock_label {
            spans.push(Span::styled("clock ", theme.style(Role::Muted)));
        }
        spans.push(Span::styled(
            time_of_day(clock.now, &app.zone()),
            theme.style(Role::Title),
        ));
        spans.push(zone(app, clock.now, zone_name));
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
        spans.push(zone(app, clock.now, zone_name));
    }
    if clock.paused {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(" PAUSED ", theme.style(Role::Badge)));
    }
    if app.frozen.is_some() {
        spans.push(Span::raw(" "));
        // While the link is down the RECONNECTING badge says the rest.
        spans.push(Span::styled(
            match app.events_waiting() {
                _ if !frozen_words || app.is_stale() => " FROZEN ".to_owned(),
                0 => " FROZEN: the server runs on ".to_owned(),
                1 => " FROZEN: 1 event waiting ".to_owned(),
                n => format!(" FROZEN: {n} events waiting "),
            },
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
    if app.info.simulator && simulator {
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

/// " Asia/Tokyo", or " JST" where there is no room for the name: the
/// policy's zone, which the clock, the closing time and every other time on
/// screen are read in.
fn zone(app: &App, now: Millis, name: bool) -> Span<'static> {
    let zone = app.zone();
    let shown = match zone.timestamp_millis_opt(now).single() {
        Some(t) if !name => t.format("%Z").to_string(),
        _ => zone.name().to_owned(),
    };
    Span::styled(format!(" {shown}"), app.theme.style(Role::Muted))
}
