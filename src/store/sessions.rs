//! `Sessions`: the one handle the server holds, whichever store is behind it.
//!
//! Every operation is async and answers with the engine's own error or with
//! `StoreError::Unavailable`. For the memory and file stores it calls the
//! in-process engine; the file store adds two things around it: a change is
//! refused while the file cannot be written (so the server answers 503 rather
//! than promise what it cannot keep), and with `fsync = "always"` the answer
//! waits until the change is on disk. The Redis store answers the same calls
//! from Redis, with scripts that follow the engine's rules (`store::redis`).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{
    Cursor, EngineHandle, Event, Handle, ListQuery, Login, Millis, Mine, Policy, SessionView,
    Stats, Subscription, Token, TooOld,
};

use super::StoreError;
use super::file::FileStore;
use super::redis::{RedisCursor, RedisStore, SubscribeError};

/// How the sessions are kept, for `serve`'s start-up line and `/v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    File(std::path::PathBuf),
    /// The Redis URL without its credentials.
    Redis(String),
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Memory => write!(f, "memory"),
            StoreKind::File(path) => write!(f, "file:{}", path.display()),
            StoreKind::Redis(url) => f.write_str(url),
        }
    }
}

fn new_node() -> Arc<str> {
    Arc::from(&crate::engine::driver::random_instance()[..8])
}

/// One page of the listing, whichever store answered it.
#[derive(Debug, Clone, Default)]
pub struct StorePage {
    pub sessions: Vec<SessionView>,
    /// Opaque: pass it back as the cursor of the next page.
    pub next_cursor: Option<String>,
}

/// What to list: `cursor` is a previous page's `next_cursor`, as the client sent it.
#[derive(Debug, Clone, Default)]
pub struct StoreQuery {
    pub user: Option<String>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// When a file store answers a change made on the local engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durable {
    /// A login: answered at once with `fsync = "everysec"` (a crash of the
    /// process may lose the last moments' logins, whose users log in
    /// again), once synced with `"always"`.
    StartsASession,
    /// A logout, revoke or renew: answered once committed, so no crash of
    /// the process brings back a token it ended (synced too with `"always"`).
    EndsAToken,
}

#[derive(Clone)]
pub struct Sessions {
    backend: Backend,
    /// This process's own id, random per run (see `node()`).
    node: Arc<str>,
    /// The seq this process's engine went on from (a file store's last),
    /// so its first events, a file store's expiries at start-up among them,
    /// can be read from there; `None` for Redis, whose stream holds other
    /// runs' and nodes' events before it.
    run_start: Option<u64>,
}

#[derive(Clone)]
enum Backend {
    /// The engine in this process, and the file it writes behind to, if any.
    Local {
        engine: EngineHandle,
        file: Option<Arc<FileStore>>,
    },
    /// Redis holds the truth; `url` is its address without credentials.
    Redis { redis: RedisStore, url: Arc<str> },
}

impl Sessions {
    /// Sessions kept only in this process's memory.
    pub fn memory(engine: EngineHandle) -> Sessions {
        Sessions::local(engine, None)
    }

    /// Sessions in `engine`, written behind to `file` (the engine was
    /// restored from it, going on after event `last_seq`).
    pub fn file(engine: EngineHandle, file: Arc<FileStore>, last_seq: u64) -> Sessions {
        Sessions {
            run_start: Some(last_seq),
            ..Sessions::local(engine, Some(file))
        }
    }

    fn local(engine: EngineHandle, file: Option<Arc<FileStore>>) -> Sessions {
        Sessions {
            backend: Backend::Local { engine, file },
            node: new_node(),
            run_start: Some(0),
        }
    }

    /// The seq after which this process's own events begin, for a follower
    /// that wants them all from the start of the run (`None`: from now).
    pub fn run_start(&self) -> Option<u64> {
        self.run_start
    }

    /// Sessions in Redis, shared with every other node on it. `url` is shown
    /// as it is, so it must already be without credentials.
    pub fn redis(redis: RedisStore, url: String) -> Sessions {
        Sessions {
            node: Arc::from(redis.node()),
            backend: Backend::Redis {
                redis,
                url: url.into(),
            },
            run_start: None,
        }
    }

    pub fn kind(&self) -> StoreKind {
        match &self.backend {
            Backend::Local {
                file: Some(file), ..
            } => StoreKind::File(file.path().to_owned()),
            Backend::Local { file: None, .. } => StoreKind::Memory,
            Backend::Redis { url, .. } => StoreKind::Redis(url.to_string()),
        }
    }

    /// The in-process engine, where there is one (not for Redis).
    pub fn engine(&self) -> Option<&EngineHandle> {
        match &self.backend {
            Backend::Local { engine, .. } => Some(engine),
            Backend::Redis { .. } => None,
        }
    }

    /// This server process's own id, random per run: nodes sharing one store
    /// have one instance and each its own node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The prefix of event ids: the same on every node of one store.
    pub fn instance(&self) -> String {
        match &self.backend {
            Backend::Local { engine, .. } => engine.instance().to_owned(),
            Backend::Redis { redis, .. } => redis.instance(),
        }
    }

