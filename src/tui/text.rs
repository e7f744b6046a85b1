//! Turning values into short, safe text for the screen.
//!
//! User names and attributes are untrusted: control characters, line and
//! paragraph separators, and every format or default-ignorable character
//! (bidi overrides, zero-width characters, soft hyphens, variation
//! selectors, tags) are shown escaped, and long values are cut with an
//! ellipsis, so no value can move the cursor, ring the bell or push other
//! columns off the screen.

use chrono::TimeZone;
use chrono_tz::Tz;
use unicode_width::UnicodeWidthChar;

use crate::engine::Millis;
pub use crate::units::thousands;

/// `text` with control characters escaped, cut to `max` columns with "…".
pub fn untrusted(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut width = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let piece: std::borrow::Cow<'_, str> = if hidden(c) {
            c.escape_default().collect::<String>().into()
        } else {
            let mut buf = [0u8; 4];
            String::from(&*c.encode_utf8(&mut buf)).into()
        };
        let w: usize = piece.chars().map(|c| c.width().unwrap_or(0)).sum();
        let room_for_ellipsis = if chars.peek().is_some() { 1 } else { 0 };
        if width + w + room_for_ellipsis > max {
            if width < max {
                out.push('…');
            }
            return out;
        }
        out.push_str(&piece);
        width += w;
    }
    out
}

