//! `sessiontop serve` as a user runs it: the real binary, its printed tokens,
//! its refusals, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn sessiontop(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessiontop"));
    command
        .env("SESSIONTOP_CONFIG", config)
        .env_remove("SESSIONTOP_APP_TOKEN")
        .env_remove("SESSIONTOP_ADMIN_TOKEN")
        .env_remove("SESSIONTOP_LISTEN");
    command
}

fn empty_config(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "sessiontop-server-cli-{name}-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, "").unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_generated_tokens_once_and_stops_cleanly_on_sigterm() {
    let config = empty_config("sigterm");
    let mut child = sessiontop(&config)
        .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let address = loop {
        let line = lines
            .next()
            .expect("the server printed its address")
            .unwrap();
        if let Some(address) = line.strip_prefix("listening on ") {
            break address.to_owned();
        }
        printed.push(line);
    };
    let token = |label: &str| {
        printed
            .iter()
            .find_map(|l| l.trim().strip_prefix(label).map(|t| t.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {label} in {printed:?}"))
    };
    let app = token("app token:");
    let admin = token("admin token:");
    assert!(app.starts_with("st_app_") && admin.starts_with("st_admin_"));

    let client = reqwest::Client::new();
    let login = client
        .post(format!("{address}/v1/sessions"))
        .bearer_auth(&app)
        .json(&serde_json::json!({"user": "cli"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), reqwest::StatusCode::CREATED);
    let stats = client
        .get(format!("{address}/v1/admin/stats"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), reqwest::StatusCode::OK);
    // An open event stream must not hold the shutdown up.
    let stream = client
        .get(format!("{address}/v1/admin/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), reqwest::StatusCode::OK);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut status = None;
    for _ in 0..50 {
        if let Some(s) = child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the server did not stop within 5s of SIGTERM")
    });
    assert!(status.success(), "{status}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().all(|l| !l.contains("token")),
        "tokens are printed once: {rest:?}"
    );
    let _ = std::fs::remove_file(config);
}

#[test]
fn serve_refuses_a_public_address_without_configured_tokens() {
    let config = empty_config("public");
    let output = sessiontop(&config)
        .args(["serve", "--store", "memory", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(stderr.contains("SESSIONTOP_APP_TOKEN"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("token"),
        "no token was printed"
    );
    let _ = std::fs::remove_file(config);
}

#[test]
fn serve_with_an_address_in_use_says_so_in_one_sentence() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let config = empty_config("in-use");
    let output = sessiontop(&config)
        .args(["serve", "--store", "memory", "--listen", &address])
        .env("SESSIONTOP_APP_TOKEN", "app-token-0123456789")
        .env("SESSIONTOP_ADMIN_TOKEN", "admin-token-0123456789")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let message: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("sessiontop:"))
        .collect();
    assert_eq!(message.len(), 1, "{stderr}");
    assert!(message[0].contains("already in use"), "{stderr}");
    let _ = std::fs::remove_file(config);
}

/// A config in `dir` whose tokens come from two files there; its path and
/// the admin token file's.
fn config_with_token_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (app_file, admin_file) = (dir.join("app"), dir.join("admin"));
    std::fs::write(&app_file, "file-app-token-0123456789\n").unwrap();
    std::fs::write(&admin_file, "file-admin-token-0123456789\n").unwrap();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\napp_token_file = {:?}\nadmin_token_file = {:?}\n",
            app_file.display().to_string(),
            admin_file.display().to_string()
        ),
    )
    .unwrap();
    (config, admin_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_files_allow_a_public_address_and_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_with_token_files(dir.path());
    let mut child = sessiontop(&config)
        .args(["serve", "--store", "memory", "--listen", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    assert_eq!(
        first,
        "sessions are kept in memory only: a restart ends them all"
    );
    let second = lines.next().expect("a line").unwrap();
    let port = second
        .strip_prefix("listening on http://0.0.0.0:")
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();
    let response = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/admin/stats"))
        .bearer_auth("file-admin-token-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().all(|l| !l.contains("token")), "{rest:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_token_file_other_users_may_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (config, admin_file) = config_with_token_files(dir.path());
    std::fs::set_permissions(&admin_file, std::fs::Permissions::from_mode(0o602)).unwrap();
    let output = sessiontop(&config)
        .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "server.admin_token_file {} can be written by other users of this machine (mode 602), who could add a token of their own: chmod go-w it",
            admin_file.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("file-admin-token"), "{stderr}");
}

/// Ends the server even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `serve` with an open-file limit of `files` (soft and hard).
fn serve_with_file_limit(config: &std::path::Path, files: u64) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut command = sessiontop(config);
    command
        .args(["serve", "--store", "memory", "--listen", "127.0.0.1:0"])
        .env("SESSIONTOP_APP_TOKEN", "app-token-0123456789")
        .env("SESSIONTOP_ADMIN_TOKEN", "admin-token-0123456789")
        .env("SESSIONTOP_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: files,
                rlim_max: files,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn().unwrap()
}

#[test]
fn idle_connections_beyond_the_open_file_limit_neither_lock_out_healthz_nor_flood_the_log() {
    use std::io::{Read, Write};
    let config = empty_config("fd-limit");
    let mut child = KillOnDrop(serve_with_file_limit(&config, 128));
    let child = &mut child.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let address = loop {
        let line = lines.next().expect("an address").unwrap();
        if let Some(address) = line.strip_prefix("listening on http://") {
            break address.to_owned();
        }
    };
    // More idle connections than the process has file descriptors.
    let idle: Vec<std::net::TcpStream> = (0..200)
        .filter_map(|_| std::net::TcpStream::connect(&address).ok())
        .collect();
    assert!(idle.len() > 128, "{} connections", idle.len());
    let health = || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    };
    // While the server works through the flood, a check may get 503 for a moment.
    let started = std::time::Instant::now();
    while !health().starts_with("HTTP/1.1 200") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "healthz never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then every check is answered, though the idle connections are still there.
    for _ in 0..5 {
        let answer = health();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // A second of this would have logged an accept error every 50ms or so.
    std::thread::sleep(Duration::from_secs(1));
    drop(idle);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(
        stderr.contains("server.max_connections lowered from 4096 to 32"),
        "{stderr}"
    );
    let accept_errors = stderr.matches("cannot accept connections").count();
    assert!(accept_errors <= 1, "{stderr}");
    let _ = std::fs::remove_file(config);
}

/// A mistyped store URL is refused in one sentence, creates no file (a bare
/// path is a file store, and `redis:PASSWORD@HOST` used to become one) and
/// never shows the password it holds, given as the flag or in the environment.
#[test]
fn a_mistyped_store_url_is_refused_without_showing_its_password_or_making_a_file() {
    let config = empty_config("mistyped-store");
    let dir = tempfile::tempdir().unwrap();
    for typo in [
        "redis:S3cretPW@127.0.0.1:6379",
        "redis//:S3cretPW@127.0.0.1",
        "http://:S3cretPW@127.0.0.1:6379/0",
    ] {
        for by_env in [false, true] {
            let mut command = sessiontop(&config);
            command.current_dir(dir.path()).arg("serve");
            if by_env {
                command.env("SESSIONTOP_STORE", typo);
            } else {
                command.args(["--store", typo]);
            }
            let output = command.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(!output.status.success(), "{typo}: {stdout}");
            assert!(stderr.contains("redis://HOST:PORT/DB"), "{typo}: {stderr}");
            assert!(
                !stderr.contains("S3cretPW") && !stdout.contains("S3cretPW"),
                "{typo}: {stderr}"
            );
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a file or directory was made"
    );
}
