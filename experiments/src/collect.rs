//! The seam for sampling collectors (`--collect perf`).
//!
//! The run loop calls [`PointCollector::begin_point`] right before the
//! counted trials of a point (after its warm-up trials) and
//! [`PointCollector::end_point`] right after them, on the thread that runs
//! the workload. What `end_point` returns goes into the bundle: the folded
//! stacks as `points/NNN.folded` (the point's `folded`) and, merged over
//! all points, `stacks.folded`; the counters as the point's `counters`.
//! [`PointCollector::end_trial`] is called after each counted trial, so
//! the stacks are also kept per trial (`points/NNN/trial-K.folded`, what
//! `compare` bootstraps over).
//! [`PointCollector::finish`] is called once after the last point and
//! gives the run's `profile` entry (its `folded` is set by the run loop).
//!
//! A collector is made by [`make_perf_collector`]; when it cannot be made
//! (perf_event_open refused, or not in this build) the run goes on with the
//! probes alone and prints and records why.

use bundle::folded::FoldedStacks;
use bundle::{PointCounters, ProfileInfo};
use collectors::collector::{PerfCollector, PerfConfig};
use collectors::symbolize::GuestSymbolMap;
use instrumented_sentry::platform::boundary::BoundaryWindow;

use crate::plan::PlatformKind;

/// Which point is being measured.
#[derive(Debug, Clone)]
pub struct PointContext {
    /// `Point::label()` of the point ("exp1 inproc/maxgap private 4096B x10000 notouch").
    pub label: String,
    /// Guest code symbols of the platform, `(start, end, name)` (empty
    /// without guest code).
    pub guest_symbols: Vec<(u64, u64, String)>,
}

/// What a collector recorded over one point's counted trials.
#[derive(Debug, Clone, Default)]
pub struct PointProfile {
    /// Folded stacks of the point, possibly empty.
    pub folded: FoldedStacks,
    /// Folded stacks of each counted trial, in order (empty when the
    /// collector does not split by trial).
    pub trials: Vec<FoldedStacks>,
    /// Counting-mode figures, when counted.
    pub counters: Option<PointCounters>,
}

/// What a collector recorded over the whole run.
#[derive(Debug, Clone, Default)]
pub struct RunProfile {
    /// All points together (written as `stacks.folded`).
    pub folded: FoldedStacks,
    /// The run's `profile` entry.
    pub info: ProfileInfo,
}

/// A sampling or counting collector driven point by point.
pub trait PointCollector {
    /// Short name for messages ("perf").
    fn name(&self) -> &'static str;
    /// Start recording for a point's counted trials.
    fn begin_point(&mut self, point: &PointContext) -> Result<(), String>;
    /// A counted trial of the point ended (between trials, outside the
    /// measured region).
    fn end_trial(&mut self) {}
    /// Stop recording and hand over what the point produced; `boundary`:
    /// the calls the platform served during the point's counted trials,
    /// with the workload's stack at each (empty where not recorded).
    fn end_point(
        &mut self,
        point: &PointContext,
        boundary: &[BoundaryWindow],
    ) -> Result<PointProfile, String>;
    /// Whether `platform` should record boundary windows for this
    /// collector ([`PlatformRunner::record_boundary_stacks`](instrumented_sentry::runners::PlatformRunner::record_boundary_stacks)).
    fn wants_boundary_stacks(&self, _platform: &str) -> bool {
        false
    }
    /// After the last point: the run's profile and one-line notes for
    /// `run.json` (fallbacks, lost samples). Called once.
    fn finish(&mut self) -> (Option<RunProfile>, Vec<String>);
    /// Lines to show at the start (the event chosen).
    fn start_notes(&self) -> Vec<String> {
        Vec::new()
    }
    /// The notes of starting (fallbacks, counters off), handed over once,
    /// to be shown and recorded as they happen rather than after the run.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Options of the perf collector, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerfOptions {
    /// `--perf-freq`: samples per second asked for (None: the collector's default).
    pub frequency_hz: Option<u64>,
    /// `--collect ...,boundary`: boundary stacks on every platform, not
    /// only where they are on by default.
    pub boundary_everywhere: bool,
}

/// `collectors::collector::PerfCollector` at the seam.
#[derive(Debug)]
struct PerfPointCollector {
    inner: Option<PerfCollector>,
    boundary_everywhere: bool,
}

impl PointCollector for PerfPointCollector {
    fn name(&self) -> &'static str {
        "perf"
    }

    fn begin_point(&mut self, point: &PointContext) -> Result<(), String> {
        let c = self
            .inner
            .as_mut()
            .ok_or("perf collector already finished")?;
        if !point.guest_symbols.is_empty() {
            c.set_guest_symbols(GuestSymbolMap::new(point.guest_symbols.clone()));
        }
        c.begin_point();
        Ok(())
    }

    fn end_trial(&mut self) {
        if let Some(c) = self.inner.as_mut() {
            c.end_trial();
        }
    }

    fn end_point(
        &mut self,
        _point: &PointContext,
        boundary: &[BoundaryWindow],
    ) -> Result<PointProfile, String> {
        let c = self
            .inner
            .as_mut()
            .ok_or("perf collector already finished")?;
        let p = c.end_point_joined(boundary);
        let any = p.counters.cycles.is_some()
            || p.counters.instructions.is_some()
            || p.counters.cycles_host_only.is_some()
            || p.counters.cycles_guest_only.is_some();
        Ok(PointProfile {
            folded: p.folded,
            trials: p.trials,
            counters: any.then_some(p.counters),
        })
    }

    fn finish(&mut self) -> (Option<RunProfile>, Vec<String>) {
        match self.inner.take() {
            Some(c) => {
                let r = c.finish();
                (
                    Some(RunProfile {
                        folded: r.folded,
                        info: r.info,
                    }),
                    r.notes,
                )
            }
            None => (None, Vec::new()),
        }
    }

    fn wants_boundary_stacks(&self, platform: &str) -> bool {
        let on = self.boundary_everywhere
            || PlatformKind::from_name(platform).is_some_and(|p| p.boundary_stacks_by_default());
        on && self
            .inner
            .as_ref()
            .is_some_and(|c| c.event().monotonic_clock)
    }

    fn take_notes(&mut self) -> Vec<String> {
        self.inner
            .as_mut()
            .map(PerfCollector::take_notes)
            .unwrap_or_default()
    }

    fn start_notes(&self) -> Vec<String> {
        match &self.inner {
            Some(c) => vec![format!(
                "perf: sampling with {} ({})",
                c.event().name,
                c.event().scope()
            )],
            None => Vec::new(),
        }
    }
}

/// Make the perf_event_open collector; call it on the thread that drives
/// the workload.
///
/// Errors: one line saying why sampling is not possible; the run then
/// completes with the probes alone.
pub fn make_perf_collector(options: &PerfOptions) -> Result<Box<dyn PointCollector>, String> {
    let mut config = PerfConfig::default();
    if let Some(f) = options.frequency_hz {
        config.frequency_hz = f;
    }
    let c = PerfCollector::new(config).map_err(|e| format!("perf sampling off: {e}"))?;
    Ok(Box::new(PerfPointCollector {
        inner: Some(c),
        boundary_everywhere: options.boundary_everywhere,
    }))
}
