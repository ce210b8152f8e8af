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
use super::mechanism::Mechanism;
use super::own_holes;
use super::shared::{check, get, set, shape, state, step, Header, Hole, Record, ReplayOp};
use super::sys::{host_syscall, rdtsc, restorer_addr, workload_syscall};
use super::workload::{APP_BASE, APP_LEN};
use crate::platform::boundary::{break_code, walk_frame_pointers_into, STUB_MAX_DEPTH};
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
    /// The replay calls (a replay only).
    pub ops: *const ReplayOp,
    /// Number of replay calls.
    pub n_ops: usize,
    /// The holes array ([`super::shared::MAX_HOLES`] entries).
    pub holes: *const Hole,
    /// A buffer for the native replay stub's own `/proc/self/maps`.
    pub maps_buf: *mut u8,
    /// Its length (0: none).
    pub maps_cap: usize,
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
    set(&h.stack_base, super::sys::frame_pointer());
    // SAFETY: likewise for the records that follow the header.
    let records = unsafe { std::slice::from_raw_parts(plan.records, plan.n_records) };
    // SAFETY: likewise for the replay calls and the holes after them.
    let (ops, holes) = unsafe {
        (
            std::slice::from_raw_parts(plan.ops, plan.n_ops),
            std::slice::from_raw_parts(plan.holes, super::shared::MAX_HOLES),
        )
    };
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
    // SAFETY: the buffer was allocated by the sentry before the fork for
    // `maps_cap` bytes; the child's copy is its own and nothing else uses it.
    let maps_buf = unsafe { std::slice::from_raw_parts_mut(plan.maps_buf, plan.maps_cap) };
    let replay = Replay {
        ops,
        holes,
        native: plan.mechanism == Mechanism::Native,
    };
    if get(&h.shape) == shape::REPLAY && replay.native {
        list_own_holes(h, holes, maps_buf);
    }
    run_loop(h, records, &replay, plan.mechanism == Mechanism::Systrap);
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

/// The workload: the loop of the header's shape, with its start and end
/// stamped.
fn run_loop(h: &Header, records: &[Record], replay: &Replay<'_>, systrap: bool) {
    let mut heap = NativeHeap::default();
    if get(&h.shape) == shape::REPLAY && replay.native {
        heap = fill_holes(h, replay.holes);
    }
    set(&h.t_loop_start, rdtsc());
    match get(&h.shape) {
        shape::MALLOC => malloc_loop(h, records, systrap),
        shape::REPLAY => replay_loop(h, records, replay, &mut heap, systrap),
        _ => mmap_loop(h, records, systrap),
    }
    set(&h.t_loop_end, rdtsc());
}

/// What a replay stub reads besides the header and records.
struct Replay<'a> {
    ops: &'a [ReplayOp],
    holes: &'a [Hole],
    native: bool,
}

/// The native replay stub's program break and the reservation above it.
#[derive(Default)]
struct NativeHeap {
    /// Page end of the heap (the break rounded up).
    end: u64,
    /// End of the reservation that starts at `end` (0: none was made).
    fill_top: u64,
}

const FILL_PROT: u64 = libc::PROT_NONE as u64;
const FILL_FLAGS: u64 =
    (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE)
        as u64;

/// Reserves `[start, end)` with `PROT_NONE` where it is free; true if it
/// was.
fn reserve(start: u64, end: u64) -> bool {
    if start >= end {
        return false;
    }
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping.
    let r = unsafe {
        host_syscall(
            libc::SYS_mmap,
            [start, end - start, FILL_PROT, FILL_FLAGS, u64::MAX, 0],
        )
    };
    if r as u64 == start {
        return true;
    }
    if !failed(r) {
        // A kernel without MAP_FIXED_NOREPLACE took it as a hint.
        // SAFETY: unmaps only the mapping just made.
        unsafe { host_syscall(libc::SYS_munmap, [r as u64, end - start, 0, 0, 0, 0]) };
    }
    false
}

