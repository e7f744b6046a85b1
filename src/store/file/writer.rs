//! The file store's one writer: group commits of queued changes, the
//! once-a-second sync, event retention, and riding out a failing disk.
//!
//! A change is refused (503, "nothing was changed") only before the engine
//! makes it, while the writer's last commit failed; one that passed that
//! check is already made when the disk fills under it. So the writer keeps a
//! reserve: a file of `RESERVE_BYTES` beside the store (`<store>-reserve`),
//! allocated while the disk has room. When a commit finds the disk full, the
//! writer first marks the store unavailable (so new changes are refused
//! before they are made), then gives the reserve back to the disk and commits
//! again: the changes already made are kept and answered as made. The store
//! takes changes again once the reserve can be allocated anew.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::params;

use super::schema::Database;
use super::{FileOptions, Fsync, Shared, lock};
use crate::engine::persist::{Change, Restored};
use crate::engine::token::SelectorCodec;
use crate::engine::{EventKind, Millis};

/// Changes in one transaction at most, so one commit never takes long.
const MAX_BATCH: usize = 100_000;
/// How often the WAL is synced with `fsync = "everysec"`.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// How often old events are dropped, and how many per pass.
const PRUNE_EVERY: Duration = Duration::from_secs(5);
const PRUNE_CHUNK: i64 = 50_000;
/// How long to wait before retrying a failed commit, or allocating the reserve again.
const RETRY_AFTER: Duration = Duration::from_millis(250);
/// The room kept back for the changes already made when the disk fills: a
/// commit of a few changes writes a few 4 KiB pages to the WAL, and those made
/// meanwhile come in one group commit.
pub(super) const RESERVE_BYTES: u64 = 256 * 1024;

pub(super) struct Writer {
    db: Database,
    shared: Arc<Shared>,
    fsync: Fsync,
    max_events: i64,
    max_event_age: Millis,
    codec: SelectorCodec,
    /// Above every generation issued so far (kept so no handle is issued twice).
    generation_floor: u32,
    last_seq: u64,
    last_time: Millis,
    /// Changes not yet committed, and how many queued batches they came in.
    pending: Vec<Change>,
    pending_batches: u64,
    committed: u64,
    unsynced: bool,
    last_sync: Instant,
    last_prune: Instant,
    /// When the file was last checked to be where it was opened, and
    /// whether it is not (deleted, moved): changes are refused until a restart.
    last_check: Instant,
    gone: bool,
    /// Failed commits after the queue closed: a disk that stays full cannot
    /// hold a stopping server forever.
    shutdown_tries: u32,
    /// `<store>-reserve`, and whether it is allocated (else changes are refused).
    reserve: std::path::PathBuf,
    reserve_held: bool,
    last_reserve_try: Instant,
}

impl Writer {
    pub(super) fn new(
        db: Database,
        restored: &Restored,
        options: &FileOptions,
        shared: Arc<Shared>,
    ) -> Writer {
        Writer {
            db,
            shared,
            fsync: options.fsync,
            max_events: options.max_events.min(i64::MAX as u64) as i64,
            max_event_age: options.max_event_age.as_millis().min(i64::MAX as u128) as Millis,
            codec: SelectorCodec::from_keys(
                restored.selector_keys.expect("a store always has keys"),
            ),
            generation_floor: restored.generation_floor,
            last_seq: restored.last_seq,
            last_time: restored.last_time,
            pending: Vec::new(),
            pending_batches: 0,
            committed: 0,
            unsynced: false,
            last_sync: Instant::now(),
            last_prune: Instant::now(),
            last_check: Instant::now(),
            gone: false,
            shutdown_tries: 0,
            reserve: reserve_path(&options.path),
            reserve_held: false,
            last_reserve_try: Instant::now(),
        }
    }

    /// Runs until the queue is closed and everything in it is committed and synced.
    pub(super) fn run(mut self, queue: Receiver<Vec<Change>>) {
        let mut open = true;
        self.hold_reserve();
        loop {
            if open && self.pending.is_empty() {
                let wait = if self.reserve_held {
                    SYNC_EVERY
                } else {
                    RETRY_AFTER
                };
                match queue.recv_timeout(wait) {
                    Ok(changes) => self.take(changes),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => open = false,
                }
            }
            while open && self.pending.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(changes) => self.take(changes),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            if !self.pending.is_empty() {
                match self.commit() {
                    Ok(()) => self.recovered(),
                    Err(e) if is_full(&e) && self.reserve_held => {
                        // Refuse what comes next first, then make room for
                        // what was made already and commit it again at once.
                        self.failing(&e);
                        self.release_reserve();
                        continue;
                    }
                    Err(e) => {
                        self.failing(&e);
                        if !open {
                            self.shutdown_tries += 1;
                        }
                        if self.shutdown_tries > 20 {
                            tracing::error!(
                                "giving up: {} changes could not be written",
                                self.pending.len()
                            );
                            self.shared.gave_up.store(true, Ordering::SeqCst);
                            return;
                        }
                        std::thread::sleep(RETRY_AFTER);
                        continue;
                    }
                }
            }
            if !self.reserve_held && self.last_reserve_try.elapsed() >= RETRY_AFTER {
                self.hold_reserve();
            }
            if self.fsync == Fsync::EverySec
                && self.unsynced
                && (!open || self.last_sync.elapsed() >= SYNC_EVERY)
            {
                self.sync();
            }
            if !self.gone && self.last_check.elapsed() >= SYNC_EVERY {
                self.check_file();
            }
            if self.last_prune.elapsed() >= PRUNE_EVERY {
                self.last_prune = Instant::now();
                if let Err(e) = self.prune() {
                    tracing::warn!(
                        "dropping old events from {} failed: {e}",
                        self.db.path.display()
                    );
                }
            }
            if !open && self.pending.is_empty() {
                self.sync();
                // Fold the WAL into the file, so a stopped store is one file to back up.
                let checkpoint =
                    self.db
                        .conn
                        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                if let Err(e) = checkpoint {
                    tracing::warn!(
                        "folding the WAL into {} failed: {e}",
                        self.db.path.display()
                    );
                }
                // The next start allocates it again.
                if self.reserve_held {
                    let _ = std::fs::remove_file(&self.reserve);
                }
                return;
            }
        }
    }

