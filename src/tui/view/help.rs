//! The help overlay, generated from the same key table as the footer.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::centered;
use crate::tui::app::App;
use crate::tui::keymap::{ACTIONS, Action};
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    // Keys that do nothing here are left out: the clock and the simulator on
    // a server, the lesson keys outside a lesson.
    let shown: Vec<_> = ACTIONS
        .iter()
        .filter(|spec| match spec.action {
            Action::Faster | Action::Slower => app.info.clock_control,
            Action::Simulator => app.info.simulator,
            Action::Step | Action::AutoPause => app.lesson.is_some(),
            _ => true,
        })
        .collect();
    // Two columns when one does not fit the terminal's height: the keys,
    // Esc, mouse, a lesson's replay, a blank line and the rebind hint.
    let lesson = app.lesson.is_some();
    let rows = shown.len() as u16 + 4 + u16::from(lesson);
    let (width, height, columns) = if rows + 2 <= area.height {
        (76, rows + 2, 1)
    } else {
        (100, rows.div_ceil(2) + 2, 2)
    };
    // A column of a narrow two-column popup has 28 columns for the text.
    let narrow = columns == 2 && area.width < 100;
    // The keys' column is as wide as its widest entry (rebound keys may make
    // one long), within reason: a longer one is cut, never run into its text.
    let labels: Vec<String> = (shown.iter())
        .map(|spec| app.keymap.describe(spec.action))
        .collect();
    let key_width = (labels.iter())
        .map(|label| Line::raw(label.as_str()).width())
        .max()
        .unwrap_or(0)
        .clamp(9, 16);
    let entry = |keys: String, help: &'static str| {
        let keys = crate::tui::text::untrusted(&keys, key_width);
        Line::from(vec![
            Span::styled(format!(" {keys:<key_width$} "), theme.style(Role::Key)),
            Span::raw(help),
        ])
    };
    let mut lines: Vec<Line> = (shown.iter().zip(labels))
        .map(|(spec, label)| {
            let help = match spec.action {
                Action::Pause if !app.info.clock_control => "freeze view; server runs on",
                Action::Freeze if !app.info.clock_control => "freeze view, like pause",
                Action::Login if app.info.remote => "real login on the server",
                Action::Burst if app.info.remote => "10 real logins there (asks)",
                Action::Faster if narrow => "clock faster, up to ×100",
                _ => spec.help,
            };
            entry(label, help)
        })
        .collect();
    lines.push(entry("Esc".to_owned(), "close help, details, filter"));
    let mouse = if narrow {
        "wheel; click row or title"
    } else {
        "wheel; click a row, or a title to sort"
    };
    lines.push(entry("mouse".to_owned(), mouse));
    if lesson {
        // Not a [keys] action: `r` replays a finished lesson whatever is bound.
        lines.push(entry("r".to_owned(), "replay a finished lesson"));
    }
    lines.push(Line::from(""));
    lines.push(Line::styled(
        if area.width >= 100 {
            " Rebind keys in config.toml under [keys], e.g. revoke = [\"x\", \"Delete\"]"
        } else {
            " Rebind keys in config.toml [keys]"
        },
        theme.style(Role::Muted),
    ));
    let popup = centered(area, width, height);
    super::clear_for_popup(frame, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Title))
        .title(Span::styled(
            match app.keymap.first(Action::Help) {
                key if key == "Esc" => " Keys (Esc to close) ".to_owned(),
                key => format!(" Keys ({key} or Esc to close) "),
            },
            theme.style(Role::Title),
        ));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    if columns == 1 {
        frame.render_widget(Paragraph::new(lines), inner);
    } else {
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
        let second = lines.split_off(lines.len().div_ceil(2));
        frame.render_widget(Paragraph::new(lines), left);
        frame.render_widget(Paragraph::new(second), right);
    }
}
