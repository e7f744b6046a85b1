//! What the session server says to bad callers: every auth failure, and
//! every class of bad input, each a 4xx in the error shape that changes nothing.

mod server_support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_support::{ADMIN, APP, TestServer, error_code, read};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_auth_failure_is_401_or_403_in_the_error_shape() {
    let server = TestServer::start().await;
    let login = json!({"user": "mallory"});
    let cases: Vec<(Method, &str, Option<&str>, StatusCode)> = vec![
        (Method::POST, "/v1/sessions", None, StatusCode::UNAUTHORIZED),
        (
            Method::POST,
            "/v1/sessions",
            Some("wrong-token-0123456789"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::POST,
            "/v1/sessions",
            Some(""),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::GET,
            "/v1/admin/stats",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::GET,
            "/v1/admin/stats",
            Some("wrong-token-0123456789"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            Method::GET,
            "/v1/admin/stats",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/admin/sessions",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/admin/sessions/0000000000000001",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            "/v1/admin/sessions/0000000000000001/touch",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/v1/admin/sessions/0000000000000001",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            "/v1/admin/users/x/sessions",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/admin/events",
            Some(APP),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::GET,
            "/v1/admin/events",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (Method::GET, "/metrics", Some(APP), StatusCode::FORBIDDEN),
        (Method::GET, "/metrics", None, StatusCode::UNAUTHORIZED),
    ];
    for (method, path, token, expected) in cases {
        let body = (method == Method::POST && path == "/v1/sessions").then(|| login.clone());
        let (status, body) = read(server.call(method.clone(), path, token, body).await).await;
        assert_eq!(status, expected, "{method} {path} with {token:?}");
        let code = error_code(&body);
        assert_eq!(
            code,
            if expected == StatusCode::FORBIDDEN {
                "forbidden"
            } else {
                "unauthorized"
            }
        );
    }
    // A scheme other than Bearer is no token at all.
    let response = server
        .client
        .get(server.url("/v1/admin/stats"))
        .basic_auth("admin", Some(ADMIN))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    // Two Authorization headers could disagree: neither order is taken.
    for tokens in [
        [APP, "bogus-token-0123456789"],
        ["bogus-token-0123456789", APP],
    ] {
        let mut headers = reqwest::header::HeaderMap::new();
        for token in tokens {
            headers.append(
                reqwest::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        let response = server
            .client
            .post(server.url("/v1/sessions"))
            .headers(headers)
            .json(&login)
            .send()
            .await
            .unwrap();
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(
            body["message"],
            "send one Authorization header, not several"
        );
    }
    assert_eq!(server.active().await, 0, "no failed call logged anyone in");

    // /healthz, /readyz and /openapi.json need no token.
    for path in ["/healthz", "/readyz"] {
        let (status, body) = read(server.call(Method::GET, path, None, None).await).await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({"status": "ok"})),
            "{path}"
        );
    }
    let response = server.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Sends `body` as the raw bytes of a JSON login and returns status and error code.
async fn raw_post(
    server: &TestServer,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let response = server
        .client
        .post(server.url(path))
        .bearer_auth(APP)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    if status.is_success() {
        return (status, body.to_string());
    }
    (status, error_code(&body).to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let server = TestServer::start_with(|c| c.server.body_limit = 4096).await;
    let (token, handle) = server.login("grace").await;
    let before = server.stats().await;
    let json = "application/json";
    let long_user = "u".repeat(257);
    let too_many_attributes: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("k{i}"), json!("v"))).collect();
    let cases: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\"".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "/v1/sessions",
            json,
            b"not json".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "/v1/sessions",
            json,
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            "/v1/sessions",
            "text/plain",
            b"{\"user\": \"x\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "not_json",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": 5}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions",
            json,
            b"[\"x\"]".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions",
            json,
            b"{}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"admin\": true}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"attributes\": {\"a\": 1}}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"   \"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
        ),
        (
            "/v1/sessions",
            json,
            format!("{{\"user\": \"{long_user}\"}}").into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
        ),
        (
            "/v1/sessions",
            json,
            json!({"user": "x", "attributes": too_many_attributes})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attributes",
        ),
        (
            "/v1/sessions",
            json,
            json!({"user": "x", "attributes": {"ua": "a".repeat(1025)}})
                .to_string()
                .into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_attributes",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"idle_timeout\": \"soon\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_duration",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"idle_timeout\": \"1ms\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeout_out_of_bounds",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"idle_timeout\": \"3days\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeout_out_of_bounds",
        ),
        (
            "/v1/sessions",
            json,
            b"{\"user\": \"x\", \"absolute_timeout\": \"90days\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "timeout_out_of_bounds",
        ),
        (
            "/v1/sessions",
            json,
            format!("{{\"user\": \"{}\"}}", "x".repeat(5000)).into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "/v1/sessions/touch",
            json,
            b"{\"token\": 42}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions/touch",
            json,
            format!("{{\"token\": \"{token}\", \"extra\": 1}}").into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "/v1/sessions/touch",
            json,
            b"{\"token\": \"\"}".to_vec(),
            StatusCode::NOT_FOUND,
            "invalid_token",
        ),
        (
            "/v1/sessions/touch",
            json,
            b"{\"token\": \"not-a-token\"}".to_vec(),
            StatusCode::NOT_FOUND,
            "invalid_token",
        ),
        (
            "/v1/sessions/renew",
            json,
            b"{\"token\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}".to_vec(),
            StatusCode::NOT_FOUND,
            "invalid_token",
        ),
        (
            "/v1/sessions/logout",
            json,
            b"{}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (path, content_type, body, expected, code) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        let (status, got) = raw_post(&server, path, content_type, body).await;
        assert_eq!(
            (status, got.as_str()),
            (expected, code),
            "POST {path} {shown}"
        );
    }

    let bad_queries = [
        ("/v1/admin/sessions?limit=abc", "bad_query"),
        ("/v1/admin/sessions?limit=0", "bad_query"),
        ("/v1/admin/sessions?limit=10001", "bad_query"),
        ("/v1/admin/sessions?limit=-1", "bad_query"),
        ("/v1/admin/sessions?color=red", "bad_query"),
        ("/v1/admin/sessions?cursor=garbage", "bad_cursor"),
        ("/v1/admin/sessions?cursor=1.x", "bad_cursor"),
        ("/v1/admin/sessions?user=%FF", "bad_query"),
        // Routes that read no query string refuse one: it could hold a token.
        ("/v1/admin/stats?x=1", "bad_query"),
        ("/v1/admin/events?session=x", "bad_query"),
        ("/v1/admin/sessions/0123456789abcdef?x", "bad_query"),
    ];
    for (path, code) in bad_queries {
        let (status, body) = server.admin(Method::GET, path).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::BAD_REQUEST, code),
            "{path}"
        );
    }
    let long_user = format!("/v1/admin/sessions?user={}", "a".repeat(257));
    for path in [
        "/v1/admin/sessions?user=",
        "/v1/admin/sessions?user=+",
        &long_user,
    ] {
        let (status, body) = server.admin(Method::GET, path).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_user"),
            "{path}"
        );
    }
    let bad_handles = [
        (
            Method::GET,
            "/v1/admin/sessions/xyz".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_handle",
        ),
        (
            Method::GET,
            "/v1/admin/sessions/zzzzzzzzzzzzzzzz".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_handle",
        ),
        (
            Method::DELETE,
            format!("/v1/admin/sessions/{handle}0"),
            StatusCode::BAD_REQUEST,
            "bad_handle",
        ),
        (
            Method::POST,
            "/v1/admin/sessions/%00/touch".to_owned(),
            StatusCode::BAD_REQUEST,
            "bad_handle",
        ),
        (
            Method::GET,
            "/v1/admin/sessions/0000000000000000".to_owned(),
            StatusCode::NOT_FOUND,
            "no_such_session",
        ),
        (
            Method::DELETE,
            "/v1/admin/sessions/ffffffffffffffff".to_owned(),
            StatusCode::NOT_FOUND,
            "no_such_session",
        ),
        (
            Method::DELETE,
            format!("/v1/admin/users/{}/sessions", "u".repeat(300)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_user",
        ),
        (
            Method::GET,
            "/v1/nothing".to_owned(),
            StatusCode::NOT_FOUND,
            "no_route",
        ),
        (
            Method::PUT,
            "/v1/sessions".to_owned(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, path, expected, code) in bad_handles {
        let (status, body) = server.admin(method.clone(), &path).await;
        assert_eq!(
            (status, error_code(&body)),
            (expected, code),
            "{method} {path}"
        );
    }

    let after = server.stats().await;
    assert_eq!(after["active"], before["active"]);
    assert_eq!(after["totals"], before["totals"]);
    assert_eq!(
        after["last_seq"], before["last_seq"],
        "no event came of bad input"
    );
    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the good session is untouched by all that"
    );
}

/// Whatever a client sends to the JSON routes, the answer is a success or a
/// 4xx in the error shape: never a 5xx, never a dropped connection.
#[test]
fn no_body_a_client_sends_gets_a_server_error() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(TestServer::start());
    let paths = prop::sample::select(vec![
        "/v1/sessions",
        "/v1/sessions/touch",
        "/v1/sessions/renew",
        "/v1/sessions/logout",
    ]);
    let value = prop_oneof![
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
        "[0-9]{1,4}(ms|s|m|h|x)".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        Just(json!({})),
        Just(json!([])),
        Just(json!({"k": "v"})),
        Just(json!({"k": 1})),
    ];
    let key = prop::sample::select(vec![
        "user",
        "token",
        "attributes",
        "idle_timeout",
        "absolute_timeout",
        "x",
    ]);
    let objects = prop::collection::btree_map(key, value, 0..4).prop_map(|fields| {
        let object: serde_json::Map<String, Value> =
            fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(object).to_string().into_bytes()
    });
    let bodies = prop_oneof![prop::collection::vec(any::<u8>(), 0..200), objects];
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(paths, bodies), |(path, body)| {
            let (status, code) = runtime.block_on(async {
                let response = server
                    .client
                    .post(server.url(path))
                    .bearer_auth(APP)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                let (status, body) = read(response).await;
                let code = if status.is_client_error() {
                    error_code(&body).to_owned()
                } else {
                    String::new()
                };
                (status, code)
            });
            prop_assert!(
                status.is_success() || status.is_client_error(),
                "{path} {:?} -> {status} {code}",
                String::from_utf8_lossy(&body)
            );
            Ok(())
        })
        .unwrap();
}

