//! Capturing the process's standard output and error while the live view
//! is on screen, so that what the run prints does not scribble over the
//! view; the captured text is given back when the view closes.
//!
//! The file descriptors 1 and 2 are pointed at an unlinked temporary file
//! with `dup2` and pointed back at the end, by [`OutputCapture::finish`], by
//! `Drop`, or by the panic hook ([`release_on_panic`]) so a panic message
//! reaches the terminal.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Saved copies of the original stdout and stderr (-1: none).
static SAVED_OUT: AtomicI32 = AtomicI32::new(-1);
static SAVED_ERR: AtomicI32 = AtomicI32::new(-1);

/// `dup(fd)`, as a Result.
fn dup(fd: RawFd) -> io::Result<RawFd> {
    // SAFETY: dup only reads the descriptor table; an invalid fd is reported
    // as -1/EBADF, which is turned into an error.
    let r = unsafe { libc::dup(fd) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `dup2(from, to)`, as a Result.
fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 atomically replaces descriptor `to` with a copy of
    // `from`; it touches no memory, and errors come back as -1.
    let r = unsafe { libc::dup2(from, to) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Close a descriptor this module duplicated.
fn close(fd: RawFd) {
    // SAFETY: `fd` was returned by dup() here and is closed exactly once,
    // because it is taken out of its atomic slot with a swap before.
    unsafe {
        libc::close(fd);
    }
}

/// Point stdout and stderr back at what they were, if captured. Idempotent.
fn release() {
    let _ = io::stdout().flush();
    let _ = io::stderr().flush();
    for (slot, target) in [(&SAVED_OUT, 1), (&SAVED_ERR, 2)] {
        let saved = slot.swap(-1, Ordering::SeqCst);
        if saved >= 0 {
            let _ = dup2(saved, target);
            close(saved);
        }
    }
}

/// Called by the panic hook: give the terminal its stdout and stderr back
/// before the panic message is printed.
pub fn release_on_panic() {
    release();
}

/// Standard output and error captured into a temporary file.
#[derive(Debug)]
pub struct OutputCapture {
    file: File,
}

impl OutputCapture {
    /// Start capturing. Fails (capturing nothing) if a capture is already
    /// running or a descriptor cannot be duplicated.
    pub fn start() -> io::Result<OutputCapture> {
        if SAVED_OUT.load(Ordering::SeqCst) >= 0 {
            return Err(io::Error::other("output is already being captured"));
        }
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        let path = std::env::temp_dir().join(format!(
            ".sentryprof-live-{}-{}.log",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        // Unlinked at once: the descriptor keeps it alive, nothing is left
        // behind whatever happens.
        let _ = std::fs::remove_file(&path);
        let out = dup(1)?;
        let err = match dup(2) {
            Ok(e) => e,
            Err(e) => {
                close(out);
                return Err(e);
            }
        };
        SAVED_OUT.store(out, Ordering::SeqCst);
        SAVED_ERR.store(err, Ordering::SeqCst);
        let redirect = dup2(file.as_raw_fd(), 1).and_then(|()| dup2(file.as_raw_fd(), 2));
        if let Err(e) = redirect {
            release();
            return Err(e);
        }
        Ok(OutputCapture { file })
    }

    /// Stop capturing and return what was written meanwhile.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        release();
        let mut out = Vec::new();
        self.file.seek(SeekFrom::Start(0))?;
        self.file.read_to_end(&mut out)?;
        Ok(out)
    }
}

impl Drop for OutputCapture {
    fn drop(&mut self) {
        release();
    }
}
