//! The ptrace platform's sentry loop (gVisor's original platform).
//!
//! The stub stops itself with SIGSTOP after `PTRACE_TRACEME`; the sentry
//! sets `PTRACE_O_EXITKILL` (the stub dies with its tracer) and
//! `PTRACE_O_TRACESYSGOOD`, then resumes it with `PTRACE_SYSEMU`: each
//! system call stops the stub at entry without running it. At a stop:
//!
//! - system call: `PTRACE_GETREGS`, the handler serves it, its result goes
//!   into RAX (`PTRACE_SETREGS`), `PTRACE_SYSEMU` again. `exit_group` ends
//!   the trial (the stub's loop is done).
//! - SIGSEGV: `PTRACE_GETSIGINFO` gives the address, the faulting
//!   instruction gives the access type ([`super::decode`]); resolved → the
//!   signal is discarded and the instruction runs again.
//! - the stub died: the trial fails naming the signal.
//!
//! A host call the handler asks for ([`StubOps`]) is run by the stub
//! itself, as gVisor's ptrace platform does: the sentry points RIP at the
//! stub's `syscall; int3` site with the call in the registers, resumes with
//! `PTRACE_CONT` (so the call really runs), waits for the `int3`'s SIGTRAP,
//! reads RAX and later restores the saved registers (with `orig_rax = -1`,
//! so the kernel sees no system call to restart).

use super::death::died;
use super::error::TrapError;
use super::handler::{
    Fault, FaultResult, HostCall, HostCallTally, StubOps, SyscallHandler, TrappedCall,
};
use super::process::{Status, StubProcess};
use super::report::ServedCall;
use super::shared::{get, Region};
use super::stub_stack;
use super::sys::{rdtsc, site_addrs};
use super::tracee::{self, PtraceResult};
use crate::platform::boundary::BoundaryLog;
use crate::platform::PlatformError;

const PLATFORM: &str = "ptrace";
const SYSCALL_STOP: i32 = libc::SIGTRAP | 0x80;

fn os(op: &'static str) -> impl Fn(i32) -> TrapError {
    move |errno| TrapError::Os {
        platform: PLATFORM,
        op,
        errno,
    }
}

/// The handler's view of a stopped stub.
struct PtraceOps<'a> {
    process: &'a mut StubProcess,
    region: &'a Region,
    site: u64,
    /// The registers of the stop being served.
    saved: libc::user_regs_struct,
    /// A host call ran: the stub now sits at a signal stop, not the original.
    injected: bool,
    /// The stop's host calls: cycles and the first failure.
    tally: HostCallTally,
}

impl PtraceOps<'_> {
    fn run(&mut self, call: &HostCall) -> Result<i64, TrapError> {
        let pid = self.process.pid();
        let mut regs = self.saved;
        regs.rip = self.site;
        regs.rax = call.nr as u64;
        regs.orig_rax = u64::MAX;
        regs.rdi = call.args[0];
        regs.rsi = call.args[1];
        regs.rdx = call.args[2];
        regs.r10 = call.args[3];
        regs.r8 = call.args[4];
        regs.r9 = call.args[5];
        tracee::set_regs(pid, &regs).map_err(os("PTRACE_SETREGS"))?;
        self.injected = true;
        tracee::cont(pid, 0).map_err(os("PTRACE_CONT"))?;
        match self.process.wait_blocking()? {
            Status::Stopped(libc::SIGTRAP) => {}
            other => return Err(died(PLATFORM, pid, self.region, other)),
        }
        Ok(tracee::get_regs(pid).map_err(os("PTRACE_GETREGS"))?.rax as i64)
    }
}

impl StubOps for PtraceOps<'_> {
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

