//! One stack across the boundary (issue 13): per sampled point of the
//! kvm, ptrace and systrap platforms, the share of the samples under the
//! sentry's serving frame whose stack starts with the workload's stack
//! (`[guest];…;[exit: …]` or `[stub];…;[trap: …]`), and the time of one
//! call split into the exit, the sentry and the rest, from the figures the
//! run already keeps.
//!
//! The serving frame is `dispatch` under `run_until_stop` on kvm (the
//! sentry's system call dispatch) and `mmap` under `serve` on ptrace and
//! systrap (the handler's mmap and the memory manager's; the trap loop's
//! `serve` itself also spins waiting for the stub, which is no call being
//! served). Frames are matched by bare name
//! (`create_vma_figure::frame_is`).
//!
//! Time split, median TSC cycles per call:
//! - kvm: the call as the guest timed it (`extra.guest_call_cycles.median`,
//!   exit round trip included), a raw exit measured next to the trial
//!   (`extra.raw_exit_this_trial.median_cycles`), the sentry's `mmap`
//!   probe (`sites.mmap.median_cycles`), and the rest (call − exit −
//!   sentry: guest code around the call and the exit's handling outside
//!   the probe);
//! - ptrace, systrap: the call as the stub timed it
//!   (`extra.stub_call_median_cycles`), no raw trap measured ("-"), the
//!   sentry's `mmap` probe and the rest (the trap round trip with it).

use bundle::{LoadedBundle, Point, SITE_MMAP};
use serde::Serialize;

use crate::create_vma_figure::frame_is;
use crate::source::load_point_folded;
use crate::table::Table;
use crate::Result;

/// Title of the report's table.
pub const BOUNDARY_TITLE: &str = "One stack across the boundary: samples under the serving frame with the workload's stack in front; one call's time (median TSC cycles)";

/// One point's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundaryRow {
    pub point: String,
    pub platform: String,
    /// The serving frame ("dispatch", "mmap").
    pub under: String,
    /// Weight of the stacks through the serving frame.
    pub under_weight: u64,
    /// Weight of those that start with the workload's stack and a marker.
    pub joined_weight: u64,
    /// Samples under the serving frame, estimated from the weight and the
    /// run's mean weight per sample (exact for a fixed period).
    pub under_samples: u64,
    /// `joined_weight / under_weight` (0 when nothing was under it).
    pub share: f64,
    /// One call as the workload timed it.
    pub call_cycles: Option<f64>,
    /// A raw exit round trip measured next to the trial (kvm).
    pub exit_cycles: Option<f64>,
    /// The sentry's mmap probe.
    pub sentry_cycles: Option<f64>,
    /// call − exit − sentry.
    pub rest_cycles: Option<f64>,
}

/// The sentry's loop that serves calls and the serving frame under it, of
/// a platform (`None` for one without a boundary): a sample is "under the
/// serving frame" when that frame comes after the loop in its stack (the
/// command line's own `dispatch` sits above everything).
pub fn serving_frame(platform: &str) -> Option<(&'static str, &'static str)> {
    match platform {
        "kvm" => Some(("run_until_stop", "dispatch")),
        "ptrace" | "systrap" => Some(("serve", "mmap")),
        _ => None,
    }
}

/// Whether `stack` passes through `under` after `serve_loop`.
pub fn is_under(stack: &str, (serve_loop, under): (&str, &str)) -> bool {
    let mut frames = stack.split(';');
    frames.any(|f| frame_is(f, serve_loop)) && frames.any(|f| frame_is(f, under))
}

/// Whether a folded stack starts with a workload's stack and a marker.
pub fn has_workload_stack(stack: &str) -> bool {
    (stack.starts_with("[guest];") || stack.starts_with("[stub];"))
        && (stack.contains(";[exit: ") || stack.contains(";[trap: "))
}

fn number(v: &serde_json::Value, path: &[&str]) -> Option<f64> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(serde_json::Value::as_f64)
}

/// One call's time of a point: [call, exit, sentry (mmap probe), rest],
/// median TSC cycles (see the module's text).
pub fn time_split(p: &Point) -> [Option<f64>; 4] {
    let sentry = p.sites.get(SITE_MMAP).map(|s| s.median_cycles);
    let (call, exit) = if p.platform == "kvm" {
        (
            number(&p.extra, &["guest_call_cycles", "median"]),
            number(&p.extra, &["raw_exit_this_trial", "median_cycles"]),
        )
    } else {
        (number(&p.extra, &["stub_call_median_cycles"]), None)
    };
    let rest = match (call, sentry) {
        (Some(c), Some(s)) => Some(c - exit.unwrap_or(0.0) - s),
        _ => None,
    };
    [call, exit, sentry, rest]
}

