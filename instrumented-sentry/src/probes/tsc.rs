//! Time-stamp counter access and calibration.
//!
//! Reads are plain `rdtsc` (no `lfence`/`rdtscp`: about 36 cycles here)
//! surrounded by compiler fences so the compiler does not move the measured
//! code across the read. The CPU may still reorder a few instructions around
//! it; over a probed interval of hundreds of cycles that is noise.

use bundle::stats::median_high;
use std::sync::atomic::{compiler_fence, Ordering};
use std::time::{Duration, Instant};

/// Reads the time-stamp counter.
#[inline(always)]
pub fn read_tsc() -> u64 {
    compiler_fence(Ordering::SeqCst);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `rdtsc` is available on every x86_64 CPU and has no memory
    // effects; CR4.TSD is not set for user processes on Linux.
    let t = unsafe { core::arch::x86_64::_rdtsc() };
    #[cfg(not(target_arch = "x86_64"))]
    let t = monotonic_ns();
    compiler_fence(Ordering::SeqCst);
    t
}

/// Nanoseconds since an arbitrary fixed point (CLOCK_MONOTONIC through
/// `Instant`): the stand-in counter on targets without a TSC.
#[cfg(not(target_arch = "x86_64"))]
fn monotonic_ns() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The TSC frequency in Hz measured against CLOCK_MONOTONIC over one
/// `window`; `None` when the counter did not advance.
pub fn measure_tsc_hz(window: Duration) -> Option<u64> {
    let t0 = Instant::now();
    let c0 = read_tsc();
    while t0.elapsed() < window {
        std::hint::spin_loop();
    }
    let c1 = read_tsc();
    let ns = t0.elapsed().as_nanos();
    if c1 <= c0 || ns == 0 {
        return None;
    }
    Some(u64::try_from(u128::from(c1 - c0) * 1_000_000_000 / ns).unwrap_or(u64::MAX))
}

/// Measures the TSC frequency in Hz against CLOCK_MONOTONIC over `window`.
///
/// Postconditions: the result is > 0. Takes the median of three windows
/// ([`measure_tsc_hz`]) so a descheduling in one of them does not skew it.
pub fn calibrate_tsc_hz(window: Duration) -> u64 {
    let mut estimates = [0u64; 3];
    for est in estimates.iter_mut() {
        *est = measure_tsc_hz(window).unwrap_or(0);
    }
    estimates.sort_unstable();
    median_high(&estimates).unwrap_or(0).max(1)
}

/// Measures the cost, in TSC cycles, of one empty probe pair: two TSC reads
/// with the bookkeeping a probe does between them. Returns the median of
/// `samples` back-to-back pairs.
pub fn measure_pair_cost(samples: usize) -> u64 {
    let samples = samples.max(16);
    let mut v: Vec<u64> = Vec::with_capacity(samples);
    for _ in 0..samples {
        let a = read_tsc();
        let b = read_tsc();
        v.push(b.wrapping_sub(a));
    }
    v.sort_unstable();
    median_high(&v).unwrap_or(0)
}
