//! The stub: what the forked child runs. It is a fork of the sentry, so it
//! runs code of this binary; after the fork it runs only what is in this
//! module and [`super::sys`] and [`super::channel`]: raw system calls
//! (inline `syscall` or the allowed site), atomics on the shared region and
//! `rdtsc`. No allocation, no locks, no std I/O, no panics on any path it
//! takes (indexing is checked with `get`), so the fork of a multithreaded
//! sentry is safe: nothing the other threads held at the fork is touched.
//!
//! Why a fork and not a position-independent code page mapped into a fresh
//! process: the stub then shares the sentry's code addresses (the allowed
//! system-call site, the restorer, the ptrace site are known without a
//! loader), the memory file is inherited as the same descriptor number, and
//! the stub is ordinary Rust that the compiler checks; the cost is a copy of
//! the sentry's address space, which the platform keeps out of the
//! application range ([`super::APP_BASE`]).
//!
//! Set-up, in the child:
//! 1. `PR_SET_PDEATHSIG(SIGKILL)`, then exit if the parent already died;
//! 2. ptrace: `PTRACE_TRACEME` and `SIGSTOP` to itself (the tracer resumes
//!    it with `PTRACE_SYSEMU`); systrap: SIGSYS and SIGSEGV handlers with
//!    the restorer of [`super::sys`], `PR_SET_NO_NEW_PRIVS`, the seccomp
//!    filter, then `READY` on the channel;
//! 3. the loop; then `EXITED` (systrap) and `exit_group(0)` through the
//!    allowed site.

use super::channel::{post, wait_change, Waited};
use super::shared::{get, set, state, step, Header, Record};
use super::sys::{host_syscall, rdtsc, restorer_addr, workload_syscall};
use super::Mechanism;
use std::sync::atomic::{AtomicPtr, Ordering};

/// Exit status of a stub whose set-up failed (the step and errno are in the
/// header).
pub const EXIT_SETUP_FAILED: i32 = 121;
/// Exit status of a stub whose parent was gone before `PR_SET_PDEATHSIG`.
pub const EXIT_ORPHAN: i32 = 122;
/// Exit status of a stub whose fault the sentry did not resolve.
pub const EXIT_FAULT: i32 = 123;

/// What the child needs, prepared by the parent before the fork (so the
/// child allocates nothing).
pub struct ChildPlan {
    /// Which platform traps the stub.
    pub mechanism: Mechanism,
    /// The shared region's header.
    pub header: *const Header,
    /// The shared region's records.
    pub records: *const Record,
    /// Number of records.
    pub n_records: usize,
    /// The sentry's pid.
    pub parent_pid: i32,
    /// The seccomp program (systrap).
    pub filter: *const libc::sock_fprog,
}

/// The region, for the signal handlers (set in the child only: the child's
/// copy of this static is its own).
static HEADER: AtomicPtr<Header> = AtomicPtr::new(std::ptr::null_mut());

fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group ends the process; nothing is left to be unsafe.
        unsafe { host_syscall(libc::SYS_exit_group, [code as u64, 0, 0, 0, 0, 0]) };
    }
}

fn fail_setup(h: &Header, which: u64, ret: i64) -> ! {
    set(&h.setup_errno, ret.unsigned_abs());
    set(&h.setup_step, which);
    if which != step::TRACEME {
        post(h, state::SETUP_FAILED, &h.sentry_waiting);
    }
    exit(EXIT_SETUP_FAILED)
}

