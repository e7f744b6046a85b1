//! The sessions table: only the rows on screen are built, each frame.
//!
//! Countdowns are computed here from each session's deadlines and the clock
//! reading, so they move without any event.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row, Table};

use crate::engine::SessionView;
use crate::tui::app::App;
use crate::tui::keymap::Action;
use crate::tui::mirror::{Ending, Position, Row as MirrorRow, SortColumn};
use crate::tui::text::{ago, bar, countdown, thousands, time_of_day, untrusted};
use crate::tui::theme::Role;

pub fn draw(frame: &mut Frame, area: Rect, app: &App) {
    let theme = &app.theme;
    let (sort, reverse) = app.mirror.sort();
    let filter = app.mirror.filter();
    let mut title = vec![
        Span::styled(" Sessions ", theme.style(Role::Title)),
        Span::styled(
            format!(
                "{} shown · sorted by {} {} ",
                thousands(app.mirror.shown() as u64),
                sort.title().to_lowercase(),
                if reverse { "↓" } else { "↑" }
            ),
            theme.style(Role::Muted),
        ),
    ];
    if !filter.is_empty() {
        // Within the border: the filter cut to what is left, or just said.
        let used: usize = title.iter().map(Span::width).sum();
        let room = usize::from(area.width).saturating_sub(used + 4 + "· filter \"\" ".len());
        let text = if room >= 6 {
            format!("· filter \"{}\" ", untrusted(filter, room.min(30)))
        } else {
            "· filtered ".to_owned()
        };
        title.push(Span::styled(text, theme.style(Role::Warn)));
    }
    if app.is_stale() {
        title.push(Span::styled(
            " STALE: disconnected, counting down from the last known deadlines ",
            theme.style(Role::Badge),
        ));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.style(Role::Muted))
        .title(Line::from(title));

    let clock = app.shown_clock();
    let height = area.height.saturating_sub(3) as usize;
    let selected = app.selected.as_ref();
    let on_screen: Vec<(&Position, &MirrorRow)> = app
        .mirror
        .walk(app.top.as_ref())
        .take(height)
        .filter_map(|position| Some((position, app.mirror.get(position.1)?)))
        .collect();
    let widest = widest_countdowns(app, on_screen.iter().map(|(_, row)| *row), clock.now);
    let columns = columns(area.width, theme.gauge(), widest, sort);
    let widths: Vec<Constraint> = columns.iter().map(|(_, width)| *width).collect();
    let inner = block.inner(area);
    let cells = cells(inner, &widths);
    // The user and the origin are cut with an ellipsis to the width they got,
    // not mid-value by the table.
    let width_of = |column: SortColumn| {
        columns
            .iter()
            .position(|(c, _)| *c == column)
            .map_or(0, |i| usize::from(cells[i].width))
    };
    let widths_of_text = TextWidths {
        user: width_of(SortColumn::User),
        origin: width_of(SortColumn::Origin),
    };
    let rows: Vec<Row> = on_screen
        .iter()
        .map(|&(position, row)| {
            let is_selected = Some(position) == selected;
            let mut built = build_row(app, row, clock.now, &columns, widths_of_text, is_selected);
            if is_selected {
                built = built.style(theme.style(Role::Selected));
            }
            built
        })
        .collect();

    let header = Row::new(columns.iter().map(|(column, _)| {
        let mut text = column.title().to_owned();
        if *column == sort {
            text.push(if reverse { '↓' } else { '↑' });
            Cell::from(text).style(theme.style(Role::Key))
        } else {
            Cell::from(text).style(theme.style(Role::Muted))
        }
    }));
    let empty = rows.is_empty();
    frame.render_widget(
        Table::new(rows, widths.clone())
            .header(header)
            .block(block)
            .flex(Flex::Start)
            .column_spacing(1),
        area,
    );
    long_endings(frame, inner, app, &on_screen, &columns, &cells);
    if empty {
        let lesson_end = super::caption::finished_prompt(app);
        let key = |action| app.keymap.first(action);
        let (text, role) = if let Some(prompt) = lesson_end {
            (prompt, Role::Badge)
        } else if app.lesson.is_some() {
            (
                format!(
                    "No live sessions yet. Press {} for the next step.",
                    key(Action::Step)
                ),
                Role::Muted,
            )
        } else if !filter.is_empty() {
            (
                "No session matches the filter. Esc clears it.".to_owned(),
                Role::Muted,
            )
        } else if app.info.simulator {
            (
                format!(
                    "No live sessions. Press {} to simulate a login, or {} to start the simulator.",
                    key(Action::Login),
                    key(Action::Simulator)
                ),
                Role::Muted,
            )
        } else if app.info.remote {
            (
                format!(
                    "No live sessions on the server. Press {} to log one in there (it asks first).",
                    key(Action::Login)
                ),
                Role::Muted,
            )
        } else {
            (
                format!(
                    "No live sessions. Press {} to simulate a login.",
                    key(Action::Login)
                ),
                Role::Muted,
            )
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        frame.render_widget(Line::styled(text, theme.style(role)), inner);
    }
}

/// The width of the state column: an ending longer than it ("✕ evicted: user
/// over 3 sessions") is written across the countdown columns, which an ended
/// row leaves empty.
const STATE_WIDTH: usize = 14;

/// "✕ logged out", "✕ evicted: user over 3 sessions".
fn ending_text(ending: Ending) -> String {
    format!("✕ {}", ending.label())
}

/// The columns' cells in the table's inner area, laid out as the table lays
/// them out.
fn cells(inner: Rect, widths: &[Constraint]) -> std::rc::Rc<[Rect]> {
    Layout::horizontal(widths.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(inner)
}

/// Writes the endings too long for the state column over the countdown and
/// state columns of their rows, laid out as the table lays out its columns.
fn long_endings(
    frame: &mut Frame,
    inner: Rect,
    app: &App,
    on_screen: &[(&Position, &MirrorRow)],
    columns: &[(SortColumn, Constraint)],
    cells: &[Rect],
) {
    let Some(from) = columns.iter().position(|(c, _)| *c == SortColumn::Idle) else {
        return;
    };
    let (start, end) = (cells[from].x, cells[cells.len() - 1].right());
    let selected = app.selected.as_ref();
    for (i, &(position, row)) in on_screen.iter().enumerate() {
        let Some((ending, _)) = row.ended else {
            continue;
        };
        let text = ending_text(ending);
        if text.chars().count() <= STATE_WIDTH {
            continue;
        }
        let style = if Some(position) == selected {
            app.theme.style(Role::EndedSelected)
        } else {
            app.theme.style(ending_role(ending))
        }
        .remove_modifier(ratatui::style::Modifier::CROSSED_OUT);
        let y = inner.y + 1 + i as u16;
        let cell = Rect::new(start, y, end.saturating_sub(start), 1);
        frame.render_widget(Line::styled(text, style), cell);
    }
}

/// A logout is the user's own doing; every other ending is the system's.
fn ending_role(ending: Ending) -> Role {
    if matches!(ending, Ending::LoggedOut) {
        Role::Muted
    } else {
        Role::Critical
    }
}

/// The widest countdown texts, in columns, among the rows on screen.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CountdownWidths {
    pub idle: u16,
    pub absolute: u16,
}

/// The widest idle and absolute countdowns the live rows on screen show.
/// The columns the table shows when sorted by `sort`, at the terminal's
/// size and with the rows now on screen: `<`/`>` skip the others.
pub fn shown_columns(app: &App, sort: SortColumn) -> Vec<SortColumn> {
    let area = super::layout(app.size, app.lesson.is_some()).table;
    table_columns(app, area, sort)
        .into_iter()
        .map(|(column, _)| column)
        .collect()
}

/// The column whose title is at screen column `x` in the table as drawn
/// now, for a click on the titles.
pub fn column_at(app: &App, x: u16) -> Option<SortColumn> {
    let area = super::layout(app.size, app.lesson.is_some()).table;
    let columns = table_columns(app, area, app.mirror.sort().0);
    let widths: Vec<Constraint> = columns.iter().map(|(_, width)| *width).collect();
    let cells = cells(Block::default().borders(Borders::ALL).inner(area), &widths);
    (columns.iter().zip(cells.iter()))
        .find(|(_, cell)| (cell.x..cell.right()).contains(&x))
        .map(|((column, _), _)| *column)
}

/// The columns `draw` lays out in `area` with the rows now on screen.
fn table_columns(app: &App, area: Rect, sort: SortColumn) -> Vec<(SortColumn, Constraint)> {
    let height = area.height.saturating_sub(3) as usize;
    let rows = (app.mirror.walk(app.top.as_ref()))
        .take(height)
        .filter_map(|position| app.mirror.get(position.1));
    let widest = widest_countdowns(app, rows, app.shown_clock().now);
    columns(area.width, app.theme.gauge(), widest, sort)
}

fn widest_countdowns<'a>(
    app: &App,
    rows: impl Iterator<Item = &'a MirrorRow>,
    now: i64,
) -> CountdownWidths {
    rows.filter(|row| row.ended.is_none())
        .map(|row| countdowns(app, &row.session, now))
        .fold(CountdownWidths::default(), |widest, c| CountdownWidths {
            idle: widest.idle.max(columns_of(&c.idle_text)),
            absolute: widest.absolute.max(columns_of(&c.absolute_text)),
        })
}