    fn take(&mut self, changes: Vec<Change>) {
        self.pending.extend(changes);
        self.pending_batches += 1;
    }

    /// Writes every pending change in one transaction: a new session whole,
    /// then only the last activity or renewal of each session in the batch
    /// (its record's only fields that change); every event is kept.
    fn commit(&mut self) -> rusqlite::Result<()> {
        let mut last_change: HashMap<u64, usize> = HashMap::with_capacity(self.pending.len());
        for (i, change) in self.pending.iter().enumerate() {
            last_change.insert(change.event.session.handle.0, i);
        }
        let (mut last_seq, mut last_time, mut floor) =
            (self.last_seq, self.last_time, self.generation_floor);
        let tx = self.db.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO sessions (handle, verifier_hash, user, attributes, created,
                                                  last_seen, idle_timeout_ms, absolute_deadline)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE sessions SET verifier_hash = ?2, last_seen = ?3 WHERE handle = ?1",
            )?;
            let mut remove = tx.prepare_cached("DELETE FROM sessions WHERE handle = ?1")?;
            let mut event = tx.prepare_cached(
                "INSERT OR REPLACE INTO events (seq, at, event) VALUES (?1, ?2, ?3)",
            )?;
            for (i, change) in self.pending.iter().enumerate() {
                let handle = change.event.session.handle;
                let json = serde_json::to_string(&change.event).expect("events serialize");
                event.execute(params![change.event.seq as i64, change.event.at, json])?;
                last_seq = last_seq.max(change.event.seq);
                last_time = last_time.max(change.event.at);
                let created = change.event.kind == EventKind::Created;
                if created {
                    let (_, generation) = self.codec.decode(handle.0);
                    floor = floor.max(generation.saturating_add(1));
                }
                match &change.session {
                    Some(s) if created => {
                        let attributes = s
                            .attributes
                            .as_ref()
                            .map(|a| serde_json::to_string(a).expect("attributes serialize"));
                        insert.execute(params![
                            handle.0 as i64,
                            &s.verifier_hash[..],
                            s.user.as_str(),
                            attributes,
                            s.created,
                            s.last_seen,
                            i64::from(s.idle_timeout_ms),
                            s.absolute_deadline,
                        ])?;
                    }
                    _ if last_change[&handle.0] != i => {}
                    Some(s) => {
                        update.execute(params![
                            handle.0 as i64,
                            &s.verifier_hash[..],
                            s.last_seen
                        ])?;
                    }
                    None if change.event.kind.is_end() => {
                        remove.execute(params![handle.0 as i64])?;
                    }
                    None => {}
                }
            }
            let mut meta =
                tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
            meta.execute(params!["last_seq", last_seq as i64])?;
            meta.execute(params!["last_time", last_time])?;
            meta.execute(params!["generation_floor", i64::from(floor)])?;
        }
        tx.commit()?;
        (self.last_seq, self.last_time, self.generation_floor) = (last_seq, last_time, floor);
        self.committed += self.pending_batches;
        self.pending_batches = 0;
        self.pending.clear();
        self.unsynced = true;
        Ok(())
    }

    /// A commit succeeded: the changes waiting for it are answered, and the
    /// store takes changes again if the reserve is still held.
    fn recovered(&mut self) {
        self.shared.committed.send_replace(self.committed);
        self.shared.written.send_replace(self.last_seq);
        if self.reserve_held {
            self.writable_again();
        }
    }

    /// Refuses every change from now on if the file is no longer where the
    /// server opened it: a change answered now would be gone after a restart.
    fn check_file(&mut self) {
        self.last_check = Instant::now();
        let Some(why) = self.db.gone() else {
            return;
        };
        let reason = format!(
            "{} {why} while the server ran: changes are refused, since a restart would not find \
             them; the sessions live on in memory until the server stops (restore the file from \
             a backup and restart, or restart to begin with none)",
            self.db.path.display()
        );
        tracing::error!("{reason}");
        *lock(&self.shared.failure) = Some(reason);
        self.gone = true;
    }

    fn writable_again(&self) {
        if self.gone {
            return;
        }
        let mut failure = lock(&self.shared.failure);
        if failure.take().is_some() {
            tracing::info!("writes to {} work again", self.db.path.display());
        }
    }

    /// Allocates the reserve if it is not; once it is, and the last commit
    /// succeeded, the store takes changes again.
    fn hold_reserve(&mut self) {
        self.last_reserve_try = Instant::now();
        match allocate(&self.reserve, RESERVE_BYTES) {
            Ok(()) => {
                self.reserve_held = true;
                if self.pending.is_empty() {
                    self.writable_again();
                }
            }
            Err(e) => {
                let reason = match e.raw_os_error() {
                    Some(libc::ENOSPC) => format!(
                        "{} cannot be written: the disk is full (the store keeps {} KiB free beside it)",
                        self.db.path.display(),
                        RESERVE_BYTES / 1024
                    ),
                    _ => format!(
                        "{} cannot be written: {}: {e}",
                        self.db.path.display(),
                        self.reserve.display()
                    ),
                };
                let mut failure = lock(&self.shared.failure);
                if failure.is_none() {
                    tracing::error!("{reason}; changes are refused until there is room");
                    *failure = Some(reason);
                }
            }
        }
    }

    /// Gives the reserve back to the disk, for the commit of changes already made.
    fn release_reserve(&mut self) {
        self.reserve_held = false;
        self.last_reserve_try = Instant::now();
        if let Err(e) = std::fs::remove_file(&self.reserve) {
            tracing::warn!("removing {} failed: {e}", self.reserve.display());
        }
    }

    fn failing(&mut self, error: &rusqlite::Error) {
        let reason = match error.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => format!(
                "{} cannot be written: the disk is full",
                self.db.path.display()
            ),
            _ => format!("{} cannot be written: {error}", self.db.path.display()),
        };
        let mut failure = lock(&self.shared.failure);
        if failure.as_deref() != Some(reason.as_str()) {
            tracing::error!("{reason}; retrying, changes are held in memory meanwhile");
            *failure = Some(reason);
        }
    }

    /// Syncs the WAL, so what is committed survives an OS crash or power cut.
    fn sync(&mut self) {
        let mut wal = self.db.path.clone().into_os_string();
        wal.push("-wal");
        match std::fs::File::open(&wal).and_then(|f| f.sync_data()) {
            Ok(()) => {
                self.unsynced = false;
                self.last_sync = Instant::now();
            }
            Err(e) => tracing::warn!("syncing {} failed: {e}", self.db.path.display()),
        }
    }

    /// Drops events past the retention, a chunk at a time.
    fn prune(&mut self) -> rusqlite::Result<()> {
        let by_count = self.last_seq as i64 - self.max_events;
        let by_age: Option<i64> = self.db.conn.query_row(
            "SELECT max(seq) FROM (SELECT seq FROM events WHERE at < ?1 ORDER BY seq LIMIT ?2)",
            params![self.last_time - self.max_event_age, PRUNE_CHUNK],
            |r| r.get(0),
        )?;
        let oldest: Option<i64> =
            self.db
                .conn
                .query_row("SELECT min(seq) FROM events", [], |r| r.get(0))?;
        let Some(oldest) = oldest else { return Ok(()) };
        let upto = by_count.max(by_age.unwrap_or(0)).min(oldest + PRUNE_CHUNK);
        if upto >= oldest {
            self.db
                .conn
                .execute("DELETE FROM events WHERE seq <= ?1", params![upto])?;
        }
        Ok(())
    }
}

