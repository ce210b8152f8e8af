//! Real perf_event_open sampling of this test process. Skips (with a
//! visible line) where perf_event_open is refused.

use collectors::collector::{PerfCollector, PerfConfig};

mod common;
use common::thread_cpu_ms;

#[inline(never)]
fn spin_for_sampling_test(cpu_ms: u64) -> u64 {
    let start = thread_cpu_ms();
    let mut x = 1u64;
    while thread_cpu_ms() - start < cpu_ms as u128 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    x
}

#[test]
fn sampling_this_process_names_the_busy_function() {
    let mut c = match PerfCollector::new(PerfConfig {
        frequency_hz: 999,
        counters: true,
    }) {
        Ok(c) => c,
        Err(e) => {
            skip_line(format_args!("SKIP: perf_event_open refused here: {e}"));
            return;
        }
    };
    eprintln!("sampling event: {}", c.event().name);
    c.begin_point();
    let v = spin_for_sampling_test(300);
    let p = c.end_point();
    assert_ne!(v, 0);
    assert!(p.samples > 50, "expected ~300 samples, got {}", p.samples);
    assert_eq!(p.guest_samples, 0);
    assert_eq!(p.folded.total_weight(), p.total_weight);
    let busy: u64 = p
        .folded
        .iter()
        .filter(|(s, _)| s.contains("spin_for_sampling_test"))
        .map(|(_, w)| w)
        .sum();
    assert!(
        busy * 2 > p.folded.total_weight(),
        "busy function should dominate:\n{}",
        p.folded.to_text()
    );
    // Stacks are rooted at the thread name and run outermost first.
    let (top, _) = p.folded.iter().max_by_key(|(_, w)| *w).expect("stacks");
    let frames: Vec<&str> = top.split(';').collect();
    let busy_at = frames
        .iter()
        .position(|f| f.ends_with("spin_for_sampling_test"))
        .expect("busy frame");
    assert!(busy_at >= 1, "{top}");
    assert!(!frames[0].is_empty());
    let run = c.finish();
    assert_eq!(run.info.samples, p.samples);
    assert!(run.info.frequency_hz == Some(999));
    eprintln!("notes: {:?}", run.notes);
}

#[test]
fn tiny_ring_buffer_wraps_and_stays_decodable() {
    use collectors::perf::{SampleTarget, Sampler, SamplerConfig};
    // One data page at a high rate: records wrap around the end of the
    // buffer many times; every one must decode, and drops are counted.
    let sampler = match Sampler::open(SamplerConfig {
        frequency_hz: 4000,
        target: SampleTarget::ThisProcess,
        data_pages: 1,
        prefer_hardware: true,
    }) {
        Ok(s) => s,
        Err(e) => {
            skip_line(format_args!("SKIP: perf_event_open refused here: {e}"));
            return;
        }
    };
    sampler.enable().expect("enable");
    let mut total = 0u64;
    let mut bytes = 0usize;
    let mut lost = 0u64;
    for _ in 0..6 {
        spin_for_sampling_test(50);
        let out = sampler.take();
        assert_eq!(out.corrupt, 0, "malformed records after wrap-around");
        for s in &out.samples {
            assert!(s.period > 0);
            assert!(!s.callchain.is_empty() || s.ip != 0);
            bytes += 48 + 8 * s.callchain.len();
        }
        total += out.samples.len() as u64;
        lost += out.lost;
    }
    let rest = sampler.stop();
    assert_eq!(rest.corrupt, 0);
    assert!(total > 20, "samples {total}, lost {lost}");
    assert!(
        bytes > 4096,
        "expected more than one buffer's worth of records to wrap ({bytes} bytes)"
    );
    eprintln!("tiny buffer: {total} samples ({bytes} bytes through a 4 KiB ring), {lost} lost");
}

#[test]
fn samples_drained_while_not_kept_are_dropped() {
    use collectors::perf::{SampleTarget, Sampler, SamplerConfig};
    // Between the points of a run the sampler drops what it drains (no
    // stack copies held); once samples are kept again they are stored.
    let sampler = match Sampler::open(SamplerConfig {
        frequency_hz: 999,
        target: SampleTarget::ThisProcess,
        ..SamplerConfig::default()
    }) {
        Ok(s) => s,
        Err(e) => {
            skip_line(format_args!("SKIP: perf_event_open refused here: {e}"));
            return;
        }
    };
    sampler.keep_samples(false);
    sampler.enable().expect("enable");
    spin_for_sampling_test(150);
    let dropped = sampler.take();
    assert_eq!(dropped.corrupt, 0);
    assert!(
        dropped.samples.is_empty(),
        "{} samples stored while not kept",
        dropped.samples.len()
    );
    sampler.keep_samples(true);
    spin_for_sampling_test(150);
    let kept = sampler.stop();
    assert_eq!(kept.corrupt, 0);
    // ~150 expected at 999 Hz; a loaded machine gives fewer, never none.
    assert!(
        kept.samples.len() > 20,
        "{} samples kept",
        kept.samples.len()
    );
    assert!(kept.samples.iter().any(|s| s.user_stack.is_some()));
}

#[test]
fn counting_mode_counts_or_says_why() {
    use collectors::perf::counter::{CountTarget, CounterSet};
    match CounterSet::open(CountTarget::ThisThread) {
        Ok(set) => {
            let a = set.snapshot().expect("read");
            spin_for_sampling_test(50);
            let b = set.snapshot().expect("read");
            let d = b.since(&a);
            let cycles = d
                .cycles
                .or(d.cycles_host_only)
                .expect("some cycles counter");
            assert!(
                cycles > 1_000_000,
                "50 ms of spinning counted {cycles} cycles"
            );
            if let Some(i) = d.instructions {
                assert!(i > 100_000);
            }
        }
        Err(e) => skip_line(format_args!("SKIP: no hardware counters here: {e}")),
    }
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}

#[test]
fn a_forked_child_is_sampled_and_cpu_wide_scope_is_reported() {
    use collectors::perf::{SampleTarget, Sampler, SamplerConfig};
    let sampler = match Sampler::open(SamplerConfig {
        frequency_hz: 999,
        target: SampleTarget::ThisProcess,
        data_pages: 64,
        prefer_hardware: true,
    }) {
        Ok(s) => s,
        Err(e) => {
            skip_line(format_args!("SKIP: perf_event_open refused here: {e}"));
            return;
        }
    };
    eprintln!("sampling scope: {}", sampler.event().scope());
    sampler.enable().expect("enable");
    // SAFETY: the child only spins (clock_gettime and arithmetic) and
    // leaves with _exit, touching no lock another thread could hold.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork failed");
    if child == 0 {
        spin_for_sampling_test(200);
        // SAFETY: ends the forked child without running the parent's
        // exit handlers.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above; `status` is writable.
    let rc = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(rc, child);
    let out = sampler.stop();
    let of_child = out.samples.iter().filter(|s| s.pid == child as u32).count();
    let ours = std::process::id();
    let others = out
        .samples
        .iter()
        .filter(|s| s.pid != child as u32 && s.pid != ours)
        .count();
    assert!(
        of_child > 50,
        "expected ~200 samples of the forked child, got {of_child}"
    );
    assert_eq!(
        others, 0,
        "samples of processes outside this tree were kept"
    );
}
