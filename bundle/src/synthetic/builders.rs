//! What both synthetic datasets build from: the machine's TSC frequency,
//! how a synthetic figure spreads around its median, and the exp1 run both
//! record.

use crate::schema::{BundleKind, LatencyStats, Machine, RunJson, SiteStats, WorkloadInfo};

/// TSC frequency of both synthetic machines.
pub const TSC_HZ: u64 = 2_250_000_000;

/// How a synthetic figure spreads around its median: each statistic is the
/// median times its factor, rounded to whole units when `round` is set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    pub(super) p90: f64,
    pub(super) p99: f64,
    pub(super) max: f64,
    pub(super) mean: f64,
    pub(super) min: f64,
    pub(super) round: bool,
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
    pub(super) fn site(&self, calls: u64, median: f64, trial_medians: Vec<f64>) -> SiteStats {
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
    pub(super) fn latency(&self, median: f64, trials: Vec<f64>) -> LatencyStats {
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
pub(super) fn exp1_base(created_unix: u64, machine: Machine, params: serde_json::Value) -> RunJson {
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
