//! A user's own sessions and the limit on sessions per user, on the real
//! server over loopback: what a web app's "where you're logged in" page and
//! its login do with the app token alone.

mod server_support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use server_support::{TestServer, error_code};
use sessiontop::config::Config;
use sessiontop::store::StoreUrl;

#[path = "support/redis.rs"]
mod redis_support;

thread_local! {
    /// Set while a test runs again on another store (see `on_the_file_store`,
    /// `on_redis`): the store's URL, and what keeps the store alive.
    static STORE: std::cell::RefCell<Option<(StoreUrl, Box<dyn std::any::Any>)>> = const { std::cell::RefCell::new(None) };
}

/// A test server on the memory store, or on the store `STORE` names.
async fn start(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let url = STORE.with(|store| store.borrow().as_ref().map(|(url, _)| url.clone()));
    TestServer::start_with(|config| {
        config.store.url = url;
        tweak(config);
    })
    .await
}

/// Runs `test` with the server on the store `url`, kept alive by `guard`.
fn on_store(url: StoreUrl, guard: Box<dyn std::any::Any>, test: fn()) {
    STORE.with(|store| *store.borrow_mut() = Some((url, guard)));
    test();
    STORE.with(|store| store.borrow_mut().take());
}

fn handles(body: &Value) -> Vec<String> {
    body["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions: {body}"))
        .iter()
        .map(|s| s["handle"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_lists_only_the_users_own_sessions_with_the_callers_marked_once() {
    let server = start(|_| {}).await;
    let (alice1, h1) = server
        .login_with(
            json!({"user": "alice", "attributes": {"ip": "192.0.2.1", "user_agent": "Firefox"}}),
        )
        .await;
    let (_, h2) = server.login("alice").await;
    let (_, bob) = server.login("bob").await;

    let (status, body) = server
        .app_post("/v1/sessions/mine", json!({"token": alice1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(handles(&body), [h1.clone(), h2.clone()], "oldest first");
    assert!(!handles(&body).contains(&bob));
    let sessions = body["sessions"].as_array().unwrap();
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{body}");
    assert_eq!(current[0]["handle"], h1.as_str());
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[0]["attributes"]["user_agent"], "Firefox");
    for key in ["user", "created_at", "last_seen_at", "expires_at", "state"] {
        assert!(sessions[0].get(key).is_some(), "{key} in {body}");
    }
    let text = body.to_string();
    assert!(!text.contains(&alice1), "no token in the listing");

    let (status, body) = server
        .app_post("/v1/sessions/mine", json!({"token": "not-a-token"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_revokes_one_of_their_sessions_but_not_another_users() {
    let server = start(|_| {}).await;
    let (alice1, h1) = server.login("alice").await;
    let (alice2, h2) = server.login("alice").await;
    let (bob, bob_handle) = server.login("bob").await;

    // Another user's handle answers exactly like an unknown one.
    let (status, other) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": alice1, "handle": bob_handle}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, unknown) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": alice1, "handle": "0123456789abcdef"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&other), error_code(&unknown));
    assert_eq!(error_code(&other), "no_such_session");
    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": bob}))
        .await;
    assert_eq!(status, StatusCode::OK, "bob's session is untouched");

    let mut stream = server.events(None).await;
    let (status, body) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": alice1, "handle": h2}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let revoked = loop {
        let event = stream.next().await.expect("the revoke is on the stream");
        if event.event == "revoked" {
            break event;
        }
    };
    assert_eq!(revoked.data["session"]["handle"], h2.as_str());
    assert_eq!(revoked.data["actor"], format!("session {h1}"));
    assert!(revoked.data.get("reason").is_none());

    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": alice2}))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the revoked session has ended"
    );
    let (status, body) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": alice1, "handle": "xyz"}),
        )
        .await;
    assert!(status.is_client_error(), "{status} {body}");
    error_code(&body);
}

/// Every request that shows a token touches its session (DESIGN): listing
/// "mine", revoking one of mine and revoking the others are activity too,
/// announced as any touch is; a refused request changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_or_revoking_through_a_token_touches_the_callers_session() {
    // Every touch announced at once, so each is seen on the stream.
    let server =
        start(|config| config.policy.touch_event_interval = std::time::Duration::ZERO).await;
    let (caller, me) = server.login("alice").await;
    let (_, second) = server.login("alice").await;
    let (_, third) = server.login("alice").await;
    let (_, bob) = server.login("bob").await;
    let mut stream = server.events(None).await;
    let mut next = async || {
        let event = stream.next().await.expect("an event");
        (event.event, event.data["session"].clone())
    };

    let (status, mine) = server
        .app_post("/v1/sessions/mine", json!({"token": caller}))
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let (kind, touched) = next().await;
    assert_eq!(
        (kind.as_str(), touched["handle"].as_str()),
        ("touched", Some(me.as_str()))
    );
    let listed = mine["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()
        .clone();
    assert_eq!(
        listed["last_seen_at"], touched["last_seen_at"],
        "the listing shows the touch"
    );
    assert_eq!(listed["idle_expires_at"], touched["idle_expires_at"]);

    // Refused: another user's session. No event, no touch.
    let (status, _) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": caller, "handle": bob}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": caller, "handle": second}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (kind, ended) = next().await;
    assert_eq!(
        (kind.as_str(), ended["handle"].as_str()),
        ("revoked", Some(second.as_str())),
        "the refused revoke made no event"
    );
    let (kind, touched) = next().await;
    assert_eq!(
        (kind.as_str(), touched["handle"].as_str()),
        ("touched", Some(me.as_str()))
    );

    let (status, body) = server
        .app_post("/v1/sessions/revoke-others", json!({"token": caller}))
        .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"revoked": 1})));
    let (kind, ended) = next().await;
    assert_eq!(
        (kind.as_str(), ended["handle"].as_str()),
        ("revoked", Some(third.as_str()))
    );
    let (kind, touched) = next().await;
    assert_eq!(
        (kind.as_str(), touched["handle"].as_str()),
        ("touched", Some(me.as_str()))
    );

    // Revoking its own session ends it, with no touch after.
    let (status, _) = server
        .app_post(
            "/v1/sessions/revoke",
            json!({"token": caller, "handle": me}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (kind, ended) = next().await;
    assert_eq!(
        (kind.as_str(), ended["handle"].as_str()),
        ("revoked", Some(me.as_str()))
    );
    server.login("carol").await;
    let (kind, _) = next().await;
    assert_eq!(
        kind, "created",
        "nothing came between the caller's end and the next login"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_others_keeps_exactly_the_callers_session() {
    let server = start(|_| {}).await;
    let mut alice = Vec::new();
    for _ in 0..4 {
        alice.push(server.login("alice").await);
    }
    let (_, bob) = server.login("bob").await;
    let (caller, kept) = alice[1].clone();

    let (status, body) = server
        .app_post("/v1/sessions/revoke-others", json!({"token": caller}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"revoked": 3}));
    let (_, mine) = server
        .app_post("/v1/sessions/mine", json!({"token": caller}))
        .await;
    assert_eq!(handles(&mine), [kept]);
    let (status, _) = server
        .admin(Method::GET, &format!("/v1/admin/sessions/{bob}"))
        .await;
    assert_eq!(status, StatusCode::OK, "other users keep theirs");
    let (_, body) = server
        .app_post("/v1/sessions/revoke-others", json!({"token": caller}))
        .await;
    assert_eq!(body, json!({"revoked": 0}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_limit_the_oldest_session_is_evicted_with_its_reason_on_the_stream() {
    let server = start(|config| {
        config.policy.max_sessions_per_user = Some(2);
    })
    .await;
    let (oldest_token, oldest) = server.login("alice").await;
    server.login("alice").await;
    let mut stream = server.events(None).await;

    let (_, newest) = server.login("alice").await;
    let events = stream.take(2).await;
    assert_eq!(events[0].event, "revoked");
    assert_eq!(events[0].data["reason"], "evicted");
    assert_eq!(events[0].data["limit"], 2);
    assert_eq!(events[0].data["session"]["handle"], oldest.as_str());
    assert_eq!(events[1].event, "created");
    assert_eq!(events[1].data["session"]["handle"], newest.as_str());
    assert_eq!(events[1].seq(), events[0].seq() + 1, "evicted right before");

    let (status, _) = server
        .app_post("/v1/sessions/touch", json!({"token": oldest_token}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stats = server.stats().await;
    assert_eq!(stats["totals"]["evicted"], 1);
    assert_eq!(stats["active"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_over_the_limit_the_login_is_409_and_nothing_changes() {
    let server = start(|config| {
        config.policy.max_sessions_per_user = Some(2);
        config.policy.on_limit = sessiontop::engine::OnLimit::Refuse;
    })
    .await;
    server.login("alice").await;
    server.login("alice").await;
    let before = server.stats().await;

    let (status, body) = server
        .app_post("/v1/sessions", json!({"user": "alice"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&body), "session_limit");
    assert!(body["message"].as_str().unwrap().contains('2'), "{body}");
    let after = server.stats().await;
    assert_eq!(after["last_seq"], before["last_seq"], "no event");
    assert_eq!(after["active"], 2);
    assert_eq!(after["totals"], before["totals"]);
    // Another user still logs in.
    server.login("bob").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_may_ask_for_a_lower_limit_but_not_a_higher_one() {
    let server = start(|config| {
        config.policy.max_sessions_per_user = Some(3);
    })
    .await;
    let (status, body) = server
        .app_post(
            "/v1/sessions",
            json!({"user": "alice", "max_sessions_per_user": 4}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&body), "limit_out_of_bounds");
    assert!(body["message"].as_str().unwrap().contains('3'), "{body}");
    // Whole numbers too large or too small to hold get the same answer, with
    // the server's real bounds (not a bound of the wire type's).
    for asked in [
        json!(99999999999999999999u128 as f64),
        json!(5_000_000_000u64),
        json!(0),
        json!(-3),
        // Whole floats are whole numbers (1.0 is 1, below), held as such.
        json!(0.0),
        json!(4294967296.0),
        json!(1e300),
    ] {
        let (status, body) = server
            .app_post(
                "/v1/sessions",
                json!({"user": "alice", "max_sessions_per_user": asked}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{asked}");
        assert_eq!(error_code(&body), "limit_out_of_bounds", "{asked}");
        assert_eq!(
            body["message"],
            "max_sessions_per_user must be a whole number from 1 to 3 on this server",
            "{asked}"
        );
    }
    let (status, body) = server
        .app_post(
            "/v1/sessions",
            json!({"user": "alice", "max_sessions_per_user": 2.5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "`max_sessions_per_user` must be a whole number"
    );
    assert_eq!(server.active().await, 0);

    server.login("alice").await;
    // 1.0 is the whole number 1 (JSON Schema's integer), as some clients write it.
    let (_, second) = server
        .login_with(json!({"user": "alice", "max_sessions_per_user": 1.0}))
        .await;
    let (status, mine) = server
        .app_post(
            "/v1/sessions/mine",
            json!({"token": server.login_with(json!({"user": "alice", "max_sessions_per_user": 2})).await.0}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(handles(&mine).len(), 2);
    assert_eq!(handles(&mine)[0], second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_has_the_new_routes_error_and_reason() {
    let server = start(|_| {}).await;
    let response = server.call(Method::GET, "/openapi.json", None, None).await;
    let doc: Value = response.json().await.unwrap();
    for path in [
        "/v1/sessions/mine",
        "/v1/sessions/revoke",
        "/v1/sessions/revoke-others",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    assert!(
        doc["paths"]["/v1/sessions"]["post"]["responses"]["409"].is_object(),
        "login documents 409 session_limit"
    );
    let text = doc.to_string();
    assert!(text.contains("evicted"), "the evicted reason is documented");
    assert!(text.contains("max_sessions_per_user"));
}

/// Every test above once more, with the server on a file store.
mod on_the_file_store {
    fn on_file(test: fn()) {
        let dir = tempfile::tempdir().unwrap();
        let url = super::StoreUrl::File(dir.path().join("sessions.db"));
        super::on_store(url, Box::new(dir), test);
    }

    #[test]
    fn mine_lists_only_the_users_own_sessions_with_the_callers_marked_once() {
        on_file(super::mine_lists_only_the_users_own_sessions_with_the_callers_marked_once)
    }

    #[test]
    fn a_user_revokes_one_of_their_sessions_but_not_another_users() {
        on_file(super::a_user_revokes_one_of_their_sessions_but_not_another_users)
    }

    #[test]
    fn revoke_others_keeps_exactly_the_callers_session() {
        on_file(super::revoke_others_keeps_exactly_the_callers_session)
    }

    #[test]
    fn listing_or_revoking_through_a_token_touches_the_callers_session() {
        on_file(super::listing_or_revoking_through_a_token_touches_the_callers_session)
    }

    #[test]
    fn over_the_limit_the_oldest_session_is_evicted_with_its_reason_on_the_stream() {
        on_file(super::over_the_limit_the_oldest_session_is_evicted_with_its_reason_on_the_stream)
    }

    #[test]
    fn refused_over_the_limit_the_login_is_409_and_nothing_changes() {
        on_file(super::refused_over_the_limit_the_login_is_409_and_nothing_changes)
    }

    #[test]
    fn a_login_may_ask_for_a_lower_limit_but_not_a_higher_one() {
        on_file(super::a_login_may_ask_for_a_lower_limit_but_not_a_higher_one)
    }
}

/// Every test above once more, with the server on a Redis store of its own.
mod on_redis {
    fn on_redis(test: fn()) {
        let Some(redis) = super::redis_support::RedisServer::start() else {
            return;
        };
        let url = super::StoreUrl::Redis(redis.url());
        super::on_store(url, Box::new(redis), test);
    }

    #[test]
    fn mine_lists_only_the_users_own_sessions_with_the_callers_marked_once() {
        on_redis(super::mine_lists_only_the_users_own_sessions_with_the_callers_marked_once)
    }

    #[test]
    fn a_user_revokes_one_of_their_sessions_but_not_another_users() {
        on_redis(super::a_user_revokes_one_of_their_sessions_but_not_another_users)
    }

    #[test]
    fn revoke_others_keeps_exactly_the_callers_session() {
        on_redis(super::revoke_others_keeps_exactly_the_callers_session)
    }

    #[test]
    fn listing_or_revoking_through_a_token_touches_the_callers_session() {
        on_redis(super::listing_or_revoking_through_a_token_touches_the_callers_session)
    }

    #[test]
    fn over_the_limit_the_oldest_session_is_evicted_with_its_reason_on_the_stream() {
        on_redis(super::over_the_limit_the_oldest_session_is_evicted_with_its_reason_on_the_stream)
    }

    #[test]
    fn refused_over_the_limit_the_login_is_409_and_nothing_changes() {
        on_redis(super::refused_over_the_limit_the_login_is_409_and_nothing_changes)
    }

    #[test]
    fn a_login_may_ask_for_a_lower_limit_but_not_a_higher_one() {
        on_redis(super::a_login_may_ask_for_a_lower_limit_but_not_a_higher_one)
    }
}