    /// The store's clock: for Redis, Redis's own as this node estimates it.
    pub fn now(&self) -> Millis {
        match &self.backend {
            Backend::Local { engine, .. } => engine.now(),
            Backend::Redis { redis, .. } => redis.estimated_now(),
        }
    }

    pub fn policy(&self) -> Policy {
        match &self.backend {
            Backend::Local { engine, .. } => engine.policy(),
            Backend::Redis { redis, .. } => redis.policy().clone(),
        }
    }

    pub fn next_closing(&self) -> Option<Millis> {
        match &self.backend {
            Backend::Local { engine, .. } => engine.next_closing(),
            Backend::Redis { redis, .. } => redis.next_closing(),
        }
    }

    /// Whether the store can take a change now: the memory store always, the
    /// file store while its writer's last commit succeeded, Redis while it
    /// takes a write (not merely answers: a read-only replica or a Redis at
    /// its `maxmemory` refuses every change). The server's `/readyz`, for a
    /// load balancer's health check.
    pub async fn ready(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local { .. } => self.writable(),
            Backend::Redis { redis, .. } => redis.ready().await,
        }
    }

    /// Refuses a change the store could not keep right now.
    fn writable(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local {
                file: Some(file), ..
            } => file.check_writable(),
            _ => Ok(()),
        }
    }

    /// Waits until a change just made is as durable as the store promises
    /// for its kind (`Durable`).
    async fn durable(&self, kind: Durable) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local {
                file: Some(file), ..
            } if kind == Durable::EndsAToken || file.syncs_every_commit() => file.durable().await,
            _ => Ok(()),
        }
    }

    /// Waits until the event `seq` is as durable as the store's changes
    /// (a file store's writer has committed it); at once for the others.
    pub async fn written(&self, seq: u64) {
        if let Backend::Local {
            file: Some(file), ..
        } = &self.backend
        {
            file.written(seq).await;
        }
    }

    /// Runs `change` on the local engine: refused while the file cannot be
    /// written (before the engine changes anything, so a 503 means nothing
    /// was changed), answered once the change is as durable as promised. A
    /// change made when the disk has just filled is still kept: the file
    /// store commits it into room it kept back (`store::file`'s writer).
    async fn locally<T>(
        &self,
        engine: &EngineHandle,
        kind: Durable,
        change: impl FnOnce(&EngineHandle) -> Result<T, crate::engine::EngineError>,
    ) -> Result<T, StoreError> {
        self.writable()?;
        let answer = change(engine)?;
        self.durable(kind).await?;
        Ok(answer)
    }

    pub async fn login(&self, login: Login) -> Result<(Token, SessionView), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::StartsASession, |e| e.login(login))
                    .await
            }
            Backend::Redis { redis, .. } => redis.login(login).await,
        }
    }

    pub async fn touch(&self, token: &str) -> Result<SessionView, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.writable()?;
                // A touch may be coalesced: it is not waited for, even with "always".
                Ok(engine.touch(token)?)
            }
            Backend::Redis { redis, .. } => redis.touch(token).await,
        }
    }

    pub async fn touch_handle(
        &self,
        handle: Handle,
        actor: &str,
    ) -> Result<SessionView, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.writable()?;
                Ok(engine.touch_handle(handle, actor)?)
            }
            Backend::Redis { redis, .. } => redis.touch_handle(handle, actor).await,
        }
    }

    pub async fn renew(&self, token: &str) -> Result<(Token, SessionView), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| e.renew(token))
                    .await
            }
            Backend::Redis { redis, .. } => redis.renew(token).await,
        }
    }

    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| e.logout(token))
                    .await
            }
            Backend::Redis { redis, .. } => redis.logout(token).await,
        }
    }

    pub async fn revoke(&self, handle: Handle, actor: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| e.revoke(handle, actor))
                    .await
            }
            Backend::Redis { redis, .. } => redis.revoke(handle, actor).await,
        }
    }

    pub async fn revoke_user(&self, user: &str, actor: &str) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| {
                    Ok(e.revoke_user(user, actor))
                })
                .await
            }
            Backend::Redis { redis, .. } => redis.revoke_user(user, actor).await,
        }
    }

    /// The live sessions of the token's user, and which is the caller's.
    pub async fn mine(&self, token: &str) -> Result<Mine, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => Ok(engine.mine(token)?),
            Backend::Redis { redis, .. } => redis.mine(token).await,
        }
    }

    /// Ends one of the token's user's sessions.
    pub async fn revoke_mine(&self, token: &str, handle: Handle) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| {
                    e.revoke_mine(token, handle)
                })
                .await
            }
            Backend::Redis { redis, .. } => redis.revoke_mine(token, Some(handle)).await.map(drop),
        }
    }

    /// Ends every other session of the token's user; returns how many.
    pub async fn revoke_others(&self, token: &str) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => {
                self.locally(engine, Durable::EndsAToken, |e| e.revoke_others(token))
                    .await
            }
            Backend::Redis { redis, .. } => redis.revoke_mine(token, None).await,
        }
    }

    pub async fn get(
        &self,
        handle: Handle,
    ) -> Result<Option<(SessionView, Vec<Event>)>, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => Ok(engine.get(handle)),
            Backend::Redis { redis, .. } => redis.get(handle).await,
        }
    }

    /// One page of live sessions, soonest deadline first. A cursor this store
    /// did not hand out is `StoreError::BadCursor`.
    pub async fn list(&self, query: StoreQuery) -> Result<StorePage, StoreError> {
        let StoreQuery {
            user,
            limit,
            cursor,
        } = query;
        match &self.backend {
            Backend::Local { engine, .. } => {
                let cursor = cursor
                    .map(|c| c.parse::<Cursor>())
                    .transpose()
                    .map_err(|()| StoreError::BadCursor)?;
                let page = engine.list(&ListQuery {
                    user,
                    limit,
                    cursor,
                });
                Ok(StorePage {
                    sessions: page.sessions,
                    next_cursor: page.next_cursor.map(|c| c.to_string()),
                })
            }
            Backend::Redis { redis, .. } => {
                let cursor = cursor
                    .map(|c| c.parse::<RedisCursor>())
                    .transpose()
                    .map_err(|()| StoreError::BadCursor)?;
                let (sessions, next) = redis.list(user.as_deref(), limit, cursor.as_ref()).await?;
                Ok(StorePage {
                    sessions,
                    next_cursor: next.map(|c| c.to_string()),
                })
            }
        }
    }

    /// The store's counts: for Redis, cluster-wide.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => Ok(engine.stats()),
            Backend::Redis { redis, .. } => redis.stats().await,
        }
    }

    /// Everything that happens from now on, and the seq of the newest event before it.
    pub async fn subscribe_live(&self) -> Result<(Subscription, u64), StoreError> {
        match &self.backend {
            Backend::Local { engine, .. } => Ok(engine.subscribe_live()),
            Backend::Redis { redis, .. } => redis.subscribe_live().await,
        }
    }

    /// Events after `seq` then everything that follows. If the in-memory
    /// history no longer holds them, the file's history may; on Redis, the stream.
    pub async fn subscribe_after(
        &self,
        seq: u64,
    ) -> Result<Result<Subscription, TooOld>, StoreError> {
        let (engine, file) = match &self.backend {
            Backend::Local { engine, file } => (engine, file),
            Backend::Redis { redis, .. } => {
                return match redis.subscribe_after(seq).await {
                    Ok(subscription) => Ok(Ok(subscription)),
                    Err(SubscribeError::TooOld(too_old)) => Ok(Err(too_old)),
                    Err(SubscribeError::Store(error)) => Err(error),
                };
            }
        };
        match engine.subscribe_after(seq) {
            Ok(subscription) => Ok(Ok(subscription)),
            Err(too_old) => match file {
                Some(file) => catch_up_from_file(engine, file, seq)
                    .await
                    .map(|r| r.map_err(|_| too_old)),
                None => Ok(Err(too_old)),
            },
        }
    }

    /// Stops the engine and, for a file store, commits and syncs what is
    /// queued; for Redis, stops this node's tasks (the sessions stay).
    pub fn shutdown(&self) {
        match &self.backend {
            Backend::Local { engine, file } => {
                if file.is_some() {
                    // Activity not yet announced would not be kept otherwise.
                    engine.announce_pending_touches();
                }
                engine.shutdown();
                if let Some(file) = file {
                    file.close();
                }
            }
            Backend::Redis { redis, .. } => redis.shutdown(),
        }
    }
}

