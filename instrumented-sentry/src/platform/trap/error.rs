//! Failure of a trapped trial: [`TrapError`].

use crate::platform::PlatformError;
use std::io;

/// Failure of a trapped trial.
#[derive(Debug, thiserror::Error)]
pub enum TrapError {
    /// A platform failure (unavailable, host call failed, out of range).
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The stub died of a signal.
    #[error(
        "{platform}: stub {pid} killed by signal {signal} ({name}) after {progress} iterations"
    )]
    StubKilled {
        /// Platform name.
        platform: &'static str,
        /// The stub's pid.
        pid: i32,
        /// The signal.
        signal: i32,
        /// Its name.
        name: &'static str,
        /// Iterations the stub had finished.
        progress: u64,
    },
    /// The stub exited before its loop finished.
    #[error("{platform}: stub {pid} exited with status {code} before its workload finished")]
    StubExited {
        /// Platform name.
        platform: &'static str,
        /// The stub's pid.
        pid: i32,
        /// Exit status.
        code: i32,
    },
    /// A fault the handler did not resolve.
    #[error("{platform}: fault at {addr:#x} ({access}, rip {rip:#x}) not resolved by the sentry")]
    UnresolvedFault {
        /// Platform name.
        platform: &'static str,
        /// Fault address.
        addr: u64,
        /// `read` or `write`.
        access: &'static str,
        /// Faulting instruction.
        rip: u64,
    },
    /// A request on the stub failed (ptrace, waitpid, fork).
    #[error("{platform}: {op} failed: {}", io::Error::from_raw_os_error(*.errno))]
    Os {
        /// Platform name.
        platform: &'static str,
        /// The request.
        op: &'static str,
        /// errno.
        errno: i32,
    },
    /// The stub did something the platform does not expect.
    #[error("{platform}: {what}")]
    Protocol {
        /// Platform name.
        platform: &'static str,
        /// What happened.
        what: String,
    },
    /// The workload description is invalid.
    #[error("invalid stub workload: {0}")]
    Workload(String),
}

impl TrapError {
    /// A copy of this failure for a handler whose host call failed (the
    /// original fails the trial).
    pub(super) fn copy_for_handler(&self, platform: &'static str) -> TrapError {
        match self {
            TrapError::Platform(p) => TrapError::Platform(p.clone()),
            other => TrapError::Protocol {
                platform,
                what: other.to_string(),
            },
        }
    }
}
