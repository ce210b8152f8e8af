//! `KVM_RUN` on a thread of its own, so the sentry's thread stays warm.
//!
//! Measured on this machine's PVM hypervisor (`cargo bench -p
//! instrumented-sentry --bench kvm_exits`): every guest exit leaves the core
//! that ran the vCPU cold (caches, TLB, branch predictors). The memory
//! manager's `mmap`, 700–900 cycles back to back, takes about 5k cycles when
//! it runs on that core right after an exit. So the vCPU runs on a separate thread (a "vCPU
//! thread", the shape of a VMM's vCPU loop) and the sentry handles each exit
//! on its own thread, whose core never enters the guest. The two hand over
//! through one cache line each way: the sentry asks for a run, the vCPU
//! thread enters the guest and reports when `KVM_RUN` returned. Each side
//! spins for a short while (an exit round trip here is ~20 µs) and then
//! sleeps on a futex, so an idle VM costs no CPU.
//!
//! The system call block travels in those same lines: after each exit the
//! vCPU thread copies the guest's call number and arguments (written by the
//! guest on the vCPU thread's core) into its reply, and before each entry it
//! copies the sentry's result into the guest's shared page. So a system call
//! moves one cache line each way between the cores, not four (measured here:
//! each line that crosses costs ~200 cycles).
//!
//! Placement is chosen at run time ([`VcpuPlacement::detect`]): with fewer
//! than two CPUs to run on, the handover would only add latency, and
//! `KVM_RUN` is called on the sentry's thread instead.
//! `SENTRYPROF_VCPU_PLACEMENT` (`own-thread`, `sentry-thread`,
//! `pinned-apart`) overrides the rule. Measured side by side (docs/kvm.md,
//! "Where `KVM_RUN` runs"): near idle the three cost the workload the same
//! per call (~40 µs); with the two CPUs loaded the sentry's thread costs
//! least (~57 µs against ~84 pinned apart and ~93–105 on its own thread).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::sample_timer::InGuestRun;
use crate::platform::boundary::monotonic_ns;
pub use crate::platform::cpu_affinity::usable_cpus;
use crate::platform::cpu_affinity::{first_two_cpus, one_cpu, set_affinity};

/// `KVM_RUN`: `_IO(KVMIO = 0xAE, 0x80)`.
const KVM_RUN: libc::c_ulong = 0xAE80;

/// `KVM_GET_REGS`: `_IOR(KVMIO = 0xAE, 0x81, struct kvm_regs)` (144 bytes).
const KVM_GET_REGS: libc::c_ulong =
    (2 << 30) | ((std::mem::size_of::<kvm_bindings::kvm_regs>() as libc::c_ulong) << 16) | 0xAE81;
const _: () = assert!(std::mem::size_of::<kvm_bindings::kvm_regs>() == 144);

/// What the vCPU thread does when `KVM_RUN` returns for a signal (a
/// sampler stop), before it would report the stop to the sentry: `true`
/// if it handled the stop, and the guest runs again at once.
pub trait StopHandler: Send {
    /// Handles a stop of the vCPU `regs` reads (on the thread that ran it).
    fn on_stop(&mut self, regs: &StopRegs) -> bool;
}

/// Reply payload of an interrupted run (`KVM_RUN` returned `EINTR` or
/// `EAGAIN`: a sampler stop): `[STOP_REGS_VALID, rip, rbp, rsp, 0...]`,
/// the registers read by the vCPU thread itself, so the sentry's thread
/// needs no `KVM_GET_REGS` of its own (which would load the vCPU's state
/// on the sentry's core and back again on the next run).
pub const STOP_REGS_VALID: u64 = 0x5354_4f50_5245_4753;

/// Reads a stopped vCPU's `rip`, `rbp` and `rsp`, on the thread that ran
/// it. While the vCPU's `kvm_run` page asks for them
/// (`kvm_valid_regs` has `KVM_SYNC_X86_REGS`: `KVM_CAP_SYNC_REGS`), KVM
/// stored them there as `KVM_RUN` returned, and reading them takes no
/// system call; otherwise `KVM_GET_REGS` (measured here: ~14k TSC cycles,
/// ~5 µs, a vCPU load and put on this nested host).
#[derive(Debug, Clone, Copy)]
pub struct StopRegs {
    fd: RawFd,
    /// Host address of the vCPU's `kvm_run` page (0: none, use the ioctl).
    run: usize,
}

