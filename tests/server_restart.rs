//! `sessiontop serve` on the file store, as a real process: users stay logged
//! in across a restart (SIGTERM) and across a crash (`kill -9`: nothing
//! answered or streamed is lost, whatever the fsync mode), and sessions that ran out while the server was down
//! end at start-up, once each.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::server::{ADMIN_TOKEN, Server, client};

fn admin(client: &Client, server: &Server, path: &str) -> Value {
    client
        .get(format!("{}{path}", server.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

/// Every live session by handle, through the admin listing.
fn sessions(client: &Client, server: &Server) -> BTreeMap<String, Value> {
    let page = admin(client, server, "/v1/admin/sessions?limit=10000");
    assert!(page["next_cursor"].is_null());
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["handle"].as_str().unwrap().to_owned(), s.clone()))
        .collect()
}

fn start(store: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--store", store];
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn sessions_survive_a_restart_with_their_tokens_and_the_event_sequence_continues() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("sessions.db").display());
    let server = start(&store, &[]);
    let client = client();
    let mut tokens = Vec::new();
    for i in 0..1000 {
        let (status, body) = server.post(&client, "/v1/sessions",
            json!({"user": format!("user{}", i % 97), "attributes": {"ip": format!("203.0.113.{}", i % 250), "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0"}}),
        );
        assert_eq!(status, 201);
        tokens.push(body["token"].as_str().unwrap().to_owned());
    }
    for token in &tokens[..200] {
        assert_eq!(
            server
                .post(&client, "/v1/sessions/touch", json!({"token": token}))
                .0,
            200
        );
    }
    for token in &tokens[200..300] {
        assert_eq!(
            server
                .post(&client, "/v1/sessions/logout", json!({"token": token}))
                .0,
            204
        );
    }
    let revoked = {
        let live = sessions(&client, &server);
        let handles: Vec<String> = live.keys().take(50).cloned().collect();
        for handle in &handles {
            let status = client
                .delete(format!("{}/v1/admin/sessions/{handle}", server.url()))
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .unwrap()
                .status();
            assert_eq!(status, 204);
        }
        handles.into_iter().collect::<BTreeSet<_>>()
    };
    let before = sessions(&client, &server);
    assert_eq!(before.len(), 850);
    let stats = admin(&client, &server, "/v1/admin/stats");
    let (instance, before_seq) = (
        stats["instance"].clone(),
        stats["last_seq"].as_u64().unwrap(),
    );
    assert!(
        server.terminate().success(),
        "SIGTERM stops the server cleanly"
    );

    let server = start(&store, &[]);
    let after = sessions(&client, &server);
    assert_eq!(after.len(), before.len());
    for (handle, session) in &before {
        assert_eq!(
            after.get(handle),
            Some(session),
            "session {handle}, with its attributes and times"
        );
    }
    let stats = admin(&client, &server, "/v1/admin/stats");
    assert_eq!(
        stats["instance"], instance,
        "the same instance: ids stay valid"
    );
    // Coalesced touches are announced as the server stops, so the count may have moved on.
    let last_seq = stats["last_seq"].as_u64().unwrap();
    assert!(last_seq >= before_seq, "event numbers are never reused");
    let (mut alive, mut ended) = (0, 0);
    for token in &tokens {
        let (status, body) = server.post(&client, "/v1/sessions/touch", json!({"token": token}));
        match status {
            200 => {
                alive += 1;
                assert!(!revoked.contains(body["session"]["handle"].as_str().unwrap()));
            }
            404 => ended += 1,
            other => panic!("touch answered {other}"),
        }
    }
    assert_eq!(
        (alive, ended),
        (850, 150),
        "live tokens work, ended ones stay ended"
    );
    assert_eq!(
        server
            .post(&client, "/v1/sessions", json!({"user": "newcomer"}))
            .0,
        201
    );
    let stats = admin(&client, &server, "/v1/admin/stats");
    assert!(
        stats["last_seq"].as_u64().unwrap() > last_seq,
        "the sequence continues"
    );
}

