//! The memory manager's address space on the trapped platforms: mapAS
//! makes pages reachable *in the stub's own address space*, as gVisor's
//! ptrace and systrap platforms do, by making the stub execute a real
//! `mmap(MAP_FIXED|MAP_SHARED, memfd, offset)`, `munmap` or `mprotect`.
//!
//! The host call is synchronous, inside the memory manager's mapAS (and
//! unmapAS, protectAS), as gVisor's `MapFile` on these platforms runs its
//! stub system call before mapAS returns: while the sentry serves a stop,
//! the handler runs the memory manager's call under
//! [`TrapAddressSpace::with_stub`], which lends the stop's [`StubOps`] to
//! the address space; [`AddressSpace::map`] and friends then run the host
//! call at once (ptrace: injected into the stopped stub; systrap: the
//! `HOST`/`HOST_DONE` hand-off with the stub waiting in its handler), so
//! its time is in the `map_as` probe. Outside `with_stub` (no stop to run
//! it in) a call is *queued* and [`flush`](TrapAddressSpace::flush)ed
//! through the next stop's `StubOps`.
//!
//! The model of the stub's host mappings (for
//! [`AddressSpace::host_mappings`]) uses the kernel's merge rule for
//! `MAP_SHARED` memfd mappings, as the in-process platform does.
//!
//! Host `MAP_POPULATE`: a map made while [`TrapAddressSpace::set_populate`]
//! is on (the handler turns it on for an application `mmap` with
//! `MAP_POPULATE`, where gVisor commits eagerly) carries the flag; other
//! maps leave the host to fault pages in on first touch.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::error::TrapError;
use super::handler::StubOps;
use super::mechanism::Mechanism;
use super::workload::{APP_BASE, APP_LEN};
use crate::addr::{Perms, Range};
use crate::platform::inproc_address_space::{HostMapping, HostMappingFunctions};
use crate::platform::{range_inside, AddressSpace, PlatformError};
use crate::segment::SegmentSet;

/// One host call queued for the stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubOp {
    /// `mmap(addr, len, perms, MAP_FIXED|MAP_SHARED[|MAP_POPULATE], memfd, offset)`.
    Map {
        /// Address.
        addr: u64,
        /// Length.
        len: u64,
        /// Memory-file offset.
        offset: u64,
        /// Protection.
        perms: Perms,
        /// With `MAP_POPULATE`.
        populate: bool,
    },
    /// `munmap(addr, len)`.
    Unmap {
        /// Address.
        addr: u64,
        /// Length.
        len: u64,
    },
    /// `mprotect(addr, len, perms)`.
    Protect {
        /// Address.
        addr: u64,
        /// Length.
        len: u64,
        /// Protection.
        perms: Perms,
    },
}

/// The application range of the trapped platforms.
pub fn app_range() -> Range {
    Range::new(APP_BASE, APP_BASE + APP_LEN)
}

/// The stub's address space as the memory manager's platform.
pub struct TrapAddressSpace {
    platform: &'static str,
    memfd: i32,
    pending: Vec<StubOp>,
    populate: bool,
    model: SegmentSet<HostMappingFunctions>,
    flushed: u64,
    /// The stop's `StubOps` while [`TrapAddressSpace::with_stub`] runs.
    stub: Option<*mut (dyn StubOps + 'static)>,
}

/// Takes the lent `StubOps` back from the address space when
/// [`TrapAddressSpace::with_stub`] ends, also when it unwinds.
struct Lent<'a, M> {
    owner: &'a mut M,
    space: fn(&mut M) -> &mut TrapAddressSpace,
}

impl<M> Drop for Lent<'_, M> {
    fn drop(&mut self) {
        (self.space)(self.owner).stub = None;
    }
}

impl std::fmt::Debug for TrapAddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrapAddressSpace")
            .field("platform", &self.platform)
            .field("pending", &self.pending.len())
            .field("host_mappings", &self.model.len())
            .finish()
    }
}

impl TrapAddressSpace {
    /// An empty address space over the memory file `memfd` for a stub
    /// trapped by `mechanism`. The stub inherits the descriptor (it is
    /// forked after the memory manager is made), so its number is used
    /// as is in the injected mmaps.
    pub fn new(mechanism: Mechanism, memfd: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        let model = SegmentSet::new(app_range(), 8).map_err(|e| PlatformError::Unavailable {
            platform: mechanism.name(),
            reason: format!("host mapping model: {e}"),
        })?;
        Ok(TrapAddressSpace {
            platform: mechanism.name(),
            memfd: memfd.as_raw_fd(),
            pending: Vec::new(),
            populate: false,
            model,
            flushed: 0,
            stub: None,
        })
    }