/// A subscription whose backlog comes from the file: subscribe to what is
/// live first, then read everything before it from the file, once the
/// writer has committed it.
async fn catch_up_from_file(
    engine: &EngineHandle,
    file: &Arc<FileStore>,
    seq: u64,
) -> Result<Result<Subscription, TooOld>, StoreError> {
    let (mut subscription, live_from) = engine.subscribe_live();
    if seq > live_from {
        // A seq from the future: not this store's.
        return Ok(Err(TooOld { asked: seq }));
    }
    if !file.committed(Duration::from_secs(10)).await {
        return Err(StoreError::Unavailable(format!(
            "{} is not keeping up with its writes",
            file.path().display()
        )));
    }
    // SQLite reads block: off the runtime's workers, which answer requests.
    let file = Arc::clone(file);
    let backlog =
        tokio::task::spawn_blocking(move || -> Result<Result<Vec<Event>, TooOld>, StoreError> {
            let mut backlog = Vec::new();
            let mut after = seq;
            while after < live_from {
                let events = match file.events_after(after, 10_000)? {
                    Ok(events) => events,
                    Err(too_old) => return Ok(Err(too_old)),
                };
                let Some(last) = events.last() else { break };
                after = last.seq;
                backlog.extend(events.into_iter().filter(|e| e.seq <= live_from));
            }
            Ok(Ok(backlog))
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("the history reader stopped: {e}")))?;
    Ok(backlog?.map(|backlog| {
        subscription.backlog = backlog;
        subscription
    }))
}
