//! Running a guest program to its end with the sentry as its kernel: the
//! VMM loop that turns exits into memory-manager calls.
//!
//! - system call exit → [`dispatch`] → result into the shared page;
//! - page fault exit → `handle_fault` (getPMAs + mapAS) → retry; a fault on
//!   a translation the tables already allow is a stale one: the guest
//!   flushes and retries; a fault the sentry cannot resolve ends the run
//!   with the address ([`GuestRunError::Segfault`]);
//! - anything else ends the run with the guest's registers.

use super::sentry_calls::{dispatch, CallOutcome, GuestFds, KvmMemoryManager};
use crate::addr::Access;
use crate::mm::{MemoryManager, MmConfig, MmError};
use crate::platform::kvm::address_space::KvmAddressSpace;
use crate::platform::kvm::guest::program::GuestProgram;
use crate::platform::kvm::vmm::exits::FaultKind;
use crate::platform::kvm::vmm::machine::{ExitCounts, GuestEvent, Machine, MachineError};
use crate::platform::kvm::vmm::vcpu_thread::VcpuPlacement;
use crate::platform::PlatformError;

/// How many times in a row one address may fault before the run is stopped
/// as a livelock.
const MAX_REPEATED_FAULTS: u32 = 8;

/// Why a guest run ended early.
#[derive(Debug, thiserror::Error)]
pub enum GuestRunError {
    /// The VM or the memory manager could not be set up here.
    #[error("kvm platform unavailable: {0}")]
    Unavailable(String),
    /// The guest touched memory the sentry does not map for it.
    #[error(
        "guest {access} at {addr:#x} (rip {rip:#x}{func}) faulted and the sentry cannot resolve it: {reason}",
        access = if *write { "write" } else { "read" },
        func = function.as_deref().map(|f| format!(" in {f}")).unwrap_or_default()
    )]
    Segfault {
        /// Faulting address.
        addr: u64,
        /// Faulting instruction.
        rip: u64,
        /// Guest function containing `rip`.
        function: Option<String>,
        /// The access was a write.
        write: bool,
        /// The memory manager's reason.
        reason: String,
    },
    /// The guest crashed or exited unexpectedly (registers included).
    #[error("{0}")]
    Machine(#[from] MachineError),
    /// A guest system call the workload depends on failed.
    #[error("guest call {index} ({name}) failed: {error}")]
    CallFailed {
        /// 0-based index of the call among the guest's system calls.
        index: u64,
        /// Call name.
        name: &'static str,
        /// The error.
        error: MmError,
    },
    /// The guest made a system call the sentry does not implement.
    #[error("guest made unknown system call {0}")]
    UnknownCall(u64),
}

/// What one guest run did.
#[derive(Debug, Clone, Default)]
pub struct GuestRunSummary {
    /// Exit status the guest passed to `exit`.
    pub exit_status: u64,
    /// Results of the guest's `mmap` calls, in order.
    pub mmap_results: Vec<u64>,
    /// System calls handled (excluding `exit`).
    pub calls: u64,
    /// Page faults the sentry resolved.
    pub faults_resolved: u64,
    /// Faults on stale translations (answered with a flush).
    pub stale_faults: u64,
    /// Exits by kind.
    pub exits: ExitCounts,
    /// Guest TLB flushes requested.
    pub flushes: u64,
}

fn call_name(nr: u64) -> &'static str {
    use crate::platform::kvm::vmm::exits::*;
    match nr {
        SYS_MMAP => "mmap",
        SYS_MUNMAP => "munmap",
        SYS_MPROTECT => "mprotect",
        SYS_BRK => "brk",
        SYS_MREMAP => "mremap",
        SYS_EXIT => "exit",
        _ => "unknown",
    }
}

/// Makes a memory manager whose address space is a fresh VM running
/// `program` with a `data_len`-byte data region, managing `app_size` bytes.
///
/// Errors: `Unavailable` with one line saying why (no /dev/kvm, VM creation
/// refused, memory file or slot set-up failed).
pub fn make_guest_mm(
    config: MmConfig,
    program: GuestProgram,
    data_len: u64,
    app_size: u64,
) -> Result<KvmMemoryManager, GuestRunError> {
    make_guest_mm_placed(config, program, data_len, app_size, VcpuPlacement::detect())
}

/// [`make_guest_mm`] with `KVM_RUN` called where `placement` says.
pub fn make_guest_mm_placed(
    config: MmConfig,
    program: GuestProgram,
    data_len: u64,
    app_size: u64,
    placement: VcpuPlacement,
) -> Result<KvmMemoryManager, GuestRunError> {
    let mut machine_err: Option<MachineError> = None;
    let built = MemoryManager::new(config, |file| {
        let machine = Machine::with_placement(program, data_len, placement).map_err(|e| {
            let reason = e.to_string();
            machine_err = Some(e);
            PlatformError::Unavailable {
                platform: "kvm",
                reason,
            }
        })?;
        KvmAddressSpace::new(machine, file.fd(), file.size(), app_size)
    });
    match built {
        Ok(mm) => Ok(mm),
        Err(e) => Err(GuestRunError::Unavailable(match machine_err {
            Some(m) => m.to_string(),
            None => e.to_string(),
        })),
    }
}

