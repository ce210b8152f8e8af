//! The observer that feeds the live view of `sentryprof run --tui`
//! ([`tui::live`]) with [`LiveEvent`]s.

use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::Duration;

use bundle::{Point, RunJson};
use experiments::{Observer, Plan};
use tui::live::{LiveEvent, LiveView};

/// Sends a run's events to the live view, if there is one.
#[derive(Debug, Default)]
pub struct LiveFeed {
    tx: Option<Sender<LiveEvent>>,
}

impl LiveFeed {
    /// A feed into `view` (none: a feed that sends nothing), announcing
    /// the run of `plan`.
    pub fn new(view: Option<&LiveView>, plan: &Plan) -> Self {
        let feed = LiveFeed {
            tx: view.map(LiveView::sender),
        };
        feed.send(LiveEvent::RunStarted {
            total_points: plan.point_count(),
            trials: plan.trials,
            warmup_trials: plan.warmup_trials,
        });
        feed
    }

    fn send(&self, event: LiveEvent) {
        if let Some(tx) = &self.tx {
            // A closed view is not an error of the run.
            let _ = tx.send(event);
        }
    }
}

impl Observer for LiveFeed {
    fn point_started(&mut self, index: usize, label: &str) {
        self.send(LiveEvent::PointStarted {
            index,
            label: label.to_string(),
        });
    }

    fn trial_started(&mut self, index: usize, warmup: bool, trial: u32, of: u32) {
        self.send(LiveEvent::Trial {
            index,
            warmup,
            trial,
            of,
        });
    }

    fn trial_done(&mut self, index: usize, trial: u32, ns_per_call: f64) {
        self.send(LiveEvent::TrialDone {
            index,
            warmup: false,
            trial,
            latency_ns: Some(ns_per_call),
        });
    }

    fn point_measured(&mut self, index: usize, _label: &str, point: &Point) {
        self.send(LiveEvent::PointFinished {
            index,
            point: Box::new(point.clone()),
        });
    }

    fn point_failed(&mut self, index: usize, _label: &str, error: &str) {
        self.send(LiveEvent::PointFailed {
            index,
            error: error.to_string(),
        });
    }

    fn bundle_written(&mut self, dir: &Path, run: &RunJson, elapsed: Duration) {
        self.send(LiveEvent::Finished {
            bundle: Some(dir.to_path_buf()),
            summary: format!(
                "run over: {} point(s) measured, {} failed, {:.1} s",
                run.points.len(),
                run.failures.len(),
                elapsed.as_secs_f64()
            ),
        });
    }
}
