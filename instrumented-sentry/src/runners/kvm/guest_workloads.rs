//! The workloads as guest programs, assembled from their parameters.
//!
//! Each program times its own calls with `rdtsc` at CPL 3 and stores one
//! u64 per call in the data region, so latencies include everything the
//! application sees: the exit, the sentry's work and the way back.

use iced_x86::code_asm::*;

use crate::platform::kvm::guest::program::{
    emit_epilogue, emit_exit, emit_prologue, emit_raw_exit, emit_rdtsc, AssembleError,
    GuestProgram, ProgramBuilder,
};
use crate::platform::kvm::vmm::exits::{
    SyscallExit, PORT_NEXT, REQ_SYSCALL, REQ_TOUCH, SH_REQ_ARGS, SH_REQ_KIND, SH_REQ_NR,
    SH_REQ_RESULT, SYS_MMAP, SYS_MUNMAP,
};
use crate::platform::kvm::vmm::layout::{sys_gva, DATA_OFF, PAGE_SIZE};
use crate::platform::kvm::vmm::machine::{Machine, MachineError};

/// The guest fd number the runner installs the workload's file as.
pub const WORKLOAD_FD: u64 = 3;

/// Linux `PROT_READ | PROT_WRITE`.
pub const PROT_RW: u64 = 3;
/// Linux `MAP_SHARED`.
pub const MAP_SHARED: u64 = 0x01;
/// Linux `MAP_PRIVATE`.
pub const MAP_PRIVATE: u64 = 0x02;
/// Linux `MAP_ANONYMOUS`.
pub const MAP_ANONYMOUS: u64 = 0x20;

/// Parameters of the mmap loop (Exp1, Exp2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmapLoop {
    /// Calls.
    pub iterations: u64,
    /// Bytes per call.
    pub size: u64,
    /// `mmap` flags (`MAP_PRIVATE|MAP_ANONYMOUS`, `MAP_PRIVATE`, `MAP_SHARED`).
    pub flags: u64,
    /// fd argument (`u64::MAX` i.e. -1 for anonymous).
    pub fd: u64,
    /// Write one byte per page of each new mapping, inside the timed call.
    pub touch: bool,
    /// How `sys_call` exits.
    pub exit: SyscallExit,
    /// Before each call, make one raw exit through the same mechanism (the
    /// VMM resumes at once) and time it too: each call's time beyond one
    /// exit is then a difference of two round trips made one after the
    /// other in the same VM.
    pub paired_raw_exit: bool,
}

/// Emits one timed raw exit through `exit`'s mechanism (the raw port or
/// the raw MMIO doorbell), in place, its TSC cycles stored at `[r15]`, `r15`
/// advanced by 8. Clobbers rax, rcx, rdx, r11.
fn emit_paired_raw_exit(a: &mut CodeAssembler, exit: SyscallExit) -> Result<(), IcedError> {
    emit_rdtsc(a)?;
    a.mov(r11, rax)?;
    emit_raw_exit(a, exit)?;
    emit_rdtsc(a)?;
    a.sub(rax, r11)?;
    a.mov(qword_ptr(r15), rax)?;
    a.add(r15, 8)?;
    Ok(())
}

/// Emits `touch_pages`: writes one byte to every page of `[rdi, rdi+rsi)`.
fn emit_touch_pages(b: &mut ProgramBuilder) -> Result<CodeLabel, AssembleError> {
    let label = b.function("touch_pages")?;
    let mut again = b.asm().create_label();
    let mut done = b.asm().create_label();
    let a = b.asm();
    emit_prologue(a)?;
    a.lea(rcx, qword_ptr(rdi + rsi))?;
    a.cmp(rdi, rcx)?;
    a.jae(done)?;
    a.set_label(&mut again)?;
    a.mov(byte_ptr(rdi), 1)?;
    a.add(rdi, PAGE_SIZE as i32)?;
    a.cmp(rdi, rcx)?;
    a.jb(again)?;
    a.set_label(&mut done)?;
    emit_epilogue(a)?;
    Ok(label)
}

