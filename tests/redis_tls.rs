//! Redis over TLS (`rediss://`): nodes that trust a private CA through
//! `[store] tls_ca_file` share their sessions and their event stream as over
//! plain text; every way the handshake can go wrong (a certificate no trusted
//! CA signed, one for another host, plain text on a rediss:// URL, TLS on a
//! redis:// URL) stops `serve` at start-up with one sentence that says why and
//! never shows a password; `#insecure` is refused rather than obeyed.
//!
//! Each test makes its own CA and server certificate with `openssl` and starts
//! its own TLS-only `redis-server` (tests/support/redis.rs).

mod support;

#[path = "support/redis.rs"]
mod redis_support;

use std::path::Path;
use std::time::Duration;

use redis_support::{RedisServer, TestCa};
use serde_json::json;
use support::server::{Server, client, start_failing};
use support::sse::Stream;

/// A config file in `dir` whose `[store]` trusts `ca`.
fn trusting(dir: &Path, ca: &TestCa) -> String {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntls_ca_file = {:?}\n",
            ca.ca_file().display().to_string()
        ),
    )
    .unwrap();
    config.display().to_string()
}

#[test]
fn two_nodes_that_trust_a_private_ca_share_sessions_and_events_over_tls() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    // This Redis has no plain-text port: every byte the nodes send is over TLS.
    let Some(redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = trusting(dir.path(), &ca);
    let url = redis.url();
    assert!(url.starts_with("rediss://localhost:"), "{url}");
    let a = Server::start(&["--store", &url, "--config", &config]);
    let b = Server::start(&["--store", &url, "--config", &config]);
    let client = client();
    let stream = Stream::open(&b, None);

    let (status, login) = a.post(&client, "/v1/sessions", json!({"user": "alice"}));
    assert_eq!(status, 201, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    let handle = login["session"]["handle"].as_str().unwrap().to_owned();
    let (status, touched) = b.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 200, "{touched}");
    assert_eq!(touched["session"]["handle"], handle.as_str());
    // Touch events are coalesced (one per second at most): wait for it before revoking.
    let seen = stream.until(Duration::from_secs(15), |seen| {
        seen.iter().any(|e| e.kind == "touched")
    });
    let (status, _) = a.admin(
        &client,
        reqwest::Method::DELETE,
        &format!("/v1/admin/sessions/{handle}"),
    );
    assert_eq!(status, 204);
    let rest = stream.until(Duration::from_secs(15), |seen| {
        seen.iter().any(|e| e.kind == "revoked")
    });

    let events: Vec<_> = seen.iter().chain(&rest).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "touched", "revoked"]);
    assert!(
        events
            .iter()
            .all(|e| e.data["session"]["handle"] == handle.as_str()),
        "{events:?}"
    );
    assert!(
        events.iter().all(|e| !e.data.to_string().contains(&token)),
        "a token reached the stream"
    );
    assert_eq!(events[2].data["actor"], "admin");

    // The revoke on A is the truth on B too.
    let (status, _) = b.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 404);
    let (status, stats) = b.admin(&client, reqwest::Method::GET, "/v1/admin/stats");
    assert_eq!(status, 200);
    assert_eq!(stats["active"], 0, "{stats}");
    assert_eq!(stats["totals"]["revoked"], 1, "{stats}");
    assert_eq!(stats["store"], url.as_str(), "{stats}");
}

/// A config file in `dir` whose `[store]` trusts `ca` and presents `cert` with `key`.
fn presenting(dir: &Path, ca: &TestCa, cert: &Path, key: &Path) -> String {
    let config = dir.join("client.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntls_ca_file = {:?}\ntls_cert_file = {:?}\ntls_key_file = {:?}\n",
            ca.ca_file().display().to_string(),
            cert.display().to_string(),
            key.display().to_string()
        ),
    )
    .unwrap();
    config.display().to_string()
}

