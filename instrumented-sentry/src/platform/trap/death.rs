//! Naming how a stub ended while it was still expected to run.

use super::error::TrapError;
use super::process::{self, Status};
use super::shared::{self, get, Region};
use super::stub;
use crate::platform::PlatformError;
use std::io;
use std::sync::atomic::Ordering;

/// The error for a stub that ended with `status` while it was still
/// expected to run (including a set-up failure: the platform is then
/// unavailable here).
pub(super) fn died(platform: &'static str, pid: i32, region: &Region, status: Status) -> TrapError {
    let h = region.header();
    match status {
        Status::Exited(stub::EXIT_SETUP_FAILED) => {
            let errno = i32::try_from(get(&h.setup_errno)).unwrap_or(libc::EIO);
            let what = match get(&h.setup_step) {
                shared::step::TRACEME => "PTRACE_TRACEME",
                shared::step::SIGACTION => "rt_sigaction",
                shared::step::NO_NEW_PRIVS => "PR_SET_NO_NEW_PRIVS",
                shared::step::OWN_MAPS => "reading the stub's /proc/self/maps (to keep a native replay in the application range)",
                _ => "installing the seccomp filter",
            };
            PlatformError::Unavailable {
                platform,
                reason: format!("{what} refused: {}", io::Error::from_raw_os_error(errno)),
            }
            .into()
        }
        Status::Exited(code) => TrapError::StubExited {
            platform,
            pid,
            code,
        },
        Status::Signaled(signal) => TrapError::StubKilled {
            platform,
            pid,
            signal,
            name: process::signal_name(signal),
            progress: h.progress.load(Ordering::Acquire),
        },
        Status::Stopped(sig) => TrapError::Protocol {
            platform,
            what: format!("stub {pid} stopped unexpectedly (status {sig:#x})"),
        },
    }
}
