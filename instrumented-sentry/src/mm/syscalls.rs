//! The memory system calls: mmap (which calls createVMA and findAvailable,
//! in `vma.rs`, then populates), munmap, mprotect, brk and mremap, with
//! Linux's argument checks and errors (gVisor's `syscalls.go`).

use crate::addr::Range;
use crate::addr::{is_page_aligned, page_round_up, Perms};
use crate::mm::error::MmError;
use crate::mm::file::FileId;
use crate::mm::manager::MemoryManager;
use crate::mm::vma::{Backing, Placement, Vma};
use crate::platform::AddressSpace;
use crate::probes::{probe_site, Site};

/// An mmap request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmapRequest {
    /// Length in bytes (rounded up to pages).
    pub len: u64,
    /// Permissions.
    pub perms: Perms,
    /// Anonymous memory, or a file from a page-aligned offset.
    pub backing: Backing,
    /// `MAP_SHARED` (true) or `MAP_PRIVATE`.
    pub shared: bool,
    /// Placement.
    pub placement: Placement,
    /// `MAP_POPULATE`: back and map the whole range now.
    pub populate: bool,
}

impl MmapRequest {
    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)`.
    pub fn anonymous(len: u64) -> Self {
        Self {
            len,
            perms: Perms::RW,
            backing: Backing::Anonymous,
            shared: false,
            placement: Placement::Any,
            populate: false,
        }
    }

    /// `mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_PRIVATE, fd, offset)`.
    pub fn file(file: FileId, offset: u64, len: u64) -> Self {
        Self {
            backing: Backing::File { file, offset },
            ..Self::anonymous(len)
        }
    }

    /// The same request with `MAP_SHARED`.
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// The same request with `MAP_PRIVATE`.
    pub fn private(mut self) -> Self {
        self.shared = false;
        self
    }

    /// The same request with other permissions.
    pub fn with_perms(mut self, perms: Perms) -> Self {
        self.perms = perms;
        self
    }

    /// The same request with another placement.
    pub fn at(mut self, placement: Placement) -> Self {
        self.placement = placement;
        self
    }

    /// The same request with `MAP_POPULATE`.
    pub fn with_populate(mut self) -> Self {
        self.populate = true;
        self
    }

    /// Builds a request from raw Linux `mmap` arguments (trace replay).
    /// `file` is the sentry file standing for `fd` (None for anonymous).
    /// Flags Linux accepts and this sentry does not model (MAP_NORESERVE,
    /// MAP_STACK, MAP_DENYWRITE, MAP_EXECUTABLE, MAP_LOCKED, MAP_GROWSDOWN,
    /// MAP_32BIT, MAP_HUGETLB...) are ignored.
    ///
    /// Errors: EINVAL for neither or both of MAP_PRIVATE/MAP_SHARED, bad
    /// prot bits, a file mapping without a file, or MAP_SHARED_VALIDATE
    /// with unknown flags; EBADF... is the caller's (no file for the fd).
    pub fn from_linux(
        addr: u64,
        len: u64,
        prot: i32,
        flags: i32,
        file: Option<FileId>,
        offset: u64,
    ) -> Result<Self, MmError> {
        let perms =
            Perms::from_prot(prot).ok_or(MmError::InvalidArgument("unknown PROT_* bits"))?;
        let map_type = flags & 0x3;
        let shared = match map_type {
            libc::MAP_PRIVATE => false,
            libc::MAP_SHARED | libc::MAP_SHARED_VALIDATE => true,
            _ => {
                return Err(MmError::InvalidArgument(
                    "exactly one of MAP_PRIVATE and MAP_SHARED is required",
                ))
            }
        };
        let anonymous = flags & libc::MAP_ANONYMOUS != 0;
        let backing = match (anonymous, file) {
            (true, _) => Backing::Anonymous,
            (false, Some(file)) => Backing::File { file, offset },
            (false, None) => return Err(MmError::InvalidArgument("file mapping without a file")),
        };
        let placement = if flags & libc::MAP_FIXED_NOREPLACE != 0 {
            Placement::FixedNoReplace(addr)
        } else if flags & libc::MAP_FIXED != 0 {
            Placement::Fixed(addr)
        } else if addr != 0 {
            Placement::Hint(addr)
        } else {
            Placement::Any
        };
        Ok(Self {
            len,
            perms,
            backing,
            shared,
            placement,
            populate: flags & libc::MAP_POPULATE != 0,
        })
    }
}

/// Flags of [`MemoryManager::mremap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MremapFlags {
    /// `MREMAP_MAYMOVE`.
    pub may_move: bool,
    /// `MREMAP_FIXED` with this new address (requires `may_move`).
    pub fixed: Option<u64>,
}

