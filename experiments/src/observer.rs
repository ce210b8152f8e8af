//! How a session reports progress: the [`Observer`] trait. The session
//! prints nothing itself; a front end implements the trait to print lines,
//! draw a progress bar or feed a live view (several at once with a tuple,
//! `(A, B)`, which forwards every event to `A` then `B`).
//!
//! Events arrive in run order: [`run_started`](Observer::run_started), the
//! collector's start or its fallback [`note`](Observer::note), then for each
//! point [`point_started`](Observer::point_started), its trials, and one of
//! [`point_measured`](Observer::point_measured),
//! [`point_failed`](Observer::point_failed) or
//! [`point_interrupted`](Observer::point_interrupted); at the end
//! [`run_measured`](Observer::run_measured) (the final tables' data),
//! [`rendered`](Observer::rendered) and
//! [`bundle_written`](Observer::bundle_written). Every method has an empty
//! default.

use std::path::Path;
use std::time::Duration;

use bundle::{Point, RunJson};
use instrumented_sentry::probes::Calibration;

use crate::plan::Plan;

/// Receives a session's progress. All methods default to doing nothing.
#[allow(unused_variables)]
pub trait Observer {
    /// The run begins: its plan and the probes' calibration.
    fn run_started(&mut self, plan: &Plan, calibration: &Calibration) {}
    /// The sampling collector started; `notes` say how (the event chosen).
    fn collector_started(&mut self, notes: &[String]) {}
    /// A note recorded in `run.json` that the user should see now (a
    /// fallback, a platform that cannot run here, lost samples).
    fn note(&mut self, note: &str) {}
    /// A note about files at the output path (an earlier bundle kept as
    /// `NAME.old`, stale staging directories removed): what happened to
    /// the user's files, shown even where other notes are silenced.
    fn output_note(&mut self, note: &str) {
        self.note(note)
    }
    /// Point `index` (of [`Plan::point_count`]) begins.
    fn point_started(&mut self, index: usize, label: &str) {}
    /// Trial `k` (0-based) of `of` of point `index` is about to run.
    fn trial_started(&mut self, index: usize, warmup: bool, k: u32, of: u32) {}
    /// Counted trial `k` of point `index` ended with `ns_per_call`.
    fn trial_done(&mut self, index: usize, k: u32, ns_per_call: f64) {}
    /// Point `index` is measured.
    fn point_measured(&mut self, index: usize, label: &str, point: &Point) {}
    /// Point `index` failed; the run goes on with the others.
    fn point_failed(&mut self, index: usize, label: &str, error: &str) {}
    /// Point `index` was interrupted; the run ends without a bundle.
    fn point_interrupted(&mut self, index: usize, label: &str) {}
    /// `--keep-memory`: the sentry's memory file was saved (`bytes` long).
    fn memory_kept(&mut self, bytes: u64) {}
    /// Every point was attempted: `run` holds the points, failures and TSC
    /// frequency the final tables are made of.
    fn run_measured(&mut self, run: &RunJson) {}
    /// The default outputs were rendered into the bundle: `svgs` SVG files
    /// besides report.txt and report.html.
    fn rendered(&mut self, svgs: usize) {}
    /// The bundle is in place at `dir`.
    fn bundle_written(&mut self, dir: &Path, run: &RunJson, elapsed: Duration) {}
}

/// An observer that ignores everything.
impl Observer for () {}

/// Both observers, `A` first.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn run_started(&mut self, plan: &Plan, calibration: &Calibration) {
        self.0.run_started(plan, calibration);
        self.1.run_started(plan, calibration);
    }
    fn collector_started(&mut self, notes: &[String]) {
        self.0.collector_started(notes);
        self.1.collector_started(notes);
    }
    fn note(&mut self, note: &str) {
        self.0.note(note);
        self.1.note(note);
    }
    fn output_note(&mut self, note: &str) {
        self.0.output_note(note);
        self.1.output_note(note);
    }
    fn point_started(&mut self, index: usize, label: &str) {
        self.0.point_started(index, label);
        self.1.point_started(index, label);
    }
    fn trial_started(&mut self, index: usize, warmup: bool, k: u32, of: u32) {
        self.0.trial_started(index, warmup, k, of);
        self.1.trial_started(index, warmup, k, of);
    }
    fn trial_done(&mut self, index: usize, k: u32, ns_per_call: f64) {
        self.0.trial_done(index, k, ns_per_call);
        self.1.trial_done(index, k, ns_per_call);
    }
    fn point_measured(&mut self, index: usize, label: &str, point: &Point) {
        self.0.point_measured(index, label, point);
        self.1.point_measured(index, label, point);
    }
    fn point_failed(&mut self, index: usize, label: &str, error: &str) {
        self.0.point_failed(index, label, error);
        self.1.point_failed(index, label, error);
    }
    fn point_interrupted(&mut self, index: usize, label: &str) {
        self.0.point_interrupted(index, label);
        self.1.point_interrupted(index, label);
    }
    fn memory_kept(&mut self, bytes: u64) {
        self.0.memory_kept(bytes);
        self.1.memory_kept(bytes);
    }
    fn run_measured(&mut self, run: &RunJson) {
        self.0.run_measured(run);
        self.1.run_measured(run);
    }
    fn rendered(&mut self, svgs: usize) {
        self.0.rendered(svgs);
        self.1.rendered(svgs);
    }
    fn bundle_written(&mut self, dir: &Path, run: &RunJson, elapsed: Duration) {
        self.0.bundle_written(dir, run, elapsed);
        self.1.bundle_written(dir, run, elapsed);
    }
}
