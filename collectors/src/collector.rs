//! The per-point collector of `sentryprof run --collect perf`: sampling
//! runs across all points (one drain thread for the whole run); each point
//! is bracketed by [`PerfCollector::begin_point`] and
//! [`PerfCollector::end_point`], which fold that point's samples (and read
//! the counters) outside the measured region.

use crate::boundary_join::Join;
use crate::perf::counter::{CountTarget, CounterSet, CounterSnapshot};
use crate::perf::records::Sample;
use crate::perf::sampler::SampleHook;
use crate::perf::{
    PerfError, SampleTarget, Sampler, SamplerConfig, SamplingEvent, DEFAULT_FREQUENCY_HZ,
};
use crate::stack_fold::{fold_joined, FoldOutput};
use crate::symbolize::unwind::StackUnwinder;
use crate::symbolize::{GuestSymbolMap, ProcessView, Symbolizer};
use bundle::folded::FoldedStacks;
use bundle::{PointCounters, ProfileInfo, STACKS_FOLDED};
use instrumented_sentry::platform::boundary::BoundaryWindow;

/// How to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfConfig {
    /// Sampling frequency (Hz).
    pub frequency_hz: u64,
    /// Also count cycles / instructions / host-only / guest-only per point.
    pub counters: bool,
}

impl Default for PerfConfig {
    fn default() -> Self {
        PerfConfig {
            frequency_hz: DEFAULT_FREQUENCY_HZ,
            counters: true,
        }
    }
}

/// What one point's sampling and counting produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointProfile {
    pub folded: FoldedStacks,
    /// The folded stacks of each trial ended with
    /// [`PerfCollector::end_trial`], in order; they sum to `folded` (the
    /// samples after the last trial's end go to the last trial). Empty when
    /// no trial was ended.
    pub trials: Vec<FoldedStacks>,
    pub counters: PointCounters,
    pub samples: u64,
    /// Records the kernel dropped during the point.
    pub lost: u64,
    pub host_samples: u64,
    pub guest_samples: u64,
    pub total_weight: u64,
    /// Samples taken inside a boundary window, folded behind the
    /// workload's stack.
    pub boundary_samples: u64,
}

/// Totals of a whole run, for `run.json`'s `profile`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunProfile {
    /// All points together (what goes to `stacks.folded`).
    pub folded: FoldedStacks,
    pub info: ProfileInfo,
    /// One-line notes (fallbacks, missing counters, unreadable objects).
    pub notes: Vec<String>,
}

/// The sampler's hook: DWARF unwinding where frame-pointer chains break,
/// done on each batch of samples as it is drained, so the ~8 KiB user
/// stack copies are dropped within one drain interval instead of being
/// held until the point is folded. The maps are read once, at the first
/// batch (the unwinder's modules are built from them once per run anyway).
fn unwind_hook() -> SampleHook {
    let mut unwinder = StackUnwinder::new();
    let mut view: Option<ProcessView> = None;
    Box::new(move |samples: &mut Vec<Sample>| {
        if view.is_none() {
            view = ProcessView::this_process().ok();
        }
        if let Some(v) = &view {
            unwinder.repair(samples, v);
        }
    })
}

/// Samples this process while the run goes on.
#[derive(Debug)]
pub struct PerfCollector {
    sampler: Sampler,
    counters: Option<CounterSet>,
    point_start: Option<CounterSnapshot>,
    /// The samples of each trial of the current point ended so far.
    trial_samples: Vec<Vec<Sample>>,
    symbolizer: Symbolizer,
    whole: FoldedStacks,
    samples: u64,
    host: u64,
    guest: u64,
    lost: u64,
    total_weight: u64,
    notes: Vec<String>,
}

impl PerfCollector {
    /// Open and enable sampling on the calling thread and the threads it
    /// creates from now on (call it from the thread that drives the
    /// workload). Errors when perf_event_open is refused altogether.
    pub fn new(config: PerfConfig) -> Result<Self, PerfError> {
        let sampler = Sampler::open(SamplerConfig {
            frequency_hz: config.frequency_hz,
            target: SampleTarget::ThisProcess,
            ..SamplerConfig::default()
        })?;
        let mut notes = Vec::new();
        notes.extend(sampler.event().note());
        let counters = if config.counters {
            match CounterSet::open(CountTarget::ThisThread) {
                Ok(c) => {
                    notes.extend(c.notes.iter().cloned());
                    Some(c)
                }
                Err(e) => {
                    notes.push(format!("counting mode off: {e}"));
                    None
                }
            }
        } else {
            None
        };
        // Samples before the first point are not read: not stored.
        sampler.keep_samples(false);
        sampler.set_sample_hook(unwind_hook());
        sampler.enable()?;
        Ok(PerfCollector {
            sampler,
            counters,
            point_start: None,
            trial_samples: Vec::new(),
            symbolizer: Symbolizer::new(),
            whole: FoldedStacks::new(),
            samples: 0,
            host: 0,
            guest: 0,
            lost: 0,
            total_weight: 0,
            notes,
        })
    }

