//! A kvm run with the VMM guest sampler (`--collect guest`) end to end
//! through the library: the point's and the run's folded stacks hold the
//! guest's stacks by name under `[guest]`, `run.json` counts them, and the
//! report prints the guest share beside rdtsc. SKIP where /dev/kvm is
//! absent.

use experiments::{
    CollectorKind, GapSearch, Plan, PlanRequest, PlatformKind, Session, WorkloadKind,
};
use instrumented_sentry::runners::kvm::runner::kvm_available;

#[test]
fn a_kvm_run_with_the_guest_sampler_writes_guest_stacks_by_name() {
    if let Err(why) = kvm_available() {
        eprintln!("SKIP: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bundle");
    let plan = Plan::new(&PlanRequest {
        workload: Some(WorkloadKind::Exp1),
        platforms: vec![PlatformKind::Kvm],
        searches: vec![GapSearch::MaxGap],
        iterations: vec![2000],
        trials: Some(2),
        warmup_trials: Some(0),
        collect: vec![CollectorKind::Guest],
        guest_freq: Some(5000),
        out: Some(out.clone()),
        ..PlanRequest::default()
    })
    .unwrap();
    assert_eq!(plan.guest_hz, Some(5000));
    let dir = Session::prepare(plan, &mut ())
        .unwrap()
        .execute(&mut ())
        .unwrap();
    let run: bundle::RunJson =
        serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
    let p = &run.points[0];
    let g = &p.extra["guest_sampler"];
    let samples = g["samples"].as_u64().expect("guest samples");
    assert!(samples > 0, "no guest sample: {g}");
    assert_eq!(g["hz"].as_u64(), Some(5000));
    let profile = run.profile.as_ref().expect("profile");
    assert_eq!(profile.event, "kvm-guest-sampler");
    assert_eq!(profile.guest_samples, samples);
    let folded = std::fs::read_to_string(dir.join("stacks.folded")).unwrap();
    let guest: u64 = folded
        .lines()
        .filter(|l| l.starts_with("[guest];_start_[g];mmap_loop_[g]"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    // Each sample weighs its period: 200,000 ns at 5 kHz.
    assert!(guest >= 200_000 * samples * 9 / 10, "{folded}");
    let point_folded = p.folded.as_deref().expect("point folded");
    assert!(std::fs::read_to_string(dir.join(point_folded))
        .unwrap()
        .contains("[guest];_start_[g];mmap_loop_[g]"));
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert!(
        report.contains("kvm guest share, exp1 kvm/maxgap"),
        "{report}"
    );
}
