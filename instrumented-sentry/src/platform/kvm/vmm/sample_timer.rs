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

use std::sync::Once;
use std::time::Instant;

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

extern "C" fn on_tick(_sig: libc::c_int) {}

fn install_handler() -> Result<(), SampleTimerError> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        // SAFETY: `sigaction` is plain data; zeroed is a valid empty set of
        // flags and mask.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_tick as extern "C" fn(libc::c_int) as usize;
        act.sa_flags = libc::SA_RESTART;
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
    armed_at: Instant,
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
        let this = Self {
            timer,
            hz,
            armed_at: Instant::now(),
        };
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

    /// Ticks the timer has fired since it was armed (elapsed time × rate).
    pub fn ticks_so_far(&self) -> u64 {
        (self.armed_at.elapsed().as_secs_f64() * f64::from(self.hz)) as u64
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
