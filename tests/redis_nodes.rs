//! Several `sessiontop serve` processes on one real Redis behave as one
//! session server: any node answers any request, every node serves the one
//! event stream (a client resumes on another node with no gap and no
//! duplicate), each session expires exactly once whichever nodes race for it,
//! a node that dies leaves the others to carry on, and Redis going away is a
//! 503 within a second, not a hang, with the nodes recovering by themselves.
//!
//! Each test starts its own `redis-server` (tests/support/redis.rs) and its
//! own nodes. Deadlines here are Redis's real clock, so the timeouts are the
//! shortest the policy allows (1 s) and the waits are bounded polls.

mod support;

#[path = "support/redis.rs"]
mod redis_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use redis_support::RedisServer;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use support::server::{ADMIN_TOKEN, Server, client};
use support::sse::Stream;

fn nodes(redis: &RedisServer, n: usize) -> Vec<Server> {
    let url = redis.url();
    (0..n).map(|_| Server::start(&["--store", &url])).collect()
}

fn get(client: &Client, node: &Server, path: &str) -> Value {
    let (status, body) = node.admin(client, reqwest::Method::GET, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn login(client: &Client, node: &Server, body: Value) -> (String, String) {
    let (status, body) = node.post(client, "/v1/sessions", body);
    assert_eq!(status, 201, "{body}");
    (
        body["token"].as_str().unwrap().to_owned(),
        body["session"]["handle"].as_str().unwrap().to_owned(),
    )
}

fn handles(page: &Value) -> Vec<String> {
    page["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions in {page}"))
        .iter()
        .map(|s| s["handle"].as_str().unwrap().to_owned())
        .collect()
}

fn seq_of(id: &str) -> u64 {
    id.rsplit_once('-').unwrap().1.parse().unwrap()
}

/// Polls `check` until it holds or `wait` has passed; returns whether it held.
fn eventually(wait: Duration, mut check: impl FnMut() -> bool) -> bool {
    let give_up = Instant::now() + wait;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > give_up {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_session_lives_across_three_nodes_as_on_one() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b, c] = <[Server; 3]>::try_from(nodes(&redis, 3)).ok().unwrap();
    let client = client();
    let stream = Stream::open(&c, None);

    let (token, handle) = login(
        &client,
        &a,
        json!({"user": "alice", "attributes": {"ip": "192.0.2.7"}}),
    );
    let (status, body) = b.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 200, "a touch on B of a login on A: {body}");
    let (status, body) = c.post(&client, "/v1/sessions/renew", json!({"token": token}));
    assert_eq!(status, 200, "a renewal on C: {body}");
    let renewed = body["token"].as_str().unwrap().to_owned();
    assert_eq!(body["session"]["handle"], handle.as_str());
    let (status, _) = a.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 404, "the old token died on every node");
    let (_, bob) = login(&client, &b, json!({"user": "bob"}));

    // Every node lists the same sessions and counts the same.
    let lists: Vec<Vec<String>> = [&a, &b, &c]
        .iter()
        .map(|n| handles(&get(&client, n, "/v1/admin/sessions")))
        .collect();
    assert_eq!(lists[0].len(), 2);
    assert!(lists.iter().all(|l| *l == lists[0]), "{lists:?}");
    let by_user = get(&client, &b, "/v1/admin/sessions?user=alice");
    assert_eq!(handles(&by_user), std::slice::from_ref(&handle));
    let stats: Vec<Value> = [&a, &b, &c]
        .iter()
        .map(|n| get(&client, n, "/v1/admin/stats"))
        .collect();
    for s in &stats {
        assert_eq!(s["active"], 2);
        assert_eq!(s["totals"]["logins"], 2);
        assert_eq!(s["totals"]["renewals"], 1);
        assert_eq!(s["totals"]["touches"], 1);
        assert_eq!(s["instance"], stats[0]["instance"], "one instance");
        assert!(s["store"].as_str().unwrap().starts_with("redis://"));
    }
    let node_ids: BTreeSet<&str> = stats.iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(node_ids.len(), 3, "each node names itself: {node_ids:?}");
    // The event stream names the node that serves it, for a dashboard behind a balancer.
    let response = client
        .get(format!("{}/v1/admin/events", c.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap();
    assert_eq!(
        response.headers()["sessiontop-node"].to_str().unwrap(),
        stats[2]["node"].as_str().unwrap()
    );
    drop(response);

    // Revoked from A (as a dashboard attached to A would), gone everywhere.
    let (status, _) = a.admin(
        &client,
        reqwest::Method::DELETE,
        &format!("/v1/admin/sessions/{handle}"),
    );
    assert_eq!(status, 204);
    let (status, _) = c.post(&client, "/v1/sessions/touch", json!({"token": renewed}));
    assert_eq!(status, 404);
    assert_eq!(handles(&get(&client, &c, "/v1/admin/sessions")), [bob]);

    // C's stream saw every change, in order, whichever node made it.
    let seen = stream.until(Duration::from_secs(10), |s| {
        s.iter().any(|e| e.kind == "revoked")
    });
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        // The touch right after the login is coalesced into the renewal.
        ["created", "renewed", "created", "revoked"],
        "{seen:?}"
    );
    let seqs: Vec<u64> = seen.iter().map(|e| seq_of(&e.id)).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(seen[3].data["actor"], "admin");
    let text = format!("{seen:?}");
    assert!(
        !text.contains(&token) && !text.contains(&renewed),
        "no token on the stream"
    );
}

