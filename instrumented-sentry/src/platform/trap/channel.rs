//! The systrap hand-off on the shared `state` word: the poster stores the
//! new state and wakes the other side only if it sleeps; the waiter spins
//! for a bounded time, then sleeps on the futex (gVisor's systrap spins on
//! its shared context before it sleeps, for the same reason: a futex wake
//! and wait each way cost several thousand cycles).
//!
//! The spin has two phases. First a pure spin of [`FAST_SPIN_CYCLES`]: when
//! the two processes run on different CPUs the other side answers within a
//! few hundred cycles. Then, up to [`SPIN_CYCLES`], a spin that yields the
//! CPU between checks: when both processes share one CPU (the scheduler
//! tends to put a wakee next to its waker, and a busy machine leaves no
//! other), a pure spin only delays the side it waits for by a whole time
//! slice, while `sched_yield` hands it the CPU at once.
//!
//! Lost wake-ups cannot happen: the waiter publishes "I sleep" and then
//! re-reads the state; the poster publishes the state and then reads
//! "sleeps" (both sequentially consistent), so one of them sees the other;
//! and `FUTEX_WAIT` itself refuses to sleep once the state has changed.

use super::shared::Header;
use super::sys::{futex_wait, futex_wake, pause, rdtsc, sched_yield};
use std::sync::atomic::{AtomicU32, Ordering};

/// How long a waiter spins without yielding, in TSC cycles.
pub const FAST_SPIN_CYCLES: u64 = 4_000;
/// How long a waiter spins (yielding after [`FAST_SPIN_CYCLES`]) before it
/// sleeps, in TSC cycles.
pub const SPIN_CYCLES: u64 = 100_000;

/// Posts `new` into the state word and wakes the other side if it sleeps.
#[inline]
pub fn post(h: &Header, new: u32, other_waiting: &AtomicU32) {
    h.state.store(new, Ordering::SeqCst);
    if other_waiting.load(Ordering::SeqCst) != 0 {
        futex_wake(&h.state);
    }
}

/// What a wait saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The state changed to this.
    Changed(u32),
    /// The sleep timed out (or was interrupted) with the state unchanged.
    Unchanged,
}

/// Waits until the state word is no longer `from`: spins for
/// [`SPIN_CYCLES`], then sleeps once on the futex (at most `sleep_ns` if
/// given). Callers loop on [`Waited::Unchanged`].
#[inline]
pub fn wait_change(h: &Header, from: u32, my_waiting: &AtomicU32, sleep_ns: Option<u64>) -> Waited {
    let start = rdtsc();
    loop {
        let s = h.state.load(Ordering::Acquire);
        if s != from {
            return Waited::Changed(s);
        }
        let spun = rdtsc().wrapping_sub(start);
        if spun > SPIN_CYCLES {
            break;
        }
        if spun > FAST_SPIN_CYCLES {
            sched_yield();
        } else {
            pause();
        }
    }
    my_waiting.store(1, Ordering::SeqCst);
    let s = h.state.load(Ordering::SeqCst);
    if s == from {
        futex_wait(&h.state, from, sleep_ns);
    }
    my_waiting.store(0, Ordering::SeqCst);
    match h.state.load(Ordering::SeqCst) {
        s if s != from => Waited::Changed(s),
        _ => Waited::Unchanged,
    }
}
