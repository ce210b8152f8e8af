//! The memory file: application memory lives in one host `memfd`, grown in
//! chunks with `ftruncate`, as gVisor's `pgalloc.MemoryFile`.
//!
//! The sentry keeps an internal view of the whole file (a reserved
//! `PROT_NONE` range of `max_size` bytes; each chunk is mapped `MAP_SHARED`
//! into it as the file grows) to zero, copy and inspect pages. Platforms get
//! the file descriptor and the chunk layout ([`MemoryFile::fd`],
//! [`MemoryFile::chunks`]) to map pages into application address spaces:
//! the in-process platform with host `mmap`, the KVM platform as memory slots.
//!
//! Which offsets are in use is the page allocator's business
//! (`page_allocator.rs`); this file only knows the host object.

use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// Name given to `memfd_create`: `/proc/PID/maps` shows
/// `/memfd:sentryprof-sentry-memory-file (deleted)`.
pub const MEMFD_NAME: &str = "sentryprof-sentry-memory-file";

/// Failure of the memory file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryFileError {
    /// A host call failed.
    #[error("memory file: {op} failed: {}", io::Error::from_raw_os_error(*.errno))]
    Host {
        /// The call (`memfd_create`, `ftruncate`, `mmap`, `fallocate`).
        op: &'static str,
        /// errno.
        errno: i32,
    },
    /// The file would pass its configured maximum.
    #[error("memory file: {needed} bytes needed, above the maximum of {max} bytes (raise the memory file limit)")]
    Full {
        /// Bytes needed.
        needed: u64,
        /// Configured maximum.
        max: u64,
    },
    /// An access outside the file.
    #[error("memory file: range {offset:#x}+{len:#x} outside the file (size {size:#x})")]
    OutOfRange {
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// Current size.
        size: u64,
    },
    /// A bad configuration.
    #[error("memory file: invalid configuration: {0}")]
    Config(&'static str),
}

fn last_errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Default growth step: gVisor's `pgalloc` chunk size (`chunkSize = 1 << 30`).
pub const DEFAULT_CHUNK_SIZE: u64 = 1 << 30;

/// Size settings of the memory file.
#[derive(Clone, Debug)]
pub struct MemoryFileConfig {
    /// Growth step (a multiple of the page size). Default 1 GiB, gVisor's
    /// `pgalloc` chunk (`chunkShift = 30`). The step matters beyond growth
    /// costs: allocation is top-down inside the file, so consecutive
    /// mappings get contiguous offsets (and merge into one PMA) except where
    /// the file grew; each chunk boundary leaves one PMA break. With 64 MiB
    /// chunks, Exp2's 25,000 1 MiB mappings left 391 PMAs against 2 at 1 KiB,
    /// and every getPMAs paid for the deeper PMA tree.
    pub chunk_size: u64,
    /// Largest size the file may reach (a multiple of `chunk_size`).
    /// Default 64 GiB (address space only; pages are allocated on use).
    pub max_size: u64,
}

impl Default for MemoryFileConfig {
    fn default() -> Self {
        Self {
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_size: 64 << 30,
        }
    }
}

/// A growable memfd plus the sentry's internal view of it.
#[derive(Debug)]
pub struct MemoryFile {
    fd: OwnedFd,
    size: u64,
    chunk_size: u64,
    max_size: u64,
    view: NonNull<u8>,
}

// SAFETY: the view is a private reservation owned by this value and only
// accessed through `&self`/`&mut self` methods that check bounds; the memfd
// is a plain file descriptor. Moving the value to another thread is sound.
unsafe impl Send for MemoryFile {}

