//! The stream's age limit (`[store] history_retention`). Every script keeps
//! the stream to `history_max_events` as it appends (`flush` in common.lua);
//! the age limit needs Redis's clock and the entries' times, so every node
//! applies it now and then: it finds the first entry young enough by a
//! binary search over the stream's ids (which are seqs) and trims the stream
//! to it. The newest entry always stays, so a client that has read
//! everything resumes without a resync. Nodes racing to trim trim the same.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::feed::{StreamEntries, seq_of};
use super::{Shared, wire};
use crate::engine::Millis;
use crate::store::StoreError;

/// The most a trim waits: an event is dropped at most about this long after
/// it has grown too old (less for a shorter retention).
const AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// How often a node trims the stream by age, for a retention of `age`.
pub(super) fn period(age: Duration) -> Duration {
    (age / 10).clamp(Duration::from_secs(1), AT_MOST_EVERY)
}

pub(super) async fn trim(shared: Arc<Shared>) {
    let Some(age) = shared.max_event_age else {
        return;
    };
    let every = period(age);
    let mut last = Instant::now();
    while !shared.shutdown.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_secs(1).min(every)).await;
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let cutoff = shared.estimated_redis_now() - i64::try_from(age.as_millis()).unwrap_or(0);
        if let Err(error) = trim_before(&shared, cutoff).await {
            tracing::debug!(%error, "trimming the event stream by age failed");
        }
    }
}

/// Drops the stream's entries whose events all happened before `cutoff`
/// (Redis time), but never the newest. Returns the least seq kept, if the
/// stream was trimmed.
pub(super) async fn trim_before(
    shared: &Shared,
    cutoff: Millis,
) -> Result<Option<u64>, StoreError> {
    let key = &shared.keys[4];
    let Some((first, first_at)) = entry_at(shared, "-").await? else {
        return Ok(None);
    };
    if first_at >= cutoff {
        return Ok(None);
    }
    let newest: StreamEntries = shared
        .query(
            redis::cmd("XREVRANGE")
                .arg(key)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    let Some(newest) = newest.first().and_then(|(id, _)| seq_of(id)) else {
        return Ok(None);
    };
    // The least seq whose entry (the first at or after it) is young enough,
    // or the newest entry's: times grow with seqs.
    let (mut low, mut high) = (first + 1, newest);
    if low > high {
        return Ok(None);
    }
    while low < high {
        let middle = low + (high - low) / 2;
        match entry_at(shared, &format!("{middle}-0")).await? {
            Some((_, at)) if at >= cutoff => high = middle,
            Some(_) => low = middle + 1,
            // Trimmed meanwhile by another node, or unreadable: try later.
            None => return Ok(None),
        }
    }
    shared
        .query::<()>(
            redis::cmd("XTRIM")
                .arg(key)
                .arg("MINID")
                .arg(format!("{low}-0")),
        )
        .await?;
    Ok(Some(low))
}

/// The seq and time of the first entry at or after `from` (a stream id, or
/// `-`), if there is one and it can be read.
async fn entry_at(shared: &Shared, from: &str) -> Result<Option<(u64, Millis)>, StoreError> {
    let entries: StreamEntries = shared
        .query(
            redis::cmd("XRANGE")
                .arg(&shared.keys[4])
                .arg(from)
                .arg("+")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    let Some((id, fields)) = entries.first() else {
        return Ok(None);
    };
    let Some(seq) = seq_of(id) else {
        return Ok(None);
    };
    Ok(wire::entry(seq, fields)
        .ok()
        .and_then(|events| events.first().map(|event| (seq, event.at))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_retention_is_trimmed_often_and_a_long_one_once_a_minute() {
        assert_eq!(period(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(period(Duration::from_secs(86_400)), AT_MOST_EVERY);
    }
}
