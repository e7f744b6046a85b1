//! The remote source against an in-process server: snapshots in pages, the
//! server's clock, and plain errors.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sessiontop::config::ServerConfig;
use sessiontop::engine::clock::system_now;
use sessiontop::engine::driver::DriverConfig;
use sessiontop::engine::{EngineHandle, Login, Policy, VirtualClock};
use sessiontop::source::{
    ConnectionState, Remote, SessionSource, SourceCommand, SourceError, SourceUpdate,
};
use tokio::sync::oneshot;

const ADMIN: &str = "remote-source-admin-token-0123";
const APP: &str = "remote-source-app-token-0123456";
const HOUR: i64 = 3_600_000;

/// A server whose engine runs on a clock an hour ahead of this machine's.
async fn skewed_server() -> (String, EngineHandle) {
    let clock = Arc::new(VirtualClock::new(system_now() + HOUR, 1.0));
    let engine = EngineHandle::spawn(Policy::default(), clock, DriverConfig::default());
    let config = ServerConfig {
        app_token: Some(APP.into()),
        admin_token: Some(ADMIN.into()),
        ..ServerConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let served = engine.clone();
    tokio::spawn(async move {
        sessiontop::server::serve_engine(served, &config, listener, std::future::pending()).await
    });
    (url, engine)
}

#[tokio::test]
async fn countdowns_use_the_servers_clock_not_ours() {
    let (url, engine) = skewed_server().await;
    engine.login(Login::user("skewed")).unwrap();
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let (snapshot, _updates) = remote.connect().await.unwrap();
    let reading = remote.clock().now;
    let server_now = engine.now();
    assert!(
        (reading - server_now).abs() < 1_000,
        "the dashboard's clock {reading} follows the server's {server_now}, not ours {}",
        system_now()
    );
    let session = &snapshot.sessions[0];
    let idle_left = session.idle_expires_at - reading;
    assert!((899_000..=900_000).contains(&idle_left), "{idle_left}");
}

#[tokio::test]
async fn a_large_snapshot_is_read_in_pages_then_followed_live() {
    let (url, engine) = skewed_server().await;
    for i in 0..2_500 {
        engine.login(Login::user(format!("user{i}"))).unwrap();
    }
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.sessions.len(), 2_500);
    assert_eq!(snapshot.stats.active, 2_500);
    assert!(
        snapshot
            .sessions
            .windows(2)
            .all(|w| w[0].idle_expires_at <= w[1].idle_expires_at)
    );
    engine.login(Login::user("after")).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let update = tokio::time::timeout_at(deadline, updates.next())
            .await
            .expect("the live event arrives")
            .expect("the stream is open");
        if let SourceUpdate::Event(event) = update {
            assert_eq!(event.session.user, "after");
            assert_eq!(event.seq, snapshot.seq + 1);
            break;
        }
    }
}