impl MemoryFile {
    /// Creates an empty memory file.
    ///
    /// Errors: `Config` for a chunk size that is zero or not page-aligned,
    /// or a maximum that is not a positive multiple of it; `Host` if the
    /// memfd or the view reservation cannot be made.
    pub fn new(config: &MemoryFileConfig) -> Result<Self, MemoryFileError> {
        use crate::addr::is_page_aligned;
        if config.chunk_size == 0 || !is_page_aligned(config.chunk_size) {
            return Err(MemoryFileError::Config(
                "chunk size must be a positive multiple of 4096",
            ));
        }
        if config.max_size == 0 || config.max_size % config.chunk_size != 0 {
            return Err(MemoryFileError::Config(
                "maximum size must be a positive multiple of the chunk size",
            ));
        }
        let max_len = usize::try_from(config.max_size)
            .map_err(|_| MemoryFileError::Config("maximum size does not fit the address space"))?;
        let name = std::ffi::CString::new(MEMFD_NAME)
            .map_err(|_| MemoryFileError::Config("memfd name"))?;
        // SAFETY: `name` is a valid NUL-terminated string; memfd_create has
        // no other memory effects.
        let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(MemoryFileError::Host {
                op: "memfd_create",
                errno: last_errno(),
            });
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: anonymous PROT_NONE reservation at a kernel-chosen address;
        // it does not touch existing mappings.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                max_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MemoryFileError::Host {
                op: "mmap (memory file view reservation)",
                errno: last_errno(),
            });
        }
        let view = NonNull::new(p.cast::<u8>()).ok_or(MemoryFileError::Host {
            op: "mmap (memory file view reservation)",
            errno: libc::ENOMEM,
        })?;
        Ok(Self {
            fd,
            size: 0,
            chunk_size: config.chunk_size,
            max_size: config.max_size,
            view,
        })
    }

    /// The memfd (for platforms that map it: host `mmap`, KVM memory slots).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The memfd's raw descriptor number.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Current length of the file (a multiple of the chunk size).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Growth step.
    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// Largest size the file may reach.
    pub fn max_size(&self) -> u64 {
        self.max_size
    }

    /// The chunks the file consists of, in offset order: `[i * chunk, (i+1) * chunk)`.
    pub fn chunks(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        (0..self.size / self.chunk_size)
            .map(move |i| i * self.chunk_size..(i + 1) * self.chunk_size)
    }

    /// Grows the file (in whole chunks) to at least `min_size` bytes.
    /// Returns whether it grew.
    ///
    /// Postconditions: on success `self.size() >= min_size`, the new bytes
    /// read as zero and are reachable through the internal view.
    pub fn grow_to(&mut self, min_size: u64) -> Result<bool, MemoryFileError> {
        if min_size <= self.size {
            return Ok(false);
        }
        let new_size = min_size
            .checked_next_multiple_of(self.chunk_size)
            .filter(|&s| s <= self.max_size)
            .ok_or(MemoryFileError::Full {
                needed: min_size,
                max: self.max_size,
            })?;
        let len = i64::try_from(new_size).map_err(|_| MemoryFileError::Full {
            needed: min_size,
            max: self.max_size,
        })?;
        // SAFETY: ftruncate on our own memfd; no memory effects.
        if unsafe { libc::ftruncate(self.fd.as_raw_fd(), len) } != 0 {
            return Err(MemoryFileError::Host {
                op: "ftruncate",
                errno: last_errno(),
            });
        }
        let old = self.size;
        let grow_len =
            usize::try_from(new_size - old).map_err(|_| MemoryFileError::Config("size"))?;
        let old_off = usize::try_from(old).map_err(|_| MemoryFileError::Config("size"))?;
        let file_off = i64::try_from(old).map_err(|_| MemoryFileError::Config("size"))?;
        // SAFETY: `view + old .. view + new_size` lies inside the reservation
        // made in `new` (new_size <= max_size) and belongs to this value
        // only; MAP_FIXED replaces part of our own PROT_NONE reservation.
        let p = unsafe {
            libc::mmap(
                self.view.as_ptr().add(old_off).cast(),
                grow_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                self.fd.as_raw_fd(),
                file_off,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MemoryFileError::Host {
                op: "mmap (memory file view)",
                errno: last_errno(),
            });
        }
        self.size = new_size;
        Ok(true)
    }

    fn check(&self, offset: u64, len: u64) -> Result<usize, MemoryFileError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => {
                usize::try_from(offset).map_err(|_| MemoryFileError::Config("offset"))
            }
            _ => Err(MemoryFileError::OutOfRange {
                offset,
                len,
                size: self.size,
            }),
        }
    }

    /// Copies bytes at `offset` into `buf`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), MemoryFileError> {
        let off = self.check(offset, buf.len() as u64)?;
        // SAFETY: `check` proved `offset + buf.len() <= size`, and the first
        // `size` bytes of the view are mapped read/write; `buf` cannot alias
        // the view (it is a Rust slice we did not hand out).
        unsafe {
            std::ptr::copy_nonoverlapping(self.view.as_ptr().add(off), buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    /// Copies `data` to `offset`.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), MemoryFileError> {
        let off = self.check(offset, data.len() as u64)?;
        // SAFETY: as in `read`: in bounds of the mapped view, no aliasing.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.view.as_ptr().add(off), data.len())
        };
        Ok(())
    }

    /// Copies `len` bytes from offset `src` to offset `dst` (ranges may overlap).
    pub fn copy(&mut self, src: u64, dst: u64, len: u64) -> Result<(), MemoryFileError> {
        let s = self.check(src, len)?;
        let d = self.check(dst, len)?;
        let n = usize::try_from(len).map_err(|_| MemoryFileError::Config("length"))?;
        // SAFETY: both ranges are inside the mapped view (checked); `copy`
        // handles overlap.
        unsafe { std::ptr::copy(self.view.as_ptr().add(s), self.view.as_ptr().add(d), n) };
        Ok(())
    }

    /// Releases the pages of `[offset, offset + len)` back to the host
    /// (`fallocate(PUNCH_HOLE)`): they read as zero afterwards.
    pub fn decommit(&mut self, offset: u64, len: u64) -> Result<(), MemoryFileError> {
        self.check(offset, len)?;
        let (o, l) = match (i64::try_from(offset), i64::try_from(len)) {
            (Ok(o), Ok(l)) => (o, l),
            _ => return Err(MemoryFileError::Config("offset")),
        };
        // SAFETY: fallocate on our own memfd within its size; the pages may
        // be mapped by the view (they then read as zero), which is intended.
        let r = unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                o,
                l,
            )
        };
        if r != 0 {
            return Err(MemoryFileError::Host {
                op: "fallocate(PUNCH_HOLE)",
                errno: last_errno(),
            });
        }
        Ok(())
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        if let Ok(len) = usize::try_from(self.max_size) {
            // SAFETY: unmaps exactly the reservation made in `new`, which no
            // outstanding reference can point into (reads copy out).
            unsafe { libc::munmap(self.view.as_ptr().cast(), len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_in_chunks_and_keeps_data() {
        let mut mf = MemoryFile::new(&MemoryFileConfig {
            chunk_size: 1 << 20,
            max_size: 4 << 20,
        })
        .unwrap();
        assert_eq!(mf.size(), 0);
        assert!(mf.grow_to(4096).unwrap());
        assert_eq!(mf.size(), 1 << 20);
        mf.write(100, b"hello").unwrap();
        assert!(mf.grow_to(3 << 20).unwrap());
        assert_eq!(mf.chunks().count(), 3);
        let mut b = [0u8; 5];
        mf.read(100, &mut b).unwrap();
        assert_eq!(&b, b"hello");
        mf.decommit(0, 4096).unwrap();
        mf.read(100, &mut b).unwrap();
        assert_eq!(b, [0; 5]);
        assert!(matches!(
            mf.grow_to(5 << 20),
            Err(MemoryFileError::Full { .. })
        ));
        assert!(matches!(
            mf.read(3 << 20, &mut b),
            Err(MemoryFileError::OutOfRange { .. })
        ));
    }
}
