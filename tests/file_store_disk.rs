//! The file store on a disk that fills up or turns read-only: changes are
//! refused with `Unavailable` (the server's 503) while reads go on, nothing
//! answered is lost, and the store recovers by itself once it can write again.
//! Each test mounts its own small tmpfs, which needs root; under CI=true a
//! machine that cannot mount fails the test instead of skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sessiontop::engine::driver::DriverConfig;
use sessiontop::engine::{Login, Millis, Policy, VirtualClock};
use sessiontop::store::{Sessions, StoreError, StoreOptions, StoreQuery, StoreUrl, open};

const T0: Millis = 1_800_000_000_000;

/// A tmpfs of `size` mounted on a temporary directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and this machine cannot mount a tmpfs (the disk tests need root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("sessions.db")
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

async fn open_at(path: &Path) -> Result<Sessions, String> {
    let clock = Arc::new(VirtualClock::paused_at(T0));
    open(
        &StoreOptions {
            max_events: 1_000_000,
            max_event_age: Duration::from_secs(86_400),
            ..StoreOptions::new(StoreUrl::File(path.to_owned()))
        },
        Policy::default(),
        clock,
        DriverConfig::default(),
    )
    .await
    .map(|opened| opened.sessions)
    .map_err(|e| e.to_string())
}

async fn count(sessions: &Sessions) -> usize {
    let query = StoreQuery {
        limit: usize::MAX,
        ..StoreQuery::default()
    };
    sessions.list(query).await.unwrap().sessions.len()
}

/// Logs in until the store says it cannot write; returns how many logins were answered.
async fn fill(sessions: &Sessions) -> usize {
    let padding = "x".repeat(1000);
    for i in 0.. {
        let login = Login {
            attributes: Some([("note".to_owned(), padding.clone())].into()),
            ..Login::user(format!("user{i}"))
        };
        match sessions.login(login).await {
            Ok(_) => {}
            Err(StoreError::Unavailable(reason)) => {
                assert!(reason.contains("the disk is full"), "{reason}");
                return i;
            }
            Err(e) => panic!("unexpected {e}"),
        }
        if i % 50 == 0 {
            // Let the writer catch up, so the failure shows while the test runs.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(i < 100_000, "a 2 MB disk should be full long before this");
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_changes_keeps_reads_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let sessions = open_at(&disk.path()).await.unwrap();
    let answered = fill(&sessions).await;
    assert!(answered > 10, "some logins fit: {answered}");
    // Reads go on while writes fail.
    assert_eq!(count(&sessions).await, answered);
    assert!(sessions.stats().await.is_ok());
    assert!(matches!(
        sessions.login(Login::user("late")).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        count(&sessions).await,
        answered,
        "a refused login changes nothing"
    );
    // The server's /readyz says so.
    assert!(matches!(
        sessions.ready().await,
        Err(StoreError::Unavailable(_))
    ));

    disk.remount("size=64m");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sessions.login(Login::user("after")).await {
            Ok(_) => break,
            Err(StoreError::Unavailable(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
    sessions
        .ready()
        .await
        .expect("ready once writes succeed again");
    sessions.shutdown();
    drop(sessions);
    // Closing and reopening shows that every answered login was kept.
    let reopened = loop {
        match open_at(&disk.path()).await {
            Ok(sessions) => break sessions,
            Err(e) if e.contains("in use") => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(count(&reopened).await, answered + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_on_a_read_only_disk_is_named_at_start() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let sessions = open_at(&disk.path()).await.unwrap();
    sessions.login(Login::user("ada")).await.unwrap();
    sessions.shutdown();
    drop(sessions);
    disk.remount("ro");
    let message = open_at(&disk.path())
        .await
        .err()
        .expect("a read-only disk is refused");
    assert!(
        message.starts_with(&format!("cannot write {}", disk.path().display())),
        "{message}"
    );
    assert!(
        message.ends_with("make it writable, or give --store another file"),
        "{message}"
    );
    disk.remount("rw");
    let sessions = open_at(&disk.path()).await.unwrap();
    assert_eq!(count(&sessions).await, 1, "nothing was lost");
}
