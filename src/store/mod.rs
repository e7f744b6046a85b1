//! Where sessions live: the seam between the engine's rules and their state.
//!
//! Three stores stand behind one seam (see ARCHITECTURE.md):
//! - `memory`: the engine's own in-process state; gone at exit. The dashboard's
//!   embedded mode and tests use it.
//! - `file`: the same in-process engine, with every change written behind to an
//!   embedded database (SQLite in WAL mode) by one writer thread in batches, and
//!   read back at start-up.
//! - `redis`: the truth lives in Redis; every operation is one server-side script,
//!   so any number of `serve` nodes share it.
//!
//! This module owns the store URL and the one error every store can add to the
//! engine's own: the store cannot be reached or written (`Unavailable`), which the
//! server answers with 503 `store_unavailable`. It holds no session rules.

pub mod file;
pub mod redis;
mod sessions;

pub use sessions::{Sessions, StoreKind, StorePage, StoreQuery};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::engine::driver::DriverConfig;
use crate::engine::{Clock, EngineError, EngineHandle, Policy};
use file::{FileOptions, FileStore, FileStoreError, Fsync};

/// What a store operation can fail with: the engine's answer, or the store's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The store cannot be reached or written right now; nothing was changed.
    /// The text says why, in one sentence, and never holds a token or a password.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// A listing cursor this store did not hand out.
    #[error("cursor must be the next_cursor of a previous page")]
    BadCursor,
    /// The store is set up for another deployment in a way this one's
    /// configuration conflicts with (overlapping Redis key prefixes): found
    /// at start, and fixed in the configuration, not by waiting.
    #[error("{0}")]
    Conflict(String),
}

/// Where `--store` / `[store] url` / `SESSIONTOP_STORE` says sessions live.
/// `Debug` shows it redacted, so a logged config never holds a Redis password.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Memory,
    File(PathBuf),
    /// `redis://` or `rediss://`, kept whole: it may hold credentials, so it is
    /// never printed; `redacted()` is what may be shown.
    Redis(String),
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoreUrl({})", self.redacted())
    }
}

/// How a Redis URL is written; never quoting the one given (it may hold a password).
pub const REDIS_URL_HELP: &str = "the Redis URL is not valid: use redis://[[USER]:PASSWORD@]HOST:PORT/DB (or rediss://), with a `/`, `#`, `@` or `%` in the password percent-encoded";