/// Where a guest run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestStop {
    /// The guest called `exit` with this status.
    Exited(u64),
    /// The request-serving guest asks for its next request.
    NextRequest,
}

/// Runs the guest until it calls `exit`.
///
/// `fail_on_error`: a failed system call ends the run with
/// [`GuestRunError::CallFailed`] (workloads whose calls must succeed);
/// otherwise the guest sees `-errno`.
pub fn run_guest(
    mm: &mut KvmMemoryManager,
    fds: &GuestFds,
    fail_on_error: bool,
) -> Result<GuestRunSummary, GuestRunError> {
    let mut summary = GuestRunSummary::default();
    loop {
        match run_until_stop(mm, fds, fail_on_error, &mut summary)? {
            GuestStop::Exited(status) => {
                summary.exit_status = status;
                return Ok(summary);
            }
            GuestStop::NextRequest => {
                // A program that asks for requests gets none: tell it to exit.
                mm.address_space().machine().write_shared(
                    crate::platform::kvm::vmm::exits::SH_REQ_KIND,
                    crate::platform::kvm::vmm::exits::REQ_EXIT,
                )?;
            }
        }
    }
}

/// Runs the guest, serving its system calls and faults, until it exits or
/// asks for a request. Counts go into `summary`.
pub fn run_until_stop(
    mm: &mut KvmMemoryManager,
    fds: &GuestFds,
    fail_on_error: bool,
    summary: &mut GuestRunSummary,
) -> Result<GuestStop, GuestRunError> {
    let mut last_fault: Option<(u64, u32)> = None;
    let stop = loop {
        let event = mm.address_space_mut().machine_mut().next_event()?;
        match event {
            GuestEvent::Syscall { nr, args } => match dispatch(mm, fds, nr, args) {
                CallOutcome::Return { value, error } => {
                    if let Some(error) = error {
                        if fail_on_error {
                            return Err(GuestRunError::CallFailed {
                                index: summary.calls,
                                name: call_name(nr),
                                error,
                            });
                        }
                    }
                    if nr == crate::platform::kvm::vmm::exits::SYS_MMAP {
                        summary.mmap_results.push(value);
                    }
                    summary.calls += 1;
                    mm.address_space_mut()
                        .machine_mut()
                        .complete_syscall(value)?;
                }
                CallOutcome::Exit(status) => break GuestStop::Exited(status),
                CallOutcome::Unknown(nr) => {
                    if fail_on_error {
                        return Err(GuestRunError::UnknownCall(nr));
                    }
                    mm.address_space_mut()
                        .machine_mut()
                        .complete_syscall(super::sentry_calls::ENOSYS_RESULT)?;
                }
            },
            GuestEvent::PageFault { addr, kind, rip } => {
                let repeats = match last_fault {
                    Some((a, n)) if a == addr => n + 1,
                    _ => 1,
                };
                last_fault = Some((addr, repeats));
                if repeats > MAX_REPEATED_FAULTS {
                    let m = mm.address_space().machine();
                    return Err(m
                        .crash(format!(
                            "guest faulted {repeats} times in a row at {addr:#x} (rip {rip:#x}) although the sentry maps it"
                        ))
                        .into());
                }
                handle_fault(mm, addr, kind, rip, summary)?;
            }
            GuestEvent::NextRequest => break GuestStop::NextRequest,
            GuestEvent::RawExit | GuestEvent::Mmio { .. } => {}
        }
    };
    let m = mm.address_space().machine();
    summary.exits = m.exit_counts();
    summary.flushes = m.flushes_requested();
    Ok(stop)
}

fn handle_fault(
    mm: &mut KvmMemoryManager,
    addr: u64,
    kind: FaultKind,
    rip: u64,
    summary: &mut GuestRunSummary,
) -> Result<(), GuestRunError> {
    let stale = mm
        .address_space_mut()
        .machine_mut()
        .translation_allows(addr, kind)?;
    let access = if kind.write {
        Access::Write
    } else {
        Access::Read
    };
    match mm.handle_fault(addr, access) {
        Ok(()) => {
            if stale {
                summary.stale_faults += 1;
            } else {
                summary.faults_resolved += 1;
            }
            mm.address_space_mut()
                .machine_mut()
                .complete_fault(stale.then_some(addr))?;
            Ok(())
        }
        Err(e) => {
            let function = mm
                .address_space()
                .machine()
                .program()
                .function_at(rip)
                .map(|f| f.name.clone());
            Err(GuestRunError::Segfault {
                addr,
                rip,
                function,
                write: kind.write,
                reason: e.to_string(),
            })
        }
    }
}
