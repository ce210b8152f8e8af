//! The guest sampler's clock: a POSIX timer that sends a real-time signal
//! to the vCPU thread at a fixed rate, so `KVM_RUN` returns `EINTR` with
//! the guest stopped where it was (`timer_create` with `SIGEV_THREAD_ID`).
//!
//! The handler does nothing: its only job is to make a signal pending on
//! the vCPU thread, which makes KVM leave the guest. It is installed with
//! `SA_RESTART`, so a tick that lands while the thread is outside
//! `KVM_RUN` (in its futex wait, or on the sentry's thread when the vCPU
//! runs there) restarts whatever system call it interrupted; `KVM_RUN`
//! itself is never restarted (it returns `-EINTR`). Such a tick simply
//! finds the vCPU outside the guest and yields no guest sample, which is
//! what makes "in-guest samples ÷ ticks" the guest's share of the time.
//!
//! Ticks are counted, not estimated: the handler (`SA_SIGINFO`) adds one
//! plus the timer's overrun (expirations merged into a signal still
//! pending) to a counter slot whose index travels in the signal's
//! `sigev_value`. Ticks that expired while the receiving thread was inside
//! `KVM_RUN` are counted apart: several expirations merged into one signal
//! while the vCPU thread was held in `KVM_RUN` (preempted, or in a slow
//! exit) stop the guest once but stand for all of that time.
//!
//! A tick is put inside `KVM_RUN` by when it *expired*, not by where its
//! signal was delivered: the timer is armed on an absolute grid (the k-th
//! expiration falls at `start + k·period`), [`InGuestRun`] notes when the
//! thread entered `KVM_RUN`, and the handler counts as in-run only the
//! expirations of its signal at or after that moment. A signal raised
//! while the thread was outside but delivered only after it had entered
//! `KVM_RUN` (the kick to a running thread is an IPI, an exit of its own
//! on a nested host, and the thread may call `KVM_RUN` meanwhile; KVM then
//! returns `EINTR` before the guest ran) is counted as a late tick, not
//! as guest time.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

/// The signal the sampler uses (`SIGRTMIN + 5`; nothing else in sentryprof
/// uses real-time signals).
pub fn sample_signal() -> libc::c_int {
    libc::SIGRTMIN() + 5
}

/// Errors arming the sampler's timer.
#[derive(Debug, thiserror::Error)]
pub enum SampleTimerError {
    /// A rate of 0 or above 100 kHz.
    #[error("guest sampling rate {0} Hz is out of range (1..=100000)")]
    Rate(u32),
    /// A system call failed.
    #[error("{what} failed: {source}")]
    Sys {
        /// Which call.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
}

/// Counter slots of armed timers (an index, not a pointer, travels in the
/// signal, so a signal still queued when its timer is deleted touches a
/// static, never freed memory). Slots are handed out round-robin; more
/// than this many samplers alive at once would share slots.
const TICK_SLOTS: usize = 64;
static TICKS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
static IN_RUN_TICKS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
/// Ticks delivered inside `KVM_RUN` that expired before it was entered.
static LATE_TICKS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
/// Ticks that expired while a sampler stop was being handled (from the
/// `EINTR` return to the next entry): the sampler's own time.
static STOP_TICKS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
/// Each slot's grid: first expiration (`CLOCK_MONOTONIC` ns) and period.
static GRID_START_NS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
static PERIOD_NS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// When this thread entered `KVM_RUN` (`CLOCK_MONOTONIC` ns), 0 while
    /// it is outside (const-initialized, no destructor: safe to read from
    /// the signal handler).
    static RUN_ENTERED_NS: Cell<u64> = const { Cell::new(0) };
    /// When the last `KVM_RUN` of this thread returned for a sampler stop
    /// (`EINTR`), 0 after any other return: the stop is being handled
    /// from then until the next entry.
    static STOP_SINCE_NS: Cell<u64> = const { Cell::new(0) };
}

/// `CLOCK_MONOTONIC` in nanoseconds (async-signal-safe).
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid and writable; clock_gettime is
    // async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// Of the `n` latest expirations up to `now` of a timer that expires at
/// `start + k·period` (k ≥ 0), how many fell at or after `entered`.
pub fn expirations_since(entered: u64, now: u64, start: u64, period: u64, n: u64) -> u64 {
    if period == 0 || now < start {
        return n;
    }
    let last = (now - start) / period;
    let first_in = entered.saturating_sub(start).div_ceil(period);
    if first_in > last {
        0
    } else {
        (last - first_in + 1).min(n)
    }
}

