//! The plan builder: defaults per workload, refused combinations, and the
//! one-line messages of every refusal.

use std::path::{Path, PathBuf};

use experiments::{GapSearch, Mapping, Plan, PlanError, PlanRequest, PlatformKind, WorkloadKind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../instrumented-sentry/fixtures/traces")
        .join(name)
}

fn refused(req: PlanRequest, needle: &str) -> PlanError {
    let e = Plan::new(&req).expect_err(needle);
    let msg = e.to_string();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert_eq!(msg.lines().count(), 1, "one line: {msg}");
    e
}

#[test]
fn defaults_are_the_main_job() {
    let plan = Plan::new(&PlanRequest::default()).unwrap();
    assert_eq!(plan.workload, WorkloadKind::Exp1);
    assert_eq!(plan.trials, 12);
    assert_eq!(plan.warmup_trials, 2);
    assert!(plan.probes && plan.perf);
    assert_eq!(plan.probe_every, 8);
    let labels: Vec<String> = plan.platforms.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["native", "inproc/linear", "inproc/maxgap"]);
    // 5,000 / 10,000 / 25,000 calls of 4 KiB private mappings.
    assert_eq!(plan.specs.len(), 3);
    assert_eq!(plan.point_count(), 9);
    assert!(plan.out.starts_with("sentryprof-out"));
    assert_eq!(plan.params["mappings"], serde_json::json!(["private"]));
}

#[test]
fn lists_expand_into_every_combination_without_duplicates() {
    let plan = Plan::new(&PlanRequest {
        mappings: vec![Mapping::Anon, Mapping::Private, Mapping::Anon],
        iterations: vec![50, 100],
        sizes: vec![4096],
        touch: vec![false, true],
        platforms: vec![PlatformKind::Inproc, PlatformKind::Native],
        searches: vec![GapSearch::MaxGap],
        ..PlanRequest::default()
    })
    .unwrap();
    assert_eq!(plan.specs.len(), 2 * 2 * 2);
    let labels: Vec<String> = plan.platforms.iter().map(|c| c.label()).collect();
    assert_eq!(labels, ["inproc/maxgap", "native"]);
}

#[test]
fn workload_defaults_differ() {
    let exp2 = Plan::new(&PlanRequest {
        workload: Some(WorkloadKind::Exp2),
        ..PlanRequest::default()
    })
    .unwrap();
    // 1 KiB .. 1 MiB in powers of two, 25,000 calls.
    assert_eq!(exp2.specs.len(), 11);
    assert!(exp2.specs.iter().all(|s| s.iterations == 25_000));
}

#[test]
fn combinations_that_do_not_go_together_are_refused() {
    let malloc = Some(WorkloadKind::Malloc);
    let replay = Some(WorkloadKind::Replay);
    refused(
        PlanRequest {
            workload: replay,
            ..PlanRequest::default()
        },
        "needs --trace",
    );
    refused(
        PlanRequest {
            trace: Some("x.trace".into()),
            ..PlanRequest::default()
        },
        "only used by --workload replay",
    );
    refused(
        PlanRequest {
            workload: malloc,
            mappings: vec![Mapping::Anon],
            ..PlanRequest::default()
        },
        "does not apply",
    );
    refused(
        PlanRequest {
            trials: Some(0),
            ..PlanRequest::default()
        },
        "--trials 0",
    );
    refused(
        PlanRequest {
            warmup_trials: Some(5000),
            ..PlanRequest::default()
        },
        "--warmup-trials 5000",
    );
    refused(
        PlanRequest {
            probe_every: Some(0),
            ..PlanRequest::default()
        },
        "--probe-every 0",
    );
    refused(
        PlanRequest {
            perf_freq: Some(0),
            ..PlanRequest::default()
        },
        "at least 1 Hz",
    );
    refused(
        PlanRequest {
            keep_memory: true,
            platforms: vec![PlatformKind::Native],
            ..PlanRequest::default()
        },
        "add --platform inproc",
    );
    refused(
        PlanRequest {
            out: Some(PathBuf::new()),
            ..PlanRequest::default()
        },
        "--out: empty path",
    );
}

