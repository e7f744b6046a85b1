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

    /// Like `new`, with the token read from `file`, else `env` (`SESSIONTOP_TOKEN`).
    /// A token from a file is read again when the server refuses it, so
    /// rotating the file's token needs no restart.
    pub fn with_token_file(
        url: &str,
        file: Option<&Path>,
        env: Option<&secrecy::SecretString>,
    ) -> Result<Self, SourceError> {
        base_url(url, "--server")?;
        let token = Self::token_from(file, env)?;
        Self::build(url, token, file.map(Path::to_owned))
    }

    fn build(url: &str, token: String, token_file: Option<PathBuf>) -> Result<Self, SourceError> {
        let base = base_url(url, "--server")?;
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

    /// Reads the admin token from `file`, else takes `env` (`SESSIONTOP_TOKEN`).
    pub fn token_from(
        file: Option<&Path>,
        env: Option<&secrecy::SecretString>,
    ) -> Result<String, SourceError> {
        if let Some(file) = file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                SourceError::Connection(format!(
                    "cannot read the token file {}: {e}",
                    file.display()
                ))
            })?;
            return checked_token(text.trim(), &format!("the token file {}", file.display()));
        }
        use secrecy::ExposeSecret;
        let token = env
            .map(|t| t.expose_secret().trim().to_owned())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                SourceError::Connection(
                    "no admin token: pass --token-file FILE or set SESSIONTOP_TOKEN".into(),
                )
            })?;
        checked_token(&token, "SESSIONTOP_TOKEN")
    }
}

/// `token` if it can be a server's token: one word of printable ASCII, as
/// `serve` requires of its own. Anything else (two lines, a control
/// character) could not be sent as a header, and is not quoted: it may
/// hold the token.
pub(crate) fn checked_token(token: &str, from: &str) -> Result<String, SourceError> {
    if token.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(token.to_owned());
    }
    Err(SourceError::Connection(format!(
        "{from} does not hold one token: a server's admin token is a single line of printable \
         characters without spaces"
    )))
}

/// A server URL as it may be shown (on screen, in an error): credentials
/// before the host become "***", and a path segment long enough to be a token
/// (`units::REPEATED_BELOW`) is left out as "…".
pub(crate) fn shown_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let masked;
    let host = match host.rsplit_once('@') {
        Some((_, host)) => {
            masked = format!("***@{host}");
            masked.as_str()
        }
        None => host,
    };
    let mut shown = if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    };
    if rest.contains('/') {
        let segments: Vec<&str> = (path.split('/'))
            .map(|segment| {
                if segment.chars().count() < crate::units::REPEATED_BELOW {
                    segment
                } else {
                    "…"
                }
            })
            .collect();
        shown.push('/');
        shown.push_str(&segments.join("/"));
    }
    shown
}

