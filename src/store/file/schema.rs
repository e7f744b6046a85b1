//! The file store's database: opening it safely, its tables, and reading it back.
//!
//! A sessiontop store is an SQLite database in WAL mode, marked with its own
//! `application_id` and a schema version in `user_version`, so a file that is
//! not one, or one from a newer sessiontop, is refused with a sentence rather
//! than read as empty. The file is created with mode 0600 (SQLite gives its
//! `-wal` and `-shm` files the same mode), and an exclusive `flock` on it keeps
//! a second server off the same file.

use std::collections::HashSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use compact_str::CompactString;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::engine::Handle;
use crate::engine::persist::{Restored, SelectorKeys, StoredSession};
use crate::engine::token::SelectorCodec;

/// "STST" in ASCII: what marks a database as a sessiontop store.
const APPLICATION_ID: i32 = 0x5354_5354;
/// The schema this build writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
    handle            INTEGER PRIMARY KEY,
    verifier_hash     BLOB NOT NULL,
    user              TEXT NOT NULL,
    attributes        TEXT,
    created           INTEGER NOT NULL,
    last_seen         INTEGER NOT NULL,
    idle_timeout_ms   INTEGER NOT NULL,
    absolute_deadline INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq   INTEGER PRIMARY KEY,
    at    INTEGER NOT NULL,
    event TEXT NOT NULL
);
";

/// Why a store file cannot be used. Each names the file and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum FileStoreError {
    #[error(
        "{path} is not a sessiontop store ({detail}): give --store another file, or move this one away"
    )]
    NotAStore { path: PathBuf, detail: String },
    #[error(
        "{path} was written by a newer sessiontop (store version {found}; this one reads {SCHEMA_VERSION}): run that newer sessiontop, or give --store another file"
    )]
    Newer { path: PathBuf, found: i32 },
    #[error(
        "{path} is damaged ({detail}): restore it from a backup, or move it away to start with no sessions"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "{path} is in use by another process (a second sessiontop serve?): stop that one, or give this server another --store"
    )]
    Locked { path: PathBuf },
    #[error("cannot write {path} ({detail}): make it writable, or give --store another file")]
    ReadOnly { path: PathBuf, detail: String },
    #[error(
        "cannot write {path}: the disk is full; free some space, or give --store a file on another disk"
    )]
    Full { path: PathBuf },
    #[error("cannot open the session store {path}: {detail}")]
    Open { path: PathBuf, detail: String },
}

impl FileStoreError {
    /// Names what an SQLite error means for the file at `path`.
    pub fn from_sqlite(path: &Path, error: rusqlite::Error) -> FileStoreError {
        let path = path.to_owned();
        let detail = error.to_string();
        match error.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => FileStoreError::NotAStore { path, detail },
            Some(ErrorCode::DatabaseCorrupt) => FileStoreError::Corrupt { path, detail },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                FileStoreError::Locked { path }
            }
            Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
                FileStoreError::ReadOnly { path, detail }
            }
            Some(ErrorCode::DiskFull) => FileStoreError::Full { path },
            _ => FileStoreError::Open { path, detail },
        }
    }

    fn from_io(path: &Path, error: std::io::Error) -> FileStoreError {
        let path = path.to_owned();
        let detail = error.to_string();
        match error.raw_os_error() {
            Some(libc::EROFS | libc::EACCES | libc::EPERM) => {
                FileStoreError::ReadOnly { path, detail }
            }
            Some(libc::ENOSPC) => FileStoreError::Full { path },
            _ => FileStoreError::Open { path, detail },
        }
    }
}

/// An open store: the writer's connection, and the lock that keeps others off.
pub struct Database {
    pub path: PathBuf,
    pub conn: Connection,
    /// Held for as long as the store is open; its `flock` is the server's claim.
    _lock: File,
}

