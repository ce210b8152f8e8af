//! The memory manager: configuration, state, accessors and the
//! recompute-and-compare invariant check. The operations live in
//! `syscalls.rs` (mmap, munmap, mprotect, brk, mremap), `pma.rs`-side
//! `get_pmas`, `address_space.rs` (mapAS) and `fault.rs` (faults, touch,
//! copy in/out).

use crate::addr::Range;
use crate::addr::{page_round_down, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::mm::error::MmError;
use crate::mm::file::{FileId, FileTable};
use crate::mm::memory_file::{MemoryFile, MemoryFileConfig};
use crate::mm::page_allocator::PageAllocator;
use crate::mm::pma::{Pma, PmaSet};
use crate::mm::vma::{Backing, MmapDirection, Vma, VmaSet};
use crate::platform::inproc_address_space::{InProcAddressSpace, InProcConfig};
use crate::platform::{AddressSpace, PlatformError};
use crate::probes::{ProbeConfig, Probes};
use crate::segment::{GapSearch, SegmentSet};

/// Settings of one memory manager, chosen per run.
#[derive(Clone, Debug)]
pub struct MmConfig {
    /// Gap search of `find_available`: `Linear` (gVisor before the fix) or `MaxGap`.
    pub search: GapSearch,
    /// Default placement direction.
    pub direction: MmapDirection,
    /// Private anonymous mappings up to this length are populated at mmap
    /// time (gVisor: `privateAllocUnit`, 2 MiB). 0 turns eager populate off.
    pub populate_limit: u64,
    /// Fault-around window of file-backed mappings (aligned window around
    /// the faulting page, clipped to the VMA and the file). Private
    /// anonymous faults use a 2 MiB window, as gVisor. Default 64 KiB.
    pub file_fault_window: u64,
    /// Minimum B-tree degree of the VMA set (nodes hold `t-1 ..= 2t-1` VMAs).
    pub vma_degree: usize,
    /// Probe settings.
    pub probes: ProbeConfig,
    /// Memory file sizes.
    pub memory_file: MemoryFileConfig,
}

impl Default for MmConfig {
    fn default() -> Self {
        Self {
            search: GapSearch::MaxGap,
            direction: MmapDirection::TopDown,
            populate_limit: HUGE_PAGE_SIZE,
            file_fault_window: 64 << 10,
            vma_degree: 8,
            probes: ProbeConfig::default(),
            memory_file: MemoryFileConfig::default(),
        }
    }
}

impl MmConfig {
    /// Default settings with the given search strategy.
    pub fn with_search(search: GapSearch) -> Self {
        Self {
            search,
            ..Self::default()
        }
    }
}

/// Where things go in the application range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Every application address (the platform's `app_range`).
    pub range: Range,
    /// Start of the brk heap (bottom of the range).
    pub brk_base: u64,
    /// Top-down placement searches below this (top of the range).
    pub top_down_base: u64,
    /// Bottom-up placement searches above this (a quarter up the range).
    pub bottom_up_base: u64,
}

impl Layout {
    fn for_range(range: Range) -> Layout {
        Layout {
            range,
            brk_base: range.start,
            top_down_base: range.end,
            bottom_up_base: page_round_down(range.start + range.len() / 4),
        }
    }
}

/// Counters of a memory manager (all cheap to read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmStats {
    /// VMAs in the VMA set.
    pub vmas: u64,
    /// PMAs in the PMA set.
    pub pmas: u64,
    /// Bytes covered by VMAs.
    pub mapped_bytes: u64,
    /// Bytes covered by PMAs (reachable without a fault).
    pub resident_bytes: u64,
    /// Memory-file bytes in use.
    pub memory_file_used: u64,
    /// Memory-file length.
    pub memory_file_size: u64,
    /// Host mappings the platform holds.
    pub host_mappings: u64,
    /// mmap calls.
    pub mmap_calls: u64,
    /// Faults handled.
    pub faults: u64,
}

