//! Host memory that backs guest-physical memory: an owned host mapping with
//! bounds-checked, volatile accessors (the guest may change it between
//! exits, so the compiler must not cache reads).

use std::os::fd::RawFd;

/// Errors making or using a host mapping.
#[derive(Debug, thiserror::Error)]
pub enum HostMappingError {
    /// The host refused the mapping.
    #[error("host mmap of {len} bytes failed: {source}")]
    Mmap {
        /// Bytes requested.
        len: u64,
        /// The host's error.
        source: std::io::Error,
    },
    /// An access fell outside the mapping.
    #[error("access of {len} bytes at offset {offset:#x} is outside a {size:#x}-byte mapping")]
    OutOfBounds {
        /// Offset of the access.
        offset: u64,
        /// Length of the access.
        len: u64,
        /// Size of the mapping.
        size: u64,
    },
}

/// An owned host mapping (anonymous or of a file), unmapped on drop.
///
/// Invariant: `ptr` points at `len` bytes mapped readable and writable for
/// the lifetime of the value.
#[derive(Debug)]
pub struct HostMapping {
    ptr: *mut u8,
    len: u64,
}

// SAFETY: the mapping is plain memory owned by this value; moving it to
// another thread moves that ownership.
unsafe impl Send for HostMapping {}

impl HostMapping {
    /// Reserves `len` bytes of zeroed anonymous memory (`MAP_NORESERVE`: only
    /// touched pages cost host memory).
    pub fn anonymous(len: u64) -> Result<Self, HostMappingError> {
        Self::map(
            len,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    }

    /// Maps `len` bytes of `fd` at file offset `offset`, shared, so writes
    /// through the mapping land in the file.
    ///
    /// Precondition: `offset` is page aligned and `offset + len` is within
    /// the file (touching past its end raises SIGBUS).
    pub fn shared_file(fd: RawFd, offset: u64, len: u64) -> Result<Self, HostMappingError> {
        Self::map(len, libc::MAP_SHARED, fd, offset)
    }

    fn map(len: u64, flags: i32, fd: RawFd, offset: u64) -> Result<Self, HostMappingError> {
        let size = usize::try_from(len).map_err(|_| HostMappingError::Mmap {
            len,
            source: std::io::Error::from_raw_os_error(libc::ENOMEM),
        })?;
        let off = libc::off_t::try_from(offset).map_err(|_| HostMappingError::Mmap {
            len,
            source: std::io::Error::from_raw_os_error(libc::EINVAL),
        })?;
        // SAFETY: a fresh mapping at an address the kernel picks; no existing
        // memory is affected. The result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                off,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(HostMappingError::Mmap {
                len,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(Self {
            ptr: ptr.cast(),
            len,
        })
    }

    /// Host address of the first byte (for `KVM_SET_USER_MEMORY_REGION`).
    pub fn host_addr(&self) -> u64 {
        self.ptr as u64
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the mapping is empty (never, for a successful mapping).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn check(&self, offset: u64, len: u64) -> Result<(), HostMappingError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(HostMappingError::OutOfBounds {
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// Copies `bytes` to `offset`.
    pub fn write_bytes(&self, offset: u64, bytes: &[u8]) -> Result<(), HostMappingError> {
        self.check(offset, bytes.len() as u64)?;
        // SAFETY: the range was bounds-checked against the live mapping, and
        // `bytes` cannot overlap it (it is a Rust slice the caller owns).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.add(offset as usize),
                bytes.len(),
            );
        }
        Ok(())
    }

    /// Copies `out.len()` bytes from `offset` into `out`.
    pub fn read_bytes(&self, offset: u64, out: &mut [u8]) -> Result<(), HostMappingError> {
        self.check(offset, out.len() as u64)?;
        // SAFETY: bounds-checked source in the live mapping; `out` is a
        // distinct Rust slice.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.ptr.add(offset as usize),
                out.as_mut_ptr(),
                out.len(),
            );
        }
        Ok(())
    }

    /// Reads the little-endian u64 at `offset` (8-byte aligned).
    pub fn read_u64(&self, offset: u64) -> Result<u64, HostMappingError> {
        self.check(offset, 8)?;
        if offset % 8 != 0 {
            return Err(HostMappingError::OutOfBounds {
                offset,
                len: 8,
                size: self.len,
            });
        }
        // SAFETY: in bounds and 8-byte aligned (the mapping is page aligned).
        Ok(unsafe { std::ptr::read_volatile(self.ptr.add(offset as usize).cast::<u64>()) })
    }

    /// Writes `value` as a little-endian u64 at `offset` (8-byte aligned).
    pub fn write_u64(&self, offset: u64, value: u64) -> Result<(), HostMappingError> {
        self.check(offset, 8)?;
        if offset % 8 != 0 {
            return Err(HostMappingError::OutOfBounds {
                offset,
                len: 8,
                size: self.len,
            });
        }
        // SAFETY: in bounds and 8-byte aligned (the mapping is page aligned).
        unsafe { std::ptr::write_volatile(self.ptr.add(offset as usize).cast::<u64>(), value) };
        Ok(())
    }
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe a mapping this value created and still
        // owns; nothing refers to it after drop (the VM that used it as a
        // memory slot is dropped first by its owner).
        unsafe {
            libc::munmap(self.ptr.cast(), self.len as usize);
        }
    }
}
