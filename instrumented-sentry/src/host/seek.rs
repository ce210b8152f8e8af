//! `lseek(SEEK_DATA / SEEK_HOLE)`, wrapped in a safe function.

use std::io;
use std::os::fd::AsRawFd;

/// Where the next data (`data = true`, `SEEK_DATA`) or hole (`SEEK_HOLE`) of
/// `file` starts at or after `offset`. `Ok(None)` when there is no more data
/// (ENXIO).
///
/// The call moves the offset of `file`'s open file description: read the
/// file positionally (`read_exact_at`) while walking it.
pub fn seek_data_or_hole(file: &std::fs::File, offset: u64, data: bool) -> io::Result<Option<u64>> {
    let whence = if data {
        libc::SEEK_DATA
    } else {
        libc::SEEK_HOLE
    };
    let off = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
    // SAFETY: `lseek` on a descriptor owned by `file`, which is borrowed for
    // the call and so stays open; it touches no memory of ours.
    let r = unsafe { libc::lseek(file.as_raw_fd(), off, whence) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENXIO) {
            return Ok(None);
        }
        return Err(e);
    }
    Ok(Some(r as u64))
}