fn columns_of(text: &str) -> u16 {
    u16::try_from(Line::raw(text).width()).unwrap_or(u16::MAX)
}

/// The fewest columns a user's name is cut to ("frank-wi…").
const MIN_USER: u16 = 9;

/// The columns that fit in `width`, with their widths. The countdowns get
/// the room their widest values on screen need (a cut "24:00:0" reads as
/// another time), so the flexible origin shrinks first; narrow terminals
/// then drop the origin, the handle, the start time and last seen. The
/// spare width goes to the origin, or once it is dropped to the user, so it
/// never sits unused after the last column. Every column but the flexible
/// one has room for its title's arrow, so choosing another sort moves none.
pub fn columns(
    width: u16,
    gauge: usize,
    widest: CountdownWidths,
    sort: SortColumn,
) -> Vec<(SortColumn, Constraint)> {
    let width_of = |column: SortColumn| -> u16 {
        let arrow = if column == sort {
            columns_of(column.title()) + 1
        } else {
            0
        };
        arrow.max(match column {
            SortColumn::Handle => 16,
            SortColumn::User => 14,
            // The least worth showing: an ip address and a little more.
            SortColumn::Origin => 12,
            SortColumn::Started => 8,
            // With room for its title's arrow, so sorting by it moves no column.
            SortColumn::LastSeen => 10,
            // The gauge, a space and "h:mm:ss" at least, so the column keeps
            // its width while most countdowns tick down.
            SortColumn::Idle => gauge as u16 + 1 + widest.idle.max(7),
            SortColumn::Absolute => widest.absolute.max(11),
            // A column more than its longest text, off the border.
            SortColumn::State => STATE_WIDTH as u16 + 1,
        })
    };
    let needs = |shown: &[SortColumn]| -> u16 {
        let cells: u16 = shown.iter().map(|c| width_of(*c)).sum();
        cells + shown.len().saturating_sub(1) as u16 + 2
    };
    // Once the origin is gone the user takes the spare width, and may give
    // some of its own before another column goes.
    let fits = |shown: &[SortColumn]| {
        let give = if shown.contains(&SortColumn::Origin) {
            0
        } else {
            width_of(SortColumn::User) - MIN_USER
        };
        needs(shown) - give <= width
    };
    let mut shown = SortColumn::ALL.to_vec();
    for dropped in [
        SortColumn::Origin,
        SortColumn::Handle,
        SortColumn::Started,
        SortColumn::LastSeen,
    ] {
        if fits(&shown) {
            break;
        }
        shown.retain(|c| *c != dropped);
    }
    let flexible = if shown.contains(&SortColumn::Origin) {
        SortColumn::Origin
    } else {
        SortColumn::User
    };
    shown
        .into_iter()
        .map(|c| {
            let constraint = if c == flexible {
                Constraint::Fill(1)
            } else {
                Constraint::Length(width_of(c))
            };
            (c, constraint)
        })
        .collect()
}