/// Marks the calling thread as inside `KVM_RUN` until dropped (the thread
/// that calls the ioctl holds one around it).
#[derive(Debug)]
pub struct InGuestRun(());

impl InGuestRun {
    /// Marks the calling thread.
    pub fn enter() -> Self {
        let now = monotonic_ns().max(1);
        RUN_ENTERED_NS.with(|c| c.set(now));
        InGuestRun(())
    }
}

impl InGuestRun {
    /// Marks the calling thread as outside `KVM_RUN` again; `stopped`: the
    /// run returned for a sampler stop (`EINTR`), whose handling starts now.
    pub fn leave(self, stopped: bool) {
        let since = if stopped { monotonic_ns().max(1) } else { 0 };
        STOP_SINCE_NS.with(|c| c.set(since));
    }
}

impl Drop for InGuestRun {
    fn drop(&mut self) {
        RUN_ENTERED_NS.with(|c| c.set(0));
    }
}

extern "C" fn on_tick(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if info.is_null() {
        return;
    }
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // for a POSIX timer signal (SI_TIMER) its timer fields are the ones set.
    let (code, overrun, slot) = unsafe {
        (
            (*info).si_code,
            (*info).si_overrun(),
            (*info).si_value().sival_ptr as usize,
        )
    };
    if code == libc::SI_TIMER {
        let n = 1 + u64::try_from(overrun).unwrap_or(0);
        if let Some(t) = TICKS.get(slot) {
            // Atomic add: async-signal-safe.
            t.fetch_add(n, Ordering::Relaxed);
        }
        let entered = RUN_ENTERED_NS.try_with(Cell::get).unwrap_or(0);
        let stop_since = STOP_SINCE_NS.try_with(Cell::get).unwrap_or(0);
        if slot < TICK_SLOTS && (entered != 0 || stop_since != 0) {
            let start = GRID_START_NS[slot].load(Ordering::Relaxed);
            let period = PERIOD_NS[slot].load(Ordering::Relaxed);
            let now = monotonic_ns();
            let since = |t: u64| {
                if t == 0 {
                    0
                } else {
                    expirations_since(t, now, start, period, n)
                }
            };
            let in_run = since(entered);
            let in_stop = since(stop_since).saturating_sub(in_run);
            IN_RUN_TICKS[slot].fetch_add(in_run, Ordering::Relaxed);
            STOP_TICKS[slot].fetch_add(in_stop, Ordering::Relaxed);
            if entered != 0 {
                LATE_TICKS[slot].fetch_add(n - in_run - in_stop, Ordering::Relaxed);
            }
        }
    }
}

fn install_handler() -> Result<(), SampleTimerError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        // SAFETY: `sigaction` is plain data; zeroed is a valid empty set of
        // flags and mask.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction =
            on_tick as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
        act.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
        // SAFETY: `act` is valid for the call; the handler is
        // async-signal-safe (it does nothing); the old action is not asked.
        let r = unsafe { libc::sigaction(sample_signal(), &act, std::ptr::null_mut()) };
        if r != 0 {
            result = Err(SampleTimerError::Sys {
                what: "sigaction",
                source: std::io::Error::last_os_error(),
            });
        }
    });
    result
}

