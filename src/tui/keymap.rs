//! The one key table: which keys do which action.
//!
//! The footer hints and the help overlay are both generated from
//! [`ACTIONS`], and `[keys]` in config.toml rebinds any action by name. This
//! module maps keys to actions; it does not decide what an action does.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    Login,
    Burst,
    Activity,
    Revoke,
    RevokeUser,
    Filter,
    SortNext,
    SortPrev,
    SortReverse,
    Pause,
    Faster,
    Slower,
    Simulator,
    Freeze,
    Step,
    AutoPause,
    Detail,
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
}

/// One row of the key table.
pub struct ActionSpec {
    pub action: Action,
    /// The name `[keys]` in config.toml uses.
    pub name: &'static str,
    pub default_keys: &'static [&'static str],
    /// What the help overlay says.
    pub help: &'static str,
    /// The footer's short word, for the actions the footer shows.
    pub hint: Option<&'static str>,
}

const fn spec(
    action: Action,
    name: &'static str,
    default_keys: &'static [&'static str],
    help: &'static str,
    hint: Option<&'static str>,
) -> ActionSpec {
    ActionSpec {
        action,
        name,
        default_keys,
        help,
        hint,
    }
}

/// Every action, in the order the help overlay lists them.
pub const ACTIONS: &[ActionSpec] = &[
    spec(
        Action::Step,
        "step",
        &["s"],
        "lesson: next step or ending",
        Some("step"),
    ),
    spec(
        Action::AutoPause,
        "auto_pause",
        &["p"],
        "lesson: pause after endings",
        Some("auto-pause"),
    ),
    spec(
        Action::Login,
        "login",
        &["n"],
        "simulate a login (asks name)",
        Some("login"),
    ),
    spec(Action::Burst, "burst", &["N"], "a burst of 10 logins", None),
    spec(
        Action::Activity,
        "activity",
        &["a"],
        "activity on the selected row",
        None,
    ),
    spec(
        Action::Revoke,
        "revoke",
        &["r", "Delete"],
        "revoke the session (asks)",
        Some("revoke"),
    ),
    spec(
        Action::RevokeUser,
        "revoke_user",
        &["R"],
        "revoke all of user (asks)",
        None,
    ),
    spec(
        Action::Detail,
        "detail",
        &["Enter"],
        "details and events",
        Some("details"),
    ),
    spec(
        Action::Filter,
        "filter",
        &["/"],
        "filter: user, handle, origin",
        Some("filter"),
    ),
    spec(
        Action::SortNext,
        "sort_next",
        &[">"],
        "sort by the next column",
        None,
    ),
    spec(
        Action::SortPrev,
        "sort_prev",
        &["<"],
        "sort by the previous column",
        None,
    ),
    spec(
        Action::SortReverse,
        "sort_reverse",
        &["I"],
        "reverse the sort order",
        None,
    ),
    spec(
        Action::Pause,
        "pause",
        &["Space"],
        "pause or go on: all holds",
        Some("pause"),
    ),
    spec(
        Action::Faster,
        "faster",
        &["+", "="],
        "clock faster: ×0.5 1 2 5 10 20 50 100",
        Some("faster"),
    ),
    spec(
        Action::Slower,
        "slower",
        &["-"],
        "clock slower, down to ×0.5",
        Some("slower"),
    ),
    spec(
        Action::Simulator,
        "simulator",
        &["S"],
        "simulated logins on or off",
        Some("sim"),
    ),
    spec(Action::Freeze, "freeze", &["f"], "the same as pause", None),
    spec(
        Action::Down,
        "down",
        &["j", "Down"],
        "select the next session",
        None,
    ),
    spec(
        Action::Up,
        "up",
        &["k", "Up"],
        "select the previous session",
        None,
    ),
    spec(
        Action::PageDown,
        "page_down",
        &["PageDown"],
        "one page down",
        None,
    ),
    spec(Action::PageUp, "page_up", &["PageUp"], "one page up", None),
    spec(Action::Top, "top", &["g", "Home"], "first session", None),
    spec(
        Action::Bottom,
        "bottom",
        &["G", "End"],
        "last session",
        None,
    ),
    spec(Action::Help, "help", &["?"], "this help", Some("help")),
    spec(Action::Quit, "quit", &["q", "Ctrl-c"], "quit", Some("quit")),
];

