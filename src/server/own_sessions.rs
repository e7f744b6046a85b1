//! A user's own sessions: the routes behind a web app's "where you're logged
//! in" page, with the app token (OWASP ASVS 7.5.2, 7.4.3).
//!
//! Every call acts through the caller's own session token, in the body like
//! touch: never through a handle alone. A handle of another user's session
//! answers exactly like an unknown one, so these routes tell a caller
//! nothing about other users. The engine's per-user index makes each call
//! cost the user's sessions, not all sessions.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::{Deserialize, Serialize};

use super::ServerState;
use super::admin_api::RevokedCount;
use super::app_api::TokenRequest;
use super::auth::AppCaller;
use super::error::{ApiError, AppAuthFailures, BodyFailures, ErrorBody, JsonBody};
use crate::engine::{Handle, SessionView};

/// One of the user's sessions, and whether it is the one that asked.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MySession {
    #[serde(flatten)]
    pub session: SessionView,
    /// True on exactly one session: the caller's own.
    pub current: bool,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MySessions {
    /// The user's live sessions, oldest first.
    pub sessions: Vec<MySession>,
}

/// The caller's token and the handle of one of the same user's sessions.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeMineRequest {
    pub token: String,
    #[schema(value_type = String, example = "9f2c4e1a7b3d5c60", pattern = "^[0-9a-fA-F]{16}$")]
    pub handle: Handle,
}

/// The live sessions of the token's user, with `current: true` on the caller's.
#[utoipa::path(
    post,
    path = "/v1/sessions/mine",
    tag = "app",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user's live sessions, oldest first", body = MySessions),
        (status = 404, description = "The token names no active session", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn mine(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Json<MySessions>, ApiError> {
    let mine = state.engine.mine(&request.token)?;
    let sessions = mine
        .sessions
        .into_iter()
        .map(|session| MySession {
            current: session.handle == mine.current,
            session,
        })
        .collect();
    Ok(Json(MySessions { sessions }))
}

/// End one of the user's own sessions (for example "log out that phone").
#[utoipa::path(
    post,
    path = "/v1/sessions/revoke",
    tag = "app",
    request_body = RevokeMineRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has ended (a `revoked` event whose actor is `session <caller's handle>`)"),
        (status = 404, description = "The token names no active session, or the handle names no active session of the same user", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn revoke(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<RevokeMineRequest>,
) -> Result<StatusCode, ApiError> {
    state.engine.revoke_mine(&request.token, request.handle)?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every other session of the user, keeping the caller's (for example after a password change).
#[utoipa::path(
    post,
    path = "/v1/sessions/revoke-others",
    tag = "app",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions ended", body = RevokedCount),
        (status = 404, description = "The token names no active session", body = ErrorBody),
        BodyFailures, AppAuthFailures,
    )
)]
pub async fn revoke_others(
    _: AppCaller,
    State(state): State<Arc<ServerState>>,
    JsonBody(request): JsonBody<TokenRequest>,
) -> Result<Json<RevokedCount>, ApiError> {
    let revoked = state.engine.revoke_others(&request.token)?;
    Ok(Json(RevokedCount { revoked }))
}