/// `<store>-reserve`, beside the store and its WAL, on the same disk.
pub(super) fn reserve_path(store: &std::path::Path) -> std::path::PathBuf {
    let mut path = store.as_os_str().to_owned();
    path.push("-reserve");
    path.into()
}

fn is_full(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// Makes `path` a file of `bytes` whose blocks are allocated (not sparse), so
/// removing it frees that much room. A file that is one already is kept.
fn allocate(path: &std::path::Path, bytes: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    // SAFETY: the descriptor is open for writing for the length of the call.
    let error = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, bytes as libc::off_t) };
    let result = match error {
        0 => file.sync_all(),
        // A file system without fallocate: blocks written are allocated too.
        libc::EOPNOTSUPP | libc::EINVAL => {
            use std::io::Write;
            let mut file = &file;
            let page = [0xA5u8; 4096];
            let mut written = 0;
            let mut result = Ok(());
            while written < bytes && result.is_ok() {
                result = file.write_all(&page);
                written += page.len() as u64;
            }
            result.and_then(|()| file.sync_all())
        }
        error => Err(std::io::Error::from_raw_os_error(error)),
    };
    if result.is_err() {
        // Half a reserve would promise room that is not there.
        drop(file);
        let _ = std::fs::remove_file(path);
    }
    result
}
