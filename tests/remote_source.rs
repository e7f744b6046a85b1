//! The remote source against an in-process server: snapshots in pages, the
//! server's clock, and plain errors.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sessiontop::config::ServerConfig;
use sessiontop::engine::clock::system_now;
use sessiontop::engine::driver::DriverConfig;
use sessiontop::engine::{EngineHandle, Login, Policy, VirtualClock};
use sessiontop::source::{Remote, SessionSource, SourceCommand, SourceError, SourceUpdate};

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
