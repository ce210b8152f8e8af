//! One stack across the boundary, on real platforms: perf samples of this
//! process joined with the windows the kvm, ptrace and systrap runners
//! record (`collectors::boundary_join`). Each test runs Exp1 trials with
//! perf sampling on, checks the shape of the joined stacks and measures
//! the share of the samples under the sentry's serving frame that carry
//! the workload's stack in front (printed; at least 90% asked, over at
//! least 10 samples). Skips with a visible line where perf_event_open,
//! CLOCK_MONOTONIC sample times, /dev/kvm, ptrace or seccomp are refused.
//!
//! The tests take one lock: CPU-wide sampling sees every thread of this
//! process, and another test's serving thread has windows this one does
//! not know.

use std::sync::Mutex;

use bundle::folded::FoldedStacks;
use collectors::collector::{PerfCollector, PerfConfig};
use collectors::symbolize::GuestSymbolMap;
use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::runners::inproc::InprocOptions;
use instrumented_sentry::runners::kvm::runner::{kvm_available, KvmOptions, KvmRunner};
use instrumented_sentry::runners::trap::{trap_available, TrapRunner};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::spec::{Mapping, PointSpec};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}

fn exp1(iterations: u64) -> PointSpec {
    PointSpec::exp1(Mapping::Private, false, iterations, 4096)
}

fn collector(what: &str) -> Option<PerfCollector> {
    match PerfCollector::new(PerfConfig {
        frequency_hz: 999,
        counters: false,
    }) {
        Ok(c) if c.event().monotonic_clock => Some(c),
        Ok(_) => {
            skip_line(format_args!(
                "SKIP: {what}: the kernel refused CLOCK_MONOTONIC sample times (use_clockid)"
            ));
            None
        }
        Err(e) => {
            skip_line(format_args!(
                "SKIP: {what}: perf_event_open refused here: {e}"
            ));
            None
        }
    }
}

/// Frames of a folded stack after its root.
fn split_frames(stack: &str) -> Vec<&str> {
    stack.split(';').collect()
}

fn bare(frame: &str) -> &str {
    let f = frame.strip_suffix("_[g]").unwrap_or(frame);
    let f = f.split('<').next().unwrap_or(f);
    f.rsplit("::").next().unwrap_or(f)
}

/// Weight under `under` after `serve_loop`, and of those the weight with
/// the workload's stack in front (root `root`, a marker starting `marker`).
fn coverage(
    folded: &FoldedStacks,
    (serve_loop, under): (&str, &str),
    root: &str,
    marker: &str,
) -> (u64, u64) {
    let (mut all, mut joined) = (0, 0);
    for (stack, w) in folded.iter() {
        let f = split_frames(stack);
        let Some(at) = f.iter().position(|x| bare(x) == serve_loop) else {
            continue;
        };
        if !f[at..].iter().any(|x| bare(x) == under) {
            continue;
        }
        all += w;
        if f[0] == root && f.iter().any(|x| x.starts_with(marker)) {
            joined += w;
        }
    }
    (all, joined)
}

/// Runs trials until at least `min_samples` samples fell under the serving
/// frame (at most `max_trials`); returns the folded stacks, the windows
/// recorded and the estimated samples under the serving frame.
fn sample_trials(
    c: &mut PerfCollector,
    runner: &mut dyn PlatformRunner,
    spec: &PointSpec,
    frames: (&str, &str),
    (root, marker): (&str, &str),
) -> (FoldedStacks, usize, u64, u64) {
    let mut folded = FoldedStacks::new();
    let mut windows = 0;
    let mut samples = 0;
    let mut period = 1;
    for _ in 0..8 {
        c.begin_point();
        let outcome = runner.run_trial(spec).expect("trial runs");
        windows += outcome.boundary.len();
        let p = c.end_point_joined(&outcome.boundary);
        samples += p.samples;
        if let Some(w) = p.total_weight.checked_div(p.samples) {
            period = w.max(1);
        }
        folded.merge(&p.folded);
        let (all, _) = coverage(&folded, frames, root, marker);
        if all / period >= 10 {
            break;
        }
    }
    let (all, _) = coverage(&folded, frames, root, marker);
    (folded, windows, samples, all / period)
}

