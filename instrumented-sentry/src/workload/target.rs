//! The system-call surface a workload drives: `mmap`, `munmap`, `mprotect`,
//! `brk`, `mremap`, and touching memory. The native platform implements it
//! with host syscalls; the in-process sentry implements it with the memory
//! manager. Workloads are written once against this trait.

use std::fmt;

use thiserror::Error;

/// `PROT_READ`, as in Linux.
pub const PROT_READ: u32 = 0x1;
/// `PROT_WRITE`, as in Linux.
pub const PROT_WRITE: u32 = 0x2;
/// `PROT_EXEC`, as in Linux.
pub const PROT_EXEC: u32 = 0x4;

/// `MAP_SHARED`, as in Linux.
pub const MAP_SHARED: u32 = 0x01;
/// `MAP_PRIVATE`, as in Linux.
pub const MAP_PRIVATE: u32 = 0x02;
/// `MAP_SHARED_VALIDATE`, as in Linux.
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
/// `MAP_FIXED`, as in Linux.
pub const MAP_FIXED: u32 = 0x10;
/// `MAP_ANONYMOUS`, as in Linux.
pub const MAP_ANONYMOUS: u32 = 0x20;
/// `MAP_GROWSDOWN`, as in Linux.
pub const MAP_GROWSDOWN: u32 = 0x0100;
/// `MAP_DENYWRITE`, as in Linux (ignored by the kernel).
pub const MAP_DENYWRITE: u32 = 0x0800;
/// `MAP_EXECUTABLE`, as in Linux (ignored by the kernel).
pub const MAP_EXECUTABLE: u32 = 0x1000;
/// `MAP_LOCKED`, as in Linux.
pub const MAP_LOCKED: u32 = 0x2000;
/// `MAP_NORESERVE`, as in Linux.
pub const MAP_NORESERVE: u32 = 0x4000;
/// `MAP_POPULATE`, as in Linux.
pub const MAP_POPULATE: u32 = 0x8000;
/// `MAP_NONBLOCK`, as in Linux.
pub const MAP_NONBLOCK: u32 = 0x10000;
/// `MAP_STACK`, as in Linux.
pub const MAP_STACK: u32 = 0x20000;
/// `MAP_HUGETLB`, as in Linux.
pub const MAP_HUGETLB: u32 = 0x40000;
/// `MAP_SYNC`, as in Linux.
pub const MAP_SYNC: u32 = 0x80000;
/// `MAP_FIXED_NOREPLACE`, as in Linux.
pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;

/// `MREMAP_MAYMOVE`, as in Linux.
pub const MREMAP_MAYMOVE: u32 = 1;
/// `MREMAP_FIXED`, as in Linux.
pub const MREMAP_FIXED: u32 = 2;
/// `MREMAP_DONTUNMAP`, as in Linux.
pub const MREMAP_DONTUNMAP: u32 = 4;

/// A Linux errno value a call returned, printed by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

impl Errno {
    /// `EPERM`.
    pub const EPERM: Errno = Errno(1);
    /// `ENOENT`.
    pub const ENOENT: Errno = Errno(2);
    /// `EBADF`.
    pub const EBADF: Errno = Errno(9);
    /// `EAGAIN`.
    pub const EAGAIN: Errno = Errno(11);
    /// `ENOMEM`.
    pub const ENOMEM: Errno = Errno(12);
    /// `EACCES`.
    pub const EACCES: Errno = Errno(13);
    /// `EFAULT`.
    pub const EFAULT: Errno = Errno(14);
    /// `EEXIST`.
    pub const EEXIST: Errno = Errno(17);
    /// `ENODEV`.
    pub const ENODEV: Errno = Errno(19);
    /// `EINVAL`.
    pub const EINVAL: Errno = Errno(22);
    /// `ENOSYS`.
    pub const ENOSYS: Errno = Errno(38);
    /// `EOVERFLOW`.
    pub const EOVERFLOW: Errno = Errno(75);

