use std::collections::BTreeSet;
use std::sync::Arc;

use super::player::Stepped;
use super::*;
use crate::engine::driver::{Delivery, DriverConfig};
use crate::engine::{EngineHandle, EventKind, Millis, VirtualClock};

const START: Millis = 1_795_683_600_000;

fn engine_for(lesson: &Lesson) -> EngineHandle {
    let clock = Arc::new(VirtualClock::paused_at(START));
    EngineHandle::spawn(
        lesson.policy(chrono_tz::UTC),
        clock,
        DriverConfig::default(),
    )
}

/// Plays a lesson with the step key to its end; returns the ending instants
/// and the kinds of every event, in order.
fn play_with_step_key(lesson: &Lesson) -> (Vec<Millis>, Vec<EventKind>, usize) {
    let engine = engine_for(lesson);
    let mut subscription = engine.snapshot().subscription;
    let mut player = Player::new(engine.clone(), lesson, START);
    let mut presses = 0;
    while player.step() != Stepped::Nothing {
        presses += 1;
        assert!(presses < 500, "{} never ends", lesson.name);
    }
    assert!(player.finished());
    assert_eq!(
        engine.stats().active,
        0,
        "{} leaves sessions live",
        lesson.name
    );
    let mut endings = Vec::new();
    let mut kinds = Vec::new();
    while let Some(Delivery::Event(event)) = subscription.try_next() {
        if event.kind.is_end() {
            endings.push(event.at);
        }
        kinds.push(event.kind);
    }
    (endings, kinds, presses)
}

#[test]
fn every_bundled_lesson_parses_and_is_listed() {
    let listing = listing("s step");
    for (name, _) in BUNDLED {
        let lesson = Lesson::bundled(name).unwrap();
        assert!(!lesson.steps.is_empty(), "{name}");
        assert!(
            listing.contains(&format!("  {name:<18} {}", lesson.summary)),
            "{listing}"
        );
    }
    assert_eq!(
        listing.lines().filter(|l| l.starts_with("  ")).count(),
        BUNDLED.len()
    );
    assert_eq!(BUNDLED.len(), 6);
}

#[tokio::test]
async fn every_bundled_lesson_ends_every_session_with_endings_20_real_seconds_apart() {
    for (name, _) in BUNDLED {
        let lesson = Lesson::bundled(name).unwrap();
        let (endings, _, _) = play_with_step_key(&lesson);
        assert!(!endings.is_empty(), "{name}");
        let instants: BTreeSet<Millis> = endings.iter().copied().collect();
        let mut previous = START;
        for at in instants {
            let real_s = (at - previous) as f64 / 1000.0 / lesson.speed;
            assert!(
                real_s >= 20.0,
                "{name}: an ending comes {real_s} s of real time after the one before"
            );
            previous = at;
        }
    }
}

#[tokio::test]
async fn the_lessons_teach_what_they_say() {
    let kinds = |name: &str| play_with_step_key(&Lesson::bundled(name).unwrap()).1;
    let renewal = kinds("renewal");
    assert!(renewal.contains(&EventKind::Renewed));
    let revocation = kinds("revocation");
    assert_eq!(
        revocation
            .iter()
            .filter(|k| **k == EventKind::Revoked)
            .count(),
        3,
        "the stolen session, then bob's laptop and phone"
    );
    let limit = Lesson::bundled("session-limit").unwrap();
    assert_eq!(limit.max_sessions_per_user, Some(3));
    let (_, kinds, _) = play_with_step_key(&limit);
    assert_eq!(
        kinds.iter().filter(|k| **k == EventKind::Revoked).count(),
        1,
        "one eviction: the fourth login of ada"
    );
    let (endings, _, _) = play_with_step_key(&Lesson::bundled("closing-time").unwrap());
    let last = *endings.last().unwrap();
    assert_eq!(
        endings.iter().filter(|at| **at == last).count(),
        7,
        "seven sessions end at the one closing instant"
    );
}

#[tokio::test]
async fn a_renewal_retires_the_old_token() {
    let lesson = Lesson::bundled("renewal").unwrap();
    let engine = engine_for(&lesson);
    let mut player = Player::new(engine, &lesson, START);
    let caption = loop {
        match player.step() {
            Stepped::Played(played)
                if played
                    .note
                    .as_deref()
                    .is_some_and(|c| c.contains("old token")) =>
            {
                let (before, after) = played.events.unwrap();
                assert_eq!(after, before + 1, "the renewal's event, before the note");
                break played.note.unwrap();
            }
            Stepped::Nothing => panic!("no renewal step"),
            _ => {}
        }
    };
    assert!(caption.contains("refused"), "{caption}");
}

#[tokio::test]
async fn the_step_key_stops_at_an_ending_before_the_next_step() {
    let lesson = Lesson::parse(
        "t",
        r#"
title = "t"
[policy]
idle_timeout = "1m"
[[step]]
login = "ada"
[[step]]
at = "5m"
caption = "later"
"#,
    )
    .unwrap();
    let engine = engine_for(&lesson);
    let mut player = Player::new(engine.clone(), &lesson, START);
    assert!(matches!(player.step(), Stepped::Played(p) if p.number == 1));
    assert_eq!(player.step(), Stepped::Ending(START + 60_000));
    assert_eq!(engine.now(), START + 60_000);
    assert!(matches!(player.step(), Stepped::Played(p) if p.number == 2));
    assert_eq!(engine.now(), START + 5 * 60_000);
    assert_eq!(player.step(), Stepped::Nothing);
}