    /// The notes made so far (the fallback event, counters off), handed
    /// over once so the caller can show them when they happen; `finish`
    /// returns only the later ones.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The sampling event in use ("cycles:HG" or "cpu-clock").
    pub fn event(&self) -> &SamplingEvent {
        self.sampler.event()
    }

    /// Symbols for guest code (from the platform that loaded it).
    pub fn set_guest_symbols(&mut self, map: GuestSymbolMap) {
        self.symbolizer.set_guest_symbols(map);
    }

    /// Start a point: samples taken before now are dropped (set-up work
    /// between points; the drain thread has dropped them as it went since
    /// the previous `end_point`), counters are read.
    pub fn begin_point(&mut self) {
        let dropped = self.sampler.take();
        self.sampler.keep_samples(true);
        self.lost += dropped.lost;
        self.trial_samples.clear();
        self.point_start = self.counters.as_ref().and_then(|c| c.snapshot().ok());
    }

    /// End a trial of the current point: the samples taken since the
    /// point began or the previous trial ended are set aside as this
    /// trial's (folded at [`Self::end_point`], outside the measured trials).
    pub fn end_trial(&mut self) {
        let out = self.sampler.take();
        self.lost += out.lost;
        self.trial_samples.push(out.samples);
    }

    /// End a point: read counters, take its samples, fold them (per trial
    /// when trials were ended).
    pub fn end_point(&mut self) -> PointProfile {
        self.end_point_joined(&[])
    }

    /// [`end_point`](Self::end_point), with the samples taken inside one
    /// of `windows` (the calls the platform served in the point) folded
    /// behind the workload's stack at that call (`crate::boundary_join`).
    /// Where samples do not carry `CLOCK_MONOTONIC` times the windows are
    /// not used (the sampler's note says so).
    pub fn end_point_joined(&mut self, windows: &[BoundaryWindow]) -> PointProfile {
        let end = self.counters.as_ref().and_then(|c| c.snapshot().ok());
        let counters = match (&end, &self.point_start) {
            (Some(e), Some(s)) => e.since(s),
            _ => PointCounters::default(),
        };
        let out = self.sampler.take();
        self.sampler.keep_samples(false);
        let windows = if self.sampler.event().monotonic_clock {
            windows
        } else {
            &[]
        };
        let mut parts = std::mem::take(&mut self.trial_samples);
        let per_trial = !parts.is_empty();
        match parts.last_mut() {
            Some(last) => last.extend(out.samples),
            None => parts.push(out.samples),
        }
        let view = match ProcessView::this_process() {
            Ok(view) => Some(view),
            Err(e) => {
                self.notes
                    .push(format!("cannot read /proc/self/maps to symbolize: {e}"));
                None
            }
        };
        let mut whole = FoldOutput::default();
        let mut trials = Vec::new();
        let mut boundary_samples = 0;
        for samples in &parts {
            let join = Join::new(samples, windows);
            boundary_samples += join.joined() as u64;
            let f = match &view {
                Some(v) => fold_joined(samples, &join, v, &mut self.symbolizer),
                None => FoldOutput::default(),
            };
            whole.folded.merge(&f.folded);
            whole.samples += f.samples;
            whole.host_samples += f.host_samples;
            whole.guest_samples += f.guest_samples;
            whole.total_weight += f.total_weight;
            if per_trial {
                trials.push(f.folded);
            }
        }
        for p in self.symbolizer.problems.drain(..) {
            self.notes.push(format!("symbolization: {p}"));
        }
        self.whole.merge(&whole.folded);
        self.samples += whole.samples;
        self.host += whole.host_samples;
        self.guest += whole.guest_samples;
        self.lost += out.lost;
        self.total_weight += whole.total_weight;
        PointProfile {
            folded: whole.folded,
            trials,
            counters,
            samples: whole.samples,
            lost: out.lost,
            host_samples: whole.host_samples,
            guest_samples: whole.guest_samples,
            total_weight: whole.total_weight,
            boundary_samples,
        }
    }

    /// Stop sampling and return the run's totals.
    pub fn finish(self) -> RunProfile {
        let event = self.sampler.event().name.clone();
        let freq = self.sampler.frequency_hz();
        let rest = self.sampler.stop();
        let mut notes = self.notes;
        let lost = self.lost + rest.lost;
        if lost > 0 {
            notes.push(format!(
                "{lost} perf records were lost (ring buffer full); raise the buffer or lower --perf-freq"
            ));
        }
        RunProfile {
            info: ProfileInfo {
                event,
                folded: STACKS_FOLDED.to_string(),
                frequency_hz: Some(freq),
                samples: self.samples,
                host_samples: self.host,
                guest_samples: self.guest,
                lost_samples: lost,
                total_weight: self.whole.total_weight(),
            },
            folded: self.whole,
            notes,
        }
    }
}
