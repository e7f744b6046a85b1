//! The admin routes: list, inspect, touch and revoke sessions by handle, and
//! the engine's figures. Operators and dashboards use them; the app token
//! cannot.
//!
//! Sessions are named here by handle only. Nothing on these routes takes or
//! returns a token.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Json;

use super::ServerState;
use super::auth::AdminCaller;
use super::error::{AdminAuthFailures, NoBody, PathParam, parse_handle};
use crate::api::body::DEFAULT_LIMIT;
use crate::api::{
    ApiError, ErrorBody, ListParams, PolicyView, RevokedCount, SessionDetail, SessionPage,
    SessionResponse, StatsResponse,
};
use crate::engine::EngineError;
use crate::store::StoreQuery;

/// Who the engine records as the actor of an admin touch or revoke.
const ACTOR: &str = "admin";

/// Active sessions, soonest deadline first, one page at a time.
///
/// Ordered by idle deadline; on a Redis store, by when each will end
/// (its idle deadline unless its absolute limit or the closing time comes sooner).
#[utoipa::path(
    get,
    path = "/v1/admin/sessions",
    tag = "admin",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of sessions", body = SessionPage),
        (status = 400, description = "A query parameter this operation does not take, given twice, or not UTF-8 once percent-decoded, or a limit out of bounds (`bad_query`); a cursor this server did not hand out (`bad_cursor`)", body = ErrorBody),
        (status = 422, description = "The user name is empty, only white space, or longer than 256 bytes", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn list_sessions(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    RawQuery(query): RawQuery,
    _: NoBody,
) -> Result<Json<SessionPage>, ApiError> {
    let params = ListParams::parse(query.as_deref())?;
    let page = state
        .store
        .list(StoreQuery {
            user: params.user.filter(|u| !u.is_empty()),
            limit: params.limit.unwrap_or(DEFAULT_LIMIT),
            cursor: params.cursor.filter(|c| !c.is_empty()),
        })
        .await?;
    Ok(Json(SessionPage {
        sessions: page.sessions.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One active session and its recent events.
#[utoipa::path(
    get,
    path = "/v1/admin/sessions/{handle}",
    tag = "admin",
    params(("handle" = String, Path, description = "The session's handle, 16 hex characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session and its events", body = SessionDetail),
        (status = 400, description = "Malformed handle", body = ErrorBody),
        (status = 404, description = "No active session has this handle", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn get_session(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    PathParam(handle): PathParam<String>,
    _: NoBody,
) -> Result<Json<SessionDetail>, ApiError> {
    let handle = parse_handle(&handle)?;
    let (session, events) = state
        .store
        .get(handle)
        .await?
        .ok_or(EngineError::NoSuchSession(handle))?;
    Ok(Json(SessionDetail {
        session: session.into(),
        events: events.into_iter().map(Into::into).collect(),
    }))
}

/// Simulated activity on a session, as if its user had made a request.
#[utoipa::path(
    post,
    path = "/v1/admin/sessions/{handle}/touch",
    tag = "admin",
    params(("handle" = String, Path, description = "The session's handle, 16 hex characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The session after the touch", body = SessionResponse),
        (status = 400, description = "Malformed handle", body = ErrorBody),
        (status = 404, description = "No active session has this handle", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn touch_session(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    PathParam(handle): PathParam<String>,
    _: NoBody,
) -> Result<Json<SessionResponse>, ApiError> {
    let session = state
        .store
        .touch_handle(parse_handle(&handle)?, ACTOR)
        .await?;
    Ok(Json(SessionResponse {
        session: session.into(),
    }))
}

/// Revoke one session.
#[utoipa::path(
    delete,
    path = "/v1/admin/sessions/{handle}",
    tag = "admin",
    params(("handle" = String, Path, description = "The session's handle, 16 hex characters")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The session has been revoked"),
        (status = 400, description = "Malformed handle", body = ErrorBody),
        (status = 404, description = "No active session has this handle", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn revoke_session(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    PathParam(handle): PathParam<String>,
    _: NoBody,
) -> Result<StatusCode, ApiError> {
    let handle = parse_handle(&handle)?;
    state.store.revoke(handle, ACTOR).await?;
    tracing::info!(%handle, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every session of one user.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{user}/sessions",
    tag = "admin",
    params(("user" = String, Path, description = "The user name, percent-encoded UTF-8: 1 to 256 bytes, not only white space")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions were revoked (0 if the user had none)", body = RevokedCount),
        (status = 400, description = "The user name in the path is not UTF-8 once percent-decoded (such as `%FF`)", body = ErrorBody),
        (status = 422, description = "The user name is empty, only white space, or longer than 256 bytes", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn revoke_user(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    PathParam(user): PathParam<String>,
    _: NoBody,
) -> Result<Json<RevokedCount>, ApiError> {
    // The answer a login with the same user gets.
    crate::engine::validate_user(&user)?;
    let revoked = state.store.revoke_user(&user, ACTOR).await?;
    if revoked > 0 {
        tracing::info!(user = %user.escape_debug(), revoked, "user's sessions revoked");
    } else {
        // A name no session has may be a secret pasted in the wrong place.
        tracing::info!("a revoke of a user's sessions found none (the name is not logged)");
    }
    Ok(Json(RevokedCount { revoked }))
}

/// Active and peak sessions, counters, the policy and the server's clock.
#[utoipa::path(
    get,
    path = "/v1/admin/stats",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The figures", body = StatsResponse),
        AdminAuthFailures,
    )
)]
pub async fn stats(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    _: NoBody,
) -> Result<Json<StatsResponse>, ApiError> {
    let store = &state.store;
    let stats = store.stats().await?;
    let policy = store.policy();
    Ok(Json(StatsResponse {
        active: stats.active,
        peak: stats.peak,
        totals: stats.totals.into(),
        policy: PolicyView::from(&policy),
        server_time: store.now(),
        next_closing: store.next_closing(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance: store.instance(),
        last_seq: stats.last_seq,
        store: store.kind().to_string(),
        node: store.node().to_owned(),
    }))
}
