//! The sentry's side of a trapped stub: the calls and faults it is given
//! ([`TrappedCall`], [`Fault`]), what it answers, and what it can make the
//! stub do ([`StubOps`], [`HostCall`]).

use super::error::TrapError;
use super::workload::{APP_BASE, APP_LEN};
use crate::addr::{Perms, Range};
use crate::platform::{range_inside, PlatformError};

/// A trapped system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrappedCall {
    /// System call number.
    pub nr: i64,
    /// Arguments (rdi, rsi, rdx, r10, r8, r9).
    pub args: [u64; 6],
    /// The instruction after the `syscall`.
    pub rip: u64,
}

/// A fault of the stub on a page it has no (sufficient) host mapping for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The faulting address.
    pub addr: u64,
    /// Whether the access was a write (systrap: the page-fault error code;
    /// ptrace: decoded from the faulting instruction).
    pub write: bool,
    /// The faulting instruction.
    pub rip: u64,
}

/// What the sentry made of a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultResult {
    /// The page is now mapped: the stub re-runs the faulting instruction.
    Resolved,
    /// Not the sentry's to fix: the trial fails.
    NotResolved,
}

/// A host system call the sentry makes the stub execute, with the result
/// that counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostCall {
    /// Short name for errors (`mmap`, `munmap`, `mprotect`).
    pub op: &'static str,
    /// System call number.
    pub nr: i64,
    /// Arguments.
    pub args: [u64; 6],
    /// The result of a successful call.
    pub expect: i64,
}

impl HostCall {
    /// The error for a call that returned `got`.
    pub(super) fn error(&self, platform: &'static str, got: i64) -> PlatformError {
        PlatformError::Host {
            platform,
            op: self.op,
            addr: self.args[0],
            len: self.args[1],
            errno: if got < 0 {
                i32::try_from(-got).unwrap_or(libc::EIO)
            } else {
                libc::EINVAL
            },
        }
    }
}

/// The host calls of one stop, as a platform's [`StubOps`] runs them: the
/// cycles they took and the first failure (which fails the trial; the
/// handler gets a copy of it).
#[derive(Debug, Default)]
pub struct HostCallTally {
    /// Cycles spent in host calls (hand-offs included), for the split.
    pub cycles: u64,
    /// The first failed host call: it fails the trial.
    pub error: Option<TrapError>,
}

impl HostCallTally {
    /// Runs `call` with `run`, timed: `Ok` when it returned what the call
    /// expects; refused after a failed call.
    pub fn run(
        &mut self,
        platform: &'static str,
        call: &HostCall,
        run: impl FnOnce(&HostCall) -> Result<i64, TrapError>,
    ) -> Result<(), TrapError> {
        if self.error.is_some() {
            return Err(TrapError::Protocol {
                platform,
                what: "host call after a failed one".into(),
            });
        }
        let t0 = super::sys::rdtsc();
        let r = run(call);
        self.cycles += super::sys::rdtsc().wrapping_sub(t0);
        let failure = match r {
            Ok(got) if got == call.expect => return Ok(()),
            Ok(got) => TrapError::from(call.error(platform, got)),
            Err(e) => e,
        };
        let copy = failure.copy_for_handler(platform);
        self.error = Some(failure);
        Err(copy)
    }
}

/// What a handler can make the stub do. Every call maps, unmaps or
/// protects pages of the application range only.
///
/// On ptrace a call runs at once; on systrap it is queued in the reply and
/// runs in the stub before the stub resumes (a failure then fails the trial
/// at the next stop). Either way the trial fails if a host call fails, even
/// if the handler ignores the `Err`.
pub trait StubOps {
    /// The platform name.
    fn platform(&self) -> &'static str;
    /// The stub's pid.
    fn pid(&self) -> i32;
    /// Runs (or queues) one host call in the stub.
    fn host_call(&mut self, call: HostCall) -> Result<(), TrapError>;

    /// `mmap(addr, len, perms, MAP_FIXED|MAP_SHARED[|MAP_POPULATE], fd,
    /// offset)` in the stub; `fd` is the stub's (inherited) descriptor.
    fn mmap_fixed(
        &mut self,
        addr: u64,
        len: u64,
        perms: Perms,
        fd: i32,
        offset: u64,
        populate: bool,
    ) -> Result<(), TrapError> {
        self.check_range(addr, len)?;
        let flags =
            libc::MAP_FIXED | libc::MAP_SHARED | if populate { libc::MAP_POPULATE } else { 0 };
        self.host_call(HostCall {
            op: "mmap",
            nr: libc::SYS_mmap,
            args: [
                addr,
                len,
                perms.prot() as u64,
                flags as u64,
                fd as u64,
                offset,
            ],
            expect: addr as i64,
        })
    }

    /// `munmap(addr, len)` in the stub.
    fn munmap(&mut self, addr: u64, len: u64) -> Result<(), TrapError> {
        self.check_range(addr, len)?;
        self.host_call(HostCall {
            op: "munmap",
            nr: libc::SYS_munmap,
            args: [addr, len, 0, 0, 0, 0],
            expect: 0,
        })
    }

    /// `mprotect(addr, len, perms)` in the stub.
    fn mprotect(&mut self, addr: u64, len: u64, perms: Perms) -> Result<(), TrapError> {
        self.check_range(addr, len)?;
        self.host_call(HostCall {
            op: "mprotect",
            nr: libc::SYS_mprotect,
            args: [addr, len, perms.prot() as u64, 0, 0, 0],
            expect: 0,
        })
    }

    /// Refuses ranges outside the application range.
    fn check_range(&self, addr: u64, len: u64) -> Result<(), TrapError> {
        let app = Range::new(APP_BASE, APP_BASE + APP_LEN);
        range_inside(self.platform(), addr, len, app)?;
        Ok(())
    }
}

/// The sentry's side of a trapped stub.
pub trait SyscallHandler {
    /// Serves one trapped call; returns the value for RAX (`-errno` on
    /// failure).
    fn handle(&mut self, call: &TrappedCall, stub: &mut dyn StubOps) -> i64;
    /// Serves a fault.
    fn fault(&mut self, fault: &Fault, stub: &mut dyn StubOps) -> FaultResult;
}
