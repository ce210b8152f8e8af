//! The systrap platform's sentry loop (gVisor's default platform since
//! 2023).
//!
//! The stub installs a seccomp filter that traps every system call not made
//! from its one allowed `syscall` instruction ([`super::seccomp`]). A trapped
//! call enters the stub's SIGSYS handler, which writes the number and
//! arguments into the shared header, posts `SYSCALL` and waits
//! ([`super::channel`]: spin, then futex). The sentry serves the call and
//! posts `REPLY` with the result; the handler puts it into the saved RAX of
//! its ucontext and returns; `rt_sigreturn` resumes the workload after its
//! `syscall`. A SIGSEGV goes the same way (`FAULT`; the reply's result is 0
//! when resolved).
//!
//! A host call the handler asks for (mapAS's `mmap` into the stub's own
//! address space, `munmap`, `mprotect`) runs *synchronously*, while the
//! sentry serves the call, as gVisor's systrap `MapFile` does: the sentry
//! writes it into a slot, posts `HOST` and waits; the stub, still waiting
//! in its handler, runs it, posts `HOST_DONE` and waits again; the sentry
//! reads the result and goes on. Each host call costs one more hand-off
//! each way (gVisor pays the same). A failed host call fails the trial.
//! The sentry sleeps at most [`SLEEP_NS`] at a time and checks that the
//! stub is alive in between, so a stub killed mid-call fails the trial
//! instead of hanging it.

use super::channel::{post, wait_change, Waited};
use super::death::died;
use super::error::TrapError;
use super::handler::{
    Fault, FaultResult, HostCall, HostCallTally, StubOps, SyscallHandler, TrappedCall,
};
use super::process::{Status, StubProcess};
use super::report::ServedCall;
use super::shared::{get, set, state, Header, Region};
use super::stub_stack;
use super::sys::rdtsc;
use crate::platform::boundary::BoundaryLog;
use std::sync::atomic::Ordering;

const PLATFORM: &str = "systrap";

/// Longest single futex sleep of the sentry before it checks the stub.
pub const SLEEP_NS: u64 = 10_000_000;

/// The handler's view of the stub, which waits in its signal handler: a
/// host call runs at once through `HOST`/`HOST_DONE`.
struct SystrapOps<'a> {
    process: &'a mut StubProcess,
    region: &'a Region,
    /// The stop's host calls: cycles and the first failure.
    tally: HostCallTally,
}

impl SystrapOps<'_> {
    fn run(&mut self, call: &HostCall) -> Result<i64, TrapError> {
        let h = self.region.header();
        let slot = &h.host[0];
        slot.nr.store(call.nr, Ordering::Relaxed);
        for (a, v) in slot.args.iter().zip(call.args) {
            set(a, v);
        }
        slot.result.store(i64::MIN, Ordering::Relaxed);
        set(&h.n_host, 1);
        post(h, state::HOST, &h.stub_waiting);
        match wait_stub(self.process, self.region, state::HOST)? {
            state::HOST_DONE => Ok(slot.result.load(Ordering::Relaxed)),
            other => Err(TrapError::Protocol {
                platform: PLATFORM,
                what: format!("unexpected channel state {other} after a host call"),
            }),
        }
    }
}

impl StubOps for SystrapOps<'_> {
    fn platform(&self) -> &'static str {
        PLATFORM
    }

    fn pid(&self) -> i32 {
        self.process.pid()
    }

    fn host_call(&mut self, call: HostCall) -> Result<(), TrapError> {
        let mut tally = std::mem::take(&mut self.tally);
        let r = tally.run(PLATFORM, &call, |c| self.run(c));
        self.tally = tally;
        r
    }
}

fn wait_stub(process: &mut StubProcess, region: &Region, from: u32) -> Result<u32, TrapError> {
    let h = region.header();
    loop {
        match wait_change(h, from, &h.sentry_waiting, &h.sentry_waits, Some(SLEEP_NS)) {
            Waited::Changed(s) => return Ok(s),
            Waited::Unchanged => {
                if let Some(status) = process.wait(true)? {
                    return Err(died(PLATFORM, process.pid(), region, status));
                }
            }
        }
    }
}

fn request(h: &Header) -> TrappedCall {
    TrappedCall {
        nr: h.nr.load(Ordering::Relaxed),
        args: h.args.each_ref().map(get),
        rip: get(&h.rip),
    }
}

/// Serves the stub until it exits; returns the requests served. With
/// `boundary` on, each request served is a window there, with the stub's
/// stack at the trapped call (its SIGSYS or SIGSEGV handler's ucontext).
pub fn serve(
    process: &mut StubProcess,
    region: &Region,
    handler: &mut dyn SyscallHandler,
    boundary: &mut BoundaryLog,
) -> Result<Vec<ServedCall>, TrapError> {
    let h = region.header();
    let pid = process.pid();
    let mut served = Vec::new();
    let mut from = state::IDLE;
    loop {
        let s = wait_stub(process, region, from)?;
        let seen = rdtsc();
        let mut record = ServedCall {
            seen,
            ..ServedCall::default()
        };
        let mut ops = SystrapOps {
            process: &mut *process,
            region,
            tally: HostCallTally::default(),
        };
        let kind = match s {
            state::SYSCALL => Some("trap: seccomp"),
            state::FAULT => Some("trap: SIGSEGV"),
            _ => None,
        };
        let window = kind.and_then(|kind| stub_stack::open_posted(boundary, pid, kind, h));
        let result = match s {
            state::READY => {
                from = state::READY;
                continue;
            }
            state::SETUP_FAILED | state::EXITED => {
                return match ops.process.wait_blocking()? {
                    Status::Exited(0) if s == state::EXITED => Ok(served),
                    other => Err(died(PLATFORM, pid, region, other)),
                };
            }
            state::SYSCALL => {
                let call = request(h);
                record.nr = call.nr;
                record.handler_start = rdtsc();
                let r = handler.handle(&call, &mut ops);
                record.handler_end = rdtsc();
                r
            }
            state::FAULT => {
                let fault = Fault {
                    addr: get(&h.fault_addr),
                    write: get(&h.fault_write) != 0,
                    rip: get(&h.rip),
                };
                record.nr = -1;
                record.handler_start = rdtsc();
                let r = handler.fault(&fault, &mut ops);
                record.handler_end = rdtsc();
                if let Some(e) = ops.tally.error.take() {
                    return Err(e);
                }
                if r == FaultResult::NotResolved {
                    return Err(TrapError::UnresolvedFault {
                        platform: PLATFORM,
                        addr: fault.addr,
                        access: if fault.write { "write" } else { "read" },
                        rip: fault.rip,
                    });
                }
                0
            }
            other => {
                return Err(TrapError::Protocol {
                    platform: PLATFORM,
                    what: format!("unexpected channel state {other} after {from}"),
                })
            }
        };
        if let Some(e) = ops.tally.error.take() {
            return Err(e);
        }
        record.host_cycles = ops.tally.cycles;
        h.result.store(result, Ordering::Relaxed);
        post(h, state::REPLY, &h.stub_waiting);
        stub_stack::close(boundary, window, h);
        from = state::REPLY;
        served.push(record);
    }
}
