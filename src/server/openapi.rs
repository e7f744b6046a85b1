//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the routes that need no token: `/openapi.json`, `/healthz` and `/readyz`.
//!
//! Routes are registered through `utoipa_axum::routes!`, so the router and
//! the document come from the same list and cannot drift apart. What the
//! derives cannot say (patterns shared with the server's own checks, the
//! limits on attributes, links between operations) `refine` adds.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::ServerState;
use super::auth::{TOKEN_PARAMETERS, refuses_any_query};
use crate::api::{ApiError, pattern};
use crate::engine::{MAX_ATTRIBUTE_KEY_LEN, MAX_ATTRIBUTE_VALUE_LEN, MAX_ATTRIBUTES, MAX_USER_LEN};

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "sessiontop session server",
        description = "A session store with live expiry. The app token logs users in, touches, renews and logs out; \
the admin token can do all of that and also use /v1/admin and /metrics. Send the token as `Authorization: Bearer <token>`. \
Session tokens travel only in JSON bodies. Errors are `{error, message}`.",
    ),
    modifiers(&BearerScheme),
    components(schemas(crate::api::Resync, crate::api::ResyncReason, crate::api::ErrorCode)),
    tags(
        (name = "app", description = "Session store calls: app or admin token"),
        (name = "admin", description = "Operator calls: admin token only"),
        (name = "public", description = "No token needed"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        // utoipa copies the crate's license, which Cargo.toml leaves empty; an
        // empty license name is not valid OpenAPI.
        openapi.info.license = None;
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The app or admin API token (printed at startup when none is configured)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: answers while the server runs.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "public",
    responses((status = 200, description = "The server is up", body = Health))
)]
pub async fn healthz(_: super::error::NoBody) -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// Readiness: 200 while the session store can be reached and written, 503
/// `store_unavailable` otherwise, so a load balancer sends requests only to
/// nodes that can serve them. `/healthz` answers while the process runs.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "public",
    responses((status = 200, description = "The session store can be reached and written", body = Health))
)]
pub async fn readyz(
    State(state): State<Arc<ServerState>>,
    _: super::error::NoBody,
) -> Result<Json<Health>, ApiError> {
    state.store.ready().await?;
    Ok(Json(Health {
        status: "ok".to_owned(),
    }))
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "public",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub async fn document(State(state): State<Arc<ServerState>>, _: super::error::NoBody) -> Response {
    let body = state.openapi.get().cloned().unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// Adds to the generated document what the derives cannot say.
///
/// - The patterns of `api::pattern`, which the server checks with the same
///   strings: handles, durations, cursors, a user name that is not blank.
/// - The limits on attributes. JSON Schema counts characters, the server
///   bytes of UTF-8; the descriptions say so, and the lengths given here are
///   the byte limits (so a name of many multi-byte characters can fit the
///   schema and still be refused with 422, as documented).
/// - Links, so that tools (and readers) can chain a login's token into
///   touch, renew and logout, and a handle into the admin calls.
/// - The connection layer's 408, 413 and 503, which no handler declares.
/// - The 400s of the query check (`auth::check_query`) and the router's
///   405, which come before any handler.
pub fn refine(doc: &mut Value) {
    let user = json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_USER_LEN,
        "pattern": pattern::NOT_BLANK,
    });
    if let Some(login) = doc.pointer_mut("/components/schemas/LoginRequest/properties") {
        for (key, value) in user.as_object().into_iter().flatten() {
            login["user"][key] = value.clone();
        }
        for field in ["idle_timeout", "absolute_timeout"] {
            login[field]["pattern"] = json!(pattern::DURATION);
        }
        let described = login["attributes"]["description"].take();
        login["attributes"] = json!({
            "type": ["object", "null"],
            "description": described,
            "maxProperties": MAX_ATTRIBUTES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_ATTRIBUTE_KEY_LEN},
            "additionalProperties": {"type": "string", "maxLength": MAX_ATTRIBUTE_VALUE_LEN},
        });
    }
    let handle = json!({"type": "string", "pattern": pattern::HANDLE});
    let cursor = json!({"type": ["string", "null"], "pattern": pattern::CURSOR});
    for_each_operation(doc, |_, _, operation| {
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            return;
        };
        for parameter in parameters {
            match (parameter["in"].as_str(), parameter["name"].as_str()) {
                (Some("path"), Some("handle")) => parameter["schema"] = handle.clone(),
                (Some("path" | "query"), Some("user")) => parameter["schema"] = user.clone(),
                (Some("query"), Some("cursor")) => parameter["schema"] = cursor.clone(),
                _ => {}
            }
        }
    });

    add_connection_answers(doc);
    add_router_answers(doc);

    let token = json!({"token": "$response.body#/token"});
    let by_token = |what: &str| {
        json!({
            "touch": {"operationId": "touch", "requestBody": token, "description": format!("Touch the session {what}")},
            "renew": {"operationId": "renew", "requestBody": token, "description": format!("Renew the session {what}")},
            "logout": {"operationId": "logout", "requestBody": token, "description": format!("Log out of the session {what}")},
        })
    };
    let by_handle = |from: &str| {
        let handle = format!("$response.body#/{from}/handle");
        json!({
            "get_session": {"operationId": "get_session", "parameters": {"handle": handle}, "description": "Inspect this session (admin)"},
            "touch_session": {"operationId": "touch_session", "parameters": {"handle": handle}, "description": "Touch this session by handle (admin)"},
            "revoke_session": {"operationId": "revoke_session", "parameters": {"handle": handle}, "description": "Revoke this session (admin)"},
        })
    };
    let mut links = [
        ("/v1/sessions", "post", "201", by_token("this login opened")),
        (
            "/v1/sessions/renew",
            "post",
            "200",
            by_token("with its new token"),
        ),
        ("/v1/sessions", "post", "201", by_handle("session")),
        ("/v1/sessions/touch", "post", "200", by_handle("session")),
        (
            "/v1/admin/sessions/{handle}",
            "get",
            "200",
            by_handle("session"),
        ),
        (
            "/v1/admin/sessions/{handle}/touch",
            "post",
            "200",
            by_handle("session"),
        ),
    ];
    links[2].3["revoke_user"] = json!({
        "operationId": "revoke_user",
        "parameters": {"user": "$response.body#/session/user"},
        "description": "Revoke every session of this user (admin)",
    });
    for (path, method, status, more) in links {
        // `pointer_mut`, not indexing: indexing a missing key would add it.
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('/', "~1")
        );
        let Some(response) = doc.pointer_mut(&pointer) else {
            continue;
        };
        let entry = &mut response["links"];
        if entry.is_null() {
            *entry = json!({});
        }
        for (name, link) in more.as_object().into_iter().flatten() {
            entry[name] = link.clone();
        }
    }
}