/// A running lesson plays its steps when a frame finds them due: a frame
/// that comes late (a slow machine, a high speed) must not make them late.
#[tokio::test]
async fn a_running_lesson_plays_each_step_at_its_scripted_instant_however_late_the_frame() {
    let lesson = Lesson::bundled("idle-vs-absolute").unwrap();
    let engine = engine_for(&lesson);
    let mut subscription = engine.snapshot().subscription;
    let mut player = Player::new(engine.clone(), &lesson, START);
    engine.adjust_clock(|c| c.set_paused(false));
    let mut paused_at = Vec::new();
    while !player.finished() {
        // A frame 450 ms of clock time after the last: the step falls between.
        engine.adjust_clock(|c| c.step(std::time::Duration::from_millis(450)));
        player.play_due(engine.now());
        if engine.virtual_clock().unwrap().is_paused() {
            paused_at.push(engine.now() - START);
            engine.adjust_clock(|c| c.set_paused(false));
        }
    }
    assert_eq!(
        paused_at,
        [0, 50_000, 150_000],
        "the steps that pause, at their own instants"
    );
    let mut touched = Vec::new();
    let mut created = Vec::new();
    while let Some(Delivery::Event(event)) = subscription.try_next() {
        match event.kind {
            EventKind::Created => created.push(event.at - START),
            EventKind::Touched => touched.push((event.session.user.to_string(), event.at - START)),
            _ => {}
        }
    }
    assert_eq!(created, [0, 0, 0], "the logins at 0s");
    assert!(
        touched.contains(&("linus".to_owned(), 50_000)),
        "linus clicks at 50s exactly: {touched:?}"
    );
    assert!(
        touched.iter().all(|(_, at)| at % 10_000 == 0),
        "every click on its scripted second: {touched:?}"
    );
}

#[tokio::test]
async fn a_closing_time_step_sets_it_relative_to_the_step() {
    let lesson = Lesson::parse(
        "t",
        "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nat = \"1m\"\nclosing_time = \"+2m\"\n",
    )
    .unwrap();
    let engine = engine_for(&lesson);
    let mut player = Player::new(engine.clone(), &lesson, START);
    player.step();
    let Stepped::Played(played) = player.step() else {
        panic!("the closing step")
    };
    assert_eq!(played.closing_at, Some(Some(START + 3 * 60_000)));
    assert!(played.note.unwrap().contains("Closing time is now"));
    assert_eq!(player.step(), Stepped::Ending(START + 3 * 60_000));
}

fn error(text: &str) -> String {
    Lesson::parse("t", text).unwrap_err()
}

#[test]
fn an_unknown_step_field_is_named_with_its_step() {
    let err = error("title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\njump = \"ada\"\n");
    assert!(err.starts_with("step 2"), "{err}");
    assert!(err.contains("unknown field \"jump\""), "{err}");
}

#[test]
fn a_bad_duration_is_named_with_its_step_and_field() {
    let err = error("title = \"t\"\n[[step]]\nat = \"soon\"\nlogin = \"ada\"\n");
    assert!(err.starts_with("step 1"), "{err}");
    assert!(err.contains("at: \"soon\" is not a duration"), "{err}");
    let err = error(
        "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nlogin = \"bob\"\nidle_timeout = \"5 parsecs\"\n",
    );
    assert!(
        err.starts_with("step 2 (login = \"bob\"), idle_timeout"),
        "{err}"
    );
}

#[test]
fn a_relative_closing_time_in_the_past_is_named_with_its_step_and_field() {
    let err = error("title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nclosing_time = \"-2m\"\n");
    assert!(err.starts_with("step 2"), "{err}");
    assert!(
        err.contains("closing_time: \"-2m\" is in the past"),
        "{err}"
    );
    let err = error("title = \"t\"\n[[step]]\nclosing_time = \"18:00\"\n");
    assert!(
        err.contains("closing_time: \"18:00\" is not relative"),
        "{err}"
    );
}

#[test]
fn steps_are_checked_against_the_steps_above() {
    let err = error("title = \"t\"\n[[step]]\ntouch = \"ada\"\n");
    assert!(
        err.contains("no step above logs in a session named \"ada\""),
        "{err}"
    );
    let err = error("title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nlogin = \"ada\"\n");
    assert!(
        err.contains("step 2") && err.contains("already logged in"),
        "{err}"
    );
    let err = error(
        "title = \"t\"\n[[step]]\nat = \"1m\"\nlogin = \"ada\"\n[[step]]\nat = \"30s\"\nlogout = \"ada\"\n",
    );
    assert!(
        err.contains("step 2") && err.contains("time order"),
        "{err}"
    );
    let err = error("title = \"t\"\n[[step]]\nlogin = \"ada\"\ntouch = \"ada\"\n");
    assert!(err.contains("give each its own step"), "{err}");
    assert!(error("[[step]]\nlogin = \"a\"\n").contains("title"));
}

