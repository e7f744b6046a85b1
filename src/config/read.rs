//! How config.toml text becomes sections: parsed one section at a time, so
//! a mode can be strict about the sections it uses and only warn about the
//! others, and with the parser's errors said in our words (the line, the key,
//! what it takes, and its default as an example).
//!
//! It knows the file's shape, not what any value means: the checks of values
//! stay with their sections in `config`.

use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{ConfigError, SECTIONS, Uses};

/// The sections config.toml may have: any other is a mistake in every mode.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Read only to refuse unknown sections.
pub(super) struct KnownSections {
    policy: Option<Section>,
    engine: Option<Section>,
    server: Option<Section>,
    store: Option<Section>,
    dashboard: Option<Section>,
    simulator: Option<Section>,
    keys: Option<Section>,
}

/// A section's value, which must be a table (`[policy]`): serde would read
/// a struct from a list too (`policy = ["2s", "3h"]`, `[[policy]]`), field
/// by field in order, and take it silently.
struct Section;

/// What `Section` expects, as `in_our_words` knows it.
const SECTION_TABLE: &str = "a section's table";

impl<'de> Deserialize<'de> for Section {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Table;
        impl<'de> de::Visitor<'de> for Table {
            type Value = Section;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(SECTION_TABLE)
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Section, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Section)
            }
        }
        deserializer.deserialize_any(Table)
    }
}

/// Reads one section at a time, so a mistake in a section the mode does not
/// use becomes a warning, while the error of one it uses keeps its line.
pub(super) struct SectionReader<'a> {
    text: &'a str,
    path: &'a Path,
    uses: Uses,
    warnings: Vec<String>,
}

impl<'a> SectionReader<'a> {
    pub(super) fn new(text: &'a str, path: &'a Path, uses: Uses) -> Self {
        SectionReader {
            text,
            path,
            uses,
            warnings: Vec::new(),
        }
    }

    /// The warnings about sections this mode does not use.
    pub(super) fn into_warnings(self) -> Vec<String> {
        self.warnings
    }

    /// The section `name`, if the file has it and it reads; None when it is
    /// absent, or broken in a section this mode does not use (then a warning).
    pub(super) fn read<T: de::DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, ConfigError> {
        debug_assert!(SECTIONS.contains(&name));
        let read = toml::de::Deserializer::parse(self.text).and_then(|document| {
            de::DeserializeSeed::deserialize(
                OneSection::<T> {
                    name,
                    section: std::marker::PhantomData,
                },
                document,
            )
        });
        match read {
            Ok(section) => Ok(section),
            Err(e) => {
                let error = parse_error(self.text, self.path, &e);
                if self.uses.section(name) {
                    return Err(error);
                }
                self.warnings
                    .push(format!("{error}; {}", self.uses.ignores(name)));
                Ok(None)
            }
        }
    }
}

/// The text with every section this mode does not use, and that is not
/// even TOML, blanked out (its lines kept, empty, so line numbers hold),
/// and a warning for each. Bad TOML anywhere else stops the mode with its
/// line; so does a section that opens twice.
pub(super) fn without_broken_unused_sections<'t>(
    text: &'t str,
    path: &Path,
    uses: Uses,
) -> Result<(std::borrow::Cow<'t, str>, Vec<String>), ConfigError> {
    let mut text = std::borrow::Cow::Borrowed(text);
    let mut warnings = Vec::new();
    for _ in 0..=SECTIONS.len() {
        let Err(e) = toml::from_str::<toml::Table>(&text) else {
            break;
        };
        let at = e.span().map_or(0, |span| span.start);
        let section = section_at(&text, at)
            .filter(|name| SECTIONS.contains(&name.as_str()) && !uses.section(name));
        let Some(section) = section else {
            return Err(parse_error(&text, path, &e));
        };
        warnings.push(format!(
            "{}; {}",
            parse_error(&text, path, &e),
            uses.ignores(&section)
        ));
        text = std::borrow::Cow::Owned(blank_section(&text, &section));
    }
    Ok((text, warnings))
}

/// The name of the `[section]` whose lines hold byte `at`.
fn section_at(text: &str, mut at: usize) -> Option<String> {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[..line_end]
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| line.starts_with('['))
        .map(header_name)
}

