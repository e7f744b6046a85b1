//! What the server's own settings do on the wire: the closing time's zone,
//! and the connection limits of `[server]` (header, body and idle timeouts,
//! the connection limit).

mod server_support;

use chrono::NaiveTime;
use server_support::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_name_the_time_zone_and_the_closing_instant_follows_it() {
    let server = TestServer::start_with(|config| {
        config.policy.closing_time = NaiveTime::from_hms_opt(23, 0, 0);
        config.policy.time_zone = Some(chrono_tz::Asia::Tokyo);
    })
    .await;
    let stats = server.stats().await;
    assert_eq!(stats["policy"]["time_zone"], "Asia/Tokyo");
    assert_eq!(stats["policy"]["closing_time"], "23:00");
    // 23:00 in Tokyo (UTC+9, no daylight saving) is 14:00 UTC, on any host.
    let next = stats["next_closing"].as_str().unwrap();
    assert!(next.contains("T14:00:00.000"), "{next}");
}

// ---- connections: header and idle timeouts, the connection limit ----

use std::time::{Duration, Instant};

use server_support::{ADMIN, APP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous bounds: the server acts within its timeouts; a loaded machine may be slow to show it.
const PATIENCE: Duration = Duration::from_secs(10);

async fn limited(header: Duration, idle: Duration, max: usize) -> TestServer {
    TestServer::start_with(|config| {
        config.server.request_header_timeout = header;
        config.server.connection_idle_timeout = idle;
        config.server.max_connections = max;
    })
    .await
}

async fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or PATIENCE runs out).
async fn read_to_close(stream: &mut TcpStream) -> (String, bool) {
    let mut all = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut all))
        .await
        .is_ok();
    (String::from_utf8_lossy(&all).into_owned(), closed)
}

/// Sends one request and reads its whole answer, keeping the connection open.
async fn exchange(stream: &mut TcpStream, request: &str) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return text.into_owned();
            }
        }
    }
}

