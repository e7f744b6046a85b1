//! The remote source: a session server watched over HTTP and its event stream.
//!
//! The dashboard keeps a mirror: a snapshot read in pages, then every event
//! after the snapshot's sequence number from `GET /v1/admin/events`. If the
//! stream drops it reconnects with exponential backoff and jitter and resumes
//! with `Last-Event-ID`; on `resync` (history too old, a slow client, or a
//! restarted server) it reloads the snapshot. Countdowns use the server's
//! clock: the offset between the server's time and ours is measured at each
//! snapshot. The admin token lives only in request headers: never in a URL,
//! a log line or anything the dashboard shows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::{
    ClockReading, CommandOutcome, ConnectionState, SessionSource, SourceCommand, SourceError,
    SourceInfo, SourceSnapshot, SourceUpdate, UpdateStream,
};
use crate::engine::clock::system_now;
use crate::engine::session::rfc3339_ms;
use crate::engine::{ClosingTime, Event, Millis, Policy, SessionView, Stats, Totals};
use crate::units::parse_duration;

/// Sessions asked for per page of the snapshot.
const PAGE: usize = 1000;
/// Reconnect backoff: first wait and ceiling.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// The server sends a keep-alive comment every 15 s; silence for this long means the link is dead.
const STREAM_SILENCE: Duration = Duration::from_secs(45);

#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

struct Shared {
    base: String,
    api: reqwest::Client,
    stream: reqwest::Client,
    token: String,
    server: Mutex<ServerFacts>,
}

/// What the last snapshot taught us about the server.
#[derive(Debug, Clone)]
struct ServerFacts {
    policy: Policy,
    version: String,
    instance: String,
    /// Server time minus our time, in milliseconds.
    offset_ms: i64,
}

/// The parts of `GET /v1/admin/stats` the dashboard needs.
#[derive(Debug, Deserialize)]
struct StatsBody {
    active: u64,
    peak: u64,
    totals: Totals,
    policy: PolicyBody,
    #[serde(with = "rfc3339_ms")]
    server_time: Millis,
    version: String,
    instance: String,
    last_seq: u64,
}

#[derive(Debug, Deserialize)]
struct PolicyBody {
    idle_timeout: String,
    absolute_timeout: String,
    closing_time: Option<String>,
    /// Absent from servers before it was added: shown as UTC then.
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PageBody {
    sessions: Vec<SessionView>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SessionBody {
    session: SessionView,
}

#[derive(Debug, Deserialize)]
struct DetailBody {
    session: SessionView,
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct RevokedBody {
    revoked: usize,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    message: String,
}

impl Remote {
    /// A source for the server at `url`, using the admin `token`. Nothing is contacted yet.
    pub fn new(url: &str, token: String) -> Result<Self, SourceError> {
        let base = url.trim().trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| SourceError::Connection(format!("{base:?} is not a URL: {e}")))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(SourceError::Connection(
                "the server URL holds credentials; put the admin token in --token-file or SESSIONTOP_TOKEN instead".into(),
            ));
        }
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SourceError::Connection(format!(
                "{base:?} is not an http:// or https:// URL"
            )));
        }
        if token.trim().is_empty() {
            return Err(SourceError::Connection(
                "the admin token is empty; put it in --token-file or SESSIONTOP_TOKEN".into(),
            ));
        }
        let client = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("sessiontop/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| SourceError::Connection(format!("cannot set up HTTP: {e}")))
        };
        Ok(Remote {
            shared: Arc::new(Shared {
                base,
                api: client(reqwest::Client::builder().timeout(Duration::from_secs(15)))?,
                stream: client(reqwest::Client::builder().read_timeout(STREAM_SILENCE))?,
                token: token.trim().to_owned(),
                server: Mutex::new(ServerFacts {
                    policy: Policy::default(),
                    version: String::new(),
                    instance: String::new(),
                    offset_ms: 0,
                }),
            }),
        })
    }

    /// Reads the admin token from `file`, else takes `env` (`SESSIONTOP_TOKEN`).
    pub fn token_from(
        file: Option<&std::path::Path>,
        env: Option<&secrecy::SecretString>,
    ) -> Result<String, SourceError> {
        if let Some(file) = file {
            return std::fs::read_to_string(file)
                .map(|t| t.trim().to_owned())
                .map_err(|e| {
                    SourceError::Connection(format!(
                        "cannot read the token file {}: {e}",
                        file.display()
                    ))
                });
        }
        use secrecy::ExposeSecret;
        env.map(|t| t.expose_secret().trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                SourceError::Connection(
                    "no admin token: pass --token-file FILE or set SESSIONTOP_TOKEN".into(),
                )
            })
    }
}

