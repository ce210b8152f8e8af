//! Criterion benches of the segment set at 1K, 10K, 100K and 1M
//! non-mergeable segments (degree 8, as the VMA set): insert, remove, and
//! both gap searches in both directions, in the worst case for the linear
//! search (the only large-enough gap is at the far end).
//!
//! Run: `cargo bench -p instrumented-sentry --bench segment_set`
//! (medians are in `target*/criterion/*/*/new/estimates.json`).
//!
//! Times are CPU time of the benchmark thread (`CLOCK_THREAD_CPUTIME_ID`),
//! not wall time: on a shared, loaded machine wall time mostly measures
//! how often other processes got the core.
//!
//! Layout: segments of one page every four pages, starting 1 GiB above the
//! set's lower bound, so every gap between segments is three pages long,
//! while the first gap (below the lowest segment) and the last gap (above
//! the highest) are huge. A forward search from the lowest segment for four
//! pages must reach the last gap; a backward search from the highest
//! segment's end must reach the first.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use instrumented_sentry::addr::Range;
use instrumented_sentry::segment::{GapSearch, SegmentFunctions, SegmentSet};
use std::hint::black_box;
use std::time::Duration;

const PAGE: u64 = 4096;
const STRIDE: u64 = 4 * PAGE;
const BASE: u64 = 1 << 30;
const BOUNDS: Range = Range::new(0, 1 << 47);
const DEGREE: usize = 8;
const SIZES: [u64; 4] = [1_000, 10_000, 100_000, 1_000_000];

/// A file-backed VMA stand-in: merges only with contiguous offsets, which
/// the benches never produce.
struct BenchFns;
impl SegmentFunctions for BenchFns {
    type Value = u64;
    const TRACK_MAX_GAP: bool = true;
    fn merge(l: Range, lv: &u64, _r: Range, rv: &u64) -> Option<u64> {
        (lv + l.len() == *rv).then_some(*lv)
    }
    fn split(r: Range, v: &u64, at: u64) -> (u64, u64) {
        (*v, v + (at - r.start))
    }
}

/// CPU time this thread has used so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // CLOCK_THREAD_CPUTIME_ID is a clock id Linux always supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Segment `i` of the layout.
fn seg(i: u64) -> Range {
    Range::new(BASE + i * STRIDE, BASE + i * STRIDE + PAGE)
}

/// A page in the middle of gap `i` (between segments `i` and `i + 1`):
/// never adjacent to a neighbour.
fn mid_gap(i: u64) -> Range {
    Range::new(BASE + i * STRIDE + 2 * PAGE, BASE + i * STRIDE + 3 * PAGE)
}

fn build(n: u64) -> SegmentSet<BenchFns> {
    build_with_degree(n, DEGREE)
}

fn build_with_degree(n: u64, degree: usize) -> SegmentSet<BenchFns> {
    let mut set = SegmentSet::new(BOUNDS, degree).expect("bench set parameters are valid");
    for i in 0..n {
        // Offsets jump by a page between segments: nothing merges.
        set.insert_with_merge(seg(i), i * 2 * PAGE)
            .expect("layout does not overlap");
    }
    set
}

/// The k-th gap index of a scattered order over `n - 1` gaps.
fn scattered(k: u64, n: u64) -> u64 {
    (k.wrapping_mul(2_654_435_761)) % (n - 1)
}

