//! The in-process platform: the sentry's application addresses are host
//! addresses inside an arena of this process.
//!
//! - The arena is a range of low user addresses (from 16 TiB up, far below
//!   where the kernel places `mmap`s, which it does top-down from just below
//!   the stack), claimed per address space from a process-wide registry so
//!   arenas never overlap. Only mapped pages hold host mappings: nothing
//!   reserves the holes, because mapping into a hole costs about half of
//!   replacing part of a `PROT_NONE` reservation (3.9k vs 7.8k TSC cycles
//!   measured here).
//! - `map` (mapAS) is a real host `mmap(MAP_FIXED_NOREPLACE | MAP_SHARED,
//!   memfd, offset)` into a hole of the arena (or `MAP_FIXED` over a
//!   mapping the model says is ours), so workloads really load and store
//!   through it. If anything else ever appeared inside the arena,
//!   `MAP_FIXED_NOREPLACE` fails with EEXIST instead of clobbering it.
//! - `unmap` is a host `munmap`; `protect` a host `mprotect`.
//!
//! # Counting host mappings
//! The kernel merges adjacent VMAs of contiguous memfd offsets with the same
//! protection. A segment set of the arena's mappings with that merge rule
//! models exactly the kernel's VMAs, so [`AddressSpace::host_mappings`] is
//! exact at no syscall cost (tests compare it with `/proc/self/maps`).
//! Before each operation the platform checks that it cannot pass its limit
//! (an operation adds at most two VMAs: splitting one into three); the limit
//! is `vm.max_map_count` (read once from `/proc/sys/vm/max_map_count`) minus
//! the mappings the rest of the process holds at start-up and a margin for
//! those it makes later.

use crate::addr::Range;
use crate::addr::{is_page_aligned, Perms};
use crate::host::{max_map_count, process_mappings};
use crate::platform::{range_inside, AddressSpace, PlatformError};
use crate::segment::{SegmentFunctions, SegmentSet};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

const NAME: &str = "inproc";

/// Host mappings kept free for the rest of the process (allocator arenas,
/// thread stacks, collectors) beyond those it has at start-up.
pub const PROCESS_MAPPING_MARGIN: u64 = 1024;

/// Settings of the in-process platform.
#[derive(Clone, Debug)]
pub struct InProcConfig {
    /// Size of the reserved arena (the application address range).
    /// Default 64 GiB: address space only, no memory is committed.
    pub arena_size: u64,
    /// Override of the host-mapping limit (tests use a small one); None:
    /// from `vm.max_map_count`.
    pub max_host_mappings: Option<u64>,
}

impl Default for InProcConfig {
    fn default() -> Self {
        Self {
            arena_size: 64 << 30,
            max_host_mappings: None,
        }
    }
}

/// One host mapping of the arena, as the kernel holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostMapping {
    /// memfd offset of the mapping's first byte.
    pub offset: u64,
    /// Host protection.
    pub perms: Perms,
}

/// Merge policy mirroring the kernel's VMA merging of `MAP_SHARED` memfd
/// mappings: contiguous offsets and the same protection.
pub struct HostMappingFunctions;

impl SegmentFunctions for HostMappingFunctions {
    type Value = HostMapping;
    const TRACK_MAX_GAP: bool = false;

    fn merge(left: Range, l: &HostMapping, _: Range, r: &HostMapping) -> Option<HostMapping> {
        (l.perms == r.perms && l.offset.checked_add(left.len()) == Some(r.offset)).then_some(*l)
    }

    fn split(range: Range, v: &HostMapping, at: u64) -> (HostMapping, HostMapping) {
        (
            *v,
            HostMapping {
                offset: v.offset + (at - range.start),
                perms: v.perms,
            },
        )
    }
}

/// First address of the region arenas are claimed from (16 TiB).
pub const ARENA_REGION_START: u64 = 0x1000_0000_0000;
/// End of that region (64 TiB), below a PIE executable's load address.
pub const ARENA_REGION_END: u64 = 0x4000_0000_0000;

/// Process-wide registry of claimed arenas.
struct ArenaRegistry {
    next: u64,
    free: Vec<Range>,
}

static ARENAS: std::sync::Mutex<ArenaRegistry> = std::sync::Mutex::new(ArenaRegistry {
    next: ARENA_REGION_START,
    free: Vec::new(),
});

