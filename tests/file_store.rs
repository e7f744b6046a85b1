//! The file store at library level: sessions, tokens and event numbers survive
//! closing and reopening; time that passed while closed ends what is due, once;
//! history beyond the in-memory ring comes from the file; bad files are refused
//! with a sentence that names them. Time is a paused virtual clock.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use sessiontop::engine::driver::{Delivery, DriverConfig};
use sessiontop::engine::{
    Clock, EventKind, ExpiryReason, Login, Millis, Policy, SessionView, State, VirtualClock,
};
use sessiontop::store::{OpenError, Sessions, StoreOptions, StoreQuery, StoreUrl, open};

const T0: Millis = 1_800_000_000_000;

fn policy() -> Policy {
    Policy {
        idle_timeout: Duration::from_secs(60),
        absolute_timeout: Duration::from_secs(3600),
        ..Policy::default()
    }
}

fn options(path: &Path) -> StoreOptions {
    StoreOptions {
        max_events: 1_000_000,
        max_event_age: Duration::from_secs(86_400),
        ..StoreOptions::new(StoreUrl::File(path.to_owned()))
    }
}

async fn open_at(
    path: &Path,
    clock: &Arc<VirtualClock>,
    history: usize,
) -> Result<(Sessions, usize), OpenError> {
    let opened = open(
        &options(path),
        policy(),
        clock.clone(),
        DriverConfig {
            history,
            subscriber_buffer: 1024,
        },
    )
    .await?;
    Ok((opened.sessions, opened.loaded))
}

async fn live(sessions: &Sessions) -> BTreeMap<String, SessionView> {
    let page = sessions
        .list(StoreQuery {
            limit: usize::MAX,
            ..StoreQuery::default()
        })
        .await
        .unwrap();
    page.sessions
        .into_iter()
        .map(|s| (s.handle.to_string(), s))
        .collect()
}

fn attributes(i: usize) -> Option<BTreeMap<String, String>> {
    Some(BTreeMap::from([
        ("ip".to_owned(), format!("192.0.2.{}", i % 250)),
        (
            "user_agent".to_owned(),
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0".to_owned(),
        ),
    ]))
}

#[tokio::test]
async fn sessions_tokens_and_event_numbers_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, loaded) = open_at(&path, &clock, 1000).await.unwrap();
    assert_eq!(loaded, 0);
    let mut tokens = Vec::new();
    for i in 0..200 {
        let login = Login {
            attributes: attributes(i),
            ..Login::user(format!("user{}", i % 17))
        };
        tokens.push(sessions.login(login).await.unwrap().0);
    }
    clock.step(Duration::from_secs(5));
    for token in tokens.iter().take(50) {
        sessions.touch(token.expose()).await.unwrap();
    }
    for token in &tokens[50..70] {
        sessions.logout(token.expose()).await.unwrap();
    }
    let (renewed, _) = sessions.renew(tokens[70].expose()).await.unwrap();
    let victim = live(&sessions)
        .await
        .into_values()
        .find(|s| s.user == "user3")
        .unwrap();
    sessions.revoke(victim.handle, "test").await.unwrap();
    let before = live(&sessions).await;
    let last_seq = sessions.stats().await.unwrap().last_seq;
    let instance = sessions.instance().to_owned();
    sessions.shutdown();
    drop(sessions);

    let (sessions, loaded) = open_at(&path, &clock, 1000).await.unwrap();
    assert_eq!(loaded, before.len());
    assert_eq!(sessions.instance(), instance, "the instance id is kept");
    assert_eq!(
        live(&sessions).await,
        before,
        "the same sessions, with their times and attributes"
    );
    // Touch every token: the live ones still work, the ended ones stay ended.
    let mut answered = 0;
    for (i, token) in tokens.iter().enumerate() {
        let result = sessions.touch(token.expose()).await;
        if (50..71).contains(&i) {
            assert!(
                result.is_err(),
                "token {i} ended (or was renewed) before the restart"
            );
        } else if result.is_ok() {
            answered += 1;
        }
    }
    assert_eq!(
        answered,
        before.len() - 1,
        "every live token but the renewed one's old token"
    );
    sessions.touch(renewed.expose()).await.unwrap();
    let (_, view) = sessions.login(Login::user("after")).await.unwrap();
    assert!(
        !before.contains_key(&view.handle.to_string()),
        "a new handle is new"
    );
    let stats = sessions.stats().await.unwrap();
    assert!(
        stats.last_seq > last_seq,
        "event numbers continue after {last_seq}"
    );
    let subscription = sessions.subscribe_after(last_seq).await.unwrap().unwrap();
    assert_eq!(
        subscription.backlog.first().unwrap().seq,
        last_seq + 1,
        "no gap, no reuse"
    );
    let seqs: Vec<u64> = subscription.backlog.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "in order, no gap"
    );
    assert_eq!(*seqs.last().unwrap(), stats.last_seq, "up to the newest");
}

