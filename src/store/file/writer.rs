//! The file store's one writer: group commits of queued changes, the
//! once-a-second sync, event retention, and riding out a failing disk.

use std::collections::HashMap;
use std::sync::Arc;
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
/// How long to wait before retrying a failed commit.
const RETRY_AFTER: Duration = Duration::from_millis(250);

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
    /// Failed commits after the queue closed: a disk that stays full cannot
    /// hold a stopping server forever.
    shutdown_tries: u32,
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
            shutdown_tries: 0,
        }
    }

    /// Runs until the queue is closed and everything in it is committed and synced.
    pub(super) fn run(mut self, queue: Receiver<Vec<Change>>) {
        let mut open = true;
        loop {
            if open && self.pending.is_empty() {
                match queue.recv_timeout(SYNC_EVERY) {
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
                            return;
                        }
                        std::thread::sleep(RETRY_AFTER);
                        continue;
                    }
                }
            }
            if self.fsync == Fsync::EverySec
                && self.unsynced
                && (!open || self.last_sync.elapsed() >= SYNC_EVERY)
            {
                self.sync();
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
                return;
            }
        }
    }

    fn take(&mut self, changes: Vec<Change>) {
        self.pending.extend(changes);
        self.pending_batches += 1;
    }

    /// Writes every pending change in one transaction. The last state of a
    /// session in the batch is the one written; every event is kept.
    fn commit(&mut self) -> rusqlite::Result<()> {
        let mut last_change: HashMap<u64, usize> = HashMap::with_capacity(self.pending.len());
        for (i, change) in self.pending.iter().enumerate() {
            last_change.insert(change.event.session.handle.0, i);
        }
        let (mut last_seq, mut last_time, mut floor) =
            (self.last_seq, self.last_time, self.generation_floor);
        let tx = self.db.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT INTO sessions (handle, verifier_hash, user, attributes, created, last_seen,
                                       idle_timeout_ms, absolute_deadline)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (handle) DO UPDATE SET
                     verifier_hash = excluded.verifier_hash, last_seen = excluded.last_seen",
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
                if change.event.kind == EventKind::Created {
                    let (_, generation) = self.codec.decode(handle.0);
                    floor = floor.max(generation.saturating_add(1));
                }
                if last_change[&handle.0] != i {
                    continue;
                }
                match &change.session {
                    Some(s) => {
                        let attributes = s
                            .attributes
                            .as_ref()
                            .map(|a| serde_json::to_string(a).expect("attributes serialize"));
                        upsert.execute(params![
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

    fn recovered(&mut self) {
        let mut failure = lock(&self.shared.failure);
        if failure.take().is_some() {
            tracing::info!("writes to {} work again", self.db.path.display());
        }
        drop(failure);
        self.shared.committed.send_replace(self.committed);
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
