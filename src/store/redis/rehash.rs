//! Helping Redis finish growing the sessions hash and the deadline sorted
//! set. Redis grows a hash table by moving its entries to one twice the size
//! a bucket at a time, one step per lookup of that key, and, unlike its own
//! keyspace, never in the background. A million-entry table then stays half
//! moved until about a million more lookups have come: a burst of expiries
//! that lands in that time costs a quarter more. Every node looks once a
//! second whether the count of sessions passed a power of two; when it has,
//! the nodes share the lookups that finish the move (see `lua/rehash.lua`),
//! a few thousand per call with a pause between, so other calls go on.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Shared;

/// How often a node looks whether the tables grew.
const LOOK: Duration = Duration::from_secs(1);
/// Lookups of each table per call: about a millisecond of Redis's time.
const STEPS: &[u8] = b"1000";
/// The pause between two calls while there is work left.
const PAUSE: Duration = Duration::from_millis(5);

pub(super) async fn help(shared: Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        tokio::time::sleep(LOOK).await;
        let Ok(mut left) = shared.run::<i64>(&shared.scripts.rehash, &[b"0"]).await else {
            continue;
        };
        while left > 0 && !shared.shutdown.load(Ordering::SeqCst) {
            match shared.run::<i64>(&shared.scripts.rehash, &[STEPS]).await {
                Ok(now) => left = now,
                Err(error) => {
                    tracing::debug!(%error, "helping Redis grow its tables failed");
                    break;
                }
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
}