#[tokio::test]
async fn sessions_whose_deadline_passed_while_closed_expire_once_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 1000).await.unwrap();
    for i in 0..20 {
        let login = Login {
            idle_timeout: Some(Duration::from_secs(2)),
            ..Login::user(format!("short{i}"))
        };
        sessions.login(login).await.unwrap();
    }
    let (keeper, _) = sessions.login(Login::user("keeper")).await.unwrap();
    let last_seq = sessions.stats().await.unwrap().last_seq;
    sessions.shutdown();
    drop(sessions);

    clock.step(Duration::from_secs(3));
    let (sessions, loaded) = open_at(&path, &clock, 1000).await.unwrap();
    assert_eq!(loaded, 21);
    let mut subscription = sessions.subscribe_after(last_seq).await.unwrap().unwrap();
    let mut expired = Vec::new();
    while expired.len() < 20 {
        let event = match subscription.backlog.pop() {
            Some(event) => event,
            None => match tokio::time::timeout(Duration::from_secs(5), subscription.next()).await {
                Ok(Some(Delivery::Event(event))) => std::sync::Arc::unwrap_or_clone(event),
                other => panic!("expected expiries, got {other:?}"),
            },
        };
        expired.push(event);
    }
    for event in &expired {
        assert_eq!(event.kind, EventKind::Expired);
        assert_eq!(event.reason, Some(ExpiryReason::Idle));
        assert_eq!(event.deadline, Some(T0 + 2_000), "the real deadline");
        assert_eq!(
            event.at,
            T0 + 3_000,
            "ended at start-up: late by the downtime"
        );
    }
    let mut users: Vec<_> = expired.iter().map(|e| e.session.user.to_string()).collect();
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 20, "one expired event each");
    sessions
        .touch(keeper.expose())
        .await
        .expect("the keeper's session continues");
    assert_eq!(live(&sessions).await.len(), 1);
}

#[tokio::test]
async fn a_stream_client_beyond_the_memory_history_catches_up_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    for i in 0..300 {
        sessions.login(Login::user(format!("u{i}"))).await.unwrap();
    }
    assert!(
        sessions.engine().unwrap().subscribe_after(3).is_err(),
        "the memory ring holds 16 events"
    );
    let subscription = sessions.subscribe_after(3).await.unwrap().unwrap();
    let seqs: Vec<u64> = subscription.backlog.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (4..=300).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new/dir/sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    let (token, _) = sessions.login(Login::user("ada")).await.unwrap();
    let raw = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        token.expose(),
    )
    .unwrap();
    let verifier = &raw[8..];
    sessions.shutdown();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let bytes = std::fs::read(&path).unwrap();
    let wal = std::fs::read(dir.path().join("new/dir/sessions.db-wal")).unwrap_or_default();
    for haystack in [&bytes, &wal] {
        let text = token.expose().as_bytes();
        assert!(
            !haystack.windows(text.len()).any(|w| w == text),
            "no token in the file"
        );
        assert!(
            !haystack.windows(verifier.len()).any(|w| w == verifier),
            "no verifier in the file"
        );
    }
}