#[test]
fn sessions_expire_exactly_once_while_three_nodes_race_for_them() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let all = nodes(&redis, 3);
    let client = client();
    let stream = Stream::open(&all[1], None);
    let mut created = BTreeSet::new();
    for i in 0..1000 {
        let node = &all[i % 3];
        let (_, handle) = login(
            &client,
            node,
            json!({"user": format!("u{}", i % 97), "idle_timeout": "1s"}),
        );
        created.insert(handle);
    }
    let seen = stream.until(Duration::from_secs(60), |s| {
        s.iter().filter(|e| e.kind == "expired").count() >= 1000
    });
    let mut expired: BTreeMap<String, usize> = BTreeMap::new();
    for event in seen.iter().filter(|e| e.kind == "expired") {
        assert_eq!(event.data["reason"], "idle");
        *expired
            .entry(event.data["session"]["handle"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(expired.keys().cloned().collect::<BTreeSet<_>>(), created);
    assert!(expired.values().all(|&n| n == 1), "one expired event each");
    // Nothing more comes: no node ends a session a second time.
    std::thread::sleep(Duration::from_millis(1500));
    while let Ok(Some(event)) = stream.events.try_recv().map_err(|_| ()) {
        assert_ne!(event.kind, "expired", "a second expiry: {event:?}");
    }
    for node in &all {
        let stats = get(&client, node, "/v1/admin/stats");
        assert_eq!(stats["active"], 0);
        assert_eq!(stats["totals"]["expired_idle"], 1000, "{stats}");
    }
}

#[test]
fn a_stream_client_resumes_on_another_node_with_no_gap_and_no_duplicate() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(nodes(&redis, 2)).ok().unwrap();
    let client = client();
    let on_a = Stream::open(&a, None);
    for i in 0..5 {
        login(&client, &a, json!({"user": format!("early{i}")}));
    }
    let first = on_a.until(Duration::from_secs(10), |s| s.len() >= 5);
    let last_id = first.last().unwrap().id.clone();
    drop(on_a);
    // While the client is away, both nodes make changes.
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        login(&client, node, json!({"user": format!("late{i}")}));
    }
    let on_b = Stream::open(&b, Some(&last_id));
    let resumed = on_b.until(Duration::from_secs(10), |s| s.len() >= 10);
    let seqs: Vec<u64> = resumed.iter().map(|e| seq_of(&e.id)).collect();
    let expected: Vec<u64> = (seq_of(&last_id) + 1..=seq_of(&last_id) + 10).collect();
    assert_eq!(seqs, expected, "every missed event once, in order");
    let users: Vec<&str> = resumed
        .iter()
        .map(|e| e.data["session"]["user"].as_str().unwrap())
        .collect();
    assert!(users.iter().all(|u| u.starts_with("late")), "{users:?}");
    assert!(resumed.iter().all(|e| e.kind == "created"));

    // An id from before anything the stream ever held is answered with resync.
    let instance = get(&client, &b, "/v1/admin/stats")["instance"]
        .as_str()
        .unwrap()
        .to_owned();
    let ahead = Stream::open(&a, Some(&format!("{instance}-999999")));
    let event = ahead.next(Duration::from_secs(10)).unwrap();
    assert_eq!(event.kind, "resync");
    assert_eq!(event.data["reason"], "ahead");
}