/// Checks a server URL given as `name` (`--server`, `SESSIONTOP_SERVER`,
/// `dashboard.server`) and returns the base every path is appended to. A
/// refusal never repeats what follows a `?` or `#`: a query or fragment may
/// hold a secret (`?access_token=…`).
pub(crate) fn base_url(url: &str, name: &str) -> Result<String, SourceError> {
    let refuse = |message: String| Err(SourceError::Connection(message));
    let url = url.trim();
    let shown = match url.find(['?', '#']) {
        Some(at) => format!("{}…", shown_url(&url[..at])),
        None => shown_url(url),
    };
    if !url.contains("://") {
        return refuse(format!(
            "{name} {shown:?} has no scheme: add http:// (or https://), as in http://{shown}"
        ));
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return refuse(format!("{name} {shown:?} is not a URL: {e}")),
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse(
            "the server URL holds credentials; put the admin token in --token-file or SESSIONTOP_TOKEN instead".into(),
        );
    }
    if !matches!(parsed.scheme(), "http" | "https") {
        return refuse(format!(
            "{name} {shown:?} is not an http:// or https:// URL"
        ));
    }
    let Some(host) = parsed.host_str() else {
        return refuse(format!("{name} {shown:?} names no host"));
    };
    let origin = match parsed.port() {
        Some(port) => format!("{}://{host}:{port}", parsed.scheme()),
        None => format!("{}://{host}", parsed.scheme()),
    };
    // A path is kept as a prefix (a server behind a reverse proxy), unless
    // it already reaches into the API.
    let path = parsed.path().trim_end_matches('/');
    let api_part = path.split('/').position(|segment| {
        ["v1", "openapi.json", "healthz", "readyz", "metrics"].contains(&segment)
    });
    let prefix = match api_part {
        Some(at) => path.split('/').take(at).collect::<Vec<_>>().join("/"),
        None => path.to_owned(),
    };
    let base = format!("{origin}{prefix}");
    let shown_base = shown_url(&base);
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return refuse(format!(
            "{name} {shown:?} has a query or fragment (not repeated: it may hold a secret); give the base URL, {shown_base}, and the admin token in --token-file or SESSIONTOP_TOKEN"
        ));
    }
    if api_part.is_some() {
        return refuse(format!(
            "{name} {shown:?} goes past the server's address; give the base URL, {shown_base}, and sessiontop adds /v1/... itself"
        ));
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
            shown_url(&self.http.base)
        } else {
            format!("{} (v{})", shown_url(&self.http.base), facts.version)
        };
        SourceInfo {
            mode,
            policy: facts.policy,
            clock_control: false,
            simulator: false,
            remote: true,
            node: facts.node,
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
            Ok(CommandOutcome::revoked_of_user(
                revoked.revoked as u64,
                &user,
            ))
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
        SourceCommand::SetPaused(_) | SourceCommand::StepSpeed { .. } => Err(
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

    fn refusal(url: &str) -> String {
        base_url(url, "--server").unwrap_err().to_string()
    }

    #[test]
    fn a_server_url_without_a_scheme_is_told_to_add_http() {
        assert_eq!(
            refusal("127.0.0.1:7878"),
            "--server \"127.0.0.1:7878\" has no scheme: add http:// (or https://), as in http://127.0.0.1:7878"
        );
        assert!(refusal("localhost:7878").contains("add http://"));
    }

    #[test]
    fn a_server_url_into_the_api_is_told_to_give_the_base_url() {
        assert_eq!(
            refusal("http://host/v1"),
            "--server \"http://host/v1\" goes past the server's address; give the base URL, http://host, and sessiontop adds /v1/... itself"
        );
        assert!(
            refusal("https://host:8443/v1/admin?x=1")
                .contains("give the base URL, https://host:8443")
        );
        // A query or fragment, or a long path segment, may hold a secret:
        // never repeated.
        assert_eq!(
            refusal("http://host:7450/admin-secret-0123456789abc/v1"),
            "--server \"http://host:7450/…/v1\" goes past the server's address; give the base URL, http://host:7450/…, and sessiontop adds /v1/... itself"
        );
        assert_eq!(
            shown_url("https://ops.example/sessiontop"),
            "https://ops.example/sessiontop"
        );
        for url in [
            "http://host:7450/?access_token=s3cret-admin-token",
            "http://host:7450/#s3cret-admin-token",
            "http://host:99999/?access_token=s3cret-admin-token",
            "host:7450/?access_token=s3cret-admin-token",
        ] {
            let refused = refusal(url);
            assert!(!refused.contains("s3cret"), "{refused}");
        }
        assert_eq!(
            refusal("http://host:7450/?access_token=s3cret"),
            "--server \"http://host:7450/…\" has a query or fragment (not repeated: it may hold a secret); give the base URL, http://host:7450, and the admin token in --token-file or SESSIONTOP_TOKEN"
        );
        assert_eq!(
            base_url(" http://host:7878/ ", "--server").unwrap(),
            "http://host:7878"
        );
        assert_eq!(
            base_url("http://[::1]:7878", "--server").unwrap(),
            "http://[::1]:7878"
        );
        // Behind a reverse proxy, a path prefix is the base.
        assert_eq!(
            base_url("https://ops.example/sessiontop/", "--server").unwrap(),
            "https://ops.example/sessiontop"
        );
        assert!(
            refusal("https://ops.example/sessiontop/v1/admin")
                .contains("base URL, https://ops.example/sessiontop,")
        );
    }

    #[test]
    fn credentials_in_a_refused_server_url_are_never_repeated() {
        for url in [
            "alice:S3cretPass@host:7878",
            "http://alice:S3cretPass@host:7878",
            "http://alice:S3cretPass@host:99999",
            "http://:S3cretPass@host:7878/x/v1",
            "alice:S3cretPass@host:7878/?t=1",
        ] {
            let refused = refusal(url);
            assert!(!refused.contains("S3cret"), "{refused}");
        }
        assert_eq!(
            refusal("alice:S3cretPass@host:7878"),
            "--server \"***@host:7878\" has no scheme: add http:// (or https://), as in http://***@host:7878"
        );
    }

    #[test]
    fn bad_urls_and_empty_tokens_are_refused_up_front() {
        assert!(Remote::new("not a url", "t".into()).is_err());
        assert!(Remote::new("ftp://host", "t".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1", " ".into()).is_err());
        assert!(Remote::new("http://127.0.0.1:1/", "t".into()).is_ok());
    }
}