impl StoreUrl {
    /// Reads a store URL: `memory`, `file:PATH`, `redis://…`, `rediss://…`, or
    /// a path with no scheme (a file store).
    /// A mistyped URL is refused rather than taken for a file's name, and no
    /// error quotes more of the value than its scheme (it may hold a password).
    pub fn parse(value: &str) -> Result<StoreUrl, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err("an empty store: use memory, file:PATH or redis://HOST:PORT/DB".into());
        }
        // A keyword, in any case (`MEMORY` is not a file's name); `file:MEMORY` is.
        if value.eq_ignore_ascii_case("memory") {
            return Ok(StoreUrl::Memory);
        }
        // Schemes are case-insensitive; the rest of the URL is kept as given.
        for scheme in ["redis://", "rediss://"] {
            if value
                .get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
            {
                let rest = &value[scheme.len()..];
                // The redis crate would ignore most parameters without a word.
                if rest.split('#').next().is_some_and(|url| url.contains('?')) {
                    return Err(
                        "a Redis URL takes no query (`?…`): the database goes in its path, \
                                as in redis://HOST:PORT/DB"
                            .into(),
                    );
                }
                let url = format!("{scheme}{rest}");
                // A mistake in the URL is the configuration's, not an outage.
                let Ok(info) = ::redis::IntoConnectionInfo::into_connection_info(url.as_str())
                else {
                    return Err(REDIS_URL_HELP.into());
                };
                if info.redis_settings().db() < 0 {
                    return Err(
                        "the Redis database in the URL's path is a number from 0 up, as in redis://HOST:PORT/0"
                            .into(),
                    );
                }
                return Ok(StoreUrl::Redis(url));
            }
        }
        let lower = value.to_ascii_lowercase();
        let after = |scheme: &str| {
            lower
                .strip_prefix(scheme)
                .and_then(|rest| rest.chars().next())
        };
        if matches!(after("redis"), Some(':' | '/')) || matches!(after("rediss"), Some(':' | '/')) {
            return Err(
                "that looks like a Redis URL without its `://`: use redis://HOST:PORT/DB (or rediss://)"
                    .into(),
            );
        }
        if let Some(path) = value.strip_prefix("file:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(
                    "file: needs a path, such as file:/var/lib/sessiontop/sessions.db".into(),
                );
            }
            return Ok(StoreUrl::File(PathBuf::from(path)));
        }
        // A scheme (letters, digits, `+`, `-`, `.`) then `:` is a URL, not a file.
        if let Some((scheme, _)) = value.split_once(':')
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(format!(
                "unknown store scheme {scheme:?}: use memory, file:PATH or redis://HOST:PORT/DB"
            ));
        }
        if looks_like_redis_without_scheme(value) {
            return Err(
                "that looks like a Redis address without redis:// in front: use redis://HOST:PORT/DB \
                 (for a file of that name, write file: before it)"
                    .into(),
            );
        }
        Ok(StoreUrl::File(PathBuf::from(value)))
    }

    /// Whether this is a Redis URL with a password in it.
    pub fn has_password(&self) -> bool {
        let StoreUrl::Redis(url) = self else {
            return false;
        };
        ::redis::IntoConnectionInfo::into_connection_info(url.as_str())
            .is_ok_and(|info| info.redis_settings().password().is_some())
    }

    /// The store as it may be printed or logged: a Redis URL without its password.
    /// The user name stays (an operator needs to see which ACL user connects), unless
    /// it stands alone, where it may be a password put in the wrong place.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Memory => "memory".into(),
            StoreUrl::File(path) => format!("file:{}", path.display()),
            StoreUrl::Redis(url) => match url.split_once("://") {
                Some((scheme, rest)) => match rest.rsplit_once('@') {
                    Some((userinfo, host)) => match userinfo.split_once(':') {
                        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                        None => format!("{scheme}://***@{host}"),
                    },
                    None => url.clone(),
                },
                None => url.clone(),
            },
        }
    }
}

/// Everything `serve` needs to open its store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: StoreUrl,
    pub fsync: Fsync,
    /// Events kept in a durable store for stream clients that fell behind: at most this many…
    pub max_events: u64,
    /// …and none older than this.
    pub max_event_age: Duration,
    /// Redis only: the prefix of every key.
    pub key_prefix: String,
    /// Redis only: a file holding the password, when the URL has none.
    pub password_file: Option<PathBuf>,
    /// Redis only (`rediss://`): a PEM file of the CA to trust instead of the
    /// system's trust store, for a Redis with a privately signed certificate.
    pub tls_ca_file: Option<PathBuf>,
    /// Redis only (`rediss://`): this node's certificate and its private key
    /// (PEM files), for a Redis that asks clients for one.
    pub tls_client: Option<(PathBuf, PathBuf)>,
}

impl StoreOptions {
    /// `url` with the defaults of `[store]`.
    pub fn new(url: StoreUrl) -> StoreOptions {
        StoreOptions {
            url,
            fsync: Fsync::EverySec,
            max_events: 2_000_000,
            max_event_age: Duration::from_secs(24 * 3600),
            key_prefix: "sessiontop:".to_owned(),
            password_file: None,
            tls_ca_file: None,
            tls_client: None,
        }
    }

    /// The `[store]` keys set here that the store `url` names does not use:
    /// a config written for Redis, run for a moment on a file, is not refused,
    /// but it is told.
    pub fn unused_keys(&self) -> Vec<&'static str> {
        let defaults = StoreOptions::new(self.url.clone());
        let redis = matches!(self.url, StoreUrl::Redis(_));
        let mut unused = Vec::new();
        if !matches!(self.url, StoreUrl::File(_)) && self.fsync != defaults.fsync {
            unused.push("fsync");
        }
        if !redis {
            let set = [
                ("key_prefix", self.key_prefix != defaults.key_prefix),
                ("password_file", self.password_file.is_some()),
                ("tls_ca_file", self.tls_ca_file.is_some()),
                ("tls_cert_file, tls_key_file", self.tls_client.is_some()),
            ];
            unused.extend(set.iter().filter(|(_, set)| *set).map(|(key, _)| *key));
        }
        unused
    }
}

