//! The dashboard on a real session server (started here, in-process, on a
//! loopback port): logins over HTTP past the per-user limit reach the
//! dashboard's state as evictions with their reason and limit, on screen as
//! "evicted: user over 2 sessions"; and the header names the server node it
//! is attached to, read again when a reconnect lands on another node.

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use sessiontop::config::{Config, ServerConfig};
use sessiontop::engine::driver::DriverConfig;
use sessiontop::engine::{EndReason, EngineHandle, EventKind, Policy, SystemClock};
use sessiontop::source::{ConnectionState, Remote, SessionSource, SourceUpdate, UpdateStream};
use sessiontop::tui::app::App;
use sessiontop::tui::keymap::KeyMap;
use sessiontop::tui::mirror::Ending;
use sessiontop::tui::msg::Msg;
use support::proxy::Proxy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const ADMIN: &str = "remote-limit-admin-token-0123456";
const APP: &str = "remote-limit-app-token-01234567";

fn config() -> ServerConfig {
    ServerConfig {
        app_token: Some(APP.into()),
        admin_token: Some(ADMIN.into()),
        ..ServerConfig::default()
    }
}

/// An engine with a limit of `limit` sessions per user (evict the oldest).
fn engine(limit: u32) -> EngineHandle {
    let policy = Policy {
        max_sessions_per_user: Some(limit),
        ..Policy::default()
    };
    EngineHandle::spawn(policy, Arc::new(SystemClock), DriverConfig::default())
}

/// A server over `engine` on a fresh loopback port, until `stop` fires.
async fn serve(engine: EngineHandle) -> (std::net::SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = sessiontop::server::serve_engine(engine, &config(), listener, async move {
            let _ = stopped.await;
        })
        .await;
    });
    (addr, stop)
}

async fn login(http: &reqwest::Client, url: &str, user: &str) -> String {
    let response = http
        .post(format!("{url}/v1/sessions"))
        .bearer_auth(APP)
        .json(&json!({ "user": user, "attributes": { "ip": "192.0.2.7" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["session"]["handle"].as_str().unwrap().to_owned()
}

/// The next update, within a generous deadline.
async fn next(updates: &mut UpdateStream) -> SourceUpdate {
    tokio::time::timeout(Duration::from_secs(30), updates.next())
        .await
        .expect("an update arrives")
        .expect("the stream is open")
}

fn dashboard(remote: &Remote) -> App {
    let mut app = App::new(remote.info(), &Config::default(), KeyMap::default(), 7);
    app.update(Msg::Resize(120, 40));
    app
}

fn screen(app: &mut App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    app.prepare_frame();
    terminal
        .draw(|frame| sessiontop::tui::view::draw(frame, app))
        .unwrap();
    terminal.backend().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_over_the_limit_reach_the_dashboard_as_evictions_with_reason_and_limit() {
    let (addr, _stop) = serve(engine(2)).await;
    let url = format!("http://{addr}");
    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.info.policy.max_sessions_per_user, Some(2));
    let mut app = dashboard(&remote);
    app.update(Msg::Snapshot(snapshot));

    let http = reqwest::Client::new();
    let first = login(&http, &url, "alice").await;
    login(&http, &url, "alice").await;
    let third = login(&http, &url, "alice").await;
    let mut eviction = None;
    let mut created = 0;
    while created < 3 {
        let update = next(&mut updates).await;
        if let SourceUpdate::Event(event) = &update {
            match event.kind {
                EventKind::Created => created += 1,
                EventKind::Revoked => eviction = Some(event.clone()),
                _ => {}
            }
        }
        app.update(Msg::Update(update));
    }
    let eviction = eviction.expect("the third login evicted the first");
    assert_eq!(eviction.session.handle.to_string(), first);
    assert_eq!(eviction.reason, Some(EndReason::Evicted));
    assert_eq!(eviction.limit, Some(2));
    assert_eq!(eviction.actor, None);

    // The dashboard's state: the row, the counters and the log.
    let row = app.mirror.get(eviction.session.handle).unwrap();
    assert_eq!(row.ended.map(|(e, _)| e), Some(Ending::Evicted(Some(2))));
    assert_eq!(app.activity.totals.evicted, 1);
    assert_eq!(app.mirror.active(), 2);
    let text = screen(&mut app);
    assert!(
        text.lines()
            .filter(|l| l.contains("evicted: user over 2 sessions"))
            .count()
            >= 2,
        "the log and the ended row:\n{text}"
    );

    // The details of her newest session count her live sessions against the limit.
    app.selected = app.mirror.position(third.parse().unwrap());
    app.update(Msg::Key(crossterm::event::KeyEvent::new(
        crossterm::event::KeyCode::Enter,
        crossterm::event::KeyModifiers::NONE,
    )));
    let text = screen(&mut app);
    assert!(
        text.contains("alice has 2 live sessions (limit 2)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_names_the_node_and_follows_a_reconnect_to_another_node() {
    // Two server processes' worth of nodes over one engine: one instance, two nodes,
    // behind a proxy that plays the load balancer.
    let shared = engine(3);
    let (a, _stop_a) = serve(shared.clone()).await;
    let (b, _stop_b) = serve(shared.clone()).await;
    let proxy = Proxy::start(a).await;
    let url = format!("http://{}", proxy.addr);
    let node_of = |addr: std::net::SocketAddr| async move {
        let stats: serde_json::Value = reqwest::Client::new()
            .get(format!("http://{addr}/v1/admin/stats"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            stats["node"].as_str().unwrap().to_owned(),
            stats["instance"].as_str().unwrap().to_owned(),
        )
    };
    let ((node_a, instance_a), (node_b, instance_b)) = (node_of(a).await, node_of(b).await);
    assert_eq!(instance_a, instance_b, "one store");
    assert_ne!(node_a, node_b, "two nodes");

    let remote = Remote::new(&url, ADMIN.into()).unwrap();
    let (snapshot, mut updates) = remote.connect().await.unwrap();
    assert_eq!(snapshot.info.node, node_a);
    let mut app = dashboard(&remote);
    app.update(Msg::Snapshot(snapshot));
    let header = screen(&mut app).lines().next().unwrap().to_owned();
    assert!(header.contains(&format!("node {node_a}")), "{header}");

    // The event stream is up, on node A.
    loop {
        if let SourceUpdate::Connection(ConnectionState::Connected) = next(&mut updates).await {
            break;
        }
    }
    // The link to node A drops; the balancer sends the reconnect to node B.
    // (A keeps running: stopping it would stop the engine both share.)
    proxy.redirect(b);
    proxy.cut();
    proxy.restore();
    let http = reqwest::Client::new();
    let info = loop {
        let update = next(&mut updates).await;
        // Shown only if the test fails.
        eprintln!("{update:?}");
        match update {
            SourceUpdate::Info(info) => break info,
            SourceUpdate::Resync(_) | SourceUpdate::Restarted(_) => {
                panic!("the same instance resumes without a reload")
            }
            other => app.update(Msg::Update(other)),
        };
    };
    assert_eq!(info.node, node_b);
    app.update(Msg::Update(SourceUpdate::Info(info)));
    let text = screen(&mut app);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains(&format!("node {node_b}")),
        "{text}"
    );
    // And the stream goes on from node B.
    login(&http, &url, "after").await;
    loop {
        if let SourceUpdate::Event(event) = next(&mut updates).await {
            assert_eq!(event.session.user, "after");
            break;
        }
    }
}