/// How many requests the connection layer answered itself for `reason`, from `/metrics`.
async fn refused(server: &TestServer, reason: &str) -> u64 {
    let metrics = server
        .call(reqwest::Method::GET, "/metrics", Some(ADMIN), None)
        .await
        .text()
        .await
        .unwrap();
    let line = format!("sessiontop_http_refused_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .map_or(0, |n| n.parse().unwrap())
}

fn get(path: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n{auth}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_header_gets_408_and_is_closed_within_the_timeout() {
    let server = limited(Duration::from_millis(300), Duration::from_secs(60), 100).await;
    let mut stream = connect(&server).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: 1")
        .await
        .unwrap();
    let (answer, closed) = read_to_close(&mut stream).await;
    assert!(closed, "the connection was closed");
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout"),
        "{answer}"
    );
    assert!(answer.contains("\"error\":\"request_timeout\""), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(refused(&server, "header_timeout").await, 1);
    // The server goes on serving.
    let mut other = connect(&server).await;
    assert!(
        exchange(&mut other, &get("/healthz", None))
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_sent_a_byte_at_a_time_does_not_extend_its_deadline() {
    let server = limited(Duration::from_millis(500), Duration::from_secs(60), 100).await;
    let mut stream = connect(&server).await;
    let started = Instant::now();
    let request = get("/healthz", None);
    let mut answer = String::new();
    for byte in request.as_bytes().iter().take(request.len() - 1) {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            break;
        }
        assert!(started.elapsed() < PATIENCE, "no answer while trickling");
    }
    if answer.is_empty() {
        answer = read_to_close(&mut stream).await.0;
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

/// The head of a login whose body is `length` bytes long.
fn login_head(length: usize) -> String {
    format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {APP}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_gets_408_and_nothing_is_done() {
    let server = TestServer::start_with(|config| {
        config.server.request_body_timeout = Duration::from_millis(500);
    })
    .await;
    let body = br#"{"user":"trickled-in"}"#;
    let mut stream = connect(&server).await;
    stream
        .write_all(login_head(body.len()).as_bytes())
        .await
        .unwrap();
    let started = Instant::now();
    let mut answer = String::new();
    // A byte every 100ms: the whole body would take 2.2 s; all but its last byte is sent.
    for byte in &body[..body.len() - 1] {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(100), stream.read(&mut buf)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buf[..n]));
            break;
        }
    }
    let (rest, closed) = read_to_close(&mut stream).await;
    answer.push_str(&rest);
    assert!(closed, "the connection was closed");
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout"),
        "{answer}"
    );
    let (_, json) = answer.split_once("\r\n\r\n").expect("a head and a body");
    let error: serde_json::Value = serde_json::from_str(json).expect("a JSON error body");
    assert_eq!(error["error"], "request_timeout", "{answer}");
    assert!(
        error["message"].as_str().unwrap().contains("body"),
        "{answer}"
    );
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(
        waited < Duration::from_millis(2000),
        "before the body was done: {waited:?}"
    );
    // The login never ran, and the server goes on serving.
    assert_eq!(server.active().await, 0);
    assert_eq!(refused(&server, "body_timeout").await, 1);
    let mut other = connect(&server).await;
    assert!(
        exchange(&mut other, &get("/healthz", None))
            .await
            .starts_with("HTTP/1.1 200")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_in_pieces_within_its_deadline_is_served_and_the_connection_kept() {
    let server = TestServer::start_with(|config| {
        config.server.request_body_timeout = Duration::from_secs(5);
    })
    .await;
    let body = br#"{"user":"in-pieces"}"#;
    let mut stream = connect(&server).await;
    stream
        .write_all(login_head(body.len()).as_bytes())
        .await
        .unwrap();
    for piece in body.chunks(7) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stream.write_all(piece).await.unwrap();
    }
    let answer = exchange(&mut stream, "").await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert_eq!(server.active().await, 1);
    // A body that arrived ends the deadline: the same connection serves on.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let answer = exchange(&mut stream, &get("/healthz", None)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_body_has_no_body_deadline() {
    let server = TestServer::start_with(|config| {
        config.server.request_body_timeout = Duration::from_millis(100);
        config.server.keep_alive = Duration::from_secs(60);
    })
    .await;
    // An event stream open far past the body timeout still delivers.
    let mut events = server.events(None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.login("no-body-deadline").await;
    let event = events.next().await.expect("the stream is still open");
    assert!(
        event.data.to_string().contains("no-body-deadline"),
        "{event:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_says_every_operation_may_get_408_and_503() {
    let server = TestServer::start().await;
    let mut stream = connect(&server).await;
    let answer = exchange(&mut stream, &get("/openapi.json", None)).await;
    let (_, json) = answer.split_once("\r\n\r\n").unwrap();
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    for code in ["request_timeout", "too_many_connections"] {
        assert!(codes.contains(&code.into()), "{code} is an ErrorCode");
    }
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = &operation["responses"];
            for status in ["408", "503"] {
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            assert!(
                responses["408"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("request_timeout")
            );
            assert!(
                responses["503"]["description"]
                    .as_str()
                    .unwrap()
                    .contains("too_many_connections")
            );
            assert_eq!(
                responses["503"]["headers"]["Retry-After"]["schema"]["type"],
                "integer"
            );
        }
    }
    assert!(operations >= 17, "{operations}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let server = limited(Duration::from_secs(60), Duration::from_millis(300), 100).await;
    // A keep-alive connection after its answer.
    let mut kept = connect(&server).await;
    assert!(
        exchange(&mut kept, &get("/healthz", None))
            .await
            .starts_with("HTTP/1.1 200")
    );
    // A connection that never says anything.
    let mut silent = connect(&server).await;
    for stream in [&mut kept, &mut silent] {
        let (rest, closed) = read_to_close(stream).await;
        assert!(closed, "closed by the server");
        assert_eq!(rest, "", "closed quietly, with no 408");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_event_stream_is_not_idle() {
    let server = TestServer::start_with(|config| {
        config.server.connection_idle_timeout = Duration::from_millis(200);
        config.server.keep_alive = Duration::from_secs(60);
    })
    .await;
    let mut events = server.events(None).await;
    // Quiet for well past the idle timeout, then an event: the stream is still there.
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.login("still-watching").await;
    let event = events.next().await.expect("the stream is still open");
    assert!(
        event.data.to_string().contains("still-watching"),
        "{event:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_an_idle_connection_makes_room_and_health_checks_answer() {
    let server = limited(Duration::from_secs(60), Duration::from_secs(60), 3).await;
    // Three idle keep-alive connections fill the limit.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut stream = connect(&server).await;
        assert!(
            exchange(&mut stream, &get("/healthz", None))
                .await
                .starts_with("HTTP/1.1 200")
        );
        idle.push(stream);
    }
    // A fourth is served in full: the longest idle one was closed to make room.
    let mut fourth = connect(&server).await;
    let answer = exchange(&mut fourth, &get("/v1/admin/stats", Some(ADMIN))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, closed) = read_to_close(&mut idle[0]).await;
    assert!(closed, "the longest idle connection made room");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_with_none_idle_requests_get_503_but_healthz_answers() {
    let server = limited(Duration::from_secs(60), Duration::from_secs(60), 2).await;
    // Two event streams: busy connections, never idle.
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&server).await;
        stream
            .write_all(get("/v1/admin/events", Some(ADMIN)).as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        streams.push(stream);
    }
    let mut busy = connect(&server).await;
    let answer = exchange(
        &mut busy,
        &format!(
            "POST /v1/sessions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {APP}\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{{\"user\":\"a\"}}"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(answer.contains("too_many_connections"), "{answer}");
    let mut health = connect(&server).await;
    let answer = exchange(&mut health, &get("/healthz", None)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // When a stream ends, its place is free again.
    drop(streams.pop());
    let started = Instant::now();
    let mut busy_answers = 1;
    loop {
        let mut next = connect(&server).await;
        let answer = exchange(&mut next, &get("/v1/admin/stats", Some(ADMIN))).await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        busy_answers += 1;
        assert!(started.elapsed() < PATIENCE, "{answer}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every 503 the connection layer gave is counted (the health check was not refused).
    assert_eq!(refused(&server, "too_many_connections").await, busy_answers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_made_up_methods_add_no_metrics_lines() {
    let server = TestServer::start().await;
    let metrics = || async {
        server
            .call(reqwest::Method::GET, "/metrics", Some(ADMIN), None)
            .await
            .text()
            .await
            .unwrap()
    };
    let mut stream = connect(&server).await;
    let send = |from: usize, to: usize| {
        (from..to)
            .map(|i| format!("M{i:x}X /healthz HTTP/1.1\r\nHost: test\r\n\r\n"))
            .collect::<String>()
    };
    // One made-up method first, so the `other` line exists.
    let answer = exchange(&mut stream, &send(0, 1)).await;
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    // Scraped twice, so that the scrape's own line is there too.
    metrics().await;
    let before = metrics().await;
    // Pipelined on one connection, then read back.
    let batch = send(1, 10_001);
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(batch.as_bytes()).await.unwrap();
        writer // kept open: a half-closed connection may drop its last answer
    });
    let mut answers = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let count = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .matches("HTTP/1.1 405")
            .count()
    };
    while count(&answers) < 10_000 {
        let n = tokio::time::timeout(PATIENCE, reader.read(&mut buf))
            .await
            .expect("answers keep coming")
            .unwrap();
        assert!(n > 0, "closed after {} answers", count(&answers));
        answers.extend_from_slice(&buf[..n]);
    }
    let _writer = writing.await.unwrap();
    let after = metrics().await;
    assert_eq!(before.lines().count(), after.lines().count(), "{after}");
    assert!(
        after.contains("method=\"other\",route=\"/healthz\",status=\"405\"} 10001"),
        "{after}"
    );
}

/// A request refused before its body is read (its API token is wrong, say)
/// leaves the rest of its body on the connection, which then closes: the
/// answer says so, so a client's pool does not send its next request into
/// a closing connection. A request whose body was read keeps its connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_given_before_the_body_was_read_says_the_connection_closes() {
    let server = TestServer::start().await;
    let body = r#"{"user":"a"}"#;
    let head = |path: &str, token: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
    };
    for (path, token, status) in [
        ("/v1/sessions", "wrong-token-0123456789", "401"),
        ("/v1/admin/sessions/0000000000000001/touch", APP, "403"),
        ("/v1/nowhere", APP, "404"),
    ] {
        // The head alone: the answer cannot have waited for the body.
        let mut stream = connect(&server).await;
        let answer = exchange(&mut stream, &head(path, token)).await;
        let answer = answer.to_ascii_lowercase();
        assert!(
            answer.starts_with(&format!("http/1.1 {status}")),
            "{answer}"
        );
        assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
        let _ = stream.write_all(body.as_bytes()).await;
        let (_, closed) = read_to_close(&mut stream).await;
        assert!(closed, "{path}: the connection closes, as it said");
    }

    // A body the server read: the connection stays for the next request.
    let mut stream = connect(&server).await;
    let unknown = r#"{"token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}"#;
    let touch = format!(
        "POST /v1/sessions/touch HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {APP}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{unknown}",
        unknown.len()
    );
    let answer = exchange(&mut stream, &touch).await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 404"), "{answer}");
    assert!(!answer.contains("connection: close"), "{answer}");
    let again = exchange(&mut stream, &get("/healthz", None)).await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_declared_over_the_limit_gets_413_before_it_is_sent() {
    let server = TestServer::start_with(|config| {
        config.server.body_limit = 256;
        config.server.request_body_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stream = connect(&server).await;
    let started = Instant::now();
    // The headers say 1,000 bytes; twelve are sent, and the client waits.
    let answer = exchange(
        &mut stream,
        &format!(
            "POST /v1/sessions HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {APP}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"user\":\"a\""
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"error\":\"payload_too_large\""),
        "{answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "not after the body timeout"
    );
    assert_eq!(server.stats().await["active"], 0, "nothing was changed");
}