/// Why a store cannot be opened: one sentence naming it and what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    File(#[from] FileStoreError),
    /// The Redis store cannot be reached or set up; the text never holds a password.
    #[error("{0}")]
    Redis(String),
}

/// An open store: the sessions, and how many it held when it was opened.
pub struct OpenedStore {
    pub sessions: Sessions,
    pub loaded: usize,
}

/// Opens the store `options` names and starts the engine on it. A durable
/// store hands back its sessions; those whose deadline passed while no
/// server ran end first, each with one `expired` event.
pub async fn open(
    options: &StoreOptions,
    policy: Policy,
    clock: Arc<dyn Clock>,
    driver: DriverConfig,
) -> Result<OpenedStore, OpenError> {
    let unused = options.unused_keys();
    if !unused.is_empty() {
        tracing::warn!(
            "[store] {} set but not used: the store is {}",
            unused.join(", "),
            options.url.redacted()
        );
    }
    match &options.url {
        StoreUrl::Memory => Ok(OpenedStore {
            sessions: Sessions::memory(EngineHandle::spawn(policy, clock, driver)),
            loaded: 0,
        }),
        StoreUrl::File(path) => {
            let opened = FileStore::open(FileOptions {
                path: path.clone(),
                fsync: options.fsync,
                max_events: options.max_events,
                max_event_age: options.max_event_age,
            })?;
            let loaded = opened.restored.sessions.len();
            let last_seq = opened.restored.last_seq;
            let engine = EngineHandle::spawn_restored(
                policy,
                clock,
                driver,
                opened.instance,
                opened.restored,
                opened.store.clone(),
            );
            give_back_freed_memory();
            Ok(OpenedStore {
                sessions: Sessions::file(engine, opened.store, last_seq),
                loaded,
            })
        }
        StoreUrl::Redis(url) => {
            let shown = options.url.redacted();
            let password = match &options.password_file {
                Some(path) => Some(read_password(path)?),
                None => None,
            };
            let tls_root_cert = match &options.tls_ca_file {
                Some(path) => Some(read_tls_ca(path)?),
                None => None,
            };
            let tls_client = match &options.tls_client {
                Some((cert, key)) => Some(read_tls_client(cert, key)?),
                None => None,
            };
            let redis = redis::RedisStore::connect(redis::RedisOptions {
                key_prefix: options.key_prefix.clone(),
                password,
                password_file: options.password_file.clone(),
                tls_root_cert,
                tls_client,
                retention: usize::try_from(options.max_events).unwrap_or(usize::MAX),
                max_event_age: Some(options.max_event_age),
                clock,
                ..redis::RedisOptions::new(url.clone(), policy)
            })
            .await
            .map_err(|error| OpenError::Redis(format!("cannot use {shown}: {error}")))?;
            let loaded = redis
                .stats()
                .await
                .map_err(|error| OpenError::Redis(format!("cannot use {shown}: {error}")))?
                .active as usize;
            Ok(OpenedStore {
                sessions: Sessions::redis(redis, shown),
                loaded,
            })
        }
    }
}

/// The Redis password from `path`, without a trailing newline.
fn read_password(path: &std::path::Path) -> Result<String, OpenError> {
    redis::read_password(path).map_err(OpenError::Redis)
}

/// The PEM certificates of the CA in `path`, checked the way the Redis client
/// will read them, so a bad file is named at start-up.
fn read_tls_ca(path: &std::path::Path) -> Result<Vec<u8>, OpenError> {
    let pem = read_tls_file(path, "CA")?;
    redis::check_ca_pem(&pem).map_err(|why| {
        OpenError::Redis(format!(
            "the Redis TLS CA file {} is not usable: {why}",
            path.display()
        ))
    })?;
    Ok(pem)
}

