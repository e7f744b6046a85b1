//! Semantic styles: views ask for `Role::Warn`, not for yellow.
//!
//! With `no_color` (NO_COLOR, --no-color) every role keeps only its
//! modifiers (bold, reversed, dim), so the screen still reads in monochrome.

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Theme {
    pub no_color: bool,
}

impl Theme {
    pub fn style(&self, role: Role) -> Style {
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
        }
        style
    }
}