impl StopRegs {
    /// Registers of vCPU `fd`, whose `kvm_run` page is mapped at `run`
    /// (0: not known).
    ///
    /// # Safety
    /// `run`, if not 0, must be the vCPU's live `kvm_run` mapping for as
    /// long as this value is used.
    pub unsafe fn new(fd: RawFd, run: usize) -> Self {
        Self { fd, run }
    }

    /// The guest's `rip`, `rbp`, `rsp`; `None` if they could not be read.
    pub fn read(&self) -> Option<[u64; 3]> {
        if self.run != 0 {
            let run = self.run as *const kvm_bindings::kvm_run;
            // SAFETY: `run` is the live `kvm_run` mapping (`new`'s
            // contract); the vCPU is stopped on this very thread, so KVM
            // does not write the page meanwhile; volatile: shared with
            // the kernel.
            let valid = unsafe { std::ptr::addr_of!((*run).kvm_valid_regs).read_volatile() };
            if valid & u64::from(kvm_bindings::KVM_SYNC_X86_REGS) != 0 {
                // SAFETY: as above; `s.regs.regs` is plain data that KVM
                // filled as the run returned (KVM_SYNC_X86_REGS asked).
                let r = unsafe { std::ptr::addr_of!((*run).s.regs.regs).read_volatile() };
                return Some([r.rip, r.rbp, r.rsp]);
            }
        }
        let mut regs = kvm_bindings::kvm_regs::default();
        // SAFETY: `fd` is a vCPU descriptor kept open by its owner; the
        // ioctl writes one `kvm_regs` (size checked above) into `regs`.
        let r = unsafe {
            libc::ioctl(
                self.fd,
                KVM_GET_REGS,
                &mut regs as *mut kvm_bindings::kvm_regs,
            )
        };
        (r == 0).then_some([regs.rip, regs.rbp, regs.rsp])
    }
}

/// How long a side spins before it sleeps, in TSC cycles (~80 µs here:
/// several exit round trips, far less than a scheduler tick).
const SPIN_CYCLES: u64 = 200_000;

/// Where `KVM_RUN` is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VcpuPlacement {
    /// On a thread of its own; the sentry waits for each exit.
    OwnThread,
    /// On the sentry's thread (its caches go cold at every exit).
    SentryThread,
    /// On a thread of its own pinned to one CPU, with the sentry's thread
    /// pinned to another for the VM's lifetime ([`pinned_cpus`]).
    PinnedApart,
}

/// Environment variable that chooses the placement
/// ([`VcpuPlacement::from_name`]); unset: [`VcpuPlacement::detect`]'s rule.
pub const PLACEMENT_ENV: &str = "SENTRYPROF_VCPU_PLACEMENT";

impl VcpuPlacement {
    /// The placement `SENTRYPROF_VCPU_PLACEMENT` names, if set and valid
    /// (an unknown value is reported on stderr once and ignored); else
    /// `OwnThread` if this process may run on at least two CPUs, else
    /// `SentryThread`. A placement needing two CPUs falls back to
    /// `SentryThread` with one.
    pub fn detect() -> Self {
        let chosen = Self::from_env().unwrap_or_else(|v| {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                eprintln!(
                    "{PLACEMENT_ENV}={v:?}: unknown placement (own-thread, sentry-thread, \
                     pinned-apart); using the default"
                )
            });
            None
        });
        match chosen {
            Some(Self::SentryThread) => Self::SentryThread,
            Some(Self::PinnedApart) if pinned_cpus().is_some() => Self::PinnedApart,
            Some(_) | None if usable_cpus() >= 2 => Self::OwnThread,
            _ => Self::SentryThread,
        }
    }

    /// The placement `SENTRYPROF_VCPU_PLACEMENT` names: `Ok(None)` if it is
    /// unset, `Err(value)` if it names none (front ends check this first,
    /// to refuse the input; [`VcpuPlacement::detect`] only warns).
    pub fn from_env() -> Result<Option<Self>, String> {
        match std::env::var(PLACEMENT_ENV) {
            Ok(v) => Self::from_name(&v).map(Some).ok_or(v),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(v.to_string_lossy().into_owned()),
        }
    }

    /// The placement `name` names: `own-thread`, `sentry-thread` or
    /// `pinned-apart`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim() {
            "own-thread" => Some(Self::OwnThread),
            "sentry-thread" => Some(Self::SentryThread),
            "pinned-apart" => Some(Self::PinnedApart),
            _ => None,
        }
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::OwnThread => "own thread",
            Self::SentryThread => "sentry thread",
            Self::PinnedApart => "own thread, pinned apart",
        }
    }
}

