//! The exit mechanisms measured side by side, and the choice of the one
//! system calls use: a guest that only exits, in a loop, timing each round
//! trip with `rdtsc` at CPL 3. The kvm runner makes the choice at start-up;
//! `benches/kvm_exits.rs` prints the figures.
//!
//! - `out`: port I/O from CPL 3 (IOPL 3) to the raw port (`PORT_RAW`);
//! - MMIO: a CPL-3 store to a page mapped to guest-physical memory outside
//!   every slot;
//! - hypercall: `vmcall` (Intel) or `vmmcall` (AMD), by the CPU's vendor,
//!   from CPL 3 (on KVM it is refused at CPL > 0 without reaching user
//!   space; detected, not assumed).
//!
//! The system call path uses the cheapest mechanism that reaches the VMM;
//! the raw `out` round trip is also the baseline that per-mmap times on this
//! platform are compared against.

use bundle::stats::percentile_low;
use iced_x86::code_asm::*;

use super::program::{
    emit_exit, emit_raw_exit, emit_rdtsc, AssembleError, GuestProgram, ProgramBuilder,
};
use crate::host::cpu_is_amd;
use crate::platform::kvm::vmm::exits::{SyscallExit, RAW_MMIO_GPA, RAW_MMIO_GVA, SYS_EXIT};
use crate::platform::kvm::vmm::layout::{sys_gva, DATA_OFF};
use crate::platform::kvm::vmm::machine::{GuestEvent, Machine, MachineError};
use crate::platform::kvm::vmm::vcpu_thread::VcpuPlacement;

/// Guest-physical address the MMIO benchmark stores to (outside every slot).
pub const MMIO_GPA: u64 = RAW_MMIO_GPA;
/// Guest-virtual address mapped to [`MMIO_GPA`] (in every guest).
pub const MMIO_GVA: u64 = RAW_MMIO_GVA;
/// What a refused hypercall leaves in `rax` on KVM (`-KVM_EPERM`, with
/// `KVM_EPERM` = `EPERM` = 1: KVM refuses hypercalls from CPL > 0).
pub const KVM_EPERM_RESULT: u64 = (-1i64) as u64;

/// An exit mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMechanism {
    /// `out dx, al` from CPL 3.
    PortIo,
    /// Store to unbacked guest-physical memory.
    Mmio,
    /// The vendor's hypercall instruction (`vmcall`, `vmmcall`) from CPL 3.
    Hypercall,
}

impl ExitMechanism {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::PortIo => "out (port I/O, CPL 3)",
            Self::Mmio => "MMIO store (CPL 3)",
            Self::Hypercall if cpu_is_amd() => "vmmcall (CPL 3)",
            Self::Hypercall => "vmcall (CPL 3)",
        }
    }

    fn loop_name(self) -> &'static str {
        match self {
            Self::PortIo => "raw_exit_loop",
            Self::Mmio => "mmio_exit_loop",
            Self::Hypercall => "vmcall_loop",
        }
    }
}

/// Round-trip cycles of one mechanism, or why it cannot be used.
#[derive(Debug, Clone)]
pub struct MechanismResult {
    /// The mechanism.
    pub mechanism: ExitMechanism,
    /// Per-round-trip TSC cycles (sorted), empty if unusable.
    pub cycles: Vec<u64>,
    /// Exits to the VMM observed during the loop.
    pub exits_seen: u64,
    /// `None` if the mechanism reaches the VMM; otherwise why not.
    pub unusable: Option<String>,
}

impl MechanismResult {
    /// Median round trip in cycles (0 if none).
    pub fn median(&self) -> u64 {
        self.percentile(50)
    }

    /// The `p`-th percentile round trip in cycles, without interpolation
    /// ([`percentile_low`]; 0 if none).
    pub fn percentile(&self, p: u64) -> u64 {
        percentile_low(&self.cycles, p).unwrap_or(0)
    }
}

/// Errors of the benchmark itself (not of a mechanism).
#[derive(Debug, thiserror::Error)]
pub enum ExitBenchError {
    /// Assembling the guest failed.
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    /// The VM could not be made or run.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// Neither `out` nor MMIO reached the VMM.
    #[error("neither `out` nor MMIO from CPL 3 reaches the VMM on this machine")]
    NoMechanism,
}

