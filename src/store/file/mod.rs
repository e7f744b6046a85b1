//! The file store: the in-process engine, written behind to an SQLite file.
//!
//! The engine tells the store of every change (its event, and the session's
//! record as it now stands) under the engine lock; the store only queues it.
//! One writer thread drains the queue and commits everything waiting in one
//! transaction (group commit), so a request never waits for a disk unless
//! `fsync = "always"` asks it to wait for its own commit. Within a batch the
//! last state of a session wins, so coalesced touches cost one row write.
//! Events are kept too, so a stream client that fell behind the in-memory
//! history catches up from the file, within the retention (age and count).
//!
//! When a write fails (a full disk), the writer keeps the batch, says the
//! store is unavailable (changes not yet made get 503) and retries until the
//! disk has room again. A change already made when the disk fills is kept
//! and answered as made: the writer commits it into room it kept back for
//! that (`writer`'s reserve). It must not hold session rules of its own.

mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::watch;

use crate::engine::persist::{Change, ChangeSink, Restored};
use crate::engine::token::SelectorCodec;
use crate::engine::{Event, TooOld};

use super::StoreError;
pub use schema::FileStoreError;

/// When an answered change is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fsync {
    /// The WAL is synced once a second: an OS crash or power cut loses at most
    /// about the last second; a crash of sessiontop alone loses nothing committed.
    #[default]
    EverySec,
    /// A login, logout, revoke or renew is answered only once it is synced.
    Always,
}