/// The child's whole life.
///
/// # Safety
///
/// Call only in the child of a `fork`, once, with a plan whose pointers
/// point into the shared region and a valid seccomp program (systrap); the
/// region must be mapped in the child (it is: made before the fork).
pub unsafe fn child_main(plan: &ChildPlan) -> ! {
    // SAFETY: the plan's header points at the shared region's header, which
    // stays mapped in the child until it exits.
    let h: &Header = unsafe { &*plan.header };
    // SAFETY: likewise for the records that follow the header.
    let records = unsafe { std::slice::from_raw_parts(plan.records, plan.n_records) };
    // SAFETY: prctl and getppid take plain integers.
    unsafe {
        host_syscall(
            libc::SYS_prctl,
            [
                libc::PR_SET_PDEATHSIG as u64,
                libc::SIGKILL as u64,
                0,
                0,
                0,
                0,
            ],
        );
        if host_syscall(libc::SYS_getppid, [0; 6]) != i64::from(plan.parent_pid) {
            exit(EXIT_ORPHAN);
        }
    }
    match plan.mechanism {
        Mechanism::Native => {}
        Mechanism::Ptrace => {
            // SAFETY: PTRACE_TRACEME and kill take plain integers.
            unsafe {
                let r = host_syscall(
                    libc::SYS_ptrace,
                    [libc::PTRACE_TRACEME as u64, 0, 0, 0, 0, 0],
                );
                if r < 0 {
                    fail_setup(h, step::TRACEME, r);
                }
                let me = host_syscall(libc::SYS_getpid, [0; 6]);
                host_syscall(
                    libc::SYS_kill,
                    [me as u64, libc::SIGSTOP as u64, 0, 0, 0, 0],
                );
            }
        }
        Mechanism::Systrap => {
            HEADER.store(plan.header.cast_mut(), Ordering::Relaxed);
            // SAFETY: the plan's filter is a valid program (the caller's
            // contract).
            unsafe { install_systrap(h, plan.filter) };
            post(h, state::READY, &h.sentry_waiting);
        }
    }
    run_loop(h, records, plan.mechanism == Mechanism::Systrap);
    if plan.mechanism == Mechanism::Systrap {
        post(h, state::EXITED, &h.sentry_waiting);
    }
    exit(0)
}

/// The kernel's `struct sigaction` for `rt_sigaction`.
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

const SA_RESTORER: u64 = 0x0400_0000;

/// # Safety
///
/// `filter` must point at a valid seccomp program; child only.
unsafe fn install_systrap(h: &Header, filter: *const libc::sock_fprog) {
    let handlers: [(i32, usize); 2] = [
        (libc::SIGSYS, on_sigsys as *const () as usize),
        (libc::SIGSEGV, on_sigsegv as *const () as usize),
    ];
    for (sig, handler) in handlers {
        let act = KernelSigaction {
            handler,
            flags: libc::SA_SIGINFO as u64 | SA_RESTORER,
            restorer: restorer_addr(),
            mask: 0,
        };
        // SAFETY: `act` is a valid kernel sigaction for the duration of the
        // call; the handlers are `extern "C"` functions of the right shape.
        let r = unsafe {
            host_syscall(
                libc::SYS_rt_sigaction,
                [
                    sig as u64,
                    &act as *const KernelSigaction as u64,
                    0,
                    8,
                    0,
                    0,
                ],
            )
        };
        if r < 0 {
            fail_setup(h, step::SIGACTION, r);
        }
    }
    let unblock: u64 = (1 << (libc::SIGSYS - 1)) | (1 << (libc::SIGSEGV - 1));
    // SAFETY: the set is a valid 8-byte signal set for the call.
    unsafe {
        host_syscall(
            libc::SYS_rt_sigprocmask,
            [
                libc::SIG_UNBLOCK as u64,
                &unblock as *const u64 as u64,
                0,
                8,
                0,
                0,
            ],
        );
    }
    // SAFETY: prctl with integers.
    let r = unsafe {
        host_syscall(
            libc::SYS_prctl,
            [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0],
        )
    };
    if r < 0 {
        fail_setup(h, step::NO_NEW_PRIVS, r);
    }
    // SAFETY: `filter` is a valid program (the caller's contract); the
    // kernel copies it.
    let r = unsafe {
        host_syscall(
            libc::SYS_seccomp,
            [
                libc::SECCOMP_SET_MODE_FILTER as u64,
                0,
                filter as u64,
                0,
                0,
                0,
            ],
        )
    };
    if r < 0 {
        fail_setup(h, step::SECCOMP, r);
    }
}

