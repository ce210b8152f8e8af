//! The renderers' synthetic dataset (flamegraph golden files, CLI tests):
//! exp1 runs with realistic numbers. Every bundle it makes carries a note
//! saying it is synthetic.
//!
//! The model: a private file mapping never merges, so the linear gap walk
//! visits one gap per existing mapping (about 4.2 cycles each); the max-gap
//! search descends a B-tree (about 150 cycles per level, fan-out 8).
//! Anonymous mappings merge into one VMA, so both strategies cost the same.

use std::collections::BTreeMap;

use super::builders::{exp1_base, Spread, TSC_HZ};
use crate::folded::FoldedStacks;
use crate::schema::{
    CallSeries, LatencyStats, Machine, Point, ProfileInfo, RunJson, SiteStats, SITE_CREATE_VMA,
    SITE_FIND_AVAILABLE, SITE_GET_PMAS, SITE_MAP_AS, SITE_MMAP,
};
use crate::tsc::cycles_per_ns;

/// Deterministic noise in [-1, 1) for index `i` and stream `s`.
pub fn noise(i: u64, s: u64) -> f64 {
    let mut z = i
        .wrapping_add(s.wrapping_mul(0x1234_5678_9abc_def1))
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z ^= z >> 31;
    z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z ^= z >> 29;
    (z % 20_000) as f64 / 10_000.0 - 1.0
}

/// Cycles of one find_available call with `existing` mappings before it.
pub fn find_available_cycles(search: &str, mapping: &str, existing: u64) -> f64 {
    // Anonymous mappings merge: the set holds one VMA whatever the count.
    let vmas = if mapping == "anon" {
        1
    } else {
        existing.max(1)
    };
    match search {
        "linear" => 380.0 + 4.2 * vmas as f64,
        _ => {
            let levels = ((vmas as f64).ln() / 8f64.ln()).ceil().max(1.0);
            360.0 + 150.0 * levels
        }
    }
}

/// Sites: p90 +18%, p99 x1.9, max x12, mean +7%, whole cycles.
const SITE_SPREAD: Spread = Spread {
    p90: 1.18,
    p99: 1.9,
    max: 12.0,
    mean: 1.07,
    min: 1.0,
    round: true,
};

/// Latency: p90 +15%, p99 x1.6, max x4, mean +4%, min -10%, whole ns.
const LATENCY_SPREAD: Spread = Spread {
    p90: 1.15,
    p99: 1.6,
    max: 4.0,
    mean: 1.04,
    min: 0.9,
    round: true,
};

fn stats(median: f64, calls: u64, stream: u64, trials: u32) -> SiteStats {
    let trial_medians = (0..trials as u64)
        .map(|t| (median * (1.0 + 0.02 * noise(t, stream))).round())
        .collect();
    SITE_SPREAD.site(calls, median, trial_medians)
}

/// One synthetic point of exp1 on the in-process platform.
pub fn point(search: &str, mapping: &str, iterations: u64, size: u64, trials: u32) -> Point {
    let stream = iterations ^ size ^ (search.len() as u64) << 40 ^ (mapping.len() as u64) << 48;
    // The median call sees about half of the final mappings.
    let fa = find_available_cycles(search, mapping, iterations / 2);
    let pages = size.div_ceil(4096) as f64;
    let cv = fa + 900.0;
    let gp = 600.0 + 95.0 * pages;
    let ma = 2_100.0 + 60.0 * pages;
    let mmap = cv + gp + ma + 700.0;
    let sites: BTreeMap<String, SiteStats> = [
        (SITE_MMAP, mmap),
        (SITE_CREATE_VMA, cv),
        (SITE_FIND_AVAILABLE, fa),
        (SITE_GET_PMAS, gp),
        (SITE_MAP_AS, ma),
    ]
    .into_iter()
    .zip(0..)
    .map(|((name, cycles), k)| {
        (
            name.to_string(),
            stats(cycles, iterations, stream + k, trials),
        )
    })
    .collect();
    let ns = mmap / cycles_per_ns(TSC_HZ).unwrap_or(1.0) + 1_800.0;
    let trial_ns: Vec<f64> = (0..trials as u64)
        .map(|t| (ns * (1.0 + 0.02 * noise(t, stream + 5))).round())
        .collect();
    let series = if iterations >= 10_000 {
        let bucket = 10u64;
        vec![CallSeries {
            site: SITE_FIND_AVAILABLE.into(),
            bucket_calls: bucket,
            mean_cycles: (0..iterations / bucket)
                .map(|b| {
                    let c = find_available_cycles(search, mapping, b * bucket + bucket / 2);
                    let spike = if b % 211 == 7 { 9_000.0 } else { 0.0 };
                    (c * (1.0 + 0.08 * noise(b, stream + 6)) + spike).round()
                })
                .collect(),
        }]
    } else {
        Vec::new()
    };
    Point {
        workload: "exp1".into(),
        platform: "inproc".into(),
        search: Some(search.into()),
        mapping: mapping.into(),
        touch: false,
        iterations,
        size,
        latency_ns: LATENCY_SPREAD.latency(ns, trial_ns),
        host_mappings: if mapping == "anon" { 1 } else { iterations },
        sites,
        series,
        ..Point::default()
    }
}

