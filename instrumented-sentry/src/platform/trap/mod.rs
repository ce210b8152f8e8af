//! Trapped-process platforms: the workload runs as a separate real process
//! (the *stub*) whose system calls and faults are trapped and served by the
//! sentry (this process), as on gVisor's `ptrace` and `systrap` platforms.
//!
//! - [`Mechanism::Ptrace`]: the sentry traces the stub and resumes it with
//!   `PTRACE_SYSEMU`, so each system call stops it before it runs; the
//!   sentry reads the registers, serves the call and writes the result into
//!   RAX ([`ptrace`]).
//! - [`Mechanism::Systrap`]: a seccomp filter in the stub returns
//!   `SECCOMP_RET_TRAP` for the workload's calls; the stub's SIGSYS handler
//!   posts the call on a shared page and waits; the sentry serves it and
//!   replies, with host calls for the stub to run first ([`systrap`]).
//! - [`Mechanism::Native`]: the same stub loop with real system calls, for
//!   the side-by-side figure.
//!
//! The sentry's side is a [`SyscallHandler`]: it gets each trapped call and
//! each fault, and a [`StubOps`] through which it makes the stub execute
//! real host calls in the stub's own address space (mapAS: `mmap` of the
//! memory file with `MAP_FIXED|MAP_SHARED`, `munmap`, `mprotect`).
//!
//! Module map (unsafe code lives only in `sys`, `shared`, `stub`,
//! `process` and `tracee`):
//! - [`sys`]: system-call sites, raw calls, `rdtsc`, futex;
//! - [`shared`]: the shared control page and result array;
//! - [`channel`]: the spin-then-futex hand-off;
//! - [`stub`]: the child program (loop, signal handlers, set-up);
//! - [`process`]: fork, wait, kill and reap;
//! - [`seccomp`]: the systrap filter;
//! - [`tracee`]: ptrace requests; [`decode`]: a fault's access type;
//! - [`ptrace`], [`systrap`]: the two sentry loops;
//! - [`costs`]: where the time of a trapped call goes;
//! - [`address_space`]: the mapAS seam over [`StubOps`] (the memory
//!   manager's `AddressSpace` on these platforms).

pub mod address_space;
pub mod channel;
pub mod costs;
pub mod decode;
pub mod process;
pub mod ptrace;
pub mod seccomp;
pub mod shared;
pub mod stub;
pub mod sys;
pub mod systrap;
pub mod tracee;

use super::PlatformError;
use crate::addr::Perms;
use process::{Status, StubProcess};
use shared::{get, set, Region};
use std::io;
use std::sync::atomic::Ordering;

/// Start of the application range a handler places mappings in: free in
/// this process (checked at spawn), so free in its fork.
pub const APP_BASE: u64 = 0x2000_0000_0000;
/// Length of the application range (64 GiB).
pub const APP_LEN: u64 = 1 << 36;
/// Most iterations one trial may ask for.
pub const MAX_ITERATIONS: u64 = 1 << 22;

/// How the stub is trapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// No trapping: the loop's calls reach the host kernel.
    Native,
    /// `PTRACE_SYSEMU`.
    Ptrace,
    /// seccomp `SECCOMP_RET_TRAP` and a SIGSYS handler.
    Systrap,
}

impl Mechanism {
    /// The platform name (`native`, `ptrace`, `systrap`).
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Native => "native",
            Mechanism::Ptrace => "ptrace",
            Mechanism::Systrap => "systrap",
        }
    }
}

/// What the stub's loop repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `mmap(addr, len, prot, flags, fd, offset)`, then (optionally) one
    /// write per page, then (optionally) `munmap`.
    #[default]
    Mmap,
    /// `malloc(len)` of glibc reduced to the system calls it makes (the
    /// rule of the sentry's malloc model, `workload::exec::MallocModel`):
    /// below 128 KiB a chunk of `max(len + 8, 32)` rounded up to 16 from
    /// the top of the brk heap, growing it with `brk(end + round_up(need +
    /// 128 KiB, 4096))`; at or above, its own `mmap(NULL, round_up(len +
    /// 16, 4096), RW, MAP_PRIVATE|MAP_ANONYMOUS)`. malloc writes the chunk
    /// headers (the size word of an mmapped chunk; the new top chunk's
    /// header) as glibc does; with `touch` one write per page of the block
    /// follows. Nothing is freed. `prot`, `flags`, `fd`, `offset` and
    /// `unmap` are ignored.
    Malloc,
}