impl std::str::FromStr for Fsync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "everysec" => Ok(Fsync::EverySec),
            "always" => Ok(Fsync::Always),
            other => Err(format!(
                "{other:?} is not an fsync mode: use \"everysec\" or \"always\""
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileOptions {
    pub path: PathBuf,
    pub fsync: Fsync,
    /// Events kept for stream clients that fell behind, at most this many…
    pub max_events: u64,
    /// …and none older than this.
    pub max_event_age: Duration,
}

/// A store file that is open, with what it held.
pub struct Opened {
    pub store: Arc<FileStore>,
    pub instance: String,
    pub restored: Restored,
}

/// What the writer thread and the request side share.
struct Shared {
    /// Batches handed to the writer so far.
    submitted: AtomicU64,
    /// Batches the writer has committed so far.
    committed: watch::Sender<u64>,
    /// The newest event seq committed to the file.
    written: watch::Sender<u64>,
    /// Why the store refuses changes, while it does: a commit failed, or
    /// the writer could not keep its reserve.
    failure: Mutex<Option<String>>,
    /// The writer stopped with changes it could not write (at shutdown).
    gave_up: std::sync::atomic::AtomicBool,
}

pub struct FileStore {
    path: PathBuf,
    fsync: Fsync,
    shared: Arc<Shared>,
    queue: Mutex<Option<mpsc::Sender<Vec<Change>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// A second connection for reading history while the writer writes.
    reader: Mutex<Option<Connection>>,
}

impl FileStore {
    /// Opens the store at `options.path` (creating it if need be), reads back
    /// its sessions and starts the writer.
    pub fn open(options: FileOptions) -> Result<Opened, FileStoreError> {
        let path = options.path.clone();
        let db = schema::Database::open(&path, options.fsync == Fsync::Always)?;
        let sqlite = |e| FileStoreError::from_sqlite(&path, e);
        let (instance, mut restored) = db.load()?;
        let instance = match instance {
            Some(instance) => instance,
            None => {
                // A new store: its identity and keys are written before anything else.
                let instance = crate::engine::driver::random_instance();
                let keys = SelectorCodec::default().keys();
                db.conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('instance', ?1), ('selector_keys', ?2)",
                        rusqlite::params![instance.as_bytes(), schema::encode_keys(&keys)],
                    )
                    .map_err(sqlite)?;
                restored.selector_keys = Some(keys);
                instance
            }
        };
        let reader = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        let shared = Arc::new(Shared {
            submitted: AtomicU64::new(0),
            committed: watch::Sender::new(0),
            written: watch::Sender::new(restored.last_seq),
            failure: Mutex::new(None),
            gave_up: std::sync::atomic::AtomicBool::new(false),
        });
        let (queue, receiver) = mpsc::channel();
        let writer = writer::Writer::new(db, &restored, &options, shared.clone());
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| FileStoreError::Open {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        let store = Arc::new(FileStore {
            path,
            fsync: options.fsync,
            shared,
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            reader: Mutex::new(Some(reader)),
        });
        Ok(Opened {
            store,
            instance,
            restored,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `Unavailable` while writes to the file fail, or the disk has not the
    /// room the writer keeps back: a change now could not be kept. Asked
    /// before the engine makes a change, so the 503 it becomes is true:
    /// nothing was changed.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        match &*lock(&self.shared.failure) {
            Some(reason) => Err(StoreError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }

    /// Whether each commit is synced (`fsync = "always"`).
    pub fn syncs_every_commit(&self) -> bool {
        self.fsync == Fsync::Always
    }

    /// Waits until every change made so far is committed: written to the
    /// file, so a crash of this process loses none of them, and with
    /// `fsync = "always"` synced, so a crash of the machine does not either.
    /// Called after the engine made a
    /// change, so it does not fail while the disk does: a 503 now would say
    /// nothing was changed, and the change is made and held by the writer,
    /// which commits it into its reserve when the disk fills, or else once
    /// the disk has room. Only a writer that stopped without writing it
    /// (a server shutting down on a full disk) makes this fail.
    pub async fn durable(&self) -> Result<(), StoreError> {
        let target = self.shared.submitted.load(Ordering::SeqCst);
        let mut committed = self.shared.committed.subscribe();
        loop {
            if *committed.borrow_and_update() >= target {
                return Ok(());
            }
            if self.shared.gave_up.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable(format!(
                    "{} stopped before this change could be written",
                    self.path.display()
                )));
            }
            // Woken by every commit; the timeout re-checks for a writer that gave up.
            let _ = tokio::time::timeout(Duration::from_millis(250), committed.changed()).await;
        }
    }

    /// Waits until the event `seq` and those before it are committed: the
    /// event stream sends none before, so no id a client has seen can be
    /// given again to another event after a crash.
    pub async fn written(&self, seq: u64) {
        let mut written = self.shared.written.subscribe();
        let _ = written.wait_for(|&newest| newest >= seq).await;
    }

    /// Waits until every change made so far is committed (whatever the fsync
    /// mode), so the file's history holds them. Gives up after `patience`.
    pub async fn committed(&self, patience: Duration) -> bool {
        let target = self.shared.submitted.load(Ordering::SeqCst);
        let mut committed = self.shared.committed.subscribe();
        tokio::time::timeout(patience, committed.wait_for(|&c| c >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Up to `limit` committed events after `seq`, oldest first; `TooOld` if
    /// the retention has dropped some of them.
    pub fn events_after(
        &self,
        seq: u64,
        limit: usize,
    ) -> Result<Result<Vec<Event>, TooOld>, StoreError> {
        let reader = lock(&self.reader);
        let Some(reader) = reader.as_ref() else {
            return Err(StoreError::Unavailable(format!(
                "{} is closed",
                self.path.display()
            )));
        };
        let unavailable = |e: rusqlite::Error| {
            StoreError::Unavailable(format!("cannot read {}: {e}", self.path.display()))
        };
        let oldest: Option<i64> = reader
            .query_row("SELECT min(seq) FROM events", [], |r| r.get(0))
            .optional()
            .map_err(unavailable)?
            .flatten();
        if oldest.is_some_and(|oldest| seq + 1 < oldest as u64) {
            return Ok(Err(TooOld { asked: seq }));
        }
        let mut statement = reader
            .prepare_cached("SELECT event FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
            .map_err(unavailable)?;
        let rows = statement
            .query_map(rusqlite::params![seq as i64, limit as i64], |r| {
                r.get::<_, String>(0)
            })
            .map_err(unavailable)?;
        let mut events = Vec::new();
        for row in rows {
            let json = row.map_err(unavailable)?;
            let event: Event = serde_json::from_str(&json).map_err(|e| {
                StoreError::Unavailable(format!(
                    "an event in {} is unreadable: {e}",
                    self.path.display()
                ))
            })?;
            events.push(event);
        }
        Ok(Ok(events))
    }

    /// Commits and syncs everything queued, then stops the writer. Later
    /// changes are not kept. Called once the server has stopped answering.
    pub fn close(&self) {
        drop(lock(&self.queue).take());
        if let Some(writer) = lock(&self.writer).take() {
            let _ = writer.join();
        }
        drop(lock(&self.reader).take());
    }
}

impl ChangeSink for FileStore {
    fn record(&self, changes: Vec<Change>) {
        if let Some(queue) = &*lock(&self.queue) {
            self.shared.submitted.fetch_add(1, Ordering::SeqCst);
            // The writer only stops after `close`, which takes the queue first.
            let _ = queue.send(changes);
        }
    }
}

impl Drop for FileStore {
    fn drop(&mut self) {
        self.close();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
