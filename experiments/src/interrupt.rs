//! Ctrl-C during a run: the first SIGINT (or SIGTERM) asks the run to stop
//! after the current trial, so the bundle writer can remove its temporary
//! directory and leave no half bundle; a second one ends the process at
//! once (the default action, restored by the first).

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
