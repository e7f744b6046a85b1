//! The session server's HTTP API, driven over loopback like a web app and an
//! operator would: lifecycle, admin routes, stats, OpenAPI, metrics.
//! Auth failures and bad input are in `server_input.rs`.

mod server_support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_support::{ADMIN, TestServer, error_code, read};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_lives_from_login_through_touch_and_renew_to_logout() {
    let server = TestServer::start().await;
    let (status, login) = server
        .app_post(
            "/v1/sessions",
            json!({"user": "alice", "attributes": {"ip": "10.0.0.1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = login["token"].as_str().unwrap().to_owned();
    let session = &login["session"];
    assert_eq!(session["user"], "alice");
    assert_eq!(session["attributes"]["ip"], "10.0.0.1");
    assert_eq!(session["state"], "active");
    assert_eq!(session["handle"].as_str().unwrap().len(), 16);
    for key in [
        "created_at",
        "last_seen_at",
        "idle_expires_at",
        "absolute_expires_at",
        "expires_at",
    ] {
        let t = session[key].as_str().unwrap();
        assert!(t.ends_with('Z') && t.len() == 24, "{key} = {t}");
    }

    let (status, touched) = server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(touched["session"]["handle"], session["handle"]);
    assert!(
        touched.get("token").is_none(),
        "touch never returns a token"
    );

    let (status, renewed) = server
        .app_post("/v1/sessions/renew", json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_token = renewed["token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, token);
    assert_eq!(renewed["session"]["handle"], session["handle"]);

    let (status, body) = server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the old token is dead");
    assert_eq!(error_code(&body), "invalid_token");

    let (status, body) = server
        .app_post("/v1/sessions/logout", json!({"token": new_token}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);

    let (status, body) = server
        .app_post("/v1/sessions/touch", json!({"token": new_token}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "invalid_token");
    let (status, _) = server
        .app_post("/v1/sessions/logout", json!({"token": new_token}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let stats = server.stats().await;
    assert_eq!(stats["active"], 0);
    assert_eq!(stats["totals"]["logins"], 1);
    assert_eq!(stats["totals"]["renewals"], 1);
    assert_eq!(stats["totals"]["logged_out"], 1);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_can_do_what_the_app_token_can() {
    let server = TestServer::start().await;
    let response = server
        .call(
            Method::POST,
            "/v1/sessions",
            Some(ADMIN),
            Some(json!({"user": "root"})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_short_idle_timeout_expires_on_its_own() {
    let (server, engine) = TestServer::on_paused_clock(1_800_000_000_000, |_| {}).await;
    let (token, _) = server
        .login_with(json!({"user": "quick", "idle_timeout": "5m"}))
        .await;
    assert_eq!(server.active().await, 1);
    let mut stream = server.events(None).await;
    // Past its deadline on the engine's clock: the driver ends it on its own,
    // with no request to notice.
    engine.adjust_clock(|clock| clock.step(Duration::from_secs(5 * 60 + 1)));
    let expired = stream.next().await.expect("the expiry is on the stream");
    assert_eq!(expired.event, "expired");
    assert_eq!(expired.data["reason"], "idle");
    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stats = server.stats().await;
    assert_eq!(stats["active"], 0);
    assert_eq!(stats["totals"]["expired_idle"], 1);

    let (status, metrics) = read_text(&server, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains("sessiontop_sessions_ended_total{reason=\"idle\"} 1"),
        "{metrics}"
    );
    // The lateness follower reads the event feed on its own task: give it a moment.
    let mut metrics = metrics;
    for _ in 0..50 {
        if metrics.contains("sessiontop_expiry_lateness_seconds_count 1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        metrics = read_text(&server, "/metrics").await.1;
    }
    assert!(
        metrics.contains("sessiontop_expiry_lateness_seconds_count 1"),
        "{metrics}"
    );
}

async fn read_text(server: &TestServer, path: &str) -> (StatusCode, String) {
    let response = server.call(Method::GET, path, Some(ADMIN), None).await;
    (response.status(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_lists_sessions_in_idle_deadline_order_page_by_page() {
    let server = TestServer::start().await;
    // Longer idle timeouts end later, so login order is not deadline order.
    let mut expected = Vec::new();
    for (i, idle) in ["5m", "1m", "3m", "2m", "4m"].iter().enumerate() {
        let user = if i % 2 == 0 { "even" } else { "odd" };
        let (_, handle) = server
            .login_with(json!({"user": user, "idle_timeout": idle}))
            .await;
        expected.push((idle.trim_end_matches('m').parse::<u32>().unwrap(), handle));
    }
    expected.sort();
    let expected: Vec<String> = expected.into_iter().map(|(_, h)| h).collect();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/admin/sessions?limit=2&cursor={c}"),
            None => "/v1/admin/sessions?limit=2".to_owned(),
        };
        let (status, page) = server.admin(Method::GET, &path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for s in page["sessions"].as_array().unwrap() {
            seen.push(s["handle"].as_str().unwrap().to_owned());
            assert!(s.get("token").is_none());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);

    let (_, page) = server
        .admin(Method::GET, "/v1/admin/sessions?user=odd")
        .await;
    let users: Vec<&str> = page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["odd", "odd"]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_gets_touches_and_revokes_by_handle() {
    let server = TestServer::start().await;
    let (token, handle) = server.login("carol").await;

    let (status, detail) = server
        .admin(Method::GET, &format!("/v1/admin/sessions/{handle}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(detail["session"]["handle"], handle.as_str());
    assert_eq!(detail["events"][0]["kind"], "created");
    assert!(
        !detail.to_string().contains(&token),
        "no token in admin answers"
    );

    let (status, touched) = server
        .admin(Method::POST, &format!("/v1/admin/sessions/{handle}/touch"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(touched["session"]["handle"], handle.as_str());

    let (status, body) = server
        .admin(Method::DELETE, &format!("/v1/admin/sessions/{handle}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revoked session's token is dead"
    );
    for (method, path) in [
        (Method::GET, format!("/v1/admin/sessions/{handle}")),
        (Method::POST, format!("/v1/admin/sessions/{handle}/touch")),
        (Method::DELETE, format!("/v1/admin/sessions/{handle}")),
    ] {
        let (status, body) = server.admin(method, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_code(&body), "no_such_session");
    }
    assert_eq!(server.stats().await["totals"]["revoked"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_revokes_every_session_of_one_user() {
    let server = TestServer::start().await;
    for _ in 0..3 {
        server.login("dave smith").await;
    }
    let (other, _) = server.login("erin").await;
    let (status, body) = server
        .admin(Method::DELETE, "/v1/admin/users/dave%20smith/sessions")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"revoked": 3}));
    assert_eq!(server.active().await, 1);
    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": other}))
        .await;
    assert_eq!(status, StatusCode::OK, "another user's session lives on");
    let (status, body) = server
        .admin(Method::DELETE, "/v1/admin/users/nobody/sessions")
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"revoked": 0})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_show_counts_policy_clock_version_and_instance() {
    let server = TestServer::start().await;
    server.login("frank").await;
    let stats = server.stats().await;
    assert_eq!(stats["active"], 1);
    assert_eq!(stats["peak"], 1);
    for key in [
        "logins",
        "touches",
        "renewals",
        "logged_out",
        "revoked",
        "expired_idle",
        "expired_absolute",
        "expired_closing_time",
    ] {
        assert!(stats["totals"][key].is_u64(), "totals.{key}");
    }
    assert_eq!(stats["policy"]["idle_timeout"], "15m");
    assert_eq!(stats["policy"]["absolute_timeout"], "8h");
    assert_eq!(stats["policy"]["closing_time"], Value::Null);
    assert!(stats["server_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(stats["instance"].as_str().unwrap().len(), 12);
    assert_eq!(stats["last_seq"], 1);
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                match (key.as_str(), item) {
                    ("$ref", Value::String(r)) => refs.push(r.clone()),
                    _ => collect_refs(item, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_route_the_router_serves() {
    let server = TestServer::start().await;
    let (status, doc) = read(server.call(Method::GET, "/openapi.json", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
        assert!(
            schemas.contains_key(name),
            "$ref {reference} does not resolve"
        );
    }
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");

    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            documented.push(format!("{} {path}", method.to_uppercase()));
            let public = ["/healthz", "/readyz", "/openapi.json"].contains(&path.as_str());
            assert_eq!(
                operation.get("security").is_none(),
                public,
                "{method} {path}: security requirement"
            );
            let success = match (method.as_str(), path.as_str()) {
                ("post", "/v1/sessions") => "201",
                ("delete", "/v1/admin/sessions/{handle}")
                | ("post", "/v1/sessions/logout")
                | ("post", "/v1/sessions/revoke") => "204",
                _ => "200",
            };
            let responses = operation["responses"].as_object().unwrap();
            assert!(responses.contains_key(success), "{method} {path}");
            // Answered before any handler, on every route.
            for status in ["408", "413", "503"] {
                assert!(responses.contains_key(status), "{method} {path} {status}");
            }
            for (status, response) in responses {
                if status.starts_with('4') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    documented.sort();
    let mut design = vec![
        "POST /v1/sessions",
        "POST /v1/sessions/touch",
        "POST /v1/sessions/renew",
        "POST /v1/sessions/logout",
        "POST /v1/sessions/mine",
        "POST /v1/sessions/revoke",
        "POST /v1/sessions/revoke-others",
        "GET /v1/admin/sessions",
        "GET /v1/admin/sessions/{handle}",
        "POST /v1/admin/sessions/{handle}/touch",
        "DELETE /v1/admin/sessions/{handle}",
        "DELETE /v1/admin/users/{user}/sessions",
        "GET /v1/admin/stats",
        "GET /v1/admin/events",
        "GET /metrics",
        "GET /healthz",
        "GET /readyz",
        "GET /openapi.json",
    ];
    design.sort();
    assert_eq!(documented, design);

    // Every documented operation is served: no `no_route` and no 405 for any of them.
    for route in &design {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{handle}", "0000000000000001")
            .replace("{user}", "nobody");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let response = if path.ends_with("/events") {
            // Only the head: the stream would not end.
            server.call(method, &path, Some(ADMIN), None).await
        } else {
            server
                .call(method, &path, Some(ADMIN), Some(json!({})))
                .await
        };
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route}");
        if status == StatusCode::NOT_FOUND {
            let (_, body) = read(response).await;
            assert_ne!(error_code(&body), "no_route", "{route}");
        }
    }
    // And a path outside the document is not served.
    let (status, body) = server.admin(Method::GET, "/v1/admin/unknown").await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "no_route")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sessions_and_requests_by_route_and_status() {
    let server = TestServer::start().await;
    let (token, _) = server.login("heidi").await;
    server
        .app_post("/v1/sessions/touch", json!({"token": token}))
        .await;
    server
        .app_post("/v1/sessions/touch", json!({"token": "nope"}))
        .await;
    let (status, text) = read_text(&server, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "sessiontop_active_sessions 1",
        "sessiontop_logins_total 1",
        "sessiontop_touches_total 1",
        "sessiontop_sessions_ended_total{reason=\"logged_out\"} 0",
        "sessiontop_expiry_lateness_seconds_bucket{le=\"+Inf\"} 0",
        "sessiontop_http_requests_total{method=\"POST\",route=\"/v1/sessions/touch\",status=\"200\"} 1",
        "sessiontop_http_requests_total{method=\"POST\",route=\"/v1/sessions/touch\",status=\"404\"} 1",
        "sessiontop_http_requests_total{method=\"POST\",route=\"/v1/sessions\",status=\"201\"} 1",
        "# TYPE sessiontop_expiry_lateness_seconds histogram",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(!text.contains(&token));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tokens_refuses_to_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = sessiontop::config::Config::default();
    let err = sessiontop::server::serve(config, listener, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("app token"), "{err}");
}

#[tokio::test]
async fn answers_that_carry_a_token_may_not_be_cached() {
    let server = TestServer::start().await;
    let response = server
        .client
        .post(server.url("/v1/sessions"))
        .bearer_auth(server_support::APP)
        .json(&json!({"user": "carol"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_token_in_the_url_is_refused_even_with_a_good_header() {
    let server = TestServer::start().await;
    let (_, handle) = server.login("dave").await;
    let response = server
        .client
        .delete(server.url(&format!(
            "/v1/admin/sessions/{handle}?token={}",
            server_support::ADMIN
        )))
        .bearer_auth(server_support::ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "token_in_url");
    assert_eq!(server.stats().await["active"], 1, "nothing changed");
}

#[tokio::test]
async fn a_query_string_where_a_route_reads_none_is_refused_and_never_echoed() {
    let server = TestServer::start().await;
    let (token, _) = server.login("erin").await;
    for path in [
        format!("/v1/sessions/logout?x={token}"),
        format!("/v1/sessions/touch?{token}"),
    ] {
        let response = server
            .client
            .post(server.url(&path))
            .bearer_auth(server_support::APP)
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&token), "{body}");
        assert_eq!(
            error_code(&serde_json::from_str(&body).unwrap()),
            "bad_query"
        );
    }
    let stats = server.stats().await;
    assert_eq!(
        (stats["active"].clone(), stats["totals"]["touches"].clone()),
        (json!(1), json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_states_what_the_server_enforces_and_links_its_operations() {
    use sessiontop::api::pattern;
    let server = TestServer::start().await;
    let (_, doc) = read(server.call(Method::GET, "/openapi.json", None, None).await).await;
    let login = &doc["components"]["schemas"]["LoginRequest"]["properties"];
    assert_eq!(login["user"]["maxLength"], 256);
    assert_eq!(login["user"]["pattern"], pattern::NOT_BLANK);
    assert!(
        login["user"]["description"]
            .as_str()
            .unwrap()
            .contains("bytes")
    );
    assert_eq!(login["idle_timeout"]["pattern"], pattern::DURATION);
    assert_eq!(login["absolute_timeout"]["pattern"], pattern::DURATION);
    let attributes = &login["attributes"];
    assert_eq!(attributes["maxProperties"], 32);
    assert_eq!(
        attributes["propertyNames"],
        json!({"minLength": 1, "maxLength": 64})
    );
    assert_eq!(attributes["additionalProperties"]["maxLength"], 1024);

    let mut operation_ids = Vec::new();
    let mut handles = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operation_ids.push(operation["operationId"].as_str().unwrap().to_owned());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                match parameter["name"].as_str().unwrap() {
                    "handle" => {
                        assert_eq!(
                            parameter["schema"]["pattern"],
                            pattern::HANDLE,
                            "{method} {path}"
                        );
                        handles += 1;
                    }
                    "cursor" => assert_eq!(parameter["schema"]["pattern"], pattern::CURSOR),
                    "user" if parameter["in"] == "path" => {
                        assert_eq!(parameter["schema"]["maxLength"], 256);
                    }
                    _ => {}
                }
            }
        }
    }
    assert_eq!(handles, 3, "get, touch and revoke by handle");
    let revoke_user = &doc["paths"]["/v1/admin/users/{user}/sessions"]["delete"]["responses"];
    assert_eq!(
        revoke_user["400"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody",
        "%FF in the user is a documented 400"
    );

    let links = |path: &str, method: &str, status: &str| {
        doc["paths"][path][method]["responses"][status]["links"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} {status} has links"))
            .clone()
    };
    let login_links = links("/v1/sessions", "post", "201");
    for name in ["touch", "renew", "logout"] {
        assert_eq!(login_links[name]["operationId"], name);
        assert_eq!(
            login_links[name]["requestBody"],
            json!({"token": "$response.body#/token"})
        );
    }
    let get_links = links("/v1/admin/sessions/{handle}", "get", "200");
    assert_eq!(get_links["revoke_session"]["operationId"], "revoke_session");
    assert_eq!(
        get_links["revoke_session"]["parameters"]["handle"],
        "$response.body#/session/handle"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap();
                    assert!(
                        operation_ids.iter().any(|id| id == target),
                        "{method} {path} {status} link {name} names {target}"
                    );
                }
            }
        }
    }
}

/// Every operation documents the 400s the query check gives before any
/// handler runs (`token_in_url` on every route, `bad_query` on every /v1
/// route) and the router's 405, and the server answers as documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_documents_the_400_and_405_every_operation_may_get() {
    let server = TestServer::start().await;
    let (_, doc) = read(server.call(Method::GET, "/openapi.json", None, None).await).await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let methods: Vec<&String> = item.as_object().unwrap().keys().collect();
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = &operation["responses"];
            let bad_request = responses["400"]["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} documents 400"));
            assert!(
                bad_request.contains("`token_in_url`"),
                "{method} {path}: {bad_request}"
            );
            let says_bad_query = bad_request.contains("`bad_query`");
            assert_eq!(
                says_bad_query,
                path.starts_with("/v1/"),
                "{method} {path}: {bad_request}"
            );
            assert_eq!(
                responses["400"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ErrorBody"
            );
            let not_allowed = responses["405"]["description"].as_str().unwrap_or_default();
            assert!(
                not_allowed.contains("`method_not_allowed`"),
                "{method} {path}: {not_allowed}"
            );

            let concrete = path
                .replace("{handle}", "0000000000000001")
                .replace("{user}", "nobody");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != Method::GET).then(|| json!({}));
            let server = &server;
            let call = |query: &str| {
                let url = format!("{concrete}?{query}");
                let (method, body) = (method.clone(), body.clone());
                async move { server.call(method, &url, Some(ADMIN), body).await }
            };
            let (status, answer) = read(call("token=abc").await).await;
            assert_eq!(
                (status, error_code(&answer)),
                (StatusCode::BAD_REQUEST, "token_in_url"),
                "{method} {path}?token=abc"
            );
            let response = call("x=1").await;
            let status = response.status();
            if says_bad_query {
                let (_, answer) = read(response).await;
                assert_eq!(
                    (status, error_code(&answer)),
                    (StatusCode::BAD_REQUEST, "bad_query"),
                    "{method} {path}?x=1"
                );
            } else {
                assert_ne!(status, StatusCode::BAD_REQUEST, "{method} {path}?x=1");
            }
            let other = ["get", "post", "delete", "patch"]
                .into_iter()
                .find(|m| !methods.iter().any(|taken| taken.as_str() == *m))
                .unwrap();
            let other = Method::from_bytes(other.to_uppercase().as_bytes()).unwrap();
            let response = server
                .call(other.clone(), &concrete, Some(ADMIN), None)
                .await;
            assert!(response.headers().contains_key("allow"), "{other} {path}");
            let (status, answer) = read(response).await;
            assert_eq!(
                (status, error_code(&answer)),
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
                "{other} {path}"
            );
        }
    }
    assert_eq!(operations, 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_cursor_fits_the_documented_pattern() {
    use sessiontop::api::pattern;
    let server = TestServer::start().await;
    for i in 0..3 {
        server.login(&format!("page-{i}")).await;
    }
    let (status, page) = server
        .admin(Method::GET, "/v1/admin/sessions?limit=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    let cursor = page["next_cursor"].as_str().unwrap();
    assert!(pattern::fits(pattern::CURSOR, cursor), "{cursor}");
}
