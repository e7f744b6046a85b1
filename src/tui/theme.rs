//! Semantic styles: views ask for `Role::Warn`, not for yellow.
//!
//! With `no_color` (NO_COLOR, --no-color) every role keeps only its
//! modifiers (bold, reversed, dim), so the screen still reads in monochrome.
//! The `projector` theme is for a room: bright, bold colours on black, no
//! grey text, wide gauges, and a selected ended row that stays readable.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Normal,
    Title,
    Muted,
    Good,
    Warn,
    Critical,
    Ended,
    Selected,
    Badge,
    Key,
    Accent,
    /// An ended row's cells while it is selected.
    EndedSelected,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Theme {
    pub no_color: bool,
    pub projector: bool,
}

impl Theme {
    /// Width of the idle gauge in the sessions table.
    pub fn gauge(&self) -> usize {
        if self.projector { 12 } else { 8 }
    }

    /// The style under everything: black for the projector, the terminal's own otherwise.
    pub fn base(&self) -> Style {
        if self.projector && !self.no_color {
            Style::default().fg(Color::White).bg(Color::Black)
        } else {
            Style::default()
        }
    }

    pub fn style(&self, role: Role) -> Style {
        if self.projector && !self.no_color {
            return projector(role);
        }
        let (fg, bg, modifier) = match role {
            Role::Normal => (None, None, Modifier::empty()),
            Role::Title => (Some(Color::Cyan), None, Modifier::BOLD),
            Role::Muted => (Some(Color::DarkGray), None, Modifier::empty()),
            Role::Good => (Some(Color::Green), None, Modifier::empty()),
            Role::Warn => (Some(Color::Yellow), None, Modifier::BOLD),
            Role::Critical => (Some(Color::Red), None, Modifier::BOLD),
            Role::Ended => (Some(Color::DarkGray), None, Modifier::CROSSED_OUT),
            Role::Selected => (None, Some(Color::DarkGray), Modifier::REVERSED),
            Role::Badge => (
                Some(Color::Black),
                Some(Color::Yellow),
                Modifier::BOLD | Modifier::REVERSED,
            ),
            Role::Key => (Some(Color::Cyan), None, Modifier::BOLD),
            Role::Accent => (Some(Color::Magenta), None, Modifier::empty()),
            Role::EndedSelected => (Some(Color::White), None, Modifier::CROSSED_OUT),
        };
        let mut style = Style::default().add_modifier(modifier);
        if !self.no_color {
            if let Some(fg) = fg {
                style = style.fg(fg);
            }
            if let Some(bg) = bg {
                style = style.bg(bg);
            }
            // Colour carries the meaning; reversing is only for monochrome.
            if matches!(role, Role::Selected | Role::Badge) {
                style = style.remove_modifier(Modifier::REVERSED);
                if role == Role::Selected {
                    style = style.add_modifier(Modifier::BOLD);
                }
            }
        } else if role == Role::Muted || role == Role::Ended {
            style = style.add_modifier(Modifier::DIM);
        } else if role == Role::Critical {
            // Red against yellow is lost in monochrome: underlined against bold.
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        style
    }
}

/// High contrast on black: every text bright and most of it bold.
fn projector(role: Role) -> Style {
    let bold = Modifier::BOLD;
    let (fg, bg, modifier) = match role {
        Role::Normal => (Color::White, Color::Black, Modifier::empty()),
        Role::Title => (Color::LightCyan, Color::Black, bold),
        Role::Muted => (Color::Gray, Color::Black, Modifier::empty()),
        Role::Good => (Color::LightGreen, Color::Black, bold),
        Role::Warn => (Color::LightYellow, Color::Black, bold),
        Role::Critical => (Color::LightRed, Color::Black, bold),
        Role::Ended => (Color::Gray, Color::Black, Modifier::CROSSED_OUT),
        Role::Selected => (Color::White, Color::Blue, bold),
        Role::EndedSelected => (Color::White, Color::Blue, bold | Modifier::CROSSED_OUT),
        Role::Badge => (Color::Black, Color::LightYellow, bold),
        Role::Key => (Color::LightYellow, Color::Black, bold),
        Role::Accent => (Color::LightMagenta, Color::Black, bold),
    };
    Style::default().fg(fg).bg(bg).add_modifier(modifier)
}
