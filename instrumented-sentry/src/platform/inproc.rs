//! The in-process platform: the sentry's application addresses are host
//! addresses inside a reserved arena of this process.
//!
//! - The arena is one `PROT_NONE`, `MAP_NORESERVE` anonymous reservation
//!   (address space only).
//! - `map` (mapAS) is a real host `mmap(MAP_FIXED | MAP_SHARED, memfd,
//!   offset)` into the arena, so workloads really load and store through it.
//! - `unmap` puts a `PROT_NONE` anonymous reservation back over the range
//!   (`MAP_FIXED`), so the arena stays reserved.
//! - `protect` is a host `mprotect`.
//!
//! # Counting host mappings
//! The kernel merges adjacent VMAs of contiguous memfd offsets with the same
//! protection, and adjacent `PROT_NONE` reservations. A segment set tiling
//! the arena models exactly that (merge policy = the kernel's rule), so
//! [`AddressSpace::host_mappings`] is the number of kernel VMAs the arena
//! occupies, at no syscall cost. Before each operation the platform checks
//! that it cannot pass its limit (an operation adds at most two VMAs:
//! splitting one into three); the limit is `vm.max_map_count` (read once
//! from `/proc/sys/vm/max_map_count`) minus the mappings the rest of the
//! process holds at start-up and a margin for those it makes later.

use crate::mm::memory_file::MemoryFile;
use crate::mm::perms::{is_page_aligned, Perms};
use crate::mm::{MemoryManager, MmConfig, MmError};
use crate::platform::{AddressSpace, PlatformError};
use crate::segment::{Range, SegmentFunctions, SegmentSet};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

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

/// What one piece of the arena is, in the kernel's eyes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostMapping {
    /// The `PROT_NONE` anonymous reservation.
    Reserved,
    /// A `MAP_SHARED` mapping of the memfd.
    Memfd {
        /// memfd offset of the piece's first byte.
        offset: u64,
        /// Host protection.
        perms: Perms,
    },
}

/// Merge policy mirroring the kernel's VMA merging in the arena.
pub struct HostMappingFunctions;

impl SegmentFunctions for HostMappingFunctions {
    type Value = HostMapping;
    const TRACK_MAX_GAP: bool = false;

    fn merge(left: Range, l: &HostMapping, _: Range, r: &HostMapping) -> Option<HostMapping> {
        match (*l, *r) {
            (HostMapping::Reserved, HostMapping::Reserved) => Some(HostMapping::Reserved),
            (
                HostMapping::Memfd {
                    offset: lo,
                    perms: lp,
                },
                HostMapping::Memfd {
                    offset: ro,
                    perms: rp,
                },
            ) if lp == rp && lo.checked_add(left.len()) == Some(ro) => Some(*l),
            _ => None,
        }
    }

    fn split(range: Range, v: &HostMapping, at: u64) -> (HostMapping, HostMapping) {
        match *v {
            HostMapping::Reserved => (HostMapping::Reserved, HostMapping::Reserved),
            HostMapping::Memfd { offset, perms } => (
                *v,
                HostMapping::Memfd {
                    offset: offset + (at - range.start),
                    perms,
                },
            ),
        }
    }
}