/// The CPUs `PinnedApart` uses, `(vcpu, sentry)`: the first two of the
/// process's affinity mask as first read; `None` with fewer than two.
pub fn pinned_cpus() -> Option<(usize, usize)> {
    static CPUS: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    *CPUS.get_or_init(first_two_cpus)
}

/// Calls `KVM_RUN` on `fd` on the calling thread; `Err(errno)` on failure.
pub fn kvm_run_here(fd: RawFd) -> Result<(), i32> {
    let in_run = InGuestRun::enter();
    // SAFETY: `fd` is a vCPU file descriptor kept open by its owner for the
    // duration of the call; KVM_RUN takes no argument.
    let r = unsafe { libc::ioctl(fd, KVM_RUN, 0) };
    let ran = if r < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(())
    };
    in_run.leave(is_stop(ran));
    ran
}

/// Whether `KVM_RUN` returned for a signal (a sampler stop).
pub fn is_stop(ran: Result<(), i32>) -> bool {
    matches!(ran, Err(e) if e == libc::EINTR || e == libc::EAGAIN)
}

fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Words of payload a handover carries (one 64-byte line with the header).
pub const PAYLOAD_WORDS: usize = 7;

/// One direction of the handover: a sequence number, a count of sleepers
/// (so the publisher knows whether to wake anyone), a status (the errno of
/// `KVM_RUN`, in replies) and a payload, in one cache line of its own.
#[repr(C, align(128))]
#[derive(Default)]
struct Signal {
    seq: AtomicU32,
    sleepers: AtomicU16,
    status: AtomicU16,
    payload: [AtomicU64; PAYLOAD_WORDS],
}

impl Signal {
    fn write_payload(&self, words: &[u64; PAYLOAD_WORDS]) {
        for (slot, w) in self.payload.iter().zip(words) {
            slot.store(*w, Ordering::Relaxed);
        }
    }

    /// The payload published with the sequence number last seen (Acquire).
    fn read_payload(&self) -> [u64; PAYLOAD_WORDS] {
        let mut out = [0u64; PAYLOAD_WORDS];
        for (o, slot) in out.iter_mut().zip(&self.payload) {
            *o = slot.load(Ordering::Relaxed);
        }
        out
    }

    fn publish(&self, value: u32) {
        self.seq.store(value, Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            // SAFETY: futex on a live, aligned u32 owned by this `Signal`;
            // FUTEX_WAKE takes no pointers besides it.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.seq.as_ptr(),
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    i32::MAX,
                );
            }
        }
    }

    /// Returns once `seq` has moved away from `old` (spins, then sleeps).
    fn wait_past(&self, old: u32) -> u32 {
        let start = rdtsc();
        loop {
            let now = self.seq.load(Ordering::Acquire);
            if now != old {
                return now;
            }
            if rdtsc().wrapping_sub(start) > SPIN_CYCLES {
                break;
            }
            std::hint::spin_loop();
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            if self.seq.load(Ordering::SeqCst) == old {
                // SAFETY: futex on a live, aligned u32 owned by this
                // `Signal`; the kernel sleeps only while it still holds
                // `old`, so a publish between the check and the call is not
                // lost; a null timeout waits until woken.
                unsafe {
                    libc::syscall(
                        libc::SYS_futex,
                        self.seq.as_ptr(),
                        libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                        old,
                        std::ptr::null::<libc::timespec>(),
                    );
                }
            }
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            let now = self.seq.load(Ordering::Acquire);
            if now != old {
                return now;
            }
        }
    }
}

/// Where the guest's system call block lies in host memory: the call
/// number and six arguments (seven consecutive u64) and the result slot.
#[derive(Debug, Clone, Copy)]
pub struct CallBlock {
    call: *const u64,
    result: *mut u64,
}