impl Database {
    /// Why `path` no longer leads to the file this server writes, if it does
    /// not: deleted, or moved and perhaps replaced. What is written goes on
    /// into the open file, which nothing will find after a restart.
    pub fn gone(&self) -> Option<&'static str> {
        use std::os::unix::fs::MetadataExt;
        let open = self._lock.metadata().ok()?;
        if open.nlink() == 0 {
            return Some("was deleted");
        }
        match std::fs::metadata(&self.path) {
            Ok(now) if (now.dev(), now.ino()) == (open.dev(), open.ino()) => None,
            _ => Some("was moved or replaced"),
        }
    }

    /// Opens (or creates) the store at `path`, claims it and checks it is ours.
    pub fn open(path: &Path, fsync_always: bool) -> Result<Database, FileStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| FileStoreError::from_io(path, e))?;
        }
        // A file of no bytes is not a store being created but one cut short
        // (SQLite would take it for a new, empty database).
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            return Err(FileStoreError::NotAStore {
                path: path.to_owned(),
                detail: "it is empty: 0 bytes, perhaps truncated".into(),
            });
        }
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| FileStoreError::from_io(path, e))?;
        // SQLite's own locks are fcntl locks, which flock does not disturb.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(FileStoreError::Locked {
                path: path.to_owned(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| FileStoreError::from_sqlite(path, e))?;
        let db = Database {
            path: path.to_owned(),
            conn,
            _lock: lock,
        };
        // Whose database it is comes first: another program's is refused
        // before anything (its journal mode) is changed in it.
        db.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map_err(|e| FileStoreError::from_sqlite(path, e))?;
        db.check_identity()?;
        db.prepare(fsync_always)
            .map_err(|e| FileStoreError::from_sqlite(path, e))?;
        Ok(db)
    }

    fn prepare(&self, fsync_always: bool) -> rusqlite::Result<()> {
        let conn = &self.conn;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!(
                    "the file system cannot hold a WAL journal ({mode})"
                )),
            ));
        }
        // FULL syncs the WAL at every commit; NORMAL leaves it to the writer's
        // once-a-second sync (a crash of the process loses nothing either way).
        conn.pragma_update(
            None,
            "synchronous",
            if fsync_always { "FULL" } else { "NORMAL" },
        )?;
        Ok(())
    }

    /// Refuses a database that is not a sessiontop store or is newer than this
    /// build; marks a new, empty one as ours.
    fn check_identity(&self) -> Result<(), FileStoreError> {
        let sqlite = |e| FileStoreError::from_sqlite(&self.path, e);
        let app: i32 = self
            .conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(sqlite)?;
        let version: i32 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sqlite)?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(sqlite)?;
        if app == 0 && version == 0 && tables == 0 {
            self.conn
                .execute_batch(&format!(
                    "BEGIN; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                ))
                .map_err(sqlite)?;
            return Ok(());
        }
        if app != APPLICATION_ID {
            return Err(FileStoreError::NotAStore {
                path: self.path.clone(),
                detail: "an SQLite database of another program".into(),
            });
        }
        if version > SCHEMA_VERSION {
            return Err(FileStoreError::Newer {
                path: self.path.clone(),
                found: version,
            });
        }
        Ok(())
    }

    pub fn meta_blob(&self, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    pub fn meta_int(&self, key: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
    }

    /// Everything an engine needs to carry on, and the store's instance id
    /// (`None` for a new store).
    pub fn load(&self) -> Result<(Option<String>, Restored), FileStoreError> {
        let sqlite = |e| FileStoreError::from_sqlite(&self.path, e);
        let instance = self
            .meta_blob("instance")
            .map_err(sqlite)?
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let selector_keys = match self.meta_blob("selector_keys").map_err(sqlite)? {
            Some(blob) => Some(decode_keys(&blob).ok_or_else(|| FileStoreError::Corrupt {
                path: self.path.clone(),
                detail: "its selector keys are unreadable".into(),
            })?),
            None => None,
        };
        let corrupt = |detail: &str| FileStoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.into(),
        };
        // Written together when the store is made: one without the other is damage.
        match (&instance, &selector_keys) {
            (Some(_), None) => return Err(corrupt("its selector keys are missing")),
            (None, Some(_)) => return Err(corrupt("its instance id is missing")),
            _ => {}
        }
        // A figure of the wrong type is damage too, not an SQLite error.
        let number = |key: &str| {
            self.meta_int(key).map_err(|e| match e {
                rusqlite::Error::InvalidColumnType(..)
                | rusqlite::Error::FromSqlConversionFailure(..) => {
                    corrupt(&format!("its {key} is not a number"))
                }
                e => sqlite(e),
            })
        };
        let newest_event: i64 = self
            .conn
            .query_row("SELECT coalesce(max(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(sqlite)?;
        let last_seq = match number("last_seq")? {
            Some(seq) if seq >= newest_event => seq,
            _ if newest_event > 0 => return Err(corrupt("its last_seq is behind its events")),
            _ => 0,
        };
        let generation_floor = number("generation_floor")?.unwrap_or(0);
        let last_time = number("last_time")?.unwrap_or(0);
        let mut statement = self
            .conn
            .prepare(
                "SELECT handle, verifier_hash, user, attributes, created, last_seen,
                        idle_timeout_ms, absolute_deadline FROM sessions",
            )
            .map_err(sqlite)?;
        let mut rows = statement.query([]).map_err(sqlite)?;
        let mut sessions = Vec::new();
        while let Some(row) = rows.next().map_err(sqlite)? {
            sessions.push(self.session_from_row(row)?);
        }
        check_handles(&sessions, selector_keys, generation_floor as u32).map_err(|detail| {
            FileStoreError::Corrupt {
                path: self.path.clone(),
                detail,
            }
        })?;
        Ok((
            instance,
            Restored {
                last_seq: last_seq as u64,
                selector_keys,
                generation_floor: generation_floor as u32,
                last_time,
                sessions,
            },
        ))
    }

    fn session_from_row(&self, row: &rusqlite::Row<'_>) -> Result<StoredSession, FileStoreError> {
        let corrupt = |detail: String| FileStoreError::Corrupt {
            path: self.path.clone(),
            detail,
        };
        let sqlite = |e| FileStoreError::from_sqlite(&self.path, e);
        let handle = Handle(row.get::<_, i64>(0).map_err(sqlite)? as u64);
        let hash: Vec<u8> = row.get(1).map_err(sqlite)?;
        let verifier_hash = hash.try_into().map_err(|_| {
            corrupt(format!(
                "session {handle} has a verifier hash of the wrong size"
            ))
        })?;
        let user: String = row.get(2).map_err(sqlite)?;
        let attributes: Option<String> = row.get(3).map_err(sqlite)?;
        let attributes = match attributes {
            Some(json) => Some(std::sync::Arc::new(serde_json::from_str(&json).map_err(
                |e| corrupt(format!("session {handle} has unreadable attributes: {e}")),
            )?)),
            None => None,
        };
        Ok(StoredSession {
            handle,
            verifier_hash,
            user: CompactString::from(user),
            attributes,
            created: row.get(4).map_err(sqlite)?,
            last_seen: row.get(5).map_err(sqlite)?,
            idle_timeout_ms: u32::try_from(row.get::<_, i64>(6).map_err(sqlite)?)
                .map_err(|_| corrupt(format!("session {handle} has an impossible idle timeout")))?,
            absolute_deadline: row.get(7).map_err(sqlite)?,
        })
    }
}

/// Every stored session's handle was made with this store's keys: it names
/// a generation below the floor, and a slot no other session holds. A row
/// from another store (or damage) would name any of 2^32 slots, which an
/// engine would size its table by; it is refused as damage instead. So are
/// times that cannot be a session's.
fn check_handles(
    sessions: &[StoredSession],
    keys: Option<SelectorKeys>,
    generation_floor: u32,
) -> Result<(), String> {
    let Some(first) = sessions.first() else {
        return Ok(());
    };
    let Some(keys) = keys else {
        return Err(format!(
            "it holds session {} but no selector keys",
            first.handle
        ));
    };
    let codec = SelectorCodec::from_keys(keys);
    let mut slots = HashSet::with_capacity(sessions.len());
    for session in sessions {
        let (slot, generation) = codec.decode(session.handle.0);
        if generation >= generation_floor || !slots.insert(slot) {
            return Err(format!(
                "session {} was not made by this store",
                session.handle
            ));
        }
        if session.last_seen < session.created || session.absolute_deadline < session.created {
            return Err(format!("session {} has impossible times", session.handle));
        }
    }
    Ok(())
}

pub fn encode_keys(keys: &SelectorKeys) -> Vec<u8> {
    keys.iter()
        .flat_map(|(a, b)| a.to_le_bytes().into_iter().chain(b.to_le_bytes()))
        .collect()
}

fn decode_keys(blob: &[u8]) -> Option<SelectorKeys> {
    if blob.len() != 64 {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(blob[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Some([
        (word(0), word(1)),
        (word(2), word(3)),
        (word(4), word(5)),
        (word(6), word(7)),
    ])
}