impl Shared {
    fn facts(&self) -> ServerFacts {
        self.server
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn info(&self) -> SourceInfo {
        let facts = self.facts();
        let mode = if facts.version.is_empty() {
            self.base.clone()
        } else {
            format!("{} (v{})", self.base, facts.version)
        };
        SourceInfo {
            mode,
            policy: facts.policy,
            clock_control: false,
            simulator: false,
            remote: true,
        }
    }

    fn request(&self, client: &reqwest::Client, method: Method, path: &str) -> RequestBuilder {
        client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    async fn send(&self, request: RequestBuilder) -> Result<Response, SourceError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.refusal(response).await)
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, SourceError> {
        let mut request = self.request(&self.api, method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = self.send(request).await?;
        response
            .json::<T>()
            .await
            .map_err(|e| SourceError::Connection(format!("unexpected answer from the server: {e}")))
    }

    /// One clear sentence for a request that got no HTTP answer.
    fn unreachable(&self, error: &reqwest::Error) -> SourceError {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(e) = source {
            cause = e.to_string();
            source = e.source();
        }
        let tls = self.base.starts_with("https:")
            && [
                "certificate",
                "handshake",
                "corrupt message",
                "tls",
                "TLS",
                "InvalidContentType",
            ]
            .iter()
            .any(|hint| cause.contains(hint));
        let what = if error.is_timeout() {
            "no answer in time".to_owned()
        } else if tls {
            format!(
                "the TLS handshake failed ({cause}); is it an https server with a trusted certificate?"
            )
        } else {
            cause
        };
        SourceError::Connection(format!("cannot reach {}: {what}", self.base))
    }

    async fn refusal(&self, response: Response) -> SourceError {
        let status = response.status();
        let body = response.json::<ErrorBody>().await.ok();
        match status {
            StatusCode::UNAUTHORIZED => SourceError::Connection(
                "the server refused the token (401): check --token-file or SESSIONTOP_TOKEN".into(),
            ),
            StatusCode::FORBIDDEN => {
                SourceError::Connection("the token is not the server's admin token (403)".into())
            }
            _ => match body {
                Some(body) => SourceError::Refused(format!("{} ({})", body.message, body.error)),
                None => SourceError::Refused(format!("the server answered {status}")),
            },
        }
    }

    /// Every live session, read in pages, and the sequence number it is current to.
    async fn snapshot(&self) -> Result<SourceSnapshot, SourceError> {
        let asked_at = system_now();
        let stats: StatsBody = self.call(Method::GET, "/v1/admin/stats", None).await?;
        let answered_at = system_now();
        let policy = policy_from(&stats.policy)?;
        {
            let mut facts = self.server.lock().unwrap_or_else(|p| p.into_inner());
            *facts = ServerFacts {
                policy,
                version: stats.version.clone(),
                instance: stats.instance.clone(),
                offset_ms: stats.server_time - (asked_at + answered_at) / 2,
            };
        }
        // Events after `last_seq` are replayed on top of these pages; they carry
        // whole sessions, so applying one the pages already show is harmless.
        // The count comes from the server: trust it only so far.
        let mut sessions = Vec::with_capacity((stats.active as usize).min(1 << 20));
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/admin/sessions?limit={PAGE}");
            if let Some(cursor) = &cursor {
                path.push_str("&cursor=");
                path.push_str(&encode_component(cursor));
            }
            let page: PageBody = self.call(Method::GET, &path, None).await?;
            sessions.extend(page.sessions);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(SourceSnapshot {
            info: self.info(),
            sessions,
            seq: stats.last_seq,
            stats: Stats {
                active: stats.active,
                peak: stats.peak,
                totals: stats.totals,
                last_seq: stats.last_seq,
            },
            now: stats.server_time,
        })
    }
}

fn policy_from(body: &PolicyBody) -> Result<Policy, SourceError> {
    let bad = |what: &str, e: String| SourceError::Connection(format!("the server's {what}: {e}"));
    Ok(Policy {
        idle_timeout: parse_duration(&body.idle_timeout).map_err(|e| bad("idle_timeout", e))?,
        absolute_timeout: parse_duration(&body.absolute_timeout)
            .map_err(|e| bad("absolute_timeout", e))?,
        closing_time: match &body.closing_time {
            Some(t) => Some(ClosingTime(
                crate::units::parse_closing_time(t).map_err(|e| bad("closing_time", e))?,
            )),
            None => None,
        },
        time_zone: match &body.time_zone {
            Some(tz) => crate::units::parse_time_zone(tz).map_err(|e| bad("time_zone", e))?,
            None => chrono_tz::UTC,
        },
        ..Policy::default()
    })
}

/// Everything but the unreserved characters of RFC 3986 gets percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path or query component.
fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

/// The wait before reconnect attempt `attempt` (0-based): doubling, capped, with ±25 % jitter.
pub fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1 << attempt.min(16))
        .min(BACKOFF_MAX);
    let jitter = rand::random_range(0.75..1.25);
    base.mul_f64(jitter)
}

