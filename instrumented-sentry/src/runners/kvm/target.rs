//! The KVM guest as a [`MemoryTarget`], for workloads whose calls the host
//! decides one at a time (the malloc model, trace replay): the guest runs
//! the request-serving program; each target call becomes a request the
//! guest carries out itself — the system call through its own exit, a touch
//! through its own stores and faults.
//!
//! Cost model: every call costs one extra exit (the guest asking for its
//! next request) besides the system call's own; the runner reports both.

use super::guest_run::{make_guest_mm, run_until_stop, GuestRunError, GuestRunSummary, GuestStop};
use super::guest_workloads::request_server_program;
use super::sentry_calls::{GuestFds, KvmMemoryManager};
use crate::mm::{FileId, MmConfig};
use crate::platform::kvm::vmm::exits::{
    SyscallExit, SYS_BRK, SYS_MMAP, SYS_MPROTECT, SYS_MREMAP, SYS_MUNMAP,
};
use crate::platform::kvm::vmm::exits::{
    REQ_EXIT, REQ_SYSCALL, REQ_TOUCH, SH_REQ_ARGS, SH_REQ_KIND, SH_REQ_NR, SH_REQ_RESULT,
};
use crate::workload::target::{Errno, FileHandle, MemoryTarget, MmapCall, TargetError};

/// First guest fd number handed out for target files.
const FIRST_FD: u64 = 3;

/// A guest serving one address space's calls.
#[derive(Debug)]
pub struct KvmTarget {
    mm: KvmMemoryManager,
    fds: GuestFds,
    files: Vec<FileId>,
    summary: GuestRunSummary,
    exited: bool,
}

fn platform_error(e: GuestRunError) -> TargetError {
    TargetError::Platform(format!("kvm: {e}"))
}

impl KvmTarget {
    /// A fresh VM and memory manager managing `app_size` bytes, with the
    /// guest waiting for its first request; its system calls exit through
    /// `exit`.
    pub fn new(config: MmConfig, app_size: u64, exit: SyscallExit) -> Result<Self, GuestRunError> {
        let program =
            request_server_program(exit).map_err(|e| GuestRunError::Unavailable(e.to_string()))?;
        let mm = make_guest_mm(config, program, 4096, app_size)?;
        let mut t = Self {
            mm,
            fds: GuestFds::default(),
            files: Vec::new(),
            summary: GuestRunSummary::default(),
            exited: false,
        };
        match run_until_stop(&mut t.mm, &t.fds, false, &mut t.summary)? {
            GuestStop::NextRequest => Ok(t),
            GuestStop::Exited(status) => Err(GuestRunError::Unavailable(format!(
                "request-serving guest exited at start (status {status})"
            ))),
        }
    }

    /// The memory manager.
    pub fn mm(&self) -> &KvmMemoryManager {
        &self.mm
    }

    /// The guest machine (to arm or disarm the guest sampler).
    pub fn machine_mut(&mut self) -> &mut crate::platform::kvm::vmm::machine::Machine {
        self.mm.address_space_mut().machine_mut()
    }

    /// The memory manager, consuming the target (stops the guest).
    pub fn into_mm(mut self) -> KvmMemoryManager {
        self.finish_guest();
        self.mm
    }

    /// What the guest did so far.
    pub fn summary(&self) -> &GuestRunSummary {
        &self.summary
    }

    /// Tells the guest to exit (best effort: a guest that cannot be run any
    /// more is simply dropped; dropping the VM stops it in any case).
    fn finish_guest(&mut self) {
        if self.exited {
            return;
        }
        self.exited = true;
        let machine = self.mm.address_space().machine();
        if machine.write_shared(SH_REQ_KIND, REQ_EXIT).is_ok() {
            let _ = run_until_stop(&mut self.mm, &self.fds, false, &mut self.summary);
        }
    }

