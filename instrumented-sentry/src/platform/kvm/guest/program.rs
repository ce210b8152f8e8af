//! Guest programs assembled at run time with iced-x86's code assembler.
//!
//! Every program starts with the same runtime: the ring-0 page-fault entry,
//! ring-0 entries for the other exceptions (fatal), the CPL-3 system call stub
//! and the TLB-flush request. The workload's own functions follow. Each
//! function is a labelled range, so the assembled program comes with a symbol
//! map (start, end, name) that the collectors use to name guest samples.
//!
//! Register conventions of the runtime (CPL 3):
//! - `rbx` holds the shared page's address for the whole program;
//! - `sys_call` takes the number in `rax` and arguments in `rdi`, `rsi`,
//!   `rdx`, `r10`, `r8`, `r9` (Linux order), returns the result in `rax`,
//!   and clobbers `rdx`.
//! - frame pointers are kept: every called function starts with
//!   `push rbp; mov rbp, rsp` ([`emit_prologue`]) and leaves with `pop rbp`
//!   before `ret`, and `_start` is entered with `rbp` = 0, so the chain
//!   `[rbp] -> caller's rbp`, `[rbp+8] -> return address` can be walked
//!   from any stop to `_start` (the guest sampler does).

use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;

use crate::platform::kvm::vmm::exits::{
    SyscallExit, PORT_EXCEPTION, PORT_FAULT, PORT_RAW, PORT_SYSCALL, RAW_MMIO_GVA, SH_ARGS,
    SH_FAULT_ADDR, SH_NR, SH_RESULT, SYSCALL_MMIO_GVA, SYS_EXIT, VECTORS_WITH_ERROR_CODE,
};
use crate::platform::kvm::vmm::layout::{sys_gva, CODE_MAX, CODE_OFF, SHARED_OFF};

/// Errors assembling a guest program.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The assembler rejected an instruction or label.
    #[error("guest program assembly failed: {0}")]
    Asm(#[from] IcedError),
    /// The program does not fit in the code area.
    #[error("guest program is {len} bytes, more than the {max}-byte code area")]
    TooLarge {
        /// Assembled length.
        len: u64,
        /// Code area size.
        max: u64,
    },
    /// A required function was never defined.
    #[error("guest program has no function named {0:?}")]
    MissingFunction(&'static str),
}

/// A function of an assembled guest program: `[start, end)` and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFunction {
    /// First byte's guest-virtual address.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// Function name (as it appears in flamegraphs).
    pub name: String,
}

/// An assembled guest program, ready to copy to [`CODE_OFF`].
#[derive(Debug, Clone)]
pub struct GuestProgram {
    /// Machine code, to be placed at [`GuestProgram::base`].
    pub code: Vec<u8>,
    /// Guest-virtual address of the first byte.
    pub base: u64,
    /// CPL-3 entry point (`_start`).
    pub entry: u64,
    /// IDT gate targets (0 = absent).
    pub gates: Box<[u64; 256]>,
    /// The program's functions, sorted by address.
    pub functions: Vec<GuestFunction>,
}

impl GuestProgram {
    /// The symbol map in the plain form the collectors convert:
    /// `(start_gva, end_gva, name)`.
    pub fn symbol_map(&self) -> Vec<(u64, u64, String)> {
        self.functions
            .iter()
            .map(|f| (f.start, f.end, f.name.clone()))
            .collect()
    }

    /// The function containing `gva`, if any.
    pub fn function_at(&self, gva: u64) -> Option<&GuestFunction> {
        self.functions
            .iter()
            .find(|f| f.start <= gva && gva < f.end)
    }
}

/// Builds a guest program: the runtime first, then the workload's functions.
pub struct ProgramBuilder {
    asm: CodeAssembler,
    functions: Vec<(String, CodeLabel)>,
    pf_entry: CodeLabel,
    exception_entries: Vec<(u8, CodeLabel)>,
    sys_call: CodeLabel,
    syscall_exit: SyscallExit,
}

impl ProgramBuilder {
    /// Starts a program whose system calls exit through `out`, and emits
    /// the runtime.
    pub fn new() -> Result<Self, AssembleError> {
        Self::with_syscall_exit(SyscallExit::PortIo)
    }

    /// Starts a program whose system calls exit through `syscall_exit`, and
    /// emits the runtime.
    pub fn with_syscall_exit(syscall_exit: SyscallExit) -> Result<Self, AssembleError> {
        let mut asm = CodeAssembler::new(64)?;
        let pf_entry = asm.create_label();
        let sys_call = asm.create_label();
        let mut b = Self {
            asm,
            functions: Vec::new(),
            pf_entry,
            exception_entries: Vec::new(),
            sys_call,
            syscall_exit,
        };
        b.emit_pf_entry()?;
        b.emit_exception_entries()?;
        b.emit_sys_call()?;
        Ok(b)
    }

