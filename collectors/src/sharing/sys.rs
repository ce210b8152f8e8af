//! The only unsafe code of the sharing analysis: `process_vm_readv`,
//! wrapped in a safe function; `lseek(SEEK_DATA / SEEK_HOLE)` is the
//! sentry's (`instrumented_sentry::host::seek_data_or_hole`).

use std::io;

/// Most iovecs one `process_vm_readv` call accepts (`IOV_MAX`).
pub const MAX_IOVECS: usize = 1024;

/// Copy the remote ranges `remote` (address, length) of process `pid`, back
/// to back, into the start of `local`.
///
/// Preconditions: `remote.len() <= MAX_IOVECS`; the lengths sum to at most
/// `local.len()`.
/// Postconditions: returns the number of bytes copied; fewer than asked means
/// the range at that position could not be read (the kernel stops there).
pub fn process_vm_readv(pid: i32, local: &mut [u8], remote: &[(u64, usize)]) -> io::Result<usize> {
    let total: usize = remote.iter().map(|r| r.1).sum();
    if remote.len() > MAX_IOVECS || total > local.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "process_vm_readv: more ranges or bytes than the buffer holds",
        ));
    }
    if total == 0 {
        return Ok(0);
    }
    let local_iov = libc::iovec {
        iov_base: local.as_mut_ptr().cast(),
        iov_len: total,
    };
    let remote_iov: Vec<libc::iovec> = remote
        .iter()
        .map(|&(addr, len)| libc::iovec {
            iov_base: addr as usize as *mut libc::c_void,
            iov_len: len,
        })
        .collect();
    // SAFETY: `local_iov` describes `total <= local.len()` bytes of `local`,
    // which we borrow mutably for the duration of the call, so the kernel may
    // write them. The remote iovecs name addresses in the other process; they
    // are never dereferenced in ours. Both arrays outlive the call and their
    // counts are passed exactly.
    let n = unsafe {
        libc::process_vm_readv(
            pid,
            &local_iov,
            1,
            remote_iov.as_ptr(),
            remote_iov.len() as libc::c_ulong,
            0,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

pub use instrumented_sentry::host::seek_data_or_hole;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let src: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        let mut dst = vec![0u8; 8192];
        let pid = std::process::id() as i32;
        let base = src.as_ptr() as u64;
        let n = process_vm_readv(pid, &mut dst, &[(base + 4096, 4096), (base, 4096)]).unwrap();
        assert_eq!(n, 8192);
        assert_eq!(&dst[..4096], &src[4096..]);
        assert_eq!(&dst[4096..], &src[..4096]);
    }

    #[test]
    fn refuses_more_than_the_buffer() {
        let mut dst = vec![0u8; 10];
        assert!(process_vm_readv(1, &mut dst, &[(0, 11)]).is_err());
    }
}
