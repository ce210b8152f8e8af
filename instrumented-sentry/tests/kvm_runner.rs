//! `--platform kvm` through the run loop's seam (`PlatformRunner`): Exp1
//! with and without touch, the malloc model and a trace replay, each as a
//! real guest. Skips (with a SKIP line) where /dev/kvm is absent or the VM
//! cannot be made.

use std::sync::Arc;

use instrumented_sentry::runners::inproc::{InprocOptions, InprocRunner};
use instrumented_sentry::runners::kvm::runner::{
    kvm_available, KvmOptions, KvmRunner, CALIBRATION_TRIALS,
};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::trace::parse_trace;
use instrumented_sentry::workload::{Mapping, PointSpec, PointWork, WorkloadKind};

fn runner(search: GapSearch) -> Option<KvmRunner> {
    if let Err(why) = kvm_available() {
        skip_line(format_args!("SKIP: {why}"));
        return None;
    }
    Some(KvmRunner::new(
        search,
        KvmOptions {
            probes: true,
            subtract_probe_cost: false,
            probe_every: 1,
            // The guest sampler armed as a run arms it by default.
            guest_hz: Some(1000),
        },
    ))
}

fn exp1(mapping: Mapping, touch: bool, iterations: u64) -> PointSpec {
    PointSpec::exp1(mapping, touch, iterations, 16 * 1024)
}

fn site_calls(outcome: &instrumented_sentry::runners::TrialOutcome, site: &str) -> u64 {
    outcome
        .probes
        .iter()
        .map(|p| {
            p.report(16)
                .sites
                .iter()
                .filter(|s| s.site.name() == site)
                .map(|s| s.calls)
                .sum::<u64>()
        })
        .sum()
}

#[test]
fn exp1_private_runs_as_a_guest_with_one_exit_per_mmap() {
    let Some(mut r) = runner(GapSearch::Linear) else {
        return;
    };
    let spec = exp1(Mapping::Private, false, 300);
    r.check_point(&spec).expect("point accepted");
    assert!(r.raw_exit().expect("raw exit measured").median() > 0);
    let out = r.run_trial(&spec).expect("trial");
    assert_eq!(out.calls, 300);
    assert!(out.elapsed_ns > 0);
    assert_eq!(r.last_call_cycles().len(), 300);
    assert_eq!(site_calls(&out, "find_available"), 300);
    let exits = &out.extra["exits"];
    assert_eq!(exits["per_mmap"].as_f64(), Some(1.0));
    assert_eq!(exits["fault"].as_u64(), Some(0));
    let names: Vec<&str> = r
        .guest_symbols()
        .iter()
        .map(|(_, _, n)| n.as_str())
        .collect();
    for f in ["_start", "mmap_loop", "sys_call", "pf_entry", "touch_pages"] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
    for (s, e, n) in r.guest_symbols() {
        assert!(s < e, "{n}: empty range");
    }
    // Each trial measures a raw exit right before it; the point's extra
    // holds every trial's difference and their median.
    let raw = out.extra["raw_exit_this_trial"]["median_cycles"]
        .as_u64()
        .expect("raw exit of this trial");
    let guest = out.extra["guest_call_cycles"]["median"]
        .as_u64()
        .expect("guest median");
    assert!(raw > 0 && guest > 0);
    assert_eq!(
        out.extra["guest_call_cycles"]["median_beyond_raw_exit"].as_u64(),
        Some(guest.saturating_sub(raw))
    );
    // The counted trial ran the workload alone: its guest made exactly
    // the workload's exits (300 mmaps and one exit call), no paired raw
    // exit.
    let exits = &out.extra["exits"];
    assert_eq!(exits["paired_raw"].as_u64(), Some(0));
    assert_eq!(exits["total"].as_u64(), Some(301));
    assert_eq!(exits["syscall"].as_u64(), Some(301));
    assert_eq!(exits["per_call"].as_f64(), Some(301.0 / 300.0));
    // The guest sampler was armed: its stops are counted apart from the
    // workload's exits, one stack each (and a stack at each exit a tick
    // landed in).
    let g = out.guest.as_ref().expect("guest sampler armed");
    let stops = exits["sample_stops"].as_u64().expect("sample stops");
    assert!(stops <= g.summary.samples);
    assert!(g.summary.ticks >= g.summary.samples);
    // The paired comparison ran in calibration trials of its own, when the
    // point was set up: each call paired with a raw exit just before it.
    let cal = &out.extra["paired_raw_exit"];
    assert_eq!(cal["in_counted_trials"].as_bool(), Some(false));
    assert_eq!(cal["calibration_trials"].as_u64(), Some(CALIBRATION_TRIALS));
    assert_eq!(cal["round_trips"].as_u64(), Some(300 * CALIBRATION_TRIALS));
    assert!(cal["median_cycles"].as_u64() > Some(0));
    assert!(cal["call_median_cycles"].as_u64() > Some(0));
    assert!(cal["median_beyond_raw_exit"].as_u64().is_some());
    assert_eq!(cal["exits"]["paired_raw"].as_u64(), Some(300));
    assert_eq!(cal["exits"]["total"].as_u64(), Some(601));
    assert_eq!(cal["exits"]["per_call"].as_f64(), Some(301.0 / 300.0));
    let second = r.run_trial(&spec).expect("trial");
    assert_eq!(second.extra["exits"]["paired_raw"].as_u64(), Some(0));
    assert_eq!(
        second.extra["paired_raw_exit"], *cal,
        "one calibration per point"
    );
    let point = r.point_extra(&[&out.extra, &second.extra]);
    let over = &point["over_trials"];
    assert_eq!(over["trials"].as_u64(), Some(2));
    let beyond: Vec<u64> = over["beyond_raw_exit_cycles"]
        .as_array()
        .expect("per-trial differences")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(beyond.len(), 2);
    assert_eq!(
        over["median_beyond_raw_exit"].as_u64(),
        Some((beyond[0] + beyond[1]) / 2)
    );
    let paired: Vec<u64> = over["paired_beyond_raw_exit_cycles"]
        .as_array()
        .expect("per-calibration-trial paired differences")
        .iter()
        .filter_map(serde_json::Value::as_u64)
        .collect();
    assert_eq!(paired.len() as u64, CALIBRATION_TRIALS);
    assert_eq!(
        over["paired_calibration_trials"].as_u64(),
        Some(CALIBRATION_TRIALS)
    );
    assert_eq!(
        over["paired_median_beyond_raw_exit"].as_u64(),
        cal["median_beyond_raw_exit"].as_u64()
    );
}

