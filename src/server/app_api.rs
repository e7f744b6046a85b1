//! The app routes: what a web application calls to use sessiontop as its
//! session store. Login, touch, renew, logout; nothing else.
//!
//! Tokens travel only in JSON bodies, and a token is answered only by login
//! and renew. These handlers hold no session rules: they map HTTP to engine
//! calls and engine errors to statuses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::{Deserialize, Serialize};

use super::ServerState;
use super::auth::AppCaller;
use super::error::{ApiError, AppAuthFailures, BodyFailures, ErrorBody, JsonBody};
use crate::config::parse_duration;
use crate::engine::{Login, SessionView};

/// A login: who, with what attributes, and optionally timeouts of its own.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name, 1 to 256 bytes.
    #[schema(example = "alice", min_length = 1, max_length = 256)]
    pub user: String,
    /// Free-form facts about the login, such as `ip` and `user_agent`.
    #[serde(default)]
    pub attributes: Option<BTreeMap<String, String>>,
    /// This session's idle timeout, such as "90s" or "15m", within the server's bounds.
    #[serde(default)]
    #[schema(example = "15m")]
    pub idle_timeout: Option<String>,
    /// This session's absolute timeout, such as "8h", within the server's bounds.
    #[serde(default)]
    #[schema(example = "8h")]
    pub absolute_timeout: Option<String>,
    /// This login's own limit on the user's live sessions, at most the
    /// server's `max_sessions_per_user`. A login over it evicts the user's
    /// oldest session, or is refused with 409 `session_limit`, as the
    /// server's `on_limit` says.
    #[serde(default)]
    #[schema(example = 3, minimum = 1)]
    pub max_sessions_per_user: Option<u32>,
}

/// A session token, as login or renew gave it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
}

/// A new token and the session it opens. The only place a token appears.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub token: String,
    pub session: SessionView,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub session: SessionView,
}

fn request_duration(field: &str, value: Option<&str>) -> Result<Option<Duration>, ApiError> {
    value
        .map(|text| {
            parse_duration(text).map_err(|message| {
                ApiError::unprocessable("invalid_duration", format!("{field}: {message}"))
            })
        })
        .transpose()
}

/// Start a session.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "app",
    request_body = LoginRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The session and its token (shown only here). If the user held `max_sessions_per_user` sessions and `on_limit` is `evict_oldest`, the oldest has ended first (a `revoked` event with reason `evicted`).", body = TokenResponse),
        (status = 409, description = "`session_limit`: the user holds the most sessions allowed and `on_limit` is `refuse`; nothing changed", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn login(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let login = Login {
        user: request.user,
        attributes: request.attributes,
        idle_timeout: request_duration("idle_timeout", request.idle_timeout.as_deref())?,
        absolute_timeout: request_duration(
            "absolute_timeout",
            request.absolute_timeout.as_deref(),
        )?,
        max_sessions_per_user: request.max_sessions_per_user,
    };
    let (token, session) = state.engine.login(login)?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token: token.expose().to_owned(),
            session,
        }),
    ))
}

/// Record activity: the session's idle deadline moves to now + its idle timeout.
#[utoipa::path(
    post,
    path = "/v1/sessions/touch",
    tag = "app",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session after the touch", body = SessionResponse),
        (status = 404, description = "The token names no active session (it has ended)", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn touch(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Json<SessionResponse>, ApiError> {
    let session = state.engine.touch(&request.token)?;
    Ok(Json(SessionResponse { session }))
}

/// Replace the session's token: same handle, new secret; the old token stops working.
#[utoipa::path(
    post,
    path = "/v1/sessions/renew",
    tag = "app",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new token and the session", body = TokenResponse),
        (status = 404, description = "The token names no active session", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn renew(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let (token, session) = state.engine.renew(&request.token)?;
    Ok(Json(TokenResponse {
        token: token.expose().to_owned(),
        session,
    }))
}

/// End the session at the user's request.
#[utoipa::path(
    post,
    path = "/v1/sessions/logout",
    tag = "app",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 404, description = "The token names no active session", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn logout(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<StatusCode, ApiError> {
    state.engine.logout(&request.token)?;
    Ok(StatusCode::NO_CONTENT)
}