/// The stub's loop: `iterations` times the [`Shape`] (by default
/// `mmap(addr, len, prot, flags, fd, offset)`, then optionally one write
/// per page of `pattern ^ page address`, then optionally `munmap`). Each
/// step is timed with `rdtsc`, and so is the whole loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workload {
    /// What each iteration does.
    pub shape: Shape,
    /// Iterations (at most [`MAX_ITERATIONS`]).
    pub iterations: u64,
    /// mmap's address argument (0 for "anywhere"; with `MAP_FIXED` it
    /// must lie in the application range).
    pub addr: u64,
    /// Bytes per mapping or malloc (non-zero; an mmap rounds it up to a
    /// page, a touch writes every page it overlaps).
    pub len: u64,
    /// `PROT_*`.
    pub prot: i32,
    /// `MAP_*`.
    pub flags: i32,
    /// File descriptor (the stub inherits the sentry's descriptors).
    pub fd: i32,
    /// File offset.
    pub offset: u64,
    /// Write one word per page after each mmap.
    pub touch: bool,
    /// munmap after each mmap.
    pub unmap: bool,
    /// Written values are `pattern ^ page address`.
    pub pattern: u64,
}

impl Workload {
    /// Private anonymous read-write mappings of `len` bytes.
    pub fn anon(iterations: u64, len: u64) -> Workload {
        Workload {
            shape: Shape::Mmap,
            iterations,
            addr: 0,
            len,
            prot: libc::PROT_READ | libc::PROT_WRITE,
            flags: libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            fd: -1,
            offset: 0,
            touch: false,
            unmap: false,
            pattern: 0x5e47_7a9f_0000_0000,
        }
    }

    fn validate(&self) -> Result<(), TrapError> {
        let bad = |what: &str| Err(TrapError::Workload(what.to_string()));
        if self.iterations == 0 || self.iterations > MAX_ITERATIONS {
            return bad("iterations must be between 1 and 2^22");
        }
        if self.len == 0 || self.len > APP_LEN {
            return bad("len must be non-zero and at most the application range");
        }
        let fixed = self.flags & libc::MAP_FIXED != 0;
        let in_range = self.addr >= APP_BASE
            && self
                .addr
                .checked_add(self.len)
                .is_some_and(|e| e <= APP_BASE + APP_LEN);
        if fixed && !in_range {
            return bad("a MAP_FIXED address must lie in the application range");
        }
        Ok(())
    }
}

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
    fn error(&self, platform: &'static str, got: i64) -> PlatformError {
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
        let ok = addr >= APP_BASE
            && len > 0
            && addr
                .checked_add(len)
                .is_some_and(|e| e <= APP_BASE + APP_LEN);
        if ok {
            Ok(())
        } else {
            Err(PlatformError::OutOfRange {
                platform: self.platform(),
                addr,
                len,
                range: crate::addr::Range::new(APP_BASE, APP_BASE + APP_LEN),
            }
            .into())
        }
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

/// One iteration of the stub's loop, in TSC cycles (0 where not measured).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallTimes {
    /// mmap's raw result.
    pub addr: i64,
    /// Before the mmap instruction.
    pub enter: u64,
    /// After mmap returned.
    pub returned: u64,
    /// After the touch.
    pub touched: u64,
    /// After munmap.
    pub unmapped: u64,
    /// systrap: SIGSYS handler entry.
    pub handler_entry: u64,
    /// systrap: request posted.
    pub posted: u64,
    /// systrap: reply seen by the stub.
    pub reply_seen: u64,
    /// systrap: reply's host calls done.
    pub host_done: u64,
}

/// One stop the sentry served, in TSC cycles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServedCall {
    /// System call number, or -1 for a fault.
    pub nr: i64,
    /// The sentry saw the stop.
    pub seen: u64,
    /// The handler started.
    pub handler_start: u64,
    /// The handler returned (systrap: the reply is posted right after).
    pub handler_end: u64,
    /// ptrace: cycles spent injecting host calls inside the handler.
    pub host_cycles: u64,
    /// ptrace: the stub was resumed.
    pub resumed: u64,
}

/// What a trial measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialReport {
    /// The stub's iterations, in order.
    pub calls: Vec<CallTimes>,
    /// The stops the sentry served, in order.
    pub served: Vec<ServedCall>,
    /// The stub's loop, first iteration to last, in TSC cycles.
    pub loop_cycles: u64,
}

/// A stub, spawned and waiting to be served.
///
/// Not `Send`: a trial is served on the thread that spawned it (ptrace
/// accepts requests only from the tracing thread, and the stub's
/// `PR_SET_PDEATHSIG` fires when that thread ends).
pub struct Trial {
    mechanism: Mechanism,
    _thread_bound: std::marker::PhantomData<*const ()>,
    // Declared before `region`: the process is killed and reaped before
    // the shared region is unmapped.
    process: StubProcess,
    region: Region,
}