/// "dashboard" of "[dashboard]" (or of a broken "[dashboard").
fn header_name(line: &str) -> String {
    let name = line.trim_start_matches('[').split(']').next().unwrap_or("");
    name.trim().to_owned()
}

/// `text` with the lines of every `[name]` section emptied.
fn blank_section(text: &str, name: &str) -> String {
    let mut inside = false;
    text.split_inclusive('\n')
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                inside = header_name(trimmed) == name;
            }
            if inside {
                if line.ends_with('\n') { "\n" } else { "" }
            } else {
                line
            }
        })
        .collect()
}

/// Deserializes the table `name` of a document and skips the others.
struct OneSection<T> {
    name: &'static str,
    section: std::marker::PhantomData<T>,
}

impl<'de, T: Deserialize<'de>> de::DeserializeSeed<'de> for OneSection<T> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneSection<T> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a TOML document")
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut section = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                section = Some(map.next_value::<T>()?);
            } else {
                map.next_value::<de::IgnoredAny>()?;
            }
        }
        Ok(section)
    }
}

/// The line (from 1) that sets `key` ("section.name", or "section.table.name")
/// in config.toml `text`, written the usual ways: `name = …` under its table's
/// header, or a dotted `table.name = …` under its section's. A key that names a
/// table (`simulator.mix`) is found at its header.
pub(super) fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let found = if let Some(header) = line.strip_prefix('[') {
            current = header.split(']').next().unwrap_or("").trim().to_owned();
            current == key
        } else if let Some((name, _)) = line.split_once('=') {
            let name = name.trim();
            !name.is_empty()
                && !current.is_empty()
                && key
                    .strip_prefix(current.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(name)
        } else {
            false
        };
        if found {
            return Some(index + 1);
        }
    }
    None
}

/// A TOML or type error of `path`, with its place and in our words.
pub(super) fn parse_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let place = place(text, e.span());
    let mut message = e.message().trim_end_matches('\n').to_owned();
    // Whatever a parser's message says, a value the place hides is not repeated.
    if let Some(hidden) = place.as_ref().and_then(|p| p.hidden.as_deref())
        && !hidden.is_empty()
    {
        message = message
            .replace(&format!("{hidden:?}"), "the value")
            .replace(&format!("`{hidden}`"), "the value");
        // Bare, only what is long enough to be a secret: a short value
        // replaced everywhere would garble the message ("e" in every word).
        if hidden.chars().count() >= crate::units::REPEATED_BELOW {
            message = message.replace(hidden, "the value");
        }
    }
    ConfigError::Parse {
        path: path.to_owned(),
        at: place
            .as_ref()
            .map(|p| format!(" at line {} ({})", p.line, p.shown))
            .unwrap_or_default(),
        message: in_our_words(&message, place.as_ref()),
    }
}

/// Where in the file a parse error points.
struct Place {
    line: usize,
    /// The dotted key of the line ("dashboard.fps"), if it sets one.
    key: Option<String>,
    /// The line as "section.key = value", at most 120 characters.
    shown: String,
    /// The value as written, when it may be a secret: the message must not repeat it either.
    hidden: Option<String>,
}

fn place(text: &str, span: Option<std::ops::Range<usize>>) -> Option<Place> {
    let span = span?;
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim());
    let not_shown = "not shown: it may hold a secret";
    let (key, shown, hidden) = match (section, line.split_once('=')) {
        (Some(section), Some((key, value))) if !line.starts_with('[') => {
            // A quoted key (`"idle" = …`) is the same key.
            let key = format!("{section}.{}", key.trim().trim_matches('"'));
            let (shown, hidden) = if may_be_secret(&key, value) {
                (format!("{key} = ({not_shown})"), Some(value.trim()))
            } else {
                (format!("{key} = {}", value.trim()), None)
            };
            (Some(key), shown, hidden)
        }
        // A line that is not `key = value` may be a secret pasted alone.
        _ if !line.starts_with('[') && may_be_secret("", line) => {
            (None, not_shown.to_owned(), Some(line))
        }
        _ => (None, line.to_owned(), None),
    };
    Some(Place {
        line: line_no,
        key,
        shown: shown.chars().take(120).collect(),
        hidden: hidden.map(|v| v.trim_matches('"').to_owned()),
    })
}