/// The bytes of a TLS file (`what` names it in the error).
fn read_tls_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, OpenError> {
    std::fs::read(path).map_err(|error| {
        OpenError::Redis(format!(
            "cannot read the Redis TLS {what} file {}: {error}",
            path.display()
        ))
    })
}

/// This node's TLS certificate and key, read and checked (the key's text is never shown).
fn read_tls_client(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<::redis::ClientTlsConfig, OpenError> {
    let client = ::redis::ClientTlsConfig {
        client_cert: read_tls_file(cert, "client certificate")?,
        client_key: read_tls_file(key, "client key")?,
    };
    redis::check_client_pem(&client).map_err(|why| {
        OpenError::Redis(format!(
            "the Redis TLS client certificate {} and key {} are not usable: {why}",
            cert.display(),
            key.display()
        ))
    })?;
    Ok(client)
}

/// `[USER]:PASSWORD@HOST:PORT[/DB]` with no scheme: a Redis address whose
/// `redis://` was left out, which would otherwise name a file (and print
/// the password as its path).
fn looks_like_redis_without_scheme(value: &str) -> bool {
    let Some((credentials, address)) = value.rsplit_once('@') else {
        return false;
    };
    let (host_port, db) = address.split_once('/').unwrap_or((address, "0"));
    !credentials.contains('/')
        && host_port.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        })
        && db.bytes().all(|b| b.is_ascii_digit())
}

