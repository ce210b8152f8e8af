//! Measuring one point: warm-up trials, counted trials (bracketed by the
//! sampling collector, if any), then latency statistics over the counted
//! trials and the probe sites merged over them.

use std::collections::BTreeMap;

use bundle::stats::summarize;
use bundle::{CallSeries, LatencyStats, Point, SiteStats};
use instrumented_sentry::probes::{CycleHistogram, Probes, Site};
use instrumented_sentry::workload::PointSpec;

use crate::collect::{PointCollector, PointContext};
use crate::guest_sampling::{guest_json, guest_point, GuestPoint};
use crate::interrupt;
use crate::observer::Observer;
use crate::platforms::{PlatformRunner, PointError, TrialOutcome};

/// Buckets kept of the find_available per-call series in `run.json`.
pub const SERIES_BUCKETS: usize = 2000;

/// Why measuring a point stopped.
#[derive(Debug)]
pub enum MeasureError {
    /// The point failed; the run goes on with the others.
    Point(PointError),
    /// The user interrupted the run.
    Interrupted,
}

impl From<PointError> for MeasureError {
    fn from(e: PointError) -> Self {
        MeasureError::Point(e)
    }
}

/// A measured point and what the collector produced for it.
#[derive(Debug)]
pub struct Measured {
    /// The point for `run.json`.
    pub point: Point,
    /// Folded stacks of the sampling collector, if it ran.
    pub folded: Option<bundle::folded::FoldedStacks>,
    /// The collector's folded stacks of each counted trial, in order.
    pub trial_folded: Vec<bundle::folded::FoldedStacks>,
    /// A collector problem to note (the point itself is fine).
    pub collector_note: Option<String>,
    /// What the kvm VMM guest sampler gave (already in `folded` and the
    /// point's `extra.guest_sampler`).
    pub guest: Option<GuestPoint>,
}

/// Trials and warm-up trials per point.
#[derive(Debug, Clone, Copy)]
pub struct TrialPlan {
    /// Counted trials.
    pub trials: u32,
    /// Warm-up trials before them.
    pub warmup_trials: u32,
}

/// The bundle's point skeleton for a spec on a runner (no figures yet).
pub fn point_skeleton(spec: &PointSpec, platform: &str, search: Option<&str>) -> Point {
    Point {
        workload: spec.workload.name().to_string(),
        platform: platform.to_string(),
        search: search.map(str::to_string),
        mapping: spec.mapping_name().to_string(),
        touch: spec.touch,
        iterations: spec.iterations,
        size: spec.size,
        extra: serde_json::Value::Null,
        ..Point::default()
    }
}

