//! API tokens: where they come from, the extractors that check them, and the
//! task that reads the token files again when they change.
//!
//! There are two roles. The app token logs users in, touches, renews and logs
//! out; the admin token can do all of that and also use `/v1/admin` and
//! `/metrics`. A role may have several tokens (a token file holds one a line,
//! for rotation). Presented tokens are hashed and compared in constant time
//! with every configured hash, so neither timing nor the answer tells which
//! part of a guess was right. This module never logs or echoes a token.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::Uri;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;

use super::ServerState;
use crate::api::{ApiError, ErrorCode};
use crate::config::ServerConfig;

/// Shortest token the server accepts from configuration.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    App,
    Admin,
}

/// The configured tokens, kept only as SHA-256 hashes. A token file may
/// hold several, one per line, so that a token can be rotated with an
/// overlap: add the new one, move every client to it, remove the old one.
#[derive(Clone)]
pub struct ApiTokens {
    app: Vec<[u8; 32]>,
    admin: Vec<[u8; 32]>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no {role} token is configured: set server.{role}_token or server.{role}_token_file")]
    Missing { role: &'static str },
    #[error("cannot read {key} {path}: {reason}")]
    Unreadable {
        key: &'static str,
        path: String,
        reason: std::io::Error,
    },
    #[error(
        "the {role} token (from {from}) is not allowed: use at least {MIN_TOKEN_LEN} printable characters without spaces"
    )]
    Weak {
        role: &'static str,
        from: &'static str,
    },
    #[error("the app token and the admin token are the same: give them different values")]
    Same,
    #[error("{key} {path} holds no token: write one on a line (several, one a line, to rotate)")]
    Empty { key: &'static str, path: String },
    /// A token file others may write: they could add a token of their own.
    #[error(
        "{key} {path} can be written by other users of this machine (mode {mode:o}), who could add a token of their own: chmod go-w it"
    )]
    Writable {
        key: &'static str,
        path: String,
        mode: u32,
    },
}

impl ApiTokens {
    /// The tokens `config` names, directly or in files.
    pub fn from_config(config: &ServerConfig) -> Result<Self, TokenError> {
        let app = configured_tokens(
            "app",
            config.app_token.as_ref().map(|t| t.expose_secret()),
            config.app_token_file.as_deref(),
        )?
        .ok_or(TokenError::Missing { role: "app" })?;
        let admin = configured_tokens(
            "admin",
            config.admin_token.as_ref().map(|t| t.expose_secret()),
            config.admin_token_file.as_deref(),
        )?
        .ok_or(TokenError::Missing { role: "admin" })?;
        if app.iter().any(|token| admin.contains(token)) {
            return Err(TokenError::Same);
        }
        let digests = |tokens: Vec<String>| tokens.iter().map(|t| digest(t)).collect();
        Ok(ApiTokens {
            app: digests(app),
            admin: digests(admin),
        })
    }

    /// How many app and admin tokens are in force.
    pub fn counts(&self) -> (usize, usize) {
        (self.app.len(), self.admin.len())
    }

    /// The role `presented` grants, if any. Every comparison always runs.
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        self.role_of_digest(&digest(presented))
    }

    /// The role of the token whose SHA-256 is `hash`, if any.
    fn role_of_digest(&self, hash: &[u8; 32]) -> Option<Role> {
        let any = |hashes: &[[u8; 32]]| {
            (hashes.iter()).fold(subtle::Choice::from(0), |found, h| found | hash.ct_eq(h))
        };
        let is_app = any(&self.app);
        let is_admin = any(&self.admin);
        if bool::from(is_admin) {
            Some(Role::Admin)
        } else if bool::from(is_app) {
            Some(Role::App)
        } else {
            None
        }
    }
}

