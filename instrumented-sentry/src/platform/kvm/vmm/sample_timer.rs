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
//! `sigev_value`. Ticks that land while the receiving thread is inside
//! `KVM_RUN` ([`InGuestRun`] marks it) are counted apart: several
//! expirations merged into one signal while the vCPU thread was held in
//! `KVM_RUN` (preempted, or in a slow exit) stop the guest once but stand
//! for all of that time, so the guest's share is in-run ticks ÷ ticks.

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
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while this thread is inside `KVM_RUN` (const-initialized, no
    /// destructor: safe to read from the signal handler).
    static IN_KVM_RUN: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as inside `KVM_RUN` until dropped (the thread
/// that calls the ioctl holds one around it).
#[derive(Debug)]
pub struct InGuestRun(());

impl InGuestRun {
    /// Marks the calling thread.
    pub fn enter() -> Self {
        IN_KVM_RUN.with(|c| c.set(true));
        InGuestRun(())
    }
}

impl Drop for InGuestRun {
    fn drop(&mut self) {
        IN_KVM_RUN.with(|c| c.set(false));
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
        if IN_KVM_RUN.try_with(Cell::get).unwrap_or(false) {
            if let Some(t) = IN_RUN_TICKS.get(slot) {
                t.fetch_add(n, Ordering::Relaxed);
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
        let period_ns = 1_000_000_000 / i64::from(hz);
        let period = libc::timespec {
            tv_sec: period_ns / 1_000_000_000,
            tv_nsec: period_ns % 1_000_000_000,
        };
        let spec = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        let this = Self { timer, hz, slot };
        // SAFETY: `timer` was created above; `spec` is valid; no old value.
        let r = unsafe { libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()) };
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

    /// Of those, the ticks that landed while the thread was inside
    /// `KVM_RUN` (see [`InGuestRun`]).
    pub fn in_run_ticks_so_far(&self) -> u64 {
        IN_RUN_TICKS[self.slot].load(Ordering::Relaxed)
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
    fn a_timer_interrupts_a_sleeping_thread_without_breaking_it() {
        let t = SampleTimer::start(current_tid(), 1000).expect("timer");
        // SA_RESTART: the sleep completes despite ~50 ticks.
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(t.ticks_so_far() >= 40);
    }
}
