//! The event log, newest first, with reasons in plain language.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::engine::{Event, EventKind, ExpiryReason, Millis};
use crate::tui::app::{App, LogEntry};
use crate::tui::mirror::evicted_label;
use crate::tui::text::{duration, time_of_day, untrusted};
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let title = if app.settings.show_touches {
        " Events "
    } else {
        " Events (activity hidden) "
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Muted))
        .title(Span::styled(title, theme.style(Role::Title)));
    let height = area.height.saturating_sub(2) as usize;
    let width = usize::from(area.width.saturating_sub(2));
    let lines: Vec<Line> = app
        .log
        .iter()
        .take(height)
        .map(|entry| match entry {
            LogEntry::Event(event) => line(app, event, width),
            LogEntry::Mark { at, text } => mark(app, *at, text, width),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub fn kind_role(kind: EventKind) -> Role {
    match kind {
        EventKind::Created => Role::Good,
        EventKind::Touched | EventKind::Renewed => Role::Normal,
        EventKind::LoggedOut => Role::Muted,
        EventKind::Revoked => Role::Accent,
        EventKind::Expired => Role::Critical,
    }
}

/// One event in `width` columns: the reason gives way, cut with "…".
pub fn line<'a>(app: &App, event: &Event, width: usize) -> Line<'a> {
    let theme = &app.theme;
    let mut spans = vec![
        Span::styled(
            format!("{} ", time_of_day(event.at, &app.zone())),
            theme.style(Role::Muted),
        ),
        Span::styled(
            format!("{:<11}", event.kind.as_str().replace('_', " ")),
            theme.style(kind_role(event.kind)),
        ),
        // Padded by the cells it takes: a wide character takes two.
        Span::raw({
            let user = untrusted(app.name_of(&event.session), 14);
            let pad = 15usize.saturating_sub(Line::raw(user.as_str()).width());
            format!("{user}{}", " ".repeat(pad))
        }),
    ];
    // Narrow terminals drop the handle here too, as the table does.
    if app.size.0 >= 100 {
        spans.push(Span::styled(
            format!("{} ", event.session.handle),
            theme.style(Role::Muted),
        ));
    }
    with_reason(app, event, spans, width)
}

/// `spans`, then the event's reason in what is left of `width`: the reason
/// gives way, cut with "…" (`untrusted` leaves it whole if it fits).
pub fn with_reason<'a>(
    app: &App,
    event: &Event,
    mut spans: Vec<Span<'a>>,
    width: usize,
) -> Line<'a> {
    let used = Line::from(spans.clone()).width();
    spans.push(Span::raw(untrusted(
        &reason(app, event),
        width.saturating_sub(used),
    )));
    Line::from(spans)
}

/// A seam in the log (a restart, missed events), as a rule across it.
fn mark<'a>(app: &App, at: Millis, text: &str, width: usize) -> Line<'a> {
    let time = format!("{} ", time_of_day(at, &app.zone()));
    let text = untrusted(&format!("── {text} "), width.saturating_sub(time.len()));
    let rule = "─".repeat(width.saturating_sub(time.len() + Line::raw(text.as_str()).width()));
    Line::from(vec![
        Span::styled(time, app.theme.style(Role::Muted)),
        Span::styled(format!("{text}{rule}"), app.theme.style(Role::Accent)),
    ])
}

/// Why it happened, as a person would say it.
pub fn reason(app: &App, event: &Event) -> String {
    let s = &event.session;
    let actor = event.actor.as_deref().map(|a| untrusted(a, 24));
    let mut text = match (event.kind, event.reason) {
        (EventKind::Created, _) => match s.attribute("ip") {
            Some(ip) => format!("logged in from {}", untrusted(ip, 40)),
            None => "logged in".to_owned(),
        },
        (EventKind::Touched, _) => match actor {
            Some(actor) => format!("activity (by {actor})"),
            None => "activity".to_owned(),
        },
        (EventKind::Renewed, _) => "token renewed".to_owned(),
        (EventKind::LoggedOut, _) => "logged out".to_owned(),
        (EventKind::Revoked, Some(ExpiryReason::Evicted)) => evicted_label(event.limit),
        (EventKind::Revoked, _) => format!(
            "revoked by {}",
            actor.unwrap_or_else(|| "an operator".to_owned())
        ),
        (EventKind::Expired, Some(ExpiryReason::Absolute)) => {
            format!(
                "absolute limit {} reached",
                duration(s.absolute_expires_at - s.created_at)
            )
        }
        (EventKind::Expired, Some(ExpiryReason::ClosingTime)) => match app.info.policy.closing_time
        {
            Some(closing) => format!("closing time {closing} reached"),
            None => "closing time reached".to_owned(),
        },
        (EventKind::Expired, _) => format!("idle for {}", duration(s.idle_timeout_ms)),
    };
    // A lesson is about why sessions end, not about milliseconds.
    if let Some(late) = event.lateness_ms().filter(|_| app.lesson.is_none()) {
        text.push_str(&format!(" · {late} ms late"));
    }
    text
}
