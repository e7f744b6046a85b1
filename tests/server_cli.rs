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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_from_files_allow_a_public_address_and_are_never_printed() {
    let dir = std::env::temp_dir();
    let id = std::process::id();
    let app_file = dir.join(format!("sessiontop-cli-app-{id}"));
    let admin_file = dir.join(format!("sessiontop-cli-admin-{id}"));
    std::fs::write(&app_file, "file-app-token-0123456789\n").unwrap();
    std::fs::write(&admin_file, "file-admin-token-0123456789\n").unwrap();
    let config = dir.join(format!("sessiontop-server-cli-files-{id}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\napp_token_file = {:?}\nadmin_token_file = {:?}\n",
            app_file.display().to_string(),
            admin_file.display().to_string()
        ),
    )
    .unwrap();
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
    for file in [app_file, admin_file, config] {
        let _ = std::fs::remove_file(file);
    }
}
