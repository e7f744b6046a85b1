//! Request and response bodies of the app and admin routes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorCode};
use super::pattern;
use super::read::{Field, Kind, RequestBody, query_pairs};
use super::session::{Event, SessionView};

/// A login: who, with what attributes, and optionally timeouts of its own.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name: 1 to 256 bytes of UTF-8 (bytes, not characters: a name
    /// of 256 characters is too long if some take more than one byte), not
    /// only white space.
    #[schema(example = "alice", min_length = 1, max_length = 256)]
    pub user: String,
    /// Free-form facts about the login, such as `ip` and `user_agent`: at most
    /// 32, each name 1 to 64 bytes and each value at most 1,024 bytes of UTF-8.
    /// The whole body must also fit the server's `body_limit` (16,384 bytes
    /// unless configured; a larger body gets 413), which 32 values of 1,024
    /// bytes do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// This session's idle timeout, such as "90s", "15m" or "1h 30m", within the
    /// server's bounds (`min_timeout` and `max_idle_timeout` in the stats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "15m")]
    pub idle_timeout: Option<String>,
    /// This session's absolute timeout, such as "8h", within the server's
    /// bounds (`min_timeout` and `max_absolute_timeout` in the stats).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "8h")]
    pub absolute_timeout: Option<String>,
    /// This login's own limit on the user's live sessions, 1 up to the
    /// server's `max_sessions_per_user` (or 1,000,000 when it sets none). A
    /// login over it evicts the user's oldest session or is refused with
    /// 409 `session_limit`, as the server's `on_limit` says.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::read::saturating_count"
    )]
    #[schema(example = 3, minimum = 1)]
    pub max_sessions_per_user: Option<u32>,
}

impl RequestBody for LoginRequest {
    const FIELDS: &'static [Field] = &[
        Field::required("user", Kind::String),
        Field::optional("attributes", Kind::StringMap),
        Field::optional("idle_timeout", Kind::String),
        Field::optional("absolute_timeout", Kind::String),
        Field::optional("max_sessions_per_user", Kind::Count),
    ];
}

impl LoginRequest {
    pub fn user(user: impl Into<String>) -> Self {
        LoginRequest {
            user: user.into(),
            attributes: None,
            idle_timeout: None,
            absolute_timeout: None,
            max_sessions_per_user: None,
        }
    }
}

/// A session token, as login or renew gave it.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

/// A token is never printed, not even by `{:?}` (as `engine::Token` is not).
const HIDDEN: &str = "<redacted>";

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("token", &HIDDEN)
            .finish()
    }
}

impl RequestBody for TokenRequest {
    const FIELDS: &'static [Field] = &[Field::required("token", Kind::String)];
}

/// A new token and the session it opens. The only place a token appears.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub session: SessionView,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("token", &HIDDEN)
            .field("session", &self.session)
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub session: SessionView,
}

/// The query of the session listing.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this user's sessions: a user name as a login gives it, 1 to 256
    /// bytes of UTF-8 (percent-encoded), not only white space.
    pub user: Option<String>,
    /// Sessions per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page, passed back unchanged. Opaque: its
    /// form may change between versions.
    pub cursor: Option<String>,
}

/// Sessions per listing page when the query does not say.
pub const DEFAULT_LIMIT: usize = 100;
/// The most sessions one listing page may hold.
pub const MAX_LIMIT: usize = 10_000;

impl ListParams {
    /// Reads the listing's query string, refusing in our words.
    pub fn parse(query: Option<&str>) -> Result<ListParams, ApiError> {
        let mut params = ListParams::default();
        for (name, value) in query_pairs(query.unwrap_or(""), &["user", "limit", "cursor"])? {
            match name {
                "user" => {
                    // The rule a login's user meets, so a name no session can
                    // have is refused rather than listed as nobody's.
                    crate::engine::validate_user(&value)?;
                    params.user = Some(value);
                }
                "limit" => {
                    let limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| {
                            ApiError::new(
                                ErrorCode::BadQuery,
                                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                            )
                        })?;
                    params.limit = Some(limit);
                }
                _ if !pattern::fits(pattern::CURSOR, &value) => {
                    return Err(ApiError::new(
                        ErrorCode::BadCursor,
                        "cursor must be the next_cursor of a previous page",
                    ));
                }
                _ => params.cursor = Some(value),
            }
        }
        Ok(params)
    }
}

/// One page of active sessions, soonest deadline first (by idle deadline; on a Redis store, by
/// when each will end).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<SessionView>,
    /// Pass as `cursor` to get the next page; null on the last page. Opaque.
    pub next_cursor: Option<String>,
}

/// A session and the events of it the server's history still holds.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionDetail {
    pub session: SessionView,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedCount {
    pub revoked: usize,
}

/// One of the user's sessions, and whether it is the one that asked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MySession {
    #[serde(flatten)]
    pub session: SessionView,
    /// True on exactly one session: the caller's own.
    pub current: bool,
}

/// The answer of `POST /v1/sessions/mine`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MySessions {
    /// The user's live sessions, oldest first.
    pub sessions: Vec<MySession>,
}

/// The caller's token and the handle of one of the same user's sessions.
#[derive(Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeMineRequest {
    pub token: String,
    /// The session to end: 16 hex digits.
    #[schema(example = "9f2c4e1a7b3d5c60", pattern = "^[0-9a-fA-F]{16}$")]
    pub handle: String,
}

impl std::fmt::Debug for RevokeMineRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevokeMineRequest")
            .field("token", &HIDDEN)
            .field("handle", &self.handle)
            .finish()
    }
}

impl RequestBody for RevokeMineRequest {
    const FIELDS: &'static [Field] = &[
        Field::required("token", Kind::String),
        Field::required("handle", Kind::String),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_in_a_body_is_never_printed_by_debug() {
        let secret = "tok_S3cretS3cretS3cret".to_owned();
        let request = TokenRequest {
            token: secret.clone(),
        };
        let mine = RevokeMineRequest {
            token: secret.clone(),
            handle: "9f2c4e1a7b3d5c60".into(),
        };
        for shown in [format!("{request:?}"), format!("{mine:#?}")] {
            assert!(
                !shown.contains("S3cret") && shown.contains("<redacted>"),
                "{shown}"
            );
        }
        assert!(format!("{mine:?}").contains("9f2c4e1a7b3d5c60"));
    }
}
