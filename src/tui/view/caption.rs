//! Lesson mode's caption panel: the progress line as its title, then what
//! just happened and why, newest first, and the replay prompt at the end.

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
    // Like subtitles: oldest above, the newest at the bottom; what the latest
    // step brought stands out, what came before is muted. Only whole captions
    // are shown. The script's words for the latest step keep their place at
    // the top even when its events need the room below.
    let width = usize::from(inner.width);
    let wrapped = |caption: &crate::tui::lesson::Caption| -> Vec<Line<'static>> {
        let style = if caption.step == lesson.played {
            theme.style(Role::Normal).add_modifier(Modifier::BOLD)
        } else {
            theme.style(Role::Muted)
        };
        wrap(&caption.text, width)
            .into_iter()
            .map(|text| Line::styled(text, style))
            .collect()
    };
    let pinned = lesson
        .captions
        .iter()
        .rposition(|c| c.scripted && c.step == lesson.played && lesson.played > 0);
    let mut top: Vec<Line> = pinned.map_or(Vec::new(), |i| wrapped(&lesson.captions[i]));
    top.truncate(room);
    let mut used = top.len();
    let mut below: Vec<Vec<Line>> = Vec::new();
    for (i, caption) in lesson.captions.iter().enumerate().rev() {
        if Some(i) == pinned {
            continue;
        }
        if pinned.is_some_and(|p| i < p) && !below.is_empty() {
            // Older than the pinned caption: it would have to go above it.
            break;
        }
        let lines = wrapped(caption);
        if used + lines.len() > room {
            if pinned.is_none() && below.is_empty() {
                below.push(lines.into_iter().take(room).collect());
            }
            break;
        }
        used += lines.len();
        below.push(lines);
    }
    // Room to spare goes to what came before the pinned caption.
    let mut above: Vec<Vec<Line>> = Vec::new();
    if let Some(pinned) = pinned {
        for caption in lesson.captions.iter().take(pinned).rev() {
            let lines = wrapped(caption);
            if used + lines.len() > room {
                break;
            }
            used += lines.len();
            above.push(lines);
        }
    }
    let mut lines: Vec<Line> = above.into_iter().rev().flatten().collect();
    lines.extend(top);
    lines.extend(below.into_iter().rev().flatten());
    if let Some(prompt) = prompt {
        lines.push(Line::styled(
            format!(" {prompt} "),
            theme.style(Role::Badge),
        ));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