/// Emits `exit_workload`, `exit(0)`, at `finish` and assembles the program.
fn finish_with_exit_workload(
    mut b: ProgramBuilder,
    finish: &mut CodeLabel,
) -> Result<GuestProgram, AssembleError> {
    let sys_call = b.sys_call();
    b.function_at_label("exit_workload", finish)?;
    let a = b.asm();
    a.xor(edi, edi)?;
    emit_exit(a, sys_call)?;
    b.finish()
}

/// Exp1/Exp2 as a guest: `iterations` times `mmap(NULL, size, RW, flags,
/// fd, 0)` (and, with `touch`, one write per page), each call's TSC cycles
/// stored at data[8*i]; with `paired_raw_exit`, the raw exit made just
/// before call i at data[8*(iterations+i)]. The system call sequence and
/// the raw exit are inlined in the loop, so both timed round trips are
/// straight-line code around their exit. Functions: `_start`, `mmap_loop`,
/// `touch_pages`, `exit_workload` (and the runtime's).
pub fn mmap_loop_program(p: &MmapLoop) -> Result<GuestProgram, AssembleError> {
    let mut b = ProgramBuilder::with_syscall_exit(p.exit)?;
    let touch_pages = emit_touch_pages(&mut b)?;
    let mut mmap_loop = b.asm().create_label();
    let mut finish = b.asm().create_label();
    b.function("_start")?;
    let a = b.asm();
    emit_prologue(a)?;
    a.mov(r12, sys_gva(DATA_OFF))?;
    // Past the call timings; a count too large for the data region is
    // refused when the machine is made (`mmap_loop_data_len` saturates).
    a.mov(
        r15,
        sys_gva(DATA_OFF).saturating_add(p.iterations.saturating_mul(8)),
    )?;
    a.mov(r13, p.iterations)?;
    a.test(r13, r13)?;
    a.jz(finish)?;
    a.call(mmap_loop)?;
    a.jmp(finish)?;
    b.function_at_label("mmap_loop", &mut mmap_loop)?;
    let mut body = b.asm().create_label();
    let a = b.asm();
    emit_prologue(a)?;
    a.set_label(&mut body)?;
    if p.paired_raw_exit {
        emit_paired_raw_exit(a, p.exit)?;
    }
    emit_rdtsc(a)?;
    a.mov(r14, rax)?;
    a.mov(eax, SYS_MMAP as u32)?;
    a.xor(edi, edi)?;
    a.mov(rsi, p.size)?;
    a.mov(edx, PROT_RW as u32)?;
    a.mov(r10, p.flags)?;
    a.mov(r8, p.fd)?;
    a.xor(r9d, r9d)?;
    b.emit_sys_call_inline()?;
    let a = b.asm();
    if p.touch {
        a.mov(rdi, rax)?;
        a.mov(rsi, p.size)?;
        a.call(touch_pages)?;
    }
    emit_rdtsc(a)?;
    a.sub(rax, r14)?;
    a.mov(qword_ptr(r12), rax)?;
    a.add(r12, 8)?;
    a.dec(r13)?;
    a.jnz(body)?;
    emit_epilogue(a)?;
    finish_with_exit_workload(b, &mut finish)
}

/// What the pattern program does after checking the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPattern {
    /// Exit with the mismatch count.
    Exit,
    /// `munmap` the first mapping, then read its first page again (which
    /// must fault: the sentry reports the address and stops the guest).
    MunmapThenRead,
}