/// Ctrl-Z, which suspends the dashboard as it does any terminal program;
/// no action can have it.
pub fn is_suspend(key: &KeyEvent) -> bool {
    KeySpec {
        code: KeyCode::Char('z'),
        ctrl: true,
    }
    .matches(key)
}

/// A key as config.toml spells it: "r", "Delete", "Ctrl-c", "Space", "PageDown".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeySpec {
    pub code: KeyCode,
    pub ctrl: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMapError {
    #[error(
        "keys.{0} is not an action; the actions are: {actions}",
        actions = action_names()
    )]
    UnknownAction(String),
    #[error(
        "keys.{action} = {key:?} is not a key; use a character (\"r\"), a name (Enter, Esc, Space, Tab, Backspace, Delete, Insert, Up, Down, Left, Right, Home, End, PageUp, PageDown, F1..F12) or Ctrl- before either"
    )]
    BadKey { action: String, key: String },
    #[error("keys.{action} lists no keys; give at least one")]
    Empty { action: String },
    #[error("keys.{action} lists {key:?} twice; give it once")]
    Twice { action: String, key: String },
    /// A key the terminal sends as another key (or not at all).
    #[error("keys.{action} = {key:?} cannot reach the dashboard: {why}")]
    Undeliverable {
        action: String,
        key: String,
        why: &'static str,
    },
    #[error("keys.{action} = {key:?} is already the key of {other}; give each key one action")]
    Clash {
        action: String,
        key: String,
        other: String,
    },
    /// A key the dashboard keeps for itself: Esc closes what is open,
    /// Ctrl-C always quits and Ctrl-Z suspends.
    #[error(
        "keys.{action} = {key:?} is kept: Esc closes help, details and the filter, Ctrl-C always quits and Ctrl-Z suspends; give {action} another key"
    )]
    Reserved { action: String, key: String },
    /// A key given in config that another action has by default.
    #[error(
        "keys.{action} = {key:?} is already {other}'s default key; give {other} other keys in [keys], or {action} another key"
    )]
    ClashWithDefault {
        action: String,
        key: String,
        other: String,
    },
}

impl KeyMapError {
    /// The config key the error is about: `keys.<action>`, as the user wrote it.
    pub fn key(&self) -> String {
        let action = match self {
            KeyMapError::UnknownAction(action)
            | KeyMapError::BadKey { action, .. }
            | KeyMapError::Empty { action }
            | KeyMapError::Twice { action, .. }
            | KeyMapError::Undeliverable { action, .. }
            | KeyMapError::Clash { action, .. }
            | KeyMapError::Reserved { action, .. }
            | KeyMapError::ClashWithDefault { action, .. } => action,
        };
        format!("keys.{action}")
    }
}