/// Native replay, before the loop: lists the stub's own free ranges above
/// the application range from its `/proc/self/maps` into `holes` (read
/// after the fork: a list made by the sentry before it would race with the
/// sentry's other threads). A stub that cannot read them whole, or finds
/// more than `holes` holds, fails its set-up (step `OWN_MAPS`): its
/// mappings could land outside the application range.
fn list_own_holes(h: &Header, holes: &[Hole], buf: &mut [u8]) {
    let len = read_own_maps(buf).unwrap_or_else(|ret| fail_setup(h, step::OWN_MAPS, ret));
    let (low, room) = (APP_BASE + APP_LEN, own_holes::STACK_ROOM);
    let mut n = 0usize;
    let whole = own_holes::for_each_hole(&buf[..len], low, room, |_, _| n += 1);
    if !whole || n > holes.len() {
        fail_setup(h, step::OWN_MAPS, -i64::from(libc::E2BIG));
    }
    let mut i = 0usize;
    own_holes::for_each_hole(&buf[..len], low, room, |s, e| {
        set(&holes[i].start, s);
        set(&holes[i].end, e);
        i += 1;
    });
    set(&h.n_holes, n as u64);
}

/// Reads `/proc/self/maps` into `buf` with raw calls: its length, or the
/// raw error (`-E2BIG` when it does not fit).
fn read_own_maps(buf: &mut [u8]) -> Result<usize, i64> {
    let path = b"/proc/self/maps\0";
    let flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    let fd = unsafe { host_syscall(libc::SYS_open, [path.as_ptr() as u64, flags, 0, 0, 0, 0]) };
    if fd < 0 {
        return Err(fd);
    }
    let mut len = 0usize;
    let read = loop {
        if len == buf.len() {
            break Err(-i64::from(libc::E2BIG));
        }
        let rest = &mut buf[len..];
        // SAFETY: reads into the part of `buf` not yet filled, at most its
        // length.
        let r = unsafe {
            host_syscall(
                libc::SYS_read,
                [
                    fd as u64,
                    rest.as_mut_ptr() as u64,
                    rest.len() as u64,
                    0,
                    0,
                    0,
                ],
            )
        };
        match r {
            0 => break Ok(len),
            r if r < 0 => break Err(r),
            r => len += r as usize,
        }
    };
    // SAFETY: closes the descriptor opened above.
    unsafe { host_syscall(libc::SYS_close, [fd as u64, 0, 0, 0, 0, 0]) };
    read
}

/// Native replay, before the loop: fills the holes the stub listed
/// (free ranges above the application range), so that the kernel's
/// top-down search for an mmap without an address ends in the application
/// range; the hole above the program break is reserved from the break's
/// page on (`brk` calls free what they need first, [`brk_room`]).
fn fill_holes(h: &Header, holes: &[Hole]) -> NativeHeap {
    // SAFETY: brk(0) only reads the break.
    let brk0 = unsafe { host_syscall(libc::SYS_brk, [0; 6]) };
    let mut heap = NativeHeap {
        end: page_up(brk0 as u64),
        fill_top: 0,
    };
    let n = get(&h.n_holes) as usize;
    for hole in holes.iter().take(n) {
        let (mut start, end) = (get(&hole.start), get(&hole.end));
        let above_break = start <= heap.end && heap.end < end;
        if above_break {
            start = heap.end;
        }
        if reserve(start, end) && above_break {
            heap.fill_top = end;
        }
    }
    heap
}

/// Native replay, before `brk(want)`: frees the reservation above the
/// heap up to one page past the new break (the kernel wants that page
/// free). Returns the end of what was freed.
fn brk_room(heap: &NativeHeap, want: u64) -> u64 {
    let need = page_up(want).saturating_add(4096).min(heap.fill_top);
    if heap.fill_top == 0 || need <= heap.end {
        return heap.end;
    }
    // SAFETY: `[end, need)` is part of the reservation made above the heap
    // (nothing else lives there: the stub maps nothing of its own).
    unsafe { host_syscall(libc::SYS_munmap, [heap.end, need - heap.end, 0, 0, 0, 0]) };
    need
}