/// True if no host mapping intersects `r` (probed with a
/// `MAP_FIXED_NOREPLACE` reservation that is dropped at once).
fn range_is_free(r: Range) -> bool {
    let Ok(len) = usize::try_from(r.len()) else {
        return false;
    };
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; on
    // success the fresh reservation is ours and is unmapped right away.
    let p = unsafe {
        libc::mmap(
            r.start as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE
                | libc::MAP_ANONYMOUS
                | libc::MAP_NORESERVE
                | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return false;
    }
    // SAFETY: unmaps exactly the reservation just made.
    unsafe { libc::munmap(p, len) };
    p as u64 == r.start
}

/// Claims an arena of `len` bytes (2 MiB-aligned) no other arena uses and
/// no host mapping intersects.
fn claim_arena(len: u64) -> Option<Range> {
    let len = len.checked_next_multiple_of(2 << 20)?;
    let mut reg = ARENAS.lock().ok()?;
    if let Some(i) = reg
        .free
        .iter()
        .position(|f| f.len() >= len && range_is_free(Range::new(f.start, f.start + len)))
    {
        let f = reg.free.swap_remove(i);
        if f.len() > len {
            reg.free.push(Range::new(f.start + len, f.end));
        }
        return Some(Range::new(f.start, f.start + len));
    }
    loop {
        let r = Range::from_start_len(reg.next, len).filter(|r| r.end <= ARENA_REGION_END)?;
        reg.next = r.end;
        if range_is_free(r) {
            return Some(r);
        }
    }
}

fn release_arena(r: Range) {
    if let Ok(mut reg) = ARENAS.lock() {
        reg.free.push(r);
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The in-process address space.
pub struct InProcAddressSpace {
    memfd: OwnedFd,
    arena: Range,
    slot: Range,
    model: SegmentSet<HostMappingFunctions>,
    limit: u64,
    max_map_count: u64,
    reserved: u64,
}

impl std::fmt::Debug for InProcAddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcAddressSpace")
            .field("arena", &self.arena)
            .field("host_mappings", &self.model.len())
            .field("limit", &self.limit)
            .finish()
    }
}

impl InProcAddressSpace {
    /// Reserves the arena and takes a handle on `memfd`, the memory file's
    /// descriptor (duplicated: the caller keeps its own).
    ///
    /// Errors: `Unavailable` for a bad arena size, an unreadable
    /// `vm.max_map_count` (without an override) or no free arena; `Host`
    /// if the fd duplication fails.
    pub fn new(memfd: BorrowedFd<'_>, config: &InProcConfig) -> Result<Self, PlatformError> {
        if config.arena_size == 0 || !is_page_aligned(config.arena_size) {
            return Err(PlatformError::Unavailable {
                platform: NAME,
                reason: "arena size must be a positive multiple of 4096".into(),
            });
        }
        let (limit, max_map_count, reserved) = match config.max_host_mappings {
            Some(l) => (l, max_map_count().unwrap_or(0), 0),
            None => {
                let max = max_map_count().ok_or_else(|| PlatformError::Unavailable {
                    platform: NAME,
                    reason: "cannot read /proc/sys/vm/max_map_count".into(),
                })?;
                let reserved = process_mappings().unwrap_or(0) + PROCESS_MAPPING_MARGIN;
                (max.saturating_sub(reserved), max, reserved)
            }
        };
        let memfd = memfd
            .try_clone_to_owned()
            .map_err(|e| PlatformError::Host {
                platform: NAME,
                op: "dup(memfd)",
                addr: 0,
                len: 0,
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?;
        let slot = claim_arena(config.arena_size).ok_or_else(|| PlatformError::Unavailable {
            platform: NAME,
            reason: format!(
                "no free {} GiB arena left between {ARENA_REGION_START:#x} and {ARENA_REGION_END:#x} (too many live in-process address spaces, or a smaller arena size is needed)",
                config.arena_size >> 30
            ),
        })?;
        let arena = Range::new(slot.start, slot.start + config.arena_size);
        let model = SegmentSet::new(arena, 8).map_err(|e| PlatformError::Unavailable {
            platform: NAME,
            reason: format!("host mapping model: {e}"),
        })?;
        Ok(Self {
            memfd,
            arena,
            slot,
            model,
            limit,
            max_map_count,
            reserved,
        })
    }

    /// The host-mapping limit in force.
    pub fn host_mapping_limit(&self) -> u64 {
        self.limit
    }

    /// The model of the arena: every piece and what the kernel holds there.
    pub fn host_mapping_model(&self) -> impl Iterator<Item = (Range, HostMapping)> + '_ {
        self.model.iter().map(|(r, v)| (r, *v))
    }

    /// Kernel VMAs inside the arena, counted from `/proc/self/maps` (slow;
    /// for tests comparing against the model).
    pub fn host_mappings_from_proc(&self) -> Option<u64> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let mut n = 0;
        for line in maps.lines() {
            let range = line.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            let a = u64::from_str_radix(a, 16).ok()?;
            let b = u64::from_str_radix(b, 16).ok()?;
            if a >= self.arena.start && b <= self.arena.end {
                n += 1;
            }
        }
        Some(n)
    }

    fn check(&self, addr: u64, len: u64) -> Result<Range, PlatformError> {
        range_inside(NAME, addr, len, self.arena)
    }

    fn check_room(&self) -> Result<(), PlatformError> {
        let now = self.model.len() as u64;
        if now + 2 > self.limit {
            return Err(PlatformError::MapCountLimit {
                limit: self.limit,
                max_map_count: self.max_map_count,
                reserved: self.reserved,
                suggested: (self.max_map_count.max(now + self.reserved) * 2).max(262_144),
            });
        }
        Ok(())
    }

    fn set_model(&mut self, r: Range, v: Option<HostMapping>) -> Result<(), PlatformError> {
        self.model.remove_range(r);
        let Some(v) = v else {
            return Ok(());
        };
        self.model
            .insert_with_merge(r, v)
            .map(|_| ())
            .map_err(|e| PlatformError::Unavailable {
                platform: NAME,
                reason: format!("host mapping model: {e}"),
            })
    }

    /// Checks that `[addr, addr + len)` is mapped with at least `need`.
    fn check_access(&self, addr: u64, len: u64, need: Perms) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        let mut at = r.start;
        for (pr, v) in self.model.intersecting(r) {
            let allowed = v.perms.contains(need) || (need == Perms::READ && v.perms.write());
            if pr.start > at || !allowed {
                break;
            }
            at = pr.end;
        }
        if at < r.end {
            return Err(PlatformError::OutOfRange {
                platform: NAME,
                addr,
                len,
                range: self.arena,
            });
        }
        Ok(())
    }
}