#[test]
fn exp1_touch_faults_through_the_guest_idt() {
    let Some(mut r) = runner(GapSearch::MaxGap) else {
        return;
    };
    let spec = exp1(Mapping::Shared, true, 50);
    r.check_point(&spec).expect("point accepted");
    let out = r.run_trial(&spec).expect("trial");
    // 16 KiB inside one 64 KiB fault window: one fault per mapping, one
    // exit per fault.
    assert_eq!(out.extra["exits"]["fault"].as_u64(), Some(50));
    assert_eq!(out.extra["exits"]["per_fault"].as_f64(), Some(1.0));
    // Only the workload's exits: 50 mmaps, 50 faults, one exit call.
    assert_eq!(out.extra["exits"]["paired_raw"].as_u64(), Some(0));
    assert_eq!(out.extra["exits"]["total"].as_u64(), Some(101));
    assert_eq!(out.extra["exits"]["per_call"].as_f64(), Some(101.0 / 50.0));
    assert_eq!(
        out.extra["paired_raw_exit"]["exits"]["paired_raw"].as_u64(),
        Some(50)
    );
    assert_eq!(site_calls(&out, "fault"), 50);
    assert!(out.extra["memory_slots"].as_u64().unwrap_or(0) >= 2);
}

#[test]
fn malloc_and_replay_run_on_the_request_serving_guest() {
    let Some(mut r) = runner(GapSearch::MaxGap) else {
        return;
    };
    let malloc = PointSpec {
        workload: WorkloadKind::Malloc,
        work: PointWork::Malloc,
        touch: true,
        iterations: 64,
        size: 200 * 1024,
    };
    r.check_point(&malloc).expect("malloc accepted");
    let out = r.run_trial(&malloc).expect("malloc trial");
    assert_eq!(out.calls, 64);
    assert!(out.extra["exits"]["request"].as_u64().unwrap_or(0) >= 64);

    let text = "\
brk(NULL) = 0x555555554000
mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
mprotect(0x7f0000000000, 4096, PROT_READ) = 0
munmap(0x7f0000000000, 8192) = 0
munmap(0x7f0000000000, 8192) = 0
brk(0x555555575000) = 0x555555575000
";
    let trace = Arc::new(parse_trace("kvm.trace", text).expect("trace"));
    let replay = PointSpec {
        workload: WorkloadKind::Replay,
        work: PointWork::Replay { trace },
        touch: false,
        iterations: 6,
        size: 0,
    };
    r.check_point(&replay).expect("replay accepted");
    let out = r.run_trial(&replay).expect("replay trial");
    assert_eq!(out.calls, 6);
    assert_eq!(out.extra["calls"].as_u64(), Some(6));
    // The same replay in-process gives the same outcome call by call.
    let mut inproc = InprocRunner::new(GapSearch::MaxGap, InprocOptions::default());
    inproc.check_point(&replay).expect("inproc replay accepted");
    let reference = inproc.run_trial(&replay).expect("inproc replay");
    for key in ["matched", "mismatched", "by_syscall", "replay_errors"] {
        assert_eq!(
            out.extra[key], reference.extra[key],
            "{key}: kvm {} inproc {}",
            out.extra, reference.extra
        );
    }
    assert!(out.extra["matched"].as_u64().unwrap_or(0) >= 5);
    // The munmap dropped present translations: the VMM flushed them.
    assert!(
        out.extra["kvm_exits"][0]["translation_flushes"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    );
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