/// Native replay, after a `brk` that returned `result`: reserves again
/// what lies free between the new heap end and `freed`.
fn brk_refill(heap: &mut NativeHeap, result: i64, freed: u64) {
    let new_end = page_up(result as u64);
    if heap.fill_top != 0 {
        reserve(new_end, freed.max(heap.end).min(heap.fill_top));
    }
    heap.end = new_end;
}

/// Whether `[v, v + len)` lies in the application range.
fn in_app(v: u64, len: u64) -> bool {
    let len = page_up(len.max(1));
    len != 0 && v >= APP_BASE && len <= APP_LEN && v - APP_BASE <= APP_LEN - len
}

/// The replayed calls' numbers; any other is refused with `ENOSYS`.
fn replayable(nr: i64) -> bool {
    matches!(
        nr,
        libc::SYS_mmap | libc::SYS_munmap | libc::SYS_mprotect | libc::SYS_brk | libc::SYS_mremap
    )
}

/// Computes the arguments of replay call `i` (relocations against the
/// results recorded so far).
fn replay_args(op: &ReplayOp, records: &[Record], i: usize) -> [u64; 6] {
    let mut args = op.args.each_ref().map(get);
    let checks = get(&op.checks);
    for (slot, (arg, len_arg, bit)) in [
        (0usize, 1usize, check::ARG0_IN_APP),
        (4, 2, check::ARG4_IN_APP),
    ]
    .into_iter()
    .enumerate()
    {
        let base = get(&op.base[slot]) as usize;
        if base == 0 {
            continue;
        }
        let fallback = get(&op.fallback[slot]);
        let result = if base - 1 < i {
            records.get(base - 1).map(|r| get(&r.addr) as i64)
        } else {
            None
        };
        args[arg] = match result {
            Some(r) if !failed(r) => {
                let v = (r as u64).wrapping_add(args[arg]);
                let ok = if checks & bit != 0 {
                    in_app(v, args[len_arg])
                } else {
                    v >= r as u64
                };
                if ok {
                    v
                } else {
                    fallback
                }
            }
            _ => fallback,
        };
    }
    args
}

/// The replay: each call with its relocated arguments through the
/// workload's `syscall` site, timed alone. A failed call is recorded and
/// the replay goes on.
fn replay_loop(
    h: &Header,
    records: &[Record],
    replay: &Replay<'_>,
    heap: &mut NativeHeap,
    systrap: bool,
) {
    let n = get(&h.iterations) as usize;
    for (i, op) in replay.ops.iter().enumerate().take(n) {
        let Some(rec) = records.get(i) else {
            break;
        };
        let args = replay_args(op, records, i);
        let nr = get(&op.nr) as i64;
        let brk_grow = replay.native && nr == libc::SYS_brk && args[0] != 0;
        let freed = if brk_grow { brk_room(heap, args[0]) } else { 0 };
        let t_enter = rdtsc();
        let r = if replayable(nr) {
            // SAFETY: one of the five memory calls, with every address
            // argument either 0, above every user address (`foreign`), or
            // computed from this replay's own results and checked to lie in
            // the application range (a brk address: at or above the first
            // break), which this program's own memory does not use.
            unsafe { workload_syscall(nr, args) }
        } else {
            -i64::from(libc::ENOSYS)
        };
        let t_return = rdtsc();
        if systrap {
            copy_handler_stamps(h, rec);
        }
        if brk_grow {
            brk_refill(heap, r, freed);
        }
        set(&rec.arg0, args[0]);
        record(h, rec, i as u64, r, [t_enter, t_return, t_return, t_return]);
    }
}

/// Whether a raw system-call result is an error (`-4095..0`).
fn failed(r: i64) -> bool {
    (-4095..0).contains(&r)
}

