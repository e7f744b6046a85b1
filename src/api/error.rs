//! The error body every failure answers with, and the codes it may carry.
//!
//! `{"error": "<code>", "message": "<one sentence>"}`. The code is stable and
//! machine-readable; each code has exactly one HTTP status. The message is for
//! a person, in our words, and never echoes a value that could be a token.

use serde::{Deserialize, Serialize};

use crate::engine::EngineError;
use crate::store::StoreError;
use crate::throttle::Throttle;

/// Every error code the API gives; each code always comes with the same HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // 400: the request itself is unreadable.
    BadRequest,
    NotJson,
    MalformedJson,
    UnreadableBody,
    BadQuery,
    BadPath,
    BadHandle,
    BadCursor,
    TokenInUrl,
    /// A body on an operation that takes none: what it says would be ignored.
    UnexpectedBody,
    // 401 and 403: who is asking.
    Unauthorized,
    Forbidden,
    // 404: nothing there (a token or handle that names no live session).
    NotFound,
    NoRoute,
    InvalidToken,
    NoSuchSession,
    // 405, 408, 409, 413.
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    /// The user already has as many sessions as the policy allows.
    SessionLimit,
    PayloadTooLarge,
    // 422: readable, but not a request the server can carry out.
    Unprocessable,
    InvalidBody,
    InvalidUser,
    InvalidAttributes,
    InvalidDuration,
    TimeoutOutOfBounds,
    /// A login asked for a session limit above the server's.
    LimitOutOfBounds,
    // 5xx. `store_unavailable` is the one the API promises; `internal` is a bug.
    StoreUnavailable,
    Overloaded,
    /// The server is serving as many connections as it may (`server.max_connections`).
    TooManyConnections,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 32] = {
        use ErrorCode::*;
        [
            BadRequest,
            NotJson,
            MalformedJson,
            UnreadableBody,
            BadQuery,
            BadPath,
            BadHandle,
            BadCursor,
            TokenInUrl,
            UnexpectedBody,
            Unauthorized,
            Forbidden,
            NotFound,
            NoRoute,
            InvalidToken,
            NoSuchSession,
            MethodNotAllowed,
            RequestTimeout,
            Conflict,
            SessionLimit,
            PayloadTooLarge,
            Unprocessable,
            InvalidBody,
            InvalidUser,
            InvalidAttributes,
            InvalidDuration,
            TimeoutOutOfBounds,
            LimitOutOfBounds,
            StoreUnavailable,
            Overloaded,
            TooManyConnections,
            Internal,
        ]
    };

    /// The HTTP status this code is always sent with.
    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            BadRequest | NotJson | MalformedJson | UnreadableBody | BadQuery | BadPath
            | BadHandle | BadCursor | TokenInUrl | UnexpectedBody => 400,
            Unauthorized => 401,
            Forbidden => 403,
            NotFound | NoRoute | InvalidToken | NoSuchSession => 404,
            MethodNotAllowed => 405,
            RequestTimeout => 408,
            Conflict | SessionLimit => 409,
            PayloadTooLarge => 413,
            Unprocessable | InvalidBody | InvalidUser | InvalidAttributes | InvalidDuration
            | TimeoutOutOfBounds | LimitOutOfBounds => 422,
            StoreUnavailable | Overloaded | TooManyConnections => 503,
            Internal => 500,
        }
    }

    /// The code a bare status gets when nothing more specific is known.
    pub fn for_status(status: u16) -> Self {
        match status {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            409 => ErrorCode::Conflict,
            413 => ErrorCode::PayloadTooLarge,
            422 => ErrorCode::Unprocessable,
            503 => ErrorCode::Overloaded,
            500..=599 => ErrorCode::Internal,
            _ => ErrorCode::BadRequest,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadRequest => "bad_request",
            NotJson => "not_json",
            MalformedJson => "malformed_json",
            UnreadableBody => "unreadable_body",
            BadQuery => "bad_query",
            BadPath => "bad_path",
            BadHandle => "bad_handle",
            BadCursor => "bad_cursor",
            TokenInUrl => "token_in_url",
            UnexpectedBody => "unexpected_body",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not_found",
            NoRoute => "no_route",
            InvalidToken => "invalid_token",
            NoSuchSession => "no_such_session",
            MethodNotAllowed => "method_not_allowed",
            RequestTimeout => "request_timeout",
            Conflict => "conflict",
            SessionLimit => "session_limit",
            PayloadTooLarge => "payload_too_large",
            Unprocessable => "unprocessable",
            InvalidBody => "invalid_body",
            InvalidUser => "invalid_user",
            InvalidAttributes => "invalid_attributes",
            InvalidDuration => "invalid_duration",
            TimeoutOutOfBounds => "timeout_out_of_bounds",
            LimitOutOfBounds => "limit_out_of_bounds",
            StoreUnavailable => "store_unavailable",
            Overloaded => "overloaded",
            TooManyConnections => "too_many_connections",
            Internal => "internal",
        }
    }

    /// Reads a code off the wire; `None` for a code this build does not know.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error response.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code (a string, so clients can read codes newer than themselves).
    #[schema(value_type = ErrorCode, example = "invalid_token")]
    pub error: String,
    /// What went wrong, for a person: one sentence.
    pub message: String,
}

