//! The live event stream over real HTTP: order and content, resume with
//! Last-Event-ID, resync, slow clients, and shutdown.

mod server_support;

use std::time::{Duration, Instant};

use serde_json::json;
use server_support::{ADMIN, Sse, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn instance_of(event: &Sse) -> &str {
    event.id.rsplit_once('-').unwrap().0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_arrive_in_order_with_id_kind_and_session() {
    let (server, engine) = TestServer::on_paused_clock(1_800_000_000_000, |c| {
        c.policy.touch_event_interval = Duration::ZERO;
    })
    .await;
    let mut stream = server.events(None).await;
    let (token, handle) = server
        .login_with(json!({"user": "ivan", "idle_timeout": "5s"}))
        .await;
    server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    let (_, renewed) = server
        .app_post("/v1/sessions/renew", json!({"token": token}))
        .await;
    let new_token = renewed["token"].as_str().unwrap().to_owned();
    server
        .app_post("/v1/sessions/logout", json!({"token": new_token}))
        .await;
    let (_, other) = server.login("judy").await;
    server
        .admin(
            reqwest::Method::DELETE,
            &format!("/v1/admin/sessions/{other}"),
        )
        .await;
    let (_, expiring) = server
        .login_with(json!({"user": "ken", "idle_timeout": "30ms"}))
        .await;
    // Past ken's deadline on the engine's clock (not ivan's): the driver ends it.
    engine.adjust_clock(|clock| clock.step(Duration::from_millis(30)));

    // A renewal is activity, announced by its one `renewed` event.
    let events = stream.take(8).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "created",
            "touched",
            "renewed",
            "logged_out",
            "created",
            "revoked",
            "created",
            "expired"
        ]
    );
    let stats = server.stats().await;
    let instance = stats["instance"].as_str().unwrap();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.id, format!("{instance}-{}", event.seq()));
        assert_eq!(event.data["kind"], event.event.as_str());
        if i > 0 {
            assert_eq!(event.seq(), events[i - 1].seq() + 1, "no gap");
        }
        assert!(event.data["at"].as_str().unwrap().ends_with('Z'));
        assert!(!event.data.to_string().contains(&token));
        assert!(!event.data.to_string().contains(&new_token));
    }
    assert_eq!(events[0].data["session"]["handle"], handle.as_str());
    assert_eq!(events[0].data["session"]["user"], "ivan");
    assert_eq!(events[5].data["actor"], "admin");
    let expired = &events[7];
    assert_eq!(expired.data["session"]["handle"], expiring.as_str());
    assert_eq!(expired.data["reason"], "idle");
    assert_eq!(expired.data["session"]["state"], "expired");
    assert!(expired.data["deadline"].as_str().unwrap() <= expired.data["at"].as_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_after_a_disconnect_with_no_gap_and_no_duplicate() {
    let server = TestServer::start_with(|c| {
        c.policy.touch_event_interval = Duration::ZERO;
    })
    .await;
    let mut stream = server.events(None).await;
    let (token, _) = server.login("laura").await;
    for _ in 0..3 {
        server
            .app_post("/v1/sessions/touch", json!({"token": token}))
            .await;
    }
    let first = stream.take(4).await;
    drop(stream);
    // While the client is away:
    for _ in 0..5 {
        server
            .app_post("/v1/sessions/touch", json!({"token": token}))
            .await;
    }
    let last = first.last().unwrap();
    let mut resumed = server.events(Some(&last.id)).await;
    let missed = resumed.take(5).await;
    server
        .app_post("/v1/sessions/logout", json!({"token": token}))
        .await;
    let live = resumed.take(1).await;
    let seqs: Vec<u64> = first
        .iter()
        .chain(&missed)
        .chain(&live)
        .map(Sse::seq)
        .collect();
    assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    assert_eq!(live[0].event, "logged_out");
    assert!(
        resumed
            .next_within(Duration::from_millis(200))
            .await
            .is_none(),
        "nothing more, and no duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_older_than_the_history_gets_one_resync_then_live_events() {
    let server = TestServer::start_with(|c| {
        c.engine.history = 4;
        c.policy.touch_event_interval = Duration::ZERO;
    })
    .await;
    let mut stream = server.events(None).await;
    let (token, _) = server.login("mike").await;
    let first = stream.take(1).await.remove(0);
    drop(stream);
    for _ in 0..10 {
        server
            .app_post("/v1/sessions/touch", json!({"token": token}))
            .await;
    }
    let mut resumed = server.events(Some(&first.id)).await;
    let resync = resumed.next().await.unwrap();
    assert_eq!(resync.event, "resync");
    assert_eq!(resync.data["reason"], "too_old");
    server
        .app_post("/v1/sessions/logout", json!({"token": token}))
        .await;
    let next = resumed.next().await.unwrap();
    assert_eq!(next.event, "logged_out");
    assert_eq!(
        next.seq(),
        12,
        "live from where the server is, not a replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_from_another_server_run_or_no_id_at_all_gets_a_resync() {
    let server = TestServer::start().await;
    let this_instance = server.stats().await["instance"]
        .as_str()
        .unwrap()
        .to_owned();
    let negative = format!("{this_instance}--1");
    for (id, reason) in [
        ("0123456789ab-1", "other_instance"),
        ("garbage", "invalid_id"),
        ("-5", "invalid_id"),
        // This run's instance with a seq of -1: a malformed id, not another run's.
        (negative.as_str(), "invalid_id"),
    ] {
        let mut stream = server.events(Some(id)).await;
        let resync = stream.next().await.unwrap();
        assert_eq!(resync.event, "resync", "{id}");
        assert_eq!(resync.data["reason"], reason, "{id}");
        let instance = server.stats().await["instance"].clone();
        assert_eq!(resync.data["instance"], instance);
        server.login("nina").await;
        let created = stream.next().await.unwrap();
        assert_eq!(created.event, "created");
        assert_eq!(instance_of(&created), instance.as_str().unwrap());
    }
}

/// Opens the event stream on a raw socket with a tiny receive buffer, and then
/// never reads: the stalled client.
async fn stalled_client(server: &TestServer) -> tokio::net::TcpStream {
    let addr: std::net::SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/admin/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_blocks_neither_the_engine_nor_other_clients_and_misses_nothing_silently()
{
    let server = TestServer::start_with(|c| {
        c.engine.subscriber_buffer = 16;
        // A history shorter than what it misses: the stalled client cannot catch up from it.
        c.engine.history = 64;
        c.policy.touch_event_interval = Duration::ZERO;
        c.server.body_limit = 64 * 1024;
    })
    .await;
    let mut stalled = stalled_client(&server).await;
    let mut reader = server.events(None).await;
    // Big attributes make big events, so the stalled socket's buffers fill quickly.
    let attributes: serde_json::Map<String, serde_json::Value> = (0..30)
        .map(|i| (format!("k{i}"), json!("v".repeat(1000))))
        .collect();
    let (token, _) = server
        .login_with(json!({"user": "oscar", "attributes": attributes}))
        .await;
    const TOUCHES: usize = 400;
    let started = Instant::now();
    let mut read = 0;
    let mut received = vec![reader.take(1).await.remove(0)];
    for i in 0..TOUCHES {
        server
            .app_post("/v1/sessions/touch", json!({"token": token}))
            .await;
        // The healthy client keeps up as it goes.
        if i % 8 == 7 {
            received.extend(reader.take(8).await);
            read += 8;
        }
    }
    received.extend(reader.take(TOUCHES - read).await);
    let elapsed = started.elapsed();
    let seqs: Vec<u64> = received.iter().map(Sse::seq).collect();
    assert_eq!(seqs, (1..=(TOUCHES as u64 + 1)).collect::<Vec<_>>());
    assert!(
        received.iter().all(|e| e.event != "resync"),
        "the healthy client never lagged"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "touches and delivery took {elapsed:?}"
    );

    // The stalled client, once it reads again, misses nothing silently: it
    // catches up from the history with no gap, or is told with a resync.
    let last = TOUCHES as u64 + 1;
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    // Long enough for a loaded machine; the loop ends as soon as it has seen enough.
    let deadline = Instant::now() + Duration::from_secs(90);
    let enough = last.min(100);
    let mut seqs: Vec<Option<u64>> = Vec::new();
    while Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_millis(200), stalled.read(&mut chunk)).await;
        match n {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => panic!("{e}"),
            // Another event after the stall lets the stream notice a lag.
            Err(_) => {
                server.login("poke").await;
            }
        }
        // One entry per complete frame: its seq, or None for a resync.
        seqs = String::from_utf8_lossy(&seen)
            .split("\n\n")
            .filter_map(|frame| {
                if frame.contains("event: resync") {
                    return Some(None);
                }
                let id = frame.lines().find_map(|l| l.strip_prefix("id: "))?;
                let seq = id.rsplit_once('-')?.1.parse().ok()?;
                frame.contains("\ndata: ").then_some(Some(seq))
            })
            .collect();
        if seqs
            .iter()
            .any(|s| s.is_none() || s.is_some_and(|s| s >= enough))
        {
            break;
        }
    }
    let resynced = seqs.iter().position(Option::is_none);
    let events: Vec<u64> = seqs[..resynced.unwrap_or(seqs.len())]
        .iter()
        .flatten()
        .copied()
        .collect();
    assert!(
        events.windows(2).all(|w| w[1] == w[0] + 1),
        "no silent gap before any resync: {events:?}"
    );
    // Its tiny socket buffer makes the catch-up slow (each event is 30 KB),
    // so it need not finish here: it must be reading on, in order.
    assert!(
        resynced.is_some() || events.last().is_some_and(|&s| s >= enough),
        "the stalled client catches up or gets a resync (read {} bytes, last seq {:?})",
        seen.len(),
        events.last()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_open_event_streams_cleanly() {
    let server = TestServer::start().await;
    let mut stream = server.events(None).await;
    server.login("quinn").await;
    assert_eq!(stream.next().await.unwrap().event, "created");
    let started = Instant::now();
    server.stop().await.expect("graceful shutdown succeeds");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(stream.next().await.is_none(), "the stream has ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_comments_keep_a_quiet_stream_open() {
    let server = TestServer::start_with(|c| c.server.keep_alive = Duration::from_millis(50)).await;
    let response = server
        .client
        .get(server.url("/v1/admin/events"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    use futures_util::StreamExt;
    let chunk = tokio::time::timeout(Duration::from_secs(2), body.next())
        .await
        .expect("a keep-alive within 2s")
        .unwrap()
        .unwrap();
    assert!(chunk.starts_with(b":"), "{chunk:?}");
}

#[tokio::test]
async fn a_quiet_stream_answers_at_once_not_at_the_first_event() {
    // Default keep-alive: 15 s. The head must not wait for it or for an event.
    let server = TestServer::start().await;
    let opened = tokio::time::timeout(Duration::from_secs(3), server.events(None)).await;
    assert!(opened.is_ok(), "the response head came at once");
}

#[tokio::test]
async fn a_resync_carries_an_id_to_resume_from() {
    let server = TestServer::start().await;
    server.login("mallory").await;
    let stats = server.stats().await;
    let mut stream = server.events(Some("not-this-server-7")).await;
    let resync = stream.take(1).await.remove(0);
    assert_eq!(resync.event, "resync");
    assert_eq!(
        resync.id,
        format!(
            "{}-{}",
            stats["instance"].as_str().unwrap(),
            stats["last_seq"]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_ahead_of_the_server_gets_a_resync_that_says_so() {
    let server = TestServer::start().await;
    server.login("olga").await;
    let stats = server.stats().await;
    let instance = stats["instance"].as_str().unwrap().to_owned();
    let last_seq = stats["last_seq"].as_u64().unwrap();
    let mut stream = server
        .events(Some(&format!("{instance}-{}", last_seq + 1000)))
        .await;
    let resync = stream.next().await.unwrap();
    assert_eq!(resync.event, "resync");
    assert_eq!(
        resync.data["reason"], "ahead",
        "not too_old: nothing was lost"
    );
    assert_eq!(resync.id, format!("{instance}-{last_seq}"));
    server.login("olga").await;
    let created = stream.next().await.unwrap();
    assert_eq!(created.event, "created");
    assert_eq!(created.seq(), last_seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_within_the_history_catches_up_without_a_resync() {
    let server = TestServer::start_with(|c| {
        c.engine.subscriber_buffer = 16;
        c.policy.touch_event_interval = Duration::ZERO;
        c.server.body_limit = 64 * 1024;
    })
    .await;
    let mut stalled = stalled_client(&server).await;
    let attributes: serde_json::Map<String, serde_json::Value> = (0..30)
        .map(|i| (format!("k{i}"), json!("v".repeat(1000))))
        .collect();
    let (token, _) = server
        .login_with(json!({"user": "oscar", "attributes": attributes}))
        .await;
    // Enough 31 kB events to fill the socket buffers and overflow the 16-event feed.
    const TOUCHES: usize = 200;
    for _ in 0..TOUCHES {
        server
            .app_post("/v1/sessions/touch", json!({"token": token}))
            .await;
    }
    // It fell far behind its 16-event buffer; reading again, it gets every event from the history.
    let mut seen = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = |seen: &[u8]| {
        String::from_utf8_lossy(seen)
            .matches("\nevent: touched\n")
            .count()
    };
    while count(&seen) < TOUCHES && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(500), stalled.read(&mut chunk)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(count(&seen), TOUCHES, "every touch arrived");
    assert!(
        !text.contains("event: resync"),
        "no resync while the history holds what it missed"
    );
    let ids: Vec<u64> = text
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|id| id.rsplit_once('-')?.1.parse().ok())
        .collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, no gap, no repeat"
    );
}
