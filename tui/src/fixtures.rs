//! Realistic bundles built with the real schema types, for tests, benches
//! and demos of the browser: an exp1-style run (file-backed private mmaps,
//! linear and max-gap search, in-process and native platforms) with probe
//! figures shaped like the study's (linear search grows with the number of
//! mappings, max-gap does not), a folded profile with host, kernel and guest
//! frames, and a generator of large synthetic profiles.
//!
//! Nothing here is read by the browser itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bundle::folded::FoldedStacks;
use bundle::{
    BundleError, BundleKind, BundleWriter, Capabilities, CapabilityCheck, LatencyStats, Machine,
    Point, ProfileInfo, RunJson, SiteStats, WorkloadInfo, ALL_SITES, STACKS_FOLDED,
};

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
        tsc_hz: Some(2_250_000_000),
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

fn site(calls: u64, median: f64) -> SiteStats {
    SiteStats {
        calls,
        median_cycles: median,
        p90_cycles: median * 1.3,
        p99_cycles: median * 2.1,
        max_cycles: median * 9.0,
        mean_cycles: median * 1.1,
        total_cycles: median * 1.1 * calls as f64,
        trial_medians: trials(median, 10),
    }
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
        (mmap / 2.25, sites)
    };
    Point {
        workload: "exp1".into(),
        platform: platform.into(),
        search: search.map(str::to_string),
        mapping: "private".into(),
        touch: false,
        iterations,
        size: 4096,
        latency_ns: LatencyStats {
            median: latency,
            p90: latency * 1.2,
            p99: latency * 1.9,
            mean: latency * 1.05,
            min: latency * 0.8,
            max: latency * 6.0,
            trials: trials(latency, 10),
        },
        host_mappings: if platform == "native" {
            iterations
        } else {
            1 + iterations / 512
        },
        sites,
        ..Point::default()
    }
}

/// The sample run: exp1, private file mappings of 4 KiB, inproc with both
/// strategies and native, at every count of [`ITERATIONS`].
pub fn sample_run(slowdown: f64) -> RunJson {
    let mut run = RunJson::new(BundleKind::Run);
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
    run.created_unix = 1_795_228_380;
    run.machine = Machine {
        hostname: "sandbox-01".into(),
        kernel: "6.1.0-28-amd64".into(),
        cpu_model: "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz".into(),
        cores: 2,
        memory_bytes: 24 << 30,
    };
    run.workload = WorkloadInfo {
        name: "exp1".into(),
        params: serde_json::json!({"iterations": ITERATIONS, "size": 4096}),
    };
    run.tsc_hz = 2_250_000_000;
    run.probe_overhead_cycles = 36.0;
    run.probe_overhead_subtracted = true;
    run.probes_enabled = true;
    run.capabilities = sample_capabilities();
    run.trials = 10;
    run.warmup_trials = 2;
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

/// SplitMix64, so generated profiles are the same on every run.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// A large profile with exactly `unique` distinct stacks: depths 4 to 40,
/// frames drawn from a vocabulary of 5,000 names with a skew towards a few
/// hot callers (as real profiles are), about 5% guest and 10% kernel frames.
pub fn synthetic_folded(unique: usize, seed: u64) -> FoldedStacks {
    let mut rng = Mix(seed);
    let mut f = FoldedStacks::new();
    let name = |i: u64| -> String {
        match i % 20 {
            0 => format!("guest_fn_{i}_[g]"),
            1 | 2 => format!("kernel_fn_{i}_[k]"),
            _ => format!("sentry::module_{}::function_{i}", i % 37),
        }
    };
    let mut frames: Vec<String> = Vec::new();
    while f.len() < unique {
        let depth = 4 + (rng.next() % 37) as usize;
        frames.clear();
        for level in 0..depth {
            // Shallow levels pick among few names, deep levels among many.
            let span = (4u64 << level.min(12)).min(5_000);
            let r = rng.next();
            let pick = (r % span) * (r >> 60) / 15;
            frames.push(name(pick + level as u64 * 13));
        }
        let weight = 1 + rng.next() % 50;
        f.add_joined(frames.join(";"), weight);
    }
    f
}