/// The tokens of `role`: the one the config or environment gives, else
/// each line of its token file (blank lines skipped; at least one).
fn configured_tokens(
    role: &'static str,
    token: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<Vec<String>>, TokenError> {
    let (setting, file_setting) = match role {
        "app" => (
            "server.app_token or SESSIONTOP_APP_TOKEN",
            "server.app_token_file",
        ),
        _ => (
            "server.admin_token or SESSIONTOP_ADMIN_TOKEN",
            "server.admin_token_file",
        ),
    };
    let (values, from) = match (token, file) {
        (Some(token), _) => (vec![token.to_owned()], setting),
        (None, Some(path)) => {
            let unreadable = |reason| TokenError::Unreadable {
                key: file_setting,
                path: path.display().to_string(),
                reason,
            };
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(path)
                    .map_err(unreadable)?
                    .permissions()
                    .mode()
                    & 0o777
            };
            if mode & 0o022 != 0 {
                return Err(TokenError::Writable {
                    key: file_setting,
                    path: path.display().to_string(),
                    mode,
                });
            }
            let text = std::fs::read_to_string(path).map_err(unreadable)?;
            // One token a line; blank lines and `#` comments are skipped, and
            // so is the byte-order mark some editors write first.
            let lines = (text.trim_start_matches('\u{feff}').lines().map(str::trim))
                .filter(|line| !line.is_empty() && !line.starts_with('#'));
            let mut tokens: Vec<String> = lines.map(str::to_owned).collect();
            if tokens.is_empty() {
                return Err(TokenError::Empty {
                    key: file_setting,
                    path: path.display().to_string(),
                });
            }
            tokens.sort_unstable();
            tokens.dedup();
            (tokens, file_setting)
        }
        (None, None) => return Ok(None),
    };
    let acceptable = |value: &String| {
        value.len() >= MIN_TOKEN_LEN && value.bytes().all(|b| b.is_ascii_graphic())
    };
    if !values.iter().all(acceptable) {
        return Err(TokenError::Weak { role, from });
    }
    Ok(Some(values))
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh token from the OS CSPRNG: 256 bits, base64url, with a prefix that
/// says what it is for.
pub fn generate_token(role: Role) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    let prefix = match role {
        Role::App => "st_app_",
        Role::Admin => "st_admin_",
    };
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::new(
            ErrorCode::Unauthorized,
            "send the API token in the header Authorization: Bearer <token>",
        )
    };
    // Two could disagree, and proxies and frameworks pick different ones.
    if parts.headers.get_all(AUTHORIZATION).iter().nth(1).is_some() {
        return Err(ApiError::new(
            ErrorCode::Unauthorized,
            "send one Authorization header, not several",
        ));
    }
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(missing());
    }
    Ok(token.trim())
}

/// A query parameter name as the application would read it: percent-decoded, lower case.
fn percent_decoded(name: &str) -> String {
    let name = name.replace('+', " ");
    percent_encoding::percent_decode_str(&name)
        .decode_utf8_lossy()
        .to_ascii_lowercase()
}

/// The routes that read a query string (the admin listing's filters);
/// every other /v1 route takes none.
const ROUTES_WITH_QUERIES: &[&str] = &["/v1/admin/sessions"];

/// The query parameter names refused on every route as naming a token
/// (compared percent-decoded and in lower case).
pub(super) const TOKEN_PARAMETERS: &[&str] = &["token", "access_token", "api_token", "auth"];

/// Whether a query string on `path` is refused as such (`bad_query`): on
/// every /v1 route but those that read one. The document says so too.
pub(super) fn refuses_any_query(path: &str) -> bool {
    path.starts_with("/v1/") && !ROUTES_WITH_QUERIES.contains(&path)
}