#[test]
fn points_that_cannot_fit_are_refused() {
    refused(
        PlanRequest {
            iterations: vec![10_000_000],
            sizes: vec![1 << 30],
            ..PlanRequest::default()
        },
        "does not fit the address space",
    );
    refused(
        PlanRequest {
            iterations: vec![1_000_000],
            sizes: vec![1 << 20],
            touch: vec![true],
            ..PlanRequest::default()
        },
        "more memory than this machine has",
    );
}

#[test]
fn replay_reads_its_trace_and_runs_on_native() {
    let trace = fixture("ls.trace");
    let replay = |platforms: Vec<PlatformKind>| PlanRequest {
        workload: Some(WorkloadKind::Replay),
        trace: Some(trace.clone()),
        platforms,
        ..PlanRequest::default()
    };
    let plan = Plan::new(&replay(vec![PlatformKind::Inproc])).unwrap();
    assert_eq!(plan.specs.len(), 1);
    assert_eq!(plan.specs[0].iterations, 39);
    let native = Plan::new(&replay(vec![PlatformKind::Native])).unwrap();
    assert_eq!(native.platforms.len(), 1);
    assert_eq!(native.platforms[0].platform, PlatformKind::Native);
    refused(
        PlanRequest {
            touch: vec![true],
            ..replay(vec![PlatformKind::Inproc])
        },
        "--touch does not apply to --workload replay",
    );
    refused(
        PlanRequest {
            iterations: vec![10],
            ..replay(vec![PlatformKind::Inproc])
        },
        "do not apply to --workload replay",
    );
    refused(
        PlanRequest {
            trace: Some("/nonexistent/x.trace".into()),
            ..replay(vec![PlatformKind::Inproc])
        },
        "/nonexistent/x.trace",
    );
}

#[test]
fn malformed_trace_is_refused_with_its_line_number() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("bad.trace");
    std::fs::write(
        &trace,
        "brk(NULL) = 0x1000\nmmap(NULL, 4096, PROT_READ) = 0x2000\n",
    )
    .unwrap();
    refused(
        PlanRequest {
            workload: Some(WorkloadKind::Replay),
            trace: Some(trace),
            platforms: vec![PlatformKind::Inproc],
            ..PlanRequest::default()
        },
        "bad.trace:2:",
    );
}

#[test]
fn collect_lists_what_runs_and_refuses_ignored_flags() {
    use experiments::CollectorKind;
    let only = |c: Vec<CollectorKind>| {
        Plan::new(&PlanRequest {
            collect: c,
            ..PlanRequest::default()
        })
        .unwrap()
    };
    let p = only(vec![CollectorKind::Probes]);
    assert!(p.probes && !p.perf, "--collect probes samples nothing");
    let p = only(vec![CollectorKind::Perf]);
    assert!(!p.probes && p.perf, "--collect perf times nothing");
    let p = only(vec![CollectorKind::Probes, CollectorKind::Perf]);
    assert!(p.probes && p.perf && !p.boundary_everywhere);
    let p = only(vec![CollectorKind::Perf, CollectorKind::Boundary]);
    assert!(p.perf && p.boundary_everywhere, "--collect perf,boundary");
    let p = Plan::new(&PlanRequest {
        no_probes: true,
        ..PlanRequest::default()
    })
    .unwrap();
    assert!(!p.probes && p.perf);

    refused(
        PlanRequest {
            no_probes: true,
            collect: vec![CollectorKind::Probes],
            ..PlanRequest::default()
        },
        "--no-probes contradicts --collect probes",
    );
    refused(
        PlanRequest {
            collect: vec![CollectorKind::Perf],
            probe_every: Some(4),
            ..PlanRequest::default()
        },
        "--probe-every 4 needs the probes",
    );
    refused(
        PlanRequest {
            no_probes: true,
            subtract_probe_cost: true,
            ..PlanRequest::default()
        },
        "--subtract-probe-cost needs the probes",
    );
    refused(
        PlanRequest {
            collect: vec![CollectorKind::Probes],
            perf_freq: Some(99),
            ..PlanRequest::default()
        },
        "--perf-freq needs --collect perf",
    );
    refused(
        PlanRequest {
            collect: vec![CollectorKind::Probes, CollectorKind::Boundary],
            ..PlanRequest::default()
        },
        "--collect boundary needs perf",
    );
    refused(
        PlanRequest {
            perf_freq: Some(10_000_000),
            ..PlanRequest::default()
        },
        "above the kernel's limit",
    );
}

