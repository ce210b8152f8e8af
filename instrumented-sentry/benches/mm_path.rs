//! Benchmarks of the sentry's mmap path (criterion; `harness = false`).
//!
//! `cargo bench -p instrumented-sentry --bench mm_path`
//!
//! - `find_available/{maxgap,linear}/N`: one top-down gap search through the
//!   memory manager with N non-mergeable VMAs (private file mappings at
//!   offset 0, never touched) packed below the mmap base: the study's case.
//! - `probe_pair`: one probe start + finish.
//! - `mmap_private_file_maxgap/{probes_on,probes_off}`: private file mmap,
//!   no touch, max-gap, 10,000 existing mappings, timed in batches of 1,000
//!   (the batch is unmapped outside the timed region).
//!
//! After criterion, a summary prints the TSC cycles per call measured with
//! rdtsc directly (medians) and the ratios the study cares about.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest, PAGE_SIZE};
use instrumented_sentry::platform::inproc::{InProcAddressSpace, InProcConfig};
use instrumented_sentry::probes::{read_tsc, Calibration, ProbeConfig, Probes, Site};
use instrumented_sentry::segment::GapSearch;
use std::hint::black_box;
use std::time::{Duration, Instant};

type Mm = MemoryManager<InProcAddressSpace>;

/// A memory manager holding `n` non-mergeable VMAs, built with max-gap.
fn population(n: u64, probes: bool) -> Mm {
    let cfg = MmConfig {
        probes: ProbeConfig {
            enabled: probes,
            ..ProbeConfig::default()
        },
        ..MmConfig::with_search(GapSearch::MaxGap)
    };
    let arena = ((n + 1_000_000) * PAGE_SIZE).next_power_of_two().max(1 << 30);
    let mut mm = MemoryManager::inproc(
        cfg,
        &InProcConfig {
            arena_size: arena,
            max_host_mappings: None,
        },
    )
    .expect("in-process memory manager");
    let f = mm.create_file(PAGE_SIZE).expect("file");
    let req = MmapRequest::file(f, 0, PAGE_SIZE);
    for _ in 0..n {
        mm.mmap(&req).expect("mmap while building the population");
    }
    mm
}

fn median_cycles(mut f: impl FnMut(), reps: usize) -> u64 {
    let mut v: Vec<u64> = (0..reps)
        .map(|_| {
            let t0 = read_tsc();
            f();
            read_tsc().wrapping_sub(t0)
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

fn search_once(mm: &Mm) -> u64 {
    black_box(mm.find_available(PAGE_SIZE, None, false, false).expect("room"))
}

struct Summary {
    lines: Vec<String>,
}

fn bench_find_available(c: &mut Criterion, summary: &mut Summary) {
    let mut g = c.benchmark_group("find_available");
    g.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let mut cycles = std::collections::BTreeMap::new();
    for (search, sizes) in [
        (GapSearch::MaxGap, &[1_000u64, 1_000_000][..]),
        (GapSearch::Linear, &[1_000u64, 100_000][..]),
    ] {
        for &n in sizes {
            let mut mm = population(n, false);
            mm.set_search(search);
            g.bench_with_input(BenchmarkId::new(search.name(), n), &n, |b, _| b.iter(|| search_once(&mm)));
            let reps = if search == GapSearch::Linear && n >= 100_000 { 51 } else { 2001 };
            cycles.insert((search.name(), n), median_cycles(|| drop(search_once(&mm)), reps));
        }
    }
    g.finish();
    let get = |s: &str, n: u64| cycles.get(&(s, n)).copied().unwrap_or(0);
    for ((s, n), c) in &cycles {
        summary.lines.push(format!("find_available {s:>6} N={n:>9}: median {c:>9} cycles/call"));
    }
    summary.lines.push(format!(
        "ratio maxgap 1M/1K = {:.2} (target <= 2); linear 100K/1K = {:.1} (target >= 100)",
        get("maxgap", 1_000_000) as f64 / get("maxgap", 1_000).max(1) as f64,
        get("linear", 100_000) as f64 / get("linear", 1_000).max(1) as f64
    ));
}

fn bench_probe_pair(c: &mut Criterion, summary: &mut Summary) {
    let mut p = Probes::new(ProbeConfig::default());
    c.bench_function("probe_pair", |b| {
        b.iter(|| {
            let s = p.start();
            p.finish(Site::FindAvailable, s);
        })
    });
    let cal = Calibration::measure();
    summary.lines.push(format!(
        "probe pair: {} cycles added around it, {} cycles seen by an empty probe (tsc {} Hz) (target <= 100)",
        cal.pair_cost_cycles, cal.self_cycles, cal.tsc_hz
    ));
}

const BATCH: u64 = 1000;

/// Mean cycles of one private file mmap in batches of `BATCH` (each batch
/// unmapped afterwards, untimed), median over batches.
fn mmap_batch(mm: &mut Mm, req: &MmapRequest) -> Duration {
    let t = Instant::now();
    let mut first = 0;
    for i in 0..BATCH {
        let a = mm.mmap(req).expect("mmap");
        if i == 0 {
            first = a;
        }
    }
    let el = t.elapsed();
    // Top-down: the batch occupies [last, first + PAGE_SIZE).
    let last = first + PAGE_SIZE - BATCH * PAGE_SIZE;
    mm.munmap(last, BATCH * PAGE_SIZE).expect("munmap");
    el
}

fn bench_probe_overhead(c: &mut Criterion, summary: &mut Summary) {
    let mut g = c.benchmark_group("mmap_private_file_maxgap");
    g.sample_size(30).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    let mut medians = Vec::new();
    for on in [true, false] {
        let mut mm = population(10_000, on);
        let f = mm.create_file(PAGE_SIZE).expect("file");
        let req = MmapRequest::file(f, 0, PAGE_SIZE);
        let name = if on { "probes_on" } else { "probes_off" };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    total += mmap_batch(&mut mm, &req);
                    done += BATCH;
                }
                total * iters as u32 / done as u32
            })
        });
        let mut per_call: Vec<u64> = (0..200)
            .map(|_| {
                let t0 = read_tsc();
                let first = mm.mmap(&req).expect("mmap");
                let rest: Vec<u64> = (1..BATCH).map(|_| mm.mmap(&req).expect("mmap")).collect();
                let c = read_tsc().wrapping_sub(t0) / BATCH;
                let last = rest.last().copied().unwrap_or(first);
                mm.munmap(last, BATCH * PAGE_SIZE).expect("munmap");
                c
            })
            .collect();
        per_call.sort_unstable();
        medians.push(per_call[per_call.len() / 2]);
    }
    g.finish();
    summary.lines.push(format!(
        "private file mmap, max-gap, 10K mappings: probes on {} cycles, off {} cycles: +{:.1}% (target <= 5%)",
        medians[0],
        medians[1],
        (medians[0] as f64 / medians[1].max(1) as f64 - 1.0) * 100.0
    ));
}

fn benches(c: &mut Criterion) {
    let mut summary = Summary { lines: Vec::new() };
    bench_probe_pair(c, &mut summary);
    bench_probe_overhead(c, &mut summary);
    bench_find_available(c, &mut summary);
    eprintln!("\n== mm_path summary (TSC cycles, medians) ==");
    for l in &summary.lines {
        eprintln!("{l}");
    }
}

criterion_group!(mm_path, benches);
criterion_main!(mm_path);