#[test]
fn two_logins_of_one_user_racing_on_two_nodes_keep_the_limit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(nodes(&redis, 2)).ok().unwrap();
    let client = client();
    for round in 0..25 {
        let user = format!("racer{round}");
        std::thread::scope(|scope| {
            for node in [&a, &b] {
                let (client, user) = (&client, &user);
                scope.spawn(move || {
                    login(
                        client,
                        node,
                        json!({"user": user, "max_sessions_per_user": 1}),
                    )
                });
            }
        });
        let page = get(&client, &a, &format!("/v1/admin/sessions?user={user}"));
        assert_eq!(handles(&page).len(), 1, "round {round}: {page}");
    }
    let stats = get(&client, &b, "/v1/admin/stats");
    assert_eq!(stats["active"], 25);
    assert_eq!(stats["totals"]["evicted"], 25, "{stats}");
}

#[test]
fn redis_going_away_is_a_503_within_a_second_and_the_nodes_recover_by_themselves() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(nodes(&redis, 2)).ok().unwrap();
    let client = client();
    let (token, handle) = login(&client, &a, json!({"user": "carol"}));
    let stream = Stream::open(&b, None);

    redis.kill();
    for node in [&a, &b] {
        let started = Instant::now();
        let (status, body) = node.post(&client, "/v1/sessions", json!({"user": "dave"}));
        let took = started.elapsed();
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "store_unavailable", "{body}");
        assert!(
            took < Duration::from_millis(2500),
            "answered after {took:?}"
        );
        let text = body.to_string();
        assert!(!text.contains("127.0.0.1"), "no host in the answer: {text}");
        let (status, _) = node.post(&client, "/v1/sessions/touch", json!({"token": token}));
        assert_eq!(status, 503);
        let (status, _) = node.admin(&client, reqwest::Method::GET, "/v1/admin/sessions");
        assert_eq!(status, 503);
    }
    // The stream's clients are let go, to resume later.
    let give_up = Instant::now() + Duration::from_secs(15);
    loop {
        match stream.events.recv_timeout(Duration::from_secs(1)) {
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => assert!(Instant::now() < give_up, "the stream stayed open"),
        }
    }
    // A client reconnecting meanwhile is told the store is away, not left waiting.
    let (status, body) = b.admin(&client, reqwest::Method::GET, "/v1/admin/events");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "store_unavailable");
    // Liveness is the process's: the node is up, waiting for Redis. Readiness
    // is the store's: a load balancer's check sends no one to it meanwhile.
    let (status, _) = a.admin(&client, reqwest::Method::GET, "/healthz");
    assert_eq!(status, 200);
    let scrape = |node: &Server| {
        let response = client
            .get(format!("{}/metrics", node.url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().unwrap()
    };
    let metrics = scrape(&a);
    assert!(metrics.contains("\nsessiontop_store_up 0\n"), "{metrics}");
    assert!(!metrics.contains("sessiontop_active_sessions"), "{metrics}");
    for node in [&a, &b] {
        let started = Instant::now();
        let (status, body) = node.admin(&client, reqwest::Method::GET, "/readyz");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"], "store_unavailable", "{body}");
        assert!(started.elapsed() < Duration::from_millis(2500));
    }

    redis.restart();
    for node in [&a, &b] {
        assert!(
            eventually(Duration::from_secs(20), || {
                node.post(&client, "/v1/sessions/touch", json!({"token": token}))
                    .0
                    == 200
            }),
            "the node reconnected by itself"
        );
    }
    for node in [&a, &b] {
        let (status, body) = node.admin(&client, reqwest::Method::GET, "/readyz");
        assert_eq!((status, body), (200, json!({"status": "ok"})));
        let metrics = scrape(node);
        assert!(metrics.contains("\nsessiontop_store_up 1\n"), "{metrics}");
    }
    // Nothing answered before the outage was lost (AOF, fsync always).
    assert_eq!(
        handles(&get(&client, &b, "/v1/admin/sessions?user=carol")),
        [handle]
    );
    login(&client, &b, json!({"user": "erin"}));
    assert_eq!(get(&client, &a, "/v1/admin/stats")["active"], 2);
}

#[test]
fn redis_losing_its_data_starts_a_new_history_that_every_node_follows() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let [a, b] = <[Server; 2]>::try_from(nodes(&redis, 2)).ok().unwrap();
    let client = client();
    login(&client, &a, json!({"user": "carol"}));
    let old = get(&client, &b, "/v1/admin/stats")["instance"]
        .as_str()
        .unwrap()
        .to_owned();
    let stream = Stream::open(&b, None);
    redis.restart_empty();
    // Each node sees that Redis no longer holds its history and follows the
    // new one: one new instance, the same on every node.
    let mut instances = Vec::new();
    assert!(
        eventually(Duration::from_secs(20), || {
            instances = [&a, &b]
                .map(|node| node.admin(&client, reqwest::Method::GET, "/v1/admin/stats"))
                .iter()
                .map(|(status, stats)| (*status == 200).then(|| stats["instance"].to_string()))
                .collect();
            instances[0].is_some()
                && instances[0] == instances[1]
                && instances[0].as_deref() != Some(format!("\"{old}\"").as_str())
        }),
        "a new instance on both nodes: {instances:?}"
    );
    // The old history's stream was let go.
    let give_up = Instant::now() + Duration::from_secs(15);
    loop {
        match stream.events.recv_timeout(Duration::from_secs(1)) {
            Ok(None) => break,
            Ok(Some(_)) | Err(_) => assert!(Instant::now() < give_up, "the stream stayed open"),
        }
    }
    // A client resuming from the old history is told to reload.
    let resumed = Stream::open(&b, Some(&format!("{old}-1")));
    let first = resumed.next(Duration::from_secs(10)).expect("an event");
    assert_eq!(first.kind, "resync", "{first:?}");
    assert_eq!(first.data["reason"], "other_instance", "{first:?}");
    // New events reach every node's stream, with ids of the new history.
    let live = Stream::open(&b, None);
    let (_, handle) = login(&client, &a, json!({"user": "dave"}));
    let seen = live.until(Duration::from_secs(10), |seen| {
        seen.iter().any(|e| e.kind == "created")
    });
    let created = seen.iter().find(|e| e.kind == "created").unwrap();
    assert_eq!(created.data["session"]["handle"], handle);
    let new = instances[0].as_deref().unwrap().trim_matches('"');
    assert!(created.id.starts_with(&format!("{new}-")), "{created:?}");
    assert_eq!(get(&client, &a, "/v1/admin/stats")["active"], 1);
}

