//! The platforms' side of the memory manager: the address-space seam and
//! its implementations, and the KVM virtual machine monitor.
//!
//! - [`boundary`]: windows of served calls and the workload's stack at
//!   each (joined with perf samples by the collectors);
//! - [`inproc_address_space`]: the in-process platform (host `mmap` of the
//!   memory file into an arena of this process);
//! - [`kvm`]: the KVM platform (guest page tables over memory slots, the
//!   VMM, the guest programs);
//! - [`trap`]: the ptrace and systrap platforms (a trapped stub process;
//!   its address space is `trap::address_space::TrapAddressSpace`).
//!
//! This module depends only on the leaf modules (`addr`, `segment`,
//! `host`): never on the memory manager, the workloads or the runners. An
//! implementation gets the memory file as its descriptor and size. What
//! runs a workload on a platform (native, inproc, kvm) is in `runners`.
//!
//! # The seam: [`AddressSpace`]
//!
//! The memory manager decides *what* is mapped (VMAs, PMAs: application
//! address → memory-file offset); a platform's [`AddressSpace`] makes it
//! *reachable* by the application. This is gVisor's `platform.AddressSpace`
//! and the memory manager's `mapAS` step calls it:
//!
//! - [`AddressSpace::map`] is called by `mapAS` after `getPMAs`, for runs of
//!   pages whose memory-file offsets are contiguous. It may replace an
//!   existing mapping of the same range.
//! - [`AddressSpace::unmap`] and [`AddressSpace::protect`] are called on
//!   munmap, mremap, MAP_FIXED replacement, mprotect and brk shrink, for the
//!   ranges that were mapped. They are the "removal" notifications: a
//!   platform with its own translation caches (the KVM guest's TLB) must
//!   make sure the application no longer uses the old translation before
//!   the application runs again.
//! - [`AddressSpace::memory_file_grown`] is called after the memory file
//!   grew (before any `map` of the new offsets), so a platform can extend
//!   what it has of the file (e.g. KVM memory slots).
//!
//! All addresses and lengths are page-aligned and non-empty; ranges lie in
//! [`AddressSpace::app_range`]. Offsets refer to the memory file the
//! platform was built with (the memory manager's memfd).

pub mod boundary;
pub mod cpu_affinity;
pub mod inproc_address_space;
pub mod kvm;
pub mod trap;

use crate::addr::{Perms, Range};
use std::io;

/// Failure of a platform operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlatformError {
    /// The host's `vm.max_map_count` would be exceeded.
    #[error(
        "host mapping limit reached: the sentry needs more than {limit} host mappings \
         (vm.max_map_count = {max_map_count}, minus {reserved} kept for the rest of the process); \
         raise it with `sysctl -w vm.max_map_count={suggested}`"
    )]
    MapCountLimit {
        /// Host mappings the platform may hold.
        limit: u64,
        /// The host's `vm.max_map_count`.
        max_map_count: u64,
        /// Mappings reserved for the rest of the process.
        reserved: u64,
        /// A value that would allow this run.
        suggested: u64,
    },
    /// A host call failed.
    #[error("{platform}: host {op} at {addr:#x}+{len:#x} failed: {}", io::Error::from_raw_os_error(*.errno))]
    Host {
        /// Platform name.
        platform: &'static str,
        /// The call (`mmap`, `mprotect`, `ioctl(KVM_...)`, ...).
        op: &'static str,
        /// Address.
        addr: u64,
        /// Length.
        len: u64,
        /// errno.
        errno: i32,
    },
    /// A request outside what the platform can serve.
    #[error("{platform}: range {addr:#x}+{len:#x} is outside the application range {range}")]
    OutOfRange {
        /// Platform name.
        platform: &'static str,
        /// Address.
        addr: u64,
        /// Length.
        len: u64,
        /// The application range.
        range: Range,
    },
    /// The platform cannot be set up or used here (with the reason).
    #[error("{platform}: {reason}")]
    Unavailable {
        /// Platform name.
        platform: &'static str,
        /// One line saying why.
        reason: String,
    },
}

