//! `Sessions`: the one handle the server holds, whichever store is behind it.
//!
//! Every operation is async and answers with the engine's own error or with
//! `StoreError::Unavailable`. For the memory and file stores it calls the
//! in-process engine; the file store adds two things around it: a change is
//! refused while the file cannot be written (so the server answers 503 rather
//! than promise what it cannot keep), and with `fsync = "always"` the answer
//! waits until the change is on disk. The Redis store answers the same calls
//! from Redis.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::{
    EngineHandle, Event, Handle, ListQuery, Login, Millis, Mine, Page, Policy, SessionView, Stats,
    Subscription, Token, TooOld,
};

use super::StoreError;
use super::file::FileStore;

/// How the sessions are kept, for `serve`'s start-up line and `/v1/admin/stats`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    Memory,
    File(std::path::PathBuf),
}

impl std::fmt::Display for StoreKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreKind::Memory => write!(f, "memory"),
            StoreKind::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

fn new_node() -> Arc<str> {
    Arc::from(&crate::engine::driver::random_instance()[..8])
}

#[derive(Clone)]
pub struct Sessions {
    engine: EngineHandle,
    file: Option<Arc<FileStore>>,
    /// This process's own id, random per run (see `node()`).
    node: Arc<str>,
}

impl Sessions {
    /// Sessions kept only in this process's memory.
    pub fn memory(engine: EngineHandle) -> Sessions {
        Sessions {
            engine,
            file: None,
            node: new_node(),
        }
    }

    /// Sessions in `engine`, written behind to `file` (the engine was restored from it).
    pub fn file(engine: EngineHandle, file: Arc<FileStore>) -> Sessions {
        Sessions {
            engine,
            file: Some(file),
            node: new_node(),
        }
    }

    pub fn kind(&self) -> StoreKind {
        match &self.file {
            Some(file) => StoreKind::File(file.path().to_owned()),
            None => StoreKind::Memory,
        }
    }

    /// The in-process engine, where there is one.
    pub fn engine(&self) -> &EngineHandle {
        &self.engine
    }

    /// This server process's own id, random per run: nodes sharing one store
    /// have one instance and each its own node.
    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn instance(&self) -> &str {
        self.engine.instance()
    }

    pub fn now(&self) -> Millis {
        self.engine.now()
    }

    pub fn policy(&self) -> Policy {
        self.engine.policy()
    }

    pub fn next_closing(&self) -> Option<Millis> {
        self.engine.next_closing()
    }

    /// Refuses a change the store could not keep right now.
    fn writable(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(file) => file.check_writable(),
            None => Ok(()),
        }
    }

    /// Waits until a change just made is as durable as the store promises.
    async fn durable(&self) -> Result<(), StoreError> {
        match &self.file {
            Some(file) => file.durable().await,
            None => Ok(()),
        }
    }

    pub async fn login(&self, login: Login) -> Result<(Token, SessionView), StoreError> {
        self.writable()?;
        let answer = self.engine.login(login)?;
        self.durable().await?;
        Ok(answer)
    }

    pub async fn touch(&self, token: &str) -> Result<SessionView, StoreError> {
        self.writable()?;
        // A touch may be coalesced: it is not waited for, even with "always".
        Ok(self.engine.touch(token)?)
    }

    pub async fn touch_handle(
        &self,
        handle: Handle,
        actor: &str,
    ) -> Result<SessionView, StoreError> {
        self.writable()?;
        Ok(self.engine.touch_handle(handle, actor)?)
    }

    pub async fn renew(&self, token: &str) -> Result<(Token, SessionView), StoreError> {
        self.writable()?;
        let answer = self.engine.renew(token)?;
        self.durable().await?;
        Ok(answer)
    }

    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        self.writable()?;
        self.engine.logout(token)?;
        self.durable().await
    }

    pub async fn revoke(&self, handle: Handle, actor: &str) -> Result<(), StoreError> {
        self.writable()?;
        self.engine.revoke(handle, actor)?;
        self.durable().await
    }

    pub async fn revoke_user(&self, user: &str, actor: &str) -> Result<usize, StoreError> {
        self.writable()?;
        let revoked = self.engine.revoke_user(user, actor);
        self.durable().await?;
        Ok(revoked)
    }

    /// The live sessions of the token's user, and which is the caller's.
    pub async fn mine(&self, token: &str) -> Result<Mine, StoreError> {
        Ok(self.engine.mine(token)?)
    }

    /// Ends one of the token's user's sessions.
    pub async fn revoke_mine(&self, token: &str, handle: Handle) -> Result<(), StoreError> {
        self.writable()?;
        self.engine.revoke_mine(token, handle)?;
        self.durable().await
    }

    /// Ends every other session of the token's user; returns how many.
    pub async fn revoke_others(&self, token: &str) -> Result<usize, StoreError> {
        self.writable()?;
        let revoked = self.engine.revoke_others(token)?;
        self.durable().await?;
        Ok(revoked)
    }

    pub async fn get(
        &self,
        handle: Handle,
    ) -> Result<Option<(SessionView, Vec<Event>)>, StoreError> {
        Ok(self.engine.get(handle))
    }

    pub async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        Ok(self.engine.list(query))
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        Ok(self.engine.stats())
    }

    /// Everything that happens from now on, and the seq of the newest event before it.
    pub async fn subscribe_live(&self) -> Result<(Subscription, u64), StoreError> {
        Ok(self.engine.subscribe_live())
    }

    /// Events after `seq` then everything that follows. If the in-memory
    /// history no longer holds them, the file's history may.
    pub async fn subscribe_after(
        &self,
        seq: u64,
    ) -> Result<Result<Subscription, TooOld>, StoreError> {
        match self.engine.subscribe_after(seq) {
            Ok(subscription) => Ok(Ok(subscription)),
            Err(too_old) => match &self.file {
                Some(file) => self
                    .catch_up_from_file(file, seq)
                    .await
                    .map(|r| r.map_err(|_| too_old)),
                None => Ok(Err(too_old)),
            },
        }
    }

    /// A subscription whose backlog comes from the file: subscribe to what is
    /// live first, then read everything before it from the file, once the
    /// writer has committed it.
    async fn catch_up_from_file(
        &self,
        file: &FileStore,
        seq: u64,
    ) -> Result<Result<Subscription, TooOld>, StoreError> {
        let (mut subscription, live_from) = self.engine.subscribe_live();
        if !file.committed(Duration::from_secs(10)).await {
            return Err(StoreError::Unavailable(format!(
                "{} is not keeping up with its writes",
                file.path().display()
            )));
        }
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
        subscription.backlog = backlog;
        Ok(Ok(subscription))
    }

    /// Stops the engine and, for a file store, commits and syncs what is queued.
    pub fn shutdown(&self) {
        if self.file.is_some() {
            // Activity not yet announced would not be kept otherwise.
            self.engine.announce_pending_touches();
        }
        self.engine.shutdown();
        if let Some(file) = &self.file {
            file.close();
        }
    }
}
