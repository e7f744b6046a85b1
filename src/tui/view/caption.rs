//! Lesson mode's caption panel: the progress line as its title, then what
//! just happened and why in the order it happened, the newest at the
//! bottom, and the replay prompt at the end.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::app::App;
use crate::tui::lesson::LessonState;
use crate::tui::text::{untrusted, wrap};
use crate::tui::theme::Role;

/// The line that ends a lesson, here and in the empty table: every step
/// played and every session over.
pub fn finished_prompt(app: &App, lesson: &LessonState) -> Option<&'static str> {
    (lesson.steps_done() && app.mirror.active() == 0)
        .then_some("lesson finished: r replay · q quit")
}

/// "step 4 of 9".
pub fn progress(app: &App, lesson: &LessonState) -> String {
    if lesson.steps_done() && app.mirror.active() > 0 {
        format!("all {} steps played · s: the next ending", lesson.total)
    } else {
        format!("step {} of {}", lesson.played, lesson.total)
    }
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, lesson: &LessonState) {
    if area.height < 3 {
        return;
    }
    let theme = &app.theme;
    let mut title = vec![
        Span::styled(
            format!(" {} ", untrusted(&lesson.title, 40)),
            theme.style(Role::Title),
        ),
        Span::styled(
            format!("· {} ", progress(app, lesson)),
            theme.style(Role::Key),
        ),
    ];
    if lesson.auto_pause {
        title.push(Span::styled(
            "· pauses after endings ",
            theme.style(Role::Muted),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Title))
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let prompt = finished_prompt(app, lesson);
    let room = usize::from(inner.height) - usize::from(prompt.is_some());
    // Like subtitles: in the order things happened, the newest at the
    // bottom; what the latest step brought stands out, what came before is
    // muted. Only whole captions are shown, as many of the newest as fit; the
    // newest alone, when it does not, shows as much of itself as fits.
    let width = usize::from(inner.width);
    let mut shown: Vec<Vec<Line>> = Vec::new();
    let mut used = 0;
    for caption in lesson.captions.iter().rev() {
        let style = if caption.step == lesson.played {
            theme.style(Role::Normal).add_modifier(Modifier::BOLD)
        } else {
            theme.style(Role::Muted)
        };
        let mut lines: Vec<Line> = wrap(&caption.text, width)
            .into_iter()
            .map(|text| Line::styled(text, style))
            .collect();
        if used + lines.len() > room {
            if shown.is_empty() {
                lines.truncate(room);
                shown.push(lines);
            }
            break;
        }
        used += lines.len();
        shown.push(lines);
    }
    let mut lines: Vec<Line> = shown.into_iter().rev().flatten().collect();
    if let Some(prompt) = prompt {
        lines.push(Line::styled(
            format!(" {prompt} "),
            theme.style(Role::Badge),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
