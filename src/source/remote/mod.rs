//! The remote source: a session server watched over HTTP and its event stream.
//!
//! The dashboard keeps a mirror: a snapshot read in pages (`snapshot`), then
//! every event after the snapshot's sequence number from
//! `GET /v1/admin/events` (`follow`), which reconnects with backoff and
//! resumes with `Last-Event-ID`, and reloads the snapshot on `resync`.
//! Requests and their failures live in `http`. Countdowns use the server's
//! clock: the offset between the server's time and ours is measured at each
//! snapshot. Everything read or sent is a `crate::api` type. The admin token
//! lives only in request headers: never in a URL, a log line or anything the
//! dashboard shows.

mod follow;
mod http;
mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use reqwest::Method;
use tokio::sync::mpsc;

use super::{
    ClockReading, CommandOutcome, SessionSource, SourceCommand, SourceError, SourceInfo,
    SourceSnapshot, UpdateStream,
};
use crate::api::{LoginRequest, RevokedCount, SessionDetail, SessionResponse};
use crate::engine::clock::system_now;
pub use follow::backoff;
use http::{Http, encode_component};
use snapshot::ServerFacts;

#[derive(Clone)]
pub struct Remote {
    shared: Arc<Shared>,
}

/// What the source's tasks share: the link to the server and what it told us.
struct Shared {
    http: Http,
    server: Mutex<ServerFacts>,
}

impl Remote {
    /// A source for the server at `url`, using the admin `token`. Nothing is contacted yet.
    pub fn new(url: &str, token: String) -> Result<Self, SourceError> {
        Self::build(url, token, None)
    }

    /// Like `new`, with the token read from `file` (else `SESSIONTOP_TOKEN`).
    /// A token from a file is read again when the server refuses it, so
    /// rotating the file's token needs no restart.
    pub fn with_token_file(url: &str, file: Option<&Path>) -> Result<Self, SourceError> {
        let token = Self::token_from(file)?;
        Self::build(url, token, file.map(Path::to_owned))
    }

    fn build(url: &str, token: String, token_file: Option<PathBuf>) -> Result<Self, SourceError> {
        let base = base_url(url)?;
        if token.trim().is_empty() {
            return Err(SourceError::Connection(
                "the admin token is empty; put it in --token-file or SESSIONTOP_TOKEN".into(),
            ));
        }
        Ok(Remote {
            shared: Arc::new(Shared {
                http: Http::new(base, token.trim().to_owned(), token_file)?,
                server: Mutex::new(ServerFacts::default()),
            }),
        })
    }

    /// Reads the admin token from `file`, else `SESSIONTOP_TOKEN`.
    pub fn token_from(file: Option<&Path>) -> Result<String, SourceError> {
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
        std::env::var("SESSIONTOP_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                SourceError::Connection(
                    "no admin token: pass --token-file FILE or set SESSIONTOP_TOKEN".into(),
                )
            })
    }
}

/// Checks a `--server` URL and returns the base every path is appended to.
fn base_url(url: &str) -> Result<String, SourceError> {
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
    Ok(base)
}

impl Shared {
    fn facts(&self) -> ServerFacts {
        self.server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_facts(&self, facts: ServerFacts) {
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = facts;
    }

    fn info(&self) -> SourceInfo {
        let facts = self.facts();
        let mode = if facts.version.is_empty() {
            self.http.base.clone()
        } else {
            format!("{} (v{})", self.http.base, facts.version)
        };
        SourceInfo {
            mode,
            policy: facts.policy,
            clock_control: false,
            simulator: false,
            remote: true,
        }
    }
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
            let snapshot = snapshot::load(&shared).await?;
            let (tx, rx) = mpsc::channel(4096);
            let resume = follow::Resume {
                instance: shared.facts().instance,
                seq: snapshot.seq,
            };
            tokio::spawn(follow::follow(shared, resume, tx));
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
        async move { execute(&shared.http, command).await }.boxed()
    }
}

async fn execute(http: &Http, command: SourceCommand) -> Result<CommandOutcome, SourceError> {
    const NO_BODY: Option<&()> = None;
    match command {
        SourceCommand::Login { user, attributes } => {
            let login = LoginRequest {
                attributes: (!attributes.is_empty()).then_some(attributes),
                ..LoginRequest::user(user)
            };
            // The answer holds the new session's token; only the session is read from it.
            let created: SessionResponse = http
                .call(Method::POST, "/v1/sessions", Some(&login))
                .await?;
            Ok(CommandOutcome::Done(format!(
                "logged in {} as {} on the server",
                created.session.user, created.session.handle
            )))
        }
        SourceCommand::Touch(handle) => {
            let path = format!("/v1/admin/sessions/{handle}/touch");
            let _: SessionResponse = http.call(Method::POST, &path, NO_BODY).await?;
            Ok(CommandOutcome::Done(format!("activity on {handle}")))
        }
        SourceCommand::Revoke(handle) => {
            let path = format!("/v1/admin/sessions/{handle}");
            http.send(http.request(Method::DELETE, &path)).await?;
            Ok(CommandOutcome::Done(format!("revoked {handle}")))
        }
        SourceCommand::RevokeUser(user) => {
            let path = format!("/v1/admin/users/{}/sessions", encode_component(&user));
            let revoked: RevokedCount = http.call(Method::DELETE, &path, NO_BODY).await?;
            let n = revoked.revoked;
            Ok(CommandOutcome::Done(format!(
                "revoked {n} session{} of {user}",
                if n == 1 { "" } else { "s" }
            )))
        }
        SourceCommand::Detail(handle) => {
            let path = format!("/v1/admin/sessions/{handle}");
            match http
                .call::<SessionDetail>(Method::GET, &path, NO_BODY)
                .await
            {
                Ok(detail) => Ok(CommandOutcome::Detail {
                    session: Some(detail.session.into()),
                    events: detail.events.into_iter().map(Into::into).collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_and_empty_tokens_are_refused_up_front() {
        assert!(Remote::new("not a url", "t".into()).is_err());
        assert!(Remote::new("ftp://host", "t".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1", " ".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1/", "t".into()).is_ok());
    }
}