    /// Has the guest carry out one request; returns its result.
    fn request(&mut self, kind: u64, nr: u64, args: [u64; 6]) -> Result<u64, TargetError> {
        if self.exited {
            return Err(TargetError::Platform(
                "kvm: the guest has exited".to_string(),
            ));
        }
        let machine = self.mm.address_space().machine();
        let write = || -> Result<(), crate::platform::kvm::vmm::machine::MachineError> {
            machine.write_shared(SH_REQ_KIND, kind)?;
            machine.write_shared(SH_REQ_NR, nr)?;
            for (i, a) in args.iter().enumerate() {
                machine.write_shared(SH_REQ_ARGS + 8 * i as u64, *a)?;
            }
            Ok(())
        };
        write().map_err(|e| platform_error(e.into()))?;
        match run_until_stop(&mut self.mm, &self.fds, false, &mut self.summary) {
            Ok(GuestStop::NextRequest) => {}
            Ok(GuestStop::Exited(status)) => {
                self.exited = true;
                return Err(TargetError::Platform(format!(
                    "kvm: guest exited (status {status})"
                )));
            }
            Err(e) => {
                self.exited = true;
                return Err(platform_error(e));
            }
        }
        self.mm
            .address_space()
            .machine()
            .read_shared(SH_REQ_RESULT)
            .map_err(|e| platform_error(e.into()))
    }

    /// A system call made by the guest; `-errno` results become errors.
    fn syscall(&mut self, nr: u64, args: [u64; 6]) -> Result<u64, TargetError> {
        let v = self.request(REQ_SYSCALL, nr, args)?;
        let signed = v as i64;
        if (-4095..0).contains(&signed) {
            return Err(TargetError::Errno(Errno(-signed as i32)));
        }
        Ok(v)
    }
}

impl MemoryTarget for KvmTarget {
    fn create_file(&mut self, size: u64) -> Result<FileHandle, TargetError> {
        let id = self
            .mm
            .create_file(size)
            .map_err(|e| TargetError::Platform(format!("kvm: {e}")))?;
        let idx = u32::try_from(self.files.len()).map_err(|_| TargetError::Errno(Errno::EBADF))?;
        self.files.push(id);
        self.fds.install(FIRST_FD + u64::from(idx), id);
        Ok(FileHandle(idx))
    }

    fn mmap(&mut self, call: &MmapCall) -> Result<u64, TargetError> {
        let fd = match call.file {
            Some(FileHandle(i)) if (i as usize) < self.files.len() => FIRST_FD + u64::from(i),
            Some(_) => return Err(TargetError::Errno(Errno::EBADF)),
            None => u64::MAX,
        };
        self.syscall(
            SYS_MMAP,
            [
                call.addr,
                call.len,
                u64::from(call.prot),
                u64::from(call.flags),
                fd,
                call.offset,
            ],
        )
    }

    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        self.syscall(SYS_MUNMAP, [addr, len, 0, 0, 0, 0]).map(drop)
    }

    fn mprotect(&mut self, addr: u64, len: u64, prot: u32) -> Result<(), TargetError> {
        self.syscall(SYS_MPROTECT, [addr, len, u64::from(prot), 0, 0, 0])
            .map(drop)
    }

    fn brk(&mut self, addr: u64) -> Result<u64, TargetError> {
        self.syscall(SYS_BRK, [addr, 0, 0, 0, 0, 0])
    }

    fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
    ) -> Result<u64, TargetError> {
        self.syscall(
            SYS_MREMAP,
            [old_addr, old_len, new_len, u64::from(flags), new_addr, 0],
        )
    }

    fn touch(&mut self, addr: u64, len: u64) -> Result<(), TargetError> {
        // A fault the sentry cannot resolve stops this guest (reported with
        // the address), as a SIGSEGV would stop a process.
        self.request(REQ_TOUCH, 0, [addr, len, 0, 0, 0, 0])
            .map(drop)
    }

    fn host_mappings(&self) -> u64 {
        self.mm.host_mappings()
    }
}