/// Run one point, number `index` of the run, on `runner`, reporting its
/// trials to `observer`.
pub fn measure_point(
    spec: &PointSpec,
    runner: &mut dyn PlatformRunner,
    plan: TrialPlan,
    mut collector: Option<&mut (dyn PointCollector + 'static)>,
    index: usize,
    observer: &mut dyn Observer,
) -> Result<Measured, MeasureError> {
    let mut point = point_skeleton(spec, runner.platform(), runner.search());
    let boundary = collector
        .as_deref()
        .is_some_and(|c| c.wants_boundary_stacks(runner.platform()));
    runner.record_boundary_stacks(boundary);
    runner.check_point(spec)?;
    for k in 0..plan.warmup_trials {
        if interrupt::requested() {
            return Err(MeasureError::Interrupted);
        }
        observer.trial_started(index, true, k, plan.warmup_trials);
        runner.run_trial(spec)?;
    }

    let ctx = PointContext {
        label: point.label(),
        guest_symbols: runner.guest_symbols(),
    };
    let mut collector_note = None;
    if let Some(c) = collector.as_deref_mut() {
        if let Err(why) = c.begin_point(&ctx) {
            collector_note = Some(format!("{}: {}: {why}", c.name(), ctx.label));
            collector = None;
        }
    }
    let mut outcomes: Vec<TrialOutcome> = Vec::with_capacity(plan.trials as usize);
    let mut failure = None;
    let mut windows = Vec::new();
    for k in 0..plan.trials {
        if interrupt::requested() {
            failure = Some(MeasureError::Interrupted);
            break;
        }
        observer.trial_started(index, false, k, plan.trials);
        match runner.run_trial(spec) {
            Ok(mut o) => {
                windows.append(&mut o.boundary);
                if let Some(c) = collector.as_deref_mut() {
                    c.end_trial();
                }
                observer.trial_done(index, k, o.ns_per_call());
                outcomes.push(o);
            }
            Err(e) => {
                failure = Some(MeasureError::Point(e));
                break;
            }
        }
    }
    let mut folded = None;
    let mut trial_folded = Vec::new();
    if let Some(c) = collector {
        match c.end_point(&ctx, &windows) {
            Ok(profile) => {
                folded = Some(profile.folded);
                trial_folded = profile.trials;
                point.counters = profile.counters;
            }
            Err(why) => collector_note = Some(format!("{}: {}: {why}", c.name(), ctx.label)),
        }
    }
    if let Some(f) = failure {
        return Err(f);
    }
    fill_figures(&mut point, &outcomes, runner)?;
    let guest = guest_point(&outcomes, &runner.guest_symbols());
    if let Some(g) = &guest {
        folded
            .get_or_insert_with(bundle::folded::FoldedStacks::new)
            .merge(&g.folded);
        if !point.extra.is_object() {
            point.extra = serde_json::json!({});
        }
        if let Some(obj) = point.extra.as_object_mut() {
            obj.insert("guest_sampler".to_string(), guest_json(&g.samples));
        }
    }
    Ok(Measured {
        point,
        folded,
        trial_folded,
        collector_note,
        guest,
    })
}

/// The point's figures from its counted trials: latency statistics, the
/// last trial's host mappings, the runner's extra, the probe sites merged
/// and the find_available per-call series.
fn fill_figures(
    point: &mut Point,
    outcomes: &[TrialOutcome],
    runner: &mut dyn PlatformRunner,
) -> Result<(), MeasureError> {
    let per_call: Vec<f64> = outcomes.iter().map(TrialOutcome::ns_per_call).collect();
    let s = summarize(&per_call).ok_or_else(|| {
        MeasureError::Point(PointError::Failed(
            "no counted trial produced a latency".into(),
        ))
    })?;
    point.latency_ns = LatencyStats {
        median: s.median,
        p90: s.p90,
        p99: s.p99,
        mean: s.mean,
        min: s.min,
        max: s.max,
        trials: per_call,
    };
    if let Some(last) = outcomes.last() {
        point.host_mappings = last.host_mappings;
        let extras: Vec<&serde_json::Value> = outcomes.iter().map(|o| &o.extra).collect();
        point.extra = runner.point_extra(&extras);
    }
    let probes: Vec<&Probes> = outcomes.iter().flat_map(|o| o.probes.iter()).collect();
    if probes.iter().any(|p| p.is_enabled()) {
        point.sites = merged_sites(&probes);
        // The per-call series of the last counted trial's (first) sentry.
        if let Some(last) = outcomes.last().and_then(|o| o.probes.first()) {
            let series = last.series(Site::FindAvailable, SERIES_BUCKETS);
            if !series.mean_cycles.is_empty() {
                point.series.push(CallSeries {
                    site: Site::FindAvailable.name().to_string(),
                    bucket_calls: series.bucket_calls,
                    mean_cycles: series.mean_cycles,
                });
            }
        }
    }
    Ok(())
}

/// Every site's figures over all calls of all counted trials (all their
/// sentries): exact call counts, and cycle figures from the recorders'
/// histograms merged (of the timed calls: every call, or one in
/// `--probe-every`), with each recorder's median beside them
/// (`trial_medians`).
///
/// Preconditions: `trials` is non-empty.
pub fn merged_sites(trials: &[&Probes]) -> BTreeMap<String, SiteStats> {
    let mut out = BTreeMap::new();
    for site in Site::ALL {
        let mut merged = CycleHistogram::new();
        let mut trial_medians = Vec::with_capacity(trials.len());
        let mut calls = 0u64;
        let mut total = 0.0f64;
        for p in trials {
            let h = p.histogram(site);
            merged.merge(h);
            if h.count() > 0 {
                trial_medians.push(h.quantile(0.5));
            }
            // Exact call counts; with sampled timing, each recorder's total
            // is its timed mean times its calls.
            let s = p.site_summary(site);
            calls += s.calls;
            total += s.total_cycles;
        }
        let stats = if calls == 0 || merged.count() == 0 {
            SiteStats::default()
        } else {
            SiteStats {
                calls,
                median_cycles: merged.quantile(0.5),
                p90_cycles: merged.quantile(0.9),
                p99_cycles: merged.quantile(0.99),
                max_cycles: merged.max() as f64,
                mean_cycles: merged.mean(),
                total_cycles: total,
                trial_medians,
            }
        };
        out.insert(site.name().to_string(), stats);
    }
    out
}