/// Refuses, on every route, a URL that carries a token, and on the routes
/// that read no query string, any query string: a token in a URL leaks into
/// logs, histories and Referer headers, so a client that puts one there is
/// told so rather than served (OWASP, ASVS 3.1.1). The query is never echoed.
pub async fn refuse_queries_that_may_hold_secrets(request: Request, next: Next) -> Response {
    match check_query(request.uri()) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

fn check_query(uri: &Uri) -> Result<(), ApiError> {
    let Some(query) = uri.query().filter(|query| !query.is_empty()) else {
        return Ok(());
    };
    let names_a_token = query.split('&').any(|pair| {
        let name = percent_decoded(pair.split('=').next().unwrap_or_default());
        TOKEN_PARAMETERS.contains(&name.as_str())
    });
    if names_a_token {
        return Err(ApiError::new(
            ErrorCode::TokenInUrl,
            "tokens never go in a URL; send the API token in the Authorization header and a session token in the JSON body",
        ));
    }
    if refuses_any_query(uri.path()) {
        return Err(ApiError::new(
            ErrorCode::BadQuery,
            "this request takes no query string (not repeated: it could hold a secret); tokens go in the Authorization header or the JSON body",
        ));
    }
    Ok(())
}

/// The role of the caller's token, and the token's SHA-256.
fn role(parts: &Parts, state: &ServerState) -> Result<(Role, [u8; 32]), ApiError> {
    let hash = digest(bearer(parts)?);
    let role = state.tokens.borrow().role_of_digest(&hash);
    role.map(|role| (role, hash))
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "the API token is not valid"))
}

/// Resolves once the admin token whose SHA-256 is `hash` is no longer one
/// (its token file changed): an event stream opened with it then ends, so a
/// token rotated out stops reading sessions at once.
pub async fn until_admin_token_leaves(mut tokens: watch::Receiver<ApiTokens>, hash: [u8; 32]) {
    loop {
        if tokens.changed().await.is_err() {
            // The tokens can no longer change.
            return std::future::pending().await;
        }
        if tokens.borrow_and_update().role_of_digest(&hash) != Some(Role::Admin) {
            return;
        }
    }
}

/// The token files `config` reads (a token given directly wins over its file).
fn token_files(config: &ServerConfig) -> Vec<PathBuf> {
    (config.token_files().into_iter())
        .map(|(_, file)| file.clone())
        .collect()
}

/// What the token files hold now (their SHA-256; `None` for one that cannot
/// be read), to see that one changed: a token rewritten in place with one
/// of the same length, within the same second, is a change too. A `chmod`
/// alone is not: a file others could write is read again only once it is
/// written again, so that what they may have added is not taken on trust.
pub fn token_file_contents(config: &ServerConfig) -> Vec<Option<[u8; 32]>> {
    (token_files(config).iter())
        .map(|file| Some(Sha256::digest(std::fs::read(file).ok()?).into()))
        .collect()
}

/// Reads the token files again whenever what one holds changes (looked at
/// every second), so tokens rotate without a restart. Files that cannot be
/// used (unreadable, empty, a weak token, writable by others) keep the
/// tokens in force, said in the log.
pub async fn follow_token_files(
    tokens: watch::Sender<ApiTokens>,
    config: ServerConfig,
    mut seen: Vec<Option<[u8; 32]>>,
) {
    if token_files(&config).is_empty() {
        return;
    }
    let config = Arc::new(config);
    let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let shared = config.clone();
        let previous = seen.clone();
        let looked = tokio::task::spawn_blocking(move || {
            let now = token_file_contents(&shared);
            let read = (now != previous).then(|| ApiTokens::from_config(&shared));
            (now, read)
        })
        .await;
        let Ok((now, read)) = looked else { continue };
        seen = now;
        match read {
            None => {}
            Some(Ok(fresh)) => {
                let (app, admin) = fresh.counts();
                tokens.send_replace(fresh);
                tracing::info!(
                    "read the API token files again: {app} app and {admin} admin tokens in force"
                );
                for file in token_files(&config) {
                    if let Some(mode) = crate::config::readable_by_all(&file) {
                        tracing::warn!(
                            "{} can be read by every user of this machine (mode {mode:o}); chmod o-r it",
                            file.display()
                        );
                    }
                }
            }
            Some(Err(e)) => tracing::warn!(
                "the API token files changed but cannot be used, so the tokens in force stay: {e}"
            ),
        }
    }
}

/// A caller holding the app token or the admin token.
pub struct AppCaller;

