//! Events explained in plain words, for lesson mode's caption panel.
//!
//! One or two sentences per event that say what happened and why, with the
//! countdowns as they stand after it: "ada clicked: the idle countdown starts
//! again at 1:00; the absolute limit stays at 7:58". Pure functions; names
//! are escaped like every untrusted string on screen.

use chrono_tz::Tz;

use super::app::App;
use super::text::{time_of_day, untrusted};
use crate::engine::{Event, EventKind, ExpiryReason, Millis};

/// What a single event means, as a trainer would say it.
pub fn explain(app: &App, event: &Event) -> String {
    let s = &event.session;
    let user = untrusted(&s.user, 24);
    // A session the script named apart from its user (`ada-laptop`) is
    // called by that name, as the table shows it.
    let named = Some(app.name_of(s))
        .filter(|name| *name != s.user.as_str())
        .map(|name| untrusted(name, 24));
    let session = named.clone().unwrap_or_else(|| format!("{user}'s session"));
    let subject = named.clone().unwrap_or_else(|| user.clone());
    let actor = actor_name(event);
    let idle = clock_left(s.idle_timeout_ms);
    let absolute_left = clock_left(s.absolute_expires_at - event.at);
    match (event.kind, event.reason) {
        (EventKind::Created, _) => {
            let from = s
                .attribute("ip")
                .map_or(String::new(), |ip| format!(" from {}", untrusted(ip, 40)));
            let on = named
                .as_ref()
                .map_or(String::new(), |name| format!(" on {name}"));
            format!(
                "{user} logged in{on}{from}: an idle countdown of {idle} starts, and an absolute limit of {}.",
                clock_left(s.absolute_expires_at - s.created_at)
            )
        }
        (EventKind::Touched | EventKind::Renewed, _) => {
            let what = if event.kind == EventKind::Renewed {
                format!(
                    "{user}'s token was renewed: the same session {} has a new secret, and the old token no longer works.",
                    s.handle
                )
            } else if event.actor.is_some() {
                format!("{actor} made activity on {session}:")
            } else if let Some(name) = &named {
                format!("{user} clicked on {name}:")
            } else {
                format!("{user} clicked:")
            };
            let closing_first =
                s.expires_at < s.idle_expires_at && s.expires_at < s.absolute_expires_at;
            if closing_first {
                format!(
                    "{what} the idle countdown would run to {}, past the {} closing time, so the closing time is now the limit ({} left).",
                    time_of_day(s.idle_expires_at, &app.zone()),
                    closing_label(s.expires_at, &app.zone()),
                    clock_left(s.expires_at - event.at)
                )
            } else if event.kind == EventKind::Renewed {
                format!("{what} The idle countdown starts again at {idle}.")
            } else {
                format!(
                    "{what} the idle countdown starts again at {idle}; the absolute limit stays at {absolute_left}."
                )
            }
        }
        (EventKind::LoggedOut, _) => {
            let of = named
                .as_ref()
                .map_or(String::new(), |name| format!(" of {name}"));
            format!(
                "{user} logged out{of}: the session ended at once, and its token no longer works."
            )
        }
        (EventKind::Revoked, Some(ExpiryReason::Evicted)) => format!(
            "{user} logged in once more, over the limit of {}: the oldest of {user}'s sessions, {}, was evicted and ended at once.",
            limit_words(event.limit),
            named.clone().unwrap_or_else(|| s.handle.to_string())
        ),
        (EventKind::Revoked, _) => {
            format!("{actor} revoked {session}: it ended at once, whatever its countdowns said.")
        }
        (EventKind::Expired, Some(ExpiryReason::Absolute)) => format!(
            "{subject} reached the absolute limit of {}: the session ended, however active (last click {} before).",
            words(s.absolute_expires_at - s.created_at),
            words(event.at - s.last_seen_at)
        ),
        (EventKind::Expired, Some(ExpiryReason::ClosingTime)) => format!(
            "{} closing time: {session} ended.",
            closing_label(event.deadline.unwrap_or(event.at), &app.zone())
        ),
        (EventKind::Expired, _) => format!(
            "{subject} was idle for {}: the session ended.",
            words(s.idle_timeout_ms)
        ),
    }
}

