//! End-to-end: the real binary in a pseudo-terminal (portable-pty), its screen
//! parsed with vt100. Needs nothing installed beyond Rust. Every wait polls the
//! screen against a deadline; no test sleeps for a fixed time.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::pty::{BIN, Dashboard, TempDir, assert_terminal_restored};

const CONFIG: &str = r#"
[policy]
idle_timeout = "15m"
min_timeout = "1s"

[dashboard]
speed = 1.0
linger = "1s"

[simulator]
enabled = true
"#;

/// The dashboard with the test config file and `args`.
fn start(name: &str, args: &[&str]) -> Dashboard {
    start_with(name, CONFIG, args)
}

fn start_with(name: &str, config_text: &str, args: &[&str]) -> Dashboard {
    let dir = TempDir::new(name);
    let config = dir.write("config.toml", config_text);
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    Dashboard::start(&dir.0, &all, &[]).keeping(dir)
}

/// The idle countdown ("mm:ss") in the row of `user`.
fn countdown_of(screen: &str, user: &str) -> Option<String> {
    let line = screen
        .lines()
        .find(|l| l.contains(user) && l.contains("active"))?;
    line.split_whitespace()
        .find(|w| {
            w.len() == 5
                && w.as_bytes()[2] == b':'
                && w.bytes().filter(u8::is_ascii_digit).count() == 4
        })
        .map(str::to_owned)
}

#[test]
fn a_login_counts_down_expires_idle_and_another_is_revoked() {
    let mut d = start("lifecycle", &["--idle-timeout", "3s", "--no-sim"]);
    d.wait_text("No live sessions");
    assert!(
        d.screen().contains("idle 3s"),
        "the flag beats the config file"
    );

    // n opens a prompt with a random name; type our own instead.
    d.login("e2e-first");
    let screen = d.wait_for("the session with a countdown", |s| {
        countdown_of(s, "e2e-first").is_some()
    });
    let first = countdown_of(&screen, "e2e-first").unwrap();
    assert!(first.as_str() <= "00:03", "{first}");
    d.wait_for("the countdown to move", |s| {
        countdown_of(s, "e2e-first").is_some_and(|c| c != first)
    });

    // Nothing touches it: it expires idle, and the log says so in plain words.
    let screen = d.wait_text("expired idle");
    assert!(screen.contains("idle for 3s"), "{screen}");
    assert!(screen.contains("ms late"), "{screen}");

    // Once it has gone, log in another, pause the clock, and revoke it.
    d.wait_for("the ended session to leave", |s| {
        !s.contains("expired idle")
    });
    d.login("e2e-second");
    d.wait_for("the second session", |s| {
        countdown_of(s, "e2e-second").is_some()
    });
    d.press(" ");
    d.wait_text("PAUSED");
    d.press("r");
    d.wait_text("Revoke session");
    d.press("y");
    let screen = d.wait_text("revoked by operator");
    assert!(screen.contains("✕ revoked"), "{screen}");

    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok, "q exits successfully");
    assert_terminal_restored(&bytes);
}

#[test]
fn the_default_dashboard_shows_simulated_sessions_at_once_and_ctrl_c_restores_the_terminal() {
    let mut d = start("default", &[]);
    let started = Instant::now();
    d.wait_for("simulated sessions", |s| {
        s.contains("● active") && s.contains("logged in from")
    });
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "sessions appear at once"
    );
    d.press("?");
    d.wait_text("Keys (? or Esc to close)");
    d.press("\x1b");
    d.wait_for("help to close", |s| !s.contains("Keys (? or Esc"));
    d.press("\x03");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
}