impl FromRequestParts<Arc<ServerState>> for AppCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, ApiError> {
        role(parts, state).map(|_| AppCaller)
    }
}

/// A caller holding the admin token.
/// A caller holding the admin token; the token's SHA-256.
pub struct AdminCaller(pub [u8; 32]);

impl FromRequestParts<Arc<ServerState>> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Self, ApiError> {
        match role(parts, state)? {
            (Role::Admin, hash) => Ok(AdminCaller(hash)),
            (Role::App, _) => Err(ApiError::new(
                ErrorCode::Forbidden,
                "this endpoint needs the admin token; the app token cannot use it",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_are_compared_decoded_and_in_lower_case() {
        assert_eq!(percent_decoded("Token"), "token");
        assert_eq!(percent_decoded("%74oken"), "token");
        assert_eq!(percent_decoded("access%5Ftoken"), "access_token");
        assert_eq!(percent_decoded("bad%zz"), "bad%zz");
    }

    fn config(app: &str, admin: &str) -> ServerConfig {
        ServerConfig {
            app_token: Some(app.into()),
            admin_token: Some(admin.into()),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn each_token_grants_its_role_and_nothing_else_grants_any() {
        let tokens =
            ApiTokens::from_config(&config("app-token-0123456789", "admin-token-0123456789"))
                .unwrap();
        assert_eq!(tokens.role_of("app-token-0123456789"), Some(Role::App));
        assert_eq!(tokens.role_of("admin-token-0123456789"), Some(Role::Admin));
        assert_eq!(tokens.role_of("app-token-012345678"), None);
        assert_eq!(tokens.role_of(""), None);
    }

    #[test]
    fn short_or_equal_tokens_are_refused_without_showing_them() {
        let err = ApiTokens::from_config(&config("short", "admin-token-0123456789"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("app token"), "{err}");
        assert!(!err.contains("short"), "{err}");
        assert!(matches!(
            ApiTokens::from_config(&config("same-token-0123456789", "same-token-0123456789")),
            Err(TokenError::Same)
        ));
    }

    #[test]
    fn a_token_file_gives_every_token_on_its_lines_and_refuses_a_bad_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin");
        let with_file = |text: &str| {
            std::fs::write(&file, text).unwrap();
            ApiTokens::from_config(&ServerConfig {
                app_token: Some("app-token-0123456789".into()),
                admin_token_file: Some(file.clone()),
                ..ServerConfig::default()
            })
        };
        let tokens =
            with_file("# two, for a rotation\r\nadmin-one-0123456789\r\n\n  admin-two-0123456789  \nadmin-one-0123456789\n")
                .unwrap();
        assert_eq!(tokens.counts(), (1, 2), "the repeated one counts once");
        for admin in ["admin-one-0123456789", "admin-two-0123456789"] {
            assert_eq!(tokens.role_of(admin), Some(Role::Admin), "{admin}");
        }
        assert_eq!(tokens.role_of("app-token-0123456789"), Some(Role::App));
        assert_eq!(tokens.role_of("# two, for a rotation"), None);
        // One weak line spoils the file, and so does the app token in it.
        assert!(matches!(
            with_file("admin-one-0123456789\nshort\n"),
            Err(TokenError::Weak { .. })
        ));
        assert!(matches!(
            with_file("\n# nothing\n"),
            Err(TokenError::Empty { .. })
        ));
        let tokens = with_file("\u{feff}admin-one-0123456789\n").unwrap();
        assert_eq!(
            tokens.role_of("admin-one-0123456789"),
            Some(Role::Admin),
            "a byte-order mark is no part of the token"
        );
        assert!(matches!(
            with_file("admin-one-0123456789\napp-token-0123456789\n"),
            Err(TokenError::Same)
        ));
    }

    #[test]
    fn generated_tokens_are_long_and_distinct() {
        let a = generate_token(Role::App);
        let b = generate_token(Role::App);
        assert_ne!(a, b);
        assert!(a.len() >= 43 + "st_app_".len());
    }
}
