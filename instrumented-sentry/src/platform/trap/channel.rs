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
//! When the sentry's serving thread and the stub are pinned to CPUs of
//! their own (`split_cpus`, systrap's default placement) the waiter never
//! shares its CPU with the side it waits for, so it spins without yielding
//! for the whole [`SPIN_CYCLES`]: there a yield can only hand the CPU to
//! some other process, and on a busy machine that process keeps it for a
//! time slice while the answer waits. Measured on the linear walk at 5,000
//! mappings (load 11–16, docs/trap.md): with the yield, 156–199 of 5,000
//! calls outlasted the spin (and those ~3% of calls were 91–94% of the
//! trial's cycles); without it, 47–91.
//!
//! Lost wake-ups cannot happen: the waiter publishes "I sleep" and then
//! re-reads the state; the poster publishes the state and then reads
//! "sleeps" (both sequentially consistent), so one of them sees the other;
//! and `FUTEX_WAIT` itself refuses to sleep once the state has changed.

use super::shared::{Header, WaitCounts};
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
/// given). Callers loop on [`Waited::Unchanged`]. A wait that yields or
/// sleeps is counted in `counts`.
#[inline]
pub fn wait_change(
    h: &Header,
    from: u32,
    my_waiting: &AtomicU32,
    counts: &WaitCounts,
    sleep_ns: Option<u64>,
) -> Waited {
    let start = rdtsc();
    let yield_after = if h.split_cpus.load(Ordering::Relaxed) != 0 {
        SPIN_CYCLES
    } else {
        FAST_SPIN_CYCLES
    };
    let mut yielded = false;
    loop {
        let s = h.state.load(Ordering::Acquire);
        if s != from {
            return Waited::Changed(s);
        }
        let spun = rdtsc().wrapping_sub(start);
        if spun > SPIN_CYCLES {
            break;
        }
        if spun > yield_after {
            if !yielded {
                yielded = true;
                counts.yielded.fetch_add(1, Ordering::Relaxed);
            }
            sched_yield();
        } else {
            pause();
        }
    }
    counts.slept.fetch_add(1, Ordering::Relaxed);
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
