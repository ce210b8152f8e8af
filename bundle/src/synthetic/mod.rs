//! Synthetic bundles: data for tests, golden files, benchmarks and examples,
//! built with the real schema types while no recorded bundle is at hand.
//! Nothing here is read by a renderer or the TUI, and nothing here is ever
//! presented as a measurement.
//!
//! Two datasets, kept apart because golden files and snapshots are pinned to
//! each, built from the same builders:
//!
//! - [`exp1`]: the renderers' dataset (flamegraph golden files, CLI tests):
//!   exp1 on the in-process platform, private and anonymous mappings, an
//!   iteration sweep and a size sweep, per-call series, a sampled profile;
//! - [`sample`]: the browser's dataset (TUI snapshots, tests, benches and
//!   the demo example): exp1 with private mappings at four counts, inproc
//!   with both strategies and native, doctor facts, a folded profile, and a
//!   writer of whole bundles;
//! - [`stacks`]: generators of large folded profiles for benchmarks.

use crate::schema::{BundleKind, LatencyStats, Machine, RunJson, SiteStats, WorkloadInfo};

pub mod exp1;
pub mod sample;
pub mod stacks;

pub use exp1::{exp1_run, sampled_profile};
pub use sample::{sample_capabilities, sample_folded, sample_point, sample_run, write_bundle};
pub use stacks::{many_stacks, synthetic_folded};

/// TSC frequency of both synthetic machines.
pub const TSC_HZ: u64 = 2_250_000_000;

/// How a synthetic figure spreads around its median: each statistic is the
/// median times its factor, rounded to whole units when `round` is set.
#[derive(Debug, Clone, Copy)]
struct Spread {
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
    min: f64,
    round: bool,
}

impl Spread {
    fn r(&self, v: f64) -> f64 {
        if self.round {
            v.round()
        } else {
            v
        }
    }

    /// Figures of a site called `calls` times with `median` cycles.
    fn site(&self, calls: u64, median: f64, trial_medians: Vec<f64>) -> SiteStats {
        SiteStats {
            calls,
            median_cycles: self.r(median),
            p90_cycles: self.r(median * self.p90),
            p99_cycles: self.r(median * self.p99),
            max_cycles: self.r(median * self.max),
            mean_cycles: self.r(median * self.mean),
            total_cycles: self.r(median * self.mean * calls as f64),
            trial_medians,
        }
    }

    /// A latency of `median` ns with these per-trial values.
    fn latency(&self, median: f64, trials: Vec<f64>) -> LatencyStats {
        LatencyStats {
            median: self.r(median),
            p90: self.r(median * self.p90),
            p99: self.r(median * self.p99),
            mean: self.r(median * self.mean),
            min: self.r(median * self.min),
            max: self.r(median * self.max),
            trials,
        }
    }
}

/// A run of exp1 on `machine` as both datasets record it: TSC at
/// [`TSC_HZ`], probes on with a 36-cycle pair cost subtracted, 10 trials
/// after 2 warm-up trials.
fn exp1_base(created_unix: u64, machine: Machine, params: serde_json::Value) -> RunJson {
    let mut run = RunJson::new(BundleKind::Run);
    run.created_unix = created_unix;
    run.machine = machine;
    run.workload = WorkloadInfo {
        name: "exp1".into(),
        params,
    };
    run.tsc_hz = TSC_HZ;
    run.probe_overhead_cycles = 36.0;
    run.probe_overhead_subtracted = true;
    run.probes_enabled = true;
    run.trials = 10;
    run.warmup_trials = 2;
    run
}
