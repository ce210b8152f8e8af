//! The guest sampler's clock: a POSIX timer that sends a real-time signal
//! to the vCPU thread at random instants (`hz` a second on average), so
//! `KVM_RUN` returns `EINTR` with the guest stopped where it was
//! (`timer_create` with `SIGEV_THREAD_ID`).
//!
//! The handler's main job is to make a signal pending on the vCPU thread,
//! which makes KVM leave the guest. It is installed with `SA_RESTART`, so
//! a tick that lands while the thread is outside `KVM_RUN` (in its futex
//! wait, or on the sentry's thread when the vCPU runs there) restarts
//! whatever system call it interrupted; `KVM_RUN` itself is never
//! restarted (it returns `-EINTR`). Such a tick finds the vCPU outside the
//! guest and yields no guest sample, which is what makes "in-guest samples
//! ÷ ticks" the guest's share of the time.
//!
//! **Random instants.** The timers are one-shot; each handler re-arms the
//! timer that fired at the last armed expiration plus an exponential gap
//! (mean 1/hz): the ticks are a Poisson process. With a fixed period the sampler's own effects
//! lock the runs onto its phase (a stop ends a run just after a tick; the
//! signal that wakes the vCPU thread lets it enter `KVM_RUN` just after
//! one), and the ticks inside runs stop being proportional to the runs'
//! time (measured: −6% to +7%); exponential gaps are memoryless.
//!
//! **Two timers, one tick ahead.** Each sampler has two timers whose
//! expirations alternate: when one fires, the other already holds the next
//! instant, and the handler arms the fired one for the instant after it.
//! Re-arming a single timer for the next instant made it the CPU's
//! earliest timer every time, so `timer_settime` reprogrammed the local
//! timer (the TSC deadline, a trap to the outer hypervisor on this nested
//! host: ~13.6k TSC cycles, ~5 µs, on the vCPU's stopped time per tick).
//! Armed one instant further out, it is queued behind the other timer and
//! the hardware timer is left as it is.
//!
//! **Counted by when they expired.** The handler (`SA_SIGINFO`) counts each
//! tick into a slot whose index travels in the signal's `sigev_value`, and
//! puts it by the time its expiration was armed for: inside `KVM_RUN` (at
//! or after the moment [`InGuestRun`] noted the thread entered it),
//! inside the handling of a sampler stop (from the `EINTR` return to the
//! next entry: the sampler's own time, counted apart), or late (delivered
//! inside `KVM_RUN` but expired before it was entered: the kick to a
//! running thread is an IPI, an exit of its own on a nested host, and the
//! thread may call `KVM_RUN` meanwhile; KVM then returns `EINTR` before the
//! guest ran). An expiration that is already past when re-armed fires at
//! once, so a vCPU thread held inside `KVM_RUN` (preempted) gets every
//! expiration of that time, each counted inside.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Once;

// clock_gettime through the vDSO: async-signal-safe, used in the handler.
use crate::platform::boundary::monotonic_ns;

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
/// Indexed by `slot * 2 + k` for the slot's timer `k` (0 or 1): its id
/// (`timer_t`, re-armed by the handler) and the time its armed expiration
/// falls at (`CLOCK_MONOTONIC` ns).
static TIMER_ID: [AtomicUsize; 2 * TICK_SLOTS] = [const { AtomicUsize::new(0) }; 2 * TICK_SLOTS];
static NEXT_AT_NS: [AtomicU64; 2 * TICK_SLOTS] = [const { AtomicU64::new(0) }; 2 * TICK_SLOTS];
/// Each slot's latest armed expiration (the next gap starts from it), the
/// mean gap between expirations and the state of its random gaps.
static LAST_AT_NS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
static MEAN_NS: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
static RNG: [AtomicU64; TICK_SLOTS] = [const { AtomicU64::new(0) }; TICK_SLOTS];
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

