//! End-to-end: `sessiontop lesson` in a pseudo-terminal. Each bundled lesson
//! is played with the step key: its captions appear in order and it ends
//! with the replay prompt. A recording replays to the same final screen.
//! Bad lesson files are refused with the step and the field named.

mod support;

use std::num::NonZeroU16;
use std::process::{Command, Stdio};
use std::time::Duration;

use sessiontop::sim::lesson::Lesson;
use support::pty::{BIN, Dashboard, TempDir, assert_terminal_restored};

const FINISHED: &str = "lesson finished: r replay · q quit";

/// What changes on screen with every step: the progress and the clock.
fn progress(screen: &str) -> (String, String) {
    let step = screen
        .find("· step ")
        .or_else(|| screen.find("· all "))
        .map(|i| screen[i..].chars().take(20).collect())
        .unwrap_or_default();
    let clock = screen
        .find("clock ")
        .map(|i| screen[i..].chars().take(14).collect())
        .unwrap_or_default();
    (step, clock)
}

/// The screen's text with the panel borders and line breaks taken out, so a
/// caption wrapped over two lines reads as one.
fn flat(screen: &str) -> String {
    screen
        .lines()
        .map(|l| l.trim_matches(|c: char| c == '│' || c.is_whitespace()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Plays a bundled lesson with the step key in a `cols` x `rows` terminal;
/// returns every screen seen, one per press.
fn play(name: &str, size: (u16, u16), extra: &[&str]) -> (Dashboard, Vec<String>) {
    let lesson = Lesson::bundled(name).unwrap();
    let dir = TempDir::new(&format!("lesson-{name}-{}", size.0));
    let mut args = vec!["lesson", name];
    args.extend_from_slice(extra);
    let mut d = Dashboard::start_sized(&dir.0, &args, &[], size).keeping(dir);
    d.wait_text(&format!("step 0 of {}", lesson.steps.len()));
    let mut screens = Vec::new();
    while !screens
        .last()
        .is_some_and(|s: &String| s.contains(FINISHED))
    {
        assert!(
            screens.len() < 80,
            "{name} does not finish:\n{}",
            d.screen()
        );
        let before = progress(&d.screen());
        d.press("s");
        d.wait_for("the step to show", |s| progress(s) != before);
        // A step lands over a frame or two (its note, the clock, the endings
        // it brought), then the paused lesson holds still.
        screens.push(d.wait_still("the frame to settle", Duration::from_millis(200)));
    }
    (d, screens)
}

/// The press at which each text first shows, in order; panics if one never does.
fn first_seen(screens: &[String], texts: &[String]) -> Vec<usize> {
    texts
        .iter()
        .map(|text| {
            screens
                .iter()
                .position(|s| flat(s).contains(text.as_str()))
                .unwrap_or_else(|| {
                    panic!(
                        "never shown: {text:?}\nlast screen:\n{}",
                        screens.last().unwrap()
                    )
                })
        })
        .collect()
}

fn plays_with_captions_in_order(name: &str, event_captions: &[&str]) {
    let lesson = Lesson::bundled(name).unwrap();
    let (mut d, screens) = play(name, (120, 40), &[]);
    // The script's captions, each in full, each no earlier than the one before.
    let scripted: Vec<String> = lesson
        .steps
        .iter()
        .filter_map(|s| s.caption.clone())
        .collect();
    let seen = first_seen(&screens, &scripted);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "{name}: out of order {seen:?}"
    );
    let explained: Vec<String> = event_captions.iter().map(|s| s.to_string()).collect();
    let seen = first_seen(&screens, &explained);
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "{name}: out of order {seen:?}"
    );
    assert!(
        screens.iter().all(|s| !s.contains("ms late")),
        "a lesson hides lateness"
    );
    // r replays from the top, pausing after endings or not as the trainer
    // last chose (p).
    d.press("p");
    d.press("r");
    d.wait_text(&format!("step 0 of {}", lesson.steps.len()));
    let replayed = d.wait_still("the replay's first frame", Duration::from_millis(200));
    assert_eq!(
        replayed.contains("pauses after endings"),
        !lesson.auto_pause,
        "{replayed}"
    );
    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
}

#[test]
fn idle_vs_absolute_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "idle-vs-absolute",
        &[
            "ada logged in from 192.0.2.10: an idle countdown of 1:00 starts, and an absolute limit of 3:00.",
            "ada clicked: the idle countdown starts again at 1:00; the absolute limit stays at 2:40.",
            "grace was idle for 1 minute: the session ended.",
            "linus was idle for 1 minute: the session ended.",
            "ada reached the absolute limit of 3 minutes: the session ended, however active",
        ],
    );
}