#[test]
fn the_guest_sampler_runs_where_kvm_runs_and_is_refused_elsewhere() {
    use experiments::CollectorKind;
    let kvm = || PlanRequest {
        platforms: vec![PlatformKind::Kvm],
        ..PlanRequest::default()
    };
    // On by default with kvm, at 1 kHz; off without kvm.
    assert_eq!(Plan::new(&kvm()).unwrap().guest_hz, Some(1000));
    assert_eq!(Plan::new(&PlanRequest::default()).unwrap().guest_hz, None);
    let p = Plan::new(&PlanRequest {
        collect: vec![CollectorKind::Guest],
        guest_freq: Some(250),
        ..kvm()
    })
    .unwrap();
    assert_eq!(p.guest_hz, Some(250));
    assert!(
        !p.probes && !p.perf,
        "--collect guest alone times and samples nothing else"
    );
    // A list without guest turns it off.
    let p = Plan::new(&PlanRequest {
        collect: vec![CollectorKind::Probes],
        ..kvm()
    })
    .unwrap();
    assert_eq!(p.guest_hz, None);
    refused(
        PlanRequest {
            collect: vec![CollectorKind::Guest],
            platforms: vec![PlatformKind::Inproc],
            ..PlanRequest::default()
        },
        "--collect guest samples the guest of the kvm platform's VMM; add --platform kvm",
    );
    refused(
        PlanRequest {
            guest_freq: Some(500),
            ..PlanRequest::default()
        },
        "--guest-freq needs --collect guest",
    );
    refused(
        PlanRequest {
            collect: vec![CollectorKind::Probes],
            guest_freq: Some(500),
            ..kvm()
        },
        "--guest-freq needs --collect guest",
    );
    for hz in [0, 100_001] {
        refused(
            PlanRequest {
                guest_freq: Some(hz),
                ..kvm()
            },
            &format!("--guest-freq {hz}: the guest sampling rate must be 1..=100000 Hz"),
        );
    }
}

#[test]
fn boundary_stacks_are_off_by_default_where_they_cost_more_than_two_percent() {
    use experiments::summary::boundary_stacks_off_line;
    use experiments::CollectorKind;
    let plan = |platforms: Vec<PlatformKind>, collect: Vec<CollectorKind>| {
        Plan::new(&PlanRequest {
            platforms,
            collect,
            ..PlanRequest::default()
        })
        .unwrap()
    };
    let served = vec![
        PlatformKind::Native,
        PlatformKind::Systrap,
        PlatformKind::Ptrace,
    ];
    let off: Vec<&str> = served
        .iter()
        .filter(|p| matches!(p, PlatformKind::Systrap | PlatformKind::Ptrace))
        .filter(|p| !p.boundary_stacks_by_default())
        .map(|p| p.name())
        .collect();
    let line = boundary_stacks_off_line(&plan(served.clone(), Vec::new()));
    if off.is_empty() {
        assert_eq!(line, None);
    } else {
        let line = line.expect("a platform off by default is named");
        assert!(line.contains(&off.join(", ")), "{line}");
        assert!(line.contains("--collect probes,perf,boundary"), "{line}");
    }
    // Asked for everywhere, or no perf, or no served platform: no line.
    let all = vec![
        CollectorKind::Probes,
        CollectorKind::Perf,
        CollectorKind::Boundary,
    ];
    assert_eq!(boundary_stacks_off_line(&plan(served, all)), None);
    let probes = vec![CollectorKind::Probes];
    assert_eq!(
        boundary_stacks_off_line(&plan(vec![PlatformKind::Systrap], probes)),
        None
    );
    let native = vec![PlatformKind::Native, PlatformKind::Inproc];
    assert_eq!(boundary_stacks_off_line(&plan(native, Vec::new())), None);
}
