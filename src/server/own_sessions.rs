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

use super::ServerState;
use super::auth::AppCaller;
use super::error::{AppAuthFailures, BodyFailures, JsonBody};
use crate::api::{
    ApiError, ErrorBody, MySession, MySessions, RevokeMineRequest, RevokedCount, TokenRequest,
};

/// The live sessions of the token's user, with `current: true` on the caller's.
/// As every request that shows a token, it touches the caller's session.
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
    let mine = state.store.mine(&request.token).await?;
    let sessions = mine
        .sessions
        .into_iter()
        .map(|session| MySession {
            current: session.handle == mine.current,
            session: session.into(),
        })
        .collect();
    Ok(Json(MySessions { sessions }))
}

/// End one of the user's own sessions (for example "log out that phone"); the
/// caller's session is touched, unless it is the one ended.
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
    let handle = super::error::parse_handle(&request.handle)?;
    state.store.revoke_mine(&request.token, handle).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every other session of the user, keeping the caller's (for example after a
/// password change), which is touched.
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
    let revoked = state.store.revoke_others(&request.token).await?;
    Ok(Json(RevokedCount { revoked }))
}
