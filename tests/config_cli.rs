//! How a command line, the environment and config.toml become one config:
//! what beats what, which mode checks which section, and the sentences a
//! mistake gets. Library tests build the environment from a map; binary
//! tests run the real `sessiontop` with a clean environment.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use clap::Parser;
use secrecy::ExposeSecret;
use sessiontop::cli::Cli;
use sessiontop::config::{Config, Environment, Fsync};
use sessiontop::store::StoreUrl;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "sessiontop-config-cli-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env(vars: &[(&str, &str)]) -> Environment {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Environment::from_lookup(|name| vars.get(name).cloned())
}

fn load(args: &[&str], env: &Environment) -> Result<Config, String> {
    let mut argv = vec!["sessiontop"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .load_config(env)
        .map_err(|e| e.to_string())
}

#[test]
fn flags_beat_the_environment_which_beats_the_file() {
    let dir = TempDir::new("order");
    let file = dir.write(
        "c.toml",
        "[policy]\nidle_timeout = \"5m\"\nabsolute_timeout = \"2h\"\n[server]\nlisten = \"127.0.0.1:1111\"\n",
    );
    let file = file.to_str().unwrap();
    let vars = env(&[
        ("SESSIONTOP_CONFIG", file),
        ("SESSIONTOP_IDLE_TIMEOUT", "7m"),
        ("SESSIONTOP_LISTEN", "127.0.0.1:2222"),
    ]);
    let config = load(&["serve", "--store", "memory"], &vars).unwrap();
    assert_eq!(config.policy.idle_timeout, Duration::from_secs(7 * 60));
    assert_eq!(
        config.policy.absolute_timeout,
        Duration::from_secs(2 * 3600)
    );
    assert_eq!(config.server.listen, "127.0.0.1:2222");
    let config = load(
        &[
            "serve",
            "--store",
            "memory",
            "--listen",
            "127.0.0.1:3333",
            "--idle-timeout",
            "9m",
        ],
        &vars,
    )
    .unwrap();
    assert_eq!(config.policy.idle_timeout, Duration::from_secs(9 * 60));
    assert_eq!(config.server.listen, "127.0.0.1:3333");
}

#[test]
fn token_variables_beat_the_file_and_stay_secret() {
    let dir = TempDir::new("tokens");
    let file = dir.write(
        "c.toml",
        "[server]\napp_token = \"file-app-token-0123456789\"\n",
    );
    let vars = env(&[
        ("SESSIONTOP_CONFIG", file.to_str().unwrap()),
        ("SESSIONTOP_APP_TOKEN", "env-app-token-0123456789"),
        ("SESSIONTOP_ADMIN_TOKEN", "env-admin-token-0123456789"),
        ("SESSIONTOP_TOKEN", "dashboard-token-0123456789"),
    ]);
    let config = load(&["serve", "--store", "memory"], &vars).unwrap();
    let exposed =
        |t: &Option<secrecy::SecretString>| t.as_ref().unwrap().expose_secret().to_owned();
    assert_eq!(
        exposed(&config.server.app_token),
        "env-app-token-0123456789"
    );
    assert_eq!(
        exposed(&config.server.admin_token),
        "env-admin-token-0123456789"
    );
    assert_eq!(
        exposed(&config.dashboard.token),
        "dashboard-token-0123456789"
    );
    let debug = format!("{config:?} {vars:?}");
    assert!(!debug.contains("-token-0123456789"), "{debug}");
}

#[test]
fn serve_keeps_sessions_in_the_state_directory_unless_told_otherwise() {
    let mut vars = env(&[]);
    vars.state_dir = Some(PathBuf::from("/home/ada/.local/state"));
    let config = load(&["serve"], &vars).unwrap();
    assert_eq!(
        config.store.url,
        Some(StoreUrl::File(
            "/home/ada/.local/state/sessiontop/sessions.db".into()
        ))
    );
    assert_eq!(config.store.fsync, Fsync::EverySec);

    let config = load(&["serve", "--store", "memory"], &vars).unwrap();
    assert_eq!(config.store.url, Some(StoreUrl::Memory));

    let mut vars = env(&[("SESSIONTOP_STORE", "file:~/s.db")]);
    vars.home = Some(PathBuf::from("/home/ada"));
    let config = load(&["serve"], &vars).unwrap();
    assert_eq!(
        config.store.url,
        Some(StoreUrl::File("/home/ada/s.db".into()))
    );
    // The flag beats the variable.
    let config = load(&["serve", "--store", "redis://127.0.0.1:6379/0"], &vars).unwrap();
    assert!(matches!(config.store.url, Some(StoreUrl::Redis(_))));

    // The dashboard's embedded engine is not given a file.
    let config = load(&["--no-sim"], &vars).unwrap();
    assert!(matches!(config.store.url, Some(StoreUrl::File(_))));
    let config = load(&["--no-sim"], &env(&[])).unwrap();
    assert_eq!(config.store.url, None);
}

#[test]
fn the_time_zone_defaults_to_the_hosts_and_the_file_beats_it() {
    let config = load(&["--no-sim"], &env(&[("TZ", "Asia/Tokyo")])).unwrap();
    assert_eq!(config.policy.time_zone, Some(chrono_tz::Asia::Tokyo));
    let config = load(&["--no-sim"], &env(&[("TZ", "EST5EDT,M3.2.0,M11.1.0x")])).unwrap();
    assert_eq!(config.policy.time_zone, Some(chrono_tz::UTC));
    let dir = TempDir::new("tz");
    let file = dir.write("c.toml", "[policy]\ntime_zone = \"Europe/Lisbon\"\n");
    let config = load(
        &["--no-sim"],
        &env(&[
            ("TZ", "Asia/Tokyo"),
            ("SESSIONTOP_CONFIG", file.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(config.policy.time_zone, Some(chrono_tz::Europe::Lisbon));
}

#[test]
fn a_tz_that_is_no_iana_name_is_warned_about_naming_tz_and_the_fallback() {
    for tz in ["CET-1CEST", "Nowhere/Land"] {
        let config = load(&["--no-sim"], &env(&[("TZ", tz)])).unwrap();
        assert_eq!(config.policy.time_zone, Some(chrono_tz::UTC));
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        let warning = &config.warnings[0];
        assert!(
            warning.starts_with(&format!("TZ={tz} is not an IANA time zone name"))
                && warning.contains("read in UTC")
                && warning.contains("[policy] time_zone"),
            "{warning}"
        );
    }
    // A zone set in the file is not the host's: nothing to warn about.
    let dir = TempDir::new("tz-warn");
    let file = dir.write("c.toml", "[policy]\ntime_zone = \"Europe/Lisbon\"\n");
    let config = load(
        &["serve", "--store", "memory"],
        &env(&[
            ("TZ", "CET-1CEST"),
            ("SESSIONTOP_CONFIG", file.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(config.warnings, Vec::<String>::new());
}

#[test]
fn an_out_of_range_timeout_is_echoed_as_the_flag_or_variable_gave_it() {
    let serve = ["serve", "--store", "memory"];
    let err = load(
        &[&serve[..], &["--idle-timeout", "60days"]].concat(),
        &env(&[]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "--idle-timeout 60days is more than allowed (1day, policy.max_idle_timeout)"
    );
    let err = load(
        &[&serve[..], &["--absolute-timeout", "1y"]].concat(),
        &env(&[]),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "--absolute-timeout 1y is more than allowed (30days, policy.max_absolute_timeout)"
    );
    let err = load(&serve, &env(&[("SESSIONTOP_IDLE_TIMEOUT", "45days")])).unwrap_err();
    assert_eq!(
        err,
        "SESSIONTOP_IDLE_TIMEOUT=45days is more than allowed (1day, policy.max_idle_timeout)"
    );
    let err = load(&["--idle-timeout", "999999999999y"], &env(&[])).unwrap_err();
    assert_eq!(
        err,
        "--idle-timeout 999999999999y is more than allowed (1day, policy.max_idle_timeout)"
    );
    let err = load(&["--idle-timeout", "0s"], &env(&[])).unwrap_err();
    assert_eq!(
        err,
        "--idle-timeout 0s is less than allowed (1s, policy.min_timeout)"
    );
}

#[test]
fn a_dashboard_flag_before_serve_is_refused_and_a_lesson_takes_a_theme() {
    let err = load(&["--theme", "projector", "serve"], &env(&[])).unwrap_err();
    assert!(
        err.contains("--theme is a dashboard flag") && err.contains("serve"),
        "{err}"
    );
    let err = load(&["serve", "--theme", "projector"], &env(&[])).unwrap_err();
    assert!(err.contains("--theme"), "{err}");
    let config = load(
        &["lesson", "session-limit", "--theme", "projector"],
        &env(&[]),
    )
    .unwrap();
    assert_eq!(
        config.dashboard.theme,
        sessiontop::config::ThemeName::Projector
    );
}

#[test]
fn a_lesson_refuses_the_flags_its_own_policy_and_speed_set() {
    for (args, flag) in [
        (
            &["lesson", "renewal", "--idle-timeout", "5m"][..],
            "--idle-timeout",
        ),
        (
            &["--idle-timeout", "5m", "lesson", "renewal"][..],
            "--idle-timeout",
        ),
        (
            &["lesson", "renewal", "--absolute-timeout", "1h"][..],
            "--absolute-timeout",
        ),
        (
            &["lesson", "renewal", "--closing-time", "09:02"][..],
            "--closing-time",
        ),
        (&["--speed", "5", "lesson", "renewal"][..], "--speed"),
        (&["lesson", "renewal", "--speed", "5"][..], "--speed"),
        (&["lesson", "renewal", "--speed", "-1"][..], "--speed"),
        (
            &["--server", "http://127.0.0.1:9", "lesson", "renewal"][..],
            "--server",
        ),
    ] {
        let err = load(args, &env(&[])).unwrap_err();
        assert!(
            err.starts_with(&format!("{flag} does not apply to `sessiontop lesson`")),
            "{err}"
        );
        assert!(err.ends_with(&format!("drop {flag}")), "{err}");
    }
    let err = load(&["lesson", "--record", "x.cast"], &env(&[])).unwrap_err();
    assert!(
        err.starts_with("--record records a lesson as it plays: name one"),
        "{err}"
    );
    // The environment and the config file are the user's standing settings,
    // not a request for this lesson: they stay for the other modes.
    assert!(
        load(
            &["lesson", "renewal"],
            &env(&[("SESSIONTOP_IDLE_TIMEOUT", "5m")])
        )
        .is_ok()
    );
    // A lesson does not read them at all: one it could not read does not
    // stop it.
    for (name, value) in [
        ("SESSIONTOP_SPEED", "500"),
        ("SESSIONTOP_SPEED", "fast"),
        ("SESSIONTOP_IDLE_TIMEOUT", "300"),
        ("SESSIONTOP_ABSOLUTE_TIMEOUT", "forever"),
        ("SESSIONTOP_CLOSING_TIME", "25:00"),
    ] {
        assert!(
            load(&["lesson", "renewal"], &env(&[(name, value)])).is_ok(),
            "{name}={value}"
        );
    }
}

#[test]
fn a_bad_server_url_is_named_where_it_came_from_and_its_query_not_repeated() {
    let err = load(&[], &env(&[("SESSIONTOP_SERVER", "http://h:7878/v1")])).unwrap_err();
    assert!(
        err.starts_with("SESSIONTOP_SERVER \"http://h:7878/v1\" goes past"),
        "{err}"
    );
    let err = load(
        &["--server", "http://h:7878/?access_token=s3cret"],
        &env(&[]),
    )
    .unwrap_err();
    assert!(
        err.starts_with("--server \"http://h:7878/…\" has a query"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn a_bad_listen_address_is_named_as_the_flag_or_variable_that_gave_it() {
    let err = load(
        &["serve", "--store", "memory", "--listen", "127.0.0.1:99999"],
        &env(&[]),
    )
    .unwrap_err();
    assert!(
        err.starts_with("--listen 127.0.0.1:99999 is not allowed"),
        "{err}"
    );
    let err = load(
        &["serve", "--store", "memory"],
        &env(&[("SESSIONTOP_LISTEN", "nope")]),
    )
    .unwrap_err();
    assert!(
        err.starts_with("SESSIONTOP_LISTEN=nope is not allowed"),
        "{err}"
    );
}

#[test]
fn an_idle_timeout_not_shorter_than_the_absolute_one_is_warned_about() {
    let args = ["--idle-timeout", "5m", "--absolute-timeout", "1m"];
    let config = load(&args, &env(&[])).unwrap();
    assert_eq!(
        config.warnings,
        [
            "the idle timeout (5m, --idle-timeout) is not shorter than the absolute timeout (1m, --absolute-timeout): no session can end idle, each lasts until its absolute limit"
        ]
    );
    let config = load(&[], &env(&[])).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn a_bad_variable_for_a_section_the_mode_does_not_use_is_a_warning() {
    let serve = ["serve", "--store", "memory"];
    for speed in ["fast", "500"] {
        let config = load(&serve, &env(&[("SESSIONTOP_SPEED", speed)])).unwrap();
        assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
        let warning = &config.warnings[0];
        assert!(
            warning.starts_with("SESSIONTOP_SPEED")
                && warning.contains(speed)
                && warning.ends_with("serve does not use [dashboard] and goes on without it"),
            "{warning}"
        );
    }
    let config = load(&["--no-sim"], &env(&[("SESSIONTOP_STORE", "ftp://x")])).unwrap();
    assert!(
        config.warnings.len() == 1
            && config.warnings[0].contains("SESSIONTOP_STORE")
            && config.warnings[0].contains("the dashboard does not use [store]"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn a_bad_variable_is_named_with_its_value() {
    let err = load(&[], &env(&[("SESSIONTOP_IDLE_TIMEOUT", "soon")])).unwrap_err();
    assert!(
        err.contains("SESSIONTOP_IDLE_TIMEOUT") && err.contains("soon"),
        "{err}"
    );
    let err = load(&[], &env(&[("SESSIONTOP_SPEED", "fast")])).unwrap_err();
    assert!(
        err.contains("SESSIONTOP_SPEED") && err.contains("fast"),
        "{err}"
    );
    let err = load(&[], &env(&[("SESSIONTOP_SPEED", "500")])).unwrap_err();
    assert!(
        err.contains("SESSIONTOP_SPEED") && err.contains("0.5 to 100"),
        "{err}"
    );
    let err = load(&["serve"], &env(&[("SESSIONTOP_STORE", "postgres://db")])).unwrap_err();
    assert!(
        err.contains("SESSIONTOP_STORE") && err.contains("postgres"),
        "{err}"
    );
    let err = load(&["--speed", "500"], &env(&[])).unwrap_err();
    assert!(err.contains("--speed 500 is not allowed"), "{err}");
    // A token for no server.
    let err = load(&["--token-file", "/run/admin-token"], &env(&[])).unwrap_err();
    assert!(
        err.contains("--token-file") && err.contains("--server"),
        "{err}"
    );
    // A negative speed is a value out of range, not an unknown flag.
    let err = load(&["--speed", "-1"], &env(&[])).unwrap_err();
    assert!(err.contains("--speed -1 is not allowed"), "{err}");
    // A bench option of another target is refused, not ignored.
    let err = load(&["bench", "engine", "--remote"], &env(&[])).unwrap_err();
    assert_eq!(err, "--remote is for `sessiontop bench tui` only");
    let err = load(&["bench", "store", "--store", "memory"], &env(&[])).unwrap_err();
    assert_eq!(err, "--store is for `sessiontop bench server` only");
    assert!(load(&["bench", "tui", "--remote"], &env(&[])).is_ok());
    // A store URL refused names the flag that gave it.
    let err = load(
        &["serve", "--store", "rediss://127.0.0.1:6380/0#insecure"],
        &env(&[]),
    )
    .unwrap_err();
    assert!(err.starts_with("--store rediss://"), "{err}");
    // Not a number: said in words, not as "invalid float literal".
    let err = load(&["--speed", "abc"], &env(&[])).unwrap_err();
    assert!(
        err.contains("not a number; use a speed factor from 0.5 to 100"),
        "{err}"
    );
}

#[test]
fn speed_and_no_sim_with_a_server_are_refused_with_a_sentence() {
    for args in [
        &["--server", "http://127.0.0.1:7878", "--speed", "5"][..],
        &["--server", "http://127.0.0.1:7878", "--no-sim"][..],
    ] {
        let flag = args[2];
        let err = load(args, &env(&[])).unwrap_err();
        assert!(
            err.contains(flag) && err.contains("not to a server"),
            "{args:?}: {err}"
        );
    }
    let err = load(
        &["--no-sim"],
        &env(&[("SESSIONTOP_SERVER", "http://127.0.0.1:7878")]),
    )
    .unwrap_err();
    assert!(err.contains("--no-sim"), "{err}");
    // Without a server both are the dashboard's own.
    load(&["--speed", "5", "--no-sim"], &env(&[])).unwrap();
}

#[test]
fn a_serve_flag_given_to_the_dashboard_says_where_it_belongs() {
    let err = load(&["--listen", "127.0.0.1:7878"], &env(&[])).unwrap_err();
    assert!(
        err.contains("--listen belongs to `sessiontop serve`"),
        "{err}"
    );
    let err = load(&["--store", "memory"], &env(&[])).unwrap_err();
    assert!(
        err.contains("--store belongs to `sessiontop serve`"),
        "{err}"
    );
}

// The real binary.

fn sessiontop(dir: &TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessiontop"));
    for (name, _) in sessiontop::config::VARIABLES {
        command.env_remove(name);
    }
    command
        .env_remove("RUST_LOG")
        .env("HOME", &dir.0)
        .env("XDG_CONFIG_HOME", dir.0.join("config"))
        .env("XDG_STATE_HOME", dir.0.join("state"))
        .stdin(Stdio::null());
    command
}

/// What the binary says refusing `args` with `SESSIONTOP_CONFIG=config`.
fn refused_with_config(
    dir: &TempDir,
    args: &[&str],
    config: impl AsRef<std::ffi::OsStr>,
) -> String {
    let output = sessiontop(dir)
        .args(args)
        .env("SESSIONTOP_CONFIG", config)
        .output()
        .unwrap();
    refused(&output)
}

fn refused(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(output.stdout.is_empty(), "nothing was drawn: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one sentence: {stderr}");
    stderr
}

#[test]
fn the_binary_says_where_listen_belongs() {
    let dir = TempDir::new("bin-listen");
    let output = sessiontop(&dir)
        .args(["--listen", "127.0.0.1:7878"])
        .output()
        .unwrap();
    let stderr = refused(&output);
    assert!(
        stderr.contains("--listen belongs to `sessiontop serve`"),
        "{stderr}"
    );
}

#[test]
fn the_binary_refuses_speed_with_a_server() {
    let dir = TempDir::new("bin-speed");
    let output = sessiontop(&dir)
        .args(["--server", "http://127.0.0.1:9", "--speed", "5"])
        .output()
        .unwrap();
    let stderr = refused(&output);
    assert!(stderr.contains("--speed"), "{stderr}");
}

#[test]
fn a_bare_number_duration_in_the_config_file_gets_the_300s_hint() {
    let dir = TempDir::new("bin-300");
    let file = dir.write("c.toml", "[policy]\nidle_timeout = 300\n");
    let stderr = refused_with_config(&dir, &["serve", "--store", "memory"], &file);
    assert!(
        stderr.contains("policy.idle_timeout = 300") && stderr.contains("write \"300s\""),
        "{stderr}"
    );
}

#[test]
fn a_value_the_file_set_out_of_bounds_is_refused_with_its_line() {
    let dir = TempDir::new("bin-line");
    for (text, line, says) in [
        (
            "# a comment\n[server]\nlisten = \"127.0.0.1:7976\"\n\n[policy]\n\nabsolute_timeout = \"100days\"\n",
            7,
            "policy.absolute_timeout = \"100days\" is more than allowed",
        ),
        (
            "[server]\nbody_limit = 10\n",
            2,
            "server.body_limit = 10 is not allowed",
        ),
        // The default idle timeout breaks the file's new bound: the bound's line.
        (
            "[policy]\nmin_timeout = \"2days\"\n",
            2,
            "policy.idle_timeout = \"15m\" is less than allowed (2days, policy.min_timeout)",
        ),
    ] {
        let file = dir.write("c.toml", text);
        let stderr = refused_with_config(&dir, &["serve", "--store", "memory"], &file);
        assert!(
            stderr.contains(&format!(
                "{} is invalid at line {line}: {says}",
                file.display()
            )),
            "{stderr}"
        );
    }
    // A flag's value is the flag's, even with the bound in the file.
    let file = dir.write("c.toml", "[policy]\nmax_idle_timeout = \"1h\"\n");
    let stderr = refused_with_config(
        &dir,
        &["serve", "--store", "memory", "--idle-timeout", "2h"],
        &file,
    );
    assert!(
        stderr.starts_with("sessiontop: --idle-timeout 2h is more than allowed"),
        "{stderr}"
    );
}

#[test]
fn a_key_given_two_actions_is_refused_like_any_bad_setting() {
    let dir = TempDir::new("bin-keys");
    let file = dir.write("c.toml", "[keys]\nrevoke = [\"x\"]\nquit = [\"x\"]\n");
    for args in [&[][..], &["lesson", "each-way"][..]] {
        let stderr = refused_with_config(&dir, args, &file);
        assert!(
            stderr.contains(&format!(
                "{} is invalid at line 3: keys.quit = \"x\" is already the key of revoke",
                file.display()
            )),
            "{stderr}"
        );
    }
    // serve draws no dashboard: the same words, as a warning; so for a
    // scenario it cannot load.
    let file = dir.write(
        "c.toml",
        "[keys]\nrevoke = [\"x\"]\nquit = [\"x\"]\n[simulator]\nscenario = \"nope\"\n",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let output = sessiontop(&dir)
        .args(["serve", "--store", "memory", "--listen", &listen])
        .env("SESSIONTOP_CONFIG", &file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "sessiontop: warning: config file {} is invalid at line 3: keys.quit = \"x\" is already the key of revoke; give each key one action; serve does not use [keys] and goes on without it",
            file.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "sessiontop: warning: config file {} is invalid at line 5: simulator.scenario = \"nope\": not a bundled scenario",
            file.display()
        )) && stderr.contains("serve does not use [simulator] and goes on without it"),
        "{stderr}"
    );
}

#[test]
fn a_config_path_with_a_tilde_is_read_from_home() {
    let dir = TempDir::new("bin-tilde");
    dir.write("st.toml", "[policy]\nidle_timeout = \"never\"\n");
    let stderr = refused_with_config(&dir, &["serve", "--store", "memory"], "~/st.toml");
    let expanded = dir.0.join("st.toml");
    assert!(
        stderr.contains(&expanded.display().to_string()) && stderr.contains("never"),
        "{stderr}"
    );
}

#[test]
fn serve_help_lists_the_token_variables() {
    let dir = TempDir::new("bin-serve-help");
    let output = sessiontop(&dir).args(["serve", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "SESSIONTOP_APP_TOKEN",
        "SESSIONTOP_ADMIN_TOKEN",
        "SESSIONTOP_STORE",
        "SESSIONTOP_LISTEN",
        "--store",
        "TZ                       the host's time zone, the default of [policy] time_zone",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
    assert!(!help.contains("--theme"), "a dashboard flag: {help}");
}

#[test]
fn bench_help_describes_each_target_and_warns_about_a_million_sessions() {
    let dir = TempDir::new("bin-bench-help");
    let output = sessiontop(&dir).args(["bench", "--help"]).output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "engine  the engine alone",
        "server  the HTTP server",
        "tui     the dashboard",
        "redis   the Redis store",
        "1,000,000 sessions takes a while",
    ] {
        assert!(help.contains(needle), "{needle} in {help}");
    }
}

/// Starts `serve` and returns the child and its address once it listens.
fn start_serve(command: &mut Command) -> (std::process::Child, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_owned();
        }
    };
    (child, address)
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

#[test]
fn serve_starts_despite_mistakes_in_dashboard_only_settings() {
    let dir = TempDir::new("bin-serve-dashboard-only");
    let file = dir.write(
        "c.toml",
        "[keys]\nrevoke = [\"Hyper-x\"]\n[simulator]\nscenario = \"no-such-lesson\"\n[dashboard]\nspeed = 500.0\n",
    );
    let (child, address) = start_serve(
        sessiontop(&dir)
            .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
            .env("SESSIONTOP_CONFIG", &file)
            .env("SESSIONTOP_APP_TOKEN", "cli-app-token-0123456789")
            .env("SESSIONTOP_ADMIN_TOKEN", "cli-admin-token-0123456789"),
    );
    let health = health(&address);
    stop(child);
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // The dashboard does check them, before touching the terminal.
    let output = sessiontop(&dir)
        .env("SESSIONTOP_CONFIG", &file)
        .output()
        .unwrap();
    let stderr = refused(&output);
    assert!(stderr.contains("dashboard.speed"), "{stderr}");
}

fn health(base: &str) -> String {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn the_binary_says_what_is_wrong_with_a_server_url_even_without_a_terminal() {
    let dir = TempDir::new("bin-server-url");
    for (url, says) in [
        ("127.0.0.1:7878", "add http://"),
        ("http://127.0.0.1:7878/v1", "give the base URL"),
    ] {
        let output = sessiontop(&dir).args(["--server", url]).output().unwrap();
        let stderr = refused(&output);
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(!stderr.contains("terminal"), "{url}: {stderr}");
    }
}

#[test]
fn serve_warns_about_a_dashboard_type_mistake_and_starts() {
    let dir = TempDir::new("bin-serve-fps");
    let file = dir.write("c.toml", "[dashboard]\nfps = \"fast\"\n");
    let mut child = sessiontop(&dir)
        .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
        .env("SESSIONTOP_CONFIG", &file)
        .env("SESSIONTOP_APP_TOKEN", "cli-app-token-0123456789")
        .env("SESSIONTOP_ADMIN_TOKEN", "cli-admin-token-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.any(|line| line.unwrap().starts_with("listening on "));
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = stderr.next().unwrap().unwrap();
    stop(child);
    assert!(listening);
    assert!(
        first.starts_with("sessiontop: warning: config file")
            && first.contains("dashboard.fps = \"fast\"")
            && first.contains("serve does not use [dashboard]"),
        "{first}"
    );
}

/// A lesson that does not load and an API token that is not allowed are
/// settings like the others: exit 2, as a usage error, not 1.
#[test]
fn a_lesson_that_does_not_load_and_a_weak_token_exit_2() {
    let dir = TempDir::new("bin-usage-exit");
    let output = sessiontop(&dir)
        .args(["lesson", "no-such-lesson"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-lesson"), "{stderr}");

    let output = sessiontop(&dir)
        .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
        .env("SESSIONTOP_APP_TOKEN", "short")
        .env("SESSIONTOP_ADMIN_TOKEN", "admin-token-0123456789abcdef")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("the app token"), "{stderr}");
    assert!(!stderr.contains("admin-token-0123456789abcdef"), "{stderr}");
}

/// A lesson plays its own script: a mistake in [simulator] is warned about,
/// not a reason to stop.
#[test]
fn a_lesson_gets_past_a_simulator_mistake_with_a_warning() {
    let dir = TempDir::new("bin-lesson-simulator");
    let file = dir.write("c.toml", "[simulator]\ninitial_logins = 99999\n");
    let output = sessiontop(&dir)
        .args(["lesson", "renewal"])
        .env("SESSIONTOP_CONFIG", &file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("simulator.initial_logins")
            && stderr.contains("a lesson does not use [simulator]"),
        "{stderr}"
    );
}

#[test]
fn the_dashboard_gets_past_a_store_mistake_with_a_warning() {
    let dir = TempDir::new("bin-dashboard-store");
    let file = dir.write("c.toml", "[store]\nfsync = \"sometimes\"\n");
    // Without a terminal it stops later, for want of one: past the config.
    let output = sessiontop(&dir)
        .args(["--no-sim"])
        .env("SESSIONTOP_CONFIG", &file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("sessiontop: warning: config file")
            && stderr.contains("store.fsync = \"sometimes\"")
            && stderr.contains("the dashboard does not use [store]"),
        "{stderr}"
    );
    assert!(stderr.contains("terminal"), "{stderr}");
}

#[test]
fn a_redis_password_on_the_command_line_is_warned_about_without_being_shown() {
    let config = load(
        &[
            "serve",
            "--store",
            "redis://app:hunter2hunter2@127.0.0.1:6379/0",
        ],
        &env(&[]),
    )
    .unwrap();
    let warning = config.warnings.join("\n");
    assert!(
        warning.contains("password in --store can be read by every user")
            && warning.contains("password_file"),
        "{warning}"
    );
    assert!(!warning.contains("hunter2"), "{warning}");
    // From the environment or without a password: nothing to say.
    for (args, vars) in [
        (
            vec!["serve"],
            vec![(
                "SESSIONTOP_STORE",
                "redis://:hunter2hunter2@127.0.0.1:6379/0",
            )],
        ),
        (vec!["serve", "--store", "redis://127.0.0.1:6379/0"], vec![]),
    ] {
        let config = load(&args, &env(&vars)).unwrap();
        assert!(
            !config
                .warnings
                .iter()
                .any(|w| w.contains("can be read by every user")),
            "{args:?}: {:?}",
            config.warnings
        );
    }
}
