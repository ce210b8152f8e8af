//! The exit protocol between the guest program and the VMM (the sentry).
//!
//! Guest "system calls" are `out dx, al` from CPL 3 to [`PORT_SYSCALL`]
//! (allowed by the TSS I/O bitmap: this hypervisor clears RFLAGS.IOPL) or a
//! store to the MMIO doorbell, whichever [`SyscallExit`] measured cheaper,
//! with the number and arguments in the shared page
//! (registers are not read by the VMM: no `KVM_GET_REGS` on the fast path).
//! The VMM writes the result (a Linux-style value, `-errno` on failure) and a
//! flush request back into the shared page before resuming the guest.
//!
//! Page faults enter the ring-0 entry through the IDT; it stores CR2 in the
//! shared page and exits through [`PORT_FAULT`]; the access is retried.
//!
//! TLB flushes: the VMM edits the guest's page tables from the host, which
//! bypasses the write protection through which the hypervisor notices page
//! table edits; added entries are found on the next fault, but removed or
//! downgraded ones stay cached (in the shadow page tables on this machine's
//! PVM hypervisor; in the TLB on hardware KVM). Measured here: neither a
//! guest `mov cr3` nor `invlpg` in ring 0 drops them. The VMM therefore
//! deletes and re-adds the page-table memory slot before resuming the guest
//! after a removal, which makes KVM drop every translation derived from those
//! tables (see [`super::vm::Vm::zap_page_table_shadows`]). Other exceptions exit through [`PORT_EXCEPTION`] with
//! the vector and error code on the ring-0 stack and are fatal.
//!
//! Shared page layout (byte offsets, all u64): see the `SH_*` constants.

/// Port of a guest system call.
pub const PORT_SYSCALL: u16 = 0x10;
/// Port the ring-0 page-fault entry exits through.
pub const PORT_FAULT: u16 = 0x11;
/// Port the ring-0 entry of any other exception exits through.
pub const PORT_EXCEPTION: u16 = 0x12;
/// Port of the raw exit benchmark (the VMM does nothing and resumes).
pub const PORT_RAW: u16 = 0x13;
/// Port the request-serving guest asks for its next request through.
pub const PORT_NEXT: u16 = 0x14;

/// How the CPL-3 `sys_call` stub leaves the guest. Both are measured at
/// run time (the `guest::exit_choice` module) and the runner uses the cheaper one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyscallExit {
    /// `out dx, al` to [`PORT_SYSCALL`].
    PortIo,
    /// A one-byte store to [`SYSCALL_MMIO_GVA`], which is mapped to
    /// [`SYSCALL_MMIO_GPA`], outside every memory slot.
    Mmio,
}

impl SyscallExit {
    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::PortIo => "out (port I/O, CPL 3)",
            Self::Mmio => "MMIO store (CPL 3)",
        }
    }
}

/// Guest-physical address of the raw-exit MMIO doorbell (no slot): a store
/// there exits and the VMM resumes the guest at once.
pub const RAW_MMIO_GPA: u64 = 0xe000_0000;
/// Guest-virtual address mapped (user, writable) to [`RAW_MMIO_GPA`] in
/// every guest.
pub const RAW_MMIO_GVA: u64 = super::layout::sys_gva(super::layout::SYS_SIZE);

/// Guest-physical address of the MMIO system call doorbell (no slot).
pub const SYSCALL_MMIO_GPA: u64 = 0xe000_1000;
/// Guest-virtual address mapped (user, writable) to [`SYSCALL_MMIO_GPA`].
pub const SYSCALL_MMIO_GVA: u64 = super::layout::sys_gva(super::layout::SYS_SIZE + 0x1000);

/// Lowest exit port (the TSS I/O bitmap allows exactly the exit ports).
pub const EXIT_PORT_FIRST: u16 = PORT_SYSCALL;
/// Highest exit port.
pub const EXIT_PORT_LAST: u16 = PORT_NEXT;

/// Shared page: system call number.
pub const SH_NR: u64 = 0x00;
/// Shared page: first of six system call arguments.
pub const SH_ARGS: u64 = 0x08;
/// Shared page: system call result.
pub const SH_RESULT: u64 = 0x40;
/// Shared page: CR2 of the fault being reported (written by the ring-0 entry).
pub const SH_FAULT_ADDR: u64 = 0x50;
/// Shared page: kind of the request the serving guest runs next
/// ([`REQ_SYSCALL`], [`REQ_TOUCH`], [`REQ_EXIT`]).
pub const SH_REQ_KIND: u64 = 0x100;
/// Shared page: request's system call number.
pub const SH_REQ_NR: u64 = 0x108;
/// Shared page: request's six arguments (touch: address, length).
pub const SH_REQ_ARGS: u64 = 0x110;
/// Shared page: request's result, written by the guest.
pub const SH_REQ_RESULT: u64 = 0x140;
/// Request: make the system call.
pub const REQ_SYSCALL: u64 = 1;
/// Request: write one byte to every page of a range.
pub const REQ_TOUCH: u64 = 2;
/// Request: exit.
pub const REQ_EXIT: u64 = 3;

/// Linux number of `mmap`.
pub const SYS_MMAP: u64 = 9;
/// Linux number of `mprotect`.
pub const SYS_MPROTECT: u64 = 10;
/// Linux number of `munmap`.
pub const SYS_MUNMAP: u64 = 11;
/// Linux number of `brk`.
pub const SYS_BRK: u64 = 12;
/// Linux number of `mremap`.
pub const SYS_MREMAP: u64 = 25;
/// Linux number of `exit`.
pub const SYS_EXIT: u64 = 60;

/// Exception vectors that push an error code.
pub const VECTORS_WITH_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

/// Name of an x86 exception vector, for reports.
pub fn vector_name(vector: u64) -> &'static str {
    match vector {
        0 => "#DE divide error",
        1 => "#DB debug",
        2 => "NMI",
        3 => "#BP breakpoint",
        4 => "#OF overflow",
        5 => "#BR bound range",
        6 => "#UD invalid opcode",
        7 => "#NM device not available",
        8 => "#DF double fault",
        10 => "#TS invalid TSS",
        11 => "#NP segment not present",
        12 => "#SS stack fault",
        13 => "#GP general protection",
        14 => "#PF page fault",
        16 => "#MF x87 error",
        17 => "#AC alignment check",
        18 => "#MC machine check",
        19 => "#XM SIMD error",
        _ => "exception",
    }
}

/// Decoded page-fault error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultKind {
    /// The page was present (a protection fault).
    pub present: bool,
    /// The access was a write.
    pub write: bool,
    /// The access came from CPL 3.
    pub user: bool,
    /// The access was an instruction fetch.
    pub fetch: bool,
}

impl FaultKind {
    /// Decodes an x86 #PF error code.
    pub fn from_error_code(code: u64) -> Self {
        Self {
            present: code & 1 != 0,
            write: code & 2 != 0,
            user: code & 4 != 0,
            fetch: code & 16 != 0,
        }
    }
}