/// The widths the user and origin cells got, which their text is cut to.
#[derive(Clone, Copy)]
struct TextWidths {
    user: usize,
    origin: usize,
}

/// Origin: "ip · user agent", escaped and cut to `width`, the column's.
fn origin(session: &SessionView, width: usize) -> String {
    match (session.attribute("ip"), session.attribute("user_agent")) {
        (Some(ip), Some(agent)) => untrusted(&format!("{ip} · {agent}"), width),
        (Some(ip), None) => untrusted(ip, width),
        (None, Some(agent)) => untrusted(agent, width),
        (None, None) => String::new(),
    }
}

fn build_row<'a>(
    app: &App,
    row: &MirrorRow,
    now: i64,
    columns: &[(SortColumn, Constraint)],
    widths: TextWidths,
    selected: bool,
) -> Row<'a> {
    let theme = &app.theme;
    let s = &row.session;
    if let Some((ending, _)) = row.ended {
        // Crossed out, but readable on the selection bar too.
        let style = theme.style(if selected {
            Role::EndedSelected
        } else {
            Role::Ended
        });
        let state_role = ending_role(ending);
        let text = ending_text(ending);
        // Written across the countdown columns by `long_endings` instead.
        let (countdowns, state) = if text.chars().count() > STATE_WIDTH {
            ("", String::new())
        } else {
            ("—", text)
        };
        return Row::new(columns.iter().map(|(column, _)| {
            match column {
                SortColumn::Handle => Cell::from(s.handle.to_string()).style(style),
                SortColumn::User => Cell::from(untrusted(app.name_of(s), widths.user)).style(style),
                SortColumn::Origin => Cell::from(origin(s, widths.origin)).style(style),
                SortColumn::Started => {
                    Cell::from(time_of_day(s.created_at, &app.zone())).style(style)
                }
                SortColumn::LastSeen => Cell::from(ago(now - s.last_seen_at)).style(style),
                SortColumn::Idle | SortColumn::Absolute => Cell::from(countdowns),
                SortColumn::State => Cell::from(state.clone()).style(
                    theme
                        .style(if selected {
                            Role::EndedSelected
                        } else {
                            state_role
                        })
                        .remove_modifier(ratatui::style::Modifier::CROSSED_OUT),
                ),
            }
        }));
    }
    let gauge = theme.gauge();
    let c = countdowns(app, s, now);
    let idle_style = on_bar(app, countdown_style(app, c.idle_ratio), selected);
    Row::new(columns.iter().map(|(column, _)| match column {
        SortColumn::Handle => Cell::from(s.handle.to_string()),
        SortColumn::User => Cell::from(untrusted(app.name_of(s), widths.user)),
        SortColumn::Origin => Cell::from(origin(s, widths.origin)),
        SortColumn::Started => Cell::from(time_of_day(s.created_at, &app.zone())),
        SortColumn::LastSeen => Cell::from(ago(now - s.last_seen_at)),
        SortColumn::Idle => Cell::from(Line::from(vec![
            Span::styled(bar(c.idle_ratio, gauge), idle_style),
            Span::styled(format!(" {}", c.idle_text), idle_style),
        ])),
        SortColumn::Absolute => Cell::from(c.absolute_text.clone()).style(on_bar(
            app,
            countdown_style(app, c.absolute_ratio),
            selected,
        )),
        SortColumn::State => {
            Cell::from("● active").style(on_bar(app, theme.style(Role::Good), selected))
        }
    }))
}

