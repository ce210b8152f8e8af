//! A run in words, as `sentryprof run` prints it: the plan's header line,
//! the probes' calibration, the least-squares fit of latency against the
//! number of mappings, the list of failed points. Front ends print these;
//! the session itself prints nothing.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bundle::{Point, PointFailure, RunJson};
use flamegraph::run_tables::fmt_ns;
use flamegraph::scaling::{fit, ScalingFit};
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

/// What a run prints after its latency table: the latency fits
/// ([`latency_fit_text`]) and the failures ([`failures_text`]).
pub fn end_text(run: &RunJson) -> String {
    let mut out = latency_fit_text(&run.points);
    out.push_str(&failures_text(&run.failures));
    out
}

/// Least-squares line `latency = a + b * mappings` through the median
/// latency of each point of one Exp1 series (platform/search, mapping,
/// size, touch), for series with 3 or more mapping counts; the same fit
/// the report's scaling table shows as "R² lin". Empty when no series has
/// three counts.
pub fn latency_fit_text(points: &[Point]) -> String {
    let mut out = String::new();
    for (label, f) in latency_fits(points) {
        if out.is_empty() {
            let _ = writeln!(
                out,
                "latency vs mappings, least squares over the point medians (Exp1 series with >= 3 mapping counts):"
            );
        }
        let l = &f.linear;
        let sign = if l.slope < 0.0 { '-' } else { '+' };
        let _ = writeln!(
            out,
            "  {label}: {} {sign} {:.4} ns per mapping, R² {:.4} over {} counts ({:.0}..{:.0}); best model {}",
            fmt_ns(l.intercept),
            l.slope.abs(),
            l.r2,
            f.n,
            f.x_min,
            f.x_max,
            f.best.name()
        );
    }
    out
}

/// The fits of [`latency_fit_text`], by series label ("exp1
/// systrap/linear private 4096B x* notouch"), in label order.
pub fn latency_fits(points: &[Point]) -> Vec<(String, ScalingFit)> {
    let mut groups: BTreeMap<String, Vec<&Point>> = BTreeMap::new();
    for p in points.iter().filter(|p| p.workload == "exp1") {
        groups
            .entry(p.label_without_iterations())
            .or_default()
            .push(p);
    }
    groups
        .into_iter()
        .filter_map(|(label, mut pts)| {
            pts.sort_by_key(|p| p.iterations);
            let xs: Vec<f64> = pts.iter().map(|p| p.iterations as f64).collect();
            let ys: Vec<f64> = pts.iter().map(|p| p.latency_ns.median).collect();
            fit(&xs, &ys).map(|f| (label, f))
        })
        .collect()
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

/// With perf on: one line naming the plan's platforms whose boundary
/// stacks are off by default (their measured added cost per call is above
/// 2%) and how to turn them on; `None` when every platform records them
/// or perf is off.
pub fn boundary_stacks_off_line(plan: &Plan) -> Option<String> {
    if !plan.perf || plan.boundary_everywhere {
        return None;
    }
    let mut off: Vec<&str> = Vec::new();
    for c in &plan.platforms {
        let p = c.platform;
        let served = !matches!(p, PlatformKind::Native | PlatformKind::Inproc);
        if served && !p.boundary_stacks_by_default() && !off.contains(&p.name()) {
            off.push(p.name());
        }
    }
    (!off.is_empty()).then(|| {
        format!(
            "boundary stacks: off by default on {} (they add more than 2% per call there); --collect probes,perf,boundary records them",
            off.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::synthetic::latency_point;

    fn point(platform: &str, search: &str, iterations: u64, median: f64) -> Point {
        latency_point(platform, Some(search), iterations, median)
    }

    #[test]
    fn latency_fit_matches_a_hand_computed_least_squares_line() {
        // x = 1000, 2000, 3000; y = 10, 21, 29 ns. By hand: mean x 2000,
        // mean y 20, Sxy = (-1000)(-10) + 0 + 1000*9 = 19,000,
        // Sxx = 2,000,000, slope 0.0095 ns/mapping, intercept 20 - 19 = 1;
        // predictions 10.5, 20, 29.5, RSS 0.25 + 1 + 0.25 = 1.5,
        // TSS 100 + 1 + 81 = 182, R² = 1 - 1.5/182 = 0.991758.
        let points = vec![
            point("systrap", "linear", 2000, 21.0),
            point("systrap", "linear", 1000, 10.0),
            point("systrap", "linear", 3000, 29.0),
            // Two counts only: no fit for this series.
            point("systrap", "maxgap", 1000, 5.0),
            point("systrap", "maxgap", 3000, 5.0),
        ];
        let fits = latency_fits(&points);
        assert_eq!(fits.len(), 1, "{fits:?}");
        let (label, f) = &fits[0];
        assert_eq!(label, "exp1 systrap/linear private 4096B x* notouch");
        assert!(
            (f.linear.slope - 0.0095).abs() < 1e-12,
            "{}",
            f.linear.slope
        );
        assert!((f.linear.intercept - 1.0).abs() < 1e-9);
        assert!((f.linear.r2 - (1.0 - 1.5 / 182.0)).abs() < 1e-9);
        let text = latency_fit_text(&points);
        assert!(text.contains("systrap/linear"), "{text}");
        assert!(text.contains("R² 0.9918"), "{text}");
        assert!(text.contains("1 ns + 0.0095 ns per mapping"), "{text}");
        assert!(!text.contains("systrap/maxgap"), "{text}");
    }

    #[test]
    fn no_fit_text_without_three_mapping_counts() {
        let points = vec![
            point("native", "linear", 1000, 5.0),
            point("native", "linear", 2000, 6.0),
        ];
        assert_eq!(latency_fit_text(&points), "");
    }
}
