//! Copying the sentry's memory file out as a raw image (`memory.img` of
//! `--keep-memory`): byte `i` of the image is byte `i` of the memfd; ranges
//! the memfd holds as holes stay holes in the image (a sparse file, read as
//! zeros), so an image of a mostly empty file costs little disk.

use std::fs::File;
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::host::seek_data_or_hole;

/// Copy `len` bytes of `fd` to a new file at `path`, skipping holes.
/// Returns `len`.
///
/// Errors: the file cannot be created or written, or `fd` cannot be read.
pub fn write_sparse_copy(fd: BorrowedFd<'_>, len: u64, path: &Path) -> io::Result<u64> {
    let src = File::from(fd.try_clone_to_owned()?);
    let dst = File::create(path)?;
    dst.set_len(len)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut pos: u64 = 0;
    while pos < len {
        let Some(data) = seek_data_or_hole(&src, pos, true)? else {
            break;
        };
        if data >= len {
            break;
        }
        let hole = seek_data_or_hole(&src, data, false)?
            .unwrap_or(len)
            .min(len);
        let mut at = data;
        while at < hole {
            let n = ((hole - at) as usize).min(buf.len());
            src.read_exact_at(&mut buf[..n], at)?;
            dst.write_all_at(&buf[..n], at)?;
            at += n as u64;
        }
        pos = hole;
    }
    dst.sync_all()?;
    Ok(len)
}
