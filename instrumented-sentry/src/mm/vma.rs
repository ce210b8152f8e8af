//! Virtual memory areas: what the application asked to map, and the gap
//! search that places new ones (gVisor's `vma.go`).
//!
//! The VMA set is a [`SegmentSet`] with max-gap tracking on, so
//! `find_available` can run either gap search ([`GapSearch::Linear`], gVisor
//! before the fix, or [`GapSearch::MaxGap`]) chosen per memory manager.
//!
//! `create_vma` (createVMA) and `find_available` (findAvailable) are here,
//! as in gVisor's `vma.go`: methods of [`MemoryManager`], `#[inline(never)]`
//! so profiles show them by name.

use crate::addr::{page_round_down, Perms, Range, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::mm::error::MmError;
use crate::mm::file::FileId;
use crate::mm::manager::MemoryManager;
use crate::platform::AddressSpace;
use crate::probes::{probe_site, Site};
use crate::segment::{GapSearch, SegmentFunctions, SegmentSet};

/// Where a new mapping may go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere (`addr == 0`).
    Any,
    /// Prefer this address (rounded down to a page), else anywhere.
    Hint(u64),
    /// Exactly here, replacing existing mappings (`MAP_FIXED`).
    Fixed(u64),
    /// Exactly here, or EEXIST if something is mapped there (`MAP_FIXED_NOREPLACE`).
    FixedNoReplace(u64),
}

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

impl<A: AddressSpace> MemoryManager<A> {
    /// createVMA: places and inserts the VMA (merging with neighbours).
    ///
    /// Postconditions: on success the returned range is covered by VMAs
    /// with `vma`'s value; with `Fixed`, whatever was there before is gone.
    #[inline(never)]
    pub(crate) fn create_vma(
        &mut self,
        placement: Placement,
        len: u64,
        vma: Vma,
    ) -> Result<Range, MmError> {
        let (hint, fixed, unmap) = match placement {
            Placement::Any => (None, false, false),
            Placement::Hint(a) => (Some(page_round_down(a)), false, false),
            Placement::Fixed(a) => (Some(a), true, true),
            Placement::FixedNoReplace(a) => {
                let r = Range::from_start_len(a, len)
                    .ok_or(MmError::NoMemory("address + length overflows"))?;
                if self.vmas.intersecting(r).next().is_some() {
                    return Err(MmError::Exists { addr: a, len });
                }
                (Some(a), true, false)
            }
        };
        let addr = probe_site!(
            self.probes,
            Site::FindAvailable,
            self.find_available(len, hint, fixed, unmap)
        )?;
        let r = Range::new(addr, addr + len);
        if unmap {
            self.unmap_range(r)?;
        }
        self.insert_vma(r, vma)?;
        Ok(r)
    }

    /// findAvailable (gVisor's `findAvailableLocked`): the hint if it fits
    /// (or unconditionally with MAP_FIXED), else the highest (top-down) or
    /// lowest (bottom-up) gap that fits, huge-page aligned for requests of
    /// 2 MiB or more, using the configured gap search.
    #[inline(never)]
    pub fn find_available(
        &self,
        len: u64,
        hint: Option<u64>,
        fixed: bool,
        unmap: bool,
    ) -> Result<u64, MmError> {
        let allowed = self.layout.range;
        if let Some(h) = hint {
            if let Some(r) = Range::from_start_len(h, len) {
                if allowed.is_superset_of(&r) {
                    if unmap {
                        return Ok(h);
                    }
                    if self.vmas.find_gap(h).is_some_and(|g| g.is_superset_of(&r)) {
                        return Ok(h);
                    }
                }
            }
        }
        if fixed {
            return Err(MmError::NoMemory(
                "fixed range is outside the address space or not free",
            ));
        }
        let align = placement_alignment(len);
        let found = match self.config.direction {
            MmapDirection::TopDown => find_highest_available(
                &self.vmas,
                self.config.search,
                len,
                align,
                allowed.start,
                self.layout.top_down_base,
            ),
            MmapDirection::BottomUp => find_lowest_available(
                &self.vmas,
                self.config.search,
                len,
                align,
                self.layout.bottom_up_base,
                allowed.end,
            ),
        };
        found.ok_or(MmError::NoMemory("no free range large enough"))
    }
}