/// Whether the value of `key` (dotted) could be a token or a password: a
/// key that names one (even misspelled, as `admin_tokn`), a URL with
/// credentials, or any value as long as the shortest secret (the HTTP API's
/// rule, `units::REPEATED_BELOW`). Such a value is never repeated.
fn may_be_secret(key: &str, value: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let value = value.trim().trim_matches('"');
    ["tok", "pass", "secret", "auth", "key"]
        .iter()
        .any(|word| key.contains(word) && !key.starts_with("keys."))
        || value.contains('@')
        || value.chars().count() >= crate::units::REPEATED_BELOW
}

/// The parser's type errors ("invalid type: string \"fast\", expected u32")
/// said as a user would: what the key takes, what it was given, and the
/// key's default from the repository's config.toml as an example.
fn in_our_words(message: &str, place: Option<&Place>) -> String {
    let key = place.and_then(|p| p.key.as_deref());
    // A value not shown is not said in another form either ("the number …").
    let hidden = place.is_some_and(|p| p.hidden.is_some());
    let subject = key.unwrap_or("this key");
    let checked = key.and_then(super::whole_number_allowed);
    // A number too large for any integer type: TOML reads one past i64 as a
    // u64 ("u64 value was too large" for a smaller type) or an i128.
    if message.ends_with("value was too large")
        || (message.starts_with("invalid type: integer") && message.contains(" as i128"))
    {
        let wanted = checked.unwrap_or("a smaller whole number");
        return format!("{subject} takes {wanted}; this number is too large");
    }
    let header = (place.map(|p| p.shown.as_str()))
        .filter(|line| line.starts_with('['))
        .map(|line| line.trim_matches(|c| c == '[' || c == ']').trim());
    if message == "duplicate key" {
        return match (key, header) {
            (Some(key), _) => format!("{key} is given twice; give it once"),
            (None, Some(header)) => format!("[{header}] is given twice; give each section once"),
            (None, None) => "this key is given twice; give it once".to_owned(),
        };
    }
    if let Some(said) = unknown_name(message, key, header) {
        return said;
    }
    // An enum's value ("theme = \"dark\""), or no text at all ("theme = 5").
    let choice = match message.strip_prefix("unknown variant `") {
        Some(rest) => rest.split_once("`, expected ").map(|(given, expected)| {
            let choices = names_in(expected);
            let choices = choices
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>();
            let wanted = match choices.as_slice() {
                [one] => one.clone(),
                [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
                [] => "another value".to_owned(),
            };
            (wanted, Some(given))
        }),
        None if message == "wanted string or table" => Some(("text in quotes".to_owned(), None)),
        None => None,
    };
    if let Some((wanted, given)) = choice {
        let mut said = match given {
            Some(given) if !hidden && !may_be_secret(key.unwrap_or(""), given) => {
                format!("{subject} takes {wanted}, not \"{given}\"")
            }
            _ => format!("{subject} takes {wanted}"),
        };
        if let Some(example) = key.and_then(example_of) {
            said.push_str(&format!("; for example {example}"));
        }
        return said;
    }
    let (given, expected) = if let Some(rest) = message.strip_prefix("invalid type: ") {
        match rest.split_once(", expected ") {
            Some((given, SECTION_TABLE)) => {
                return format!(
                    "a section is a table, its name in brackets and its keys on the lines under it (such as [policy] and idle_timeout = \"15m\"), not {}",
                    kind_of(given)
                );
            }
            Some((given, expected)) => (kind_of(given), expected),
            None => return message.to_owned(),
        }
    } else if let Some(rest) = message.strip_prefix("invalid value: integer ") {
        // A negative number where a count belongs, or one too large for its type.
        match rest.split_once(", expected ") {
            Some((given, expected)) => (given.trim_matches('`').to_owned(), expected),
            None => return message.to_owned(),
        }
    } else {
        return message.to_owned();
    };
    let wanted = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => checked.unwrap_or("a whole number (0 or more)"),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text in quotes",
        "a sequence" => "a list, such as [\"r\", \"Delete\"]",
        "path string" => "a file's path in quotes",
        e if e.starts_with("struct ") || e == "a map" => "a table (a [section])",
        e => e,
    };
    let mut said = if hidden || key.is_some_and(|key| may_be_secret(key, "")) {
        format!("{subject} takes {wanted}")
    } else {
        format!("{subject} takes {wanted}, not {given}")
    };
    if let Some(example) = key.and_then(example_of) {
        said.push_str(&format!("; for example {example}"));
    }
    said
}

