//! Talking to the server: one request, its answer read as an `api` type,
//! and every failure turned into one sentence the dashboard can show.
//!
//! The admin token goes only into the `Authorization` header: never into a
//! URL, a log line or an error message.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::super::SourceError;
use crate::api::{ErrorBody, ErrorCode};

/// The server silence after which the event stream counts as dead: it sends a
/// keep-alive comment every 15 s.
pub const STREAM_SILENCE: Duration = Duration::from_secs(45);

/// A server at a base URL, and the admin token for it.
pub struct Http {
    pub base: String,
    api: reqwest::Client,
    stream: reqwest::Client,
    token: Mutex<String>,
    /// Where the token came from, if a file: read again after a 401, so a
    /// rotated token is picked up without a restart.
    token_file: Option<PathBuf>,
}

impl Http {
    pub fn new(
        base: String,
        token: String,
        token_file: Option<PathBuf>,
    ) -> Result<Self, SourceError> {
        let client = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("sessiontop/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| SourceError::Connection(format!("cannot set up HTTP: {e}")))
        };
        Ok(Http {
            base,
            api: client(reqwest::Client::builder().timeout(Duration::from_secs(15)))?,
            stream: client(reqwest::Client::builder().read_timeout(STREAM_SILENCE))?,
            token: Mutex::new(token),
            token_file,
        })
    }

    fn token(&self) -> String {
        self.token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the token file again after the server refused the token. True
    /// if it holds a token other than the one in use (it was rotated).
    pub fn reread_token(&self) -> bool {
        let Some(file) = &self.token_file else {
            return false;
        };
        let Ok(text) = std::fs::read_to_string(file) else {
            return false;
        };
        let fresh = text.trim();
        let mut token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if fresh.is_empty() || fresh == token.as_str() || super::checked_token(fresh, "").is_err() {
            return false;
        }
        *token = fresh.to_owned();
        true
    }

    /// A request to the API (answers within 15 s).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.api
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token())
    }

    /// A request for the event stream (no overall timeout; silence ends it).
    pub fn stream_request(&self, path: &str) -> RequestBuilder {
        self.stream
            .request(Method::GET, format!("{}{path}", self.base))
            .bearer_auth(self.token())
    }

    /// Sends a request; any answer but a success is an error.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, SourceError> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(refusal(response, &self.base).await)
    }

    /// Sends a request with an optional JSON body and reads the answer as `T`.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl serde::Serialize>,
    ) -> Result<T, SourceError> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.send(request).await?;
        response.json::<T>().await.map_err(|e| {
            // An answer of another shape (another server, or another
            // version of sessiontop); a body cut short is a lost link.
            if e.is_decode() {
                SourceError::Connection(not_sessiontop(&self.base, "answered"))
            } else {
                self.unreachable(&e)
            }
        })
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
        SourceError::Connection(format!(
            "cannot reach {}: {what}",
            super::shown_url(&self.base)
        ))
    }
}

/// One sentence for an answer other than success.
async fn refusal(response: Response, base: &str) -> SourceError {
    let status = response.status();
    let body = response.json::<ErrorBody>().await.ok();
    refusal_for(status, body, base)
}

/// What to say of an answer no sessiontop server gives: `base` is likely
/// another server, or a proxy in front of sessiontop that failed.
fn not_sessiontop(base: &str, answered: &str) -> String {
    format!(
        "{} {answered}, but not as a sessiontop server (of this version) does: give --server the base URL of `sessiontop serve`, such as http://127.0.0.1:7878",
        super::shown_url(base)
    )
}

/// One sentence for an answer with `status` and, if it had one, `body`.
fn refusal_for(status: StatusCode, body: Option<ErrorBody>, base: &str) -> SourceError {
    // A 401 or 403 without sessiontop's error body is another server's (a
    // proxy's login, a firewall's page): not about this token.
    match status {
        StatusCode::UNAUTHORIZED if body.is_some() => SourceError::Unauthorized(
            "the server refused the token (401): check --token-file or SESSIONTOP_TOKEN".into(),
        ),
        StatusCode::FORBIDDEN if body.is_some() => {
            SourceError::Connection("the token is not the server's admin token (403)".into())
        }
        _ => match body {
            // The API's message speaks to a client whose request failed
            // ("nothing was changed, try again"); an operator watching the
            // dashboard needs only what is wrong, and it reconnects by itself.
            Some(body) if body.code() == Some(ErrorCode::StoreUnavailable) => {
                SourceError::Connection("the server's session store is unavailable".into())
            }
            // The server's hint (see /openapi.json) is for an API client;
            // the operator gave --server a path the API is not under.
            Some(body) if body.code() == Some(ErrorCode::NoRoute) => SourceError::Refused(
                "no sessiontop API answers under that path: give --server the server's base URL, such as http://127.0.0.1:7878".into(),
            ),
            // The message says it; the code is for programs.
            Some(body) => SourceError::Refused(body.message),
            // A proxy's own failure: sessiontop is behind it, perhaps down.
            None if status.is_server_error() => SourceError::Connection(format!(
                "{} answered {status}, not sessiontop itself (a proxy in front of it?)",
                super::shown_url(base)
            )),
            None => SourceError::Refused(not_sessiontop(base, &format!("answered {status}"))),
        },
    }
}

/// Everything but the unreserved characters of RFC 3986 gets percent-encoded.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path or query component.
pub fn encode_component(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_store_is_told_in_an_operators_words() {
        let body = ErrorBody {
            error: "store_unavailable".into(),
            message: "the session store cannot be reached or written right now; nothing was \
                      changed, try again shortly"
                .into(),
        };
        let error = refusal_for(StatusCode::SERVICE_UNAVAILABLE, Some(body), BASE);
        assert!(
            matches!(&error, SourceError::Connection(text)
                if text == "the server's session store is unavailable"),
            "{error:?}"
        );
    }

    #[test]
    fn a_path_the_api_is_not_under_is_told_as_a_wrong_base_url() {
        let body = ErrorBody {
            error: "no_route".into(),
            message: "no such endpoint; see /openapi.json".into(),
        };
        let error = refusal_for(StatusCode::NOT_FOUND, Some(body), BASE);
        assert!(
            matches!(&error, SourceError::Refused(text) if text.contains("base URL")),
            "{error:?}"
        );
    }

    #[test]
    fn an_answer_no_sessiontop_server_gives_says_to_check_the_url() {
        let error = refusal_for(StatusCode::NOT_FOUND, None, "http://u:pw@127.0.0.1:8000");
        assert!(
            matches!(&error, SourceError::Refused(text)
                if text == "http://***@127.0.0.1:8000 answered 404 Not Found, but not as a sessiontop server (of this version) does: give --server the base URL of `sessiontop serve`, such as http://127.0.0.1:7878"),
            "{error:?}"
        );
        let error = refusal_for(StatusCode::FORBIDDEN, None, BASE);
        assert!(
            matches!(&error, SourceError::Refused(text) if text.contains("answered 403 Forbidden, but not as a sessiontop server")),
            "a firewall's page is not about the token: {error:?}"
        );
        let error = refusal_for(StatusCode::BAD_GATEWAY, None, BASE);
        assert!(
            matches!(&error, SourceError::Connection(text)
                if text.ends_with("answered 502 Bad Gateway, not sessiontop itself (a proxy in front of it?)")),
            "{error:?}"
        );
    }

    const BASE: &str = "http://127.0.0.1:7878";

    #[test]
    fn user_names_are_percent_encoded_in_paths() {
        assert_eq!(encode_component("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(encode_component("zoë"), "zo%C3%AB");
    }
}