/// The next gap between two expirations, in nanoseconds: exponential
/// with mean `mean` (so the expirations are a Poisson process), drawn
/// with xorshift64* from `state`; kept within 1 µs and 20 means.
/// Async-signal-safe (no allocation, no locks).
pub fn exponential_gap(state: &mut u64, mean: u64) -> u64 {
    let mut x = (*state).max(1);
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
    let u = ((r >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let gap = -u.ln() * mean as f64;
    (gap as u64).clamp(1_000, mean.saturating_mul(20).max(1_000))
}

/// Arms `timer` to expire once at `at` (`CLOCK_MONOTONIC` ns).
/// Async-signal-safe (`timer_settime`).
fn arm_at(timer: libc::timer_t, at: u64) -> libc::c_int {
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (at / 1_000_000_000) as libc::time_t,
            tv_nsec: (at % 1_000_000_000) as libc::c_long,
        },
    };
    // SAFETY: `spec` is valid for the call; a deleted or foreign `timer`
    // makes the call fail with EINVAL, nothing else.
    unsafe { libc::timer_settime(timer, libc::TIMER_ABSTIME, &spec, std::ptr::null_mut()) }
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
    let (code, overrun, which) = unsafe {
        (
            (*info).si_code,
            (*info).si_overrun(),
            (*info).si_value().sival_ptr as usize,
        )
    };
    let slot = which / 2;
    if code != libc::SI_TIMER || slot >= TICK_SLOTS {
        return;
    }
    // Atomic adds: async-signal-safe. One expiration per signal (the timer
    // is one-shot, re-armed below), at the time it was armed for.
    TICKS[slot].fetch_add(1 + u64::try_from(overrun).unwrap_or(0), Ordering::Relaxed);
    let at = NEXT_AT_NS[which].load(Ordering::Relaxed);
    let entered = RUN_ENTERED_NS.try_with(Cell::get).unwrap_or(0);
    let stop_since = STOP_SINCE_NS.try_with(Cell::get).unwrap_or(0);
    if entered != 0 && at >= entered {
        IN_RUN_TICKS[slot].fetch_add(1, Ordering::Relaxed);
    } else if stop_since != 0 && at >= stop_since {
        STOP_TICKS[slot].fetch_add(1, Ordering::Relaxed);
    } else if entered != 0 {
        LATE_TICKS[slot].fetch_add(1, Ordering::Relaxed);
    }
    // The other timer holds the latest instant; this one is armed for the
    // instant after it. An expiration already past fires at once; its
    // signal is taken when this handler returns, still inside the same
    // run if it fell there.
    let mut state = RNG[slot].load(Ordering::Relaxed);
    let last = LAST_AT_NS[slot].load(Ordering::Relaxed).max(at);
    let next = last + exponential_gap(&mut state, MEAN_NS[slot].load(Ordering::Relaxed));
    RNG[slot].store(state, Ordering::Relaxed);
    LAST_AT_NS[slot].store(next, Ordering::Relaxed);
    NEXT_AT_NS[which].store(next, Ordering::Relaxed);
    arm_at(
        TIMER_ID[which].load(Ordering::Relaxed) as libc::timer_t,
        next,
    );
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

/// Reads one armed timer's in-run tick count (from any thread).
#[derive(Debug, Clone, Copy)]
pub struct TickCounter {
    slot: usize,
}

impl TickCounter {
    /// Ticks so far that expired while the thread was inside `KVM_RUN`.
    pub fn in_run(&self) -> u64 {
        IN_RUN_TICKS[self.slot].load(Ordering::Acquire)
    }
}

/// An armed timer that signals one thread `hz` times a second; disarmed and
/// deleted on drop.
#[derive(Debug)]
pub struct SampleTimer {
    /// The two timers (`None` until created; a kernel timer id may be 0).
    timers: [Option<libc::timer_t>; 2],
    hz: u32,
    slot: usize,
}

// SAFETY: `timer_t` is an opaque kernel timer id, usable from any thread of
// the process.
unsafe impl Send for SampleTimer {}

impl SampleTimer {
    /// Arms two alternating timers (`CLOCK_MONOTONIC`) that send
    /// [`sample_signal`] to thread `tid` of this process `hz` times a
    /// second together.
    pub fn start(tid: libc::pid_t, hz: u32) -> Result<Self, SampleTimerError> {
        if hz == 0 || hz > 100_000 {
            return Err(SampleTimerError::Rate(hz));
        }
        install_handler()?;
        let slot = NEXT_SLOT.fetch_add(1, Ordering::Relaxed) % TICK_SLOTS;
        TICKS[slot].store(0, Ordering::Relaxed);
        IN_RUN_TICKS[slot].store(0, Ordering::Relaxed);
        LATE_TICKS[slot].store(0, Ordering::Relaxed);
        STOP_TICKS[slot].store(0, Ordering::Relaxed);
        let mut this = Self {
            timers: [None; 2],
            hz,
            slot,
        };
        for k in 0..2 {
            // SAFETY: `sigevent` is plain data; zeroed is valid.
            let mut sev: libc::sigevent = unsafe { std::mem::zeroed() };
            sev.sigev_notify = libc::SIGEV_THREAD_ID;
            sev.sigev_signo = sample_signal();
            sev.sigev_notify_thread_id = tid;
            sev.sigev_value = libc::sigval {
                sival_ptr: (slot * 2 + k) as *mut libc::c_void,
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
            this.timers[k] = Some(timer);
            TIMER_ID[slot * 2 + k].store(timer as usize, Ordering::Relaxed);
        }
        let mean_ns = 1_000_000_000 / u64::from(hz);
        let mut state = monotonic_ns() ^ ((slot as u64 + 1) << 48) ^ 0x9E37_79B9_7F4A_7C15;
        let first = monotonic_ns() + exponential_gap(&mut state, mean_ns);
        let second = first + exponential_gap(&mut state, mean_ns);
        MEAN_NS[slot].store(mean_ns, Ordering::Relaxed);
        RNG[slot].store(state, Ordering::Relaxed);
        LAST_AT_NS[slot].store(second, Ordering::Relaxed);
        NEXT_AT_NS[slot * 2].store(first, Ordering::Relaxed);
        NEXT_AT_NS[slot * 2 + 1].store(second, Ordering::Relaxed);
        for (timer, at) in this.timers.into_iter().flatten().zip([first, second]) {
            if arm_at(timer, at) != 0 {
                return Err(SampleTimerError::Sys {
                    what: "timer_settime",
                    source: std::io::Error::last_os_error(),
                });
            }
        }
        Ok(this)
    }

    /// The rate asked for.
    pub fn hz(&self) -> u32 {
        self.hz
    }

    /// A reader of this timer's in-run tick count.
    pub fn counter(&self) -> TickCounter {
        TickCounter { slot: self.slot }
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
        for timer in self.timers.into_iter().flatten() {
            // SAFETY: `timer` was created by `start` and is deleted once
            // here.
            unsafe { libc::timer_delete(timer) };
        }
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
    fn gaps_are_exponential_with_the_mean_asked_for() {
        let mut state = 12345;
        let n = 100_000u64;
        let gaps: Vec<u64> = (0..n)
            .map(|_| exponential_gap(&mut state, 1_000_000))
            .collect();
        let mean = gaps.iter().sum::<u64>() as f64 / n as f64;
        // Mean within 2% (its standard error here is 0.3%); an exponential
        // has about 63% of its mass below the mean.
        assert!((mean - 1e6).abs() < 2e4, "mean gap {mean}");
        let below = gaps.iter().filter(|&&g| g < 1_000_000).count() as f64 / n as f64;
        assert!((below - 0.632).abs() < 0.01, "{below} below the mean");
        assert!(gaps.iter().all(|&g| (1_000..=20_000_000).contains(&g)));
    }

    #[test]
    fn a_timer_interrupts_a_sleeping_thread_without_breaking_it() {
        let t = SampleTimer::start(current_tid(), 1000).expect("timer");
        // SA_RESTART: the sleep completes despite ~200 ticks. The gaps are
        // random (exponential, mean 1 ms), so the count is Poisson-like:
        // 200 ± 14; at 50 ms, ">= 40 of ~50" failed by chance in CI.
        let start = std::time::Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let ticks = t.ticks_so_far();
        println!("{ticks} ticks in {:?}", start.elapsed());
        assert!(start.elapsed() >= std::time::Duration::from_millis(200));
        assert!(ticks >= 120, "{ticks} ticks in 200 ms at 1 kHz");
    }
}
