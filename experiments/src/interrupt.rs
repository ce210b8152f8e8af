//! Ctrl-C (SIGINT) and SIGTERM: the first one asks the command to stop at
//! its next safe point instead of dying where it stands; a second one ends
//! the process at once (the default action, restored by the first). Every
//! verb that writes a bundle or files ends interrupted with exit status 130
//! and one line saying what was kept (docs/contract.md):
//!
//! - `run`: stops after the current trial; the points done are written as
//!   the bundle (none done: no bundle);
//! - `record`: the command is sent SIGTERM and the samples so far are
//!   written as the bundle;
//! - `import`: nothing is written (the staging directory goes);
//! - `report`: while rendering, nothing is written; once the files are
//!   being renamed into place, the set is finished (exit 0).

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // SAFETY: signal() is async-signal-safe; restoring the default action
    // makes a second signal terminate the process as usual.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// Install the handlers for SIGINT and SIGTERM.
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic and calls signal(), both
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Ask the run to stop after the current trial, as Ctrl-C does (the live
/// view of `--tui` calls it: in raw mode Ctrl-C arrives as a key).
pub fn request() {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether the user asked the run to stop.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