#[test]
fn closing_time_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "closing-time",
        &[
            "Closing time is now 18:00",
            "ada clicked: the idle countdown would run to 18:00:10, past the 18:00 closing time, so the closing time is now the limit (2:50 left).",
            "ken was idle for 3 minutes: the session ended.",
            "18:00 closing time: all 7 sessions still open ended at once",
        ],
    );
}

#[test]
fn at_100x30_each_step_shows_its_newest_explanation_at_once_and_in_order() {
    let (mut d, screens) = play("renewal", (100, 30), &[]);
    let renew = screens
        .iter()
        .map(|s| flat(s))
        .find(|s| s.contains("step 4 of"))
        .expect("the renewal step");
    let renewed = renew
        .find("ada's token was renewed")
        .unwrap_or_else(|| panic!("the renewal is not explained at once:\n{renew}"));
    let refused = renew
        .find("The old token was tried again and refused")
        .unwrap_or_else(|| panic!("the old token's refusal:\n{renew}"));
    assert!(renewed < refused, "in the order it happened:\n{renew}");
    d.press("q");
    assert!(d.wait_exit().0);
}

#[test]
fn revocation_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "revocation",
        &[
            "The trainer revoked bob-stolen: it ended at once, whatever its countdowns said.",
            "The trainer logged bob out everywhere: both of their sessions ended at once.",
            "alice logged out: the session ended at once",
        ],
    );
}

#[test]
fn renewal_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "renewal",
        &[
            "The old token was tried again and refused: only the new one works.",
            "ada's token was renewed: the same session",
            "grace was idle for 2 minutes: the session ended.",
            "ada logged out: the session ended at once",
        ],
    );
}

#[test]
fn session_limit_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "session-limit",
        &[
            "ada logged in on ada-laptop from 192.0.2.10: an idle countdown of 3:00 starts",
            "ada logged in once more, over the limit of 3 sessions per user: the oldest of ada's sessions, ada-laptop, was evicted",
            "ada-laptop clicks, but ada-laptop's session has already ended.",
            "ada logged out of ada-phone: the session ended at once",
            "2 sessions were idle for too long at once: they ended",
        ],
    );
}

#[test]
fn session_limit_shows_the_limit_and_the_eviction_at_a_projectors_size() {
    let (mut d, screens) = play("session-limit", (80, 24), &["--theme", "projector"]);
    assert!(
        screens
            .iter()
            .all(|s| s.lines().next().unwrap_or_default().contains("max 3/user")),
        "the header shows the limit throughout"
    );
    assert!(
        screens
            .iter()
            .any(|s| s.contains("evicted: user over 3 sessions")),
        "the eviction's reason is on screen:\n{}",
        screens.last().unwrap()
    );
    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
}

#[test]
fn each_way_plays_with_its_captions_in_order() {
    plays_with_captions_in_order(
        "each-way",
        &[
            "grace was idle for 1 minute: the session ended.",
            "ada logged out: the session ended at once",
            "The trainer revoked mallory's session",
            "linus reached the absolute limit of 4 minutes",
        ],
    );
}

#[test]
fn a_recording_is_asciicast_v2_and_replays_to_the_same_final_screen() {
    let dir = TempDir::new("lesson-cast");
    let cast = dir.0.join("each-way.cast");
    let cast_arg = cast.to_str().unwrap().to_owned();
    let (mut d, _) = play("each-way", (80, 24), &["--record", &cast_arg]);
    // Once the status line has gone, the paused screen no longer changes.
    let last = d.wait_for("a quiet footer", |s| {
        // A finished lesson's footer offers no step, and holds no status.
        s.contains(FINISHED)
            && s.lines()
                .last()
                .is_some_and(|l| l.starts_with(" Enter details") && !l.contains("s step"))
    });
    d.press("q");
    let (ok, _) = d.wait_exit();
    assert!(ok);

    let text = std::fs::read_to_string(&cast).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(header["width"], 80);
    assert_eq!(header["height"], 24);
    assert!(header["timestamp"].as_u64().unwrap() > 1_700_000_000);
    let mut parser = vt100::Parser::new(
        NonZeroU16::new(24).unwrap(),
        NonZeroU16::new(80).unwrap(),
        0,
    );
    let mut previous = 0.0;
    let mut outputs = 0;
    let mut drawn = String::new();
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        let time = event[0].as_f64().expect("a time in seconds");
        assert!(time >= previous, "times only go forward");
        previous = time;
        let data = event[2].as_str().expect("text");
        match event[1].as_str().unwrap() {
            "o" => {
                parser.process(data.as_bytes());
                outputs += 1;
                if parser.screen().alternate_screen() {
                    drawn = parser.screen().contents();
                }
            }
            "r" => {}
            other => panic!("unknown event code {other}"),
        }
    }
    assert!(outputs > 10, "one output per frame");
    assert_eq!(drawn, last, "the replay ends on the screen the room saw");
    // Then it leaves the dashboard's screen, as the dashboard did, so the
    // player's terminal gets its own back.
    assert!(!parser.screen().alternate_screen());
    assert!(!parser.screen().hide_cursor(), "the cursor shown again");
    drop(dir);
}