/// A gVisor-style memory manager over a platform address space `A`.
pub struct MemoryManager<A: AddressSpace> {
    pub(crate) config: MmConfig,
    pub(crate) layout: Layout,
    pub(crate) vmas: VmaSet,
    pub(crate) pmas: PmaSet,
    pub(crate) pages: PageAllocator,
    pub(crate) files: FileTable,
    pub(crate) brk_end: u64,
    pub(crate) usage: u64,
    pub(crate) pma_bytes: u64,
    pub(crate) mmap_calls: u64,
    pub(crate) faults: u64,
    /// PMA-set segments stepped over by getPMAs' gap walks, in total.
    pub(crate) pma_walk_steps: u64,
    pub(crate) scratch_runs: Vec<(Range, Pma)>,
    pub(crate) probes: Probes,
    pub(crate) space: A,
}

impl<A: AddressSpace> std::fmt::Debug for MemoryManager<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryManager")
            .field("platform", &self.space.name())
            .field("search", &self.config.search)
            .field("layout", &self.layout)
            .field("stats", &self.stats())
            .finish()
    }
}

impl MemoryManager<InProcAddressSpace> {
    /// A memory manager on the in-process platform.
    pub fn inproc(config: MmConfig, inproc: &InProcConfig) -> Result<Self, MmError> {
        MemoryManager::new(config, |mf| InProcAddressSpace::new(mf.fd(), inproc))
    }
}

impl<A: AddressSpace> MemoryManager<A> {
    /// Creates a memory manager: makes the memory file (a memfd), then
    /// asks `make_space` for the platform address space over it.
    ///
    /// Errors: the memory file or the platform cannot be set up, or the
    /// platform's application range is empty or unaligned.
    pub fn new<F>(config: MmConfig, make_space: F) -> Result<Self, MmError>
    where
        F: FnOnce(&MemoryFile) -> Result<A, PlatformError>,
    {
        let file = MemoryFile::new(&config.memory_file)?;
        let space = make_space(&file)?;
        let range = space.app_range();
        if range.is_empty()
            || range.start % PAGE_SIZE != 0
            || range.end % PAGE_SIZE != 0
            || range.start == 0
        {
            return Err(MmError::InvalidArgument(
                "platform application range must be non-empty, page-aligned and above 0",
            ));
        }
        let vmas = SegmentSet::new(range, config.vma_degree.max(2))
            .map_err(|_| MmError::InvalidArgument("VMA set degree"))?;
        let pmas = SegmentSet::new(range, 8).map_err(|_| MmError::InvalidArgument("PMA set"))?;
        let pages = PageAllocator::new(file)?;
        let layout = Layout::for_range(range);
        Ok(Self {
            probes: Probes::new(config.probes.clone()),
            config,
            layout,
            vmas,
            pmas,
            pages,
            files: FileTable::default(),
            brk_end: layout.brk_base,
            usage: 0,
            pma_bytes: 0,
            mmap_calls: 0,
            faults: 0,
            pma_walk_steps: 0,
            scratch_runs: Vec::new(),
            space,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    /// The layout of the application range.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The gap search strategy in use.
    pub fn search(&self) -> GapSearch {
        self.config.search
    }

    /// Switches the gap search strategy (e.g. to build a large population
    /// quickly with max-gap, then measure the linear search on it).
    pub fn set_search(&mut self, search: GapSearch) {
        self.config.search = search;
    }

    /// The probes (read their report with [`Probes::report`]).
    pub fn probes(&self) -> &Probes {
        &self.probes
    }

    /// The probes, mutably (reset between trials, switch on and off).
    pub fn probes_mut(&mut self) -> &mut Probes {
        &mut self.probes
    }

    /// The platform address space.
    pub fn address_space(&self) -> &A {
        &self.space
    }

    /// The platform address space, mutably.
    pub fn address_space_mut(&mut self) -> &mut A {
        &mut self.space
    }

    /// The memory file (its fd and chunk layout, for platforms and dumps).
    pub fn memory_file(&self) -> &MemoryFile {
        self.pages.file()
    }

    /// Host mappings the platform holds now.
    pub fn host_mappings(&self) -> u64 {
        self.space.host_mappings()
    }

    /// PMA-set segments getPMAs has stepped over while looking for the
    /// unbacked parts of its ranges, summed since the manager was made (a
    /// deterministic cost measure for tests and benches: with a bounded
    /// walk it grows with the PMAs inside each range, never with the PMAs
    /// above it).
    pub fn pma_walk_steps(&self) -> u64 {
        self.pma_walk_steps
    }

    /// Number of VMAs.
    pub fn vma_count(&self) -> usize {
        self.vmas.len()
    }

    /// Every VMA, in address order.
    pub fn vmas(&self) -> impl Iterator<Item = (Range, Vma)> + '_ {
        self.vmas.iter().map(|(r, v)| (r, *v))
    }

    /// Every PMA, in address order.
    pub fn pmas(&self) -> impl Iterator<Item = (Range, Pma)> + '_ {
        self.pmas.iter().map(|(r, v)| (r, *v))
    }

    /// The current program break.
    pub fn current_brk(&self) -> u64 {
        self.brk_end
    }

    /// Counters.
    pub fn stats(&self) -> MmStats {
        MmStats {
            vmas: self.vmas.len() as u64,
            pmas: self.pmas.len() as u64,
            mapped_bytes: self.usage,
            resident_bytes: self.pma_bytes,
            memory_file_used: self.pages.used_bytes(),
            memory_file_size: self.pages.file().size(),
            host_mappings: self.space.host_mappings(),
            mmap_calls: self.mmap_calls,
            faults: self.faults,
        }
    }

    /// Creates a sentry file of `size` bytes (zero-filled) that mmap
    /// requests can map privately or shared.
    pub fn create_file(&mut self, size: u64) -> Result<FileId, MmError> {
        self.files
            .create(size, false)
            .ok_or(MmError::NoMemory("too many sentry files"))
    }

    /// Size of a file.
    pub fn file_size(&self, file: FileId) -> Result<u64, MmError> {
        self.files
            .get(file)
            .map(|f| f.size)
            .ok_or(MmError::BadFile(file.get()))
    }

    /// Writes `data` into a file at `offset` (like `pwrite`; grows the
    /// file if needed). Shared mappings see the bytes at once.
    pub fn file_write(&mut self, file: FileId, offset: u64, data: &[u8]) -> Result<(), MmError> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(MmError::InvalidArgument("file offset + length overflows"))?;
        let mut pos = offset;
        while pos < end {
            let page = pos / PAGE_SIZE;
            let in_page = pos % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(end - pos);
            let mf_off = self.file_cache_page(file, page)?;
            let from = (pos - offset) as usize;
            self.pages
                .file_mut()
                .write(mf_off + in_page, &data[from..from + n as usize])?;
            pos += n;
        }
        let f = self
            .files
            .get_mut(file)
            .ok_or(MmError::BadFile(file.get()))?;
        f.size = f.size.max(end);
        Ok(())
    }

