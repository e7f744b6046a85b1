//! The admin routes: list, inspect, touch and revoke sessions by handle, and
//! the engine's figures. Operators and dashboards use them; the app token
//! cannot.
//!
//! Sessions are named here by handle only. Nothing on these routes takes or
//! returns a token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use serde::{Deserialize, Serialize};

use super::ServerState;
use super::app_api::SessionResponse;
use super::auth::AdminCaller;
use super::error::{AdminAuthFailures, ApiError, ErrorBody, PathParam, QueryParams};
use crate::engine::session::format_rfc3339;
use crate::engine::{Cursor, Event, Handle, ListQuery, MAX_USER_LEN, SessionView, Totals};

/// Who the engine records as the actor of an admin touch or revoke.
const ACTOR: &str = "admin";
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this user's sessions.
    pub user: Option<String>,
    /// Sessions per page, 1 to 10000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of active sessions, soonest idle deadline first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionPage {
    pub sessions: Vec<SessionView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A session and the events of it the server's history still holds.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionDetail {
    pub session: SessionView,
    pub events: Vec<Event>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RevokedCount {
    pub revoked: usize,
}

/// The policy every session lives under. Durations are humantime strings.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyView {
    #[schema(example = "15m")]
    pub idle_timeout: String,
    #[schema(example = "8h")]
    pub absolute_timeout: String,
    /// Daily closing time, "HH:MM" in `time_zone`, if set.
    pub closing_time: Option<String>,
    /// The IANA time zone the closing time is read in.
    #[schema(example = "Europe/Berlin")]
    pub time_zone: String,
    /// Bounds a login's own timeouts must lie within.
    pub min_timeout: String,
    pub max_idle_timeout: String,
    pub max_absolute_timeout: String,
    pub touch_event_interval: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatsResponse {
    pub active: u64,
    pub peak: u64,
    /// Counters since the server started, with ended sessions by reason.
    pub totals: Totals,
    pub policy: PolicyView,
    /// The server's clock, RFC 3339 UTC with milliseconds.
    pub server_time: String,
    /// When the closing time next ends every session, if one is set.
    pub next_closing: Option<String>,
    pub version: String,
    /// Random per server run; the prefix of event stream ids.
    pub instance: String,
    /// Sequence number of the newest event.
    pub last_seq: u64,
}

fn parse_handle(text: &str) -> Result<Handle, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "bad_handle",
            "a session handle is 16 hexadecimal characters",
        )
    })
}

/// Active sessions in idle-deadline order, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/admin/sessions",
    tag = "admin",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of sessions", body = SessionPage),
        (status = 400, description = "Bad limit, cursor or query", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn list_sessions(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<SessionPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_query",
            format!("limit must be from 1 to {MAX_LIMIT}"),
        ));
    }
    let cursor = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => Some(text.parse::<Cursor>().map_err(|()| {
            ApiError::bad_request(
                "bad_cursor",
                "cursor must be the next_cursor of a previous page",
            )
        })?),
    };
    let page = state.engine.list(&ListQuery {
        user: params.user.filter(|u| !u.is_empty()),
        limit,
        cursor,
    });
    Ok(Json(SessionPage {
        sessions: page.sessions,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
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
) -> Result<Json<SessionDetail>, ApiError> {
    let handle = parse_handle(&handle)?;
    let (session, events) = state
        .engine
        .get(handle)
        .ok_or(crate::engine::EngineError::NoSuchSession(handle))?;
    Ok(Json(SessionDetail { session, events }))
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
) -> Result<Json<SessionResponse>, ApiError> {
    let session = state.engine.touch_handle(parse_handle(&handle)?, ACTOR)?;
    Ok(Json(SessionResponse { session }))
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
) -> Result<StatusCode, ApiError> {
    let handle = parse_handle(&handle)?;
    state.engine.revoke(handle, ACTOR)?;
    tracing::info!(%handle, "session revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every session of one user.
#[utoipa::path(
    delete,
    path = "/v1/admin/users/{user}/sessions",
    tag = "admin",
    params(("user" = String, Path, description = "The user name (percent-encoded)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many sessions were revoked (0 if the user had none)", body = RevokedCount),
        (status = 422, description = "The user name is longer than 256 bytes", body = ErrorBody),
        AdminAuthFailures,
    )
)]
pub async fn revoke_user(
    _: AdminCaller,
    State(state): State<Arc<ServerState>>,
    PathParam(user): PathParam<String>,
) -> Result<Json<RevokedCount>, ApiError> {
    if user.len() > MAX_USER_LEN {
        return Err(ApiError::unprocessable(
            "invalid_user",
            format!("a user name is at most {MAX_USER_LEN} bytes"),
        ));
    }
    let revoked = state.engine.revoke_user(&user, ACTOR);
    tracing::info!(user = %user.escape_debug(), revoked, "user's sessions revoked");
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
pub async fn stats(_: AdminCaller, State(state): State<Arc<ServerState>>) -> Json<StatsResponse> {
    let engine = &state.engine;
    let stats = engine.stats();
    let policy = engine.policy();
    let show = |d| humantime::format_duration(d).to_string();
    Json(StatsResponse {
        active: stats.active,
        peak: stats.peak,
        totals: stats.totals,
        policy: PolicyView {
            idle_timeout: show(policy.idle_timeout),
            absolute_timeout: show(policy.absolute_timeout),
            closing_time: policy.closing_time.map(|c| c.to_string()),
            time_zone: policy.time_zone.name().to_owned(),
            min_timeout: show(policy.idle_bounds.min),
            max_idle_timeout: show(policy.idle_bounds.max),
            max_absolute_timeout: show(policy.absolute_bounds.max),
            touch_event_interval: show(policy.touch_event_interval),
        },
        server_time: format_rfc3339(engine.now()),
        next_closing: engine.next_closing().map(format_rfc3339),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        instance: engine.instance().to_owned(),
        last_seq: stats.last_seq,
    })
}