    const NAMES: [(&'static str, Errno); 12] = [
        ("EPERM", Errno::EPERM),
        ("ENOENT", Errno::ENOENT),
        ("EBADF", Errno::EBADF),
        ("EAGAIN", Errno::EAGAIN),
        ("ENOMEM", Errno::ENOMEM),
        ("EACCES", Errno::EACCES),
        ("EFAULT", Errno::EFAULT),
        ("EEXIST", Errno::EEXIST),
        ("ENODEV", Errno::ENODEV),
        ("EINVAL", Errno::EINVAL),
        ("ENOSYS", Errno::ENOSYS),
        ("EOVERFLOW", Errno::EOVERFLOW),
    ];

    /// The symbolic name (`ENOMEM`), or `E<number>` for others.
    pub fn name(self) -> String {
        Errno::NAMES
            .iter()
            .find(|(_, e)| *e == self)
            .map(|(n, _)| (*n).to_string())
            .unwrap_or_else(|| format!("E{}", self.0))
    }

    /// Parse a symbolic name as strace prints it (`ENOMEM`).
    pub fn from_name(name: &str) -> Option<Errno> {
        Errno::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Why a call on a target did not return a result.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TargetError {
    /// The call failed as a system call would: the program sees `-1` and
    /// this errno, and may carry on.
    #[error("{0}")]
    Errno(Errno),
    /// A host limit stops the platform from going on; the point fails.
    #[error("host limit {name} = {limit} reached: {detail}; fix: {fix}")]
    HostLimit {
        /// The limit's name, e.g. `vm.max_map_count`.
        name: String,
        /// Its current value.
        limit: u64,
        /// What needed more.
        detail: String,
        /// How to raise it.
        fix: String,
    },
    /// The platform cannot do this operation at all.
    #[error("{0}")]
    Unsupported(String),
    /// The platform failed (a host call that should not fail did).
    #[error("{0}")]
    Platform(String),
}

impl From<Errno> for TargetError {
    fn from(e: Errno) -> Self {
        TargetError::Errno(e)
    }
}

/// A file a target created for file-backed mappings, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileHandle(pub u32);

/// One `mmap` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapCall {
    /// Hint or fixed address (0 for none).
    pub addr: u64,
    /// Length in bytes (rounded up to pages by the target).
    pub len: u64,
    /// `PROT_*` bits.
    pub prot: u32,
    /// `MAP_*` bits.
    pub flags: u32,
    /// The file mapped, `None` for anonymous mappings.
    pub file: Option<FileHandle>,
    /// Offset in the file, page aligned.
    pub offset: u64,
}

/// The memory system calls a workload makes, on some platform.
///
/// Addresses are the platform's (host addresses for native, sentry
/// addresses for inproc). Every method that a program could get wrong
/// returns [`TargetError::Errno`] as Linux would, never panics.
pub trait MemoryTarget {
    /// Create a file of `size` bytes that later `mmap` calls may map.
    fn create_file(&mut self, size: u64) -> Result<FileHandle, TargetError>;
    /// `mmap`; returns the address of the new mapping.
    fn mmap(&mut self, call: &MmapCall) -> Result<u64, TargetError>;
    /// `munmap`.
    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), TargetError>;
    /// `mprotect`.
    fn mprotect(&mut self, addr: u64, len: u64, prot: u32) -> Result<(), TargetError>;
    /// `brk`: returns the new (or unchanged) program break, as Linux does;
    /// `addr == 0` queries it.
    fn brk(&mut self, addr: u64) -> Result<u64, TargetError>;
    /// `mremap`; returns the new address.
    fn mremap(
        &mut self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u32,
        new_addr: u64,
    ) -> Result<u64, TargetError>;
    /// Write one byte in every 4 KiB page of `[addr, addr + len)`, faulting
    /// pages in as a program's stores would.
    fn touch(&mut self, addr: u64, len: u64) -> Result<(), TargetError>;
    /// Host mappings the platform holds right now (host mmaps it made).
    fn host_mappings(&self) -> u64;
}
