//! The region the sentry and the stub share: a control header (the workload
//! description and the systrap hand-off channel) and the stub's result
//! array. It is an anonymous `MAP_SHARED` mapping made before the fork, so
//! both processes see the same pages at the same address. Every field is an
//! atomic, so each side reads and writes it through shared references; the
//! only unsafe code is the mapping itself.

use std::mem::size_of;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::platform::boundary::STUB_MAX_DEPTH;

/// Host call slots of the header (a systrap `HOST` request uses one).
pub const MAX_HOST_CALLS: usize = 8;

/// Channel states (the `state` word).
pub mod state {
    /// Nothing posted yet.
    pub const IDLE: u32 = 0;
    /// Stub → sentry: set-up done, the loop starts.
    pub const READY: u32 = 1;
    /// Stub → sentry: set-up failed (`setup_errno`, `setup_step`).
    pub const SETUP_FAILED: u32 = 2;
    /// Stub → sentry: a trapped system call (`nr`, `args`).
    pub const SYSCALL: u32 = 3;
    /// Stub → sentry: a fault (`fault_*`).
    pub const FAULT: u32 = 4;
    /// Sentry → stub: the served call's `result` (no host calls: those
    /// ran before, each through `HOST`).
    pub const REPLY: u32 = 5;
    /// Stub → sentry: the loop finished, the stub exits.
    pub const EXITED: u32 = 6;
    /// Sentry → stub, while the sentry serves a call: run the `n_host`
    /// host calls of `host` now and answer `HOST_DONE` (gVisor's
    /// synchronous stub system call of mapAS).
    pub const HOST: u32 = 7;
    /// Stub → sentry: the host calls of `HOST` ran; their results are in
    /// their slots.
    pub const HOST_DONE: u32 = 8;
}

/// Loop shapes (the `shape` word).
pub mod shape {
    /// The mmap loop.
    pub const MMAP: u64 = 0;
    /// The malloc loop.
    pub const MALLOC: u64 = 1;
    /// A trace replay (the region's replay calls).
    pub const REPLAY: u64 = 2;
}

/// Bits of [`ReplayOp::checks`].
pub mod check {
    /// Argument 0 is relocated and must lie in the application range.
    pub const ARG0_IN_APP: u64 = 1;
    /// Argument 4 is relocated and must lie in the application range.
    pub const ARG4_IN_APP: u64 = 2;
}

/// Holes of the native stub's address space the stub fills before a
/// replay, at most.
pub const MAX_HOLES: usize = 1024;

/// Set-up steps a stub reports a failure of.
pub mod step {
    /// `PTRACE_TRACEME`.
    pub const TRACEME: u64 = 1;
    /// `rt_sigaction` of the stub's handlers.
    pub const SIGACTION: u64 = 2;
    /// `PR_SET_NO_NEW_PRIVS`.
    pub const NO_NEW_PRIVS: u64 = 3;
    /// `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub const SECCOMP: u64 = 4;
    /// Reading the native replay stub's own `/proc/self/maps`.
    pub const OWN_MAPS: u64 = 5;
}

/// One host call slot of a systrap reply.
#[repr(C)]
#[derive(Default)]
pub struct HostSlot {
    /// System call number.
    pub nr: AtomicI64,
    /// Arguments.
    pub args: [AtomicU64; 6],
    /// Raw result, written by the stub.
    pub result: AtomicI64,
}

/// What one side's waits on the hand-off did (systrap; see
/// [`super::channel`]): counted by the waiter itself.
#[repr(C)]
#[derive(Default)]
pub struct WaitCounts {
    /// Waits that outlasted the pure spin and yielded the CPU at least once.
    pub yielded: AtomicU64,
    /// Waits that outlasted the whole spin and went to sleep on the futex.
    pub slept: AtomicU64,
}

/// The workload's stack at a trapped call, as the stub's handler walked
/// it.
#[repr(C)]
#[derive(Default)]
pub struct PostedStack {
    /// The request's `stack_seq` once the slot is written (release).
    pub seq: AtomicU64,
    /// Frames in `pcs`.
    pub n: AtomicU64,
    /// Why the walk stopped early (`boundary::break_code`).
    pub broken: AtomicU64,
    /// Return addresses, leaf first (`rip` first).
    pub pcs: [AtomicU64; STUB_MAX_DEPTH],
}

