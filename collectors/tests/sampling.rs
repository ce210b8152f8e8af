//! Real perf_event_open sampling of this test process. Skips (with a
//! visible line) where perf_event_open is refused.

use collectors::collector::{PerfCollector, PerfConfig};

#[inline(never)]
fn spin_for_sampling_test(ms: u64) -> u64 {
    let start = std::time::Instant::now();
    let mut x = 1u64;
    while start.elapsed().as_millis() < ms as u128 {
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
            eprintln!("SKIP: perf_event_open refused here: {e}");
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