/// The benchmark guest: `iterations` round trips of `mechanism`, each timed
/// with `rdtsc` into data[8*i] (the last `vmcall` result at data[8*n]).
pub fn program(mechanism: ExitMechanism, iterations: u64) -> Result<GuestProgram, AssembleError> {
    let mut b = ProgramBuilder::new()?;
    let sys_call = b.sys_call();
    let mut body = b.asm().create_label();
    b.function("_start")?;
    let a = b.asm();
    a.mov(r12, sys_gva(DATA_OFF))?;
    a.mov(r13, iterations)?;
    a.xor(r15d, r15d)?;
    b.function_at_label(mechanism.loop_name(), &mut body)?;
    let a = b.asm();
    emit_rdtsc(a)?;
    a.mov(r14, rax)?;
    match mechanism {
        ExitMechanism::PortIo => emit_raw_exit(a, SyscallExit::PortIo)?,
        ExitMechanism::Mmio => emit_raw_exit(a, SyscallExit::Mmio)?,
        ExitMechanism::Hypercall => {
            // KVM_HC_VAPIC_POLL_IRQ (1): harmless if it were accepted.
            a.mov(eax, 1u32)?;
            if cpu_is_amd() {
                a.vmmcall()?;
            } else {
                a.vmcall()?;
            }
            a.mov(r15, rax)?;
        }
    }
    emit_rdtsc(a)?;
    a.sub(rax, r14)?;
    a.mov(qword_ptr(r12), rax)?;
    a.add(r12, 8)?;
    a.dec(r13)?;
    a.jnz(body)?;
    a.mov(qword_ptr(r12), r15)?;
    a.xor(edi, edi)?;
    emit_exit(a, sys_call)?;
    b.finish()
}

/// The exit mechanisms measured side by side and the one system calls use.
#[derive(Debug, Clone)]
pub struct ExitChoice {
    /// How `sys_call` exits: the usable mechanism with the lower median.
    pub syscall_exit: SyscallExit,
    /// The chosen mechanism's round trips (the "raw exit" baseline).
    pub chosen: MechanismResult,
    /// Every mechanism measured, usable or not.
    pub all: Vec<MechanismResult>,
}

/// Measures `out`, MMIO and hypercall round trips (`round_trips` each, in
/// fresh VMs) and chooses the cheaper of the usable `out` and MMIO for
/// system calls.
///
/// Errors: the VM cannot be made, or neither `out` nor MMIO reaches the VMM.
pub fn choose_syscall_exit(round_trips: u64) -> Result<ExitChoice, ExitBenchError> {
    let all = vec![
        measure(ExitMechanism::PortIo, round_trips)?,
        measure(ExitMechanism::Mmio, round_trips)?,
        measure(ExitMechanism::Hypercall, round_trips.min(100))?,
    ];
    let chosen = all
        .iter()
        .filter(|r| r.unusable.is_none() && r.mechanism != ExitMechanism::Hypercall)
        .min_by_key(|r| r.median())
        .cloned()
        .ok_or(ExitBenchError::NoMechanism)?;
    let syscall_exit = match chosen.mechanism {
        ExitMechanism::Mmio => SyscallExit::Mmio,
        _ => SyscallExit::PortIo,
    };
    Ok(ExitChoice {
        syscall_exit,
        chosen,
        all,
    })
}

/// Runs `iterations` round trips of `mechanism` in a fresh VM.
///
/// Errors: only if the VM cannot be made; a mechanism that crashes the
/// guest or never reaches the VMM is reported as unusable.
pub fn measure(
    mechanism: ExitMechanism,
    iterations: u64,
) -> Result<MechanismResult, ExitBenchError> {
    measure_placed(mechanism, iterations, VcpuPlacement::detect())
}

/// [`measure`] with `KVM_RUN` called where `placement` says.
pub fn measure_placed(
    mechanism: ExitMechanism,
    iterations: u64,
    placement: VcpuPlacement,
) -> Result<MechanismResult, ExitBenchError> {
    let prog = program(mechanism, iterations)?;
    let data_len = (iterations + 1) * 8;
    let mut m = Machine::with_placement(prog, data_len, placement)?;
    let mut exits_seen = 0u64;
    loop {
        match m.next_event() {
            Ok(GuestEvent::RawExit) | Ok(GuestEvent::Mmio { .. }) => exits_seen += 1,
            Ok(GuestEvent::Syscall { nr: SYS_EXIT, .. }) => break,
            Ok(other) => {
                return Ok(MechanismResult {
                    mechanism,
                    cycles: Vec::new(),
                    exits_seen,
                    unusable: Some(format!("unexpected guest event {other:?}")),
                })
            }
            Err(MachineError::Crash(c)) => {
                return Ok(MechanismResult {
                    mechanism,
                    cycles: Vec::new(),
                    exits_seen,
                    unusable: Some(format!("guest crashed: {c}")),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut cycles = Vec::with_capacity(iterations as usize);
    for i in 0..iterations {
        cycles.push(m.read_data(8 * i)?);
    }
    cycles.sort_unstable();
    let mut unusable = None;
    if exits_seen < iterations {
        let last_rax = m.read_data(8 * iterations)?;
        unusable = Some(format!(
            "{} of {iterations} round trips reached the VMM (last rax {:#x}{})",
            exits_seen,
            last_rax,
            if last_rax == KVM_EPERM_RESULT {
                ": -KVM_EPERM, refused at CPL 3 inside the kernel"
            } else {
                ""
            }
        ));
    }
    Ok(MechanismResult {
        mechanism,
        cycles,
        exits_seen,
        unusable,
    })
}