/// The control header at the start of the region.
#[repr(C, align(64))]
#[derive(Default)]
pub struct Header {
    /// Workload: the loop's shape ([`shape`]).
    pub shape: AtomicU64,
    /// Workload: iterations.
    pub iterations: AtomicU64,
    /// Workload: mmap address argument.
    pub addr: AtomicU64,
    /// Workload: mmap length.
    pub len: AtomicU64,
    /// Workload: mmap prot.
    pub prot: AtomicU64,
    /// Workload: mmap flags.
    pub flags: AtomicU64,
    /// Workload: mmap fd (as the raw register value).
    pub fd: AtomicU64,
    /// Workload: mmap offset.
    pub offset: AtomicU64,
    /// Workload: write one word per page after each mmap.
    pub touch: AtomicU64,
    /// Workload: munmap after each mmap.
    pub unmap: AtomicU64,
    /// Workload: the value written is `pattern ^ page address`.
    pub pattern: AtomicU64,
    /// Iterations completed by the stub.
    pub progress: AtomicU64,
    /// errno of a failed set-up step.
    pub setup_errno: AtomicU64,
    /// Which set-up step failed ([`step`]).
    pub setup_step: AtomicU64,
    /// The loop started (TSC).
    pub t_loop_start: AtomicU64,
    /// The loop ended (TSC).
    pub t_loop_end: AtomicU64,

    /// The channel word ([`state`]).
    pub state: AtomicU32,
    /// Non-zero while the stub sleeps on `state`.
    pub stub_waiting: AtomicU32,
    /// Non-zero while the sentry sleeps on `state`.
    pub sentry_waiting: AtomicU32,
    /// Non-zero when the sentry's serving thread and the stub are pinned to
    /// CPUs of their own: a waiter then spins without yielding (see
    /// [`super::channel`]).
    pub split_cpus: AtomicU32,
    /// The stub's waits (for a reply or a `HOST` request).
    pub stub_waits: WaitCounts,
    /// The sentry's waits (for a request, including the stub's own time
    /// between calls, and for `HOST_DONE`).
    pub sentry_waits: WaitCounts,
    /// Request: system call number.
    pub nr: AtomicI64,
    /// Request: where the stub posts its stack (0: not walked; 1 or 2:
    /// in `stacks[stack_slot - 1]`). The stub walks after posting the
    /// request, while the sentry serves it, and alternates the two slots,
    /// so the sentry reads a call's stack after it replied: the next call
    /// writes the other one, and the one after waits for a reply the
    /// sentry has not yet given.
    pub stack_slot: AtomicU64,
    /// Request: the number of the stack the stub posts for this call
    /// (the slot's `seq` once it is written).
    pub stack_seq: AtomicU64,
    /// Request: arguments.
    pub args: [AtomicU64; 6],
    /// Request: the instruction after the trapped call / the faulting one.
    pub rip: AtomicU64,
    /// Request: the workload's frame pointer and stack pointer at the
    /// call or fault (the sentry walks the stub's stack from them).
    pub rbp: AtomicU64,
    pub rsp: AtomicU64,
    /// The stub's outermost frame of its own (`child_main`'s frame
    /// pointer): frames at or above it are the sentry's, copied at the fork.
    pub stack_base: AtomicU64,
    /// Non-zero: the sentry records boundary stacks, so the stub's
    /// handlers walk their own frame-pointer chain at each trap and post
    /// it in `pcs` (set by the sentry).
    pub want_stack: AtomicU64,
    /// The stub's stacks at its last two trapped calls (`stack_slot`).
    pub stacks: [PostedStack; 2],
    /// Fault: address.
    pub fault_addr: AtomicU64,
    /// Fault: non-zero for a write.
    pub fault_write: AtomicU64,
    /// Reply: the system call's result (0 for a resolved fault).
    pub result: AtomicI64,
    /// `HOST`: host calls in `host`.
    pub n_host: AtomicU64,
    /// `HOST`: host calls for the stub to run at once.
    pub host: [HostSlot; MAX_HOST_CALLS],
    /// Stamps of the current request (stub side, TSC).
    pub t_handler: AtomicU64,
    /// The request was posted.
    pub t_posted: AtomicU64,
    /// The reply was seen.
    pub t_reply_seen: AtomicU64,
    /// Cycles the stub spent in host calls for the current request (each
    /// timed with `rdtsc` around the call itself).
    pub host_cycles: AtomicU64,
    /// Replay (native): holes of `holes` to fill before the loop.
    pub n_holes: AtomicU64,
}

/// One iteration of the stub's loop (TSC stamps; 0 where not measured).
#[repr(C)]
#[derive(Default)]
pub struct Record {
    /// mmap's result.
    pub addr: AtomicU64,
    /// Before the mmap instruction.
    pub t_enter: AtomicU64,
    /// After mmap returned.
    pub t_return: AtomicU64,
    /// After the touch.
    pub t_touched: AtomicU64,
    /// After munmap returned.
    pub t_unmapped: AtomicU64,
    /// systrap: SIGSYS handler entry (of the mmap).
    pub t_handler: AtomicU64,
    /// systrap: request posted.
    pub t_posted: AtomicU64,
    /// systrap: reply seen.
    pub t_reply_seen: AtomicU64,
    /// systrap: cycles of the host calls the stub ran for the mmap.
    pub host_cycles: AtomicU64,
    /// Replay: argument 0 as the call was made (after relocation).
    pub arg0: AtomicU64,
}