/// A synthetic exp1 run: private and anonymous 4 KiB mappings at 1000, 2000,
/// 5000 and 10000 iterations, a size sweep at 1000 iterations, both search
/// strategies, plus a native baseline; 10 trials each.
pub fn exp1_run() -> RunJson {
    let machine = Machine {
        hostname: "synthetic".into(),
        kernel: "6.1.0".into(),
        cpu_model: "Synthetic CPU @ 2.25GHz".into(),
        cores: 2,
        memory_bytes: 24 << 30,
    };
    let mut run = exp1_base(
        1_700_000_000,
        machine,
        serde_json::json!({"synthetic": true}),
    );
    for mapping in ["private", "anon"] {
        for search in ["linear", "maxgap"] {
            for it in [1_000u64, 2_000, 5_000, 10_000] {
                run.points.push(point(search, mapping, it, 4096, 10));
            }
            for size in [16u64 << 10, 256 << 10, 1 << 20] {
                run.points.push(point(search, mapping, 1_000, size, 10));
            }
        }
    }
    for it in [1_000u64, 2_000, 5_000, 10_000] {
        run.points.push(Point {
            workload: "exp1".into(),
            platform: "native".into(),
            search: None,
            mapping: "private".into(),
            iterations: it,
            size: 4096,
            latency_ns: LatencyStats {
                median: 8_000.0,
                p90: 8_900.0,
                p99: 12_000.0,
                trials: (0..10)
                    .map(|t| 8_000.0 * (1.0 + 0.02 * noise(t, 99)))
                    .collect(),
                ..LatencyStats::default()
            },
            host_mappings: it,
            ..Point::default()
        });
    }
    // The note names the module's old home: golden files pin its text.
    run.notes
        .push("synthetic bundle (flamegraph::synthetic): model numbers, not a measurement".into());
    run
}

/// A sampled profile in the shape the perf collectors write: host user
/// frames, host kernel frames (`_[k]`) and guest frames (`_[g]`).
pub fn sampled_profile() -> (FoldedStacks, ProfileInfo) {
    let mut f = FoldedStacks::new();
    let host = "sentryprof;run_point;Sentry::mmap";
    let rows: [(&str, u64); 9] = [
        (
            "MemoryManager::create_vma;VmaSet::find_available_linear",
            52_000_000,
        ),
        ("MemoryManager::create_vma;VmaSet::insert", 4_000_000),
        ("MemoryManager::get_pmas;PageAllocator::allocate", 6_500_000),
        (
            "MemoryManager::map_as;InprocAs::map;__mmap;do_mmap_[k];mmap_region_[k]",
            18_000_000,
        ),
        (
            "MemoryManager::map_as;InprocAs::map;__mmap;do_mmap_[k];vma_merge_[k]",
            3_000_000,
        ),
        (
            "MemoryManager::map_as;KvmAs::map;guest_map_[g];set_pte_[g]",
            2_500_000,
        ),
        (
            "MemoryManager::map_as;KvmAs::map;guest_map_[g];flush_tlb_[g]",
            1_200_000,
        ),
        (
            "MemoryManager::create_vma;VmaSet::find_available_linear;Gap::next",
            9_000_000,
        ),
        ("", 2_000_000),
    ];
    for (rest, w) in rows {
        let stack = if rest.is_empty() {
            host.to_string()
        } else {
            format!("{host};{rest}")
        };
        f.add_joined(stack, w);
    }
    let info = ProfileInfo {
        event: "cycles:HG".into(),
        folded: "stacks.folded".into(),
        frequency_hz: Some(4_000),
        samples: 4_920,
        host_samples: 4_730,
        guest_samples: 190,
        lost_samples: 0,
        total_weight: f.total_weight(),
    };
    (f, info)
}

/// Write the synthetic Exp1 bundle at `dir`, with [`sampled_profile`] as
/// its `stacks.folded` when `sampled`; returns `dir`.
pub fn write_exp1_bundle(
    dir: &std::path::Path,
    sampled: bool,
) -> Result<std::path::PathBuf, crate::BundleError> {
    let mut run = exp1_run();
    let w = crate::BundleWriter::create(dir)?;
    if sampled {
        let (f, info) = sampled_profile();
        w.write_file(crate::STACKS_FOLDED, f.to_text().as_bytes())?;
        run.profile = Some(info);
    }
    w.finish(&run)?;
    Ok(dir.to_path_buf())
}
