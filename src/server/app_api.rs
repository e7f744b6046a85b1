//! The app routes: what a web application calls to use sessiontop as its
//! session store. Login, touch, renew, logout; nothing else.
//!
//! Tokens travel only in JSON bodies, and a token is answered only by login
//! and renew. These handlers hold no session rules: they map HTTP to engine
//! calls and engine errors to statuses.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;

use super::ServerState;
use super::auth::AppCaller;
use super::error::{AppAuthFailures, BodyFailures, JsonBody};
use crate::api::read;
use crate::api::{ApiError, ErrorBody, LoginRequest, SessionResponse, TokenRequest, TokenResponse};
use crate::engine::{EngineError, Login};
use crate::store::StoreError;

/// A timeout the login gives, read: the text as sent, and the duration.
fn request_duration<'a>(
    field: &'static str,
    text: Option<&'a str>,
) -> Result<Option<(&'a str, Duration)>, ApiError> {
    text.map(|text| Ok((text, read::duration(field, text)?)))
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
    if let Some(attributes) = &request.attributes {
        read::attributes(attributes)?;
    }
    let idle = request_duration("idle_timeout", request.idle_timeout.as_deref())?;
    let absolute = request_duration("absolute_timeout", request.absolute_timeout.as_deref())?;
    let login = Login {
        user: request.user,
        attributes: request.attributes,
        idle_timeout: idle.map(|(_, d)| d),
        absolute_timeout: absolute.map(|(_, d)| d),
        max_sessions_per_user: request.max_sessions_per_user,
    };
    let (token, session) = state.store.login(login).await.map_err(|e| {
        // Said again with what was sent, in our words.
        if let StoreError::Engine(EngineError::TimeoutOutOfBounds { field, .. }) = &e {
            let policy = state.store.policy();
            let (asked, bounds) = if *field == "idle_timeout" {
                (idle, policy.idle_bounds)
            } else {
                (absolute, policy.absolute_bounds)
            };
            if let Some((sent, asked)) = asked {
                return read::out_of_bounds(field, sent, asked, bounds);
            }
        }
        e.into()
    })?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token: token.expose().to_owned(),
            session: session.into(),
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
    let session = state.store.touch(&request.token).await?;
    Ok(Json(SessionResponse {
        session: session.into(),
    }))
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
    let (token, session) = state.store.renew(&request.token).await?;
    Ok(Json(TokenResponse {
        token: token.expose().to_owned(),
        session: session.into(),
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
    state.store.logout(&request.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