impl MremapFlags {
    /// From raw Linux `mremap` flags and new address.
    pub fn from_linux(flags: i32, new_addr: u64) -> Result<Self, MmError> {
        if flags & !(libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED) != 0 {
            return Err(MmError::InvalidArgument("unsupported mremap flags"));
        }
        Ok(Self {
            may_move: flags & libc::MREMAP_MAYMOVE != 0,
            fixed: (flags & libc::MREMAP_FIXED != 0).then_some(new_addr),
        })
    }
}

impl<A: AddressSpace> MemoryManager<A> {
    /// `mmap`: creates a VMA (createVMA → findAvailable), then populates
    /// small private anonymous mappings and `MAP_POPULATE` requests
    /// (getPMAs → mapAS). Returns the start address.
    ///
    /// Errors: EINVAL (zero length, unaligned fixed address or file
    /// offset, offset overflow), ENOMEM (length overflows, no room, fixed
    /// address outside the application range), EEXIST
    /// (MAP_FIXED_NOREPLACE over a mapping), EBADF (unknown file), or a
    /// platform/memory-file error while populating (the new mapping is
    /// removed again).
    #[inline(never)]
    pub fn mmap(&mut self, req: &MmapRequest) -> Result<u64, MmError> {
        self.mmap_calls += 1;
        probe_site!(self.probes, Site::Mmap, self.mmap_locked(req))
    }

    fn mmap_locked(&mut self, req: &MmapRequest) -> Result<u64, MmError> {
        if req.len == 0 {
            return Err(MmError::InvalidArgument("length is zero"));
        }
        let len = page_round_up(req.len).ok_or(MmError::NoMemory("length overflows"))?;
        let mut backing = req.backing;
        if let Backing::File { file, offset } = backing {
            if !is_page_aligned(offset) {
                return Err(MmError::InvalidArgument("file offset is not page-aligned"));
            }
            if offset.checked_add(len).is_none() {
                return Err(MmError::InvalidArgument("file offset + length overflows"));
            }
            self.files.get(file).ok_or(MmError::BadFile(file.get()))?;
        }
        if let Placement::Fixed(a) | Placement::FixedNoReplace(a) = req.placement {
            if !is_page_aligned(a) {
                return Err(MmError::InvalidArgument(
                    "fixed address is not page-aligned",
                ));
            }
        }
        // Shared anonymous memory is an internal file (gVisor: an shm
        // segment), so separate mappings never merge.
        let mut internal = None;
        if req.shared && backing == Backing::Anonymous {
            let file = self
                .files
                .create(len, true)
                .ok_or(MmError::NoMemory("too many sentry files"))?;
            internal = Some(file);
            backing = Backing::File { file, offset: 0 };
        }
        let vma = Vma {
            backing,
            shared: req.shared,
            perms: req.perms,
        };
        let created = probe_site!(
            self.probes,
            Site::CreateVma,
            self.create_vma(req.placement, len, vma)
        );
        let r = match created {
            Ok(r) => r,
            Err(e) => {
                if let Some(f) = internal.and_then(|id| self.files.get_mut(id)) {
                    f.dead = true;
                }
                return Err(e);
            }
        };
        let eager = backing == Backing::Anonymous && len <= self.config.populate_limit;
        if eager || req.populate {
            if let Err(e) = self.populate(r) {
                // Do not leave a half-made mapping behind.
                self.unmap_range(r)?;
                return Err(e);
            }
        }
        Ok(r.start)
    }

    /// Removes everything in `r`: host/guest mappings, PMAs (freeing owned
    /// pages) and VMAs.
    pub(crate) fn unmap_range(&mut self, r: Range) -> Result<(), MmError> {
        self.unmap_as(r)?;
        for (piece, pma) in self.pmas.remove_range(r) {
            self.pma_bytes -= piece.len();
            if pma.owned {
                self.pages.free(pma.offset, piece.len())?;
            }
        }
        self.remove_vmas(r)
    }

