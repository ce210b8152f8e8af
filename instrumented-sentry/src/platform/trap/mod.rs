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
//! - `stub_stack`: the stub's stack at a trapped call, for boundary
//!   windows (only while perf samples);
//! - [`address_space`]: the mapAS seam over [`StubOps`] (the memory
//!   manager's `AddressSpace` on these platforms).

pub mod address_space;
pub mod channel;
pub mod costs;
mod death;
pub mod decode;
mod error;
mod handler;
mod mechanism;
mod own_holes;
pub mod process;
pub mod ptrace;
mod report;
pub mod seccomp;
pub mod shared;
pub mod stub;
mod stub_stack;
pub mod sys;
pub mod systrap;
pub mod tracee;
mod workload;

pub use error::TrapError;
pub use handler::{Fault, FaultResult, HostCall, StubOps, SyscallHandler, TrappedCall};
pub use mechanism::Mechanism;
pub use report::{CallTimes, Handoffs, ServedCall, TrialReport};
pub use workload::{
    foreign, Relocation, ReplayCall, Shape, Workload, APP_BASE, APP_LEN, FOREIGN_BASE,
    MAX_ITERATIONS,
};

use super::boundary::BoundaryLog;
use super::PlatformError;
use death::died;
use process::{Status, StubProcess};
use shared::{get, set, Region};
use std::sync::atomic::Ordering;

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
    boundary: BoundaryLog,
}

impl Trial {
    /// Forks a stub that will run `workload` under `mechanism`.
    pub fn spawn(mechanism: Mechanism, workload: &Workload) -> Result<Trial, TrapError> {
        if workload.shape == Shape::Replay {
            return Err(TrapError::Workload(
                "a replay is spawned with Trial::spawn_replay".to_string(),
            ));
        }
        Self::spawn_with(mechanism, workload, &[])
    }

    /// Forks a stub that replays `calls` under `mechanism` (one iteration
    /// per call, [`Shape::Replay`]). On [`Mechanism::Native`] the stub
    /// first fills the free ranges of its address space outside the
    /// application range with `PROT_NONE` reservations (so the kernel
    /// places the replay's mappings in the application range), and keeps
    /// the room above its program break free for `brk` calls.
    pub fn spawn_replay(mechanism: Mechanism, calls: &[ReplayCall]) -> Result<Trial, TrapError> {
        let workload = Workload {
            shape: Shape::Replay,
            iterations: calls.len() as u64,
            ..Workload::anon(1, 4096)
        };
        for (i, c) in calls.iter().enumerate() {
            if c.reloc.iter().flatten().any(|r| r.base >= i) {
                return Err(TrapError::Workload(format!(
                    "replay call {i} is relocated against a later call"
                )));
            }
        }
        Self::spawn_with(mechanism, &workload, calls)
    }

    fn spawn_with(
        mechanism: Mechanism,
        workload: &Workload,
        calls: &[ReplayCall],
    ) -> Result<Trial, TrapError> {
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
        let region = Region::new(workload.iterations as usize, calls.len())
            .map_err(|e| unavailable(format!("cannot map the shared region: {e}")))?;
        write_workload(&region, workload);
        write_replay(&region, calls);
        let mut prog = seccomp::filter(sys::site_addrs().host_syscall_ret);
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_mut_ptr(),
        };
        // The native replay stub reads its own maps into this (made before
        // the fork: the child allocates nothing).
        let mut maps_buf = if workload.shape == Shape::Replay && mechanism == Mechanism::Native {
            vec![0u8; MAPS_BUF]
        } else {
            Vec::new()
        };
        let plan = stub::ChildPlan {
            mechanism,
            header: region.header(),
            records: region.records().as_ptr(),
            n_records: region.records().len(),
            ops: region.ops().as_ptr(),
            n_ops: region.ops().len(),
            holes: region.holes().as_ptr(),
            maps_buf: maps_buf.as_mut_ptr(),
            maps_cap: maps_buf.len(),
            parent_pid: std::process::id() as i32,
            filter: &fprog,
        };
        let process = StubProcess::spawn(platform, &plan)?;
        Ok(Trial {
            mechanism,
            _thread_bound: std::marker::PhantomData,
            process,
            region,
            boundary: BoundaryLog::new(false),
        })
    }

    /// Record a boundary window for every call and fault served, with the
    /// stub's stack at it (`TrialReport::boundary`); off by default. A
    /// systrap stub then walks its own stack at each trap and posts it in
    /// the shared header.
    pub fn record_boundary_stacks(&mut self, on: bool) {
        self.boundary = BoundaryLog::new(on);
        set(&self.region.header().want_stack, u64::from(on));
    }

    /// The stub's pid.
    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// Iterations the stub has finished so far.
    pub fn progress(&self) -> u64 {
        self.region.header().progress.load(Ordering::Acquire)
    }

    /// Tells both sides of the systrap hand-off that the serving thread and
    /// the stub run on CPUs of their own (pinned apart), so a waiter spins
    /// without yielding: a yield only hands its CPU to another process.
    pub fn set_split_cpus(&self, on: bool) {
        self.region
            .header()
            .split_cpus
            .store(u32::from(on), Ordering::Relaxed);
    }

    /// Runs the trial to the end, serving the stub with `handler` (not
    /// called on [`Mechanism::Native`]). On error the stub is killed and
    /// reaped before this returns.
    pub fn run(mut self, handler: &mut dyn SyscallHandler) -> Result<TrialReport, TrapError> {
        let served = match self.mechanism {
            Mechanism::Native => self.wait_native().map(|()| Vec::new()),
            Mechanism::Ptrace => {
                ptrace::serve(&mut self.process, &self.region, handler, &mut self.boundary)
            }
            Mechanism::Systrap => {
                systrap::serve(&mut self.process, &self.region, handler, &mut self.boundary)
            }
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
            handoffs: Handoffs {
                stub_yielded: get(&h.stub_waits.yielded),
                stub_slept: get(&h.stub_waits.slept),
                sentry_yielded: get(&h.sentry_waits.yielded),
                sentry_slept: get(&h.sentry_waits.slept),
            },
            boundary: self.boundary.take(),
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
                host_cycles: get(&r.host_cycles),
                arg0: get(&r.arg0),
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
            Shape::Replay => shared::shape::REPLAY,
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

fn write_replay(region: &Region, calls: &[ReplayCall]) {
    for (op, c) in region.ops().iter().zip(calls) {
        set(&op.nr, c.nr as u64);
        let mut args = c.args;
        let mut checks = 0;
        for (slot, (reloc, arg)) in c.reloc.iter().zip([0usize, 4]).enumerate() {
            if let Some(r) = reloc {
                args[arg] = r.offset;
                set(&op.base[slot], r.base as u64 + 1);
                set(&op.fallback[slot], r.fallback);
                if r.in_app_range {
                    checks |= [shared::check::ARG0_IN_APP, shared::check::ARG4_IN_APP][slot];
                }
            }
        }
        for (dst, v) in op.args.iter().zip(args) {
            set(dst, v);
        }
        set(&op.checks, checks);
    }
}

/// Room for the native replay stub's `/proc/self/maps` text (about 100
/// bytes a mapping: 80,000 mappings).
const MAPS_BUF: usize = 8 << 20;