/// What a live row's countdown columns show.
struct Countdowns {
    idle_text: String,
    idle_ratio: f64,
    absolute_text: String,
    absolute_ratio: f64,
}

fn countdowns(app: &App, s: &SessionView, now: i64) -> Countdowns {
    let idle_left = s.idle_expires_at - now;
    // The hard end: the absolute limit, or the next closing time when that
    // comes first, whether or not idleness would end the session sooner.
    let closing = app.closing_of(s, now);
    let hard_end = closing.unwrap_or(s.absolute_expires_at);
    let closing_first = closing.is_some();
    let absolute_left = hard_end - now;
    Countdowns {
        idle_text: countdown(idle_left),
        idle_ratio: idle_left as f64 / s.idle_timeout_ms.max(1) as f64,
        absolute_text: if closing_first {
            format!("{} close", countdown(absolute_left))
        } else {
            countdown(absolute_left)
        },
        absolute_ratio: absolute_left as f64 / (s.absolute_expires_at - s.created_at).max(1) as f64,
    }
}

/// A live row's cell style on the selection bar, if it is selected: the bar's
/// background shows through, and a stale (grey) countdown, which would be
/// grey on grey, takes the bar's text colour in italics.
fn on_bar(app: &App, style: Style, selected: bool) -> Style {
    if !selected {
        return style;
    }
    let mut style = Style { bg: None, ..style };
    if app.is_stale() {
        style.fg = None;
        style = style.add_modifier(ratatui::style::Modifier::ITALIC);
    }
    style
}

