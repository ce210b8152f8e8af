//! Real sampling of a workload that spends its time in libc's malloc and
//! free (built without frame pointers): every sample in them must carry
//! its Rust caller (DWARF unwinding of the sampled user stack), and no
//! stack may hold `[unknown]`. Skips (with a visible line) where
//! perf_event_open is refused.

use collectors::collector::{PerfCollector, PerfConfig};

mod common;
use common::thread_cpu_ms;

/// Allocate and free blocks of many sizes for `cpu_ms` of CPU time.
#[inline(never)]
fn malloc_for_unwind_test(cpu_ms: u64) -> u64 {
    let start = thread_cpu_ms();
    let mut sum = 0u64;
    while thread_cpu_ms() - start < cpu_ms as u128 {
        for i in 0..20_000usize {
            let n = 16 + (i * 7919) % 4000;
            // SAFETY: malloc of a non-zero size; the block is written
            // within its size and freed once.
            unsafe {
                let p = std::hint::black_box(libc::malloc(std::hint::black_box(n))).cast::<u8>();
                if !p.is_null() {
                    p.write(i as u8);
                    sum = sum.wrapping_add(u64::from(std::hint::black_box(*p)));
                    libc::free(std::hint::black_box(p).cast());
                }
            }
        }
    }
    sum
}

#[test]
fn malloc_samples_carry_their_rust_callers() {
    let mut c = match PerfCollector::new(PerfConfig {
        frequency_hz: 999,
        counters: false,
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIP: perf_event_open refused here: {e}");
            return;
        }
    };
    c.begin_point();
    // Two trials unwound as each ends (`end_trial`), then samples after
    // the last trial's end, unwound by `end_point`: both paths.
    let mut v = 0u64;
    for _ in 0..2 {
        v = v.wrapping_add(malloc_for_unwind_test(200));
        c.end_trial();
    }
    v = v.wrapping_add(malloc_for_unwind_test(200));
    let p = c.end_point();
    std::hint::black_box(v);
    assert_eq!(p.trials.len(), 2, "one folded profile per ended trial");
    let text = p.folded.to_text();
    let unknown: Vec<&str> = text.lines().filter(|l| l.contains("[unknown]")).collect();
    assert!(
        unknown.is_empty(),
        "[unknown] frames:\n{}",
        unknown.join("\n")
    );
    // Stacks whose innermost user frame is in libc's allocator.
    let in_libc_malloc = |s: &str| {
        let leaf = s.split(';').rfind(|f| !f.ends_with("_[k]")).unwrap_or("");
        leaf.contains("malloc")
            || leaf.contains("free")
            || leaf.starts_with("_int_")
            || leaf.starts_with("tcache")
            || leaf == "[libc.so.6]"
    };
    let (mut libc_w, mut with_caller_w) = (0u64, 0u64);
    for (s, w) in p.folded.iter() {
        if in_libc_malloc(s) {
            libc_w += w;
            if s.contains("malloc_for_unwind_test") {
                with_caller_w += w;
            }
        }
    }
    let total = p.folded.total_weight();
    eprintln!(
        "{} samples; in malloc/free: {:.1}% of weight, {:.1}% of that with its Rust caller",
        p.samples,
        100.0 * libc_w as f64 / total.max(1) as f64,
        100.0 * with_caller_w as f64 / libc_w.max(1) as f64
    );
    assert!(
        libc_w * 5 > total,
        "the workload should spend well over a fifth of its time in malloc/free:\n{text}"
    );
    assert!(
        with_caller_w * 100 >= libc_w * 98,
        "malloc/free samples without their caller:\n{text}"
    );
}
