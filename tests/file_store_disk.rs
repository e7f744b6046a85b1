//! The file store on a disk that fills up or turns read-only: changes are
//! refused with `Unavailable` (the server's 503) while reads go on, nothing
//! answered is lost, and the store recovers by itself once it can write again.
//! Each test mounts its own small tmpfs, which needs root; under CI=true a
//! machine that cannot mount fails the test instead of skipping it.

#[path = "support/ci.rs"]
mod ci;
use ci::on_ci;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sessiontop::engine::driver::DriverConfig;
use sessiontop::engine::{Login, Millis, Policy, VirtualClock};
use sessiontop::store::file::Fsync;
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
                !on_ci(),
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
    open_with(path, Fsync::EverySec).await
}

async fn open_with(path: &Path, fsync: Fsync) -> Result<Sessions, String> {
    let clock = Arc::new(VirtualClock::paused_at(T0));
    open(
        &StoreOptions {
            max_events: 1_000_000,
            max_event_age: Duration::from_secs(86_400),
            fsync,
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

/// Fills the disk of `dir` with a file, as `dd if=/dev/zero of=filler` does.
fn fill_disk(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut filler = std::fs::File::create(&path).unwrap();
    while filler.write_all(&[0; 4096]).is_ok() {}
    path
}

/// The first change after the disk fills passed the store's check before
/// the writer knew: the engine has made it. With `fsync = "always"` it was
/// answered 503 "nothing was changed" although it was made (a renew's old
/// token dead, the new one never given). Now it is kept and answered as
/// made, and what comes after is refused before it changes anything.
#[tokio::test(flavor = "multi_thread")]
async fn with_fsync_always_a_change_the_disk_fills_under_is_kept_and_later_ones_change_nothing() {
    let Some(disk) = SmallDisk::mount("2m") else {
        return;
    };
    let sessions = open_with(&disk.path(), Fsync::Always).await.unwrap();
    let (token, _) = sessions.login(Login::user("ada")).await.unwrap();
    let (other, _) = sessions.login(Login::user("bob")).await.unwrap();
    let filler = fill_disk(disk.dir.path());

    let (renewed, _) = sessions
        .renew(token.expose())
        .await
        .expect("the renew was made, so it is answered with its new token");
    assert!(sessions.mine(renewed.expose()).await.is_ok());
    assert!(sessions.mine(token.expose()).await.is_err());
    for _ in 0..3 {
        match sessions.logout(other.expose()).await {
            Err(StoreError::Unavailable(reason)) => {
                assert!(reason.contains("the disk is full"), "{reason}")
            }
            answer => panic!("a logout on a full disk: {answer:?}"),
        }
        assert!(
            sessions.mine(other.expose()).await.is_ok(),
            "the refused logout changed nothing"
        );
        assert!(matches!(
            sessions.login(Login::user("carol")).await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert_eq!(count(&sessions).await, 2, "the refused login made nothing");
    assert!(matches!(
        sessions.ready().await,
        Err(StoreError::Unavailable(_))
    ));

    std::fs::remove_file(filler).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match sessions.logout(other.expose()).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    }
    sessions.ready().await.expect("ready once there is room");
    sessions.shutdown();
    drop(sessions);
    let reopened = loop {
        match open_with(&disk.path(), Fsync::Always).await {
            Ok(sessions) => break sessions,
            Err(e) if e.contains("in use") => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(
        reopened.mine(renewed.expose()).await.is_ok(),
        "the renew was kept"
    );
    assert!(reopened.mine(token.expose()).await.is_err());
    assert_eq!(count(&reopened).await, 1);
}