impl SessionSource for Remote {
    fn info(&self) -> SourceInfo {
        self.shared.info()
    }

    fn clock(&self) -> ClockReading {
        ClockReading {
            now: system_now() + self.shared.facts().offset_ms,
            speed: 1.0,
            paused: false,
        }
    }

    fn connect(&self) -> BoxFuture<'static, Result<(SourceSnapshot, UpdateStream), SourceError>> {
        let shared = self.shared.clone();
        async move {
            let snapshot = shared.snapshot().await?;
            let (tx, rx) = mpsc::channel(4096);
            let resume = Resume {
                instance: shared.facts().instance,
                seq: snapshot.seq,
            };
            tokio::spawn(follow(shared, resume, tx));
            let updates = tokio_stream::wrappers::ReceiverStream::new(rx);
            Ok((snapshot, Box::pin(updates) as UpdateStream))
        }
        .boxed()
    }

    fn execute(
        &self,
        command: SourceCommand,
    ) -> BoxFuture<'static, Result<CommandOutcome, SourceError>> {
        let shared = self.shared.clone();
        async move { execute(&shared, command).await }.boxed()
    }
}

async fn execute(shared: &Shared, command: SourceCommand) -> Result<CommandOutcome, SourceError> {
    match command {
        SourceCommand::Login { user, attributes } => {
            let mut body = serde_json::json!({ "user": user });
            if !attributes.is_empty() {
                body["attributes"] = serde_json::to_value(&attributes).unwrap_or_default();
            }
            // The answer holds the new session's token; only the session is read from it.
            let created: SessionBody = shared
                .call(Method::POST, "/v1/sessions", Some(body))
                .await?;
            Ok(CommandOutcome::Done(format!(
                "logged in {} as {} on the server",
                created.session.user, created.session.handle
            )))
        }
        SourceCommand::Touch(handle) => {
            let _: SessionBody = shared
                .call(
                    Method::POST,
                    &format!("/v1/admin/sessions/{handle}/touch"),
                    None,
                )
                .await?;
            Ok(CommandOutcome::Done(format!("activity on {handle}")))
        }
        SourceCommand::Revoke(handle) => {
            shared
                .send(shared.request(
                    &shared.api,
                    Method::DELETE,
                    &format!("/v1/admin/sessions/{handle}"),
                ))
                .await?;
            Ok(CommandOutcome::Done(format!("revoked {handle}")))
        }
        SourceCommand::RevokeUser(user) => {
            let path = format!("/v1/admin/users/{}/sessions", encode_component(&user));
            let revoked: RevokedBody = shared.call(Method::DELETE, &path, None).await?;
            let n = revoked.revoked;
            Ok(CommandOutcome::Done(format!(
                "revoked {n} session{} of {user}",
                if n == 1 { "" } else { "s" }
            )))
        }
        SourceCommand::Detail(handle) => {
            let path = format!("/v1/admin/sessions/{handle}");
            match shared.call::<DetailBody>(Method::GET, &path, None).await {
                Ok(detail) => Ok(CommandOutcome::Detail {
                    session: Some(detail.session),
                    events: detail.events,
                }),
                Err(SourceError::Refused(_)) => Ok(CommandOutcome::Detail {
                    session: None,
                    events: Vec::new(),
                }),
                Err(e) => Err(e),
            }
        }
        SourceCommand::SetPaused(_) | SourceCommand::ScaleSpeed(_) => Err(
            SourceError::Unsupported("the clock of a session server runs in real time"),
        ),
        SourceCommand::SetSimulator(_) => Err(SourceError::Unsupported(
            "the simulator (it drives the embedded engine)",
        )),
    }
}

