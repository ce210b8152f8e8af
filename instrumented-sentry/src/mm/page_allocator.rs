//! The page allocator: which bytes of the memory file are in use.
//!
//! Its allocation set is a [`SegmentSet`] of used offset ranges (adjacent
//! ranges always merge) **with** max-gap tracking: after frees the file is
//! fragmented, and a first-fit search that stepped over every hole would be
//! exactly the O(n) walk the study found in the VMA set.
//!
//! # Placement
//! Allocation is top-down inside the file (the highest free range that
//! fits), and the file grows upward by whole chunks when nothing fits. The
//! memory manager hands out addresses top-down too, so consecutive
//! mappings get consecutive, *descending* addresses backed by consecutive,
//! descending file offsets: the host kernel merges such `MAP_SHARED`
//! mappings into one VMA, which keeps the in-process platform far below
//! `vm.max_map_count` (one break per chunk instead of one per mapping).
//! Freed ranges are released to the host (`fallocate(PUNCH_HOLE)`, so they
//! read as zero) and reused first, since they lie above untouched space.

use crate::addr::Range;
use crate::addr::PAGE_SIZE;
use crate::mm::memory_file::{MemoryFile, MemoryFileError};
use crate::segment::{GapSearch, InvariantError, SegmentFunctions, SegmentSet};

/// Merge policy of the allocation set: used ranges always merge.
pub struct AllocFunctions;

impl SegmentFunctions for AllocFunctions {
    type Value = ();
    const TRACK_MAX_GAP: bool = true;

    fn merge(_: Range, _: &(), _: Range, _: &()) -> Option<()> {
        Some(())
    }

    fn split(_: Range, _: &(), _: u64) -> ((), ()) {
        ((), ())
    }
}

/// Allocator of memory-file pages.
pub struct PageAllocator {
    file: MemoryFile,
    used: SegmentSet<AllocFunctions>,
    used_bytes: u64,
}

impl std::fmt::Debug for PageAllocator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageAllocator")
            .field("file", &self.file)
            .field("used_ranges", &self.used.len())
            .field("used_bytes", &self.used_bytes)
            .finish()
    }
}

impl PageAllocator {
    /// An allocator over `file` (which must be empty: size 0).
    pub fn new(file: MemoryFile) -> Result<Self, MemoryFileError> {
        let used = SegmentSet::new(Range::new(0, file.max_size()), 8)
            .map_err(|_| MemoryFileError::Config("memory file maximum size"))?;
        Ok(Self {
            file,
            used,
            used_bytes: 0,
        })
    }

    /// The memory file.
    pub fn file(&self) -> &MemoryFile {
        &self.file
    }

    /// The memory file, mutably (reads, writes, copies of its bytes).
    pub fn file_mut(&mut self) -> &mut MemoryFile {
        &mut self.file
    }

    /// Bytes currently allocated.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    /// Allocated ranges, in offset order.
    pub fn used_ranges(&self) -> impl Iterator<Item = Range> + '_ {
        self.used.iter().map(|(r, _)| r)
    }

    /// Allocates `len` contiguous bytes. Returns the offset and whether
    /// the file grew (the platform must then be told).
    ///
    /// Preconditions: `len` is a positive multiple of the page size.
    /// Postconditions: `[offset, offset + len)` was free, is now used, lies
    /// inside the file and reads as zero.
    #[inline(never)]
    pub fn allocate(&mut self, len: u64) -> Result<(u64, bool), MemoryFileError> {
        debug_assert!(len > 0 && len % PAGE_SIZE == 0);
        let mut grew = false;
        loop {
            let size = self.file.size();
            if let Some(g) = self
                .used
                .last_large_enough_gap(size, len, GapSearch::MaxGap)
            {
                let end = g.end.min(size);
                let off = end - len;
                if off >= g.start {
                    let r = Range::new(off, end);
                    self.used.insert_with_merge(r, ()).map_err(|_| {
                        MemoryFileError::Config("allocation set rejected a free range")
                    })?;
                    self.used_bytes += len;
                    return Ok((off, grew));
                }
            }
            let needed = size.checked_add(len).ok_or(MemoryFileError::Full {
                needed: u64::MAX,
                max: self.file.max_size(),
            })?;
            self.file.grow_to(needed)?;
            grew = true;
        }
    }

    /// Frees `[offset, offset + len)` and releases its pages to the host.
    ///
    /// Preconditions: the range was allocated and not yet freed.
    /// Postconditions: the range is free and reads as zero.
    pub fn free(&mut self, offset: u64, len: u64) -> Result<(), MemoryFileError> {
        let removed: u64 = self
            .used
            .remove_range(Range::new(offset, offset + len))
            .iter()
            .map(|(r, _)| r.len())
            .sum();
        self.used_bytes -= removed;
        self.file.decommit(offset, len)
    }

    /// Checks the allocation set's invariants and the cached byte count.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.used
            .check_invariants()
            .map_err(|e: InvariantError| e.to_string())?;
        let total: u64 = self.used.iter().map(|(r, _)| r.len()).sum();
        if total != self.used_bytes {
            return Err(format!(
                "page allocator: used_bytes {} != recomputed {}",
                self.used_bytes, total
            ));
        }
        if let Some((r, _)) = self.used.last() {
            if r.end > self.file.size() {
                return Err(format!(
                    "page allocator: allocation {r:?} beyond file size {:#x}",
                    self.file.size()
                ));
            }
        }
        Ok(())
    }
}