impl Trial {
    /// Forks a stub that will run `workload` under `mechanism`.
    pub fn spawn(mechanism: Mechanism, workload: &Workload) -> Result<Trial, TrapError> {
        let platform = mechanism.name();
        workload.validate()?;
        let unavailable = |reason: String| PlatformError::Unavailable { platform, reason };
        match process::range_in_use(APP_BASE, APP_LEN) {
            Ok(false) => {}
            Ok(true) => {
                return Err(unavailable(format!(
                    "the application range {APP_BASE:#x}+{APP_LEN:#x} is in use in the sentry"
                ))
                .into())
            }
            Err(e) => return Err(unavailable(format!("cannot read /proc/self/maps: {e}")).into()),
        }
        let region = Region::new(workload.iterations as usize)
            .map_err(|e| unavailable(format!("cannot map the shared region: {e}")))?;
        write_workload(&region, workload);
        let mut prog = seccomp::filter(sys::site_addrs().host_syscall_ret);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        let plan = stub::ChildPlan {
            mechanism,
            header: region.header(),
            records: region.records().as_ptr(),
            n_records: region.records().len(),
            parent_pid: std::process::id() as i32,
            filter: &fprog,
        };
        let process = StubProcess::spawn(platform, &plan)?;
        Ok(Trial {
            mechanism,
            _thread_bound: std::marker::PhantomData,
            process,
            region,
        })
    }

    /// The stub's pid.
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// Iterations the stub has finished so far.
    pub fn progress(&self) -> u64 {
        self.region.header().progress.load(Ordering::Acquire)
    }

    /// Runs the trial to the end, serving the stub with `handler` (not
    /// called on [`Mechanism::Native`]). On error the stub is killed and
    /// reaped before this returns.
    pub fn run(mut self, handler: &mut dyn SyscallHandler) -> Result<TrialReport, TrapError> {
        let served = match self.mechanism {
            Mechanism::Native => self.wait_native().map(|()| Vec::new()),
            Mechanism::Ptrace => ptrace::serve(&mut self.process, &self.region, handler),
            Mechanism::Systrap => systrap::serve(&mut self.process, &self.region, handler),
        };
        let served = match served {
            // A request on a stub that died under it (killed between two
            // stops): what counts is how it died.
            Err(
                e @ TrapError::Os {
                    errno: libc::ESRCH, ..
                },
            ) if !self.process.reaped() => Err(self.death_after(e)),
            other => other,
        };
        self.process.kill_and_reap();
        let served = served?;
        let h = self.region.header();
        Ok(TrialReport {
            calls: self.calls(),
            served,
            loop_cycles: get(&h.t_loop_end).wrapping_sub(get(&h.t_loop_start)),
        })
    }

    fn wait_native(&mut self) -> Result<(), TrapError> {
        match self.process.wait_blocking()? {
            Status::Exited(0) => Ok(()),
            other => Err(self.died(other)),
        }
    }

    /// The stub vanished under a request that failed with `e`: waits for
    /// its end and names it (or returns `e` if it is not dead after all).
    fn death_after(&mut self, e: TrapError) -> TrapError {
        for _ in 0..16 {
            match self.process.wait_blocking() {
                Ok(status @ (Status::Signaled(_) | Status::Exited(_))) => return self.died(status),
                Ok(Status::Stopped(_)) => continue,
                Err(_) => break,
            }
        }
        e
    }

    fn died(&self, status: Status) -> TrapError {
        died(
            self.mechanism.name(),
            self.process.pid(),
            &self.region,
            status,
        )
    }

    fn calls(&self) -> Vec<CallTimes> {
        let n = self.progress() as usize;
        self.region
            .records()
            .iter()
            .take(n)
            .map(|r| CallTimes {
                addr: get(&r.addr) as i64,
                enter: get(&r.t_enter),
                returned: get(&r.t_return),
                touched: get(&r.t_touched),
                unmapped: get(&r.t_unmapped),
                handler_entry: get(&r.t_handler),
                posted: get(&r.t_posted),
                reply_seen: get(&r.t_reply_seen),
                host_done: get(&r.t_host_done),
            })
            .collect()
    }
}

fn write_workload(region: &Region, w: &Workload) {
    let h = region.header();
    set(
        &h.shape,
        match w.shape {
            Shape::Mmap => shared::shape::MMAP,
            Shape::Malloc => shared::shape::MALLOC,
        },
    );
    set(&h.iterations, w.iterations);
    set(&h.addr, w.addr);
    set(&h.len, w.len);
    set(&h.prot, w.prot as u64);
    set(&h.flags, w.flags as u64);
    set(&h.fd, w.fd as i64 as u64);
    set(&h.offset, w.offset);
    set(&h.touch, u64::from(w.touch));
    set(&h.unmap, u64::from(w.unmap));
    set(&h.pattern, w.pattern);
}

/// The error for a stub that ended with `status` while it was still
/// expected to run (including a set-up failure: the platform is then
/// unavailable here).
fn died(platform: &'static str, pid: i32, region: &Region, status: Status) -> TrapError {
    let h = region.header();
    match status {
        Status::Exited(stub::EXIT_SETUP_FAILED) => {
            let errno = i32::try_from(get(&h.setup_errno)).unwrap_or(libc::EIO);
            let what = match get(&h.setup_step) {
                shared::step::TRACEME => "PTRACE_TRACEME",
                shared::step::SIGACTION => "rt_sigaction",
                shared::step::NO_NEW_PRIVS => "PR_SET_NO_NEW_PRIVS",
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