    /// Reads a file at `offset` into `buf` (bytes past the end read as zero).
    pub fn file_read(&self, file: FileId, offset: u64, buf: &mut [u8]) -> Result<(), MmError> {
        let f = self.files.get(file).ok_or(MmError::BadFile(file.get()))?;
        let mut pos = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let page = pos / PAGE_SIZE;
            let in_page = pos % PAGE_SIZE;
            let n = ((PAGE_SIZE - in_page) as usize).min(buf.len() - done);
            match f.cache.get(&page) {
                Some(&mf_off) => self
                    .pages
                    .file()
                    .read(mf_off + in_page, &mut buf[done..done + n])?,
                None => buf[done..done + n].fill(0),
            }
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    /// The memory-file offset of a file's cached page, allocating it (zero)
    /// if the file has none yet.
    pub(crate) fn file_cache_page(&mut self, file: FileId, page: u64) -> Result<u64, MmError> {
        let f = self.files.get(file).ok_or(MmError::BadFile(file.get()))?;
        if let Some(&off) = f.cache.get(&page) {
            return Ok(off);
        }
        let off = self.allocate_pages(PAGE_SIZE)?;
        if let Some(f) = self.files.get_mut(file) {
            f.cache.insert(page, off);
        }
        Ok(off)
    }

    /// Allocates memory-file bytes, telling the platform if the file grew.
    pub(crate) fn allocate_pages(&mut self, len: u64) -> Result<u64, MmError> {
        let (off, grew) = self.pages.allocate(len)?;
        if grew {
            let size = self.pages.file().size();
            self.space.memory_file_grown(size)?;
        }
        Ok(off)
    }

    /// Inserts a VMA (merging), keeping the counters.
    pub(crate) fn insert_vma(&mut self, r: Range, vma: Vma) -> Result<(), MmError> {
        self.vmas
            .insert_with_merge(r, vma)
            .map_err(|_| MmError::NoMemory("range is not free in the VMA set"))?;
        self.usage += r.len();
        if let Backing::File { file, .. } = vma.backing {
            if let Some(f) = self.files.get_mut(file) {
                f.mapped_bytes += r.len();
            }
        }
        Ok(())
    }

    /// Removes the VMAs in `r` (not their PMAs), keeping the counters and
    /// freeing internal files that are no longer mapped.
    pub(crate) fn remove_vmas(&mut self, r: Range) -> Result<(), MmError> {
        for (piece, vma) in self.vmas.remove_range(r) {
            self.usage -= piece.len();
            if let Backing::File { file, .. } = vma.backing {
                let mut free_cache = Vec::new();
                if let Some(f) = self.files.get_mut(file) {
                    f.mapped_bytes -= piece.len();
                    if f.internal && f.mapped_bytes == 0 {
                        free_cache = f.cache.drain().map(|(_, off)| off).collect();
                        f.dead = true;
                    }
                }
                for off in free_cache {
                    self.pages.free(off, PAGE_SIZE)?;
                }
            }
        }
        Ok(())
    }

    /// Verifies every structure from scratch (gVisor-style recompute and
    /// compare): both sets' invariants, cached counters, every PMA inside
    /// VMAs with the same permissions, file mapping counts, and that
    /// allocated memory-file bytes are exactly the owned PMAs plus the
    /// file caches. Returns a description of the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.vmas
            .check_invariants()
            .map_err(|e| format!("VMA set: {e}"))?;
        self.pmas
            .check_invariants()
            .map_err(|e| format!("PMA set: {e}"))?;
        self.pages.check_invariants()?;
        let usage: u64 = self.vmas.iter().map(|(r, _)| r.len()).sum();
        if usage != self.usage {
            return Err(format!("usage {} != recomputed {}", self.usage, usage));
        }
        let pma_bytes: u64 = self.pmas.iter().map(|(r, _)| r.len()).sum();
        if pma_bytes != self.pma_bytes {
            return Err(format!(
                "PMA bytes {} != recomputed {}",
                self.pma_bytes, pma_bytes
            ));
        }
        let mut owned = 0u64;
        for (pr, pma) in self.pmas.iter() {
            if pma.owned {
                owned += pr.len();
            }
            let mut at = pr.start;
            for (vr, vma) in self.vmas.intersecting(pr) {
                if vr.start > at {
                    return Err(format!("PMA {pr:?} has no VMA at {at:#x}"));
                }
                if vma.perms != pma.perms {
                    return Err(format!(
                        "PMA {pr:?} perms {} != VMA {vr:?} perms {}",
                        pma.perms, vma.perms
                    ));
                }
                at = vr.end;
            }
            if at < pr.end {
                return Err(format!("PMA {pr:?} has no VMA at {at:#x}"));
            }
        }
        let mut cached = 0u64;
        for (id, f) in self.files.iter() {
            cached += f.cache.len() as u64 * PAGE_SIZE;
            let mapped: u64 = self
                .vmas
                .iter()
                .filter(|(_, v)| matches!(v.backing, Backing::File { file, .. } if file == id))
                .map(|(r, _)| r.len())
                .sum();
            if mapped != f.mapped_bytes {
                return Err(format!(
                    "file {} mapped bytes {} != recomputed {}",
                    id.get(),
                    f.mapped_bytes,
                    mapped
                ));
            }
        }
        if owned + cached != self.pages.used_bytes() {
            return Err(format!(
                "memory file used {} != owned PMAs {} + file caches {}",
                self.pages.used_bytes(),
                owned,
                cached
            ));
        }
        Ok(())
    }
}