async fn message_of(response: reqwest::Response) -> (StatusCode, String, String) {
    let (status, body) = read(response).await;
    let message = body["message"].as_str().unwrap_or_default().to_owned();
    (status, error_code(&body).to_owned(), message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_user_is_refused_alike_by_login_and_by_revoke_user() {
    let server = TestServer::start().await;
    server.login("quinn").await;
    let login = server
        .call(
            Method::POST,
            "/v1/sessions",
            Some(APP),
            Some(json!({"user": ""})),
        )
        .await;
    let (status, code, login_message) = message_of(login).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_user")
    );
    for path in ["/v1/admin/users//sessions", "/v1/admin/users/%20/sessions"] {
        let response = server.call(Method::DELETE, path, Some(ADMIN), None).await;
        let (status, code, message) = message_of(response).await;
        assert_eq!(
            (status, code.as_str(), message.as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_user",
                login_message.as_str()
            ),
            "{path}"
        );
    }
    let response = server
        .call(
            Method::DELETE,
            "/v1/admin/users/%FF/sessions",
            Some(ADMIN),
            None,
        )
        .await;
    let (status, code, message) = message_of(response).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "bad_path")
    );
    assert_eq!(
        message,
        "the user in the path is not UTF-8 once percent-decoded"
    );
    assert_eq!(server.active().await, 1, "nothing was revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_message_repeats_a_value_that_could_be_a_token() {
    let server = TestServer::start().await;
    let (token, _) = server.login("rita").await;
    let mut answers = Vec::new();
    for secret in [token.as_str(), ADMIN, APP] {
        let query = format!("/v1/admin/sessions?{secret}=1");
        answers.push(server.call(Method::GET, &query, Some(ADMIN), None).await);
        let bodies = [
            json!({"user": "rita", secret: 1}),
            json!({"user": "rita", "attributes": secret}),
            json!({"user": "rita", "attributes": {"ua": secret}, "idle_timeout": secret}),
            json!({"user": "rita", "absolute_timeout": secret}),
            json!({"user": secret.len(), "x": secret}),
            json!({"user": "rita", "attributes": {secret: "v".repeat(2000)}}),
            json!({"user": "rita", "attributes": {secret.repeat(3): "v"}}),
        ];
        for body in bodies {
            answers.push(
                server
                    .call(Method::POST, "/v1/sessions", Some(APP), Some(body))
                    .await,
            );
        }
        let touch = json!({"token": token, secret: true});
        answers.push(
            server
                .call(Method::POST, "/v1/sessions/touch", Some(APP), Some(touch))
                .await,
        );
        let unreadable = format!("{{\"token\": \"{secret}\"");
        answers.push(
            server
                .client
                .post(server.url("/v1/sessions/touch"))
                .bearer_auth(APP)
                .header("content-type", "application/json")
                .body(unreadable)
                .send()
                .await
                .unwrap(),
        );
    }
    // Texts that read as durations, out of bounds, as long as a token can be.
    let durations = ["999999999999years", "1ms 1ms 1ms 1ms 1ms"];
    for duration in durations {
        for field in ["idle_timeout", "absolute_timeout"] {
            let body = json!({"user": "rita", field: duration});
            answers.push(
                server
                    .call(Method::POST, "/v1/sessions", Some(APP), Some(body))
                    .await,
            );
        }
    }
    for response in answers {
        let (status, code, message) = message_of(response).await;
        assert!(status.is_client_error(), "{status} {code}");
        for secret in [token.as_str(), ADMIN, APP].into_iter().chain(durations) {
            assert!(!message.contains(secret), "{code}: {message}");
        }
    }
    assert_eq!(server.active().await, 1, "no bad login got in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_in_our_words_and_say_what_was_wrong() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"user": "sam", "idle_timeout": "60days"}),
            "timeout_out_of_bounds",
            "idle_timeout `60days` is more than the server allows (1day)",
        ),
        (
            json!({"user": "sam", "absolute_timeout": "1ms"}),
            "timeout_out_of_bounds",
            "absolute_timeout `1ms` is less than the server allows (10ms)",
        ),
        (
            json!({"user": "sam", "idle_timout": "5m"}),
            "invalid_body",
            "the body has an unknown field `idle_timout`; this request takes user, attributes, idle_timeout, absolute_timeout, max_sessions_per_user",
        ),
        (
            json!({"user": "sam", "idle_timeout": "soon"}),
            "invalid_duration",
            "idle_timeout `soon` is not a duration; use a number and a unit, such as \"90s\", \"15m\" or \"8h\"",
        ),
        (
            json!({"user": 7}),
            "invalid_body",
            "`user` must be a string",
        ),
        (json!({}), "invalid_body", "the body needs the field `user`"),
    ];
    for (body, code, message) in cases {
        let response = server
            .call(Method::POST, "/v1/sessions", Some(APP), Some(body.clone()))
            .await;
        let (status, got_code, got) = message_of(response).await;
        assert!(status.is_client_error());
        assert_eq!((got_code.as_str(), got.as_str()), (code, message), "{body}");
    }
    let (status, body) = server
        .admin(Method::GET, "/v1/admin/sessions?colour=red")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body["message"],
        "unknown query parameter `colour`; this request takes user, limit, cursor"
    );
    assert_eq!(server.active().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_that_reads_no_body_refuses_one_and_does_nothing() {
    let server = TestServer::start().await;
    let (_, handle) = server.login("grace").await;
    let response = server.call(Method::GET, "/openapi.json", None, None).await;
    let (_, doc) = read(response).await;
    let mut bodiless = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation.get("requestBody").is_none() {
                let path = path.replace("{handle}", &handle).replace("{user}", "grace");
                bodiless.push((method.to_ascii_uppercase(), path));
            }
        }
    }
    assert!(bodiless.len() >= 10, "{bodiless:?}");
    for (method, path) in &bodiless {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        // What a client might think was heard: a reason, a filter.
        let said = json!({"reason": "stolen laptop", "user": "grace"});
        let response = server
            .call(method.clone(), path, Some(ADMIN), Some(said))
            .await;
        let (status, body) = read(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{method} {path}: {body}");
        assert_eq!(error_code(&body), "unexpected_body", "{method} {path}");
        let documented =
            doc["paths"][path
                .replace(&handle, "{handle}")
                .replace("/grace/", "/{user}/")][method.as_str().to_ascii_lowercase()]["responses"]
                ["400"]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
        assert!(
            documented.contains("`unexpected_body`"),
            "{method} {path}: {documented}"
        );
    }
    assert_eq!(server.active().await, 1, "no revoke happened");
    // An empty body, `{}` or `null`, as some clients send with every POST, is none.
    for body in [json!({}), Value::Null] {
        let response = server
            .call(
                Method::POST,
                &format!("/v1/admin/sessions/{handle}/touch"),
                Some(ADMIN),
                Some(body),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    // An operation that reads a body is unchanged.
    let (status, _) = server
        .app_post("/v1/sessions", json!({"user": "ada"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

/// Waits (up to 10 s) until `token` gets `want` on the stats: the server
/// looks at its token files once a second.
async fn until_token_gets(server: &TestServer, token: &str, want: StatusCode) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let response = server
            .call(Method::GET, "/v1/admin/stats", Some(token), None)
            .await;
        if response.status() == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{token}: still {}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_rotates_its_tokens_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin.tokens");
    let (old, new) = ("old-admin-token-0123456789", "new-admin-token-0123456789");
    std::fs::write(&file, format!("{old}\n")).unwrap();
    let server = TestServer::start_with(|c| {
        c.server.admin_token = None;
        c.server.admin_token_file = Some(file.clone());
    })
    .await;
    until_token_gets(&server, old, StatusCode::OK).await;
    // The overlap: both, one per line, while clients move to the new one.
    std::fs::write(&file, format!("{old}\n\n{new}\n")).unwrap();
    until_token_gets(&server, new, StatusCode::OK).await;
    until_token_gets(&server, old, StatusCode::OK).await;
    // An event stream opened with the old token ends when the token goes.
    let opened = (server.client.get(server.url("/v1/admin/events")))
        .bearer_auth(old)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.status(), StatusCode::OK);
    let mut stream = opened.bytes_stream();
    std::fs::write(&file, format!("{new}\n")).unwrap();
    until_token_gets(&server, old, StatusCode::UNAUTHORIZED).await;
    until_token_gets(&server, new, StatusCode::OK).await;
    let ended = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        use futures_util::StreamExt;
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream of a token rotated out ends (keep-alive is 15 s)"
    );
    // A file that cannot be used keeps the tokens in force: an empty one,
    // a weak token, the app token.
    for bad in ["", "short\n", &format!("{new}\n{APP}\n")] {
        std::fs::write(&file, bad).unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        until_token_gets(&server, new, StatusCode::OK).await;
    }
    // A comment line is skipped.
    let third = "third-admin-token-0123456789";
    std::fs::write(&file, format!("# rotated today\n{new}\n{third}\n")).unwrap();
    until_token_gets(&server, third, StatusCode::OK).await;
    // A file other users may write is not read: they could add a token.
    use std::os::unix::fs::PermissionsExt;
    let evil = "evil-admin-token-0123456789";
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o622)).unwrap();
    std::fs::write(&file, format!("{new}\n{evil}\n")).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    until_token_gets(&server, evil, StatusCode::UNAUTHORIZED).await;
    until_token_gets(&server, third, StatusCode::OK).await;
    // The app token stays an app token throughout.
    until_token_gets(&server, APP, StatusCode::FORBIDDEN).await;
}