/// Distinct gap indices for one batch, scattered over the set.
fn batch_indices(start: u64, len: u64, n: u64) -> Vec<u64> {
    let mut v: Vec<u64> = (start..start + len).map(|k| scattered(k, n)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn bench_insert_remove(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_set");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for &n in &SIZES {
        let mut set = build(n);
        let batch_cap = (n / 10).min(2_000);
        group.bench_function(BenchmarkId::new("insert", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                let mut k = 0;
                while done < iters {
                    let idx = batch_indices(k, batch_cap.min(iters - done), n);
                    k += idx.len() as u64 + 1;
                    let t = thread_cpu_time();
                    for &i in &idx {
                        black_box(set.insert_with_merge(mid_gap(i), u64::MAX - i).is_ok());
                    }
                    total += thread_cpu_time() - t;
                    for &i in &idx {
                        set.remove(mid_gap(i).start);
                    }
                    done += idx.len() as u64;
                }
                total
            })
        });
        group.bench_function(BenchmarkId::new("remove", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                let mut k = 0;
                while done < iters {
                    let idx = batch_indices(k, batch_cap.min(iters - done), n);
                    k += idx.len() as u64 + 1;
                    for &i in &idx {
                        let _ = set.insert(mid_gap(i), u64::MAX - i);
                    }
                    let t = thread_cpu_time();
                    for &i in &idx {
                        black_box(set.remove(mid_gap(i).start));
                    }
                    total += thread_cpu_time() - t;
                    done += idx.len() as u64;
                }
                total
            })
        });
        assert_eq!(set.len() as u64, n, "benches leave the set as built");
    }
    group.finish();
}

fn bench_searches(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_set");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for &n in &SIZES {
        let set = build(n);
        let first = seg(0);
        let last = seg(n - 1);
        let min_len = STRIDE;
        for strategy in [GapSearch::MaxGap, GapSearch::Linear] {
            let want_fwd = Range::new(last.end, BOUNDS.end);
            let want_back = Range::new(BOUNDS.start, first.start);
            assert_eq!(
                set.first_large_enough_gap(first.start, min_len, strategy),
                Some(want_fwd)
            );
            assert_eq!(
                set.last_large_enough_gap(last.end, min_len, strategy),
                Some(want_back)
            );
            group.bench_function(
                BenchmarkId::new(format!("search_forward_{strategy}"), n),
                |b| {
                    b.iter_custom(|iters| {
                        let t = thread_cpu_time();
                        for _ in 0..iters {
                            black_box(set.first_large_enough_gap(
                                black_box(first.start),
                                min_len,
                                strategy,
                            ));
                        }
                        thread_cpu_time() - t
                    })
                },
            );
            group.bench_function(
                BenchmarkId::new(format!("search_backward_{strategy}"), n),
                |b| {
                    b.iter_custom(|iters| {
                        let t = thread_cpu_time();
                        for _ in 0..iters {
                            black_box(set.last_large_enough_gap(
                                black_box(last.end),
                                min_len,
                                strategy,
                            ));
                        }
                        thread_cpu_time() - t
                    })
                },
            );
        }
    }
    group.finish();
}

/// Max-gap searches at other node degrees, 1K and 1M segments only: how
/// the degree trades absolute cost against growth with the set size.
fn bench_maxgap_degrees(c: &mut Criterion) {
    let mut group = c.benchmark_group("segment_set_degree");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    for degree in [4usize, 16, 32] {
        for n in [1_000u64, 1_000_000] {
            let set = build_with_degree(n, degree);
            let first = seg(0);
            let last = seg(n - 1);
            let id = format!("t{degree}/{n}");
            group.bench_function(BenchmarkId::new("search_forward_maxgap", &id), |b| {
                b.iter_custom(|iters| {
                    let t = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(set.first_large_enough_gap(
                            black_box(first.start),
                            STRIDE,
                            GapSearch::MaxGap,
                        ));
                    }
                    thread_cpu_time() - t
                })
            });
            group.bench_function(BenchmarkId::new("search_backward_maxgap", &id), |b| {
                b.iter_custom(|iters| {
                    let t = thread_cpu_time();
                    for _ in 0..iters {
                        black_box(set.last_large_enough_gap(
                            black_box(last.end),
                            STRIDE,
                            GapSearch::MaxGap,
                        ));
                    }
                    thread_cpu_time() - t
                })
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_insert_remove,
    bench_searches,
    bench_maxgap_degrees
);
criterion_main!(benches);
