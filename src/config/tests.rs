use super::*;

fn parsed(text: &str) -> Config {
    Config::from_toml(text, Uses::Everything).unwrap()
}

fn refused(text: &str, uses: Uses) -> String {
    match Config::from_toml(text, uses) {
        Ok(config) => config
            .validate(uses)
            .expect_err("the config was accepted")
            .to_string(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_repository_config_toml_is_the_defaults() {
    let text = include_str!("../../config.toml");
    let mut config = parsed(text);
    assert!(config.validate(Uses::Everything).unwrap().is_empty());
    assert_eq!(config.policy.written["policy.idle_timeout"], "15m");
    // What the file spelled is kept for messages; it is not a setting.
    config.policy.written.clear();
    // Tokens have no PartialEq (they are secrets); Debug redacts them, so it compares.
    assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
}

#[test]
fn a_bad_duration_names_the_key_and_the_value() {
    let err = refused("[policy]\nidle_timeout = \"15x\"\n", Uses::Everything);
    assert!(err.contains("policy.idle_timeout"), "{err}");
    assert!(err.contains("15x"), "{err}");
    assert!(err.contains("15m"), "{err}");
}

#[test]
fn a_duration_without_a_unit_gets_a_hint() {
    let err = refused("[policy]\nidle_timeout = 300\n", Uses::Everything);
    assert!(err.contains("policy.idle_timeout = 300"), "{err}");
    assert!(err.contains("write \"300s\""), "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

#[test]
fn an_unknown_key_is_an_error_that_lists_the_known_ones() {
    let err = refused("[policy]\nidle = \"15m\"\n", Uses::Everything);
    assert!(err.contains("idle"), "{err}");
    assert!(err.contains("idle_timeout"), "{err}");
}

#[test]
fn idle_timeout_above_its_maximum_is_refused() {
    let err = refused("[policy]\nidle_timeout = \"48h\"\n", Uses::Everything);
    assert!(err.contains("policy.idle_timeout"), "{err}");
    assert!(err.contains("\"48h\"") && err.contains("1day"), "{err}");
}

#[test]
fn closing_time_must_be_hh_mm() {
    assert!(Config::from_toml("[policy]\nclosing_time = \"25:00\"\n", Uses::Server).is_err());
    let config = parsed("[policy]\nclosing_time = \"23:00\"\n");
    assert_eq!(
        config.policy.closing_time,
        NaiveTime::from_hms_opt(23, 0, 0)
    );
}

#[test]
fn the_time_zone_is_an_iana_name_and_reaches_the_policy() {
    let config = parsed("[policy]\ntime_zone = \"Asia/Tokyo\"\n");
    assert_eq!(
        config.policy.to_policy().unwrap().time_zone,
        chrono_tz::Asia::Tokyo
    );
    let err = refused("[policy]\ntime_zone = \"Tokyo\"\n", Uses::Everything);
    assert!(
        err.contains("policy.time_zone") && err.contains("IANA"),
        "{err}"
    );
    // Built in code with no zone: UTC, whatever the host's zone.
    assert_eq!(
        Config::default().policy.to_policy().unwrap().time_zone,
        chrono_tz::UTC
    );
}

#[test]
fn the_red_threshold_may_not_sit_above_the_yellow_one() {
    let err = refused(
        "[dashboard]\nwarn_below = 0.05\ncritical_below = 0.5\n",
        Uses::Dashboard,
    );
    assert!(err.contains("dashboard.critical_below"), "{err}");
}

#[test]
fn speed_out_of_range_is_refused() {
    let err = refused("[dashboard]\nspeed = 500.0\n", Uses::Dashboard);
    assert!(err.contains("dashboard.speed"), "{err}");
}

#[test]
fn the_server_does_not_check_dashboard_settings_nor_the_dashboard_server_ones() {
    let dashboard_only = "[dashboard]\nspeed = 500.0\n[keys]\nrevoke = [\"Hyper-x\"]\n[simulator]\nscenario = \"no-such-lesson\"\n";
    parsed(dashboard_only).validate(Uses::Server).unwrap();
    assert!(parsed(dashboard_only).validate(Uses::Dashboard).is_err());
    let server_only = "[server]\nmax_connections = 0\n";
    parsed(server_only).validate(Uses::Dashboard).unwrap();
    let err = refused(server_only, Uses::Server);
    assert!(err.contains("server.max_connections"), "{err}");
}

#[test]
fn tokens_in_the_config_never_show_in_debug() {
    let config = parsed("[server]\napp_token = \"app-secret-0123456789\"\n");
    assert!(!format!("{config:?}").contains("app-secret"));
    use secrecy::ExposeSecret;
    assert_eq!(
        config.server.app_token.unwrap().expose_secret(),
        "app-secret-0123456789"
    );
}

#[test]
fn the_store_section_reads_every_key() {
    let config = parsed(
        "[store]\nurl = \"redis://127.0.0.1:6379/2\"\nfsync = \"always\"\nhistory_retention = \"2h\"\nhistory_max_events = 500\nkey_prefix = \"app1:\"\npassword_file = \"/run/secrets/redis\"\n",
    );
    let store = &config.store;
    assert_eq!(
        store.url,
        Some(StoreUrl::Redis("redis://127.0.0.1:6379/2".into()))
    );
    assert_eq!(store.fsync, Fsync::Always);
    assert_eq!(store.history_retention, Duration::from_secs(7200));
    assert_eq!(store.history_max_events, 500);
    assert_eq!(store.key_prefix, "app1:");
    assert_eq!(
        store.password_file.as_deref(),
        Some(Path::new("/run/secrets/redis"))
    );
    config.validate(Uses::Server).unwrap();
    assert_eq!(
        parsed("[store]\nurl = \"/var/lib/s.db\"\n").store.url,
        Some(StoreUrl::File("/var/lib/s.db".into()))
    );
    assert_eq!(Config::default().store.url_or_memory(), StoreUrl::Memory);
}

#[test]
fn bad_store_values_name_the_key_and_what_is_allowed() {
    let err = refused("[store]\nfsync = \"sometimes\"\n", Uses::Server);
    assert!(
        err.contains("store.fsync") && err.contains("sometimes") && err.contains("everysec"),
        "{err}"
    );
    let err = refused("[store]\nurl = \"postgres://db\"\n", Uses::Server);
    assert!(
        err.contains("store.url") && err.contains("postgres"),
        "{err}"
    );
    let err = refused("[store]\nkey_prefix = \"a b\"\n", Uses::Server);
    assert!(err.contains("store.key_prefix"), "{err}");
    let err = refused("[store]\nhistory_max_events = 0\n", Uses::Server);
    assert!(err.contains("store.history_max_events"), "{err}");
}

#[test]
fn a_tls_ca_file_goes_with_a_rediss_url_only() {
    let config = parsed(
        "[store]\nurl = \"rediss://redis.internal:6380/0\"\ntls_ca_file = \"/etc/sessiontop/redis-ca.pem\"\n",
    );
    assert_eq!(
        config.store.tls_ca_file.as_deref(),
        Some(Path::new("/etc/sessiontop/redis-ca.pem"))
    );
    config.validate(Uses::Server).unwrap();
    assert_eq!(
        config.store.options().tls_ca_file,
        config.store.tls_ca_file,
        "serve opens the store with it"
    );
    assert_eq!(Config::default().store.tls_ca_file, None);

    let err = refused(
        "[store]\nurl = \"redis://127.0.0.1:6379/0\"\ntls_ca_file = \"/ca.pem\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.tls_ca_file")
            && err.contains("tls_ca_file needs a rediss:// store URL"),
        "{err}"
    );
}

#[test]
fn a_tls_client_certificate_comes_with_its_key_and_a_rediss_url() {
    let config = parsed(
        "[store]\nurl = \"rediss://redis.internal:6380/0\"\ntls_cert_file = \"/etc/sessiontop/node.pem\"\ntls_key_file = \"/etc/sessiontop/node.key\"\n",
    );
    config.validate(Uses::Server).unwrap();
    assert_eq!(
        config.store.options().tls_client,
        Some((
            PathBuf::from("/etc/sessiontop/node.pem"),
            PathBuf::from("/etc/sessiontop/node.key")
        )),
        "serve opens the store with both"
    );
    assert_eq!(Config::default().store.options().tls_client, None);

    let err = refused(
        "[store]\nurl = \"rediss://redis.internal:6380/0\"\ntls_cert_file = \"/node.pem\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.tls_cert_file") && err.contains("set tls_key_file too"),
        "{err}"
    );
    let err = refused(
        "[store]\nurl = \"rediss://redis.internal:6380/0\"\ntls_key_file = \"/node.key\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.tls_key_file") && err.contains("set tls_cert_file too"),
        "{err}"
    );
    let err = refused(
        "[store]\nurl = \"redis://127.0.0.1:6379/0\"\ntls_cert_file = \"/node.pem\"\ntls_key_file = \"/node.key\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.tls_cert_file") && err.contains("needs a rediss:// store URL"),
        "{err}"
    );
}

#[test]
fn a_rediss_url_that_skips_certificate_checks_is_refused_without_its_password() {
    let err = refused(
        "[store]\nurl = \"rediss://app:hunter2hunter2@redis.internal:6380/0#insecure\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.url")
            && err.contains("rediss://app:***@redis.internal:6380/0#insecure")
            && err.contains("tls_ca_file"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_redis_password_in_the_url_and_in_a_file_is_refused_at_parse() {
    let err = refused(
        "[store]\nurl = \"redis://:hunter2hunter2@127.0.0.1:6379/0\"\npassword_file = \"/run/secrets/redis\"\n",
        Uses::Server,
    );
    assert!(
        err.contains("store.password_file") && err.contains("given twice"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    parsed(
        "[store]\nurl = \"redis://app@127.0.0.1:6379/0\"\npassword_file = \"/run/secrets/redis\"\n",
    )
    .validate(Uses::Server)
    .unwrap();
}

#[test]
fn a_redis_password_in_the_store_url_never_shows_in_debug() {
    let config = parsed("[store]\nurl = \"redis://u:hunter2hunter2@127.0.0.1:6379/0\"\n");
    assert!(!format!("{config:?}").contains("hunter2"));
}

#[test]
fn a_tilde_in_every_path_setting_is_the_home_directory() {
    let mut config = parsed(
        "[server]\napp_token_file = \"~/app\"\nadmin_token_file = \"~/admin\"\n[store]\nurl = \"file:~/s.db\"\npassword_file = \"~/redis\"\ntls_ca_file = \"~/ca.pem\"\ntls_cert_file = \"~/node.pem\"\ntls_key_file = \"~/node.key\"\n[dashboard]\ntoken_file = \"~/token\"\n[simulator]\nscenario = \"~/lesson.toml\"\n",
    );
    config.expand_paths(Some(Path::new("/home/ada")));
    let home = |p: &str| Some(PathBuf::from("/home/ada").join(p));
    assert_eq!(config.server.app_token_file, home("app"));
    assert_eq!(config.server.admin_token_file, home("admin"));
    assert_eq!(config.store.password_file, home("redis"));
    assert_eq!(config.store.tls_ca_file, home("ca.pem"));
    assert_eq!(config.store.tls_cert_file, home("node.pem"));
    assert_eq!(config.store.tls_key_file, home("node.key"));
    assert_eq!(config.dashboard.token_file, home("token"));
    assert_eq!(
        config.store.url,
        Some(StoreUrl::File("/home/ada/s.db".into()))
    );
    assert_eq!(
        config.simulator.scenario.as_deref(),
        Some("/home/ada/lesson.toml")
    );
    // Only a leading ~ is the home directory; a bundled scenario name stays a name.
    assert_eq!(
        expand_home(Path::new("/srv/~x"), Some(Path::new("/h"))),
        PathBuf::from("/srv/~x")
    );
    assert_eq!(
        expand_home(Path::new("~"), Some(Path::new("/h"))),
        PathBuf::from("/h")
    );
}

#[test]
fn the_new_server_limits_are_checked() {
    let err = refused("[server]\nrequest_header_timeout = \"0s\"\n", Uses::Server);
    assert!(err.contains("server.request_header_timeout"), "{err}");
    let err = refused("[server]\nconnection_idle_timeout = 60\n", Uses::Server);
    assert!(err.contains("\"60s\""), "{err}");
}

#[test]
fn the_session_limit_and_what_happens_at_it_are_policy_keys() {
    let config = parsed("[policy]\nmax_sessions_per_user = 3\non_limit = \"refuse\"\n");
    let policy = config.policy.to_policy().unwrap();
    assert_eq!(policy.max_sessions_per_user, Some(3));
    assert_eq!(policy.on_limit, OnLimit::Refuse);
    let err = refused("[policy]\nmax_sessions_per_user = 0\n", Uses::Everything);
    assert!(err.contains("policy.max_sessions_per_user"), "{err}");
    let err = refused("[policy]\non_limit = \"drop\"\n", Uses::Everything);
    assert!(err.contains("evict_oldest"), "{err}");
}

/// The mode reads `text`: its warnings, or the error that stops it.
fn read(text: &str, uses: Uses) -> Result<Vec<String>, String> {
    let config = Config::from_toml(text, uses).map_err(|e| e.to_string())?;
    let checked = config.validate(uses).map_err(|e| e.to_string())?;
    let checked = checked.iter().map(ToString::to_string);
    Ok(config.warnings.into_iter().chain(checked).collect())
}

#[test]
fn the_dashboard_warns_about_server_and_store_mistakes_of_any_kind_and_goes_on() {
    for (text, says) in [
        ("[server]\nconnection_idle_timeout = 5\n", "write \"5s\""),
        ("[server]\nbogus_key = 1\n", "bogus_key"),
        ("[store]\nurl = \"ftp://x\"\n", "ftp"),
        ("[store]\nfsync = \"sometimes\"\n", "sometimes"),
        ("[store]\nhistory_retention = 5\n", "write \"5s\""),
        ("[server]\nmax_connections = 0\n", "server.max_connections"),
    ] {
        let warnings = read(text, Uses::Dashboard).unwrap();
        assert_eq!(warnings.len(), 1, "{text}: {warnings:?}");
        let warning = &warnings[0];
        assert!(warning.contains(says), "{text}: {warning}");
        assert!(
            warning.contains("the dashboard does not use ["),
            "{text}: {warning}"
        );
        assert!(!warning.contains('\n'), "one line: {warning}");
        // serve uses them, and stops, at the line.
        let err = read(text, Uses::Server).unwrap_err();
        assert!(err.contains(says), "{text}: {err}");
    }
    let err = read("[store]\nfsync = \"sometimes\"\n", Uses::Server).unwrap_err();
    assert!(
        err.contains("line 2 (store.fsync = \"sometimes\")"),
        "{err}"
    );
}

#[test]
fn serve_warns_about_dashboard_simulator_and_keys_mistakes_of_any_kind_and_goes_on() {
    for text in [
        "[dashboard]\nfps = \"fast\"\n",
        "[dashboard]\ncolour = true\n",
        "[simulator]\nactivity_interval = 60\n",
        "[keys]\nrevoke = \"r\"\n",
    ] {
        let warnings = read(text, Uses::Server).unwrap();
        assert_eq!(warnings.len(), 1, "{text}: {warnings:?}");
        assert!(
            warnings[0].contains("serve does not use ["),
            "{text}: {warnings:?}"
        );
        read(text, Uses::Dashboard).unwrap_err();
    }
    let config =
        Config::from_toml("[dashboard]\nfps = \"fast\"\nspeed = 2.0\n", Uses::Server).unwrap();
    assert_eq!(
        config.dashboard.speed, 10.0,
        "a broken section keeps its defaults"
    );
}

#[test]
fn sections_every_mode_uses_and_unknown_sections_stop_every_mode() {
    for uses in [Uses::Dashboard, Uses::Server, Uses::Everything] {
        let err = read("[policy]\nidle_timeout = 300\n", uses).unwrap_err();
        assert!(err.contains("line 2 (policy.idle_timeout = 300)"), "{err}");
        let err = read("[engine]\nhistory = \"lots\"\n", uses).unwrap_err();
        assert!(err.contains("engine.history"), "{err}");
        let err = read("[polcy]\nidle_timeout = \"5m\"\n", uses).unwrap_err();
        assert!(err.contains("polcy"), "{err}");
        let err = read("[policy\n", uses).unwrap_err();
        assert!(err.contains("line 1"), "{err}");
    }
}

#[test]
fn type_mistakes_are_said_in_our_words_with_an_example() {
    let err = refused("[dashboard]\nfps = \"fast\"\n", Uses::Dashboard);
    assert!(
        err.ends_with(
            "at line 2 (dashboard.fps = \"fast\"): dashboard.fps takes 1 to 120, not text in quotes; for example fps = 30"
        ),
        "{err}"
    );
    let err = refused("[dashboard]\nshow_touches = \"yes\"\n", Uses::Dashboard);
    assert!(
        err.contains("takes true or false, not text in quotes; for example show_touches = false"),
        "{err}"
    );
    let err = refused("[server]\nlisten = 7878\n", Uses::Server);
    assert!(
        err.contains(
            "server.listen takes text in quotes, not the whole number 7878; for example listen = \"127.0.0.1:7878\""
        ),
        "{err}"
    );
    let err = refused("[simulator]\ninitial_logins = 2.5\n", Uses::Dashboard);
    assert!(err.contains("not the number 2.5"), "{err}");
    let err = refused("[engine]\nhistory = -5\n", Uses::Server);
    assert!(
        err.contains("engine.history takes a number of events from 1 to 10000000, not -5"),
        "{err}"
    );
    assert!(!err.contains("invalid value"), "{err}");
}

#[test]
fn a_number_its_type_cannot_hold_is_refused_with_the_bounds_its_check_uses() {
    let checked = refused("[policy]\nmax_sessions_per_user = 0\n", Uses::Everything);
    assert!(
        checked.contains("a whole number from 1 to 1000000"),
        "{checked}"
    );
    for value in ["-3", "99999999999"] {
        let err = refused(
            &format!("[policy]\nmax_sessions_per_user = {value}\n"),
            Uses::Everything,
        );
        assert!(
            err.contains(&format!(
                "policy.max_sessions_per_user takes a whole number from 1 to 1000000, not {value}"
            )),
            "{err}"
        );
        assert!(!err.contains("0 or more"), "{err}");
    }
    let err = refused("[dashboard]\nfps = -1\n", Uses::Dashboard);
    assert!(
        err.contains("dashboard.fps takes 1 to 120, not -1"),
        "{err}"
    );
}

#[test]
fn the_whole_number_rules_state_the_bounds_the_checks_use() {
    use crate::engine::MAX_SESSION_LIMIT;
    assert!(
        super::whole_number_rule("policy.max_sessions_per_user")
            .ends_with(&format!("1 to {MAX_SESSION_LIMIT}"))
    );
    assert!(
        super::whole_number_rule("engine.history")
            .ends_with(&format!("to {}", super::MAX_EVENTS_KEPT))
    );
}

#[test]
fn a_listen_address_without_a_usable_port_is_refused() {
    for listen in ["127.0.0.1:99999", "127.0.0.1", ":7878", "localhost:http"] {
        let err = refused(&format!("[server]\nlisten = {listen:?}\n"), Uses::Server);
        assert!(
            err.starts_with(&format!(
                "server.listen = {listen:?} is not allowed: HOST:PORT"
            )),
            "{err}"
        );
    }
    assert!(
        Config::from_toml("[server]\nlisten = \"[::1]:7878\"\n", Uses::Server)
            .and_then(|c| c.validate(Uses::Server))
            .is_ok()
    );
}

#[test]
fn an_out_of_range_duration_is_echoed_as_written() {
    let err = refused("[policy]\nidle_timeout = \"60days\"\n", Uses::Server);
    assert_eq!(
        err,
        "policy.idle_timeout = \"60days\" is more than allowed (1day, policy.max_idle_timeout)"
    );
    let err = refused("[policy]\nmax_idle_timeout = \"60days\"\n", Uses::Server);
    assert_eq!(
        err,
        "policy.max_idle_timeout = \"60days\" is more than allowed (49days)"
    );
    assert_eq!(
        crate::units::format_duration(crate::engine::session::MAX_ABSOLUTE_TIMEOUT),
        "10years"
    );
    assert!(
        Config::from_toml(
            "[policy]\nmax_absolute_timeout = \"10years\"\n",
            Uses::Server
        )
        .and_then(|c| c.validate(Uses::Server))
        .is_ok()
    );
    let err = refused(
        "[policy]\nmax_absolute_timeout = \"20000years\"\n",
        Uses::Server,
    );
    assert_eq!(
        err,
        "policy.max_absolute_timeout = \"20000years\" is more than allowed (10years)"
    );
    let err = refused(
        "[policy]\nmax_absolute_timeout = \"60days\"\nabsolute_timeout = \"1y\"\n",
        Uses::Dashboard,
    );
    assert_eq!(
        err,
        "policy.absolute_timeout = \"1y\" is more than allowed (60days, policy.max_absolute_timeout)"
    );
    let err = refused(
        "[policy]\nmin_timeout = \"2s\"\nidle_timeout = \"1s\"\n",
        Uses::Server,
    );
    assert_eq!(
        err,
        "policy.idle_timeout = \"1s\" is less than allowed (2s, policy.min_timeout)"
    );
}

#[test]
fn a_duration_too_large_to_hold_is_more_than_allowed_not_misspelt() {
    let err = refused("[policy]\nidle_timeout = \"999999999999y\"\n", Uses::Server);
    assert_eq!(
        err,
        "policy.idle_timeout = \"999999999999y\" is more than allowed (1day, policy.max_idle_timeout)"
    );
    let err = refused("[server]\nkeep_alive = \"999999999999y\"\n", Uses::Server);
    assert!(err.contains("is more than allowed"), "{err}");
    assert!(!err.contains("not a duration"), "{err}");
}

#[test]
fn an_error_never_repeats_a_value_that_may_be_a_secret() {
    let secret = "s3cr3t-admin-token-0123";
    for text in [
        format!("[server]\nadmin_tokn = \"{secret}\"\n"),
        format!("[server]\napp_token = {}\n", "9".repeat(18)),
        format!("[store]\nurl = \"redis+tls://:{secret}@host:6379/0\"\n"),
        format!("[server]\n{secret}\n"),
    ] {
        let err = refused(&text, Uses::Everything);
        assert!(
            !err.contains(secret) && !err.contains(&"9".repeat(18)),
            "{err}"
        );
        assert!(err.contains("line 2"), "the place is still named: {err}");
    }
}

#[test]
fn bad_toml_in_a_section_a_mode_does_not_use_is_a_warning_there_and_an_error_where_used() {
    let text = "[policy]\nidle_timeout = \"20m\"\n[dashboard]\ntheme = projector\n[server]\nlisten = \"127.0.0.1:7879\"\n";
    let config = Config::from_toml(text, Uses::Server).expect("serve goes on");
    assert_eq!(config.policy.idle_timeout, Duration::from_secs(1200));
    assert_eq!(config.server.listen, "127.0.0.1:7879");
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].contains("line 4"),
        "{:?}",
        config.warnings
    );
    let err = refused(text, Uses::Dashboard);
    assert!(err.contains("line 4"), "{err}");
    // Bad TOML outside any section a mode may skip still stops it.
    let err = refused(
        "[policy]\nidle_timeout = 20m\n[dashboard]\ntheme = projector\n",
        Uses::Server,
    );
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn event_buffers_too_large_to_allocate_are_refused_not_tried() {
    for key in ["history", "subscriber_buffer"] {
        let err = refused(&format!("[engine]\n{key} = 100000000000\n"), Uses::Server);
        assert!(err.contains(&format!("engine.{key}")), "{err}");
        assert!(err.contains("to 10000000"), "{err}");
    }
    let err = refused("[engine]\nsubscriber_buffer = 8\n", Uses::Dashboard);
    assert!(err.contains("from 16 to 10000000"), "{err}");
    assert!(
        parsed("[engine]\nhistory = 10000000\nsubscriber_buffer = 10000000\n")
            .validate(Uses::Everything)
            .is_ok()
    );
}

/// A refused value is echoed as it was written: a number without quotes,
/// text in them, a flag and a variable as they are typed.
#[test]
fn a_refused_value_is_echoed_as_it_was_written() {
    assert_eq!(
        refused("[dashboard]\nfps = 500\n", Uses::Dashboard),
        "dashboard.fps = 500 is not allowed: 1 to 120"
    );
    assert_eq!(
        refused("[engine]\nhistory = 0\n", Uses::Dashboard),
        "engine.history = 0 is not allowed: a number of events from 1 to 10000000"
    );
    let err = refused("[store]\nkey_prefix = \"a b\"\n", Uses::Server);
    assert!(
        err.starts_with("store.key_prefix = \"a b\" is not allowed"),
        "{err}"
    );
}

#[test]
fn a_parse_error_never_repeats_a_value_of_16_characters_or_more() {
    let long = "SECRETSECRETSECRET42";
    for text in [
        format!("[policy]\nidle_timeout = \"{long}\"\n"),
        format!("[policy]\nclosing_time = \"{long}\"\n"),
        format!("[policy]\ntime_zone = \"{long}\"\n"),
        format!("[store]\nfsync = \"{long}\"\n"),
        format!("[policy]\nidle_timeout = \"{long} with spaces\"\n"),
        "[policy]\nidle_timeout = 12345678901234567\n".to_owned(),
    ] {
        let err = refused(&text, Uses::Everything);
        assert!(
            !err.contains(long) && !err.contains("12345678901234567"),
            "{err}"
        );
        assert!(
            err.contains("policy.") || err.contains("store."),
            "the key is still named: {err}"
        );
    }
    // A short value is still repeated, as the API repeats one.
    let err = refused("[policy]\nidle_timeout = \"soon\"\n", Uses::Server);
    assert!(err.contains("\"soon\" is not a duration"), "{err}");
}

#[test]
fn a_whole_number_too_large_for_its_type_gets_the_keys_bounds() {
    for number in [
        "9223372036854775808",
        "99999999999999999999",
        "18446744073709551616",
    ] {
        let err = refused(
            &format!("[policy]\nmax_sessions_per_user = {number}\n"),
            Uses::Server,
        );
        assert!(
            err.contains("policy.max_sessions_per_user takes a whole number from 1 to 1000000"),
            "{number}: {err}"
        );
        assert!(
            !err.contains("u64") && !err.contains("i128") && !err.contains("TOML value"),
            "{err}"
        );
    }
}

#[test]
fn a_refused_value_in_a_sub_table_is_found_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    for (text, says) in [
        (
            "[simulator]\nenabled = true\n\n[simulator.mix]\nstay = -1\n",
            "at line 5: simulator.mix.stay = -1 is not allowed: a share >= 0",
        ),
        (
            "[simulator]\nmix.log_out = -2\n",
            "at line 2: simulator.mix.log_out = -2 is not allowed",
        ),
        (
            "[simulator]\nenabled = true\n[simulator.mix]\ngo_idle = 0\nlog_out = 0\nstay = 0\n",
            "at line 3: simulator.mix = { go_idle = 0, log_out = 0, stay = 0 } is not allowed: at least one share above 0",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        // As the CLI reports it (cli.rs).
        let err = Config::from_file(&path, Uses::Dashboard)
            .and_then(|config| config.validate(Uses::Dashboard).map(drop))
            .map_err(|e| e.in_file(&path, text))
            .expect_err("refused")
            .to_string();
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn a_key_is_not_found_in_another_table_or_a_comment() {
    let text = "[policy]\n# idle_timeout = 1\nidle_timeout_x = 2\n[server]\nidle_timeout = 3\n[policy.x]\nidle_timeout = 4\n";
    assert_eq!(read::line_of(text, "policy.idle_timeout"), None);
    assert_eq!(read::line_of(text, "server.idle_timeout"), Some(5));
    assert_eq!(read::line_of(text, "policy.x"), Some(6));
    assert_eq!(read::line_of(text, "policy.x.idle_timeout"), Some(7));
}

#[test]
fn a_keep_alive_longer_than_a_dashboard_waits_is_refused() {
    let err = refused("[server]\nkeep_alive = \"60s\"\n", Uses::Server);
    assert!(
        err.contains("server.keep_alive = \"1m\" is not allowed: a duration from 10ms to 30s"),
        "{err}"
    );
    let config = Config::from_toml("[server]\nkeep_alive = \"30s\"\n", Uses::Server).unwrap();
    assert!(config.validate(Uses::Server).is_ok());
}

#[cfg(unix)]
#[test]
fn a_secret_file_every_user_may_read_is_warned_of_by_the_modes_that_read_it() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open = dir.path().join("admin.token");
    let closed = dir.path().join("app.token");
    for (path, mode) in [(&open, 0o644), (&closed, 0o640)] {
        std::fs::write(path, "a-token-long-enough-to-be-allowed").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let mut config = Config::default();
    config.server.admin_token_file = Some(open.clone());
    config.server.app_token_file = Some(closed);
    let warnings = config.readable_secret_files(Uses::Server);
    assert_eq!(warnings.len(), 1, "group-readable is allowed: {warnings:?}");
    assert!(
        warnings[0].starts_with(&format!(
            "server.admin_token_file {} can be read by every user of this machine (mode 644)",
            open.display()
        )),
        "{warnings:?}"
    );
    assert!(
        config.readable_secret_files(Uses::Dashboard).is_empty(),
        "the dashboard reads no server token"
    );
    config.store.url = Some(StoreUrl::File(open.clone()));
    let warnings = config.readable_secret_files(Uses::Server);
    assert!(
        warnings[1].starts_with(&format!("the sessions file {} can be read", open.display())),
        "{warnings:?}"
    );
    config.dashboard.token_file = Some(open.clone());
    assert!(
        config.readable_secret_files(Uses::Dashboard).is_empty(),
        "an embedded dashboard reads no token file"
    );
    config.dashboard.server = Some("http://127.0.0.1:7878".into());
    assert_eq!(config.readable_secret_files(Uses::Dashboard).len(), 1);
    assert!(config.readable_secret_files(Uses::Lesson).is_empty());
    // A file a token given directly wins over is not read, so not warned of;
    // nor is a Redis password file on another store.
    config.server.admin_token = Some("a-token-long-enough-to-be-allowed".into());
    config.store.password_file = Some(open.clone());
    let warnings = config.readable_secret_files(Uses::Server);
    assert_eq!(warnings.len(), 1, "the sessions file alone: {warnings:?}");
    config.store.url = Some(StoreUrl::Redis("redis://127.0.0.1:6379/0".into()));
    let warnings = config.readable_secret_files(Uses::Server);
    assert!(
        warnings[0].starts_with("store.password_file "),
        "{warnings:?}"
    );
}

#[test]
fn a_mistyped_name_or_choice_is_said_with_what_was_likely_meant() {
    let err = refused("[dashbord]\nfps = 30\n", Uses::Dashboard);
    assert!(
        err.ends_with("[dashbord] is not a section; did you mean [dashboard]? the sections are: policy, engine, server, store, dashboard, simulator, keys"),
        "{err}"
    );
    let err = refused("[policy]\nidle = \"15m\"\n", Uses::Dashboard);
    assert!(
        err.contains(
            "[policy] has no key idle; did you mean idle_timeout? its keys are: idle_timeout, "
        ),
        "{err}"
    );
    let err = refused("[dashboard]\nfsp = 30\n", Uses::Dashboard);
    assert!(err.contains("did you mean fps?"), "{err}");
    let err = refused("[dashboard]\nzzzzzz = 30\n", Uses::Dashboard);
    assert!(
        err.contains("[dashboard] has no key zzzzzz; its keys are: "),
        "{err}"
    );
    let err = refused("[dashboard]\ntheme = \"dark\"\n", Uses::Dashboard);
    assert!(
        err.ends_with("dashboard.theme takes \"default\" or \"projector\", not \"dark\"; for example theme = \"default\""),
        "{err}"
    );
    let err = refused("[dashboard]\ntheme = 5\n", Uses::Dashboard);
    assert!(
        err.ends_with("dashboard.theme takes text in quotes; for example theme = \"default\""),
        "{err}"
    );
}

#[test]
fn a_short_value_on_a_secret_looking_key_leaves_the_message_whole() {
    // The value is not shown, but replacing "e" everywhere garbled the rest.
    let err = refused("[server]\napp_tokn = \"e\"\n", Uses::Server);
    assert!(
        err.contains("[server] has no key app_tokn; did you mean app_token?"),
        "{err}"
    );
    let err = refused("[simulator.mixx]\nstay = 1\n", Uses::Dashboard);
    assert!(
        err.contains(
            "([simulator.mixx]): [simulator] has no table mixx; did you mean [simulator.mix]?"
        ),
        "a header is shown, and named under its section: {err}"
    );
    let err = refused("[store]\nurl = 1_234_567_890_123_456_789\n", Uses::Server);
    assert!(
        !err.contains("1234567890123456789"),
        "not shown, not said: {err}"
    );
    let err = refused("[server]\napp_token_file = 5\n", Uses::Server);
    assert!(err.contains("takes a file's path in quotes"), "{err}");
}

#[test]
fn a_key_above_every_section_or_quoted_or_cut_short_is_said_plainly() {
    let err = refused("fps = 30\n", Uses::Dashboard);
    assert!(
        err.ends_with("fps is outside any section: put it under [dashboard]"),
        "{err}"
    );
    let err = refused("[policy]\n\"idle\" = \"15m\"\n", Uses::Dashboard);
    assert!(
        err.contains("[policy] has no key idle; did you mean idle_timeout?"),
        "{err}"
    );
    // One letter, or a beginning several names share, suggests nothing.
    let err = refused("[policy]\ni = \"15m\"\n", Uses::Dashboard);
    assert!(err.contains("[policy] has no key i; its keys are"), "{err}");
    let err = refused("[policy]\nmax = 3\n", Uses::Dashboard);
    assert!(
        err.contains("[policy] has no key max; its keys are"),
        "{err}"
    );
}

#[test]
fn a_section_written_as_a_list_or_a_value_is_refused_not_read_in_order() {
    for text in [
        "policy = [\"2s\", \"3h\"]\n",
        "[[policy]]\nidle_timeout = \"1s\"\n",
        "engine = 7\n",
        "policy = []\n",
    ] {
        let err = refused(text, Uses::Dashboard);
        assert!(
            err.contains("a section is a table, its name in brackets"),
            "{text}: {err}"
        );
    }
    // A table is a table, however written.
    assert!(Config::from_toml("policy = {}\n", Uses::Dashboard).is_ok());
}

#[test]
fn a_key_or_a_section_given_twice_is_said_by_name() {
    let err = refused(
        "[policy]\nidle_timeout = \"1m\"\nidle_timeout = \"2m\"\n",
        Uses::Dashboard,
    );
    assert!(
        err.ends_with("policy.idle_timeout is given twice; give it once"),
        "{err}"
    );
    let err = refused("[policy]\n[policy]\n", Uses::Dashboard);
    assert!(
        err.ends_with("[policy] is given twice; give each section once"),
        "{err}"
    );
}
