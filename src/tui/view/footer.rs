//! The bottom line: key hints from the key table, the filter being typed, or a status message.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::app::{App, MAX_PROMPT, Mode};
use crate::tui::keymap::Action;
use crate::tui::text::{untrusted, untrusted_end};
use crate::tui::theme::Role;

/// The fewest columns of status text worth showing.
const MIN_STATUS: usize = 12;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut spans = Vec::new();
    if app.mode == Mode::Filter {
        // What is typed shows its end; the keys' help goes first when it
        // would leave the filter too little room.
        // A key past the limit does nothing: say why.
        let help_text = if app.mirror.filter().chars().count() >= MAX_PROMPT {
            format!("   {MAX_PROMPT} characters at most · Enter keep · Esc clear")
        } else {
            "   Enter keep · Esc clear · ↑↓ select".to_owned()
        };
        let room = usize::from(area.width).saturating_sub(4);
        let help = Line::raw(help_text.as_str()).width();
        let with_help = room.saturating_sub(help) >= MIN_STATUS;
        let typed_room = if with_help { room - help } else { room };
        spans.push(Span::styled(" / ", theme.style(Role::Key)));
        spans.push(Span::raw(untrusted_end(app.mirror.filter(), typed_room)));
        spans.push(Span::styled("▏", theme.style(Role::Key)));
        if with_help {
            spans.push(Span::styled(help_text, theme.style(Role::Muted)));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), area);
        return;
    }
    let lesson = app.lesson.is_some();
    let finished = app.lesson_finished();
    let stopped = app.shown_clock().paused || app.frozen.is_some();
    let hints: Vec<(Action, String, &str)> = app
        .keymap
        .hints()
        .into_iter()
        .filter(|(action, _, _)| match action {
            // Keys that only say "not available" here are not advertised.
            Action::Faster | Action::Slower => app.info.clock_control && !finished,
            Action::Simulator => app.info.simulator,
            // A finished lesson has no step left and its clock stays
            // stopped: r replays it.
            Action::Step | Action::AutoPause => lesson && !finished,
            Action::Pause => !finished,
            // Enter closes open details; the hint offers them when closed.
            Action::Detail => app.detail.is_none(),
            // A lesson's footer keeps to the lesson's keys.
            Action::Login | Action::Revoke | Action::Filter => !lesson,
            _ => true,
        })
        // Space says what it does now: a paused clock or frozen view goes on.
        .map(|(action, key, hint)| {
            (
                action,
                key,
                if action == Action::Pause && stopped && !app.info.clock_control {
                    // A frozen view of a server, as the status says.
                    "go live"
                } else if action == Action::Pause && stopped {
                    "go on"
                } else if action == Action::Pause && !app.info.clock_control {
                    // A server's clock runs on: the view freezes.
                    "freeze"
                } else {
                    hint
                },
            )
        })
        .collect();
    let width = usize::from(area.width);
    let hint_width =
        |(_, key, hint): &(Action, String, &str)| Line::raw(format!(" {key} {hint} ")).width();
    // Help and quit always show; the status and the other hints take what
    // is left, whole or not at all, so nothing is cut mid-word.
    let kept = |action: &Action| matches!(action, Action::Help | Action::Quit);
    let mut room = width.saturating_sub(
        hints
            .iter()
            .filter(|h| kept(&h.0))
            .map(hint_width)
            .sum::<usize>(),
    );
    if let Some(status) = &app.status {
        let role = if status.error {
            Role::Critical
        } else {
            Role::Accent
        };
        // " text " and the "│" after it, whole where it fits: it goes before
        // the hints, which come back when it goes. A status cut to a few
        // letters says nothing, so below that it waits for a wider terminal.
        let text = untrusted(&status.text, room.saturating_sub(3));
        if room >= 3 + MIN_STATUS {
            let shown = format!(" {text} ");
            room = room.saturating_sub(Line::raw(shown.as_str()).width() + 1);
            spans.push(Span::styled(shown, theme.style(role)));
            spans.push(Span::styled("│", theme.style(Role::Muted)));
        }
    }
    // Hints go in the key table's order: past the first that does not fit,
    // only help and quit.
    let mut full = false;
    for hint in &hints {
        if !kept(&hint.0) {
            // Faster shows only with slower beside it.
            let pair = match hint.0 {
                Action::Faster => hints.iter().find(|h| h.0 == Action::Slower),
                _ => None,
            };
            let needs = hint_width(hint) + pair.map_or(0, hint_width);
            full = full || needs > room;
            if full {
                continue;
            }
            room -= hint_width(hint);
        }
        let (_, key, text) = hint;
        spans.push(Span::styled(format!(" {key}"), theme.style(Role::Key)));
        spans.push(Span::styled(format!(" {text} "), theme.style(Role::Muted)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
