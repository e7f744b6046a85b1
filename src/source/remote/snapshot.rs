//! The snapshot: the server's stats, then every live session, read in pages.
//!
//! Each page is asked for with the previous page's cursor. A server that
//! hands back a cursor it already gave would keep the dashboard loading
//! forever, so a repeated cursor ends the load with an error.

use std::collections::HashSet;

use reqwest::Method;

use super::super::{SourceError, SourceSnapshot};
use super::Shared;
use super::http::encode_component;
use crate::api::{SessionPage, StatsResponse};
use crate::engine::Policy;
use crate::engine::clock::system_now;

/// Sessions asked for per page.
pub const PAGE: usize = 1000;

/// What the last snapshot taught us about the server.
#[derive(Debug, Clone, Default)]
pub struct ServerFacts {
    pub policy: Policy,
    pub version: String,
    pub instance: String,
    /// The node that answered, random per server process.
    pub node: String,
    /// Server time minus our time, in milliseconds.
    pub offset_ms: i64,
}

/// Asks the server for its stats again after a reconnect: the node that
/// answers now (a load balancer may have picked another, or the node
/// restarted), its policy and version, and its clock. The instance stays as
/// the snapshot found it: another instance gets the stream's `resync`, and a
/// reload, anyway; but nodes that share a store keep its instance across
/// their own restarts, with whatever policy each was started with.
/// Returns whether what the header shows changed.
pub async fn refresh_node(shared: &Shared) -> Result<bool, SourceError> {
    let (stats, offset_ms) = read_stats(shared).await?;
    let policy = Policy::try_from(&stats.policy).map_err(SourceError::Connection)?;
    let mut facts = shared.facts();
    let changed =
        facts.node != stats.node || facts.policy != policy || facts.version != stats.version;
    facts.node = stats.node;
    facts.policy = policy;
    facts.version = stats.version;
    facts.offset_ms = offset_ms;
    shared.set_facts(facts);
    Ok(changed)
}

/// The server's stats, and how far its clock is from ours (from the middle
/// of the round trip).
async fn read_stats(shared: &Shared) -> Result<(StatsResponse, i64), SourceError> {
    let asked_at = system_now();
    let stats: StatsResponse = shared
        .http
        .call(Method::GET, "/v1/admin/stats", None::<&()>)
        .await?;
    let answered_at = system_now();
    let offset_ms = stats.server_time - (asked_at + answered_at) / 2;
    Ok((stats, offset_ms))
}

/// Records the node an event stream says serves it; returns whether it changed.
pub fn set_node(shared: &Shared, node: &str) -> bool {
    let mut facts = shared.facts();
    if facts.node == node {
        return false;
    }
    facts.node = node.to_owned();
    shared.set_facts(facts);
    true
}

/// Every live session, read in pages, and the sequence number it is current to.
pub async fn load(shared: &Shared) -> Result<SourceSnapshot, SourceError> {
    let (stats, offset_ms) = read_stats(shared).await?;
    let policy = Policy::try_from(&stats.policy).map_err(SourceError::Connection)?;
    shared.set_facts(ServerFacts {
        policy,
        version: stats.version.clone(),
        instance: stats.instance.clone(),
        node: stats.node.clone(),
        offset_ms,
    });
    // Events after `last_seq` are replayed on top of these pages; they carry
    // whole sessions, so applying one the pages already show is harmless.
    // The count comes from the server: trust it only so far.
    let mut sessions = Vec::with_capacity((stats.active as usize).min(1 << 20));
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/admin/sessions?limit={PAGE}");
        if let Some(cursor) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&encode_component(cursor));
        }
        let page: SessionPage = shared.http.call(Method::GET, &path, None::<&()>).await?;
        sessions.extend(page.sessions.into_iter().map(Into::into));
        match page.next_cursor {
            Some(next) if !seen.insert(next.clone()) => {
                return Err(SourceError::Connection(format!(
                    "the server gave the same page cursor twice while {} sessions were read; the snapshot would never end, so the dashboard stopped reading",
                    sessions.len()
                )));
            }
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(SourceSnapshot {
        info: shared.info(),
        sessions,
        seq: stats.last_seq,
        stats: stats.engine_stats(),
        now: stats.server_time,
    })
}
