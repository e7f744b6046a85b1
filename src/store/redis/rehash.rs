//! Helping Redis finish growing the sessions hash and the deadline sorted
//! set. Redis grows a hash table by moving its entries to one twice the size
//! a bucket at a time, one step per lookup of that key, and, unlike its own
//! keyspace, never in the background. A million-entry table then stays half
//! moved until about a million more lookups have come: a burst of expiries
//! that lands in that time costs a quarter more. Every node looks once a
//! second whether the count of sessions passed a power of two; when it has,
//! one node at a time makes the lookups that finish the move (see
//! `lua/rehash.lua`), a thousand per call with a pause between, so other
//! calls go on.
//!
//! Best effort: while Redis forks (a snapshot or an AOF rewrite) it moves
//! nothing, so no lookups are made then; and a table that Redis grows late
//! because a fork was running when it filled is left to Redis's own steps.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Shared;

/// How often a node looks whether the tables grew, and how long it waits
/// while another node helps or Redis forks.
const LOOK: Duration = Duration::from_secs(1);
/// Lookups of each table per call: about a millisecond of Redis's time.
const STEPS: &[u8] = b"1000";
/// The pause between two calls while there is work left.
const PAUSE: Duration = Duration::from_millis(5);

pub(super) async fn help(shared: Arc<Shared>) {
    let node = shared.node.clone();
    let mut left = 0;
    while !shared.shutdown.load(Ordering::SeqCst) {
        let steps: &[u8] = if left > 0 && !forking(&shared).await {
            STEPS
        } else {
            b"0"
        };
        let pause = match shared
            .run_until::<(i64, i64)>(&shared.scripts.rehash, &[steps, node.as_bytes()], None)
            .await
        {
            Ok((now_left, worked)) => {
                left = now_left;
                if worked == 1 { PAUSE } else { LOOK }
            }
            Err(error) => {
                tracing::debug!(%error, "helping Redis grow its tables failed");
                LOOK
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Whether Redis is writing a snapshot or rewriting its AOF in a child process.
async fn forking(shared: &Shared) -> bool {
    let mut conn = shared.conn();
    let info = shared
        .within_timeout(
            redis::cmd("INFO")
                .arg("persistence")
                .query_async::<String>(&mut conn),
        )
        .await;
    info.is_ok_and(|info| {
        info.lines().any(|line| {
            matches!(
                line.trim(),
                "rdb_bgsave_in_progress:1" | "aof_rewrite_in_progress:1"
            )
        })
    })
}