    /// Runs `f` on `owner` (the memory manager holding this address space,
    /// reached through `space`) with the stop's `stub` lent to the address
    /// space: every map, unmap and protect made inside `f` runs its host
    /// call in the stub at once. First flushes what was queued before.
    pub fn with_stub<M, R>(
        owner: &mut M,
        space: fn(&mut M) -> &mut TrapAddressSpace,
        stub: &mut dyn StubOps,
        f: impl FnOnce(&mut M) -> R,
    ) -> Result<R, TrapError> {
        space(owner).flush(stub)?;
        let lent: *mut (dyn StubOps + '_) = stub;
        // SAFETY: only the trait object's lifetime bound is erased (same
        // pointer, same vtable). The pointer is dereferenced only by this
        // address space's `run_now`, and only until `Lent` takes it back
        // (on return or unwind), while `stub`'s borrow is still alive; the
        // `&mut` it came from is not used in between.
        let lent: *mut (dyn StubOps + 'static) = unsafe { std::mem::transmute(lent) };
        space(owner).stub = Some(lent);
        let guard = Lent { owner, space };
        Ok(f(&mut *guard.owner))
    }

    /// Whether maps queued from now on carry host `MAP_POPULATE`.
    pub fn set_populate(&mut self, on: bool) {
        self.populate = on;
    }

    /// The host calls queued and not yet flushed.
    pub fn pending(&self) -> &[StubOp] {
        &self.pending
    }

    /// Host calls flushed to stubs so far.
    pub fn flushed(&self) -> u64 {
        self.flushed
    }

    /// Runs every queued host call, in order, in the stub of the current
    /// stop. Stops at the
    /// first failure (the trial then fails, see [`StubOps`]). The queue is
    /// empty afterwards either way.
    pub fn flush(&mut self, stub: &mut dyn StubOps) -> Result<(), TrapError> {
        let fd = self.memfd;
        for op in self.pending.drain(..) {
            self.flushed += 1;
            run_op(stub, fd, op)?;
        }
        Ok(())
    }

    /// Forgets the queued calls (the stub is gone).
    pub fn discard_pending(&mut self) {
        self.pending.clear();
    }

    /// Runs `op` in the stub now if a stop's `StubOps` is lent
    /// ([`with_stub`](Self::with_stub)), else queues it for the next flush.
    fn run_or_queue(&mut self, op: StubOp) -> Result<(), PlatformError> {
        let Some(stub) = self.stub else {
            self.pending.push(op);
            return Ok(());
        };
        self.flushed += 1;
        // SAFETY: set by `with_stub` from a live `&mut dyn StubOps` that
        // nothing else uses while it is lent; cleared before that borrow
        // ends (see there).
        let stub = unsafe { &mut *stub };
        run_op(stub, self.memfd, op).map_err(|e| match e {
            TrapError::Platform(p) => p,
            other => PlatformError::Unavailable {
                platform: self.platform,
                reason: other.to_string(),
            },
        })
    }

    fn check(&self, addr: u64, len: u64) -> Result<Range, PlatformError> {
        range_inside(self.platform, addr, len, app_range())
    }

    fn model_error(&self, e: impl std::fmt::Display) -> PlatformError {
        PlatformError::Unavailable {
            platform: self.platform,
            reason: format!("host mapping model: {e}"),
        }
    }
}

/// Runs one host call in the stub.
fn run_op(stub: &mut dyn StubOps, fd: i32, op: StubOp) -> Result<(), TrapError> {
    match op {
        StubOp::Map {
            addr,
            len,
            offset,
            perms,
            populate,
        } => stub.mmap_fixed(addr, len, perms, fd, offset, populate),
        StubOp::Unmap { addr, len } => stub.munmap(addr, len),
        StubOp::Protect { addr, len, perms } => stub.mprotect(addr, len, perms),
    }
}

impl AddressSpace for TrapAddressSpace {
    fn name(&self) -> &'static str {
        self.platform
    }

    fn app_range(&self) -> Range {
        app_range()
    }

    fn map(
        &mut self,
        addr: u64,
        len: u64,
        file_offset: u64,
        perms: Perms,
    ) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.run_or_queue(StubOp::Map {
            addr,
            len,
            offset: file_offset,
            perms,
            populate: self.populate,
        })?;
        self.model.remove_range(r);
        self.model
            .insert_with_merge(
                r,
                HostMapping {
                    offset: file_offset,
                    perms,
                },
            )
            .map(drop)
            .map_err(|e| self.model_error(e))
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.run_or_queue(StubOp::Unmap { addr, len })?;
        self.model.remove_range(r);
        Ok(())
    }

    fn protect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), PlatformError> {
        let r = self.check(addr, len)?;
        self.run_or_queue(StubOp::Protect { addr, len, perms })?;
        self.model.isolate(r);
        self.model.update_range(r, |_, v| v.perms = perms);
        Ok(())
    }

    fn host_mappings(&self) -> u64 {
        self.model.len() as u64
    }
}
