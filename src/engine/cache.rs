//! Prefetch hints for the per-operation path.
//!
//! At a million sessions a touch waits mostly on memory: the session's
//! record, its deadline entry and that entry's neighbours, its attributes and
//! its user's name each sit in a different cache line far from the last
//! touch's. Taken one after another, each miss waits for the one before. A
//! touch asks for them all as soon as it knows the slot, so they arrive
//! together while the token's hash is checked. A hint changes no result.

/// Asks the CPU to start loading the cache line that holds `value`.
#[inline(always)]
pub(crate) fn prefetch<T: ?Sized>(value: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing and never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch(value.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Asks the CPU to start loading every cache line of `value`: a record
/// spans two or three lines, and waiting for the second after the first
/// doubles the wait.
#[inline(always)]
pub(crate) fn prefetch_all<T>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    let mut offset = 0;
    while offset < std::mem::size_of::<T>() {
        prefetch(start.wrapping_add(offset));
        offset += 64;
    }
    prefetch(start.wrapping_add(std::mem::size_of::<T>().saturating_sub(1)));
}

/// `prefetch_all` of a shared value and of its reference counts.
#[inline(always)]
pub(crate) fn prefetch_shared<T>(value: &std::sync::Arc<T>) {
    // The counts sit just before the value, in its allocation.
    prefetch(std::sync::Arc::as_ptr(value).cast::<u8>().wrapping_sub(16));
    prefetch_all::<T>(value);
}