/// The pattern guest: maps the workload file twice (`MAP_SHARED`, `len`
/// bytes each), writes a pattern through the first mapping, reads it back
/// through the second and exits with the number of mismatching u64 words.
/// Functions: `_start`, `write_pattern`, `check_pattern`, `after_check`.
pub fn pattern_program(
    len: u64,
    after: AfterPattern,
    exit: SyscallExit,
) -> Result<GuestProgram, AssembleError> {
    const MULT: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut b = ProgramBuilder::with_syscall_exit(exit)?;
    let sys_call = b.sys_call();
    let mut write = b.asm().create_label();
    let mut check = b.asm().create_label();
    let mut after_check = b.asm().create_label();
    b.function("_start")?;
    let a = b.asm();
    emit_prologue(a)?;
    for target in [r12, r13] {
        a.mov(eax, SYS_MMAP as u32)?;
        a.xor(edi, edi)?;
        a.mov(rsi, len)?;
        a.mov(edx, PROT_RW as u32)?;
        a.mov(r10, MAP_SHARED)?;
        a.mov(r8, WORKLOAD_FD)?;
        a.xor(r9d, r9d)?;
        a.call(sys_call)?;
        a.mov(target, rax)?;
    }
    // rcx = word index, r14 = multiplier, r15 = mismatches
    a.mov(r14, MULT)?;
    a.xor(ecx, ecx)?;
    a.xor(r15d, r15d)?;
    b.function_at_label("write_pattern", &mut write)?;
    let a = b.asm();
    a.mov(rax, rcx)?;
    a.imul_2(rax, r14)?;
    a.mov(qword_ptr(r12 + rcx * 8), rax)?;
    a.inc(rcx)?;
    a.cmp(rcx, (len / 8) as i32)?;
    a.jb(write)?;
    a.xor(ecx, ecx)?;
    b.function_at_label("check_pattern", &mut check)?;
    let a = b.asm();
    let mut same = a.create_label();
    a.mov(rax, rcx)?;
    a.imul_2(rax, r14)?;
    a.cmp(qword_ptr(r13 + rcx * 8), rax)?;
    a.je(same)?;
    a.inc(r15)?;
    a.set_label(&mut same)?;
    a.inc(rcx)?;
    a.cmp(rcx, (len / 8) as i32)?;
    a.jb(check)?;
    b.function_at_label("after_check", &mut after_check)?;
    let a = b.asm();
    if after == AfterPattern::MunmapThenRead {
        a.mov(eax, SYS_MUNMAP as u32)?;
        a.mov(rdi, r12)?;
        a.mov(rsi, len)?;
        a.call(sys_call)?;
        a.mov(rax, qword_ptr(r12))?;
        a.add(r15, rax)?;
    }
    a.mov(rdi, r15)?;
    emit_exit(a, sys_call)?;
    b.finish()
}

/// The request-serving guest (malloc model, trace replay): asks the VMM for
/// its next request through [`PORT_NEXT`], then makes that system call
/// itself (through `sys_call`, a real exit) or touches the range (real
/// faults), stores the result and asks again. Functions: `_start`,
/// `serve_loop`, `serve_syscall`, `touch_pages`, `exit_workload`.
pub fn request_server_program(exit: SyscallExit) -> Result<GuestProgram, AssembleError> {
    let mut b = ProgramBuilder::with_syscall_exit(exit)?;
    let sys_call = b.sys_call();
    let touch_pages = emit_touch_pages(&mut b)?;
    let mut serve = b.asm().create_label();
    let mut syscall = b.asm().create_label();
    let mut touch = b.asm().create_label();
    let mut finish = b.asm().create_label();
    b.function("_start")?;
    emit_prologue(b.asm())?;
    b.function_at_label("serve_loop", &mut serve)?;
    let a = b.asm();
    a.mov(edx, u32::from(PORT_NEXT))?;
    a.out(dx, al)?;
    a.mov(rax, qword_ptr(rbx + SH_REQ_KIND as i32))?;
    a.cmp(rax, REQ_SYSCALL as i32)?;
    a.je(syscall)?;
    a.cmp(rax, REQ_TOUCH as i32)?;
    a.je(touch)?;
    a.jmp(finish)?;
    b.function_at_label("serve_syscall", &mut syscall)?;
    let a = b.asm();
    a.mov(rax, qword_ptr(rbx + SH_REQ_NR as i32))?;
    a.mov(rdi, qword_ptr(rbx + SH_REQ_ARGS as i32))?;
    a.mov(rsi, qword_ptr(rbx + (SH_REQ_ARGS + 8) as i32))?;
    a.mov(rdx, qword_ptr(rbx + (SH_REQ_ARGS + 16) as i32))?;
    a.mov(r10, qword_ptr(rbx + (SH_REQ_ARGS + 24) as i32))?;
    a.mov(r8, qword_ptr(rbx + (SH_REQ_ARGS + 32) as i32))?;
    a.mov(r9, qword_ptr(rbx + (SH_REQ_ARGS + 40) as i32))?;
    a.call(sys_call)?;
    a.mov(qword_ptr(rbx + SH_REQ_RESULT as i32), rax)?;
    a.jmp(serve)?;
    b.function_at_label("serve_touch", &mut touch)?;
    let a = b.asm();
    a.mov(rdi, qword_ptr(rbx + SH_REQ_ARGS as i32))?;
    a.mov(rsi, qword_ptr(rbx + (SH_REQ_ARGS + 8) as i32))?;
    a.call(touch_pages)?;
    a.mov(qword_ptr(rbx + SH_REQ_RESULT as i32), 0)?;
    a.jmp(serve)?;
    finish_with_exit_workload(b, &mut finish)
}