/// The terminal `serve` ran in closing (SIGHUP) stops it as SIGTERM does:
/// everything written and folded into the one file.
#[test]
fn sighup_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let store = format!("file:{}", path.display());
    let server = start(&store, &[]);
    let client = client();
    for user in ["ann", "ben", "cid"] {
        assert_eq!(
            server
                .post(&client, "/v1/sessions", json!({"user": user}))
                .0,
            201
        );
    }
    assert!(server.stop_with(libc::SIGHUP).success());
    for leftover in ["sessions.db-reserve", "sessions.db-wal"] {
        let file = dir.path().join(leftover);
        assert!(
            !file.exists() || std::fs::metadata(&file).unwrap().len() == 0,
            "{leftover} is left"
        );
    }
    let server = start(&store, &[]);
    assert_eq!(sessions(&client, &server).len(), 3);
}

/// Handles, each with when its change was answered.
type Answered = Vec<(Instant, String)>;

/// Logs in and out at `url` as fast as answers come, as user `{who}{i}`,
/// until the server stops answering; returns the logins and logouts answered.
fn load(url: &str, who: &str) -> (Answered, Answered) {
    let client = client();
    let post = |path: &str, body: Value| {
        let response = client
            .post(format!("{url}{path}"))
            .bearer_auth(support::server::APP_TOKEN)
            .json(&body)
            .send()
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.json::<Value>().unwrap_or(Value::Null)))
    };
    let (mut logins, mut logouts) = (Vec::new(), Vec::new());
    for i in 0.. {
        let Some((status, body)) = post("/v1/sessions", json!({"user": format!("{who}{i}")}))
        else {
            break;
        };
        assert_eq!(status, 201);
        let token = body["token"].as_str().unwrap().to_owned();
        let handle = body["session"]["handle"].as_str().unwrap().to_owned();
        logins.push((Instant::now(), handle.clone()));
        if i % 3 == 0 {
            let Some((status, _)) = post("/v1/sessions/logout", json!({"token": token})) else {
                // Not answered: it may or may not have been made.
                logins.pop();
                break;
            };
            assert_eq!(status, 204);
            logouts.push((Instant::now(), handle));
        }
    }
    (logins, logouts)
}

/// A crash of the process (`kill -9`) in the middle of a load from four
/// clients brings back no session whose logout was answered, loses no
/// login answered with `fsync = "always"` (with `"everysec"` the last
/// moments' logins may be lost: their users log in again), and loses no
/// event an event stream client saw: the sequence goes on after the newest
/// one it got, never giving its id to another event.
#[test]
fn every_answered_change_and_every_streamed_event_survives_kill_9() {
    for fsync in ["everysec", "always"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        let config = dir.path().join("config.toml");
        std::fs::write(&config, format!("[store]\nfsync = \"{fsync}\"\n")).unwrap();
        let store = format!("file:{}", path.display());
        let args = ["--config", config.to_str().unwrap()];
        let server = start(&store, &args);
        let url = server.url();
        let stream = support::sse::Stream::open(&server, None);
        let (logins, logouts) = std::thread::scope(|scope| {
            let clients: Vec<_> = ["a", "b", "c", "d"]
                .map(|who| {
                    let url = &url;
                    scope.spawn(move || load(url, who))
                })
                .into_iter()
                .collect();
            std::thread::sleep(Duration::from_millis(1500));
            server.stop(); // SIGKILL, with requests in flight
            let (mut logins, mut logouts) = (Vec::new(), Vec::new());
            for client in clients {
                let (i, o) = client.join().unwrap();
                logins.extend(i);
                logouts.extend(o);
            }
            (logins, logouts)
        });
        let mut streamed = 0;
        while let Some(event) = stream.next(Duration::from_secs(5)) {
            let seq: u64 = event.id.rsplit_once('-').unwrap().1.parse().unwrap();
            streamed = streamed.max(seq);
        }
        let server = start(&store, &args);
        let live = sessions(&client(), &server);
        let out: BTreeSet<&String> = logouts.iter().map(|(_, h)| h).collect();
        let back: Vec<&&String> = out.iter().filter(|h| live.contains_key(**h)).collect();
        assert!(back.is_empty(), "{fsync}: logged out, but back: {back:?}");
        let lost: Vec<&String> = logins
            .iter()
            .map(|(_, h)| h)
            .filter(|h| live.contains_key(*h) == out.contains(*h))
            .filter(|_| fsync == "always")
            .collect();
        assert!(
            lost.is_empty(),
            "{fsync}: {} of {} answered changes lost, such as {:?}",
            lost.len(),
            logins.len() + logouts.len(),
            lost.first()
        );
        assert!(
            streamed > 100,
            "{fsync}: the stream saw the load ({streamed})"
        );
        let stats = admin(&client(), &server, "/v1/admin/stats");
        assert!(
            stats["last_seq"].as_u64().unwrap() >= streamed,
            "{fsync}: event {streamed} was streamed but not kept: {stats}"
        );
    }
}

