//! A kvm bundle whose stacks cross the guest boundary (issue 13): the
//! sample run's kvm points, each with folded stacks shaped like a real
//! `--collect probes,perf,guest,boundary` run's (the guest's own stacks
//! under `[guest]`, stacks joined at `[exit: mmio]` with the sentry's
//! `dispatch` and host kernel frames under it, the exit's handling outside
//! `dispatch`, and host stacks outside the boundary) and the rdtsc figures
//! of one call (`guest_call_cycles`, `raw_exit_this_trial`). For the TUI's
//! guest / exit / sentry split; nothing here is a measurement.

use std::path::{Path, PathBuf};

use super::sample::{sample_point, sample_run};
use crate::folded::FoldedStacks;
use crate::io::{BundleError, BundleWriter};
use crate::schema::{Point, ProfileInfo, RunJson, STACKS_FOLDED};

/// Weight of one sample (a 1 kHz period in nanoseconds).
pub const PERIOD_NS: u64 = 1_000_000;

const GUEST: &str = "[guest];_start_[g];mmap_loop_[g]";

/// The folded stacks of a kvm point whose sentry takes `sentry` samples per
/// 100 of the VMM guest sampler's (`[guest];_start_[g];mmap_loop_[g]`; perf's
/// guest-mode samples, `[guest];[perf guest mode];mmap_loop_[g]`, are 40).
pub fn kvm_point_folded(sentry: u64) -> FoldedStacks {
    let exit = format!("{GUEST};[exit: mmio];run_until_stop");
    let lines = [
        (GUEST.to_string(), 100),
        ("[guest];[perf guest mode];mmap_loop_[g]".to_string(), 40),
        (
            format!(
                "{exit};next_event;open_window;guest_stack_now;regs;__GI___ioctl;do_syscall_64_[k]"
            ),
            12,
        ),
        (
            format!("{exit};dispatch;mmap;create_vma;find_available"),
            sentry / 2,
        ),
        (format!("{exit};dispatch;mmap;create_vma"), sentry / 4),
        (
            format!("{exit};dispatch;mmap;map_as;KvmAs::map;__GI_ftruncate64;do_ftruncate_[k]"),
            sentry / 4,
        ),
        (
            "sentryprof;vcpu_thread;__GI___ioctl;kvm_arch_vcpu_ioctl_run_[k]".to_string(),
            30,
        ),
        ("sentryprof;main;run_point;run_trial".to_string(), 200),
    ];
    let mut f = FoldedStacks::new();
    for (stack, samples) in lines {
        if samples > 0 {
            f.add_joined(stack, samples * PERIOD_NS);
        }
    }
    f
}

/// A kvm point of the sample run with the figures of one call by rdtsc.
pub fn kvm_point(search: &str, iterations: u64, sentry_cycles: f64) -> Point {
    let mut p = sample_point("kvm", Some(search), iterations, 1.0);
    if let Some(mmap) = p.sites.get_mut(crate::SITE_MMAP) {
        mmap.median_cycles = sentry_cycles;
    }
    p.extra = serde_json::json!({
        "guest_call_cycles": {"median": 460_000.0 + sentry_cycles},
        "raw_exit_this_trial": {"median_cycles": 400_000.0},
        "guest_sampler": {"hz": 1000, "samples": 100, "ticks": 1000, "weight_ns": PERIOD_NS},
    });
    p
}

/// The sample run with two kvm points (linear: the sentry takes 60 samples
/// per 100 of the guest's; max-gap: 20) after the sample points.
pub fn guest_run() -> (RunJson, Vec<(usize, FoldedStacks)>) {
    let mut run = sample_run(1.0);
    let mut folded = Vec::new();
    for (search, sentry, cycles) in [("linear", 60, 13_000.0), ("maxgap", 20, 6_200.0)] {
        folded.push((run.points.len(), kvm_point_folded(sentry)));
        run.points.push(kvm_point(search, 2_000, cycles));
    }
    (run, folded)
}

/// Write [`guest_run`] as a bundle at `dir`: every kvm point's stacks in
/// `points/NNN.folded`, their sum in `stacks.folded`.
pub fn write_guest_bundle(dir: &Path) -> Result<PathBuf, BundleError> {
    let (mut run, folded) = guest_run();
    let w = BundleWriter::create(dir)?;
    let mut whole = FoldedStacks::new();
    for (i, stacks) in &folded {
        let rel = format!("points/{i:03}.folded");
        w.write_file(&rel, stacks.to_text().as_bytes())?;
        run.points[*i].folded = Some(rel);
        whole.merge(stacks);
    }
    w.write_file(STACKS_FOLDED, whole.to_text().as_bytes())?;
    run.profile = Some(ProfileInfo {
        event: "cpu-clock".into(),
        folded: STACKS_FOLDED.into(),
        frequency_hz: Some(1_000),
        samples: whole.total_weight() / PERIOD_NS,
        host_samples: whole.total_weight() / PERIOD_NS,
        total_weight: whole.total_weight(),
        ..ProfileInfo::default()
    });
    w.finish(&run)
}