fn action_names() -> String {
    ACTIONS
        .iter()
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

impl KeySpec {
    pub fn parse(text: &str) -> Option<KeySpec> {
        // Names in any case ("enter", "CTRL-x"); a single character as written.
        let (ctrl, rest) = match text.get(..5) {
            Some(prefix) if prefix.eq_ignore_ascii_case("ctrl-") && text.len() > 5 => {
                (true, &text[5..])
            }
            _ => (false, text),
        };
        let name = if rest.chars().nth(1).is_some() {
            rest.to_ascii_lowercase()
        } else {
            rest.to_owned()
        };
        let code = match name.as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            f if f.len() >= 2 && f.starts_with('f') => {
                let n: u8 = f[1..].parse().ok()?;
                if !(1..=12).contains(&n) {
                    return None;
                }
                KeyCode::F(n)
            }
            c => {
                let mut chars = c.chars();
                let ch = chars.next()?;
                if chars.next().is_some() || ch.is_control() {
                    return None;
                }
                KeyCode::Char(if ctrl { ch.to_ascii_lowercase() } else { ch })
            }
        };
        Some(KeySpec { code, ctrl })
    }

    /// Why a terminal cannot send this key as itself, if it cannot: it
    /// sends Ctrl-i as Tab, Ctrl-m as Enter, Ctrl-[ as Esc, Ctrl with most
    /// digits and signs as something else or not at all, and Ctrl-Enter,
    /// Ctrl-Tab, Ctrl-Esc and Ctrl-Backspace as the key alone (or Ctrl-h).
    pub fn undeliverable(&self) -> Option<&'static str> {
        if !self.ctrl {
            return None;
        }
        Some(match self.code {
            KeyCode::Char('i') => "a terminal sends Ctrl-i as Tab; write \"Tab\"",
            KeyCode::Char('m') => "a terminal sends Ctrl-m as Enter; write \"Enter\"",
            KeyCode::Char('[') => "a terminal sends Ctrl-[ as Esc, which is kept",
            // Ctrl-4 to Ctrl-7 send the bytes 0x1C to 0x1F, read back as themselves.
            KeyCode::Char(c) if c == ' ' || c.is_ascii_lowercase() || ('4'..='7').contains(&c) => {
                return None;
            }
            KeyCode::Char(_) => {
                "a terminal sends Ctrl- as itself only with a letter a to z, Space or 4 to 7"
            }
            KeyCode::Enter | KeyCode::Tab | KeyCode::Esc | KeyCode::Backspace => {
                "a terminal sends Ctrl- with Enter, Tab, Esc or Backspace as the key alone"
            }
            _ => return None,
        })
    }

    pub fn matches(&self, key: &KeyEvent) -> bool {
        // No binding uses Alt: Alt-f is not f.
        if key.modifiers.contains(KeyModifiers::ALT) {
            return false;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl != self.ctrl {
            return false;
        }
        match (self.code, key.code) {
            // Terminals report Shift with upper-case letters and symbols; the character says it all.
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                if self.ctrl {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a == b
                }
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("Ctrl-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            KeyCode::Insert => f.write_str("Ins"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The bindings in force: the defaults with `[keys]` on top.
#[derive(Debug, Clone)]
pub struct KeyMap {
    bindings: Vec<(Action, Vec<KeySpec>)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        Self::from_config(&BTreeMap::new()).expect("the default key table is valid")
    }
}

impl KeyMap {
    /// The default table with each action named in `keys` rebound to the keys listed.
    pub fn from_config(keys: &BTreeMap<String, Vec<String>>) -> Result<KeyMap, KeyMapError> {
        for name in keys.keys() {
            if !ACTIONS.iter().any(|a| a.name == name) {
                return Err(KeyMapError::UnknownAction(name.clone()));
            }
        }
        let mut bindings = Vec::with_capacity(ACTIONS.len());
        // Each key taken, by which action, and whether config gave it.
        let mut taken: Vec<(KeySpec, &str, bool)> = Vec::new();
        for spec in ACTIONS {
            let given = keys.contains_key(spec.name);
            let texts: Vec<&str> = match keys.get(spec.name) {
                Some(list) if list.is_empty() => {
                    return Err(KeyMapError::Empty {
                        action: spec.name.to_owned(),
                    });
                }
                Some(list) => list.iter().map(String::as_str).collect(),
                None => spec.default_keys.to_vec(),
            };
            let mut parsed = Vec::with_capacity(texts.len());
            for text in texts {
                let key = KeySpec::parse(text).ok_or_else(|| KeyMapError::BadKey {
                    action: spec.name.to_owned(),
                    key: text.to_owned(),
                })?;
                if let Some(why) = key.undeliverable() {
                    return Err(KeyMapError::Undeliverable {
                        action: spec.name.to_owned(),
                        key: text.to_owned(),
                        why,
                    });
                }
                let reserved = (key.code == KeyCode::Esc && !key.ctrl)
                    || (key.ctrl && key.code == KeyCode::Char('c') && spec.action != Action::Quit)
                    || (key.ctrl && key.code == KeyCode::Char('z'));
                if reserved {
                    return Err(KeyMapError::Reserved {
                        action: spec.name.to_owned(),
                        key: text.to_owned(),
                    });
                }
                if parsed.contains(&key) {
                    return Err(KeyMapError::Twice {
                        action: spec.name.to_owned(),
                        key: text.to_owned(),
                    });
                }
                if let Some(&(_, other, other_given)) = taken.iter().find(|(k, ..)| *k == key) {
                    // Told from the side of the key the user wrote.
                    let (action, other) = if given {
                        (spec.name, other)
                    } else {
                        (other, spec.name)
                    };
                    let (action, key, other) =
                        (action.to_owned(), text.to_owned(), other.to_owned());
                    return Err(if given && other_given {
                        KeyMapError::Clash { action, key, other }
                    } else {
                        KeyMapError::ClashWithDefault { action, key, other }
                    });
                }
                taken.push((key, spec.name, given));
                parsed.push(key);
            }
            bindings.push((spec.action, parsed));
        }
        Ok(KeyMap { bindings })
    }

    /// The action `key` is bound to. A key rebound in config wins over a default.
    pub fn action(&self, key: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|(_, keys)| keys.iter().any(|k| k.matches(key)))
            .map(|(action, _)| *action)
    }

    pub fn keys(&self, action: Action) -> &[KeySpec] {
        self.bindings
            .iter()
            .find(|(a, _)| *a == action)
            .map_or(&[], |(_, keys)| keys.as_slice())
    }

    /// The keys of `action` as the help overlay shows them: "r, Del".
    pub fn describe(&self, action: Action) -> String {
        self.keys(action)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first key of `action`, as the screen names it ("s", "Space").
    pub fn first(&self, action: Action) -> String {
        self.keys(action)
            .first()
            .map(ToString::to_string)
            .unwrap_or_default()
    }

    /// Footer hints: the first key of each action that has a hint.
    pub fn hints(&self) -> Vec<(Action, String, &'static str)> {
        ACTIONS
            .iter()
            .filter_map(|spec| {
                let hint = spec.hint?;
                let key = self.keys(spec.action).first()?;
                Some((spec.action, key.to_string(), hint))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn default_keys_reach_their_actions() {
        let map = KeyMap::default();
        assert_eq!(
            map.action(&key(KeyCode::Char('r'), KeyModifiers::NONE)),
            Some(Action::Revoke)
        );
        assert_eq!(
            map.action(&key(KeyCode::Delete, KeyModifiers::NONE)),
            Some(Action::Revoke)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('N'), KeyModifiers::SHIFT)),
            Some(Action::Burst)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char(' '), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('c'), KeyModifiers::NONE)),
            None
        );
    }

    #[test]
    fn a_rebound_action_answers_only_to_its_new_keys() {
        let keys = BTreeMap::from([(
            "revoke".to_owned(),
            vec!["x".to_owned(), "Ctrl-d".to_owned()],
        )]);
        let map = KeyMap::from_config(&keys).unwrap();
        assert_eq!(
            map.action(&key(KeyCode::Char('x'), KeyModifiers::NONE)),
            Some(Action::Revoke)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Action::Revoke)
        );
        assert_eq!(
            map.action(&key(KeyCode::Char('r'), KeyModifiers::NONE)),
            None
        );
        assert!(
            map.hints()
                .contains(&(Action::Revoke, "x".to_owned(), "revoke"))
        );
    }

    #[test]
    fn a_key_bound_to_two_actions_is_refused() {
        let keys = BTreeMap::from([("revoke".to_owned(), vec!["n".to_owned()])]);
        let err = KeyMap::from_config(&keys).unwrap_err().to_string();
        // Told as the user wrote it, whichever action comes first.
        assert_eq!(
            err,
            "keys.revoke = \"n\" is already login's default key; give login other keys in [keys], or revoke another key"
        );
        let keys = BTreeMap::from([("login".to_owned(), vec!["a".to_owned()])]);
        let err = KeyMap::from_config(&keys).unwrap_err().to_string();
        assert!(
            err.starts_with("keys.login = \"a\" is already activity's default key"),
            "{err}"
        );
        let swapped = BTreeMap::from([
            ("revoke".to_owned(), vec!["n".to_owned()]),
            ("login".to_owned(), vec!["r".to_owned()]),
        ]);
        assert!(KeyMap::from_config(&swapped).is_ok(), "a swap is fine");
    }

    #[test]
    fn a_key_a_terminal_sends_as_another_is_refused_with_what_to_write() {
        for (key, says) in [
            ("Ctrl-i", "a terminal sends Ctrl-i as Tab; write \"Tab\""),
            (
                "Ctrl-M",
                "a terminal sends Ctrl-m as Enter; write \"Enter\"",
            ),
            ("Ctrl-[", "a terminal sends Ctrl-[ as Esc, which is kept"),
            ("Ctrl-2", "only with a letter a to z, Space or 4 to 7"),
            ("Ctrl-é", "only with a letter a to z"),
            ("Ctrl-Enter", "as the key alone"),
            ("ctrl-tab", "as the key alone"),
        ] {
            let keys = BTreeMap::from([("revoke".to_owned(), vec![key.to_owned()])]);
            let err = KeyMap::from_config(&keys).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!(
                    "keys.revoke = {key:?} cannot reach the dashboard: "
                )),
                "{err}"
            );
            assert!(err.contains(says), "{key}: {err}");
        }
        for key in [
            "Ctrl-x",
            "Ctrl-Space",
            "Ctrl-Up",
            "Ctrl-F5",
            "Tab",
            "Ctrl-5",
        ] {
            let keys = BTreeMap::from([("revoke".to_owned(), vec![key.to_owned()])]);
            assert!(KeyMap::from_config(&keys).is_ok(), "{key}");
        }
    }

    #[test]
    fn key_names_are_read_in_any_case_and_characters_as_written() {
        let spec = |text: &str| KeySpec::parse(text).unwrap();
        assert_eq!(spec("enter"), spec("Enter"));
        assert_eq!(spec("PAGEDOWN"), spec("PageDown"));
        assert_eq!(spec("f5"), spec("F5"));
        assert_eq!(spec("CTRL-x"), spec("Ctrl-x"));
        assert_eq!(spec("ctrl-space"), spec("Ctrl-Space"));
        assert_ne!(spec("R"), spec("r"), "a character is the one written");
        assert_eq!(spec("F").code, KeyCode::Char('F'));
    }

    #[test]
    fn a_key_listed_twice_for_one_action_is_said_as_such() {
        let keys = BTreeMap::from([("revoke".to_owned(), vec!["x".to_owned(), "x".to_owned()])]);
        let err = KeyMap::from_config(&keys).unwrap_err().to_string();
        assert_eq!(err, "keys.revoke lists \"x\" twice; give it once");
    }

    #[test]
    fn esc_ctrl_c_and_ctrl_z_are_kept() {
        for key in ["Esc", "Ctrl-c", "Ctrl-z"] {
            let keys = BTreeMap::from([("help".to_owned(), vec![key.to_owned()])]);
            let err = KeyMap::from_config(&keys).unwrap_err().to_string();
            assert_eq!(
                err,
                format!(
                    "keys.help = {key:?} is kept: Esc closes help, details and the filter, Ctrl-C always quits and Ctrl-Z suspends; give help another key"
                )
            );
        }
        let keys = BTreeMap::from([("help".to_owned(), vec!["Ctrl-e".to_owned()])]);
        assert!(KeyMap::from_config(&keys).is_ok());
    }

    #[test]
    fn alt_with_a_letter_is_not_the_letter() {
        let map = KeyMap::default();
        let alt_f = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::ALT);
        assert_eq!(map.action(&alt_f), None);
        let f = KeyEvent::new(KeyCode::Char('f'), KeyModifiers::NONE);
        assert!(map.action(&f).is_some());
    }

    #[test]
    fn unknown_actions_and_keys_are_named_in_the_error() {
        let keys = BTreeMap::from([("explode".to_owned(), vec!["x".to_owned()])]);
        let err = KeyMap::from_config(&keys).unwrap_err().to_string();
        assert!(
            err.contains("keys.explode") && err.contains("revoke"),
            "{err}"
        );
        let keys = BTreeMap::from([("revoke".to_owned(), vec!["Hyper-x".to_owned()])]);
        let err = KeyMap::from_config(&keys).unwrap_err().to_string();
        assert!(
            err.contains("keys.revoke") && err.contains("Hyper-x"),
            "{err}"
        );
    }

    #[test]
    fn every_action_has_a_default_key_and_a_unique_name() {
        let map = KeyMap::default();
        let mut names: Vec<_> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        for spec in ACTIONS {
            assert!(!map.keys(spec.action).is_empty(), "{}", spec.name);
        }
    }

    #[test]
    fn config_toml_documents_every_action_with_its_default_keys() {
        let text = include_str!("../../config.toml");
        for spec in ACTIONS {
            let keys = spec
                .default_keys
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ");
            let line = format!("# {} = [{keys}]", spec.name);
            assert!(text.contains(&line), "config.toml lacks `{line}`");
        }
    }
}
