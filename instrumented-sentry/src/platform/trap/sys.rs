//! Raw machine access shared by the sentry and the stub: the stub's
//! system-call sites (global assembly), `rdtsc`, raw system calls and the
//! futex. This is one of the small modules that hold the trap platforms'
//! unsafe code.
//!
//! # The system-call sites
//!
//! Three pieces of assembly live at fixed addresses of this binary, which the
//! forked stub shares with the sentry:
//!
//! - `host_syscall`: a six-argument system call whose `syscall` instruction
//!   is the only one the systrap seccomp filter allows (it compares
//!   `seccomp_data.instruction_pointer` with the address right after it,
//!   [`SiteAddrs::host_syscall_ret`]). The stub's own calls (futex, the
//!   injected mmap, exit) and its signal restorer go through it.
//! - `restorer`: the `sa_restorer` of the stub's handlers; it jumps to the
//!   allowed `syscall` with `rt_sigreturn`, so sigreturn is not trapped.
//! - `ptrace_site`: `syscall; int3`. The ptrace platform points the stub's
//!   RIP here to make it execute one real system call and stop again
//!   (SIGTRAP from the `int3`).

use core::arch::global_asm;
use std::sync::atomic::AtomicU32;

global_asm!(
    ".pushsection .text.sentryprof_trap,\"ax\",@progbits",
    ".globl sentryprof_trap_host_syscall",
    ".hidden sentryprof_trap_host_syscall",
    ".type sentryprof_trap_host_syscall,@function",
    "sentryprof_trap_host_syscall:",
    "    mov rax, rdi",
    "    mov rdi, rsi",
    "    mov rsi, rdx",
    "    mov rdx, rcx",
    "    mov r10, r8",
    "    mov r8, r9",
    "    mov r9, [rsp + 8]",
    "sentryprof_trap_host_syscall_insn:",
    "    syscall",
    "sentryprof_trap_host_syscall_ret:",
    "    ret",
    ".globl sentryprof_trap_restorer",
    ".hidden sentryprof_trap_restorer",
    ".type sentryprof_trap_restorer,@function",
    "sentryprof_trap_restorer:",
    "    mov eax, 15",
    "    jmp sentryprof_trap_host_syscall_insn",
    "sentryprof_trap_ptrace_site:",
    "    syscall",
    "    int3",
    ".globl sentryprof_trap_site_addrs",
    ".hidden sentryprof_trap_site_addrs",
    ".type sentryprof_trap_site_addrs,@function",
    "sentryprof_trap_site_addrs:",
    "    lea rax, [rip + sentryprof_trap_host_syscall_ret]",
    "    mov [rdi], rax",
    "    lea rax, [rip + sentryprof_trap_ptrace_site]",
    "    mov [rdi + 8], rax",
    "    lea rax, [rip + sentryprof_trap_restorer]",
    "    mov [rdi + 16], rax",
    "    ret",
    ".popsection",
);

extern "C" {
    fn sentryprof_trap_host_syscall(
        nr: u64,
        a0: u64,
        a1: u64,
        a2: u64,
        a3: u64,
        a4: u64,
        a5: u64,
    ) -> i64;
    fn sentryprof_trap_restorer();
    fn sentryprof_trap_site_addrs(out: *mut [u64; 3]);
}

/// Addresses of the system-call sites (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteAddrs {
    /// The address right after the allowed `syscall` instruction: what
    /// `seccomp_data.instruction_pointer` holds for the stub's own calls.
    pub host_syscall_ret: u64,
    /// The `syscall; int3` site the ptrace platform injects calls through.
    pub ptrace_site: u64,
    /// The signal restorer (`rt_sigreturn` through the allowed site).
    pub restorer: u64,
}

/// The addresses of the sites in this binary (the same in a forked stub).
pub fn site_addrs() -> SiteAddrs {
    let mut out = [0u64; 3];
    // SAFETY: the routine writes three u64s through the pointer it gets,
    // which points at a local array of exactly three u64s.
    unsafe { sentryprof_trap_site_addrs(&mut out) };
    SiteAddrs {
        host_syscall_ret: out[0],
        ptrace_site: out[1],
        restorer: out[2],
    }
}

/// The restorer's address as a handler-table value.
pub fn restorer_addr() -> usize {
    sentryprof_trap_restorer as *const () as usize
}

/// A system call through the allowed site: returns the raw result
/// (`-errno` on failure).
///
/// # Safety
///
/// The call runs with exactly these arguments: the caller must make sure it
/// does not break memory safety (pointers valid for what the call does with
/// them, no unmapping of memory Rust still uses, ...).
#[inline]
pub unsafe fn host_syscall(nr: i64, args: [u64; 6]) -> i64 {
    // SAFETY: the assembly routine follows the C ABI (arguments in rdi..r9
    // and on the stack, result in rax, rcx/r11 are caller-saved); the
    // caller vouches for the call itself.
    unsafe {
        sentryprof_trap_host_syscall(
            nr as u64, args[0], args[1], args[2], args[3], args[4], args[5],
        )
    }
}

/// A system call from an arbitrary instruction of the stub's workload: on
/// systrap it is trapped (its address is not the allowed one), on ptrace it
/// stops the stub (`PTRACE_SYSEMU`), natively it runs.
///
/// # Safety
///
/// As for [`host_syscall`].
#[inline(always)]
pub unsafe fn workload_syscall(nr: i64, args: [u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: a plain `syscall` with the x86_64 Linux convention; rcx and
    // r11 are clobbered by the instruction; no stack use (the kernel's
    // signal frame skips the red zone). The caller vouches for the call.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr => ret,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            in("r10") args[3],
            in("r8") args[4],
            in("r9") args[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

/// The caller's frame pointer (`rbp`; the workspace keeps frame pointers).
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let fp: u64;
    // SAFETY: reads a register into a register; no memory, no stack.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    fp
}

/// The time-stamp counter, after earlier instructions completed (`lfence`).
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: `lfence` and `rdtsc` have no preconditions on x86_64.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// A spin-loop hint (`pause`).
#[inline(always)]
pub fn pause() {
    std::hint::spin_loop();
}

/// `FUTEX_WAIT` on a word shared between processes, through the allowed
/// site (so the stub may call it): sleeps while `*word == expected`, for at
/// most `timeout_ns` if given. Returns the raw result.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: Option<u64>) -> i64 {
    let ts = timeout_ns.map(|ns| libc::timespec {
        tv_sec: (ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    });
    let ts_ptr = ts.as_ref().map_or(0, |t| t as *const libc::timespec as u64);
    // SAFETY: FUTEX_WAIT reads the word (valid: a reference) and the
    // timespec (valid for the call or null); it writes nothing.
    unsafe {
        host_syscall(
            libc::SYS_futex,
            [
                word.as_ptr() as u64,
                libc::FUTEX_WAIT as u64,
                u64::from(expected),
                ts_ptr,
                0,
                0,
            ],
        )
    }
}

/// `FUTEX_WAKE` of every waiter on a word shared between processes.
pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the word's address as a key.
    unsafe {
        host_syscall(
            libc::SYS_futex,
            [
                word.as_ptr() as u64,
                libc::FUTEX_WAKE as u64,
                i32::MAX as u64,
                0,
                0,
                0,
            ],
        );
    }
}

/// `sched_yield`, through the allowed site.
pub fn sched_yield() {
    // SAFETY: sched_yield takes no arguments and touches no memory.
    unsafe { host_syscall(libc::SYS_sched_yield, [0; 6]) };
}
