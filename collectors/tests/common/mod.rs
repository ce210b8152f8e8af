//! Helpers shared by the collectors' integration tests.

/// CPU time of the calling thread in ms: the sampling clock counts it, not
/// wall time, so tests spin for CPU time and stay valid on a loaded machine.
pub fn thread_cpu_ms() -> u128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    ts.tv_sec as u128 * 1000 + ts.tv_nsec as u128 / 1_000_000
}