// SAFETY: the pointers are only dereferenced by the vCPU thread while the
// vCPU is stopped and the sentry is waiting for it (the handover orders
// those accesses); `CallBlock::new`'s contract keeps the memory alive.
unsafe impl Send for CallBlock {}

impl CallBlock {
    /// # Safety
    /// `call` must be valid for reads of seven u64 and `result` for writes
    /// of one u64, both 8-aligned, for as long as the [`VcpuThread`] given
    /// this block lives.
    pub unsafe fn new(call: u64, result: u64) -> Self {
        Self {
            call: call as *const u64,
            result: result as *mut u64,
        }
    }

    fn read_call(self) -> [u64; PAYLOAD_WORDS] {
        let mut out = [0u64; PAYLOAD_WORDS];
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: within the seven readable words (`new`'s contract);
            // volatile: guest memory the compiler must not cache.
            *o = unsafe { std::ptr::read_volatile(self.call.add(i)) };
        }
        out
    }

    fn write_result(self, value: u64) {
        // SAFETY: writable and aligned (`new`'s contract); the vCPU is
        // stopped, so the guest does not race this write.
        unsafe { std::ptr::write_volatile(self.result, value) };
    }
}

/// Request payload: `[result, 1 if a result is to be written, 0...]`.
const REQ_RESULT: usize = 0;
const REQ_HAS_RESULT: usize = 1;

#[derive(Default)]
struct Shared {
    /// Sentry → vCPU thread: runs asked for (payload: the result to hand
    /// the guest).
    request: Signal,
    /// vCPU thread → sentry: runs finished (status: 0 or the errno of
    /// `KVM_RUN`; payload: the call block).
    reply: Signal,
    stop: AtomicBool,
    /// The vCPU thread's kernel thread id (0 until it has started).
    tid: AtomicI32,
    /// TSC cycles spent inside `KVM_RUN` so far (rdtsc around each call,
    /// on the vCPU thread).
    in_run_cycles: AtomicU64,
    /// TSC cycles spent handling sampler stops so far (from a `KVM_RUN`
    /// that returned `EINTR` to the next entry).
    stop_cycles: AtomicU64,
    /// Handles stops on the vCPU thread while set (the sentry sets and
    /// clears it between runs, when the vCPU thread is waiting).
    stop_handler: Mutex<Option<Box<dyn StopHandler>>>,
    /// Whether to stamp each run's `KVM_RUN` entry and return
    /// (`CLOCK_MONOTONIC`, for the boundary join).
    stamp_runs: AtomicBool,
    /// `CLOCK_MONOTONIC` ns when the last `KVM_RUN` of the last run was
    /// entered and when it returned (while `stamp_runs`).
    run_entered_ns: AtomicU64,
    run_left_ns: AtomicU64,
}

/// The vCPU thread of one VM.
pub struct VcpuThread {
    shared: Arc<Shared>,
    runs: u32,
    handle: Option<JoinHandle<()>>,
}