/// The host's `vm.max_map_count`, if readable.
pub fn read_max_map_count() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Mappings this process holds now (lines of `/proc/self/maps`).
pub fn process_mapping_count() -> Option<u64> {
    std::fs::read_to_string("/proc/self/maps")
        .ok()
        .map(|s| s.lines().count() as u64)
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
    /// Reserves the arena and takes a handle on the memory file's memfd.
    ///
    /// Errors: `Unavailable` for a bad arena size or an unreadable
    /// `vm.max_map_count` (without an override); `Host` if the reservation
    /// or the fd duplication fails.
    pub fn new(memory_file: &MemoryFile, config: &InProcConfig) -> Result<Self, PlatformError> {
        if config.arena_size == 0 || !is_page_aligned(config.arena_size) {
            return Err(PlatformError::Unavailable {
                platform: NAME,
                reason: "arena size must be a positive multiple of 4096".into(),
            });
        }
        let (limit, max_map_count, reserved) = match config.max_host_mappings {
            Some(l) => (l, read_max_map_count().unwrap_or(0), 0),
            None => {
                let max = read_max_map_count().ok_or_else(|| PlatformError::Unavailable {
                    platform: NAME,
                    reason: "cannot read /proc/sys/vm/max_map_count".into(),
                })?;
                let reserved = process_mapping_count().unwrap_or(0) + PROCESS_MAPPING_MARGIN;
                (max.saturating_sub(reserved), max, reserved)
            }
        };
        let memfd = memory_file
            .fd()
            .try_clone_to_owned()
            .map_err(|e| PlatformError::Host {
                platform: NAME,
                op: "dup(memfd)",
                addr: 0,
                len: 0,
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            })?;
        let len = usize::try_from(config.arena_size).map_err(|_| PlatformError::Unavailable {
            platform: NAME,
            reason: "arena size does not fit the address space".into(),
        })?;
        // SAFETY: a fresh PROT_NONE anonymous reservation at a
        // kernel-chosen address; no existing mapping is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PlatformError::Host {
                platform: NAME,
                op: "mmap (arena reservation)",
                addr: 0,
                len: config.arena_size,
                errno: errno(),
            });
        }
        let start = p as u64;
        let arena = Range::new(start, start + config.arena_size);
        let mut model = SegmentSet::new(arena, 8).map_err(|e| PlatformError::Unavailable {
            platform: NAME,
            reason: format!("host mapping model: {e}"),
        })?;
        model
            .insert(arena, HostMapping::Reserved)
            .map_err(|e| PlatformError::Unavailable {
                platform: NAME,
                reason: format!("host mapping model: {e}"),
            })?;
        Ok(Self {
            memfd,
            arena,
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
        let r = Range::from_start_len(addr, len)
            .filter(|r| !r.is_empty() && self.arena.is_superset_of(r));
        r.ok_or(PlatformError::OutOfRange {
            platform: NAME,
            addr,
            len,
            range: self.arena,
        })
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

    fn set_model(&mut self, r: Range, v: HostMapping) -> Result<(), PlatformError> {
        self.model.remove_range(r);
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
            match v {
                HostMapping::Memfd { perms, .. }
                    if pr.start <= at
                        && (perms.contains(need) || (need == Perms::READ && perms.write())) =>
                {
                    at = pr.end;
                }
                _ => break,
            }
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
            // SAFETY: unmaps exactly the arena reserved in `new`; nothing
            // outside this value refers into it (reads and writes copy).
            unsafe { libc::munmap(self.arena.start as *mut libc::c_void, len) };
        }
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
        // SAFETY: `r` lies inside the arena this value reserved; MAP_FIXED
        // replaces only our own reservation/mappings there, never memory
        // Rust code holds references into.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len as usize,
                perms.prot(),
                libc::MAP_SHARED | libc::MAP_FIXED,
                self.memfd.as_raw_fd(),
                off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PlatformError::Host {
                platform: NAME,
                op: "mmap(MAP_FIXED|MAP_SHARED, memfd)",
                addr,
                len,
                errno: errno(),
            });
        }
        self.set_model(
            r,
            HostMapping::Memfd {
                offset: file_offset,
                perms,
            },
        )
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.check_room()?;
        // SAFETY: as in `map`: only our arena is replaced by a fresh
        // PROT_NONE reservation.
        let p = unsafe {
            libc::mmap(
                addr as *mut libc::c_void,
                len as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(PlatformError::Host {
                platform: NAME,
                op: "mmap(MAP_FIXED, PROT_NONE)",
                addr,
                len,
                errno: errno(),
            });
        }
        self.set_model(r, HostMapping::Reserved)
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
        self.model.update_range(r, |_, v| {
            if let HostMapping::Memfd { perms: p, .. } = v {
                *p = perms;
            }
        });
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

impl MemoryManager<InProcAddressSpace> {
    /// A memory manager on the in-process platform.
    pub fn inproc(config: MmConfig, inproc: &InProcConfig) -> Result<Self, MmError> {
        MemoryManager::new(config, |mf| InProcAddressSpace::new(mf, inproc))
    }
}