/// Where the guest's raw exit (`out` to the raw port: the VMM resumes it
/// when it likes) sits in the call-chain guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainExit {
    /// No exit but the final `exit`.
    None,
    /// In `main`, after each call of `a` returned: the host's time between
    /// rounds.
    AfterA,
    /// In `b`, half-way through its spin (with `b`'s frame live).
    MidB,
}

/// Parameters of the call-chain guest ([`call_chain_program`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallChain {
    /// Calls of `a` from `main`.
    pub rounds: u64,
    /// TSC cycles `b` spins per call (by `rdtsc` at CPL 3).
    pub spin_cycles: u64,
    /// Where a raw exit is made each round.
    pub exit: ChainExit,
}

/// Data-region offset where the call-chain guest adds up the TSC cycles
/// `b` spun (`rdtsc` at its entry and exit, all rounds): wall time, the
/// guest's stops included.
pub const CHAIN_SPUN_CYCLES: u64 = 0;
/// Data-region offset where the call-chain guest adds up the TSC cycles
/// `b` saw itself running: the steps between consecutive `rdtsc` readings
/// of its spin loop shorter than [`CHAIN_STEP_LIMIT`] (a loop turn is tens
/// of cycles; a stop of the guest, thousands).
pub const CHAIN_RAN_CYCLES: u64 = 8;
/// A step between two readings of `b`'s spin loop at least this long is
/// time the guest was stopped, not run.
pub const CHAIN_STEP_LIMIT: u64 = 4000;