#[test]
fn a_node_killed_leaves_the_others_expiring_on_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut all = nodes(&redis, 3);
    let client = client();
    let mut created = BTreeSet::new();
    for i in 0..60 {
        let (_, handle) = login(
            &client,
            &all[i % 3],
            json!({"user": format!("k{i}"), "idle_timeout": "1s"}),
        );
        created.insert(handle);
    }
    let stream = Stream::open(&all[2], None);
    all.remove(0).stop();
    let seen = stream.until(Duration::from_secs(20), |s| {
        s.iter().filter(|e| e.kind == "expired").count() >= 60
    });
    let expired: BTreeSet<String> = seen
        .iter()
        .filter(|e| e.kind == "expired")
        .map(|e| e.data["session"]["handle"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expired, created);
    for event in seen.iter().filter(|e| e.kind == "expired") {
        let at = chrono::DateTime::parse_from_rfc3339(event.data["at"].as_str().unwrap()).unwrap();
        let deadline =
            chrono::DateTime::parse_from_rfc3339(event.data["deadline"].as_str().unwrap()).unwrap();
        let late = (at - deadline).num_milliseconds();
        assert!((0..1000).contains(&late), "{late} ms late: {event:?}");
    }
    assert_eq!(get(&client, &all[0], "/v1/admin/stats")["active"], 0);
}

/// Runs `serve` on `store`, which must stop at start; its stdout and stderr.
fn serve_failing(store: &str) -> (String, String) {
    support::server::start_failing(&["--store", store])
}