/// Redis asks every client for a certificate (`tls-auth-clients yes`, its
/// default once TLS is on): a node that presents one its CA signed works; one
/// with none, or with a key that is not its certificate's, stops at start and
/// says which setting to fix.
#[test]
fn a_redis_that_asks_for_client_certificates_takes_nodes_that_present_one() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(redis) = RedisServer::start_mutual_tls(&ca) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = ca.client_files();
    let url = redis.url();

    let config = presenting(dir.path(), &ca, &cert, &key);
    let node = Server::start(&["--store", &url, "--config", &config]);
    let client = client();
    let (status, login) = node.post(&client, "/v1/sessions", json!({"user": "alice"}));
    assert_eq!(status, 201, "{login}");
    let token = login["token"].as_str().unwrap().to_owned();
    let (status, touched) = node.post(&client, "/v1/sessions/touch", json!({"token": token}));
    assert_eq!(status, 200, "{touched}");

    // No client certificate.
    let (_, stderr) = start_failing(&["--store", &url, "--config", &trusting(dir.path(), &ca)]);
    assert!(
        stderr.contains("asks for a TLS client certificate")
            && stderr.contains("tls_cert_file")
            && stderr.contains("tls_key_file"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");

    // The certificate with another key.
    let config = presenting(dir.path(), &ca, &cert, &ca.server_key_file());
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("tls_key_file is not the private key of tls_cert_file"),
        "{stderr}"
    );
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");

    // A key file that holds no key is named before any connection.
    let config = presenting(dir.path(), &ca, &cert, &ca.ca_file());
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("client certificate") && stderr.contains("are not usable"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_node_that_does_not_trust_the_certificate_stops_at_start_and_says_why() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(redis) = RedisServer::start_tls(&ca) else {
        return;
    };
    let port = redis.port();

    // No tls_ca_file: the system's trust store does not hold the private CA.
    let url = format!("rediss://app:hunter2hunter2@localhost:{port}/0");
    let (stdout, stderr) = start_failing(&["--store", &url]);
    assert!(
        stderr.contains(&format!("cannot use rediss://app:***@localhost:{port}/0"))
            && stderr.contains("certificate is not trusted")
            && stderr.contains("tls_ca_file"),
        "{stderr}"
    );
    // One sentence, after the warning that a password in --store is anyone's to read.
    let (warnings, errors): (Vec<&str>, Vec<&str>) = stderr
        .trim()
        .lines()
        .partition(|line| line.starts_with("sessiontop: warning:"));
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        warnings.len() == 1 && warnings[0].contains("password in --store"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Trusted, but reached by an address the certificate does not name.
    let dir = tempfile::tempdir().unwrap();
    let config = trusting(dir.path(), &ca);
    let url = format!("rediss://127.0.0.2:{port}/0");
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("certificate is not valid for the host") && stderr.contains("127.0.0.2"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn the_wrong_scheme_for_the_port_stops_at_start_and_says_which_to_use() {
    let Some(ca) = TestCa::generate() else {
        return;
    };
    let Some(tls) = RedisServer::start_tls(&ca) else {
        return;
    };
    let Some(plain) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = trusting(dir.path(), &ca);

    // redis:// against a Redis that speaks only TLS.
    let url = format!("redis://app:hunter2hunter2@localhost:{}/0", tls.port());
    let (_, stderr) = start_failing(&["--store", &url]);
    assert!(
        stderr.contains("redis://app:***@localhost:") && stderr.contains("use a rediss:// URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    // rediss:// against a plain-text Redis: no handshake ever completes.
    let url = format!("rediss://app:hunter2hunter2@localhost:{}/0", plain.port());
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("rediss://app:***@localhost:")
            && stderr.contains("TLS handshake")
            && stderr.contains("use a redis:// URL"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn skipping_certificate_checks_and_a_ca_file_without_tls_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    // No Redis is needed: these are refused before any connection.
    let port = 1;

    let url = format!("rediss://app:hunter2hunter2@localhost:{port}/0#insecure");
    let (_, stderr) = start_failing(&["--store", &url]);
    assert!(
        stderr.contains("#insecure")
            && stderr.contains("refuses")
            && stderr.contains("tls_ca_file"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let ca_file = dir.path().join("ca.pem");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\ntls_ca_file = {:?}\n",
            ca_file.display().to_string()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let url = format!("redis://localhost:{port}/0");
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("store.tls_ca_file") && stderr.contains("needs a rediss:// store URL"),
        "{stderr}"
    );

    // A CA file that is missing, or holds no certificate, is named at start.
    let url = format!("rediss://app:hunter2hunter2@localhost:{port}/0");
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("cannot read the Redis TLS CA file") && stderr.contains("ca.pem"),
        "{stderr}"
    );
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let (_, stderr) = start_failing(&["--store", &url, "--config", &config]);
    assert!(
        stderr.contains("ca.pem") && stderr.contains("holds no PEM certificate"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
