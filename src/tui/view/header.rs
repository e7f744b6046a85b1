//! The top line: mode, policy, clock (speed, PAUSED, FROZEN) and simulator.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, speed_label};
use crate::tui::text::{duration, time_of_day, untrusted};
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let policy = &app.info.policy;
    let clock = app.shown_clock();
    let sep = || Span::styled(" │ ", theme.style(Role::Muted));
    // The zone the closing time is read in, beside it.
    let closing = policy.closing_time.map_or("off".to_owned(), |c| {
        format!("{c} {}", policy.time_zone.name())
    });
    let mut spans = vec![
        Span::styled(" sessiontop ", theme.style(Role::Title)),
        sep(),
        Span::raw(untrusted(&app.info.mode, 40)),
        sep(),
        Span::styled("idle ", theme.style(Role::Muted)),
        Span::raw(duration(policy.idle_timeout.as_millis() as i64)),
        Span::styled("  absolute ", theme.style(Role::Muted)),
        Span::raw(duration(policy.absolute_timeout.as_millis() as i64)),
        Span::styled("  closing ", theme.style(Role::Muted)),
        Span::raw(closing),
        sep(),
    ];
    if app.info.clock_control {
        spans.push(Span::styled("clock ", theme.style(Role::Muted)));
        spans.push(Span::styled(
            time_of_day(clock.now, &app.tz),
            theme.style(Role::Title),
        ));
        spans.push(Span::raw(format!(" ×{}", speed_label(clock.speed))));
    } else {
        // A server's clock runs in real time; what matters is that it is the server's.
        spans.push(Span::styled("server time ", theme.style(Role::Muted)));
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
        spans.push(Span::styled(" FROZEN ", theme.style(Role::Badge)));
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
    // Real time beside a clock of its own speed, where there is room for it.
    if app.info.clock_control && area.width >= 110 {
        spans.push(sep());
        spans.push(Span::styled("real ", theme.style(Role::Muted)));
        spans.push(Span::raw(time_of_day(
            app.wall_start + app.real_ms as i64,
            &app.tz,
        )));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
