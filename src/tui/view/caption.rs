//! Lesson mode's caption panel: the progress line as its title, then what
//! just happened and why in the order it happened, the newest at the
//! bottom, and the replay prompt at the end.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::lesson::{Caption, LessonState};
use crate::tui::text::{untrusted, wrap};
use crate::tui::theme::Role;

/// The words that end a lesson, in the panel's title and the empty table:
/// every step played and every session over.
pub fn finished_prompt(app: &App) -> Option<String> {
    app.lesson_finished()
        .then(|| format!("lesson finished: {}", app.replay_or_quit()))
}

/// "step 4 of 9", or once every step is played, "all 9 steps played" and
/// what the step key still does; from the longest way to say it to the shortest.
pub fn progress(app: &App, lesson: &LessonState) -> Vec<String> {
    let n = lesson.total;
    let step = app.keymap.first(Action::Step);
    if let Some(prompt) = finished_prompt(app) {
        vec![
            prompt,
            "lesson finished · r replay".to_owned(),
            "lesson finished".to_owned(),
        ]
    } else if lesson.steps_done() {
        vec![
            format!("all {n} steps played · {step}: the next ending"),
            format!("all {n} played · {step}: next ending"),
            format!("all {n} steps played"),
        ]
    } else {
        vec![format!("step {} of {n}", lesson.played)]
    }
}

/// The panel's title: the lesson's title, the progress and the auto-pause
/// badge, each whole, shortened or left out (the badge first, then the
/// progress's hint, then the title's last words), never cut mid-word by the
/// border.
fn title(app: &App, lesson: &LessonState, width: usize) -> Line<'static> {
    let theme = &app.theme;
    // Long enough for any title a width can show: words give way below.
    let full_title = untrusted(&lesson.title, 120);
    let words: Vec<&str> = full_title.split(' ').collect();
    let mut titles = vec![full_title.clone()];
    titles.extend(
        (1..words.len())
            .rev()
            .map(|keep| format!("{}…", words[..keep].join(" "))),
    );
    titles.push(String::new());
    let progresses = progress(app, lesson);
    // A finished lesson has no endings left to pause after.
    let badges: &[&str] = if lesson.auto_pause && !app.lesson_finished() {
        &["· pauses after endings ", "· auto-pause ", ""]
    } else {
        &[""]
    };
    let line = |t: usize, p: usize, b: usize| {
        let mut spans = Vec::new();
        if titles[t].is_empty() {
            spans.push(Span::styled(
                format!(" {} ", progresses[p]),
                theme.style(Role::Key),
            ));
        } else {
            spans.push(Span::styled(
                format!(" {} ", titles[t]),
                theme.style(Role::Title),
            ));
            spans.push(Span::styled(
                format!("· {} ", progresses[p]),
                theme.style(Role::Key),
            ));
        }
        if !badges[b].is_empty() {
            spans.push(Span::styled(badges[b], theme.style(Role::Muted)));
        }
        Line::from(spans)
    };
    // The badge gives way first, then the progress's hint, then the title's
    // last words; once the whole title has given way, the badge and the
    // hint come back as far as they fit.
    let mut rest = vec![(0, 0)];
    rest.extend((1..badges.len()).map(|b| (0, b)));
    rest.extend((1..progresses.len()).map(|p| (p, badges.len() - 1)));
    let shortest = rest[rest.len() - 1..].to_vec();
    let mut last = line(0, 0, 0);
    for (t, title) in titles.iter().enumerate() {
        let tried = if t == 0 || title.is_empty() {
            &rest
        } else {
            &shortest
        };
        for &(p, b) in tried {
            last = line(t, p, b);
            if last.width() <= width {
                return last;
            }
        }
    }
    last
}

/// `text` in at most `rows` lines of `width`: whole, or its beginning
/// marked " …" where it was cut.
fn head(text: &str, width: usize, rows: usize) -> Vec<String> {
    let whole = wrap(text, width);
    if whole.len() <= rows {
        return whole;
    }
    let mut head: Vec<String> = wrap(text, width.saturating_sub(2))
        .into_iter()
        .take(rows)
        .collect();
    if let Some(last) = head.last_mut() {
        last.push_str(" …");
    }
    head
}

pub fn draw(frame: &mut Frame, area: Rect, app: &App, lesson: &LessonState) {
    if area.height < 3 {
        return;
    }
    let theme = &app.theme;
    let title = title(app, lesson, usize::from(area.width).saturating_sub(2));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Title))
        .title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let room = usize::from(inner.height);
    // Like subtitles: in the order things happened, the newest at the
    // bottom; what the latest step brought stands out, what came before is
    // muted. When room is short the oldest go first: the newest captions
    // show whole, and the rows left show the beginning of the one before
    // them, cut with "…" (a sentence's end alone reads as nothing), as the
    // newest alone does when it does not fit. But the latest step's own words are the
    // lesson: when they and what came after them do not fit, they show
    // whole, and what came after shows its beginning, cut with "…".
    let width = usize::from(inner.width);
    let style_of = |caption: &Caption| {
        if caption.step == lesson.played {
            theme.style(Role::Normal).add_modifier(Modifier::BOLD)
        } else {
            theme.style(Role::Muted)
        }
    };
    let styled = |texts: Vec<String>, caption: &Caption| -> Vec<Line<'static>> {
        let style = style_of(caption);
        texts
            .into_iter()
            .map(|text| Line::styled(text, style))
            .collect()
    };
    let step_words = lesson
        .captions
        .iter()
        .rposition(|c| c.scripted && c.step == lesson.played)
        .filter(|&at| {
            let after: usize = lesson
                .captions
                .range(at..)
                .map(|c| wrap(&c.text, width).len())
                .sum();
            after > room
        });
    let mut shown: Vec<Vec<Line>> = Vec::new();
    if let Some(at) = step_words {
        // The step's words whole, and each caption after them at least its
        // first line, the newest first; rows left make the newest whole first.
        let after: Vec<&Caption> = lesson.captions.range(at + 1..).collect();
        let needs: Vec<usize> = after.iter().map(|c| wrap(&c.text, width).len()).collect();
        let words = &lesson.captions[at];
        let words_need = wrap(&words.text, width).len();
        let mut words_rows = words_need.min(room.saturating_sub(usize::from(!after.is_empty())));
        let mut left = room - words_rows;
        let mut rows = vec![0; after.len()];
        for row in rows.iter_mut().rev().take(left) {
            *row = 1;
        }
        left -= rows.iter().sum::<usize>();
        for (row, need) in rows.iter_mut().zip(&needs).rev() {
            if *row > 0 {
                let more = need.saturating_sub(*row).min(left);
                *row += more;
                left -= more;
            }
        }
        words_rows += left.min(words_need - words_rows);
        shown.push(styled(head(&words.text, width, words_rows), words));
        for (caption, rows) in after.iter().zip(rows) {
            if rows > 0 {
                shown.push(styled(head(&caption.text, width, rows), caption));
            }
        }
        shown.reverse();
    } else {
        let mut used = 0;
        for caption in lesson.captions.iter().rev() {
            let whole = wrap(&caption.text, width);
            let left = room - used;
            if whole.len() <= left {
                used += whole.len();
                shown.push(styled(whole, caption));
                continue;
            }
            if shown.is_empty() {
                shown.push(styled(head(&caption.text, width, room), caption));
            } else if left > 0 {
                shown.push(styled(head(&caption.text, width, left), caption));
            }
            break;
        }
    }
    let lines: Vec<Line> = shown.into_iter().rev().flatten().collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
