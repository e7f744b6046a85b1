//! The help overlay, generated from the same key table as the footer.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::centered;
use crate::tui::app::App;
use crate::tui::keymap::ACTIONS;
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let mut lines: Vec<Line> = ACTIONS
        .iter()
        .map(|spec| {
            Line::from(vec![
                Span::styled(
                    format!(" {:<16}", app.keymap.describe(spec.action)),
                    theme.style(Role::Key),
                ),
                Span::raw(spec.help),
            ])
        })
        .collect();
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<16}", "Esc"), theme.style(Role::Key)),
        Span::raw("close this help, the details, or clear the filter"),
    ]));
    lines.push(Line::from(vec![
        Span::styled(format!(" {:<16}", "mouse"), theme.style(Role::Key)),
        Span::raw("wheel scrolls, click selects"),
    ]));
    lines.push(Line::from(""));
    lines.push(Line::styled(
        " Rebind keys in config.toml under [keys], e.g. revoke = [\"x\", \"Delete\"]",
        theme.style(Role::Muted),
    ));
    let popup = centered(area, 76, lines.len() as u16 + 2);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.style(Role::Title))
                .title(Span::styled(
                    " Keys (? or Esc to close) ",
                    theme.style(Role::Title),
                )),
        ),
        popup,
    );
}
