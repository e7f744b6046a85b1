//! Drawing: pure functions from `&App` to a frame. Nothing here changes state.
//!
//! `layout` is shared with `App` so that scrolling and mouse clicks agree
//! with what is on screen.

mod caption;
mod detail;
mod dialog;
mod events;
mod footer;
mod header;
mod help;
mod sessions;

pub use sessions::{column_at, shown_columns};
mod stats;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Mode};
use super::theme::Role;

/// The smallest terminal the dashboard draws in: a projector's 80x24.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// From this height up the stats panel has its sparklines; below, one line.
const FULL_STATS_HEIGHT: u16 = 30;

/// Whether the dashboard can draw in a terminal of this size.
pub fn fits((width, height): (u16, u16)) -> bool {
    width >= MIN_WIDTH && height >= MIN_HEIGHT
}

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub stats: Rect,
    pub table: Rect,
    pub events: Rect,
    /// Lesson mode's captions and progress; empty otherwise.
    pub caption: Rect,
    pub footer: Rect,
}

impl Areas {
    /// Session rows that fit: the table less its borders and column titles.
    pub fn table_rows(&self) -> usize {
        self.table.height.saturating_sub(3) as usize
    }

    /// Which visible table row (0 = first) is at a screen cell, if any.
    pub fn table_row_at(&self, column: u16, row: u16) -> Option<usize> {
        let first = self.table.y + 2;
        let inside = column > self.table.x && column + 1 < self.table.right() && row >= first;
        let index = row.checked_sub(first)? as usize;
        (inside && index < self.table_rows()).then_some(index)
    }

    /// Whether a screen cell is on the table's column titles.
    pub fn on_table_header(&self, column: u16, row: u16) -> bool {
        row == self.table.y + 1 && column > self.table.x && column + 1 < self.table.right()
    }
}

/// The screen's parts. Lesson mode adds the caption panel; at a projector's
/// 24 lines the stats shrink to one line, so the table, the four endings of
/// a lesson in the event log, and the captions all keep their room.
pub fn layout((width, height): (u16, u16), lesson: bool) -> Areas {
    let area = Rect::new(0, 0, width.max(MIN_WIDTH), height.max(MIN_HEIGHT));
    let stats = if area.height >= FULL_STATS_HEIGHT {
        5
    } else {
        1
    };
    let events = if lesson {
        (area.height / 5).clamp(6, 10)
    } else {
        (area.height / 4).clamp(6, 14)
    };
    // A step's words, its events' explanations and its note all fit from
    // 40 lines; below that the oldest give way (see `caption::draw`).
    let caption = match (lesson, area.height >= FULL_STATS_HEIGHT) {
        (false, _) => 0,
        (true, true) => (area.height / 5).clamp(6, 8),
        (true, false) => 5,
    };
    let [header, stats, table, events, caption, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(stats),
        Constraint::Min(5),
        Constraint::Length(events),
        Constraint::Length(caption),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        stats,
        table,
        events,
        caption,
        footer,
    }
}

/// Draws the whole screen for `app`.
pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    frame.render_widget(Block::default().style(app.theme.base()), area);
    if !fits((area.width, area.height)) {
        too_small(frame, area, app);
        return;
    }
    // Laid out for the frame's own size: the terminal may have changed size
    // before the app has heard of it, and a widget drawn past the frame's
    // edge panics.
    let areas = layout((area.width, area.height), app.lesson.is_some());
    header::draw(frame, areas.header, app);
    stats::draw(frame, areas.stats, app);
    sessions::draw(frame, areas.table, app);
    events::draw(frame, areas.events, app);
    if let Some(lesson) = &app.lesson {
        caption::draw(frame, areas.caption, app, lesson);
    }
    footer::draw(frame, areas.footer, app);
    if let Some(detail) = &app.detail {
        detail::draw(frame, area, app, detail);
    }
    match &app.mode {
        Mode::Help => help::draw(frame, area, app),
        Mode::Prompt { text, suggested } => dialog::prompt(frame, area, app, text, *suggested),
        Mode::Confirm(confirm) => dialog::confirm(frame, area, app, confirm),
        Mode::Normal | Mode::Filter => {}
    }
}

/// What a terminal too small for the dashboard shows: its size, the size
/// wanted, whether the clock waits, and how to quit. When even that does not
/// fit, the other lines give way, so how to quit always shows.
fn too_small(frame: &mut Frame, area: Rect, app: &App) {
    let width = usize::from(area.width);
    let wrap = |text: String| crate::tui::text::wrap(&text, width);
    let size = wrap(format!("The terminal is {}x{}.", area.width, area.height));
    let wanted = wrap(format!(
        "Please enlarge it to at least {MIN_WIDTH}x{MIN_HEIGHT}."
    ));
    let paused = if app.size_paused {
        wrap("The clock is paused until it fits.".to_owned())
    } else {
        Vec::new()
    };
    let quit = wrap(format!(
        "({} quits)",
        app.keymap.first(crate::tui::keymap::Action::Quit)
    ));
    let height = usize::from(area.height);
    // The parts in the order they show, and the order they give way.
    let mut parts = [size, wanted, paused];
    for dropped in [2, 0, 1] {
        let used: usize = parts.iter().map(Vec::len).sum::<usize>() + quit.len();
        if used <= height {
            break;
        }
        parts[dropped].clear();
    }
    let mut lines: Vec<String> = parts.into_iter().flatten().chain(quit).collect();
    let cut = lines.len().saturating_sub(height);
    lines.drain(..cut);
    let shown = u16::try_from(lines.len()).unwrap_or(area.height);
    frame.render_widget(
        Paragraph::new(lines.into_iter().map(Line::from).collect::<Vec<_>>())
            .alignment(Alignment::Center)
            .style(app.theme.style(Role::Warn)),
        Rect {
            y: (area.height - shown) / 2,
            height: shown,
            ..area
        },
    );
}

/// A rectangle of at most `width` x `height` in the middle of `area`.
/// Clears `area` for a popup. A wide character (CJK, an emoji) just left
/// of it would be drawn across the popup's left border, so it goes too.
pub fn clear_for_popup(frame: &mut Frame, area: Rect) {
    frame.render_widget(Clear, area);
    let Some(left) = area.x.checked_sub(1) else {
        return;
    };
    let buffer = frame.buffer_mut();
    for y in area.top()..area.bottom() {
        let cell = &mut buffer[(left, y)];
        if cell.symbol().width() > 1 {
            cell.set_symbol(" ");
        }
    }
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn a_wide_character_left_of_a_popup_does_not_cross_its_border() {
        let mut terminal = Terminal::new(TestBackend::new(12, 3)).unwrap();
        terminal
            .draw(|frame| {
                frame
                    .buffer_mut()
                    .set_string(0, 1, "ab一一一一", ratatui::style::Style::default());
                let popup = Rect::new(5, 0, 5, 3);
                clear_for_popup(frame, popup);
                frame.render_widget(Block::bordered(), popup);
            })
            .unwrap();
        let buffer = terminal.backend().buffer();
        // "一" at columns 2-3 stays; the one at 4-5 would cover the border at 5.
        assert_eq!(buffer[(2, 1)].symbol(), "一");
        assert_eq!(buffer[(4, 1)].symbol(), " ");
        assert_eq!(buffer[(5, 1)].symbol(), "│");
    }
}
