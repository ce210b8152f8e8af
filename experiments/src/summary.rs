//! A run in words, as `sentryprof run` prints it: the plan's header line,
//! the probes' calibration, the list of failed points. Front ends print
//! these; the session itself prints nothing.

use std::fmt::Write as _;

use bundle::PointFailure;
use instrumented_sentry::probes::Calibration;

use crate::plan::{Plan, PlatformKind};

/// The lines a run starts with: the header, the probes line, and (when the
/// plan has a platform without a system-call boundary) the boundary line.
pub fn start_lines(plan: &Plan, calibration: &Calibration) -> Vec<String> {
    let mut lines = vec![header_line(plan), probes_line(plan, calibration)];
    lines.extend(boundary_line(plan));
    lines
}

/// "sentryprof run: exp1 — 9 point(s): 3 parameter set(s) x [native,
/// inproc/linear, inproc/maxgap], 12 trial(s) after 2 warm-up".
pub fn header_line(plan: &Plan) -> String {
    format!(
        "sentryprof run: {} — {} point(s): {} parameter set(s) x [{}], {} trial(s) after {} warm-up",
        plan.workload,
        plan.point_count(),
        plan.specs.len(),
        plan.platforms
            .iter()
            .map(|c| c.label())
            .collect::<Vec<_>>()
            .join(", "),
        plan.trials,
        plan.warmup_trials
    )
}

/// The label of inproc wherever a run has it: its numbers are the
/// sentry's alone, with no system-call boundary; `None` without inproc.
pub fn boundary_line(plan: &Plan) -> Option<String> {
    plan.platforms
        .iter()
        .any(|c| c.platform == PlatformKind::Inproc)
        .then(|| INPROC_NO_BOUNDARY.to_string())
}

/// What inproc measures, as stdout and the report say it.
pub const INPROC_NO_BOUNDARY: &str = "inproc: the sentry called as a function in this process \
     — no system-call boundary (the sentry's own work, not a sandbox's cost; systrap, ptrace \
     and kvm have a boundary)";

/// "probes: TSC 2.400 GHz, probe pair cost 40 cycles (not subtracted),
/// timing 1 call in 8 (call counts exact)", or "probes: off".
pub fn probes_line(plan: &Plan, calibration: &Calibration) -> String {
    if !plan.probes {
        return "probes: off".to_string();
    }
    format!(
        "probes: TSC {:.3} GHz, probe pair cost {} cycles ({}), timing {}",
        calibration.tsc_hz as f64 / 1e9,
        calibration.pair_cost_cycles,
        if plan.subtract_probe_cost {
            format!(
                "probe self-cost of {} cycles subtracted",
                calibration.self_cycles
            )
        } else {
            "not subtracted".to_string()
        },
        if plan.probe_every == 1 {
            "every call".to_string()
        } else {
            format!("1 call in {} (call counts exact)", plan.probe_every)
        }
    )
}

/// "N point(s) failed:" and one indented line per failure; empty without
/// failures.
pub fn failures_text(failures: &[PointFailure]) -> String {
    let mut out = String::new();
    if failures.is_empty() {
        return out;
    }
    let _ = writeln!(out, "{} point(s) failed:", failures.len());
    for f in failures {
        let search = f.search.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "  {}/{} {} {}B x{}: {}",
            f.platform, search, f.mapping, f.size, f.iterations, f.error
        );
    }
    out
}
