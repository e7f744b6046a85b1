//! The bottom line: key hints from the key table, the filter being typed, or a status message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, Mode};
use crate::tui::keymap::Action;
use crate::tui::text::untrusted;
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut spans = Vec::new();
    if app.mode == Mode::Filter {
        spans.push(Span::styled(" / ", theme.style(Role::Key)));
        spans.push(Span::raw(untrusted(app.mirror.filter(), 40)));
        spans.push(Span::styled("▏", theme.style(Role::Key)));
        spans.push(Span::styled(
            "   Enter keep · Esc clear · ↑↓ select",
            theme.style(Role::Muted),
        ));
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    if let Some(status) = &app.status {
        let role = if status.error {
            Role::Critical
        } else {
            Role::Accent
        };
        spans.push(Span::styled(
            format!(" {} ", untrusted(&status.text, 60)),
            theme.style(role),
        ));
        spans.push(Span::styled("│", theme.style(Role::Muted)));
    }
    for (action, key, hint) in app.keymap.hints() {
        // Keys that only say "not available" here are not advertised.
        let lesson = app.lesson.is_some();
        let available = match action {
            Action::Faster | Action::Slower => app.info.clock_control,
            Action::Simulator => app.info.simulator,
            Action::Step | Action::AutoPause => lesson,
            // A lesson's footer keeps to the lesson's keys.
            Action::Login | Action::Revoke | Action::Filter => !lesson,
            _ => true,
        };
        if !available {
            continue;
        }
        spans.push(Span::styled(format!(" {key}"), theme.style(Role::Key)));
        spans.push(Span::styled(format!(" {hint} "), theme.style(Role::Muted)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