/// Runs the binary with `config` as its config file, outside a terminal: (success, stdout, stderr).
fn run_with_config(name: &str, config: &str) -> (bool, String, String) {
    let dir = TempDir::new(name);
    let path = dir.0.join("config.toml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(BIN)
        .arg("--config")
        .arg(&path)
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
fn a_bad_config_file_is_a_clear_error_and_nothing_starts() {
    let (ok, stdout, stderr) = run_with_config("badconfig", "[policy]\nidle_timeout = \"soon\"\n");
    assert!(!ok);
    assert!(
        stderr.contains("idle_timeout") && stderr.contains("soon"),
        "{stderr}"
    );
    assert!(!stdout.contains("\x1b["), "the terminal was not touched");

    let (ok, _, stderr) = run_with_config("badkeys", "[keys]\nrevoke = [\"Hyper-x\"]\n");
    assert!(!ok);
    assert!(
        stderr.contains("keys.revoke") && stderr.contains("Hyper-x"),
        "{stderr}"
    );
}

#[test]
fn a_stdout_that_is_not_a_terminal_is_a_clear_error() {
    let dir = TempDir::new("notty");
    let output = Command::new(BIN)
        .arg("--no-sim")
        .env("XDG_STATE_HOME", &dir.0)
        .env_remove("SESSIONTOP_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("needs a terminal"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing was drawn");
}

#[test]
fn a_click_selects_a_row_and_the_wheel_scrolls() {
    let mut d = start("mouse", &["--no-sim"]);
    d.wait_text("No live sessions");
    d.login("e2e-older");
    d.login("e2e-newer");
    // Sorted by idle deadline: the newer login is on the second row (screen row 10, 1-based).
    d.press("\x1b[<0;21;10M\x1b[<0;21;10m");
    assert!(d.details_user().contains("e2e-newer"));
    // Wheel up selects the row above: the older login.
    d.press("\x1b[<64;21;10M");
    assert!(d.details_user().contains("e2e-older"));
    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
}

#[test]
fn a_bundled_scenario_shows_each_way_a_session_ends() {
    let config = "[simulator]\nscenario = \"each-way\"\n";
    let mut d = start_with("scenario", config, &["--speed", "100"]);
    d.wait_text("scenario: Four sessions");
    let screen = d.wait_for("all four endings", |s| {
        s.contains("revoked by trainer")
            && s.contains("logged out")
            && s.contains("idle for 1m")
            && s.contains("absolute limit 2m30s reached")
    });
    assert!(
        screen.contains("sim off"),
        "the random simulator stays off: {screen}"
    );
    d.press("q");
    let (ok, _) = d.wait_exit();
    assert!(ok);
}

#[test]
fn ctrl_z_gives_the_terminal_back_and_continuing_takes_it_again() {
    let mut d = start("suspend", &["--no-sim"]);
    d.wait_text("No live sessions");
    for stop in ["ctrl-z", "sigtstp"] {
        let before = d.output.lock().unwrap().0.len();
        if stop == "ctrl-z" {
            d.press("\x1a");
        } else {
            d.signal(libc::SIGTSTP);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.state() != 'T' {
            assert!(
                Instant::now() < deadline,
                "{stop}: the dashboard did not stop"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // What it wrote before stopping may still be on its way through the pty.
        loop {
            let written = d.output.lock().unwrap().0[before..].to_vec();
            let text = String::from_utf8_lossy(&written);
            if text.contains("\x1b[?1049l") && text.contains("\x1b[?25h") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{stop}: the alternate screen was not left, or the cursor not shown: {text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d.wait_for("the normal screen", |s| !s.contains("No live sessions"));
        d.signal(libc::SIGCONT);
        d.wait_text("No live sessions");
        assert_ne!(d.state(), 'T');
    }
    // Keys are read as before: no line buffering after the stop.
    d.press("?");
    d.wait_text("Esc to close");
    d.press("\x1b");
    d.wait_for("help to close", |s| !s.contains("Esc to close"));
    d.press("q");
    let (ok, _) = d.wait_exit();
    assert!(ok);
}

/// A signal from outside ends the dashboard with the terminal restored, and
/// with the status a shell gives a program that signal ended (128 + its
/// number), so a script can tell it from a quit.
#[test]
fn sigterm_sighup_sigint_and_sigquit_restore_the_terminal_too() {
    for (name, signal) in [
        ("sigterm", libc::SIGTERM),
        ("sighup", libc::SIGHUP),
        ("sigint", libc::SIGINT),
        ("sigquit", libc::SIGQUIT),
    ] {
        let d = start(name, &["--no-sim"]);
        d.wait_text("No live sessions");
        d.signal(signal);
        let (code, bytes) = d.wait_exit_code();
        assert_eq!(code, 128 + signal as u32, "{name} ends the dashboard");
        assert_terminal_restored(&bytes);
    }
}