/// The workload: `iterations` times mmap, optional touch, optional munmap.
fn run_loop(h: &Header, records: &[Record], systrap: bool) {
    let n = get(&h.iterations);
    let args = [
        get(&h.addr),
        get(&h.len),
        get(&h.prot),
        get(&h.flags),
        get(&h.fd),
        get(&h.offset),
    ];
    let (len, touch, unmap, pattern) = (
        args[1],
        get(&h.touch) != 0,
        get(&h.unmap) != 0,
        get(&h.pattern),
    );
    for i in 0..n {
        let Some(rec) = records.get(i as usize) else {
            break;
        };
        let t_enter = rdtsc();
        // SAFETY: mmap with a null or fixed address inside the application
        // range (checked by the sentry before the fork), which this
        // program's own memory does not use.
        let addr = unsafe { workload_syscall(libc::SYS_mmap, args) };
        let t_return = rdtsc();
        if systrap {
            for (dst, src) in [
                (&rec.t_handler, &h.t_handler),
                (&rec.t_posted, &h.t_posted),
                (&rec.t_reply_seen, &h.t_reply_seen),
                (&rec.t_host_done, &h.t_host_done),
            ] {
                set(dst, get(src));
            }
        }
        let ok = !(-4095..0).contains(&addr);
        if touch && ok {
            let mut off = 0;
            while off < len {
                let page = (addr as u64).wrapping_add(off);
                // SAFETY: the page lies in the mapping mmap just returned
                // (or, on a trapped platform, one the sentry resolves on
                // the fault); nothing else of this program lives there.
                unsafe { std::ptr::write_volatile(page as *mut u64, pattern ^ page) };
                off += 4096;
            }
        }
        let t_touched = rdtsc();
        if unmap && ok {
            // SAFETY: unmaps only the mapping made above.
            unsafe { workload_syscall(libc::SYS_munmap, [addr as u64, len, 0, 0, 0, 0]) };
        }
        let t_unmapped = rdtsc();
        set(&rec.addr, addr as u64);
        set(&rec.t_enter, t_enter);
        set(&rec.t_return, t_return);
        set(&rec.t_touched, t_touched);
        set(&rec.t_unmapped, t_unmapped);
        h.progress.store(i + 1, Ordering::Release);
    }
}

/// Posts a request and waits for the reply; runs the reply's host calls;
/// returns the reply's result. Stub side of the hand-off.
fn exchange(h: &Header, request: u32) -> i64 {
    set(&h.t_posted, rdtsc());
    post(h, request, &h.sentry_waiting);
    while wait_change(h, request, &h.stub_waiting, None) == Waited::Unchanged {}
    set(&h.t_reply_seen, rdtsc());
    let n = get(&h.n_host) as usize;
    for slot in h.host.iter().take(n) {
        let args = slot.args.each_ref().map(get);
        // SAFETY: the sentry's host calls map, unmap or protect pages of
        // the application range only (the `StubOps` contract), which this
        // program's own memory does not use.
        let r = unsafe { host_syscall(slot.nr.load(Ordering::Relaxed), args) };
        slot.result.store(r, Ordering::Relaxed);
    }
    set(&h.t_host_done, rdtsc());
    h.result.load(Ordering::Relaxed)
}

/// Offsets into the kernel's `siginfo_t`: `_sigsys._syscall` and
/// `_sigfault._addr`.
const SI_SYSCALL: usize = 24;
const SI_ADDR: usize = 16;

extern "C" fn on_sigsys(_sig: i32, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let t = rdtsc();
    let hp = HEADER.load(Ordering::Relaxed);
    if hp.is_null() {
        return;
    }
    // SAFETY: set by `child_main` to the shared header, mapped for the
    // stub's whole life.
    let h = unsafe { &*hp };
    // SAFETY: the kernel passes a valid siginfo (SA_SIGINFO) and ucontext
    // to the handler; for SIGSYS the syscall number is at `SI_SYSCALL`.
    let (nr, gregs) = unsafe {
        let nr = info.cast::<u8>().add(SI_SYSCALL).cast::<i32>().read();
        (
            nr,
            &mut (*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs,
        )
    };
    set(&h.t_handler, t);
    h.nr.store(i64::from(nr), Ordering::Relaxed);
    for (slot, reg) in h.args.iter().zip([
        libc::REG_RDI,
        libc::REG_RSI,
        libc::REG_RDX,
        libc::REG_R10,
        libc::REG_R8,
        libc::REG_R9,
    ]) {
        set(slot, gregs[reg as usize] as u64);
    }
    set(&h.rip, gregs[libc::REG_RIP as usize] as u64);
    let ret = exchange(h, state::SYSCALL);
    gregs[libc::REG_RAX as usize] = ret;
}

extern "C" fn on_sigsegv(_sig: i32, info: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    let hp = HEADER.load(Ordering::Relaxed);
    if hp.is_null() {
        exit(EXIT_FAULT);
    }
    // SAFETY: as in `on_sigsys`.
    let h = unsafe { &*hp };
    // SAFETY: the kernel passes a valid siginfo and ucontext; for SIGSEGV
    // the fault address is at `SI_ADDR`.
    let (addr, gregs) = unsafe {
        let addr = info.cast::<u8>().add(SI_ADDR).cast::<u64>().read();
        (addr, &(*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs)
    };
    set(&h.fault_addr, addr);
    set(
        &h.fault_write,
        (gregs[libc::REG_ERR as usize] as u64 >> 1) & 1,
    );
    set(&h.rip, gregs[libc::REG_RIP as usize] as u64);
    if exchange(h, state::FAULT) != 0 {
        exit(EXIT_FAULT);
    }
}
