//! A hint to the CPU to start loading memory the search will read soon.
//! The search reads schools and index nodes from all over a snapshot far
//! larger than the caches; asking for several of them before reading any
//! lets their loads overlap instead of waiting for each in turn.

/// Asks for the cache lines of `value` to be loaded, without waiting. A
/// hint only: it never faults and changes no result.
#[inline(always)]
pub(crate) fn prefetch<T: ?Sized>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = std::ptr::from_ref(value).cast::<i8>();
        let size = std::mem::size_of_val(value);
        let mut offset = 0;
        while offset < size {
            // SAFETY: `_mm_prefetch` is a hint that never faults, and the
            // address is within `value`.
            unsafe { _mm_prefetch(start.add(offset), _MM_HINT_T0) };
            offset += 64;
        }
        if size > 0 {
            // The last line, which `value` reaches when it does not start
            // on a line's boundary.
            // SAFETY: as above; the last byte of `value`.
            unsafe { _mm_prefetch(start.add(size - 1), _MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