/// One write per page overlapping `[addr, addr + len)`: `pattern ^ page`
/// as a word at each page start (`wide`, page-aligned `addr`), else one
/// byte at `addr` and at each later page start.
fn touch_pages(addr: u64, len: u64, pattern: u64, wide: bool) {
    let end = addr.wrapping_add(len.max(1));
    let mut at = addr;
    while at < end {
        let page = at & !4095;
        if wide {
            // SAFETY: `at` is the start of a page of the mapping the loop
            // just made (or, trapped, one the sentry resolves on the fault);
            // nothing else of this program lives there.
            unsafe { std::ptr::write_volatile(at as *mut u64, pattern ^ page) };
        } else {
            // SAFETY: `at` lies in the block malloc just returned (as above:
            // memory of the workload only).
            unsafe { std::ptr::write_volatile(at as *mut u8, 1) };
        }
        at = page.wrapping_add(4096);
    }
}

/// Copies the SIGSYS handler's stamps of the call just made (systrap)
/// into the iteration's record, before a later call or fault overwrites
/// them.
fn copy_handler_stamps(h: &Header, rec: &Record) {
    for (dst, src) in [
        (&rec.t_handler, &h.t_handler),
        (&rec.t_posted, &h.t_posted),
        (&rec.t_reply_seen, &h.t_reply_seen),
        (&rec.host_cycles, &h.host_cycles),
    ] {
        set(dst, get(src));
    }
}

/// Stores one iteration's result and stamps and publishes the progress.
fn record(h: &Header, rec: &Record, i: u64, addr: i64, stamps: [u64; 4]) {
    set(&rec.addr, addr as u64);
    set(&rec.t_enter, stamps[0]);
    set(&rec.t_return, stamps[1]);
    set(&rec.t_touched, stamps[2]);
    set(&rec.t_unmapped, stamps[3]);
    h.progress.store(i + 1, Ordering::Release);
}

/// `iterations` times mmap, optional touch, optional munmap.
fn mmap_loop(h: &Header, records: &[Record], systrap: bool) {
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
            copy_handler_stamps(h, rec);
        }
        let ok = !failed(addr);
        if touch && ok {
            touch_pages(addr as u64, len, pattern, true);
        }
        let t_touched = rdtsc();
        if unmap && ok {
            // SAFETY: unmaps only the mapping made above.
            unsafe { workload_syscall(libc::SYS_munmap, [addr as u64, len, 0, 0, 0, 0]) };
        }
        let t_unmapped = rdtsc();
        record(h, rec, i, addr, [t_enter, t_return, t_touched, t_unmapped]);
    }
}

/// glibc's `M_MMAP_THRESHOLD`, `M_TOP_PAD`, `SIZE_SZ`, alignment and
/// minimum chunk (as `workload::exec`'s malloc model).
const MALLOC_MMAP_THRESHOLD: u64 = 128 * 1024;
const MALLOC_TOP_PAD: u64 = 128 * 1024;
const MALLOC_SIZE_SZ: u64 = 8;
const MALLOC_ALIGN: u64 = 16;
const MALLOC_MIN_CHUNK: u64 = 32;

/// The stub's brk heap.
#[derive(Default)]
struct Heap {
    start: u64,
    used: u64,
    end: u64,
    /// Page of the last header written (0: none yet).
    header_page: u64,
}

fn page_up(v: u64) -> u64 {
    v.wrapping_add(4095) & !4095
}