fn countdown_style(app: &App, ratio: f64) -> Style {
    let s = &app.settings;
    let role = if app.is_stale() {
        Role::Muted
    } else if ratio < s.critical_below {
        Role::Critical
    } else if ratio < s.warn_below {
        Role::Warn
    } else {
        Role::Good
    };
    app.theme.style(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the width, the columns shown fill the table: the spare width
    /// goes to the origin, or to the user once the origin is dropped, and
    /// never sits blank after the state column.
    #[test]
    fn the_columns_fill_every_width() {
        // "h:mm:ss close": the widest ABSOLUTE countdown.
        let closing = CountdownWidths {
            idle: 8,
            absolute: 13,
        };
        for (gauge, widest) in [
            (8, CountdownWidths::default()),
            (8, closing),
            (12, CountdownWidths::default()),
        ] {
            for sort in SortColumn::ALL {
                for width in 70..=220 {
                    let columns = columns(width, gauge, widest, sort);
                    let widths: Vec<Constraint> = columns.iter().map(|(_, w)| *w).collect();
                    let inner = Rect::new(1, 1, width - 2, 1);
                    let cells = cells(inner, &widths);
                    let at =
                        format!("width {width}, gauge {gauge}, {widest:?}, sorted by {sort:?}");
                    assert_eq!(cells[cells.len() - 1].right(), inner.right(), "{at}");
                    let cell = |column: SortColumn| {
                        let i = columns.iter().position(|(c, _)| *c == column)?;
                        Some(cells[i].width)
                    };
                    assert!(cell(SortColumn::User).unwrap() >= MIN_USER, "{at}");
                    // From 80 columns only the origin and the handle may go
                    // (the projector's longer gauge takes more).
                    if width >= 80 && gauge == 8 {
                        assert!(cell(SortColumn::Started).is_some(), "{at}");
                        assert!(cell(SortColumn::LastSeen).is_some(), "{at}");
                    }
                    // The sorted column's title and arrow fit whole.
                    if let Some(shown) = cell(sort) {
                        assert!(shown > columns_of(sort.title()), "{at}");
                    }
                    // And choosing it moved no column.
                    let other = if sort == SortColumn::State {
                        SortColumn::Idle
                    } else {
                        SortColumn::State
                    };
                    let unsorted: Vec<Constraint> = super::columns(width, gauge, widest, other)
                        .iter()
                        .map(|(_, w)| *w)
                        .collect();
                    assert_eq!(cells, super::cells(inner, &unsorted), "{at}");
                }
            }
        }
    }
}