fn check_trap(mechanism: Mechanism, marker: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let name = mechanism.name();
    if let Err(why) = trap_available(mechanism) {
        skip_line(format_args!("SKIP: {name} unavailable here: {why}"));
        return;
    }
    let Some(mut c) = collector(name) else {
        return;
    };
    let options = InprocOptions {
        probes: false,
        subtract_probe_cost: false,
        probe_every: 1,
        keep_last: false,
    };
    let mut runner = TrapRunner::new(mechanism, GapSearch::Linear, options);
    runner.record_boundary_stacks(true);
    let spec = exp1(4000);
    runner.check_point(&spec).expect("point accepted");
    let frames = ("serve", "mmap");
    let (folded, windows, samples, under) =
        sample_trials(&mut c, &mut runner, &spec, frames, ("[stub]", marker));
    assert!(
        windows as u64 >= spec.iterations,
        "{name}: one window per call served, got {windows} for {} calls",
        spec.iterations
    );
    // The shape: the stub's own frames from child_main to the loop, the
    // marker, then the sentry from its serving loop on.
    let joined: Vec<&str> = folded
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.starts_with("[stub];"))
        .collect();
    assert!(
        !joined.is_empty(),
        "{name}: no joined stack in {samples} samples"
    );
    for s in &joined {
        let f = split_frames(s);
        let m = f
            .iter()
            .position(|x| x.starts_with("[trap: "))
            .unwrap_or_else(|| panic!("{name}: no marker in {s}"));
        assert_eq!(f[1], "child_main", "{name}: {s}");
        assert!(f[..m].contains(&"mmap_loop"), "{name}: {s}");
        // The sentry's frames start at serve; a chain cut short of it (a
        // libc leaf without frame pointers) keeps the thread's name and
        // every frame.
        assert!(
            bare(f[m + 1]) == "serve" || !f[m + 1..].iter().any(|x| bare(x) == "serve"),
            "{name}: the sentry's frames start at serve: {s}"
        );
    }
    let (all, with) = coverage(&folded, frames, "[stub]", marker);
    let share = with as f64 / all.max(1) as f64;
    eprintln!(
        "{name}: {under} samples under serve..mmap, {:.1}% with the stub's stack ({samples} samples, {windows} windows)",
        share * 100.0
    );
    if under >= 10 {
        assert!(share >= 0.9, "{name}: only {:.1}% joined", share * 100.0);
    } else {
        skip_line(format_args!(
            "SKIP: {name}: coverage not asserted: {under} samples under serve..mmap in 8 trials"
        ));
    }
}

#[test]
fn systrap_samples_while_serving_carry_the_stubs_stack() {
    check_trap(Mechanism::Systrap, "[trap: seccomp]");
}

#[test]
fn ptrace_samples_while_serving_carry_the_stubs_stack() {
    check_trap(Mechanism::Ptrace, "[trap: ptrace]");
}

#[test]
fn kvm_samples_under_dispatch_carry_the_guests_stack() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(why) = kvm_available() {
        skip_line(format_args!("SKIP: {why}"));
        return;
    }
    let Some(mut c) = collector("kvm") else {
        return;
    };
    let mut runner = KvmRunner::new(GapSearch::Linear, KvmOptions::default());
    runner.record_boundary_stacks(true);
    let spec = exp1(4000);
    runner.check_point(&spec).expect("point accepted");
    c.set_guest_symbols(GuestSymbolMap::new(runner.guest_symbols().to_vec()));
    let frames = ("run_until_stop", "dispatch");
    let (folded, windows, samples, under) =
        sample_trials(&mut c, &mut runner, &spec, frames, ("[guest]", "[exit: "));
    assert!(
        windows as u64 >= spec.iterations,
        "kvm: one window per exit served, got {windows} for {} calls",
        spec.iterations
    );
    let joined: Vec<&str> = folded
        .iter()
        .map(|(s, _)| s)
        .filter(|s| s.contains(";[exit: "))
        .collect();
    assert!(
        !joined.is_empty(),
        "kvm: no joined stack in {samples} samples"
    );
    for s in &joined {
        let f = split_frames(s);
        let m = f
            .iter()
            .position(|x| x.starts_with("[exit: "))
            .unwrap_or_else(|| panic!("kvm: no marker in {s}"));
        assert_eq!(f[0], "[guest]", "{s}");
        assert_eq!(f[1], "_start_[g]", "kvm: the guest's outermost frame: {s}");
        assert!(f[..m].contains(&"mmap_loop_[g]"), "{s}");
        assert!(
            f[m + 1] == "run_until_stop" || !f[m + 1..].contains(&"run_until_stop"),
            "kvm: the sentry's frames start at run_until_stop: {s}"
        );
    }
    let (all, with) = coverage(&folded, frames, "[guest]", "[exit: ");
    let share = with as f64 / all.max(1) as f64;
    eprintln!(
        "kvm: {under} samples under run_until_stop..dispatch, {:.1}% with the guest's stack ({samples} samples, {windows} windows)",
        share * 100.0
    );
    if under >= 10 {
        assert!(share >= 0.9, "kvm: only {:.1}% joined", share * 100.0);
    } else {
        skip_line(format_args!(
            "SKIP: kvm: coverage not asserted: {under} samples under dispatch in 8 trials"
        ));
    }
    // Each window carries the KVM_RUN that ended in its exit, stamped on
    // the thread that ran it, before the sentry saw the exit.
    let outcome = runner.run_trial(&spec).expect("trial runs");
    assert!(!outcome.boundary.is_empty());
    for w in &outcome.boundary {
        let r = w.run.expect("kvm windows carry their run");
        assert!(
            r.entered_ns <= r.left_ns && r.left_ns <= w.start_ns && w.start_ns <= w.end_ns,
            "{r:?} {} {}",
            w.start_ns,
            w.end_ns
        );
    }
    let exit_kernel = folded
        .iter()
        .filter(|(s, _)| s.contains(";[exit: ") && s.contains("kvm_arch_vcpu_ioctl_run_[k]"))
        .count();
    eprintln!("kvm: {exit_kernel} joined stacks of the vCPU thread's KVM_RUN");
}