async fn open_error(path: &Path) -> String {
    let clock = Arc::new(VirtualClock::paused_at(T0));
    match open_at(path, &clock, 16).await {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_file_that_is_not_a_store_is_refused_with_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "these are my notes, not a database\n".repeat(200)).unwrap();
    let message = open_error(&text).await;
    assert!(
        message.starts_with(&format!("{} is not a sessiontop store", text.display())),
        "{message}"
    );
    assert!(message.contains("give --store another file"), "{message}");
    assert!(
        std::fs::read_to_string(&text)
            .unwrap()
            .starts_with("these are my notes"),
        "the file is left as it was"
    );

    // An SQLite database of another program: a store with its application id changed.
    let other = dir.path().join("other.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&other, &clock, 16).await.unwrap();
    sessions.shutdown();
    drop(sessions);
    let mut bytes = checkpointed(&other);
    // The application id is the big-endian integer at offset 68 of the header.
    bytes[68..72].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    std::fs::write(&other, bytes).unwrap();
    let message = open_error(&other).await;
    assert!(
        message.contains("is not a sessiontop store (an SQLite database of another program)"),
        "{message}"
    );
}

/// A store file deleted (or moved away) under a running server: changes
/// are refused from then on, since a restart would not find them, and the
/// server says it is not ready, instead of answering into a file nothing
/// will read again.
#[tokio::test]
async fn a_store_file_deleted_under_the_server_turns_changes_away() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    sessions.login(Login::user("ann")).await.unwrap();
    sessions.ready().await.unwrap();
    std::fs::remove_file(&path).unwrap();
    let give_up = std::time::Instant::now() + Duration::from_secs(10);
    let reason = loop {
        match sessions.ready().await {
            Err(e) => break e.to_string(),
            Ok(()) => assert!(std::time::Instant::now() < give_up, "still ready"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        reason.contains("was deleted while the server ran"),
        "{reason}"
    );
    let refused = sessions.login(Login::user("ben")).await.unwrap_err();
    assert!(refused.to_string().contains("was deleted"), "{refused}");
    sessions.shutdown();
}

#[tokio::test]
async fn an_empty_file_is_refused_not_taken_for_a_new_store() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("sessions.db");
    std::fs::write(&empty, "").unwrap();
    let message = open_error(&empty).await;
    assert!(
        message.contains("is not a sessiontop store (it is empty: 0 bytes, perhaps truncated)"),
        "{message}"
    );
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "left as it was"
    );
}

#[tokio::test]
async fn another_programs_database_is_refused_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&other).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&other).unwrap();
    let message = open_error(&other).await;
    assert!(message.contains("another program"), "{message}");
    assert_eq!(
        std::fs::read(&other).unwrap(),
        before,
        "not even its journal mode changed"
    );
}

#[tokio::test]
async fn a_damaged_meta_table_or_session_row_is_said_to_be_damage_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    sessions.login(Login::user("ann")).await.unwrap();
    sessions.shutdown();
    drop(sessions);
    let good = std::fs::read(&path).unwrap();
    for (damage, said) in [
        (
            "DELETE FROM meta WHERE key = 'selector_keys'",
            "its selector keys are missing",
        ),
        (
            "DELETE FROM meta WHERE key = 'instance'",
            "its instance id is missing",
        ),
        (
            "UPDATE meta SET value = x'0102' WHERE key = 'last_seq'",
            "its last_seq is not a number",
        ),
        (
            "DELETE FROM meta WHERE key = 'last_seq'",
            "its last_seq is behind its events",
        ),
        // A row another store's keys made names any slot of 2^32: not a
        // table of billions, not a panic.
        (
            "UPDATE sessions SET handle = 3141592653589793",
            "was not made by this store",
        ),
        (
            "UPDATE sessions SET absolute_deadline = created - 1",
            "has impossible times",
        ),
        (
            "UPDATE sessions SET idle_timeout_ms = -5",
            "has an impossible idle timeout",
        ),
    ] {
        std::fs::write(&path, &good).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(damage).unwrap();
        drop(conn);
        let message = open_error(&path).await;
        assert!(
            message.contains("is damaged") && message.contains(said),
            "{damage}: {message}"
        );
    }
}