/// One `malloc(size)`: the user address, or a raw `-errno`.
fn stub_malloc(heap: &mut Heap, size: u64) -> i64 {
    if size >= MALLOC_MMAP_THRESHOLD {
        let len = page_up(size.saturating_add(2 * MALLOC_SIZE_SZ));
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        // SAFETY: mmap without MAP_FIXED never replaces memory in use.
        let base = unsafe { workload_syscall(libc::SYS_mmap, [0, len, prot, flags, u64::MAX, 0]) };
        if !failed(base) {
            // The chunk's size word.
            touch_pages(base as u64 + MALLOC_SIZE_SZ, 1, 0, false);
            return base + 2 * MALLOC_SIZE_SZ as i64;
        }
        return base;
    }
    if heap.end == 0 {
        // SAFETY: brk(0) only reads the program break.
        let b = unsafe { workload_syscall(libc::SYS_brk, [0; 6]) };
        if failed(b) || b == 0 {
            return -i64::from(libc::ENOMEM);
        }
        heap.start = b as u64;
        heap.end = b as u64;
    }
    let chunk = (size + MALLOC_SIZE_SZ)
        .max(MALLOC_MIN_CHUNK)
        .div_ceil(MALLOC_ALIGN)
        * MALLOC_ALIGN;
    let top = heap.start + heap.used;
    if top + chunk + MALLOC_MIN_CHUNK > heap.end {
        let want = heap.end + page_up(top + chunk + MALLOC_MIN_CHUNK - heap.end + MALLOC_TOP_PAD);
        // SAFETY: the break only grows, above everything this program uses
        // (the stub allocates nothing).
        let got = unsafe { workload_syscall(libc::SYS_brk, [want, 0, 0, 0, 0, 0]) };
        if got as u64 != want {
            return -i64::from(libc::ENOMEM);
        }
        heap.end = want;
    }
    heap.used += chunk;
    for header in [top, top + chunk] {
        let page = header & !4095;
        if page != heap.header_page {
            touch_pages(header, 1, 0, false);
            heap.header_page = page;
        }
    }
    (top + MALLOC_SIZE_SZ) as i64
}

/// `iterations` times `malloc(len)`, optionally touching every page of the
/// block; nothing is freed. A failed malloc ends the loop.
fn malloc_loop(h: &Header, records: &[Record], systrap: bool) {
    let (n, size, touch) = (get(&h.iterations), get(&h.len), get(&h.touch) != 0);
    let mut heap = Heap::default();
    for i in 0..n {
        let Some(rec) = records.get(i as usize) else {
            break;
        };
        let t_enter = rdtsc();
        let p = stub_malloc(&mut heap, size);
        let t_return = rdtsc();
        if systrap {
            copy_handler_stamps(h, rec);
        }
        if touch && !failed(p) {
            touch_pages(p as u64, size, 0, false);
        }
        let t_touched = rdtsc();
        record(h, rec, i, p, [t_enter, t_return, t_touched, t_touched]);
        if failed(p) {
            break;
        }
    }
}

/// Posts a request (then `while_served`, e.g. the stub posting its own
/// stack) and waits for the reply, running the host calls the
/// sentry asks for while it serves the request (each `HOST` → run →
/// `HOST_DONE`, as gVisor's synchronous stub calls of mapAS); returns the
/// reply's result. Stub side of the hand-off.
fn exchange(h: &Header, request: u32, while_served: &mut dyn FnMut()) -> i64 {
    set(&h.host_cycles, 0);
    set(&h.t_posted, rdtsc());
    post(h, request, &h.sentry_waiting);
    while_served();
    let mut from = request;
    loop {
        match wait_change(h, from, &h.stub_waiting, &h.stub_waits, None) {
            Waited::Unchanged => continue,
            Waited::Changed(state::HOST) => {
                run_host_calls(h);
                post(h, state::HOST_DONE, &h.sentry_waiting);
                from = state::HOST_DONE;
            }
            Waited::Changed(_) => break,
        }
    }
    set(&h.t_reply_seen, rdtsc());
    h.result.load(Ordering::Relaxed)
}

