//! The sentry's side of guest system calls: decode the Linux arguments the
//! guest left in the shared page and run them on the memory manager (the
//! same one the in-process platform uses: createVMA, findAvailable, getPMAs,
//! mapAS), returning Linux-style results (`-errno` on failure).

use crate::addr::Perms;
use crate::mm::{FileId, MemoryManager, MmError, MmapRequest, MremapFlags};
use crate::platform::kvm::address_space::KvmAddressSpace;
use crate::platform::kvm::vmm::exits::{
    SYS_BRK, SYS_EXIT, SYS_MMAP, SYS_MPROTECT, SYS_MREMAP, SYS_MUNMAP,
};

/// The memory manager of a KVM guest.
pub type KvmMemoryManager = MemoryManager<KvmAddressSpace>;

/// Guest file descriptors: the guest program's fd numbers mapped to sentry
/// files (the guest has no `open`; the runner installs the files a
/// workload maps). A guest holds a handful, so a short list searched in
/// order is the cheapest lookup on the system call path.
#[derive(Debug, Default, Clone)]
pub struct GuestFds {
    fds: Vec<(u64, FileId)>,
}

impl GuestFds {
    /// Installs `file` as descriptor `fd` (replacing what `fd` held).
    pub fn install(&mut self, fd: u64, file: FileId) {
        match self.fds.iter_mut().find(|(f, _)| *f == fd) {
            Some(slot) => slot.1 = file,
            None => self.fds.push((fd, file)),
        }
    }

    /// The file behind `fd`.
    pub fn get(&self, fd: u64) -> Option<FileId> {
        self.fds
            .iter()
            .find(|(f, _)| *f == fd)
            .map(|(_, file)| *file)
    }
}

/// What a system call did.
#[derive(Debug)]
pub enum CallOutcome {
    /// Resume the guest with this result (a failed call holds the error).
    Return {
        /// The value for the guest (`-errno` on failure).
        value: u64,
        /// The error, when the call failed.
        error: Option<MmError>,
    },
    /// The guest called `exit` with this status.
    Exit(u64),
    /// Not a call the sentry implements: `-ENOSYS`.
    Unknown(u64),
}

fn ret(r: Result<u64, MmError>) -> CallOutcome {
    match r {
        Ok(value) => CallOutcome::Return { value, error: None },
        Err(e) => CallOutcome::Return {
            value: (-(i64::from(e.errno()))) as u64,
            error: Some(e),
        },
    }
}

/// The value a guest sees for `-ENOSYS`.
pub const ENOSYS_RESULT: u64 = (-(libc::ENOSYS as i64)) as u64;

/// Runs guest system call `nr` with `args` on `mm`.
pub fn dispatch(mm: &mut KvmMemoryManager, fds: &GuestFds, nr: u64, args: [u64; 6]) -> CallOutcome {
    match nr {
        SYS_MMAP => {
            let [addr, len, prot, flags, fd, offset] = args;
            let flags = flags as i32;
            let file = if flags & libc::MAP_ANONYMOUS != 0 {
                None
            } else {
                match fds.get(fd) {
                    Some(f) => Some(f),
                    None => {
                        return ret(Err(MmError::BadFile(u32::try_from(fd).unwrap_or(u32::MAX))))
                    }
                }
            };
            ret(
                MmapRequest::from_linux(addr, len, prot as i32, flags, file, offset)
                    .and_then(|req| mm.mmap(&req)),
            )
        }
        SYS_MUNMAP => ret(mm.munmap(args[0], args[1]).map(|()| 0)),
        SYS_MPROTECT => ret(Perms::from_prot(args[2] as i32)
            .ok_or(MmError::InvalidArgument("unknown PROT_* bits"))
            .and_then(|p| mm.mprotect(args[0], args[1], p))
            .map(|()| 0)),
        SYS_BRK => ret(mm.brk(args[0])),
        SYS_MREMAP => ret(MremapFlags::from_linux(args[3] as i32, args[4])
            .and_then(|f| mm.mremap(args[0], args[1], args[2], f))),
        SYS_EXIT => CallOutcome::Exit(args[0]),
        other => CallOutcome::Unknown(other),
    }
}
