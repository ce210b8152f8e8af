//! The browser's synthetic dataset (TUI snapshots, tests, benches and the
//! demo example): an exp1-style run (file-backed private mmaps, linear and
//! max-gap search, in-process and native platforms) with probe figures
//! shaped like the study's (linear search grows with the number of
//! mappings, max-gap does not), the doctor facts of a test machine, a folded
//! profile with host, kernel and guest frames, and a writer of whole bundles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::builders::{exp1_base, Spread, TSC_HZ};
use crate::folded::FoldedStacks;
use crate::io::{BundleError, BundleWriter};
use crate::schema::{
    Capabilities, CapabilityCheck, LatencyStats, Machine, Point, ProfileInfo, RunJson, SiteStats,
    ALL_SITES, STACKS_FOLDED,
};
use crate::tsc::cycles_per_ns;

/// Mapping counts of the sample run's points.
pub const ITERATIONS: [u64; 4] = [1_000, 4_000, 16_000, 64_000];

fn check(name: &str, ok: bool, value: &str, verdict: &str, fix: Option<&str>) -> CapabilityCheck {
    CapabilityCheck {
        name: name.into(),
        ok,
        value: value.into(),
        verdict: verdict.into(),
        fix: fix.map(str::to_string),
    }
}

/// The doctor facts of the team's test machine.
pub fn sample_capabilities() -> Capabilities {
    Capabilities {
        perf_event_paranoid: Some(2),
        hardware_cycles: true,
        sampling_event: Some("cycles:HG".into()),
        host_guest_split_enforced: Some(false),
        kvm_available: true,
        hypervisor: Some("KVM".into()),
        tsc_constant: true,
        tsc_hz: Some(TSC_HZ),
        max_map_count: Some(65_530),
        kallsyms_readable: true,
        checks: vec![
            check(
                "perf_event_paranoid",
                true,
                "2",
                "user-space sampling of own processes allowed",
                None,
            ),
            check(
                "hardware_cycles",
                true,
                "yes",
                "hardware cycles counter opens",
                None,
            ),
            check(
                "host_guest_split",
                false,
                "not enforced",
                "cycles:H and cycles:G count the same; host/guest told apart by frame only",
                Some("run on bare metal for a real split"),
            ),
            check("kvm", true, "/dev/kvm", "KVM usable (PVM nested)", None),
            check(
                "tsc",
                true,
                "2.25 GHz constant",
                "rdtsc probes are comparable across cores",
                None,
            ),
            check(
                "max_map_count",
                true,
                "65530",
                "enough for 64k mappings per trial",
                Some("sysctl vm.max_map_count=262144 for larger runs"),
            ),
        ],
    }
}

/// Trial values around `median` with a deterministic spread of +-2%.
fn trials(median: f64, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| median * (1.0 + ((i * 7 % 11) as f64 - 5.0) / 250.0))
        .collect()
}

/// Sites: p90 +30%, p99 x2.1, max x9, mean +10%, not rounded.
const SITE_SPREAD: Spread = Spread {
    p90: 1.3,
    p99: 2.1,
    max: 9.0,
    mean: 1.1,
    min: 1.0,
    round: false,
};

/// Latency: p90 +20%, p99 x1.9, max x6, mean +5%, min -20%, not rounded.
const LATENCY_SPREAD: Spread = Spread {
    p90: 1.2,
    p99: 1.9,
    max: 6.0,
    mean: 1.05,
    min: 0.8,
    round: false,
};

fn site(calls: u64, median: f64) -> SiteStats {
    SITE_SPREAD.site(calls, median, trials(median, 10))
}

/// One point of the sample run. `slowdown` multiplies the search cost
/// (1.0 for the reference run; a second bundle for Compare uses another).
pub fn sample_point(platform: &str, search: Option<&str>, iterations: u64, slowdown: f64) -> Point {
    let n = iterations as f64;
    // Cycles of one findAvailable call: linear walks half the gaps on
    // average, max-gap descends the tree.
    let find = match search {
        Some("linear") => (60.0 + 1.1 * n / 2.0) * slowdown,
        Some(_) => (90.0 + 35.0 * n.log2()) * slowdown,
        None => 0.0,
    };
    let (latency, sites) = if platform == "native" {
        (7_000.0 + 0.01 * n, BTreeMap::new())
    } else {
        let create = 900.0 + find;
        let get_pmas = 1_400.0;
        let map_as = 16_000.0;
        let mmap = create + get_pmas + map_as + 300.0;
        let mut sites = BTreeMap::new();
        for (name, cycles) in ALL_SITES
            .iter()
            .zip([mmap, create, find, get_pmas, map_as, 0.0])
        {
            if cycles > 0.0 {
                sites.insert(name.to_string(), site(iterations, cycles));
            }
        }
        (mmap / cycles_per_ns(TSC_HZ).unwrap_or(1.0), sites)
    };
    Point {
        workload: "exp1".into(),
        platform: platform.into(),
        search: search.map(str::to_string),
        mapping: "private".into(),
        touch: false,
        iterations,
        size: 4096,
        latency_ns: LATENCY_SPREAD.latency(latency, trials(latency, 10)),
        host_mappings: if platform == "native" {
            iterations
        } else {
            1 + iterations / 512
        },
        sites,
        ..Point::default()
    }
}