/// A guest with a known call chain for the guest sampler: `_start` calls
/// `main`, which calls `a` `rounds` times; `a` calls `b`; `b` spins
/// `spin_cycles` TSC cycles in ring 3 and adds what it spun to data
/// [`CHAIN_SPUN_CYCLES`] (and the part it saw itself running to
/// [`CHAIN_RAN_CYCLES`]). Every function keeps a frame pointer. Functions:
/// `_start`, `main`, `a`, `b`, `exit_workload` (and `sys_call`).
pub fn call_chain_program(p: &CallChain) -> Result<GuestProgram, AssembleError> {
    let mut b = ProgramBuilder::with_syscall_exit(SyscallExit::PortIo)?;
    let mut main = b.asm().create_label();
    let mut fa = b.asm().create_label();
    let mut fb = b.asm().create_label();
    let mut finish = b.asm().create_label();
    b.function("_start")?;
    let a = b.asm();
    emit_prologue(a)?;
    a.mov(r12, sys_gva(DATA_OFF))?;
    a.call(main)?;
    a.jmp(finish)?;
    b.function_at_label("main", &mut main)?;
    let a = b.asm();
    emit_prologue(a)?;
    a.mov(r13, p.rounds)?;
    let mut again = a.create_label();
    let mut done = a.create_label();
    a.test(r13, r13)?;
    a.jz(done)?;
    a.set_label(&mut again)?;
    a.call(fa)?;
    if p.exit == ChainExit::AfterA {
        emit_raw_exit(a, SyscallExit::PortIo)?;
    }
    a.dec(r13)?;
    a.jnz(again)?;
    a.set_label(&mut done)?;
    emit_epilogue(a)?;
    b.function_at_label("a", &mut fa)?;
    let a = b.asm();
    emit_prologue(a)?;
    a.call(fb)?;
    emit_epilogue(a)?;
    b.function_at_label("b", &mut fb)?;
    let a = b.asm();
    emit_prologue(a)?;
    // r14 = start, r15 = deadline
    emit_rdtsc(a)?;
    a.mov(r14, rax)?;
    a.mov(r15, rax)?;
    a.mov(rcx, p.spin_cycles)?;
    a.add(r15, rcx)?;
    let half = p.spin_cycles / 2;
    if p.exit == ChainExit::MidB {
        let mut spin = a.create_label();
        a.mov(r11, r14)?;
        a.mov(rcx, half)?;
        a.add(r11, rcx)?;
        a.set_label(&mut spin)?;
        emit_rdtsc(a)?;
        a.cmp(rax, r11)?;
        a.jb(spin)?;
        emit_raw_exit(a, SyscallExit::PortIo)?;
    }
    // r9 = the previous reading, r10 = cycles seen running: steps between
    // two readings below CHAIN_STEP_LIMIT (a longer step is time the guest
    // was stopped: a sampler stop, an exit, the vCPU thread preempted).
    let mut spin = a.create_label();
    let mut stopped = a.create_label();
    emit_rdtsc(a)?;
    a.mov(r9, rax)?;
    a.xor(r10d, r10d)?;
    a.set_label(&mut spin)?;
    emit_rdtsc(a)?;
    a.mov(rcx, rax)?;
    a.sub(rcx, r9)?;
    a.mov(r9, rax)?;
    a.cmp(rcx, CHAIN_STEP_LIMIT as i32)?;
    a.jae(stopped)?;
    a.add(r10, rcx)?;
    a.set_label(&mut stopped)?;
    a.cmp(rax, r15)?;
    a.jb(spin)?;
    a.sub(rax, r14)?;
    a.add(qword_ptr(r12 + CHAIN_SPUN_CYCLES as i32), rax)?;
    a.add(qword_ptr(r12 + CHAIN_RAN_CYCLES as i32), r10)?;
    emit_epilogue(a)?;
    finish_with_exit_workload(b, &mut finish)
}

/// What the mmap loop recorded in its data region.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MmapLoopTimings {
    /// Each call's TSC cycles, in call order.
    pub calls: Vec<u64>,
    /// The raw exit made just before each call (empty unless paired).
    pub raw_before: Vec<u64>,
}

impl MmapLoopTimings {
    /// Reads the timings of an mmap loop of `iterations` calls that has
    /// run on `machine` (`paired`: it made a raw exit before each call).
    pub fn read(machine: &Machine, iterations: u64, paired: bool) -> Result<Self, MachineError> {
        let calls = (0..iterations)
            .map(|i| machine.read_data(8 * i))
            .collect::<Result<Vec<_>, _>>()?;
        let raw_before = if paired {
            (iterations..2 * iterations)
                .map(|i| machine.read_data(8 * i))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            Vec::new()
        };
        Ok(Self { calls, raw_before })
    }

    /// The median over calls of (call − the raw exit just before it), in
    /// cycles ([`bundle::stats::median_high`]: the higher middle value for
    /// an even count); 0 when the loop was not paired.
    pub fn median_paired_beyond(&self) -> i64 {
        let mut diffs: Vec<i64> = self
            .calls
            .iter()
            .zip(&self.raw_before)
            .map(|(&c, &r)| c as i64 - r as i64)
            .collect();
        diffs.sort_unstable();
        bundle::stats::median_high(&diffs).unwrap_or(0)
    }
}

/// Bytes of data region the mmap loop needs.
pub fn mmap_loop_data_len(iterations: u64, paired_raw_exit: bool) -> u64 {
    let per_call = if paired_raw_exit { 16 } else { 8 };
    iterations.max(1).saturating_mul(per_call)
}