    /// The assembler, to emit the body of the current function.
    pub fn asm(&mut self) -> &mut CodeAssembler {
        &mut self.asm
    }

    /// Label of the `sys_call` stub (for `call`).
    pub fn sys_call(&self) -> CodeLabel {
        self.sys_call
    }

    /// Starts a new function named `name` at the current position and
    /// returns its label (for `call`/`jmp`).
    pub fn function(&mut self, name: &str) -> Result<CodeLabel, AssembleError> {
        let mut label = self.asm.create_label();
        self.asm.set_label(&mut label)?;
        self.asm.zero_bytes()?;
        self.functions.push((name.to_string(), label));
        Ok(label)
    }

    /// Starts a function at a label created earlier (so code before it can
    /// refer to it).
    pub fn function_at_label(
        &mut self,
        name: &str,
        label: &mut CodeLabel,
    ) -> Result<(), AssembleError> {
        self.asm.set_label(label)?;
        self.asm.zero_bytes()?;
        self.functions.push((name.to_string(), *label));
        Ok(())
    }

    /// Ring-0 #PF entry. Entered from CPL 3 on the TSS RSP0 stack with the
    /// error code on top: stores CR2 in the shared page, exits to the VMM
    /// (which maps the page or stops the guest) and retries the access.
    /// Kept to the fewest instructions: ring 0 is emulated on PVM.
    fn emit_pf_entry(&mut self) -> Result<(), AssembleError> {
        let mut entry = self.pf_entry;
        self.function_at_label("pf_entry", &mut entry)?;
        self.pf_entry = entry;
        let shared = sys_gva(SHARED_OFF);
        let a = &mut self.asm;
        a.push(rax)?;
        a.push(rdx)?;
        a.mov(rax, cr2)?;
        a.mov(rdx, shared)?;
        a.mov(qword_ptr(rdx + SH_FAULT_ADDR as i32), rax)?;
        a.mov(edx, u32::from(PORT_FAULT))?;
        a.out(dx, al)?;
        a.pop(rdx)?;
        a.pop(rax)?;
        a.add(rsp, 8)?;
        a.iretq()?;
        Ok(())
    }

    /// Ring-0 entries for vectors 0..32 except #PF: push a uniform frame
    /// (vector, error code) and exit through [`PORT_EXCEPTION`]; the VMM
    /// reports and never resumes.
    fn emit_exception_entries(&mut self) -> Result<(), AssembleError> {
        let mut common = self.asm.create_label();
        for vector in 0u8..32 {
            if vector == 14 || vector == 15 || (22..=28).contains(&vector) || vector == 31 {
                continue;
            }
            let mut label = self.asm.create_label();
            self.asm.set_label(&mut label)?;
            if !VECTORS_WITH_ERROR_CODE.contains(&vector) {
                self.asm.push(0)?;
            }
            self.asm.push(i32::from(vector))?;
            self.asm.jmp(common)?;
            self.exception_entries.push((vector, label));
        }
        // The stubs above belong to the same symbol.
        if let Some((_, first)) = self.exception_entries.first() {
            self.functions.push(("exception_entry".to_string(), *first));
        }
        self.function_at_label("exception_exit", &mut common)?;
        let a = &mut self.asm;
        a.mov(edx, u32::from(PORT_EXCEPTION))?;
        a.out(dx, al)?;
        a.hlt()?;
        Ok(())
    }

    /// CPL-3 system call stub (see the module docs for the convention).
    fn emit_sys_call(&mut self) -> Result<(), AssembleError> {
        let mut entry = self.sys_call;
        self.function_at_label("sys_call", &mut entry)?;
        self.sys_call = entry;
        emit_prologue(&mut self.asm)?;
        self.emit_sys_call_inline()?;
        self.asm.pop(rbp)?;
        self.asm.ret()?;
        Ok(())
    }