    /// `munmap`: removes every mapping in `[addr, addr + len)`, splitting
    /// VMAs that straddle its ends. Unmapped parts of the range are fine.
    ///
    /// Errors: EINVAL for an unaligned address, zero length, or a range
    /// that overflows or leaves the application range.
    pub fn munmap(&mut self, addr: u64, len: u64) -> Result<(), MmError> {
        let r = self.checked_range(addr, len)?;
        self.unmap_range(r)
    }

    fn checked_range(&self, addr: u64, len: u64) -> Result<Range, MmError> {
        if !is_page_aligned(addr) {
            return Err(MmError::InvalidArgument("address is not page-aligned"));
        }
        if len == 0 {
            return Err(MmError::InvalidArgument("length is zero"));
        }
        let len = page_round_up(len).ok_or(MmError::InvalidArgument("length overflows"))?;
        let r = Range::from_start_len(addr, len)
            .ok_or(MmError::InvalidArgument("address + length overflows"))?;
        if !self.layout.range.is_superset_of(&r) {
            return Err(MmError::InvalidArgument(
                "range is outside the application address space",
            ));
        }
        Ok(r)
    }

    /// `mprotect`: sets the permissions of `[addr, addr + len)`.
    ///
    /// Unlike Linux (which may apply a prefix before failing), a range not
    /// fully covered by VMAs changes nothing and returns ENOMEM.
    /// Errors: EINVAL (unaligned address), ENOMEM (overflow, outside the
    /// application range, or a hole in the range).
    pub fn mprotect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), MmError> {
        if !is_page_aligned(addr) {
            return Err(MmError::InvalidArgument("address is not page-aligned"));
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_round_up(len).ok_or(MmError::NoMemory("length overflows"))?;
        let r = Range::from_start_len(addr, len)
            .ok_or(MmError::NoMemory("address + length overflows"))?;
        if !self.layout.range.is_superset_of(&r) {
            return Err(MmError::NoMemory(
                "range is outside the application address space",
            ));
        }
        let mut at = r.start;
        for (vr, _) in self.vmas.intersecting(r) {
            if vr.start > at {
                break;
            }
            at = vr.end;
        }
        if at < r.end {
            return Err(MmError::NoMemory("range is not fully mapped"));
        }
        self.protect_as(r, perms)?;
        self.pmas.update_range(r, |_, p| p.perms = perms);
        self.vmas.update_range(r, |_, v| v.perms = perms);
        Ok(())
    }

    /// `brk`: moves the program break. Returns the new break, or the
    /// current one if the request is refused (below the heap start, past
    /// the application range, or colliding with a mapping), as Linux does.
    /// `brk(0)` returns the current break.
    ///
    /// Errors: only platform or memory-file failures while shrinking.
    pub fn brk(&mut self, addr: u64) -> Result<u64, MmError> {
        let cur = self.brk_end;
        if addr < self.layout.brk_base {
            return Ok(cur);
        }
        let (Some(old_end), Some(new_end)) = (page_round_up(cur), page_round_up(addr)) else {
            return Ok(cur);
        };
        if new_end > self.layout.range.end {
            return Ok(cur);
        }
        if new_end < old_end {
            self.unmap_range(Range::new(new_end, old_end))?;
        } else if new_end > old_end {
            let grow = Range::new(old_end, new_end);
            if self.vmas.intersecting(grow).next().is_some() {
                return Ok(cur);
            }
            self.insert_vma(
                grow,
                Vma {
                    backing: Backing::Anonymous,
                    shared: false,
                    perms: Perms::RW,
                },
            )?;
        }
        self.brk_end = addr;
        Ok(addr)
    }

    /// `mremap`: shrinks in place, grows in place when the following
    /// range is free, or (with `may_move`) moves the mapping, pages and all,
    /// to a new place (or to `fixed`). Returns the new address.
    ///
    /// Not supported: `old_len == 0` (duplicating a shared mapping) → EINVAL.
    /// Errors: EINVAL (unaligned, zero new length, `fixed` without
    /// `may_move`, overlapping fixed ranges), EFAULT (old range not inside
    /// one VMA), ENOMEM (cannot grow in place and may not move, or no room).
    pub fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: MremapFlags,
    ) -> Result<u64, MmError> {
        if !is_page_aligned(old_addr) {
            return Err(MmError::InvalidArgument("old address is not page-aligned"));
        }
        if flags.fixed.is_some() && !flags.may_move {
            return Err(MmError::InvalidArgument(
                "MREMAP_FIXED without MREMAP_MAYMOVE",
            ));
        }
        if new_len == 0 || old_len == 0 {
            return Err(MmError::InvalidArgument("zero length"));
        }
        let old_len =
            page_round_up(old_len).ok_or(MmError::InvalidArgument("old length overflows"))?;
        let new_len =
            page_round_up(new_len).ok_or(MmError::InvalidArgument("new length overflows"))?;
        let old_r = Range::from_start_len(old_addr, old_len)
            .ok_or(MmError::InvalidArgument("old range overflows"))?;
        let (vr, vma) = match self.vmas.lookup(old_addr) {
            Some((vr, v)) if old_r.end <= vr.end => (vr, *v),
            _ => {
                return Err(MmError::Fault {
                    addr: old_addr,
                    reason: "old range is not inside one mapping",
                })
            }
        };
        if let Some(new_addr) = flags.fixed {
            if !is_page_aligned(new_addr) {
                return Err(MmError::InvalidArgument("new address is not page-aligned"));
            }
            let new_r = Range::from_start_len(new_addr, new_len)
                .ok_or(MmError::InvalidArgument("new range overflows"))?;
            if !self.layout.range.is_superset_of(&new_r) {
                return Err(MmError::InvalidArgument(
                    "new range is outside the application address space",
                ));
            }
            if new_r.overlaps(&old_r) {
                return Err(MmError::InvalidArgument("old and new ranges overlap"));
            }
            self.unmap_range(new_r)?;
            let keep = old_len.min(new_len);
            if new_len < old_len {
                self.unmap_range(Range::new(old_addr + new_len, old_r.end))?;
            }
            self.move_mapping(
                Range::new(old_addr, old_addr + keep),
                vr,
                vma,
                new_addr,
                new_len,
            )?;
            return Ok(new_addr);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap_range(Range::new(old_addr + new_len, old_r.end))?;
            }
            return Ok(old_addr);
        }
        let ext = Range::from_start_len(old_r.end, new_len - old_len);
        if let Some(ext) = ext {
            let free = self.layout.range.is_superset_of(&ext)
                && self
                    .vmas
                    .find_gap(ext.start)
                    .is_some_and(|g| g.is_superset_of(&ext));
            if old_r.end == vr.end && free {
                let mut piece = vma;
                if let Backing::File { file, offset } = vma.backing {
                    piece.backing = Backing::File {
                        file,
                        offset: offset + (ext.start - vr.start),
                    };
                }
                self.insert_vma(ext, piece)?;
                return Ok(old_addr);
            }
        }
        if !flags.may_move {
            return Err(MmError::NoMemory(
                "cannot grow in place and MREMAP_MAYMOVE not given",
            ));
        }
        let new_addr = self.find_available(new_len, None, false, false)?;
        self.move_mapping(old_r, vr, vma, new_addr, new_len)?;
        Ok(new_addr)
    }

    /// Moves `old_r` (inside the VMA `vr`/`vma`) to `new_addr`, as a VMA of
    /// `new_len` bytes (>= `old_r.len()`); PMAs move with it.
    ///
    /// Preconditions: `[new_addr, new_addr + new_len)` is free and does not
    /// overlap `old_r`.
    fn move_mapping(
        &mut self,
        old_r: Range,
        vr: Range,
        vma: Vma,
        new_addr: u64,
        new_len: u64,
    ) -> Result<(), MmError> {
        let new_r = Range::new(new_addr, new_addr + new_len);
        let mut moved = vma;
        if let Backing::File { file, offset } = vma.backing {
            moved.backing = Backing::File {
                file,
                offset: offset + (old_r.start - vr.start),
            };
        }
        self.unmap_as(old_r)?;
        let pmas = self.pmas.remove_range(old_r);
        self.insert_vma(new_r, moved)?;
        self.remove_vmas(old_r)?;
        for (piece, pma) in pmas {
            let dst = Range::new(
                piece.start - old_r.start + new_addr,
                piece.end - old_r.start + new_addr,
            );
            self.pmas
                .insert_with_merge(dst, pma)
                .map_err(|_| MmError::NoMemory("PMA range not free"))?;
            self.map_run(dst, pma)?;
        }
        Ok(())
    }
}