/// Errors starting the vCPU thread.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the vCPU thread: {0}")]
pub struct VcpuThreadError(#[from] std::io::Error);

impl VcpuThread {
    /// Starts a thread that calls `KVM_RUN` on `fd` whenever
    /// [`VcpuThread::run`] asks, carrying `block` across. The caller keeps
    /// `fd` open until this is dropped (the drop joins the thread); `run`
    /// is the vCPU's `kvm_run` page, where stop registers are read from.
    ///
    /// # Safety
    /// `run` as for [`StopRegs::new`], for as long as the thread lives.
    pub unsafe fn start(fd: RawFd, run: usize, block: CallBlock) -> Result<Self, VcpuThreadError> {
        // SAFETY: passed on from this function's contract.
        unsafe { Self::start_on(fd, run, block, None) }
    }

    /// [`VcpuThread::start`], the thread pinned to `cpu` if given (if the
    /// pin is refused it runs unpinned).
    ///
    /// # Safety
    /// As for [`VcpuThread::start`].
    pub unsafe fn start_on(
        fd: RawFd,
        run: usize,
        block: CallBlock,
        cpu: Option<usize>,
    ) -> Result<Self, VcpuThreadError> {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("sentryprof-vcpu".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    set_affinity(0, &one_cpu(cpu));
                }
                // SAFETY: passed on from this function's contract.
                let regs = unsafe { StopRegs::new(fd, run) };
                vcpu_loop(fd, regs, &theirs, block)
            })?;
        Ok(Self {
            shared,
            runs: 0,
            handle: Some(handle),
        })
    }

    /// The vCPU thread's kernel thread id (waits until it has started).
    pub fn tid(&self) -> libc::pid_t {
        loop {
            let t = self.shared.tid.load(Ordering::Acquire);
            if t != 0 {
                return t;
            }
            std::thread::yield_now();
        }
    }

    /// TSC cycles the vCPU thread has spent inside `KVM_RUN` so far (read
    /// between runs, when the thread is waiting).
    pub fn cycles_in_run(&self) -> u64 {
        self.shared.in_run_cycles.load(Ordering::Acquire)
    }

    /// Sets (or clears) what handles sampler stops on the vCPU thread
    /// (called between runs).
    pub fn set_stop_handler(&self, handler: Option<Box<dyn StopHandler>>) {
        *self
            .shared
            .stop_handler
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = handler;
    }

    /// Stamp, from the next run on, when `KVM_RUN` is entered and when it
    /// returns (`on`), or stop (called between runs).
    pub fn stamp_runs(&self, on: bool) {
        self.shared.stamp_runs.store(on, Ordering::Release);
    }

    /// `CLOCK_MONOTONIC` ns when the last `KVM_RUN` (the one that ended the
    /// last run) was entered and when it returned; `None` unless stamping
    /// ([`VcpuThread::stamp_runs`]). Read between runs.
    pub fn last_run_ns(&self) -> Option<(u64, u64)> {
        if !self.shared.stamp_runs.load(Ordering::Acquire) {
            return None;
        }
        let entered = self.shared.run_entered_ns.load(Ordering::Acquire);
        let left = self.shared.run_left_ns.load(Ordering::Acquire);
        (entered != 0 && left >= entered).then_some((entered, left))
    }

    /// TSC cycles spent handling sampler stops so far (read between runs).
    pub fn cycles_in_stops(&self) -> u64 {
        self.shared.stop_cycles.load(Ordering::Acquire)
    }

    /// The guest's `rip`, `rbp`, `rsp` the vCPU thread read when the last
    /// run was interrupted (a sampler stop), if it could.
    pub fn stop_regs(&self) -> Option<[u64; 3]> {
        let p = self.shared.reply.read_payload();
        (p[0] == STOP_REGS_VALID).then_some([p[1], p[2], p[3]])
    }

    /// Runs the vCPU once on the vCPU thread and waits until `KVM_RUN`
    /// returns; `Err(errno)` if it failed. `result`, if any, is written to
    /// the call block's result slot before the guest runs. Returns the
    /// call block as the guest left it (meaningful after a system call
    /// exit); the exit itself is read from the vCPU's `kvm_run` page.
    pub fn run(&mut self, result: Option<u64>) -> Result<[u64; PAYLOAD_WORDS], i32> {
        let mut words = [0u64; PAYLOAD_WORDS];
        if let Some(v) = result {
            words[REQ_RESULT] = v;
            words[REQ_HAS_RESULT] = 1;
        }
        self.shared.request.write_payload(&words);
        let asked = self.runs;
        self.runs = self.runs.wrapping_add(1);
        self.shared.request.publish(self.runs);
        self.shared.reply.wait_past(asked);
        match self.shared.reply.status.load(Ordering::Acquire) {
            0 => Ok(self.shared.reply.read_payload()),
            e => Err(i32::from(e)),
        }
    }
}