impl ErrorBody {
    /// The code, if this build knows it.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.error)
    }
}

/// An answer other than success: a code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.as_str().to_owned(),
            message: self.message.clone(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Engine(error) => error.into(),
            // A conflict is found at start; should one come later, the
            // store cannot take the change either way.
            StoreError::Unavailable(reason) | StoreError::Conflict(reason) => {
                store_unavailable(&reason, &UNAVAILABLE_LINES)
            }
            StoreError::BadCursor => ApiError::new(
                ErrorCode::BadCursor,
                "cursor must be the next_cursor of a previous page",
            ),
        }
    }
}

/// The 503 lines: while a disk is full or Redis is away, every change a
/// client asks for is refused for the same reason (thousands a second), so
/// one line a second says so, with how many it left out.
static UNAVAILABLE_LINES: Throttle = Throttle::new(1000);

/// Logs how many 503s went unlogged since the last line, once a second has
/// passed: the end of an outage has no later 503 to report it. The server
/// calls it every second.
pub fn log_unlogged_503s() {
    if let Some(n) = UNAVAILABLE_LINES.tail() {
        let s = if n == 1 { "" } else { "s" };
        tracing::warn!("answered 503 to {n} more request{s} since the last line");
    }
}

fn store_unavailable(reason: &str, lines: &Throttle) -> ApiError {
    // The reason names files and hosts: the log gets it, the caller does not.
    if let Some(more) = lines.note() {
        tracing::warn!("answering 503: {reason}{more}");
    }
    ApiError::new(
        ErrorCode::StoreUnavailable,
        "the session store cannot be reached or written right now; nothing was changed, try again shortly",
    )
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let code = match &error {
            EngineError::InvalidToken => ErrorCode::InvalidToken,
            EngineError::NoSuchSession(_) => ErrorCode::NoSuchSession,
            EngineError::InvalidUser(_) => ErrorCode::InvalidUser,
            EngineError::InvalidAttributes(_) => ErrorCode::InvalidAttributes,
            EngineError::TimeoutOutOfBounds { .. } => ErrorCode::TimeoutOutOfBounds,
            EngineError::LimitOutOfBounds { .. } => ErrorCode::LimitOutOfBounds,
            EngineError::SessionLimit { .. } => ErrorCode::SessionLimit,
        };
        ApiError::new(code, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_wire_form() {
        let json = serde_json::to_value(ErrorCode::StoreUnavailable).unwrap();
        assert_eq!(json, "store_unavailable");
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        assert_eq!(ErrorCode::parse("from_the_future"), None);
    }

    /// A `MakeWriter` that keeps what is logged, to count the lines.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn a_burst_of_503s_logs_a_line_a_second_with_how_many_it_left_out() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(captured.clone())
            .with_ansi(false)
            .finish();
        let lines = Throttle::new(1000);
        let started = std::time::Instant::now();
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3000 {
                let error =
                    store_unavailable("/tmp/s.db cannot be written: the disk is full", &lines);
                assert_eq!(error.code, ErrorCode::StoreUnavailable);
            }
        });
        let seconds = started.elapsed().as_secs() as usize;
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let logged: Vec<&str> = text.lines().collect();
        assert!(
            (1..=seconds + 1).contains(&logged.len()),
            "{} lines in {seconds}s",
            logged.len()
        );
        assert!(logged[0].contains("WARN"), "{}", logged[0]);
        assert!(logged[0].contains("the disk is full"), "{}", logged[0]);
    }

    #[test]
    fn a_code_has_one_status() {
        assert_eq!(ErrorCode::InvalidToken.status(), 404);
        assert_eq!(ErrorCode::SessionLimit.status(), 409);
        assert_eq!(ErrorCode::StoreUnavailable.status(), 503);
        assert_eq!(ErrorCode::InvalidUser.status(), 422);
    }
}