/// Where the mirror is: the server instance and the last event applied.
#[derive(Debug, Clone, PartialEq)]
struct Resume {
    instance: String,
    seq: u64,
}

impl Resume {
    fn last_event_id(&self) -> String {
        format!("{}-{}", self.instance, self.seq)
    }
}

/// What one SSE message means to the mirror.
#[derive(Debug, PartialEq)]
enum Message {
    Event(Box<Event>),
    Resync,
    /// Already applied (at or before the resume point), or not ours.
    Skip,
}

fn interpret(kind: &str, id: &str, data: &str, resume: &Resume) -> Result<Message, String> {
    if kind == "resync" {
        return Ok(Message::Resync);
    }
    let event: Event =
        serde_json::from_str(data).map_err(|e| format!("unreadable event {id:?}: {e}"))?;
    let instance = id.rsplit_once('-').map(|(instance, _)| instance);
    if instance.is_some_and(|i| i != resume.instance) {
        // An event of another server run can only be applied after a new snapshot.
        return Ok(Message::Resync);
    }
    if event.seq <= resume.seq {
        return Ok(Message::Skip);
    }
    Ok(Message::Event(Box::new(event)))
}

/// Follows the event stream until the dashboard stops listening, reconnecting as needed.
async fn follow(shared: Arc<Shared>, mut resume: Resume, updates: mpsc::Sender<SourceUpdate>) {
    let mut attempt = 0u32;
    loop {
        let outcome = stream_once(&shared, &mut resume, &updates, &mut attempt).await;
        let reason = match outcome {
            Ok(StreamEnd::DashboardGone) => return,
            // A fresh snapshot was loaded: follow on from it at once.
            Ok(StreamEnd::Reloaded) => continue,
            Ok(StreamEnd::Closed) => "the server closed the event stream".to_owned(),
            Err(e) => e.to_string(),
        };
        let wait = backoff(attempt);
        attempt = attempt.saturating_add(1);
        let state = ConnectionState::Reconnecting {
            retry_in_ms: wait.as_millis() as u64,
            reason,
        };
        if updates.send(SourceUpdate::Connection(state)).await.is_err() {
            return;
        }
        tokio::time::sleep(wait).await;
    }
}

enum StreamEnd {
    DashboardGone,
    Closed,
    Reloaded,
}