/// The platform seam of the memory manager (gVisor's `platform.AddressSpace`).
///
/// Implementations: [`inproc_address_space::InProcAddressSpace`] (host mmap into a
/// low-address arena), `kvm` (guest page tables over memory slots).
pub trait AddressSpace {
    /// Short platform name (`inproc`, `kvm`).
    fn name(&self) -> &'static str;

    /// The application addresses this platform can map. The memory manager
    /// places its brk heap at the bottom and its top-down mmap base at the top.
    fn app_range(&self) -> Range;

    /// Makes `[addr, addr + len)` refer to memory-file bytes
    /// `[file_offset, file_offset + len)` with `perms`, replacing whatever
    /// the platform had there.
    ///
    /// Preconditions: page-aligned, non-empty, inside `app_range()`, and the
    /// memory file is at least `file_offset + len` bytes long.
    /// Postconditions: on success the application can access the range with
    /// `perms` (and no more); on error nothing in the range is more
    /// accessible than before.
    fn map(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        perms: Perms,
    ) -> Result<(), PlatformError>;

    /// Removes every mapping in `[addr, addr + len)`.
    ///
    /// Preconditions: page-aligned, non-empty, inside `app_range()`.
    /// Postconditions: on success the application cannot access the range
    /// (a KVM platform has arranged for the guest to drop stale translations).
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError>;

    /// Changes the permissions of the mapped pages in `[addr, addr + len)`.
    ///
    /// Preconditions: as `unmap`; every page in the range is currently mapped.
    /// Postconditions: on success accesses beyond `perms` fault.
    fn protect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError>;

    /// Host mappings the platform holds for the application right now
    /// (in-process: kernel VMAs in the arena; KVM: memory slots plus
    /// whatever host mmaps back them).
    fn host_mappings(&self) -> u64;

    /// Told after the memory file grew to `new_size` bytes.
    fn memory_file_grown(&mut self, new_size: u64) -> Result<(), PlatformError> {
        let _ = new_size;
        Ok(())
    }

    /// Reads application memory at `addr` into `buf` through the
    /// platform's own mappings (the in-process platform: real loads through
    /// the arena). Returns `Ok(false)` if the platform cannot; the memory
    /// manager then reads its view of the memory file instead.
    ///
    /// Preconditions: the memory manager has mapped the range readable.
    /// Errors: `OutOfRange` if the platform does not hold a readable
    /// mapping for the whole range.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<bool, PlatformError> {
        let _ = (addr, buf);
        Ok(false)
    }

    /// Writes `data` to application memory at `addr` through the platform's
    /// own mappings; `Ok(false)` if the platform cannot (see [`AddressSpace::read`]).
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<bool, PlatformError> {
        let _ = (addr, data);
        Ok(false)
    }
}

/// `[addr, addr + len)` when it is non-empty and inside `range` (the
/// application range of `platform`); otherwise
/// [`PlatformError::OutOfRange`].
pub fn range_inside(
    platform: &'static str,
    addr: u64,
    len: u64,
    range: Range,
) -> Result<Range, PlatformError> {
    Range::from_start_len(addr, len)
        .filter(|r| !r.is_empty() && range.is_superset_of(r))
        .ok_or(PlatformError::OutOfRange {
            platform,
            addr,
            len,
            range,
        })
}

impl<T: AddressSpace + ?Sized> AddressSpace for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn app_range(&self) -> Range {
        (**self).app_range()
    }
    fn map(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        perms: Perms,
    ) -> Result<(), PlatformError> {
        (**self).map(addr, len, file_offset, perms)
    }
    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        (**self).unmap(addr, len)
    }
    fn protect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        (**self).protect(addr, len, perms)
    }
    fn host_mappings(&self) -> u64 {
        (**self).host_mappings()
    }
    fn memory_file_grown(&mut self, new_size: u64) -> Result<(), PlatformError> {
        (**self).memory_file_grown(new_size)
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<bool, PlatformError> {
        (**self).read(addr, buf)
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<bool, PlatformError> {
        (**self).write(addr, data)
    }
}