    /// The system call sequence of the `sys_call` stub, emitted in place
    /// (no `call`/`ret` around the exit): the number in rax and the
    /// arguments in rdi, rsi, rdx, r10, r8, r9 go to the shared page, the
    /// guest exits, and the result is loaded into rax. Clobbers rdx.
    /// Timed loops inline it, so the timed region around the exit is
    /// straight-line code, as the raw exit's is.
    pub fn emit_sys_call_inline(&mut self) -> Result<(), AssembleError> {
        let a = &mut self.asm;
        a.mov(qword_ptr(rbx + SH_NR as i32), rax)?;
        a.mov(qword_ptr(rbx + SH_ARGS as i32), rdi)?;
        a.mov(qword_ptr(rbx + (SH_ARGS + 8) as i32), rsi)?;
        a.mov(qword_ptr(rbx + (SH_ARGS + 16) as i32), rdx)?;
        a.mov(qword_ptr(rbx + (SH_ARGS + 24) as i32), r10)?;
        a.mov(qword_ptr(rbx + (SH_ARGS + 32) as i32), r8)?;
        a.mov(qword_ptr(rbx + (SH_ARGS + 40) as i32), r9)?;
        match self.syscall_exit {
            SyscallExit::PortIo => {
                a.mov(edx, u32::from(PORT_SYSCALL))?;
                a.out(dx, al)?;
            }
            SyscallExit::Mmio => {
                a.mov(rdx, SYSCALL_MMIO_GVA)?;
                a.mov(byte_ptr(rdx), al)?;
            }
        }
        a.mov(rax, qword_ptr(rbx + SH_RESULT as i32))?;
        Ok(())
    }

    /// Assembles the program at the code area's address.
    ///
    /// Postconditions: `functions` are sorted, contiguous and cover the code;
    /// `entry` is the function named `_start`.
    pub fn finish(mut self) -> Result<GuestProgram, AssembleError> {
        let base = sys_gva(CODE_OFF);
        let result = self
            .asm
            .assemble_options(base, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS)?;
        let code = result.inner.code_buffer.clone();
        if code.len() as u64 > CODE_MAX {
            return Err(AssembleError::TooLarge {
                len: code.len() as u64,
                max: CODE_MAX,
            });
        }
        let end_of_code = base + code.len() as u64;
        let mut starts = Vec::with_capacity(self.functions.len());
        for (name, label) in &self.functions {
            starts.push((result.label_ip(label)?, name.clone()));
        }
        starts.sort_by_key(|(start, _)| *start);
        let mut functions = Vec::with_capacity(starts.len());
        for (i, (start, name)) in starts.iter().enumerate() {
            let end = starts.get(i + 1).map_or(end_of_code, |(s, _)| *s);
            functions.push(GuestFunction {
                start: *start,
                end,
                name: name.clone(),
            });
        }
        let entry = functions
            .iter()
            .find(|f| f.name == "_start")
            .map(|f| f.start)
            .ok_or(AssembleError::MissingFunction("_start"))?;
        let mut gates = Box::new([0u64; 256]);
        gates[14] = result.label_ip(&self.pf_entry)?;
        for (vector, label) in &self.exception_entries {
            gates[usize::from(*vector)] = result.label_ip(label)?;
        }
        Ok(GuestProgram {
            code,
            base,
            entry,
            gates,
            functions,
        })
    }
}

/// Emits the frame-pointer prologue `push rbp; mov rbp, rsp`.
pub fn emit_prologue(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.push(rbp)?;
    a.mov(rbp, rsp)?;
    Ok(())
}

/// Emits `pop rbp; ret` (the epilogue of [`emit_prologue`], with `rsp`
/// back where the prologue left it).
pub fn emit_epilogue(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.pop(rbp)?;
    a.ret()?;
    Ok(())
}

/// Emits `rax = rdtsc` (full 64 bits); clobbers `rdx`.
pub fn emit_rdtsc(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.rdtsc()?;
    a.shl(rdx, 32)?;
    a.or(rax, rdx)?;
    Ok(())
}

/// Emits one raw exit through `exit`'s mechanism, `out` to [`PORT_RAW`] or
/// a one-byte store to [`RAW_MMIO_GVA`] (the VMM resumes the guest at
/// once). Clobbers `rcx`, `rdx`.
pub fn emit_raw_exit(a: &mut CodeAssembler, exit: SyscallExit) -> Result<(), IcedError> {
    match exit {
        SyscallExit::PortIo => {
            a.mov(edx, u32::from(PORT_RAW))?;
            a.out(dx, al)?;
        }
        SyscallExit::Mmio => {
            a.mov(rcx, RAW_MMIO_GVA)?;
            a.mov(byte_ptr(rcx), al)?;
        }
    }
    Ok(())
}

/// Emits `exit(rdi)` through the `sys_call` stub (never returns).
pub fn emit_exit(a: &mut CodeAssembler, sys_call: CodeLabel) -> Result<(), IcedError> {
    a.mov(eax, SYS_EXIT as u32)?;
    a.call(sys_call)?;
    a.hlt()?;
    Ok(())
}