fn vcpu_loop(fd: RawFd, regs: StopRegs, shared: &Shared, block: CallBlock) {
    // SAFETY: gettid has no preconditions.
    shared
        .tid
        .store(unsafe { libc::gettid() }, Ordering::Release);
    let mut seen = 0u32;
    let mut stop_began = None;
    loop {
        seen = shared.request.wait_past(seen);
        if shared.stop.load(Ordering::Acquire) {
            return;
        }
        let asked = shared.request.read_payload();
        if asked[REQ_HAS_RESULT] != 0 {
            block.write_result(asked[REQ_RESULT]);
        }
        let stamp = shared.stamp_runs.load(Ordering::Acquire);
        let ran = loop {
            let entered = rdtsc();
            if let Some(began) = stop_began.take() {
                shared
                    .stop_cycles
                    .fetch_add(entered.wrapping_sub(began), Ordering::Release);
            }
            if stamp {
                shared
                    .run_entered_ns
                    .store(monotonic_ns(), Ordering::Relaxed);
            }
            let ran = kvm_run_here(fd);
            if stamp {
                shared.run_left_ns.store(monotonic_ns(), Ordering::Relaxed);
            }
            let left = rdtsc();
            shared
                .in_run_cycles
                .fetch_add(left.wrapping_sub(entered), Ordering::Release);
            stop_began = is_stop(ran).then_some(left);
            if is_stop(ran) && handled_here(shared, &regs) {
                continue;
            }
            break ran;
        };
        let status = match ran {
            Ok(()) => 0,
            Err(e) => u16::try_from(e).unwrap_or(u16::MAX),
        };
        let payload = if is_stop(ran) {
            stop_payload(&regs)
        } else {
            block.read_call()
        };
        shared.reply.write_payload(&payload);
        shared.reply.status.store(status, Ordering::Relaxed);
        shared.reply.publish(seen);
    }
}

/// Whether the stop handler, if one is set, handled a stop.
fn handled_here(shared: &Shared, regs: &StopRegs) -> bool {
    let mut h = shared
        .stop_handler
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    h.as_mut().is_some_and(|h| h.on_stop(regs))
}

/// The reply payload of a sampler stop (see [`STOP_REGS_VALID`]); all
/// zeros if the registers could not be read.
fn stop_payload(regs: &StopRegs) -> [u64; PAYLOAD_WORDS] {
    let mut out = [0u64; PAYLOAD_WORDS];
    if let Some([rip, rbp, rsp]) = regs.read() {
        out[..4].copy_from_slice(&[STOP_REGS_VALID, rip, rbp, rsp]);
    }
    out
}

impl Drop for VcpuThread {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.request.publish(self.runs.wrapping_add(1));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl std::fmt::Debug for VcpuThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuThread")
            .field("runs", &self.runs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_wait_returns_the_published_value_across_threads() {
        let shared = Arc::new(Shared::default());
        let theirs = Arc::clone(&shared);
        // The other side answers each request with its number plus 100 in
        // the payload, after sleeping past the spin window now and then.
        let t = std::thread::spawn(move || {
            let mut seen = 0u32;
            for round in 0..50u32 {
                seen = theirs.request.wait_past(seen);
                if round % 10 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                let mut words = [0u64; PAYLOAD_WORDS];
                words[0] = u64::from(seen) + 100;
                theirs.reply.write_payload(&words);
                theirs.reply.publish(seen);
            }
        });
        for n in 1..=50u32 {
            shared.request.publish(n);
            assert_eq!(shared.reply.wait_past(n - 1), n);
            assert_eq!(shared.reply.read_payload()[0], u64::from(n) + 100);
        }
        t.join().expect("answering thread");
    }

    #[test]
    fn a_vcpu_thread_that_never_ran_stops_on_drop() {
        // fd -1: never used, because nothing asks for a run.
        // SAFETY: the block is never dereferenced (no run is asked for).
        let block = unsafe { CallBlock::new(8, 16) };
        // SAFETY: no `kvm_run` page (0): nothing is read through it.
        let t = unsafe { VcpuThread::start(-1, 0, block) }.expect("thread");
        drop(t);
    }

    #[test]
    fn kvm_run_on_a_bad_fd_reports_the_errno() {
        assert_eq!(kvm_run_here(-1), Err(libc::EBADF));
    }

    #[test]
    fn placement_detection_follows_the_cpu_count() {
        let expected = if usable_cpus() >= 2 {
            VcpuPlacement::OwnThread
        } else {
            VcpuPlacement::SentryThread
        };
        if std::env::var_os(PLACEMENT_ENV).is_none() {
            assert_eq!(VcpuPlacement::detect(), expected);
        }
    }

    #[test]
    fn placement_names_parse_and_unknown_names_do_not() {
        for (name, p) in [
            ("own-thread", VcpuPlacement::OwnThread),
            ("sentry-thread", VcpuPlacement::SentryThread),
            ("pinned-apart", VcpuPlacement::PinnedApart),
        ] {
            assert_eq!(VcpuPlacement::from_name(name), Some(p));
        }
        assert_eq!(VcpuPlacement::from_name("own"), None);
        assert_eq!(VcpuPlacement::from_name(""), None);
    }
}