async fn stream_once(
    shared: &Shared,
    resume: &mut Resume,
    updates: &mpsc::Sender<SourceUpdate>,
    attempt: &mut u32,
) -> Result<StreamEnd, SourceError> {
    let request = shared
        .request(&shared.stream, Method::GET, "/v1/admin/events")
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", resume.last_event_id());
    let response = shared.send(request).await?;
    *attempt = 0;
    if updates
        .send(SourceUpdate::Connection(ConnectionState::Connected))
        .await
        .is_err()
    {
        return Ok(StreamEnd::DashboardGone);
    }
    let mut messages = response.bytes_stream().eventsource();
    while let Some(message) = messages.next().await {
        let message =
            message.map_err(|e| SourceError::Connection(format!("event stream broke: {e}")))?;
        let interpreted = interpret(&message.event, &message.id, &message.data, resume)
            .unwrap_or_else(|reason| {
                // Skipping it would leave a silent gap: reload instead.
                tracing::warn!(%reason, "an event the dashboard cannot read; reloading");
                Message::Resync
            });
        let update = match interpreted {
            Message::Event(event) => {
                resume.seq = event.seq;
                SourceUpdate::Event(*event)
            }
            Message::Skip => continue,
            Message::Resync => {
                // Drop this stream first: while the snapshot loads in pages it
                // would fall behind on the server and only earn another resync.
                drop(messages);
                let snapshot = shared.snapshot().await?;
                *resume = Resume {
                    instance: shared.facts().instance,
                    seq: snapshot.seq,
                };
                if updates.send(SourceUpdate::Resync(snapshot)).await.is_err() {
                    return Ok(StreamEnd::DashboardGone);
                }
                return Ok(StreamEnd::Reloaded);
            }
        };
        if updates.send(update).await.is_err() {
            return Ok(StreamEnd::DashboardGone);
        }
    }
    Ok(StreamEnd::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume() -> Resume {
        Resume {
            instance: "abc123".into(),
            seq: 10,
        }
    }

    fn event_json(seq: u64) -> String {
        format!(
            r#"{{"seq":{seq},"at":"2027-01-15T08:00:00.000Z","kind":"created","session":{{"handle":"00000000000000aa","user":"u","attributes":{{}},"created_at":"2027-01-15T08:00:00.000Z","last_seen_at":"2027-01-15T08:00:00.000Z","idle_expires_at":"2027-01-15T08:15:00.000Z","absolute_expires_at":"2027-01-15T16:00:00.000Z","expires_at":"2027-01-15T08:15:00.000Z","idle_timeout_ms":900000,"state":"active"}}}}"#
        )
    }

    #[test]
    fn events_after_the_resume_point_apply_and_earlier_ones_are_skipped() {
        let new = interpret("created", "abc123-11", &event_json(11), &resume()).unwrap();
        assert!(matches!(new, Message::Event(e) if e.seq == 11));
        let old = interpret("created", "abc123-10", &event_json(10), &resume()).unwrap();
        assert_eq!(old, Message::Skip);
    }

    #[test]
    fn another_instance_or_a_resync_event_means_reload() {
        assert_eq!(
            interpret("resync", "", "", &resume()).unwrap(),
            Message::Resync
        );
        let other = interpret("created", "ffff00-11", &event_json(11), &resume()).unwrap();
        assert_eq!(other, Message::Resync);
    }

    #[test]
    fn an_unreadable_event_is_an_error_not_a_panic() {
        assert!(interpret("created", "abc123-11", "{nope", &resume()).is_err());
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_a_ceiling() {
        for attempt in 0..40 {
            let wait = backoff(attempt);
            let base = BACKOFF_START
                .saturating_mul(1 << attempt.min(16))
                .min(BACKOFF_MAX);
            assert!(wait >= base.mul_f64(0.75) && wait <= base.mul_f64(1.25));
        }
        assert!(backoff(30) <= BACKOFF_MAX.mul_f64(1.25));
    }

    #[test]
    fn user_names_are_percent_encoded_in_paths() {
        assert_eq!(encode_component("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode_component("zoë"), "zo%C3%AB");
    }

    #[test]
    fn bad_urls_and_empty_tokens_are_refused_up_front() {
        assert!(Remote::new("not a url", "t".into()).is_err());
        assert!(Remote::new("ftp://host", "t".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1", " ".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1/", "t".into()).is_ok());
    }
}