/// One call of a replay, as the stub reads it (see
/// `workload::ReplayCall`).
#[repr(C)]
#[derive(Default)]
pub struct ReplayOp {
    /// System call number.
    pub nr: AtomicU64,
    /// Arguments (a relocated one holds its offset).
    pub args: [AtomicU64; 6],
    /// Base call index + 1 of argument 0 and argument 4 (0: literal).
    pub base: [AtomicU64; 2],
    /// What a relocated argument becomes when its base failed or its
    /// check fails.
    pub fallback: [AtomicU64; 2],
    /// [`check`] bits.
    pub checks: AtomicU64,
}

/// A free range of the native replay stub's address space, listed by the
/// stub itself and filled with a `PROT_NONE` reservation so the kernel
/// places the replay's mappings in the application range.
#[repr(C)]
#[derive(Default)]
pub struct Hole {
    /// First byte.
    pub start: AtomicU64,
    /// One past the last byte.
    pub end: AtomicU64,
}

/// The shared mapping.
pub struct Region {
    base: *mut u8,
    len: usize,
    records: usize,
    ops: usize,
}

// SAFETY: the region is plain shared memory whose every field is an atomic;
// references to it may be used from any thread.
unsafe impl Send for Region {}
// SAFETY: as above: all access goes through atomics.
unsafe impl Sync for Region {}

fn records_offset() -> usize {
    size_of::<Header>().next_multiple_of(4096)
}

/// Byte offsets of the replay calls and the holes after `records`
/// records and `ops` replay calls, and the region's length.
fn layout(records: usize, ops: usize) -> Option<(usize, usize, usize)> {
    let ops_at = records
        .checked_mul(size_of::<Record>())?
        .checked_add(records_offset())?;
    let holes_at = ops
        .checked_mul(size_of::<ReplayOp>())?
        .checked_add(ops_at)?;
    let len = holes_at.checked_add(MAX_HOLES * size_of::<Hole>())?;
    Some((ops_at, holes_at, len))
}

impl Region {
    /// Maps a zeroed region for `records` loop iterations and `ops` replay
    /// calls (0 but for a replay), with room for [`MAX_HOLES`] holes.
    pub fn new(records: usize, ops: usize) -> std::io::Result<Region> {
        let (_, _, len) = layout(records, ops)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: a fresh anonymous shared mapping; no existing memory is
        // affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Region {
            base: p.cast(),
            len,
            records,
            ops,
        })
    }

    /// The control header.
    pub fn header(&self) -> &Header {
        // SAFETY: the mapping is at least a header long, page-aligned (so
        // aligned for `Header`), zero-filled (a valid `Header`: all atomics)
        // and lives as long as `self`.
        unsafe { &*self.base.cast::<Header>() }
    }

    /// The result array.
    pub fn records(&self) -> &[Record] {
        // SAFETY: `records` zero-filled `Record`s (all atomics) follow the
        // header at a page-aligned offset inside the mapping, which lives as
        // long as `self`.
        unsafe {
            std::slice::from_raw_parts(
                self.base.add(records_offset()).cast::<Record>(),
                self.records,
            )
        }
    }
}

impl Region {
    /// The replay calls.
    pub fn ops(&self) -> &[ReplayOp] {
        let (ops_at, _, _) = layout(self.records, self.ops).unwrap_or_default();
        // SAFETY: `ops` zero-filled `ReplayOp`s (all atomics, 8-byte
        // aligned: they follow the page-aligned records, whose size is a
        // multiple of 8) lie at `ops_at` inside the mapping (`new` checked
        // the layout), which lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.base.add(ops_at).cast::<ReplayOp>(), self.ops) }
    }

    /// The holes array ([`MAX_HOLES`] entries).
    pub fn holes(&self) -> &[Hole] {
        let (_, holes_at, _) = layout(self.records, self.ops).unwrap_or_default();
        // SAFETY: as for `ops`: `MAX_HOLES` zero-filled `Hole`s follow the
        // replay calls inside the mapping.
        unsafe { std::slice::from_raw_parts(self.base.add(holes_at).cast::<Hole>(), MAX_HOLES) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `new` with this length and no
        // reference into it outlives `self`.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// Reads a word (relaxed: the hand-off's ordering comes from `state`).
#[inline]
pub fn get(w: &AtomicU64) -> u64 {
    w.load(Ordering::Relaxed)
}

/// Writes a word (relaxed).
#[inline]
pub fn set(w: &AtomicU64, v: u64) {
    w.store(v, Ordering::Relaxed)
}