/// Several endings of one kind at one instant, said once: `users` are the
/// sessions' users, `shown` the names they go by on screen (`App::name_of`).
pub fn explain_group(users: &[String], shown: &[String], event: &Event, tz: &Tz) -> String {
    let n = users.len();
    let names = names(shown);
    let actor = actor_name(event);
    let one_user = users.iter().all(|u| *u == users[0]);
    match (event.kind, event.reason) {
        (EventKind::Expired, Some(ExpiryReason::ClosingTime)) => format!(
            "{} closing time: {} still open ended at once ({names}).",
            closing_label(event.deadline.unwrap_or(event.at), tz),
            if n == 2 {
                "both sessions".to_owned()
            } else {
                format!("all {n} sessions")
            }
        ),
        (EventKind::Revoked, Some(ExpiryReason::Evicted)) => format!(
            "{n} sessions were evicted at once, each user over the limit of {} ({names}).",
            limit_words(event.limit)
        ),
        (EventKind::Revoked, _) if one_user => format!(
            "{actor} logged {} out everywhere: {} ended at once.",
            untrusted(&users[0], 24),
            if n == 2 {
                "both of their sessions".to_owned()
            } else {
                format!("all {n} of their sessions")
            }
        ),
        (EventKind::Revoked, _) => format!("{actor} revoked {n} sessions at once ({names})."),
        (EventKind::Expired, Some(ExpiryReason::Absolute)) => {
            format!("{n} sessions reached their absolute limit at once: they ended ({names}).")
        }
        (EventKind::Expired, _) => {
            format!("{n} sessions were idle for too long at once: they ended ({names}).")
        }
        _ => format!("{n} sessions ended at once ({names})."),
    }
}

/// "3 sessions per user", or "sessions per user" when the event does not say.
fn limit_words(limit: Option<u32>) -> String {
    match limit {
        Some(1) => "1 session per user".to_owned(),
        Some(n) => format!("{n} sessions per user"),
        None => "sessions per user".to_owned(),
    }
}

/// Who acted, as a sentence names them: "the trainer", "the operator", "ops-bot".
fn actor_name(event: &Event) -> String {
    match event.actor.as_deref() {
        None => "an operator".to_owned(),
        Some(a @ ("trainer" | "operator")) => format!("the {a}"),
        Some(a) => untrusted(a, 24),
    }
}

/// "The trainer …" at the start of a sentence; user names keep their case.
pub fn sentence(text: String) -> String {
    for (lower, upper) in [("the ", "The "), ("an ", "An ")] {
        if let Some(rest) = text.strip_prefix(lower) {
            return format!("{upper}{rest}");
        }
    }
    text
}

fn names(users: &[String]) -> String {
    let mut shown: Vec<String> = users.iter().take(4).map(|u| untrusted(u, 16)).collect();
    if users.len() > 4 {
        shown.push("…".to_owned());
    }
    shown.join(", ")
}

/// "18:00", or "18:00:30" when the seconds matter.
pub fn closing_label(at: Millis, tz: &Tz) -> String {
    let full = time_of_day(at, tz);
    match full.strip_suffix(":00") {
        Some(short) => short.to_owned(),
        None => full,
    }
}

/// A countdown as people read it: "1:00", "7:58", "1:02:03".
pub fn clock_left(ms: Millis) -> String {
    let s = ms.max(0).div_euclid(1000) + i64::from(ms.max(0) % 1000 != 0);
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A duration in words: "1 minute", "2 minutes 30 seconds", "8 hours".
pub fn words(ms: Millis) -> String {
    let s = ms.max(0) / 1000;
    if s == 0 {
        return format!("{} ms", ms.max(0));
    }
    let parts = [
        (s / 3600, "hour"),
        (s / 60 % 60, "minute"),
        (s % 60, "second"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if *n == 1 { "" } else { "s" }))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_countdowns_read_as_people_say_them() {
        assert_eq!(words(60_000), "1 minute");
        assert_eq!(words(150_000), "2 minutes 30 seconds");
        assert_eq!(words(8 * 3_600_000), "8 hours");
        assert_eq!(clock_left(60_000), "1:00");
        assert_eq!(clock_left(478_000), "7:58");
        assert_eq!(clock_left(3_723_000), "1:02:03");
    }
}