/// The calling thread's kernel thread id.
pub fn current_tid() -> libc::pid_t {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// An armed timer that signals one thread `hz` times a second; disarmed and
/// deleted on drop.
#[derive(Debug)]
pub struct SampleTimer {
    timer: libc::timer_t,
    hz: u32,
    slot: usize,
}

// SAFETY: `timer_t` is an opaque kernel timer id, usable from any thread of
// the process.
unsafe impl Send for SampleTimer {}

impl SampleTimer {
    /// Arms a timer (`CLOCK_MONOTONIC`) that sends [`sample_signal`] to
    /// thread `tid` of this process `hz` times a second.
    pub fn start(tid: libc::pid_t, hz: u32) -> Result<Self, SampleTimerError> {
        if hz == 0 || hz > 100_000 {
            return Err(SampleTimerError::Rate(hz));
        }
        install_handler()?;
        // SAFETY: `sigevent` is plain data; zeroed is valid.
        let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
        sev.sigev_notify = libc::SIGEV_THREAD_ID;
        sev.sigev_signo = sample_signal();
        sev.sigev_notify_thread_id = tid;
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % TICK_SLOTS;
        TICKS[slot].store(0, Ordering::Relaxed);
        IN_RUN_TICKS[slot].store(0, Ordering::Relaxed);
        LATE_TICKS[slot].store(0, Ordering::Relaxed);
        STOP_TICKS[slot].store(0, Ordering::Relaxed);
        sev.sigev_value = libc::sigval {
            sival_ptr: slot as *mut libc::c_void,
        };
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: `sev` and `timer` are valid for the call; the kernel
        // checks that `tid` is a thread of this process.
        let r = unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut sev, &mut timer) };
        if r != 0 {
            return Err(SampleTimerError::Sys {
                what: "timer_create",
                source: std::io::Error::last_os_error(),
            });
        }
        let period_ns = 1_000_000_000 / u64::from(hz);
        // An absolute grid: the k-th expiration falls at `first + k·period`.
        let first = monotonic_ns() + period_ns;
        GRID_START_NS[slot].store(first, Ordering::Relaxed);
        PERIOD_NS[slot].store(period_ns, Ordering::Relaxed);
        let timespec = |ns: u64| libc::timespec {
            tv_sec: (ns / 1_000_000_000) as libc::time_t,
            tv_nsec: (ns % 1_000_000_000) as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: timespec(period_ns),
            it_value: timespec(first),
        };
        let this = Self { timer, hz, slot };
        // SAFETY: `timer` was created above; `spec` is valid; no old value.
        let r = unsafe {
            libc::timer_settime(timer, libc::TIMER_ABSTIME, &spec, std::ptr::null_mut())
        };
        if r != 0 {
            return Err(SampleTimerError::Sys {
                what: "timer_settime",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(this)
    }

    /// The rate asked for.
    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// Ticks delivered since the timer was armed (counted by the handler,
    /// overruns included).
    pub fn ticks_so_far(&self) -> u64 {
        TICKS[self.slot].load(Ordering::Relaxed)
    }

    /// Of those, the ticks that expired while the thread was inside
    /// `KVM_RUN` (see [`InGuestRun`]).
    pub fn in_run_ticks_so_far(&self) -> u64 {
        IN_RUN_TICKS[self.slot].load(Ordering::Relaxed)
    }

    /// Ticks that expired while a sampler stop was being handled.
    pub fn stop_ticks_so_far(&self) -> u64 {
        STOP_TICKS[self.slot].load(Ordering::Relaxed)
    }

    /// Ticks delivered inside `KVM_RUN` that had expired before the thread
    /// entered it, outside a stop (counted as outside).
    pub fn late_ticks_so_far(&self) -> u64 {
        LATE_TICKS[self.slot].load(Ordering::Relaxed)
    }
}

impl Drop for SampleTimer {
    fn drop(&mut self) {
        // SAFETY: `timer` was created by `start` and is deleted once here.
        unsafe { libc::timer_delete(self.timer) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_out_of_range_are_refused() {
        assert!(matches!(
            SampleTimer::start(current_tid(), 0),
            Err(SampleTimerError::Rate(0))
        ));
        assert!(matches!(
            SampleTimer::start(current_tid(), 200_000),
            Err(SampleTimerError::Rate(200_000))
        ));
    }

    #[test]
    fn expirations_are_put_inside_the_run_by_when_they_fell() {
        // Grid 1000, 1100, 1200, ...; the run entered at 1250.
        // now 1420: latest expiration 1400; of 3 merged (1200, 1300,
        // 1400) two fell inside.
        assert_eq!(expirations_since(1250, 1420, 1000, 100, 3), 2);
        // Entered exactly on an expiration: it counts as inside.
        assert_eq!(expirations_since(1300, 1420, 1000, 100, 3), 2);
        // Delivered inside, but expired before the run was entered.
        assert_eq!(expirations_since(1410, 1420, 1000, 100, 1), 0);
        // Entered before the grid started: every merged expiration.
        assert_eq!(expirations_since(500, 1420, 1000, 100, 5), 5);
        // Never more than the signal stands for.
        assert_eq!(expirations_since(500, 1420, 1000, 100, 2), 2);
    }

    #[test]
    fn a_timer_interrupts_a_sleeping_thread_without_breaking_it() {
        let t = SampleTimer::start(current_tid(), 1000).expect("timer");
        // SA_RESTART: the sleep completes despite ~50 ticks.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(t.ticks_so_far() >= 40);
    }
}
