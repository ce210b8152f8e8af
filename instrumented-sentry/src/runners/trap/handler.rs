//! The sentry's side of a trapped stub: each trapped `mmap`, `munmap`,
//! `mprotect`, `brk` and `mremap` runs on the memory manager; each fault
//! runs its fault path. Each runs under [`TrapAddressSpace::with_stub`],
//! so the host calls of the memory manager's mapAS (and unmapAS,
//! protectAS) run in the stub synchronously, inside the probed sites, as
//! gVisor's `MapFile` does on these platforms.

use crate::addr::{Access, Perms};
use crate::mm::{FileId, MemoryManager, MmError, MmapRequest, MremapFlags};
use crate::platform::trap::address_space::TrapAddressSpace;
use crate::platform::trap::{Fault, FaultResult, StubOps, SyscallHandler, TrappedCall};

/// The sentry on a trapped platform.
pub type TrapMm = MemoryManager<TrapAddressSpace>;

/// The descriptor number the stub passes for the workload's file on a
/// trapped platform: the handler maps it to the memory manager's file (the
/// stub has no such descriptor; its calls never reach the host kernel).
pub const STUB_FILE_FD: i32 = 1000;

/// Serves a stub's calls and faults with a memory manager.
pub struct MmHandler<'a> {
    mm: &'a mut TrapMm,
    /// Descriptor numbers the stub passes → the memory manager's files.
    files: Vec<(i32, FileId)>,
    /// The first failure that is the environment's, not the application's
    /// (a host limit, a host call that failed): it fails the point.
    failure: Option<String>,
    /// Faults served.
    pub faults: u64,
    /// System calls served.
    pub calls: u64,
}

impl<'a> MmHandler<'a> {
    /// A handler over `mm`; `file` is what [`STUB_FILE_FD`] stands for.
    pub fn new(mm: &'a mut TrapMm, file: Option<FileId>) -> Self {
        Self::with_files(mm, file.map(|f| (STUB_FILE_FD, f)).into_iter().collect())
    }

    /// A handler over `mm` for which each descriptor number of `files`
    /// stands for its memory-manager file (a trace replay's files).
    pub fn with_files(mm: &'a mut TrapMm, files: Vec<(i32, FileId)>) -> Self {
        MmHandler {
            mm,
            files,
            failure: None,
            faults: 0,
            calls: 0,
        }
    }

    /// The first environment failure, if any.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn fail(&mut self, what: String) {
        self.failure.get_or_insert(what);
    }

    /// The value for RAX of a memory-manager error.
    fn errno(&mut self, e: MmError) -> i64 {
        if e.is_environment() {
            self.fail(e.to_string());
            return -i64::from(libc::ENOMEM);
        }
        -i64::from(e.errno())
    }

    fn result(&mut self, r: Result<u64, MmError>) -> i64 {
        match r {
            Ok(v) => v as i64,
            Err(e) => self.errno(e),
        }
    }

    fn mmap(&mut self, a: &[u64; 6]) -> i64 {
        let (prot, flags, fd) = (a[2] as i32, a[3] as i32, a[4] as i32);
        let file = if flags & libc::MAP_ANONYMOUS != 0 {
            None
        } else {
            match self.files.iter().find(|&&(n, _)| n == fd) {
                Some(&(_, f)) => Some(f),
                None => return -i64::from(libc::EBADF),
            }
        };
        let req = match MmapRequest::from_linux(a[0], a[1], prot, flags, file, a[5]) {
            Ok(r) => r,
            Err(e) => return self.errno(e),
        };
        self.mm
            .address_space_mut()
            .set_populate(flags & libc::MAP_POPULATE != 0);
        let r = self.mm.mmap(&req);
        self.mm.address_space_mut().set_populate(false);
        self.result(r)
    }

    fn serve(&mut self, call: &TrappedCall) -> i64 {
        let a = call.args;
        match call.nr {
            libc::SYS_mmap => self.mmap(&a),
            libc::SYS_munmap => {
                let r = self.mm.munmap(a[0], a[1]).map(|()| 0);
                self.result(r)
            }
            libc::SYS_mprotect => {
                let Some(perms) = i32::try_from(a[2]).ok().and_then(Perms::from_prot) else {
                    return -i64::from(libc::EINVAL);
                };
                let r = self.mm.mprotect(a[0], a[1], perms).map(|()| 0);
                self.result(r)
            }
            libc::SYS_brk => {
                let r = self.mm.brk(a[0]);
                self.result(r)
            }
            libc::SYS_mremap => {
                let r = MremapFlags::from_linux(a[3] as i32, a[4])
                    .and_then(|f| self.mm.mremap(a[0], a[1], a[2], f));
                self.result(r)
            }
            _ => -i64::from(libc::ENOSYS),
        }
    }

    /// Runs `f` on the memory manager with the stop's `stub` lent to its
    /// address space (host calls run at once); `None` if a host call
    /// failed (recorded as the point's failure).
    fn with_stub<R>(
        &mut self,
        stub: &mut dyn StubOps,
        f: impl FnOnce(&mut Self) -> R,
    ) -> Option<R> {
        let lent =
            TrapAddressSpace::with_stub(self, |h: &mut Self| h.mm.address_space_mut(), stub, f);
        match lent {
            Ok(r) => Some(r),
            Err(e) => {
                self.mm.address_space_mut().discard_pending();
                self.fail(e.to_string());
                None
            }
        }
    }
}

impl SyscallHandler for MmHandler<'_> {
    fn handle(&mut self, call: &TrappedCall, stub: &mut dyn StubOps) -> i64 {
        self.calls += 1;
        self.with_stub(stub, |h| h.serve(call))
            .unwrap_or(-i64::from(libc::ENOMEM))
    }

    fn fault(&mut self, fault: &Fault, stub: &mut dyn StubOps) -> FaultResult {
        self.faults += 1;
        let access = if fault.write {
            Access::Write
        } else {
            Access::Read
        };
        match self.with_stub(stub, |h| h.mm.handle_fault(fault.addr, access)) {
            Some(Ok(())) => FaultResult::Resolved,
            Some(Err(e)) => {
                if e.is_environment() {
                    self.fail(e.to_string());
                }
                FaultResult::NotResolved
            }
            None => FaultResult::NotResolved,
        }
    }
}
