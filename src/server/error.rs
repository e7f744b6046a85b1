//! The one error type of the HTTP API, and the extractors that turn every
//! rejection into it.
//!
//! Every error a client sees is `{"error": "<code>", "message": "<text>"}`
//! with a 4xx status. axum's own rejections (bad JSON, bad query, bad path,
//! oversized body) are plain text, so the extractors here wrap axum's and
//! convert; `json_errors` catches what is left (405, for example). An error
//! message never holds a token: none of them echoes a header.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::api::read::RequestBody;
use crate::api::{ApiError, ErrorBody, ErrorCode};

const TOO_LARGE: &str = "the request body is larger than the server's limit (server.body_limit)";

/// The failures of every route that takes a JSON body, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
pub enum BodyFailures {
    /// The body is not JSON, or not sent as `application/json` (`not_json`, `malformed_json`), or, on a revoke of one's own session, its `handle` is not 16 hexadecimal characters (`bad_handle`).
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

fn not_json() -> ApiError {
    ApiError::new(
        ErrorCode::NotJson,
        "send the body as JSON, with the header Content-Type: application/json",
    )
}

fn too_large() -> ApiError {
    ApiError::new(ErrorCode::PayloadTooLarge, TOO_LARGE)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            error: self.code.as_str().to_owned(),
            message: self.message,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A handle from a path or a body, in the same words wherever it is refused.
pub fn parse_handle(text: &str) -> Result<crate::engine::Handle, ApiError> {
    text.parse()
        .map_err(|e: crate::engine::token::InvalidHandle| {
            ApiError::new(ErrorCode::BadHandle, e.to_string())
        })
}

/// A request whose `Content-Length` is over `limit` gets 413 at once: the
/// client is not kept waiting to send a body that would be refused (one sent
/// in chunks is refused when it passes the limit).
pub async fn refuse_declared_too_large(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if declared_length(req.headers()).is_some_and(|length| length > limit as u64) {
        return too_large().into_response();
    }
    next.run(req).await
}

/// The body of an operation that reads none: there must be none, or what a
/// client put there (a `{"reason": …}` on a revoke, a `{"user": …}` on the
/// listing) would be ignored while it took it as heard, so it is refused
/// (400 `unexpected_body`). An empty body, `{}` or `null`, which some
/// clients send with every POST, is none. Taken last, after the caller's
/// token is checked, as a body is.
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers();
        let may_have_one = declared_length(headers).is_some_and(|length| length > 0)
            || headers.contains_key(axum::http::header::TRANSFER_ENCODING);
        if !may_have_one {
            return Ok(NoBody);
        }
        let bytes = body_bytes(req, state).await?;
        let none = bytes.iter().all(u8::is_ascii_whitespace)
            || serde_json::from_slice::<serde_json::Value>(&bytes)
                .is_ok_and(|v| v.is_null() || v.as_object().is_some_and(serde_json::Map::is_empty));
        if none {
            Ok(NoBody)
        } else {
            Err(ApiError::new(
                ErrorCode::UnexpectedBody,
                "this operation takes no body, and what one says would be ignored; nothing was done (send none)",
            ))
        }
    }
}

/// A JSON object body, with every rejection in the API's error shape and in
/// our words (`api::read`): serde's own messages quote what was sent.
///
/// Unlike `axum::Json`, a body that is not an object is refused: serde
/// would otherwise read `["alice"]` as `{"user": "alice"}`.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(&req) {
            return Err(not_json());
        }
        let bytes = body_bytes(req, state).await?;
        let value = crate::api::read::json_body::<T>(&bytes)?;
        Ok(JsonBody(value))
    }
}

/// The body's length as its `Content-Length` declares it, if it does.
fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    let value = headers.get(axum::http::header::CONTENT_LENGTH)?;
    value.to_str().ok()?.parse().ok()
}

/// The whole body, within the body limit, with a rejection in our shape.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(ErrorCode::UnreadableBody, rejection.body_text())
        }
    })
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

/// In our words: axum's text may quote the path, and a path is what a
/// confused client puts a token in.
fn path_error(rejection: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind;
    let message = match &rejection {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                format!("the {key} in the path is not UTF-8 once percent-decoded")
            }
            _ => "a part of the path cannot be read".to_owned(),
        },
        _ => "the path cannot be read".to_owned(),
    };
    ApiError::new(ErrorCode::BadPath, message)
}

/// The answer for a path no route serves.
pub async fn no_route() -> ApiError {
    ApiError::new(ErrorCode::NoRoute, "no such endpoint; see /openapi.json")
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
    let fresh = ApiError::new(ErrorCode::for_status(status.as_u16()), message).into_response();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let (fresh_parts, body) = fresh.into_parts();
    parts.headers.extend(fresh_parts.headers);
    Response::from_parts(parts, body)
}
