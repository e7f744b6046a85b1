//! The one error type of the HTTP API, and the extractors that turn every
//! rejection into it.
//!
//! Every error a client sees is `{"error": "<code>", "message": "<text>"}`
//! with a 4xx status. axum's own rejections (bad JSON, bad query, bad path,
//! oversized body) are plain text, so the extractors here wrap axum's and
//! convert; `json_errors` catches what is left (405, for example). An error
//! message never holds a token: none of them echoes a header.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::EngineError;

const TOO_LARGE: &str = "the request body is larger than the server's limit (server.body_limit)";

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `invalid_token` or `malformed_json`.
    #[schema(example = "invalid_token")]
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The failures of every route that takes a JSON body, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum BodyFailures {
    /// The body is not JSON, or not sent as `application/json`.
    #[response(status = 400)]
    Malformed(ErrorBody),
    /// The body is larger than `server.body_limit`.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The JSON does not fit the request: wrong types, missing or unknown fields, or values out of bounds.
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// The failures of every route the app token may use.
#[derive(utoipa::IntoResponses)]
pub enum AppAuthFailures {
    /// No `Authorization: Bearer` header, or not a valid API token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
}

/// The failures of every route that needs the admin token.
#[derive(utoipa::IntoResponses)]
pub enum AdminAuthFailures {
    /// No `Authorization: Bearer` header, or not a valid API token.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The app token cannot use admin routes.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// An answer other than success.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    fn not_json() -> Self {
        Self::bad_request(
            "not_json",
            "send the body as JSON, with the header Content-Type: application/json",
        )
    }

    fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            TOO_LARGE,
        )
    }

    /// The code a bare status gets when nothing more specific is known.
    fn code_for(status: StatusCode) -> &'static str {
        match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
            _ if status.is_server_error() => "internal",
            _ => "bad_request",
        }
    }

    fn from_status(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, Self::code_for(status), message)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let message = error.to_string();
        match error {
            EngineError::InvalidToken => ApiError::not_found("invalid_token", message),
            EngineError::NoSuchSession(_) => ApiError::not_found("no_such_session", message),
            EngineError::InvalidUser(_) => ApiError::unprocessable("invalid_user", message),
            EngineError::InvalidAttributes(_) => {
                ApiError::unprocessable("invalid_attributes", message)
            }
            EngineError::TimeoutOutOfBounds { .. } => {
                ApiError::unprocessable("timeout_out_of_bounds", message)
            }
            EngineError::LimitOutOfBounds { .. } => {
                ApiError::unprocessable("limit_out_of_bounds", message)
            }
            EngineError::SessionLimit { .. } => {
                ApiError::new(StatusCode::CONFLICT, "session_limit", message)
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection {
            JsonRejection::JsonDataError(_) => ApiError::unprocessable("invalid_body", message),
            JsonRejection::JsonSyntaxError(_) => ApiError::bad_request("malformed_json", message),
            JsonRejection::MissingJsonContentType(_) => ApiError::not_json(),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(),
            other => ApiError::bad_request("unreadable_body", other.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON object body, with every rejection in the API's error shape.
///
/// Like `axum::Json`, but a body that is not an object is refused: serde
/// would otherwise read `["alice"]` as `{"user": "alice"}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(&req) {
            return Err(ApiError::not_json());
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::bad_request("unreadable_body", rejection.body_text())
            }
        })?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
                    Ok(_) => {
                        ApiError::unprocessable("invalid_body", "the body must be a JSON object")
                    }
                    Err(e) => ApiError::bad_request(
                        "malformed_json",
                        format!("the body is not JSON: {e}"),
                    ),
                },
            );
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(JsonBody(value))
    }
}

fn has_json_content_type(req: &Request) -> bool {
    let Some(value) = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// `axum::extract::Query`, with its rejections in the API's error shape.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(QueryParams(value)),
            Err(rejection) => Err(query_error(rejection)),
        }
    }
}

fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request("bad_query", rejection.body_text())
}

/// `axum::extract::Path`, with its rejections in the API's error shape.
pub struct PathParam<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathParam(value)),
            Err(rejection) => Err(path_error(rejection)),
        }
    }
}

fn path_error(rejection: PathRejection) -> ApiError {
    ApiError::bad_request("bad_path", rejection.body_text())
}

/// The answer for a path no route serves.
pub async fn no_route() -> ApiError {
    ApiError::not_found("no_route", "no such endpoint; see /openapi.json")
}

/// Gives any error response that is not already JSON the API's error shape,
/// keeping its status and headers (`Allow` on a 405, for example).
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => "this endpoint does not take that method".to_owned(),
        StatusCode::PAYLOAD_TOO_LARGE => TOO_LARGE.to_owned(),
        other => other
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned(),
    };
    let fresh = ApiError::from_status(status, message).into_response();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body)
}
