//! End-to-end: the real dashboard on its embedded engine with a per-user
//! session limit from the config file. A login over the limit evicts the
//! user's oldest session, and the screen says why; the simulator's returning
//! users bring evictions on their own.

mod support;

use support::pty::{Dashboard, TempDir, assert_terminal_restored};

fn start(name: &str, config_text: &str, args: &[&str]) -> Dashboard {
    let dir = TempDir::new(name);
    let config = dir.write("config.toml", config_text);
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    Dashboard::start(&dir.0, &all, &[]).keeping(dir)
}

#[test]
fn a_third_login_over_a_limit_of_two_is_shown_as_an_eviction_with_its_reason() {
    let config = "[policy]\nmax_sessions_per_user = 2\n\n[dashboard]\nlinger = \"10m\"\n";
    let mut d = start("limit-evict", config, &["--no-sim"]);
    d.wait_text("No live sessions");
    let header = d.screen().lines().next().unwrap_or_default().to_owned();
    assert!(header.contains("max 2/user"), "{header}");
    for _ in 0..3 {
        d.login("e2e-ada");
    }
    // The events pane and the lingering row of the first session say why it ended.
    let screen = d.wait_for("the eviction", |s| {
        s.lines()
            .filter(|l| l.contains("evicted: user over 2 sessions"))
            .count()
            >= 2
    });
    assert!(
        screen.contains("✕ evicted: user over 2 sessions"),
        "the ended row: {screen}"
    );
    let log = screen
        .lines()
        .find(|l| l.contains("revoked") && l.contains("e2e-ada"))
        .unwrap_or_else(|| panic!("no revoked line in the log:\n{screen}"));
    assert!(log.contains("evicted: user over 2 sessions"), "{log}");

    // The details of a live session of hers count her sessions against the limit.
    d.press("g\r");
    let detail = d.wait_text("Esc to close");
    assert!(
        detail.contains("e2e-ada has 2 live sessions (limit 2)"),
        "{detail}"
    );
    d.press("\x1b");
    d.wait_for("the details to close", |s| !s.contains("Esc to close"));
    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
}

#[test]
fn the_simulator_with_a_limit_evicts_sessions_of_its_returning_users() {
    let config = "[policy]\nmax_sessions_per_user = 1\n\n[dashboard]\nspeed = 20.0\nlinger = \"1m\"\n\n[simulator]\nenabled = true\ninitial_logins = 6\nlogins_per_minute = 60.0\nreturning = 1.0\n";
    let d = start("limit-sim", config, &[]);
    let screen = d.wait_text("evicted: user over 1 session");
    assert!(screen.contains("max 1/user"), "{screen}");
}

#[test]
fn a_returning_share_outside_0_to_1_is_refused_naming_the_key() {
    let dir = TempDir::new("limit-bad-returning");
    let config = dir.write("config.toml", "[simulator]\nreturning = 1.5\n");
    let output = std::process::Command::new(support::pty::BIN)
        .args(["--config", config.to_str().unwrap()])
        .env("XDG_STATE_HOME", &dir.0)
        .env_remove("SESSIONTOP_CONFIG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("simulator.returning") && stderr.contains("1.5"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence: {stderr}");
}