/// A bare exp1 point (private file mappings of 4 KiB) with only its
/// median latency set: for tests of what is made from latencies.
pub fn latency_point(
    platform: &str,
    search: Option<&str>,
    iterations: u64,
    median_ns: f64,
) -> Point {
    Point {
        workload: "exp1".into(),
        platform: platform.into(),
        search: search.map(str::to_string),
        mapping: "private".into(),
        iterations,
        size: 4096,
        latency_ns: LatencyStats {
            median: median_ns,
            ..LatencyStats::default()
        },
        ..Point::default()
    }
}

/// The sample run: exp1, private file mappings of 4 KiB, inproc with both
/// strategies and native, at every count of [`ITERATIONS`].
pub fn sample_run(slowdown: f64) -> RunJson {
    let machine = Machine {
        hostname: "sandbox-01".into(),
        kernel: "6.1.0-28-amd64".into(),
        cpu_model: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz".into(),
        cores: 2,
        memory_bytes: 24 << 30,
    };
    let params = serde_json::json!({"iterations": ITERATIONS, "size": 4096});
    let mut run = exp1_base(1_795_228_380, machine, params);
    run.command = [
        "sentryprof",
        "run",
        "--workload",
        "exp1",
        "--mapping",
        "private",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    run.capabilities = sample_capabilities();
    for &n in &ITERATIONS {
        run.points
            .push(sample_point("inproc", Some("linear"), n, slowdown));
        run.points
            .push(sample_point("inproc", Some("maxgap"), n, slowdown));
        run.points.push(sample_point("native", None, n, 1.0));
    }
    run.notes
        .push("cycles:H and cycles:G are not split on this machine".into());
    run
}

/// A profile of the sample run: the mmap path of the sentry, host kernel
/// frames under the platform's host mmap, and guest frames of a KVM vCPU.
pub fn sample_folded() -> FoldedStacks {
    let base = "sentryprof;run_point;Workload::exp1;MemoryManager::mmap";
    let lines = [
        (
            "createVMA;findAvailable;SegmentSet::last_large_enough_gap",
            5200,
        ),
        (
            "createVMA;findAvailable;SegmentSet::last_large_enough_gap;GapIterator::prev_gap",
            2400,
        ),
        ("createVMA;SegmentSet::insert_with_merge", 610),
        ("createVMA;SegmentSet::insert_with_merge;Node::split", 90),
        ("getPMAs;PageAllocator::allocate", 300),
        (
            "mapAS;InprocPlatform::map;mmap64;do_mmap_[k];mmap_region_[k]",
            1900,
        ),
        (
            "mapAS;InprocPlatform::map;mmap64;do_mmap_[k];vma_merge_[k]",
            420,
        ),
        ("mapAS;KvmPlatform::map;PageTables::map", 260),
    ];
    let mut f = FoldedStacks::new();
    for (tail, w) in lines {
        f.add_joined(format!("{base};{tail}"), w);
    }
    f.add_joined(base.to_string(), 75);
    f.add_joined(
        "sentryprof;vcpu_run;KVM_RUN_[k];guest_syscall_[g];guest_mmap_[g];guest_fault_[g]".into(),
        640,
    );
    f.add_joined(
        "sentryprof;vcpu_run;KVM_RUN_[k];vmx_vcpu_run_[k]".into(),
        310,
    );
    f.add_joined(
        "sentryprof;Workload::exp1;open_backing_file;memfd_create_[k]".into(),
        12,
    );
    f
}

/// Write a bundle holding `run` (and `stacks` as `stacks.folded` when given)
/// at `dir`.
pub fn write_bundle(
    dir: &Path,
    run: &RunJson,
    stacks: Option<&FoldedStacks>,
) -> Result<PathBuf, BundleError> {
    let w = BundleWriter::create(dir)?;
    let mut run = run.clone();
    if let Some(stacks) = stacks {
        w.write_file(STACKS_FOLDED, stacks.to_text().as_bytes())?;
        let samples: u64 = stacks.iter().count() as u64;
        let guest: u64 = stacks
            .iter()
            .filter(|(s, _)| s.contains("_[g]"))
            .map(|(_, w)| w)
            .sum();
        run.profile = Some(ProfileInfo {
            event: "cycles:HG".into(),
            folded: STACKS_FOLDED.into(),
            frequency_hz: Some(4_000),
            samples: stacks.total_weight().max(samples),
            host_samples: stacks.total_weight() - guest,
            guest_samples: guest,
            lost_samples: 0,
            total_weight: stacks.total_weight(),
        });
    }
    w.finish(&run)
}
