//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the two routes that need no token: `/openapi.json` and `/healthz`.
//!
//! Routes are registered through `utoipa_axum::routes!`, so the router and
//! the document come from the same list and cannot drift apart.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Json, Response};
use serde::{Deserialize, Serialize};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::ServerState;

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
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".to_owned(),
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "public",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json", body = Object))
)]
pub async fn document(State(state): State<Arc<ServerState>>) -> Response {
    let body = state.openapi.get().cloned().unwrap_or_default();
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
