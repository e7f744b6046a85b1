//! Huge pages for the engine's big tables.
//!
//! At a million sessions the session records and the deadline entries fill
//! hundreds of megabytes, and an operation reads a random entry of each. With
//! 4 KiB pages nearly every such read also misses the TLB, and in a virtual
//! machine a page walk costs several more memory reads: a touch measured
//! about a third faster once the tables sat on 2 MiB pages. Linux gives
//! transparent huge pages to memory marked with `madvise(MADV_HUGEPAGE)`
//! (the default setting, `madvise`, gives them to nothing else), so a table
//! that grows past a few megabytes moves into a new buffer that is marked
//! before it is first written. A hint only: it changes no result, and where
//! the kernel says no, nothing changes.

/// Tables smaller than this grow as usual: a huge page would mostly hold nothing.
const MIN_BYTES: usize = 4 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Makes room for one more item in `table`, marking a new buffer for huge
/// pages once the table is big enough to fill them.
pub(crate) fn reserve_one<T>(table: &mut Vec<T>) {
    reserve(table, 1);
}

/// Makes room for `additional` more items (see `reserve_one`).
pub(crate) fn reserve<T>(table: &mut Vec<T>, additional: usize) {
    let needed = table.len().saturating_add(additional);
    if needed <= table.capacity() {
        return;
    }
    let capacity = needed.max(table.capacity().saturating_mul(2));
    let bytes = capacity.saturating_mul(std::mem::size_of::<T>());
    if bytes < MIN_BYTES {
        table.reserve(additional);
        return;
    }
    let mut grown = Vec::with_capacity(capacity);
    advise(grown.as_ptr(), bytes);
    grown.append(table);
    *table = grown;
}

/// Marks the whole huge pages inside `bytes` from `start` for huge pages.
fn advise<T>(start: *const T, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        let first = (start as usize).next_multiple_of(HUGE_PAGE);
        let end = (start as usize).saturating_add(bytes) / HUGE_PAGE * HUGE_PAGE;
        if end > first {
            // SAFETY: madvise with MADV_HUGEPAGE only changes how the kernel
            // backs pages of our own live allocation; it never changes their
            // contents, and a failure leaves everything as it was.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keeps_every_item_in_order() {
        let mut table: Vec<u64> = Vec::new();
        for i in 0..2_000_000u64 {
            reserve_one(&mut table);
            table.push(i);
        }
        assert!(table.iter().copied().eq(0..2_000_000));
        reserve(&mut table, 10);
        assert!(table.capacity() >= 2_000_010);
        assert_eq!(table.len(), 2_000_000);
    }
}