/// Whether a bundle of this format version can hold joined stacks: they
/// came with format 1.1 (a 1.0 bundle's report stays as it was).
fn may_hold_boundary_stacks(format_version: &str) -> bool {
    let mut parts = format_version.split('.').map(|p| p.parse::<u32>().ok());
    matches!((parts.next(), parts.next()), (Some(Some(1)), Some(Some(minor))) if minor >= 1)
}

/// The rows of every sampled point on a platform with a boundary.
///
/// Errors: a point's folded file is missing or malformed.
pub fn boundary_rows(b: &LoadedBundle) -> Result<Vec<BoundaryRow>> {
    let mut rows = Vec::new();
    if !may_hold_boundary_stacks(&b.run.format_version) {
        return Ok(rows);
    }
    let per_sample = b
        .run
        .profile
        .as_ref()
        .filter(|p| p.samples > 0)
        .map_or(1.0, |p| p.total_weight as f64 / p.samples as f64);
    for p in &b.run.points {
        let Some(frames) = serving_frame(&p.platform) else {
            continue;
        };
        let Some(stacks) = load_point_folded(b, p)? else {
            continue;
        };
        let (mut under_weight, mut joined_weight) = (0, 0);
        for (stack, w) in stacks.iter() {
            if is_under(stack, frames) {
                under_weight += w;
                if has_workload_stack(stack) {
                    joined_weight += w;
                }
            }
        }
        let [call_cycles, exit_cycles, sentry_cycles, rest_cycles] = time_split(p);
        rows.push(BoundaryRow {
            point: p.label(),
            platform: p.platform.clone(),
            under: frames.1.to_string(),
            under_weight,
            joined_weight,
            under_samples: (under_weight as f64 / per_sample).round() as u64,
            share: if under_weight == 0 {
                0.0
            } else {
                joined_weight as f64 / under_weight as f64
            },
            call_cycles,
            exit_cycles,
            sentry_cycles,
            rest_cycles,
        });
    }
    Ok(rows)
}

/// The rows as a table.
pub fn boundary_table(rows: &[BoundaryRow]) -> Table {
    let cyc = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let mut t = Table::new([
        "point",
        "under",
        "samples",
        "with workload stack",
        "call",
        "exit",
        "sentry (mmap)",
        "rest",
    ]);
    for r in rows {
        t.push(vec![
            r.point.clone(),
            r.under.clone(),
            r.under_samples.to_string(),
            format!("{:.1}%", r.share * 100.0),
            cyc(r.call_cycles),
            cyc(r.exit_cycles),
            cyc(r.sentry_cycles),
            cyc(r.rest_cycles),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_with_a_workload_stack_and_a_marker_are_told_apart() {
        assert!(has_workload_stack(
            "[guest];_start_[g];mmap_loop_[g];[exit: io];run_until_stop;dispatch;mmap"
        ));
        assert!(has_workload_stack(
            "[stub];child_main;run_loop;[trap: seccomp];serve;mmap"
        ));
        // A guest sample of its own (no exit marker) and a sentry stack.
        assert!(!has_workload_stack("[guest];_start_[g];mmap_loop_[g]"));
        assert!(!has_workload_stack(
            "sentryprof;main;run_until_stop;dispatch"
        ));
        let kvm = serving_frame("kvm").expect("kvm has a boundary");
        assert!(is_under(
            "[guest];[exit: io];run_until_stop;dispatch;mmap",
            kvm
        ));
        assert!(!is_under(
            "sentryprof;main;dispatch;run;run_until_stop;next_event",
            kvm
        ));
        assert_eq!(serving_frame("inproc"), None);
    }

    #[test]
    fn the_time_split_reads_the_kvm_and_trap_figures() {
        let mut p = Point {
            platform: "kvm".into(),
            extra: serde_json::json!({
                "guest_call_cycles": {"median": 10000},
                "raw_exit_this_trial": {"median_cycles": 3000},
            }),
            ..Point::default()
        };
        p.sites.insert(
            SITE_MMAP.to_string(),
            bundle::SiteStats {
                median_cycles: 5000.0,
                ..Default::default()
            },
        );
        assert_eq!(
            time_split(&p),
            [Some(10000.0), Some(3000.0), Some(5000.0), Some(2000.0)]
        );
        p.platform = "systrap".into();
        p.extra = serde_json::json!({"stub_call_median_cycles": 9000});
        assert_eq!(
            time_split(&p),
            [Some(9000.0), None, Some(5000.0), Some(4000.0)]
        );
    }
}