#[tokio::test]
async fn clock_keys_are_refused_with_a_reason_and_commands_reach_the_server() {
    let (url, engine) = skewed_server().await;
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    assert!(!remote.info().clock_control);
    assert!(matches!(
        remote.execute(SourceCommand::SetPaused(true)).await,
        Err(SourceError::Unsupported(_))
    ));
    remote
        .execute(SourceCommand::Login {
            user: "zoë o'neil/ops".into(),
            attributes: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(engine.stats().active, 1);
    remote
        .execute(SourceCommand::RevokeUser("zoë o'neil/ops".into()))
        .await
        .unwrap();
    assert_eq!(engine.stats().active, 0, "odd user names survive the URL");
}

#[tokio::test]
async fn an_app_token_or_a_wrong_token_is_told_apart() {
    let (url, _engine) = skewed_server().await;
    let wrong = Remote::new(&url, "x".repeat(30)).unwrap();
    let err = wrong.connect().await.err().unwrap().to_string();
    assert!(err.contains("401"), "{err}");
    let app = Remote::new(&url, APP.into()).unwrap();
    let err = app.connect().await.err().unwrap().to_string();
    assert!(err.contains("403"), "{err}");
}

/// A fake server whose listing hands out the same cursor on every page.
async fn server_with_a_stuck_cursor() -> String {
    use axum::Json;
    use axum::routing::get;
    use sessiontop::api::{PolicyView, SessionPage, StatsResponse};
    let stats = StatsResponse {
        active: 3,
        peak: 3,
        totals: Default::default(),
        policy: PolicyView::from(&Policy::default()),
        server_time: system_now(),
        next_closing: None,
        version: "0.0.0".into(),
        instance: "0123456789ab".into(),
        last_seq: 3,
        store: "memory".into(),
        node: "0123abcd".into(),
    };
    let page = SessionPage {
        sessions: Vec::new(),
        next_cursor: Some("stuck".into()),
    };
    let app = axum::Router::new()
        .route("/v1/admin/stats", get(move || async move { Json(stats) }))
        .route("/v1/admin/sessions", get(move || async move { Json(page) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_snapshot_whose_cursor_repeats_stops_with_an_error_not_a_loop() {
    let url = server_with_a_stuck_cursor().await;
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), remote.connect())
        .await
        .expect("the snapshot gives up instead of paging forever");
    let err = result.err().unwrap().to_string();
    assert!(err.contains("the same page cursor twice"), "{err}");
}

/// A fake pair of nodes behind one address: the first stats call reaches node
/// `aaaa0000` (idle timeout 30 min); every later call, and the event stream,
/// reach node `bbbb0000`, which runs an idle timeout of 30 s.
async fn nodes_that_change_between_snapshot_and_stream() -> String {
    use std::sync::atomic::{AtomicBool, Ordering};

    use axum::Json;
    use axum::response::IntoResponse;
    use axum::routing::get;
    use sessiontop::api::stream::NODE_HEADER;
    use sessiontop::api::{PolicyView, SessionPage, StatsResponse};
    let stats = |node: &str, idle_secs: u64| StatsResponse {
        active: 0,
        peak: 0,
        totals: Default::default(),
        policy: PolicyView::from(&Policy {
            idle_timeout: Duration::from_secs(idle_secs),
            ..Policy::default()
        }),
        server_time: system_now(),
        next_closing: None,
        version: "0.0.0".into(),
        instance: "0123456789ab".into(),
        last_seq: 0,
        store: "redis".into(),
        node: node.into(),
    };
    let (first, later) = (stats("aaaa0000", 1800), stats("bbbb0000", 30));
    let asked = Arc::new(AtomicBool::new(false));
    let app = axum::Router::new()
        .route(
            "/v1/admin/stats",
            get(move || async move {
                let answer = if asked.swap(true, Ordering::SeqCst) {
                    later
                } else {
                    first
                };
                Json(answer)
            }),
        )
        .route(
            "/v1/admin/sessions",
            get(|| async {
                Json(SessionPage {
                    sessions: Vec::new(),
                    next_cursor: None,
                })
            }),
        )
        .route(
            "/v1/admin/events",
            get(|| async {
                let events = futures_util::stream::pending::<
                    Result<axum::response::sse::Event, std::convert::Infallible>,
                >();
                (
                    [(NODE_HEADER, "bbbb0000")],
                    axum::response::Sse::new(events),
                )
                    .into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_stream_from_another_node_than_the_snapshots_brings_that_nodes_policy() {
    // The snapshot's node stopped and another took its address before the
    // stream was asked for: the header must not show the new node with the
    // old node's policy.
    let url = nodes_that_change_between_snapshot_and_stream().await;
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.info.node, "aaaa0000");
    assert_eq!(snapshot.info.policy.idle_timeout, Duration::from_secs(1800));
    let info = loop {
        let update = tokio::time::timeout(Duration::from_secs(30), updates.next())
            .await
            .expect("the stream's node is told")
            .expect("the stream is open");
        if let SourceUpdate::Info(info) = update {
            break info;
        }
    };
    assert_eq!(info.node, "bbbb0000");
    assert_eq!(info.policy.idle_timeout, Duration::from_secs(30));
}

/// A server on `listener` with its own engine and `admin` token; stops when `stop` fires.
fn serve_on(
    listener: tokio::net::TcpListener,
    admin: &str,
) -> (
    EngineHandle,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let engine = EngineHandle::spawn(
        Policy::default(),
        Arc::new(sessiontop::engine::SystemClock),
        DriverConfig::default(),
    );
    let config = ServerConfig {
        app_token: Some(APP.into()),
        admin_token: Some(admin.into()),
        ..ServerConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let served = engine.clone();
    let task = tokio::spawn(async move {
        let _ = sessiontop::server::serve_engine(served, &config, listener, async move {
            let _ = stopped.await;
        })
        .await;
    });
    (engine, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_with_a_rotated_token_is_followed_and_reported() {
    const ROTATED: &str = "remote-source-rotated-admin-token";
    let token_file = std::env::temp_dir().join(format!(
        "sessiontop-remote-token-{}-{}",
        std::process::id(),
        system_now()
    ));
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let (first, stop, task) = serve_on(listener, ADMIN);
    first.login(Login::user("lost-1")).unwrap();
    first.login(Login::user("lost-2")).unwrap();

    let remote = Remote::with_token_file(&url, Some(&token_file), None).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.sessions.len(), 2);

    // The server goes away, and comes back on the same address with a new
    // admin token (rotated in the file) and none of its old sessions.
    let _ = stop.send(());
    task.await.unwrap();
    first.shutdown();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (second, _stop, _task) = serve_on(listener, ROTATED);
    second.login(Login::user("new")).unwrap();
    std::fs::write(&token_file, ROTATED).unwrap();

    let mut told_of_the_new_token = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let restarted = loop {
        let update = tokio::time::timeout_at(deadline, updates.next())
            .await
            .expect("the source reconnects to the restarted server")
            .expect("the stream is open");
        match update {
            SourceUpdate::Connection(ConnectionState::Reconnecting { reason, .. }) => {
                assert!(
                    !reason.contains(ROTATED) && !reason.contains(ADMIN),
                    "{reason}"
                );
                told_of_the_new_token |= reason.contains("the token file holds a new token");
            }
            SourceUpdate::Restarted(snapshot) => break snapshot,
            SourceUpdate::Resync(_) => {
                panic!("a restart is reported as one, not as a plain resync")
            }
            _ => {}
        }
    };
    let _ = std::fs::remove_file(&token_file);
    assert!(
        told_of_the_new_token,
        "the dashboard is told the token was re-read"
    );
    let users: Vec<_> = restarted.sessions.iter().map(|s| s.user.as_str()).collect();
    assert_eq!(users, ["new"], "only the new run's sessions");
    second.login(Login::user("after")).unwrap();
    loop {
        let update = tokio::time::timeout_at(deadline, updates.next())
            .await
            .expect("live events follow the restart")
            .expect("the stream is open");
        if let SourceUpdate::Event(event) = update {
            assert_eq!(event.session.user, "after");
            break;
        }
    }
}
