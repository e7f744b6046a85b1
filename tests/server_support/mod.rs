//! Starts a real session server on an ephemeral loopback port for a test,
//! and the small client helpers the server tests share.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sessiontop::config::Config;
use sessiontop::engine::{EngineHandle, Millis, VirtualClock};
use sessiontop::server::ServerError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const APP: &str = "test-app-token-0123456789";
pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

/// The test config: known tokens and per-session timeouts down to 10ms, so
/// expiry tests use short timeouts instead of sleeping through long ones.
pub fn test_config() -> Config {
    let mut config = Config::default();
    config.server.app_token = Some(APP.into());
    config.server.admin_token = Some(ADMIN.into());
    config.policy.min_timeout = Duration::from_millis(10);
    config
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config();
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sessiontop::server::serve(config, listener, async move {
            let _ = stopped.await;
        }));
        Self::running(base, stop, task)
    }

    /// A server on the memory store whose engine runs on a virtual clock
    /// paused at `start`: a test steps it past a deadline
    /// (`engine.adjust_clock`) instead of waiting for one.
    pub async fn on_paused_clock(
        start: Millis,
        tweak: impl FnOnce(&mut Config),
    ) -> (Self, EngineHandle) {
        let mut config = test_config();
        tweak(&mut config);
        let engine = EngineHandle::spawn(
            config.policy.to_policy().unwrap(),
            Arc::new(VirtualClock::paused_at(start)),
            config.engine.to_driver_config().unwrap(),
        );
        let handle = engine.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sessiontop::server::serve_engine(engine, &config.server, listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        (Self::running(base, stop, task), handle)
    }

    fn running(
        base: String,
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), ServerError>>,
    ) -> Self {
        TestServer {
            base,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// POST with the app token; returns status and JSON body (Null when empty).
    pub async fn app_post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        read(self.call(Method::POST, path, Some(APP), Some(body)).await).await
    }

    pub async fn admin(&self, method: Method, path: &str) -> (StatusCode, Value) {
        read(self.call(method, path, Some(ADMIN), None).await).await
    }

    /// Logs `user` in; returns (token, handle).
    pub async fn login(&self, user: &str) -> (String, String) {
        self.login_with(json!({ "user": user })).await
    }

    pub async fn login_with(&self, body: Value) -> (String, String) {
        let (status, body) = self.app_post("/v1/sessions", body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["token"].as_str().unwrap().to_owned(),
            body["session"]["handle"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn stats(&self) -> Value {
        let (status, body) = self.admin(Method::GET, "/v1/admin/stats").await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    pub async fn active(&self) -> u64 {
        self.stats().await["active"].as_u64().unwrap()
    }

    /// Opens the event stream, optionally resuming after `last_event_id`.
    pub async fn events(&self, last_event_id: Option<&str>) -> EventStream {
        let mut request = self
            .client
            .get(self.url("/v1/admin/events"))
            .bearer_auth(ADMIN);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        use eventsource_stream::Eventsource;
        EventStream {
            inner: Box::pin(response.bytes_stream().eventsource()),
        }
    }

    /// Stops the server gracefully and returns what `serve` returned.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(5), self.task.take().unwrap())
            .await
            .expect("the server stops within 5s")
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// Asserts the API's error shape and returns the error code.
pub fn error_code(body: &Value) -> &str {
    let object = body
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {body}"));
    let (Some(error), Some(message), 2) = (
        object.get("error").and_then(Value::as_str),
        object.get("message").and_then(Value::as_str),
        object.len(),
    ) else {
        panic!("not the error shape: {body}");
    };
    assert!(!message.is_empty(), "{body}");
    error
}

type SseItem =
    Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>;

pub struct EventStream {
    inner: std::pin::Pin<Box<dyn futures_util::Stream<Item = SseItem> + Send>>,
}

/// One received server-sent event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: String,
    pub event: String,
    pub data: Value,
}

impl Sse {
    pub fn seq(&self) -> u64 {
        self.data["seq"].as_u64().unwrap()
    }
}

impl EventStream {
    /// The next event, or `None` if the stream ended or nothing came within 5s.
    pub async fn next(&mut self) -> Option<Sse> {
        self.next_within(Duration::from_secs(5)).await
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Sse> {
        let event = tokio::time::timeout(wait, self.inner.next())
            .await
            .ok()??
            .ok()?;
        Some(Sse {
            id: event.id,
            event: event.event,
            data: serde_json::from_str(&event.data).unwrap(),
        })
    }

    /// The next `n` events; panics if they do not all come.
    pub async fn take(&mut self, n: usize) -> Vec<Sse> {
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let event = self
                .next()
                .await
                .unwrap_or_else(|| panic!("event {} of {n} did not come", i + 1));
            events.push(event);
        }
        events
    }
}