/// Runs the host calls of a `HOST` request, each timed (added to
/// `host_cycles`), with its raw result in its slot.
fn run_host_calls(h: &Header) {
    let n = get(&h.n_host) as usize;
    for slot in h.host.iter().take(n) {
        let args = slot.args.each_ref().map(get);
        let t0 = rdtsc();
        // SAFETY: the sentry's host calls map, unmap or protect pages of
        // the application range only (the `StubOps` contract), which this
        // program's own memory does not use.
        let r = unsafe { host_syscall(slot.nr.load(Ordering::Relaxed), args) };
        let spent = rdtsc().wrapping_sub(t0);
        h.host_cycles
            .store(get(&h.host_cycles).wrapping_add(spent), Ordering::Relaxed);
        slot.result.store(r, Ordering::Relaxed);
    }
}

/// Offsets into the kernel's `siginfo_t`: `_sigsys._syscall` and
/// `_sigfault._addr`.
const SI_SYSCALL: usize = 24;
const SI_ADDR: usize = 16;

/// Names, in the request, the slot the stub will post its stack in (the
/// other of the two `stacks` than last time: `stack_slot`, and its number
/// `stack_seq`) when the sentry asked for stacks (`want_stack`); else
/// `stack_slot` = 0. Returns the slot, 0 for none.
fn name_stack_slot(h: &Header) -> usize {
    if get(&h.want_stack) == 0 {
        set(&h.stack_slot, 0);
        return 0;
    }
    let slot = if get(&h.stack_slot) == 1 { 2 } else { 1 };
    set(&h.stack_seq, get(&h.stack_seq).wrapping_add(1));
    set(&h.stack_slot, slot as u64);
    slot
}

/// Posts the workload's frame-pointer chain at a trap in `slot` (from
/// [`name_stack_slot`]; 0: nothing), after the request is posted: the
/// walk and the writes overlap the sentry's serving. Walks only this
/// thread's own stack between the trap's `rsp` and `child_main`'s frame
/// (`stack_base`), so every word read is mapped; no allocation, no
/// system call.
fn post_own_stack(h: &Header, slot: usize, gregs: &[libc::greg_t; 23]) {
    if slot == 0 {
        return;
    }
    let [rip, rbp, rsp] =
        [libc::REG_RIP, libc::REG_RBP, libc::REG_RSP].map(|r| gregs[r as usize] as u64);
    let base = get(&h.stack_base);
    let mut read = |a: u64| -> Option<[u64; 2]> {
        if a < rsp || a.checked_add(16)? > base {
            return None;
        }
        let p = a as *const u64;
        // SAFETY: `a` is 8-aligned (the walk checks it before reading) and
        // `[a, a + 16)` lies between the trap's stack pointer and
        // `child_main`'s frame: live frames of this thread's stack, mapped
        // and not written while the handler runs below them.
        Some(unsafe { [p.read_volatile(), p.add(1).read_volatile()] })
    };
    let mut out = [0u64; STUB_MAX_DEPTH];
    let stop_at = if base == 0 { u64::MAX } else { base };
    let (n, why) = walk_frame_pointers_into([rip, rbp, rsp], stop_at, &mut out, &mut read);
    let posted = &h.stacks[slot - 1];
    for (word, pc) in posted.pcs.iter().zip(&out[..n]) {
        set(word, *pc);
    }
    set(&posted.broken, break_code(why));
    set(&posted.n, n as u64);
    posted.seq.store(get(&h.stack_seq), Ordering::Release);
}

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
    set(&h.rbp, gregs[libc::REG_RBP as usize] as u64);
    set(&h.rsp, gregs[libc::REG_RSP as usize] as u64);
    let slot = name_stack_slot(h);
    let ret = exchange(h, state::SYSCALL, &mut || post_own_stack(h, slot, gregs));
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
    set(&h.rbp, gregs[libc::REG_RBP as usize] as u64);
    set(&h.rsp, gregs[libc::REG_RSP as usize] as u64);
    let slot = name_stack_slot(h);
    if exchange(h, state::FAULT, &mut || post_own_stack(h, slot, gregs)) != 0 {
        exit(EXIT_FAULT);
    }
}
