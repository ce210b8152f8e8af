//! Errors of the memory manager, as values shaped like Linux's errnos.

use crate::mm::memory_file::MemoryFileError;
use crate::platform::PlatformError;

/// An error of a memory-manager operation. [`MmError::errno`] gives the
/// errno Linux returns in the same situation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MmError {
    /// ENOMEM: no room in the address space, or the range is not mapped
    /// where Linux requires it to be (mprotect, mremap).
    #[error("ENOMEM: {0}")]
    NoMemory(&'static str),
    /// EINVAL: a malformed argument (unaligned address, zero or overflowing
    /// length, bad flag combination).
    #[error("EINVAL: {0}")]
    InvalidArgument(&'static str),
    /// EEXIST: MAP_FIXED_NOREPLACE over an existing mapping.
    #[error("EEXIST: range {addr:#x}+{len:#x} overlaps an existing mapping")]
    Exists {
        /// Requested address.
        addr: u64,
        /// Requested length.
        len: u64,
    },
    /// EACCES: the requested permissions exceed what the mapping allows.
    #[error("EACCES: {0}")]
    Access(&'static str),
    /// EFAULT (SIGSEGV for an application access): no mapping, or the
    /// mapping's permissions forbid the access.
    #[error("EFAULT: access at {addr:#x}: {reason}")]
    Fault {
        /// Faulting address.
        addr: u64,
        /// Why the access is refused.
        reason: &'static str,
    },
    /// SIGBUS: access to a file mapping beyond the end of the file.
    #[error("SIGBUS: access at {addr:#x} beyond the end of the mapped file")]
    Bus {
        /// Faulting address.
        addr: u64,
    },
    /// EBADF: an unknown sentry file.
    #[error("EBADF: no sentry file with id {0}")]
    BadFile(u32),
    /// The platform could not map, unmap or protect (host limit or failure).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The memory file could not grow or be accessed.
    #[error(transparent)]
    MemoryFile(#[from] MemoryFileError),
}

impl MmError {
    /// The errno Linux would return (positive value, e.g. `libc::ENOMEM`).
    /// Platform and memory-file failures map to ENOMEM, as a failed
    /// allocation does in Linux; SIGBUS and SIGSEGV conditions map to EFAULT.
    pub fn errno(&self) -> i32 {
        match self {
            MmError::NoMemory(_) => libc::ENOMEM,
            MmError::InvalidArgument(_) => libc::EINVAL,
            MmError::Exists { .. } => libc::EEXIST,
            MmError::Access(_) => libc::EACCES,
            MmError::Fault { .. } | MmError::Bus { .. } => libc::EFAULT,
            MmError::BadFile(_) => libc::EBADF,
            MmError::Platform(_) | MmError::MemoryFile(_) => libc::ENOMEM,
        }
    }

    /// True for errors that come from the host environment (a host limit or
    /// a failed host call) rather than from the application's request: a
    /// run should stop and report these.
    pub fn is_environment(&self) -> bool {
        matches!(self, MmError::Platform(_) | MmError::MemoryFile(_))
    }
}