/// Runs `sessiontop lesson ARGS` without a terminal, in `dir`: (success, stdout, stderr).
fn lesson_command(dir: &TempDir, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .arg("lesson")
        .args(args)
        .current_dir(&dir.0)
        .env("XDG_STATE_HOME", &dir.0)
        .env_remove("SESSIONTOP_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn lesson_alone_lists_the_bundled_lessons_one_line_each() {
    let dir = TempDir::new("lesson-list");
    let (ok, stdout, _) = lesson_command(&dir, &[]);
    assert!(ok);
    for name in [
        "idle-vs-absolute",
        "closing-time",
        "revocation",
        "renewal",
        "session-limit",
        "each-way",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        assert!(line.len() > name.len() + 10, "{line}");
    }
    assert!(
        stdout.contains(
            "Keys: s step · Space pause/go on · p pause after endings · +/- speed · q quit."
        ),
        "{stdout}"
    );
    // The keys as the config binds them.
    let config = dir.0.join("keys.toml");
    std::fs::write(&config, "[keys]\nstep = [\"t\"]\nquit = [\"Q\"]\n").unwrap();
    let (ok, stdout, _) = lesson_command(&dir, &["--config", config.to_str().unwrap()]);
    assert!(ok);
    assert!(
        stdout.contains("Keys: t step ·") && stdout.contains("· Q quit."),
        "{stdout}"
    );
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("lesson"));
}

#[test]
fn a_bad_lesson_file_names_the_step_and_the_field_and_nothing_starts() {
    let dir = TempDir::new("lesson-bad");
    let cases = [
        (
            "unknown.toml",
            "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nwave = \"ada\"\n",
            ["step 2", "unknown field \"wave\""],
        ),
        (
            "duration.toml",
            "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nat = \"a while\"\nlogout = \"ada\"\n",
            [
                "step 2 (logout = \"ada\"), at",
                "\"a while\" is not a duration",
            ],
        ),
        (
            "past.toml",
            "title = \"t\"\n[[step]]\nlogin = \"ada\"\n[[step]]\nat = \"1m\"\nclosing_time = \"-30s\"\n",
            [
                "step 2 (closing_time = \"-30s\"), closing_time",
                "is in the past",
            ],
        ),
    ];
    for (file, text, needles) in cases {
        dir.write(file, text);
        // A relative path resolves from the current directory.
        let (ok, stdout, stderr) = lesson_command(&dir, &[file]);
        assert!(!ok, "{file}");
        for needle in needles {
            assert!(stderr.contains(needle), "{file}: {needle} not in {stderr}");
        }
        assert!(stderr.contains(file), "the file is named: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
        assert!(!stdout.contains("\x1b["), "the terminal was not touched");
    }
}

#[test]
fn a_flag_that_would_change_the_lessons_own_policy_is_refused_and_nothing_starts() {
    let dir = TempDir::new("lesson-flags");
    for (args, flag) in [
        (
            &["idle-vs-absolute", "--idle-timeout", "5m"][..],
            "--idle-timeout",
        ),
        (
            &["idle-vs-absolute", "--closing-time", "09:02"][..],
            "--closing-time",
        ),
        (
            &["renewal", "--absolute-timeout", "1h"][..],
            "--absolute-timeout",
        ),
    ] {
        let (ok, stdout, stderr) = lesson_command(&dir, args);
        assert!(!ok, "{args:?}");
        assert!(
            stderr.contains(&format!("{flag} does not apply to `sessiontop lesson`")),
            "{stderr}"
        );
        assert!(stderr.contains("[policy]"), "says where it goes: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
        assert!(stdout.is_empty(), "nothing started: {stdout}");
    }
}