/// The bytes of a closed store: closing folds the WAL into the file.
fn checkpointed(path: &Path) -> Vec<u8> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    assert!(
        !Path::new(&wal).exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "a closed store leaves no WAL behind"
    );
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn a_store_from_a_newer_sessiontop_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    sessions.shutdown();
    drop(sessions);
    let mut bytes = checkpointed(&path);
    // user_version is the big-endian integer at offset 60 of the header.
    bytes[60..64].copy_from_slice(&7u32.to_be_bytes());
    std::fs::write(&path, bytes).unwrap();
    let message = open_error(&path).await;
    assert_eq!(
        message,
        format!(
            "{} was written by a newer sessiontop (store version 7; this one reads 1): run that newer sessiontop, or give --store another file",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_second_server_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (first, _) = open_at(&path, &clock, 16).await.unwrap();
    let message = open_error(&path).await;
    assert_eq!(
        message,
        format!(
            "{} is in use by another process (a second sessiontop serve?): stop that one, or give this server another --store",
            path.display()
        )
    );
    first
        .login(Login::user("ada"))
        .await
        .expect("the first one goes on");
}

#[tokio::test]
async fn a_damaged_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.db");
    let clock = Arc::new(VirtualClock::paused_at(T0));
    let (sessions, _) = open_at(&path, &clock, 16).await.unwrap();
    for i in 0..2000 {
        let login = Login {
            attributes: attributes(i),
            ..Login::user(format!("user{i}"))
        };
        sessions.login(login).await.unwrap();
    }
    sessions.shutdown();
    drop(sessions);
    let mut bytes = checkpointed(&path);
    let page = 4096;
    assert!(bytes.len() > 40 * page, "the store spans many pages");
    for b in &mut bytes[10 * page..30 * page] {
        *b = 0xEE;
    }
    std::fs::write(&path, &bytes).unwrap();
    let message = open_error(&path).await;
    assert!(
        message.starts_with(&format!("{} is damaged", path.display())),
        "{message}"
    );
    assert!(
        message.ends_with("restore it from a backup, or move it away to start with no sessions"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a damaged store is not touched"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Login(u8),
    Touch(usize),
    Renew(usize),
    Logout(usize),
    Revoke(usize),
    RevokeUser(u8),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6).prop_map(Op::Login),
        3 => any::<usize>().prop_map(Op::Touch),
        1 => any::<usize>().prop_map(Op::Renew),
        1 => any::<usize>().prop_map(Op::Logout),
        1 => any::<usize>().prop_map(Op::Revoke),
        1 => (0u8..6).prop_map(Op::RevokeUser),
        2 => (0u16..90).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any sequence of operations, persisted and reloaded, gives the same live
    /// sessions as the engine that made them, and every live token still works.
    #[test]
    fn persisted_and_reloaded_equals_the_engine(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sessions.db");
            let clock = Arc::new(VirtualClock::paused_at(T0));
            let (sessions, _) = open_at(&path, &clock, 64).await.unwrap();
            let mut tokens = Vec::new();
            for op in ops {
                match op {
                    Op::Login(u) => {
                        let login = Login { attributes: attributes(u as usize), ..Login::user(format!("u{u}")) };
                        tokens.push(sessions.login(login).await.unwrap().0);
                    }
                    Op::Touch(i) if !tokens.is_empty() => {
                        let _ = sessions.touch(tokens[i % tokens.len()].expose()).await;
                    }
                    Op::Renew(i) if !tokens.is_empty() => {
                        let i = i % tokens.len();
                        if let Ok((token, _)) = sessions.renew(tokens[i].expose()).await {
                            tokens[i] = token;
                        }
                    }
                    Op::Logout(i) if !tokens.is_empty() => {
                        let _ = sessions.logout(tokens[i % tokens.len()].expose()).await;
                    }
                    Op::Revoke(i) => {
                        let all = live(&sessions).await;
                        if let Some(s) = all.values().nth(i % all.len().max(1)) {
                            sessions.revoke(s.handle, "test").await.unwrap();
                        }
                    }
                    Op::RevokeUser(u) => {
                        sessions.revoke_user(&format!("u{u}"), "test").await.unwrap();
                    }
                    Op::Wait(s) => clock.step(Duration::from_secs(u64::from(s))),
                    _ => {}
                }
            }
            let before = live(&sessions).await;
            let last_seq = sessions.stats().await.unwrap().last_seq;
            sessions.shutdown();
            drop(sessions);
            let (sessions, _) = open_at(&path, &clock, 64).await.unwrap();
            let after = live(&sessions).await;
            assert_eq!(after, before);
            // Closing announces coalesced touches, so the count may have moved on.
            assert!(sessions.stats().await.unwrap().last_seq >= last_seq);
            let live_tokens = {
                let mut n = 0;
                for token in &tokens {
                    if let Ok(view) = sessions.touch(token.expose()).await {
                        assert_eq!(view.state, State::Active);
                        assert!(before.contains_key(&view.handle.to_string()));
                        n += 1;
                    }
                }
                n
            };
            assert_eq!(live_tokens, before.len(), "each live session answers to its latest token");
            let now = clock.now();
            assert!(after.values().all(|s| s.expires_at > now - 1));
        });
    }
}
