//! Virtual memory areas: what the application asked to map, and the gap
//! search that places new ones (gVisor's `vma.go`).
//!
//! The VMA set is a [`SegmentSet`] with max-gap tracking on, so
//! `find_available` can run either gap search ([`GapSearch::Linear`], gVisor
//! before the fix, or [`GapSearch::MaxGap`]) chosen per memory manager.

use crate::mm::file::FileId;
use crate::mm::perms::{Perms, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::segment::{GapSearch, Range, SegmentFunctions, SegmentSet};

/// What a VMA maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Private anonymous memory (gVisor: `Mappable == nil`).
    Anonymous,
    /// A sentry file (also the internal file behind a shared anonymous
    /// mapping), from `offset` for the VMA's start.
    File {
        /// The file.
        file: FileId,
        /// File offset of the VMA's first byte.
        offset: u64,
    },
}

/// One VMA's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    /// What is mapped.
    pub backing: Backing,
    /// `MAP_SHARED` (true) or `MAP_PRIVATE`.
    pub shared: bool,
    /// Current permissions.
    pub perms: Perms,
}

impl Vma {
    /// The file offset of address `addr` in a VMA starting at `start`.
    pub fn file_offset_at(&self, start: u64, addr: u64) -> Option<(FileId, u64)> {
        match self.backing {
            Backing::Anonymous => None,
            Backing::File { file, offset } => Some((file, offset + (addr - start))),
        }
    }
}

/// Merge policy of the VMA set (gVisor's `vmaSetFunctions`).
pub struct VmaFunctions;

impl SegmentFunctions for VmaFunctions {
    type Value = Vma;
    const TRACK_MAX_GAP: bool = true;

    /// Merges when sharing, permissions and the mappable agree: both
    /// anonymous, or the same file with contiguous offsets.
    fn merge(left: Range, l: &Vma, _right: Range, r: &Vma) -> Option<Vma> {
        if l.shared != r.shared || l.perms != r.perms {
            return None;
        }
        match (l.backing, r.backing) {
            (Backing::Anonymous, Backing::Anonymous) => Some(*l),
            (
                Backing::File {
                    file: lf,
                    offset: lo,
                },
                Backing::File {
                    file: rf,
                    offset: ro,
                },
            ) if lf == rf && lo.checked_add(left.len()) == Some(ro) => Some(*l),
            _ => None,
        }
    }

    fn split(range: Range, v: &Vma, at: u64) -> (Vma, Vma) {
        let mut right = *v;
        if let Backing::File { file, offset } = v.backing {
            right.backing = Backing::File {
                file,
                offset: offset + (at - range.start),
            };
        }
        (*v, right)
    }
}

/// The VMA set type.
pub type VmaSet = SegmentSet<VmaFunctions>;

/// Direction of the default placement search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmapDirection {
    /// Highest fitting gap below the top-down base (Linux and gVisor default).
    TopDown,
    /// Lowest fitting gap above the bottom-up base (legacy layout).
    BottomUp,
}

/// Alignment of a new mapping of `len` bytes: huge-page aligned from 2 MiB
/// up, as gVisor's `findAvailableLocked`.
pub fn placement_alignment(len: u64) -> u64 {
    if len >= HUGE_PAGE_SIZE {
        HUGE_PAGE_SIZE
    } else {
        PAGE_SIZE
    }
}

/// The highest `len`-byte, `align`-aligned range inside a gap of `vmas`
/// and inside `[lo, hi)`.
///
/// Preconditions: `len > 0`, `align` a power of two.
/// Postconditions: both strategies return the same address (the max-gap
/// search only skips gaps shorter than `len`, which cannot fit).
#[inline(never)]
pub fn find_highest_available(
    vmas: &VmaSet,
    strategy: GapSearch,
    len: u64,
    align: u64,
    lo: u64,
    hi: u64,
) -> Option<u64> {
    let mut before = hi;
    while before > lo {
        let g = vmas.last_large_enough_gap(before, len, strategy)?;
        let start = g.start.max(lo);
        let end = g.end.min(before);
        if end >= start.saturating_add(len) {
            let addr = (end - len) & !(align - 1);
            if addr >= start {
                return Some(addr);
            }
        }
        before = g.start;
    }
    None
}

/// The lowest `len`-byte, `align`-aligned range inside a gap of `vmas` and
/// inside `[lo, hi)`. Same pre- and postconditions as [`find_highest_available`].
#[inline(never)]
pub fn find_lowest_available(
    vmas: &VmaSet,
    strategy: GapSearch,
    len: u64,
    align: u64,
    lo: u64,
    hi: u64,
) -> Option<u64> {
    let mut from = lo;
    while from < hi {
        let g = vmas.first_large_enough_gap(from, len, strategy)?;
        let start = g.start.max(from);
        let end = g.end.min(hi);
        if let Some(addr) = start.checked_next_multiple_of(align) {
            if addr.checked_add(len).is_some_and(|e| e <= end) {
                return Some(addr);
            }
        }
        from = g.end;
    }
    None
}