#[test]
fn a_node_that_cannot_reach_redis_stops_at_start_without_showing_the_password() {
    if !redis_support::available() {
        return;
    }
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://app:hunter2hunter2@127.0.0.1:{port}/0");
    let (stdout, stderr) = serve_failing(&url);
    assert!(
        stderr.contains(&format!("cannot use redis://app:***@127.0.0.1:{port}/0")),
        "{stderr}"
    );
    assert!(
        stderr.contains("nothing accepts connections at that address"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
}

#[test]
fn a_password_from_a_file_reaches_redis_and_is_never_shown() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let password = "s3cret-redis-pass-0123";
    let mut admin_conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg(password)
        .exec(&mut admin_conn)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("redis-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npassword_file = {:?}\n",
            password_file.display().to_string()
        ),
    )
    .unwrap();

    // Without the password, or with a wrong one, the node stops at start and says why.
    let (_, stderr) = serve_failing(&redis.url());
    assert!(stderr.contains("cannot use redis://127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("Redis asks for a password"), "{stderr}");
    let wrong = redis
        .url()
        .replace("redis://", "redis://:not-the-password@");
    let (_, stderr) = serve_failing(&wrong);
    assert!(stderr.contains("Redis refused the password"), "{stderr}");
    assert!(!stderr.contains("not-the-password"), "{stderr}");
    // The password written where the user goes (no colon): said so, not shown.
    let no_colon = redis
        .url()
        .replace("redis://", &format!("redis://{password}@"));
    let (stdout, stderr) = serve_failing(&no_colon);
    assert!(stderr.contains("names a user but no password"), "{stderr}");
    assert!(
        !stderr.contains(password) && !stdout.contains(password),
        "{stderr}"
    );
    // Given twice, in the URL and in the file: neither silently wins.
    let config_arg = config.display().to_string();
    let (_, twice) = support::server::start_failing(&["--store", &wrong, "--config", &config_arg]);
    assert!(twice.contains("given twice"), "{twice}");

    // With it, from the file, the node serves.
    let config = config.display().to_string();
    let node = Server::start(&["--store", &redis.url(), "--config", &config]);
    let client = client();
    let (token, _) = login(&client, &node, json!({"user": "alice"}));
    let (status, _) = node.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 200);
    let stats = get(&client, &node, "/v1/admin/stats");
    assert!(!stats.to_string().contains(password));
    let metrics = client
        .get(format!("{}/metrics", node.url()))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("sessiontop_active_sessions 1"),
        "{metrics}"
    );
    assert!(!metrics.contains(password));
}

/// Nodes that share Redis keep its instance across their own restarts, so a
/// dashboard that reattaches to a node that came back with another policy
/// gets no resync, and must still show the policy the node now runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_shows_the_policy_of_a_node_that_came_back_with_another() {
    use futures_util::StreamExt as _;
    use sessiontop::source::{Remote, SessionSource, SourceUpdate};

    let Some(redis) = RedisServer::start() else {
        return;
    };
    let config = |idle_secs: u64| {
        let mut config = sessiontop::config::Config::default();
        config.store.url = Some(sessiontop::store::StoreUrl::Redis(redis.url()));
        config.server.app_token = Some(support::server::APP_TOKEN.into());
        config.server.admin_token = Some(ADMIN_TOKEN.into());
        config.policy.idle_timeout = Duration::from_secs(idle_secs);
        config
    };
    let serve = |config, listener| {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(sessiontop::server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        (stop, task)
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, task) = serve(config(1800), listener);
    let remote = Remote::new(&format!("http://{addr}"), ADMIN_TOKEN.into()).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.info.policy.idle_timeout, Duration::from_secs(1800));
    let node = snapshot.info.node.clone();

    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (_stop, _task) = serve(config(30), listener);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let update = tokio::time::timeout_at(deadline, updates.next())
            .await
            .expect("the dashboard learns the node's new policy")
            .expect("the stream is open");
        match update {
            SourceUpdate::Info(info) if info.policy.idle_timeout == Duration::from_secs(30) => {
                assert_ne!(info.node, node, "the header names the new run");
                break;
            }
            SourceUpdate::Resync(_) | SourceUpdate::Restarted(_) => {
                panic!("the shared store's instance did not change: no reload")
            }
            _ => {}
        }
    }
}