#[test]
fn sessions_that_ran_out_while_the_server_was_down_end_at_start_with_one_event_each() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file:{}", dir.path().join("sessions.db").display());
    let server = start(&store, &[]);
    let client = client();
    for i in 0..10 {
        let (status, _) = server.post(
            &client,
            "/v1/sessions",
            json!({"user": format!("brief{i}"), "idle_timeout": "2s"}),
        );
        assert_eq!(status, 201);
    }
    let (_, keeper) = server.post(&client, "/v1/sessions", json!({"user": "keeper"}));
    let stats = admin(&client, &server, "/v1/admin/stats");
    let resume_from = format!(
        "{}-{}",
        stats["instance"].as_str().unwrap(),
        stats["last_seq"]
    );
    assert!(server.terminate().success());
    // The downtime itself: the one real wait here, as the sessions' clock is the real one.
    std::thread::sleep(Duration::from_secs(3));

    let server = start(&store, &[]);
    let mut response = client
        .get(format!("{}/v1/admin/events", server.url()))
        .bearer_auth(ADMIN_TOKEN)
        .header("Last-Event-ID", &resume_from)
        .send()
        .unwrap();
    let mut text = String::new();
    let mut buffer = [0u8; 8192];
    while text.matches("event: expired").count() < 10 {
        use std::io::Read as _;
        let n = response.read(&mut buffer).unwrap();
        assert!(n > 0, "the stream ended early:\n{text}");
        text.push_str(&String::from_utf8_lossy(&buffer[..n]));
    }
    assert!(
        !text.contains("event: resync"),
        "resumed, not resynced:\n{text}"
    );
    let expired: Vec<Value> = text
        .split("\n\n")
        .filter(|frame| frame.contains("event: expired"))
        .map(|frame| {
            let data = frame
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap();
            serde_json::from_str(data).unwrap()
        })
        .collect();
    assert_eq!(expired.len(), 10);
    let users: BTreeSet<&str> = expired
        .iter()
        .map(|e| e["session"]["user"].as_str().unwrap())
        .collect();
    assert_eq!(users.len(), 10, "one event each");
    for event in &expired {
        assert_eq!(event["reason"], "idle");
        let late = chrono::DateTime::parse_from_rfc3339(event["at"].as_str().unwrap()).unwrap()
            - chrono::DateTime::parse_from_rfc3339(event["deadline"].as_str().unwrap()).unwrap();
        assert!(
            late.num_milliseconds() >= 900,
            "late by about the downtime: {late}"
        );
    }
    // The start line says so.
    assert!(
        server.started.iter().any(|line| line.ends_with(
            ": 11 loaded, of which 10 had run out while no server ran and ended now (1 live)"
        )),
        "{:?}",
        server.started
    );
    // `/metrics` counts them too, late by the downtime: its follower reads
    // the run's events from the start, those made at start-up first.
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = client
            .get(format!("{}/metrics", server.url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap()
            .text()
            .unwrap();
        if metrics.contains("sessiontop_expiry_lateness_seconds_count 10\n") {
            assert!(
                !metrics.contains("sessiontop_expiry_lateness_seconds_bucket{le=\"0.5\"} 10"),
                "each about the downtime late:\n{metrics}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "the start-up expiries are not in the lateness figures:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, _) = server.post(
        &client,
        "/v1/sessions/touch",
        json!({"token": keeper["token"]}),
    );
    assert_eq!(status, 200, "the keeper goes on");
}
