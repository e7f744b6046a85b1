//! End-to-end: the dashboard connected to a real `sessiontop serve`, in a
//! pseudo-terminal, through a proxy the test can cut. No fixed sleeps: every
//! wait polls the screen or the server against a deadline.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::proxy::Proxy;
use support::pty::{Dashboard, TempDir, WAIT, assert_terminal_restored};
use support::server::{ADMIN_TOKEN, APP_TOKEN, Server};

struct Api {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Api {
    fn new() -> Api {
        Api {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn login(&self, server: &Server, user: &str) -> Value {
        self.runtime.block_on(async {
            let response = self
                .http
                .post(format!("{}/v1/sessions", server.url()))
                .bearer_auth(APP_TOKEN)
                .json(&json!({ "user": user, "attributes": { "ip": "192.0.2.7" } }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 201);
            response.json::<Value>().await.unwrap()["session"].clone()
        })
    }

    fn sessions_of(&self, server: &Server, user: &str) -> Vec<Value> {
        self.runtime.block_on(async {
            let body: Value = self
                .http
                .get(format!("{}/v1/admin/sessions", server.url()))
                .query(&[("user", user)])
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["sessions"].as_array().unwrap().clone()
        })
    }

    fn revoke(&self, server: &Server, handle: &str) {
        self.runtime.block_on(async {
            let response = self
                .http
                .delete(format!("{}/v1/admin/sessions/{handle}", server.url()))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 204);
        })
    }

    /// Waits until the server's sessions of `user` number `n`.
    fn wait_sessions_of(&self, server: &Server, user: &str, n: usize) {
        let deadline = Instant::now() + WAIT;
        while self.sessions_of(server, user).len() != n {
            assert!(Instant::now() < deadline, "{user} never had {n} sessions");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn open_dashboard(dir: &TempDir, proxy: &Proxy) -> Dashboard {
    let token_file = dir.write("admin-token", &format!("{ADMIN_TOKEN}\n"));
    let url = format!("http://{}", proxy.addr);
    Dashboard::start(
        &dir.0,
        &[
            "--server",
            &url,
            "--token-file",
            token_file.to_str().unwrap(),
        ],
        &[],
    )
}

/// Lines of the event log (`time kind user handle reason`) with this kind and user.
fn log_lines(screen: &str, kind: &str, user: &str) -> usize {
    screen
        .lines()
        .filter(|line| {
            let words: Vec<&str> = line.trim_matches('│').split_whitespace().collect();
            words.len() > 2
                && words[0].len() == 8
                && words[0].as_bytes()[2] == b':'
                && words[1] == kind
                && words[2] == user
        })
        .count()
}

#[test]
fn an_operator_watches_and_acts_on_a_live_server_and_rides_out_a_network_drop() {
    let api = Api::new();
    let server = Server::start(&[]);
    let proxy = api.runtime.block_on(Proxy::start(server.addr));
    let dir = TempDir::new("remote-live");
    let mut d = open_dashboard(&dir, &proxy);
    let screen = d.wait_text("No live sessions");
    assert!(
        screen.contains(&proxy.addr.to_string()),
        "the header names the server"
    );
    assert!(!screen.contains(ADMIN_TOKEN), "the token is never shown");

    // A web app logs a user in: the dashboard shows it.
    let alice = api.login(&server, "web-alice");
    d.wait_for("web-alice's session", |s| {
        s.contains("web-alice") && s.contains("● active")
    });

    // n creates a real session on the server, and the prompt says so.
    d.press("n");
    d.wait_text("A real session on the server");
    d.press("\x15dash-bob\r");
    d.wait_for("dash-bob's session", |s| s.contains("dash-bob"));
    api.wait_sessions_of(&server, "dash-bob", 1);

    // r revokes it on the server.
    d.press("/");
    d.press("dash-bob\r");
    d.wait_for("the filter to leave dash-bob alone", |s| {
        !s.contains("web-alice") || s.contains("1 shown")
    });
    d.press("r");
    d.wait_text("Revoke session");
    d.press("y");
    d.wait_for("the revocation in the log", |s| {
        log_lines(s, "revoked", "dash-bob") == 1
    });
    api.wait_sessions_of(&server, "dash-bob", 0);
    d.press("\x1b");

    // The network drops while the server keeps running.
    proxy.cut();
    d.wait_text("RECONNECTING");
    let carol = api.login(&server, "away-carol");
    api.revoke(&server, alice["handle"].as_str().unwrap());
    proxy.restore();

    // Back: what happened meanwhile comes from the server's history, once.
    let screen = d.wait_for("the events from while it was away", |s| {
        s.contains("away-carol") && log_lines(s, "revoked", "web-alice") == 1
    });
    assert_eq!(log_lines(&screen, "created", "away-carol"), 1, "{screen}");
    d.wait_for("the reconnecting badge to go", |s| {
        !s.contains("RECONNECTING")
    });
    // A live event after the reconnection arrives exactly once too.
    api.revoke(&server, carol["handle"].as_str().unwrap());
    let screen = d.wait_for("carol's revocation", |s| {
        log_lines(s, "revoked", "away-carol") == 1
    });
    assert_eq!(log_lines(&screen, "created", "away-carol"), 1, "{screen}");
    assert_eq!(log_lines(&screen, "revoked", "web-alice"), 1, "{screen}");

    d.press("q");
    let (ok, bytes) = d.wait_exit();
    assert!(ok);
    assert_terminal_restored(&bytes);
    assert!(!String::from_utf8_lossy(&bytes).contains(ADMIN_TOKEN));
}

#[test]
fn a_restarted_server_is_noticed_resynced_and_followed_from_its_new_sequence() {
    let api = Api::new();
    let first = Server::start(&[]);
    let proxy = api.runtime.block_on(Proxy::start(first.addr));
    let dir = TempDir::new("remote-restart");
    let mut d = open_dashboard(&dir, &proxy);
    d.wait_text("No live sessions");
    // Push the first instance's sequence numbers well past where a new one starts.
    for i in 0..20 {
        api.login(&first, &format!("old-user-{i:02}"));
    }
    d.wait_text("old-user-19");

    // The server dies and a new one takes its place: its sessions are gone.
    first.stop();
    let second = Server::start(&[]);
    proxy.redirect(second.addr);
    let live_old = |s: &str| {
        s.lines()
            .any(|l| l.contains("old-user") && l.contains("● active"))
    };
    d.wait_for("the old sessions to go", |s| !live_old(s));
    d.wait_text("server restarted: 20 sessions were not kept");
    api.login(&second, "new-dave");
    d.wait_for("a session of the new server", |s| s.contains("new-dave"));
    // seq 2 on the new server is far below the old last seq, and must still apply.
    api.login(&second, "new-erin");
    let screen = d.wait_for("a live event of the new server", |s| s.contains("new-erin"));
    assert!(!live_old(&screen), "{screen}");

    d.press("q");
    let (ok, _) = d.wait_exit();
    assert!(ok);
}

/// Runs the dashboard against `url` and returns what it printed as it failed.
fn failure(dir: &TempDir, url: &str, token_file: &std::path::Path) -> String {
    let token_file = token_file.to_str().unwrap();
    let d = Dashboard::start(&dir.0, &["--server", url, "--token-file", token_file], &[]);
    let (ok, bytes) = d.wait_exit();
    assert!(!ok, "the dashboard must not start");
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_wrong_token_or_an_unreachable_server_is_a_clear_error_at_start() {
    let dir = TempDir::new("remote-errors");
    let server = Server::start(&[]);
    let wrong = dir.write("wrong", "not-the-admin-token-at-all\n");
    let text = failure(&dir, &server.url(), &wrong);
    assert!(text.contains("refused the token (401)"), "{text}");
    assert!(!text.contains("not-the-admin-token-at-all"), "{text}");

    let text = failure(&dir, "http://127.0.0.1:9", &wrong);
    assert!(text.contains("cannot reach http://127.0.0.1:9"), "{text}");

    let text = failure(&dir, "127.0.0.1:7878", &wrong);
    assert!(text.contains("has no scheme: add http://"), "{text}");
    let text = failure(&dir, &format!("{}/v1", server.url()), &wrong);
    assert!(
        text.contains(&format!("give the base URL, {},", server.url())),
        "{text}"
    );

    let app_token = dir.write("app", &format!("{APP_TOKEN}\n"));
    let text = failure(&dir, &server.url(), &app_token);
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains(APP_TOKEN));

    // A file that is not one token is said to be the problem, not the
    // server, and what it holds is not shown.
    let two = dir.write("two", &format!("{ADMIN_TOKEN}\nsecond-line-0123456789\n"));
    let text = failure(&dir, &server.url(), &two);
    assert!(
        text.contains("does not hold one token") && text.contains("two"),
        "{text}"
    );
    assert!(!text.contains("cannot reach"), "{text}");
    assert!(!text.contains("second-line"), "{text}");
}

/// A server that answers every request with `response`, as written.
fn canned_server(response: &'static str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

/// A server that takes the connection and never answers: the terminal says
/// what is being waited for instead of staying silent for 15 s.
#[test]
fn a_server_slow_to_answer_is_said_to_be_waited_for() {
    let dir = TempDir::new("remote-slow");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(4).collect();
        std::thread::sleep(Duration::from_secs(60));
        drop(held);
    });
    let token = dir.write("token", &format!("{ADMIN_TOKEN}\n"));
    let d = Dashboard::start(
        &dir.0,
        &["--server", &url, "--token-file", token.to_str().unwrap()],
        &[],
    );
    d.wait_text(&format!("connecting to {url}…"));
}

#[test]
fn a_servers_error_text_cannot_drive_the_terminal() {
    let dir = TempDir::new("remote-escapes");
    let body = r#"{"error":"invalid","message":"bad \u001b[2J\u001b]0;PWNED\u0007 x"}"#;
    let response: &'static str = format!(
        "HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .leak();
    let url = canned_server(response);
    let token = dir.write("token", &format!("{ADMIN_TOKEN}\n"));
    let text = failure(&dir, &url, &token);
    assert!(
        text.contains("bad \\u{1b}[2J\\u{1b}]0;PWNED\\u{7} x"),
        "{text}"
    );
    assert!(!text.contains("\u{1b}]0;PWNED"), "{text:?}");
}