/// serde's "unknown field `idle`, expected one of `idle_timeout`, …" for a
/// key (or a section, when `key` is None: the line is `[dashbord]`), said
/// with the name most likely meant and the names allowed.
fn unknown_name(message: &str, key: Option<&str>, header: Option<&str>) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (given, expected) = rest.split_once("`, expected ")?;
    let known = names_in(expected);
    let list = known.join(", ");
    Some(match key.and_then(|key| key.rsplit_once('.')) {
        Some((section, name)) if name == given => {
            let hint =
                nearest(given, &known).map_or(String::new(), |n| format!("did you mean {n}? "));
            format!("[{section}] has no key {given}; {hint}its keys are: {list}")
        }
        Some(_) => format!("{given} is not a key here; the keys are: {list}"),
        // A table under a section (`[simulator.mixx]`): its keys are the section's.
        None => match header.and_then(|h| h.rsplit_once('.')) {
            Some((parent, name)) if name.trim() == given => {
                let hint = nearest(given, &known)
                    .map_or(String::new(), |n| format!("did you mean [{parent}.{n}]? "));
                format!("[{parent}] has no table {given}; {hint}its keys are: {list}")
            }
            Some(_) => format!("{given} is not a key here; the keys are: {list}"),
            // A key above every section (`fps = 30` at the top of the file).
            None if header.is_none() => match section_with_key(given) {
                Some(section) => {
                    format!("{given} is outside any section: put it under [{section}]")
                }
                None => format!("{given} is outside any section; the sections are: {list}"),
            },
            None => {
                let hint = nearest(given, &known)
                    .map_or(String::new(), |n| format!("did you mean [{n}]? "));
                format!("[{given}] is not a section; {hint}the sections are: {list}")
            }
        },
    })
}

/// The section of the repository's config.toml that has `key`, if one has.
fn section_with_key(key: &str) -> Option<String> {
    (sample_config()?.iter())
        .find(|(_, table)| table.as_table().is_some_and(|t| t.contains_key(key)))
        .map(|(section, _)| section.clone())
}

/// The names in serde's "`a` or `b`" / "one of `a`, `b`, `c`".
fn names_in(expected: &str) -> Vec<&str> {
    expected.split('`').skip(1).step_by(2).collect()
}

/// The known name a mistyped one most likely meant: the one name it begins
/// (given three characters or more), or one at most two edits away.
fn nearest<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    let mut longer = known.iter().filter(|k| k.starts_with(&given));
    if let (Some(only), None) = (longer.next(), longer.next())
        && given.chars().count() >= 3
    {
        return Some(only);
    }
    (known.iter())
        .map(|k| (edits(&given, k), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, by characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What serde calls a value ("string \"fast\"", "integer `5`"), in our words.
fn kind_of(given: &str) -> String {
    let value = |prefix: &str| {
        given
            .strip_prefix(prefix)
            .map(|v| v.trim().trim_matches('`').to_owned())
    };
    if given.starts_with("string") {
        "text in quotes".to_owned()
    } else if let Some(v) = value("integer") {
        format!("the whole number {v}")
    } else if let Some(v) = value("floating point") {
        format!("the number {v}")
    } else if let Some(v) = value("boolean") {
        v
    } else if given == "sequence" {
        "a list".to_owned()
    } else if given == "map" {
        "a table".to_owned()
    } else {
        given.to_owned()
    }
}

/// The repository's config.toml, which holds every key with its default.
fn sample_config() -> Option<toml::Table> {
    toml::from_str(include_str!("../../config.toml")).ok()
}

/// `key = default` from the repository's config.toml, for a dotted key it sets.
fn example_of(key: &str) -> Option<String> {
    let sample = sample_config()?;
    let mut parts = key.split('.').peekable();
    let mut table = &sample;
    while let Some(part) = parts.next() {
        let value = table.get(part)?;
        if parts.peek().is_none() {
            return (!value.is_table()).then(|| format!("{part} = {value}"));
        }
        table = value.as_table()?;
    }
    None
}
