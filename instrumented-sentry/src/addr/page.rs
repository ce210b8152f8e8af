//! Page sizes and page arithmetic.

/// Page size of the sentry (and of the host: 4 KiB).
pub const PAGE_SIZE: u64 = 4096;
/// Huge page size: gaps for requests at least this long are aligned to it,
/// and private anonymous mappings up to this size are populated eagerly
/// (gVisor's `privateAllocUnit`).
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;

/// Rounds `v` up to a page boundary; `None` on overflow.
#[inline]
pub fn page_round_up(v: u64) -> Option<u64> {
    v.checked_add(PAGE_SIZE - 1).map(|x| x & !(PAGE_SIZE - 1))
}

/// Rounds `v` down to a page boundary.
#[inline]
pub fn page_round_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// True if `v` is page-aligned.
#[inline]
pub fn is_page_aligned(v: u64) -> bool {
    v & (PAGE_SIZE - 1) == 0
}