/// Serves the stub until it exits; returns the stops served. With
/// `boundary` on, each system call or fault served is a window there, with
/// the stub's stack at the stop.
pub fn serve(
    process: &mut StubProcess,
    region: &Region,
    handler: &mut dyn SyscallHandler,
    boundary: &mut BoundaryLog,
) -> Result<Vec<ServedCall>, TrapError> {
    let pid = process.pid();
    match process.wait_blocking()? {
        Status::Stopped(libc::SIGSTOP) => {}
        other => return Err(died(PLATFORM, pid, region, other)),
    }
    tracee::set_options(pid, libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD).map_err(
        |errno| PlatformError::Unavailable {
            platform: PLATFORM,
            reason: format!(
                "PTRACE_SETOPTIONS refused: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
        },
    )?;
    let site = site_addrs().ptrace_site;
    let mut served: Vec<ServedCall> = Vec::new();
    let mut sig = 0;
    let mut window = None;
    loop {
        stub_stack::close(boundary, window.take(), region.header());
        let resumed = rdtsc();
        if let Some(last) = served.last_mut() {
            last.resumed = resumed;
        }
        tracee::sysemu(pid, sig).map_err(os("PTRACE_SYSEMU"))?;
        sig = 0;
        let status = process.wait_blocking()?;
        let seen = rdtsc();
        let stop = match status {
            Status::Stopped(s) => s,
            other => return Err(died(PLATFORM, pid, region, other)),
        };
        let regs = tracee::get_regs(pid).map_err(os("PTRACE_GETREGS"))?;
        let kind = match stop {
            SYSCALL_STOP => Some("trap: ptrace"),
            libc::SIGSEGV => Some("trap: ptrace SIGSEGV"),
            _ => None,
        };
        if let Some(kind) = kind {
            let base = get(&region.header().stack_base);
            window = stub_stack::open(boundary, pid, kind, [regs.rip, regs.rbp, regs.rsp], base);
        }
        let mut ops = PtraceOps {
            process: &mut *process,
            region,
            site,
            saved: regs,
            injected: false,
            tally: HostCallTally::default(),
        };
        let mut record = ServedCall {
            seen,
            ..ServedCall::default()
        };
        let result = match stop {
            SYSCALL_STOP => {
                let nr = regs.orig_rax as i64;
                if nr == libc::SYS_exit_group || nr == libc::SYS_exit {
                    return Ok(served);
                }
                let call = TrappedCall {
                    nr,
                    args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
                    rip: regs.rip,
                };
                record.nr = nr;
                record.handler_start = rdtsc();
                let rax = handler.handle(&call, &mut ops);
                record.handler_end = rdtsc();
                Some(rax)
            }
            libc::SIGSEGV => {
                record.nr = -1;
                serve_fault(&mut ops, handler, &mut record)?;
                None
            }
            other => {
                // Some other signal: deliver it to the stub.
                sig = other;
                continue;
            }
        };
        record.host_cycles = ops.tally.cycles;
        if let Some(e) = ops.tally.error.take() {
            return Err(e);
        }
        let injected = ops.injected;
        let mut regs = regs;
        if let Some(rax) = result {
            regs.rax = rax as u64;
        }
        if injected {
            regs.orig_rax = u64::MAX;
        }
        if injected || result.is_some() {
            tracee::set_regs(pid, &regs).map_err(os("PTRACE_SETREGS"))?;
        }
        served.push(record);
    }
}

fn serve_fault(
    ops: &mut PtraceOps<'_>,
    handler: &mut dyn SyscallHandler,
    record: &mut ServedCall,
) -> Result<(), TrapError> {
    let pid = ops.process.pid();
    let addr = tracee::fault_addr(pid).map_err(os("PTRACE_GETSIGINFO"))?;
    let rip = ops.saved.rip;
    let write = instruction_writes(pid, rip).unwrap_or(false);
    let fault = Fault { addr, write, rip };
    record.handler_start = rdtsc();
    let res = handler.fault(&fault, ops);
    record.handler_end = rdtsc();
    // A host call that failed under the handler (the stub died during it)
    // is the trial's error, whatever the handler made of it.
    if let Some(e) = ops.tally.error.take() {
        return Err(e);
    }
    match res {
        FaultResult::Resolved => Ok(()),
        FaultResult::NotResolved => Err(TrapError::UnresolvedFault {
            platform: PLATFORM,
            addr,
            access: if write { "write" } else { "read" },
            rip,
        }),
    }
}

fn instruction_writes(pid: i32, rip: u64) -> PtraceResult<bool> {
    let words: [u64; 2] = tracee::peek(pid, rip)?;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&words[0].to_le_bytes());
    bytes[8..].copy_from_slice(&words[1].to_le_bytes());
    Ok(super::decode::writes_memory(&bytes, rip))
}