#[test]
fn a_missing_lesson_names_the_bundled_ones() {
    let err = Lesson::load("no-such-lesson", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("idle-vs-absolute") && err.contains("each-way"),
        "{err}"
    );
}

#[tokio::test]
async fn a_login_over_the_lessons_limit_evicts_the_oldest_session_with_its_reason() {
    let lesson = Lesson::bundled("session-limit").unwrap();
    let engine = engine_for(&lesson);
    let mut subscription = engine.snapshot().subscription;
    let mut player = Player::new(engine.clone(), &lesson, START);
    while player.step() != Stepped::Nothing {}
    let mut evicted = Vec::new();
    let mut created = Vec::new();
    while let Some(Delivery::Event(event)) = subscription.try_next() {
        match event.kind {
            EventKind::Created => created.push(event.session.handle),
            EventKind::Revoked => evicted.push(event),
            _ => {}
        }
    }
    assert_eq!(evicted.len(), 1);
    let eviction = &evicted[0];
    assert_eq!(eviction.reason, Some(crate::engine::EndReason::Evicted));
    assert_eq!(eviction.limit, Some(3));
    assert_eq!(
        eviction.session.handle, created[0],
        "the laptop, ada's first login, goes"
    );
    assert_eq!(eviction.at, START + 60_000);
}

#[test]
fn a_lesson_limit_is_checked_and_frees_the_evicted_sessions_name() {
    let base = "title = \"t\"\n[policy]\nmax_sessions_per_user = 1\n[[step]]\nlogin = \"ada\"\n[[step]]\nlogin = \"ada\"\nsession = \"ada-2\"\n";
    // The first session was evicted by the second: its name may log in again.
    let lesson = Lesson::parse(
        "t",
        &format!("{base}[[step]]\nlogin = \"ada-x\"\nsession = \"ada\"\n"),
    )
    .unwrap();
    assert_eq!(lesson.policy(chrono_tz::UTC).max_sessions_per_user, Some(1));
    let err = Lesson::parse(
        "t",
        "title = \"t\"\n[policy]\nmax_sessions_per_user = 0\n[[step]]\nlogin = \"ada\"\n",
    )
    .unwrap_err();
    assert!(
        err.contains("policy.max_sessions_per_user = 0 is not a whole number from 1 to"),
        "{err}"
    );
    let err = Lesson::parse(
        "t",
        "title = \"t\"\n[policy]\non_limit = \"kick\"\n[[step]]\nlogin = \"ada\"\n",
    )
    .unwrap_err();
    assert!(err.contains("policy.on_limit = \"kick\""), "{err}");
}

#[test]
fn a_policy_value_out_of_bounds_is_refused_in_the_words_config_toml_gets() {
    let dir = std::env::temp_dir().join(format!("sessiontop-lesson-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.toml");
    for (key, value) in [
        ("idle_timeout", "100days"),
        ("absolute_timeout", "1ms"),
        ("idle_timeout", "99999999999999999999days"),
    ] {
        std::fs::write(&config, format!("[policy]\n{key} = \"{value}\"\n")).unwrap();
        let from_config = crate::config::Config::from_file(&config, crate::config::Uses::Dashboard)
            .and_then(|c| c.validate(crate::config::Uses::Dashboard))
            .unwrap_err()
            .to_string();
        let from_lesson = error(&format!(
            "title = \"t\"\n[policy]\n{key} = \"{value}\"\n[[step]]\nlogin = \"ada\"\n"
        ));
        assert_eq!(from_lesson, from_config);
        assert!(from_lesson.contains(&format!("{value:?}")), "{from_lesson}");
    }
    assert_eq!(
        error("title = \"t\"\n[policy]\nidle_timeout = \"100days\"\n[[step]]\nlogin = \"ada\"\n"),
        "policy.idle_timeout = \"100days\" is more than allowed (1day, policy.max_idle_timeout)"
    );
    // The bound it names can be moved in the lesson, as in config.toml.
    let lesson = Lesson::parse(
        "t",
        "title = \"t\"\n[policy]\nidle_timeout = \"2days\"\nmax_idle_timeout = \"3days\"\n[[step]]\nlogin = \"ada\"\nidle_timeout = \"50h\"\n",
    )
    .unwrap();
    assert_eq!(
        lesson.idle_timeout,
        std::time::Duration::from_secs(2 * 86_400)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_step_past_thirty_days_is_refused_not_played_into_an_overflowed_clock() {
    let err = error(
        "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nat = \"500000000years\"\nlogin = \"bob\"\n",
    );
    assert!(err.starts_with("step 2"), "{err}");
    assert!(
        err.contains("at: \"500000000years\" is later than a lesson may run (30 days)"),
        "{err}"
    );
    assert!(
        Lesson::parse(
            "t",
            "title = \"t\"\n[[step]]\nat = \"30days\"\nlogin = \"ada\"\n"
        )
        .is_ok()
    );
}
