//! This node's expiry driver. Every node runs one; Redis runs one script at a
//! time, so each due session is claimed exactly once, by whichever node asks
//! first, and a node that dies leaves the others to go on.
//!
//! It sleeps until the earliest deadline it knows (the sorted set's head, as
//! the claim script reports it), converted to this node's clock by the skew it
//! measures on every claim, so a node whose clock is wrong still wakes on
//! Redis's time. The stream wakes it sooner when a change brings a deadline
//! forward; it also looks at least once a second, for changes it cannot see
//! (a coalesced touch waiting on another node). When Redis is down it retries;
//! what fell due meanwhile is ended then, with its real deadline, so the
//! lateness it reports is honest.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{EXPIRY_CHUNK, Shared};

/// The longest the driver sleeps without looking at Redis.
const MAX_NAP: Duration = Duration::from_secs(1);
/// How long the driver waits before retrying an unreachable Redis.
const RETRY: Duration = Duration::from_millis(200);

pub(super) async fn drive(shared: Arc<Shared>) {
    let chunk = EXPIRY_CHUNK.to_string();
    while !shared.shutdown.load(Ordering::SeqCst) {
        // While the claim runs, any deadline that arrives wakes us again after.
        shared.planned_wake.store(i64::MAX, Ordering::SeqCst);
        let before = shared.clock.now();
        let claimed: Result<(i64, i64, i64, i64), _> = shared
            .run_until(&shared.scripts.claim, &[chunk.as_bytes()], None)
            .await;
        let after = shared.clock.now();
        let next = match claimed {
            Ok((_, more, next, redis_now)) => {
                shared.observe_skew(before, redis_now, after);
                if more == 1 {
                    tokio::task::yield_now().await;
                    continue;
                }
                (next >= 0).then_some(next)
            }
            Err(error) => {
                tracing::debug!(%error, "the expiry driver cannot reach Redis");
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = shared.wake.notified() => {}
                }
                continue;
            }
        };
        let skew = shared.skew.load(Ordering::Relaxed);
        let wait = match next {
            Some(next) => {
                shared.planned_wake.store(next, Ordering::SeqCst);
                shared
                    .clock
                    .real_wait_until(next - skew)
                    .unwrap_or(MAX_NAP)
                    .min(MAX_NAP)
            }
            None => MAX_NAP,
        };
        if next.is_none() {
            shared.planned_wake.store(
                shared.estimated_redis_now() + MAX_NAP.as_millis() as i64,
                Ordering::SeqCst,
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shared.wake.notified() => {}
        }
    }
}
