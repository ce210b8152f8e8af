//! Symbolizing and folding 1,000,000 samples (target: <= 3 s).
//!
//! The sample stream is synthetic but its addresses are real: return
//! addresses inside the functions of this very bench binary (mapped at
//! run time, resolved through its DWARF), plus kernel addresses from
//! /proc/kallsyms when readable. 40,000 distinct call chains of depth 8..40
//! are drawn with a skewed distribution, as in real profiles. Each timed
//! iteration starts with a cold symbolizer (DWARF loaded, nothing cached).

use std::time::{Duration, Instant};

use collectors::perf::records::{CpuMode, Sample};
use collectors::stack_fold::fold_samples;
use collectors::symbolize::{Kallsyms, ProcessView, Symbolizer};
use criterion::{criterion_group, criterion_main, Criterion};
use object::{Object, ObjectSegment, ObjectSymbol, SymbolKind};
use perf_event_open_sys::bindings as b;

const SAMPLES: usize = 1_000_000;
const CHAINS: usize = 40_000;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Run-time addresses inside the text symbols of this executable.
fn own_code_addresses() -> Vec<u64> {
    let exe = std::fs::read("/proc/self/exe").expect("read own executable");
    let obj = object::File::parse(&*exe).expect("parse own executable");
    let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
    let exe_path = std::fs::read_link("/proc/self/exe").expect("exe link");
    let exe_path = exe_path.to_string_lossy();
    // (start, pgoff) of each executable mapping of our file.
    let mut exec_maps = Vec::new();
    for line in maps.lines() {
        let f: Vec<&str> = line.split_ascii_whitespace().collect();
        if f.len() >= 6 && f[1].contains('x') && f[5] == exe_path {
            let (s, e) = f[0].split_once('-').expect("range");
            exec_maps.push((
                u64::from_str_radix(s, 16).expect("hex"),
                u64::from_str_radix(e, 16).expect("hex"),
                u64::from_str_radix(f[2], 16).expect("hex"),
            ));
        }
    }
    let segs: Vec<(u64, u64, u64)> = obj
        .segments()
        .map(|s| (s.address(), s.file_range().0, s.file_range().1))
        .collect();
    let mut out = Vec::new();
    for sym in obj.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() < 16 {
            continue;
        }
        let svma = sym.address() + sym.size() / 2;
        let Some(&(addr, off, _)) = segs
            .iter()
            .find(|(a, _, len)| svma >= *a && svma < *a + *len)
        else {
            continue;
        };
        let file_off = svma - addr + off;
        if let Some(&(start, _, pgoff)) = exec_maps
            .iter()
            .find(|(s, e, pg)| file_off >= *pg && file_off < *pg + (e - s))
        {
            out.push(start + file_off - pgoff);
        }
    }
    out
}

fn kernel_addresses() -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string("/proc/kallsyms") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_ascii_whitespace();
            let a = u64::from_str_radix(it.next()?, 16).ok()?;
            let t = it.next()?;
            (a != 0 && (t == "t" || t == "T")).then_some(a + 8)
        })
        .step_by(50)
        .take(2000)
        .collect()
}

fn synthetic_samples() -> Vec<Sample> {
    let user = own_code_addresses();
    assert!(
        user.len() > 500,
        "own binary has {} text symbols",
        user.len()
    );
    let kernel = kernel_addresses();
    let mut rng = Lcg(42);
    let mut chains = Vec::with_capacity(CHAINS);
    for _ in 0..CHAINS {
        let mut c = Vec::new();
        if !kernel.is_empty() && rng.below(4) == 0 {
            c.push(b::PERF_CONTEXT_KERNEL);
            for _ in 0..(3 + rng.below(10)) {
                c.push(kernel[rng.below(kernel.len())]);
            }
        }
        c.push(b::PERF_CONTEXT_USER);
        // Real stacks share their roots: draw outer frames from a small set.
        let depth = 8 + rng.below(32);
        let mut frames: Vec<u64> = (0..depth)
            .map(|d| {
                let pool = (64usize << d.min(10)).min(user.len());
                user[rng.below(pool)]
            })
            .collect();
        frames.reverse(); // leaf first
        c.extend(frames);
        chains.push(c);
    }
    (0..SAMPLES)
        .map(|i| {
            // Skewed: low-numbered chains are much more frequent.
            let r = rng.below(CHAINS);
            let idx = (r * r / CHAINS) % CHAINS;
            let callchain = chains[idx].clone();
            let leaf = callchain
                .iter()
                .copied()
                .find(|&a| a < b::PERF_CONTEXT_MAX)
                .unwrap_or(0);
            Sample {
                mode: if callchain[0] == b::PERF_CONTEXT_KERNEL {
                    CpuMode::Kernel
                } else {
                    CpuMode::User
                },
                ip: leaf,
                pid: 1,
                tid: 1 + (i % 4) as u32,
                time: i as u64,
                period: 1000 + rng.below(1000) as u64,
                callchain,
                user_stack: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let samples = synthetic_samples();
    let view = ProcessView::this_process().expect("own maps");
    let kallsyms = Kallsyms::load();
    let mut group = c.benchmark_group("symbolize_fold");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("1M_samples_cold_symbolizer", |bch| {
        bch.iter(|| {
            let mut sym = Symbolizer::new().with_kallsyms(kallsyms.clone());
            let out = fold_samples(&samples, &view, &mut sym);
            assert_eq!(out.samples, SAMPLES as u64);
            out.folded.len()
        })
    });
    group.finish();

    // The machine is shared: also report CPU time of the folding thread,
    // which other processes' load does not inflate.
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let cpu0 = thread_cpu_time();
        let t0 = Instant::now();
        let mut sym = Symbolizer::new().with_kallsyms(kallsyms.clone());
        let out = fold_samples(&samples, &view, &mut sym);
        runs.push((t0.elapsed(), thread_cpu_time() - cpu0));
        last = Some((out.folded.len(), sym.cached()));
    }
    runs.sort();
    let (wall, cpu) = runs[1];
    let (stacks, addrs) = last.unwrap_or_default();
    println!(
        "symbolize+fold 1,000,000 samples: median wall {:.3} s, CPU {:.3} s (target <= 3 s); {stacks} distinct stacks, {addrs} distinct addresses",
        wall.as_secs_f64(),
        cpu.as_secs_f64()
    );
}

fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

criterion_group!(benches, bench);
criterion_main!(benches);