/// `text` for a line on standard error: escaped as `untrusted` does but
/// uncut, keeping its line breaks and tabs. An error may quote what a
/// server answered, a file held or a flag said.
pub fn printable(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            line.split('\t')
                .map(|piece| untrusted(piece, piece.len().saturating_mul(10)))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` escaped as `untrusted` does, and cut to its last `max` columns
/// with "…" in front: for what is being typed, whose end is what matters.
pub fn untrusted_end(text: &str, max: usize) -> String {
    // No character is wider than ten columns escaped ("\\u{10ffff}").
    let whole = untrusted(text, text.len().saturating_mul(10));
    let width = |c: char| c.width().unwrap_or(0);
    if whole.chars().map(width).sum::<usize>() <= max {
        return whole;
    }
    let mut kept = Vec::new();
    let mut used = 1;
    for c in whole.chars().rev() {
        if used + width(c) > max {
            break;
        }
        used += width(c);
        kept.push(c);
    }
    std::iter::once('…').chain(kept.into_iter().rev()).collect()
}

/// Characters that change how text around them looks without showing
/// themselves: control characters, bidi overrides and isolates (which can
/// make "evil\u{202e}nimda" read as "evil admin" backwards), zero-width
/// ones, and every other format (general category Cf) or default-ignorable
/// character. Terminals disagree with `unicode-width` (and with each other)
/// on how wide those are drawn, so showing one raw would put the rest of the
/// row out of step with the columns the dashboard computed.
fn hidden(c: char) -> bool {
    // U+2028 and U+2029 (line and paragraph separators) may break a line.
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || is_format_or_default_ignorable(c)
}

/// Unicode general category Cf plus Default_Ignorable_Code_Point (Unicode
/// 16), as ranges: a match is cheaper than a table crate and these lists
/// change rarely.
fn is_format_or_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// `text` broken into lines of at most `width` columns, at spaces where it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split_whitespace() {
        let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        if used > 0 && used + 1 + w > width {
            lines.push(std::mem::take(&mut line));
            used = 0;
        }
        if used > 0 {
            line.push(' ');
            used += 1;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += cw;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// A countdown: "mm:ss", "h:mm:ss" from an hour up, and "3d 04:05" (days,
/// hours and minutes) from a day up. Negative counts as 0.
pub fn countdown(ms: i64) -> String {
    let s = ms.max(0).div_euclid(1000) + i64::from(ms.max(0) % 1000 != 0);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h >= 24 {
        format!("{}d {:02}:{m:02}", h / 24, h % 24)
    } else if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m:02}:{s:02}")
    }
}

/// "4s ago", "3m ago", "2h ago", "5d ago".
pub fn ago(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s ago"),
        60..3600 => format!("{}m ago", s / 60),
        3600..86400 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86400),
    }
}

/// A duration as people say it: "15m", "8h", "1h30m", "90s" → "1m30s", "250ms".
pub fn duration(ms: i64) -> String {
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (sec, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// The clock time of day "HH:MM:SS" in `tz`, the policy's time zone.
pub fn time_of_day(at: Millis, tz: &Tz) -> String {
    match tz.timestamp_millis_opt(at).single() {
        Some(t) => t.format("%H:%M:%S").to_string(),
        None => "--:--:--".to_owned(),
    }
}

/// The time of day of `at` in `tz`, the policy's time zone.
pub fn local_time(at: Millis, tz: &Tz) -> chrono::NaiveTime {
    tz.timestamp_millis_opt(at)
        .single()
        .map_or(chrono::NaiveTime::MIN, |t| t.time())
}

/// Date and time "YYYY-MM-DD HH:MM:SS.mmm JST" for the detail view: the
/// zone's abbreviation says which zone it is read in, as the detail view
/// has no clock beside it that names the zone.
pub fn date_time(at: Millis, tz: &Tz) -> String {
    match tz.timestamp_millis_opt(at).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f %Z").to_string(),
        None => "?".to_owned(),
    }
}

/// A ratio clamped to 0..=1 (ratatui panics outside it; NaN counts as 0).
pub fn clamp_ratio(ratio: f64) -> f64 {
    if ratio.is_nan() {
        0.0
    } else {
        ratio.clamp(0.0, 1.0)
    }
}

/// A text gauge `width` cells wide, with eighth blocks so it shrinks smoothly.
pub fn bar(ratio: f64, width: usize) -> String {
    const EIGHTHS: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let eighths = (clamp_ratio(ratio) * (width * 8) as f64).round() as usize;
    let full = eighths / 8;
    let mut out = String::with_capacity(width * 3);
    for _ in 0..full {
        out.push('█');
    }
    if full < width {
        let part = eighths % 8;
        out.push(if part == 0 { '·' } else { EIGHTHS[part] });
        for _ in full + 1..width {
            out.push('·');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_keeps_its_end() {
        assert_eq!(untrusted_end("alice", 10), "alice");
        assert_eq!(untrusted_end("a-very-long-user-name", 10), "…user-name");
        assert_eq!(untrusted_end("名前のながいユーザー", 9), "…ユーザー");
        assert_eq!(untrusted_end("x\x07y", 10), "x\\u{7}y");
    }

    #[test]
    fn control_characters_in_untrusted_text_are_escaped() {
        assert_eq!(untrusted("eve\x1b[2J\n", 40), "eve\\u{1b}[2J\\n");
        assert!(!untrusted("a\u{7}b\rc", 40).chars().any(char::is_control));
    }

    #[test]
    fn bidi_overrides_and_zero_width_characters_are_escaped() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}',
            '\u{2060}', '\u{FEFF}',
        ] {
            let shown = untrusted(&format!("ad{c}min"), 40);
            assert_eq!(shown, format!("ad\\u{{{:x}}}min", c as u32));
            assert!(!shown.contains(c));
        }
        assert_eq!(untrusted("ada lovelace", 40), "ada lovelace");
        assert_eq!(untrusted("josé", 40), "josé", "letters stay letters");
    }

    #[test]
    fn every_format_and_default_ignorable_character_is_escaped() {
        for c in [
            '\u{00AD}',
            '\u{034F}',
            '\u{061C}',
            '\u{0600}',
            '\u{115F}',
            '\u{1160}',
            '\u{17B4}',
            '\u{180E}',
            '\u{2061}',
            '\u{2064}',
            '\u{206A}',
            '\u{206F}',
            '\u{3164}',
            '\u{FE00}',
            '\u{FE0F}',
            '\u{FFA0}',
            '\u{FFF9}',
            '\u{1D173}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{E007F}',
            '\u{E0100}',
            '\u{2028}',
            '\u{2029}',
        ] {
            let shown = untrusted(&format!("ad{c}min"), 40);
            assert_eq!(shown, format!("ad\\u{{{:x}}}min", c as u32));
        }
        // Visible neighbours of those ranges stay as they are.
        for text in ["a\u{00AE}b", "\u{3165}", "\u{FFA1}", "a\u{2070}"] {
            assert_eq!(untrusted(text, 40), text);
        }
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(
            wrap("ada clicked: the idle countdown", 12),
            ["ada clicked:", "the idle", "countdown"]
        );
        assert_eq!(wrap("abcdefgh", 3), ["abc", "def", "gh"]);
        assert_eq!(wrap("", 5), [""]);
    }

    #[test]
    fn printable_text_keeps_its_lines_and_escapes_the_rest() {
        assert_eq!(
            printable("bad \u{1b}[2J\u{1b}]0;TITLE\u{7} x\nline two\tend \u{202e}"),
            "bad \\u{1b}[2J\\u{1b}]0;TITLE\\u{7} x\nline two\tend \\u{202e}"
        );
        let long = "é".repeat(5_000);
        assert_eq!(printable(&long), long, "never cut");
    }

    #[test]
    fn long_untrusted_text_is_cut_with_an_ellipsis() {
        assert_eq!(untrusted("abcdefghij", 5), "abcd…");
        assert_eq!(untrusted("abcde", 5), "abcde");
        assert_eq!(untrusted("日本語テキスト", 6), "日本…");
    }

    #[test]
    fn countdowns_round_up_so_zero_means_over() {
        assert_eq!(countdown(0), "00:00");
        assert_eq!(countdown(1), "00:01");
        assert_eq!(countdown(65_000), "01:05");
        assert_eq!(countdown(-5), "00:00");
        assert_eq!(countdown(8 * 3_600_000), "8:00:00");
        assert_eq!(countdown(24 * 3_600_000 - 1_000), "23:59:59");
        assert_eq!(countdown(24 * 3_600_000), "1d 00:00");
        assert_eq!(
            countdown(3_650 * 86_400_000 + 5 * 3_600_000 + 7 * 60_000),
            "3650d 05:07"
        );
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(15 * 60_000), "15m");
        assert_eq!(duration(8 * 3_600_000), "8h");
        assert_eq!(duration(90_000), "1m30s");
        assert_eq!(duration(250), "250ms");
    }

    #[test]
    fn gauges_clamp_their_ratio() {
        assert_eq!(bar(2.0, 4), "████");
        assert_eq!(bar(-1.0, 4), "····");
        assert_eq!(bar(f64::NAN, 4), "····");
        assert_eq!(bar(0.5, 4), "██··");
        assert_eq!(clamp_ratio(7.0), 1.0);
    }
}