/// Returns the heap's free memory to the OS. Reading a file store builds
/// every session once more (rows, attribute maps) before the engine takes
/// them apart; without this a restarted server keeps that memory (292 MB
/// against 184 MB before the restart at 300,000 sessions; 206 MB with it).
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS; it is
    // thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_another_kind_of_store_are_named_as_unused() {
        let redis = StoreUrl::Redis("redis://127.0.0.1:6379/0".into());
        let file = StoreUrl::File("s.db".into());
        for url in [StoreUrl::Memory, file.clone(), redis.clone()] {
            assert!(StoreOptions::new(url).unused_keys().is_empty());
        }
        let set = |url: StoreUrl| StoreOptions {
            fsync: Fsync::Always,
            key_prefix: "app:".into(),
            password_file: Some("/run/secrets/redis".into()),
            tls_ca_file: Some("/ca.pem".into()),
            tls_client: Some(("/node.pem".into(), "/node.key".into())),
            ..StoreOptions::new(url)
        };
        assert_eq!(
            set(StoreUrl::Memory).unused_keys(),
            [
                "fsync",
                "key_prefix",
                "password_file",
                "tls_ca_file",
                "tls_cert_file, tls_key_file"
            ]
        );
        assert_eq!(
            set(file).unused_keys(),
            [
                "key_prefix",
                "password_file",
                "tls_ca_file",
                "tls_cert_file, tls_key_file"
            ]
        );
        assert_eq!(set(redis).unused_keys(), ["fsync"]);
    }

    #[test]
    fn store_urls_parse_by_scheme_and_a_bare_path_is_a_file() {
        assert_eq!(StoreUrl::parse("memory"), Ok(StoreUrl::Memory));
        assert_eq!(StoreUrl::parse("MEMORY"), Ok(StoreUrl::Memory));
        assert_eq!(
            StoreUrl::parse("file:MEMORY"),
            Ok(StoreUrl::File("MEMORY".into()))
        );
        assert_eq!(
            StoreUrl::parse("file:/tmp/s.db"),
            Ok(StoreUrl::File("/tmp/s.db".into()))
        );
        assert_eq!(
            StoreUrl::parse("sessions.db"),
            Ok(StoreUrl::File("sessions.db".into()))
        );
        assert!(matches!(
            StoreUrl::parse("redis://127.0.0.1:6379/0"),
            Ok(StoreUrl::Redis(_))
        ));
        assert!(StoreUrl::parse("postgres://x").is_err());
        assert!(StoreUrl::parse("file:").is_err());
        // A Redis URL its client cannot read is the configuration's mistake,
        // told without repeating it.
        for bad in [
            "redis://127.0.0.1:6379/abc",
            "redis://:pa/ss@127.0.0.1:6379/0",
        ] {
            let refused = StoreUrl::parse(bad).unwrap_err();
            assert!(
                refused.starts_with("the Redis URL is not valid"),
                "{bad}: {refused}"
            );
            assert!(!refused.contains("pa/ss"), "{refused}");
        }
        assert!(StoreUrl::parse("rediss://:p%2Fw@host:6380/2").is_ok());
        // A file whose name holds a colon is named with file:.
        assert_eq!(
            StoreUrl::parse("file:a:b.db"),
            Ok(StoreUrl::File("a:b.db".into()))
        );
        // Paths that hold an `@` are still files, unless they read as host:port.
        for path in ["/var/lib/a@b:1.db", "backup@host.db", "a@b:c"] {
            assert_eq!(StoreUrl::parse(path), Ok(StoreUrl::File(path.into())));
        }
        assert_eq!(
            StoreUrl::parse("file::pw@h:6379"),
            Ok(StoreUrl::File(":pw@h:6379".into()))
        );
    }

    #[test]
    fn a_mistyped_url_is_refused_not_taken_for_a_file_and_not_quoted() {
        assert_eq!(
            StoreUrl::parse("REDIS://127.0.0.1:6379/0"),
            Ok(StoreUrl::Redis("redis://127.0.0.1:6379/0".into()))
        );
        assert_eq!(
            StoreUrl::parse("Rediss://h:6380/0"),
            Ok(StoreUrl::Redis("rediss://h:6380/0".into()))
        );
        for typo in [
            "redis:S3cretPW@127.0.0.1:6379",
            "redis//:S3cretPW@127.0.0.1",
            "redis:/:S3cretPW@127.0.0.1:6379/0",
            "rediss:S3cretPW@h:6380",
            "redis+tls://:S3cretPW@h:6380",
            "http://:S3cretPW@127.0.0.1:6379/0",
            "localhost:6379",
            "redis://:S3cretPW@127.0.0.1:6379/0?x=1",
            "rediss://:S3cretPW@h:6380?db=2#insecure",
            ":S3cretPW@127.0.0.1:6379",
            "app:S3cretPW@redis.internal:6379/2",
        ] {
            let error = StoreUrl::parse(typo).unwrap_err();
            assert!(!error.contains("S3cretPW"), "{typo}: {error}");
            assert!(error.contains("redis://HOST:PORT/DB"), "{typo}: {error}");
        }
    }

    #[test]
    fn a_negative_redis_database_is_refused_at_parse() {
        let error = StoreUrl::parse("redis://:S3cretPW@127.0.0.1:6379/-1").unwrap_err();
        assert!(!error.contains("S3cretPW"), "{error}");
        assert!(error.contains("a number from 0 up"), "{error}");
        assert!(StoreUrl::parse("redis://127.0.0.1:6379/15").is_ok());
    }

    #[test]
    fn a_redis_password_is_never_shown() {
        let url = StoreUrl::parse("redis://user:hunter2hunter2@127.0.0.1:6379/0").unwrap();
        assert_eq!(url.redacted(), "redis://user:***@127.0.0.1:6379/0");
        assert!(!url.redacted().contains("hunter2"));
        let no_user = StoreUrl::parse("redis://:hunter2hunter2@127.0.0.1:6379/0").unwrap();
        assert_eq!(no_user.redacted(), "redis://:***@127.0.0.1:6379/0");
        // A lone user name may be a password in the wrong place: it is not shown.
        let alone = StoreUrl::parse("redis://hunter2hunter2@127.0.0.1:6379/0").unwrap();
        assert_eq!(alone.redacted(), "redis://***@127.0.0.1:6379/0");
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn a_tls_ca_file_that_cannot_be_used_is_named_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = read_tls_ca(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read the Redis TLS CA file") && err.contains("missing.pem"),
            "{err}"
        );

        let key = dir.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = read_tls_ca(&key).unwrap_err().to_string();
        assert!(
            err.contains("key.pem") && err.contains("holds no PEM certificate"),
            "{err}"
        );

        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = read_tls_ca(&broken).unwrap_err().to_string();
        assert!(
            err.contains("broken.pem") && err.contains("is not usable"),
            "{err}"
        );
    }
}