impl Drop for InProcAddressSpace {
    fn drop(&mut self) {
        if let Ok(len) = usize::try_from(self.arena.len()) {
            // SAFETY: unmaps the arena claimed in `new`: only this value
            // maps there (everything else is refused by
            // MAP_FIXED_NOREPLACE), and nothing refers into it (reads and
            // writes copy).
            unsafe { libc::munmap(self.arena.start as *mut libc::c_void, len) };
        }
        release_arena(self.slot);
    }
}

impl AddressSpace for InProcAddressSpace {
    fn name(&self) -> &'static str {
        NAME
    }

    fn app_range(&self) -> Range {
        self.arena
    }

    fn map(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        perms: Perms,
    ) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.check_room()?;
        let off = i64::try_from(file_offset).map_err(|_| PlatformError::OutOfRange {
            platform: NAME,
            addr,
            len,
            range: self.arena,
        })?;
        // Into a hole: MAP_FIXED_NOREPLACE (never clobbers anything). Over
        // pages the model says we mapped: MAP_FIXED.
        let ours = self.model.intersecting(r).next().is_some();
        let how = if ours {
            libc::MAP_FIXED
        } else {
            libc::MAP_FIXED_NOREPLACE
        };
        // SAFETY: `r` lies inside the arena claimed by this value; with
        // MAP_FIXED it replaces only our own memfd mappings (the model says
        // some are there and nothing else may map inside the arena); with
        // MAP_FIXED_NOREPLACE nothing is replaced. No Rust reference points
        // into the arena.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len as usize,
                perms.prot(),
                libc::MAP_SHARED | how,
                self.memfd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED || p as u64 != addr {
            return Err(PlatformError::Host {
                platform: NAME,
                op: if ours {
                    "mmap(MAP_FIXED|MAP_SHARED, memfd)"
                } else {
                    "mmap(MAP_FIXED_NOREPLACE|MAP_SHARED, memfd)"
                },
                addr,
                len,
                errno: if p == libc::MAP_FAILED {
                    errno()
                } else {
                    libc::EEXIST
                },
            });
        }
        self.set_model(
            r,
            Some(HostMapping {
                offset: file_offset,
                perms,
            }),
        )
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.check_room()?;
        // SAFETY: unmaps part of the arena claimed by this value, where only
        // our own memfd mappings can be.
        let rc = unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) };
        if rc != 0 {
            return Err(PlatformError::Host {
                platform: NAME,
                op: "munmap",
                addr,
                len,
                errno: errno(),
            });
        }
        self.set_model(r, None)
    }

    fn protect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.check_room()?;
        // SAFETY: changes protection inside our own arena only.
        let rc = unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, perms.prot()) };
        if rc != 0 {
            return Err(PlatformError::Host {
                platform: NAME,
                op: "mprotect",
                addr,
                len,
                errno: errno(),
            });
        }
        self.model.isolate(r);
        self.model.update_range(r, |_, v| v.perms = perms);
        Ok(())
    }

    fn host_mappings(&self) -> u64 {
        self.model.len() as u64
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<bool, PlatformError> {
        self.check_access(addr, buf.len() as u64, Perms::READ)?;
        // SAFETY: `check_access` proved the whole range is a live memfd
        // mapping of ours with read access; the memory manager only maps
        // offsets inside the memory file, so no SIGBUS. `buf` is ordinary
        // Rust memory outside the arena.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
        Ok(true)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<bool, PlatformError> {
        self.check_access(addr, data.len() as u64, Perms::WRITE)?;
        // SAFETY: as in `read`, with write access proved.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(true)
    }
}