/// What the connection layer (`connection`) answers before any handler runs,
/// and so on every operation: 408 when a request's headers or body are too
/// slow, 413 for a body over the limit, 503 past the connection limit. A /v1 call and `/readyz` may also
/// get 503 from a store that cannot be written.
fn add_connection_answers(doc: &mut Value) {
    let error_body =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    for_each_operation(doc, |path, _, operation| {
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        responses.entry("408").or_insert_with(|| {
            json!({
                "description": "The request's headers (server.request_header_timeout) or its body (server.request_body_timeout) did not arrive in time (`request_timeout`); nothing was done and the connection is closed",
                "content": error_body,
            })
        });
        // A body over the limit is refused before anything reads it, on every
        // route, one that takes no body included.
        responses.entry("413").or_insert_with(|| {
            json!({
                "description": "The request's body is larger than server.body_limit (`payload_too_large`); nothing was done",
                "content": error_body,
            })
        });
        let mut busy = "The server is serving as many connections as it may (`too_many_connections`, server.max_connections); try again after Retry-After".to_owned();
        if path.starts_with("/v1/") {
            busy.push_str(", or the session store cannot be reached or written right now (`store_unavailable`); nothing was changed");
        } else if path == "/readyz" {
            busy.push_str(", or the session store cannot be reached or written right now (`store_unavailable`): this node cannot serve sessions");
        }
        responses.insert(
            "503".to_owned(),
            json!({
                "description": busy,
                "headers": {"Retry-After": {
                    "description": "Seconds to wait before trying again (sent with `too_many_connections`)",
                    "schema": {"type": "integer", "minimum": 0},
                }},
                "content": error_body,
            }),
        );
    });
}

/// What every operation may get before its handler runs: 400 `token_in_url`
/// for a query that names a token (on every route), 400 `bad_query` for any
/// query on a /v1 route that reads none (`auth::refuses_any_query`), 400
/// `unexpected_body` for a body on an operation that reads none, and 405
/// for a method its path does not take. A 400 the handler documents keeps
/// its description, and these are added to it.
fn add_router_answers(doc: &mut Value) {
    let error_body =
        json!({"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}});
    let names = TOKEN_PARAMETERS
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for_each_operation(doc, |path, _, operation| {
        let reads_no_body = operation.get("requestBody").is_none();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        let mut refusals = vec![format!(
            "the URL's query names a token ({names}): tokens never go in a URL (`token_in_url`)"
        )];
        if refuses_any_query(path) {
            refusals.push(
                "the URL has a query string, which this operation does not take (`bad_query`)"
                    .to_owned(),
            );
        }
        // `error::NoBody`.
        if reads_no_body {
            refusals.push(
                "a body (other than none, `{}` or `null`), which this operation does not take (`unexpected_body`)"
                    .to_owned(),
            );
        }
        let refusals = refusals.join("; or ");
        let bad_request = responses
            .entry("400")
            .or_insert_with(|| json!({"description": "", "content": error_body}));
        let description = match bad_request["description"].as_str() {
            Some(own) if !own.is_empty() => {
                format!("{}; or {refusals}", own.trim_end_matches('.'))
            }
            _ => {
                let mut first = refusals;
                first[..1].make_ascii_uppercase();
                first
            }
        };
        bad_request["description"] = json!(description);
        responses.insert(
            "405".to_owned(),
            json!({
                "description": "This path does not take that method (`method_not_allowed`); the Allow header lists those it takes",
                "headers": {"Allow": {
                    "description": "The methods this path takes",
                    "schema": {"type": "string"},
                }},
                "content": error_body,
            }),
        );
    });
}

fn for_each_operation(doc: &mut Value, mut visit: impl FnMut(&str, &str, &mut Value)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths {
        for (method, operation) in item.as_object_mut().into_iter().flatten() {
            visit(path, method, operation);
        }
    }
}
