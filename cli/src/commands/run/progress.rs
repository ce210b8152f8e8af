//! Progress on stderr: on a terminal, one line per point rewritten in
//! place as its trials go by; elsewhere (CI logs, pipes), one line when a
//! point starts and one when it ends, and nothing per trial.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use bundle::Point;
use tui::live::LiveEvent;

/// Reports where a run is.
#[derive(Debug)]
pub struct Progress {
    tty: bool,
    quiet: bool,
    total_points: usize,
    point_started: Instant,
    last_draw: Option<Instant>,
    label: String,
    index: usize,
    /// `--tui`: the live view's event channel (stderr lines are off then).
    live: Option<Sender<LiveEvent>>,
}

impl Progress {
    /// A reporter for `total_points` points; `quiet` silences it.
    pub fn new(total_points: usize, quiet: bool) -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            quiet,
            total_points,
            point_started: Instant::now(),
            last_draw: None,
            label: String::new(),
            index: 0,
            live: None,
        }
    }

    /// Report to the live view of `--tui` instead of stderr.
    pub fn set_live(&mut self, tx: Sender<LiveEvent>) {
        self.quiet = true;
        self.live = Some(tx);
    }

    fn send(&self, event: LiveEvent) {
        if let Some(tx) = &self.live {
            // A closed view is not an error of the run.
            let _ = tx.send(event);
        }
    }

    /// The current point was measured (for the live view's cycle table).
    pub fn point_measured(&mut self, point: &Point) {
        self.send(LiveEvent::PointFinished {
            index: self.index,
            point: Box::new(point.clone()),
        });
    }

    /// The current point failed.
    pub fn point_failed(&mut self, error: &str) {
        self.send(LiveEvent::PointFailed {
            index: self.index,
            error: error.to_string(),
        });
    }

    /// Counted trial `k` of the current point ended with `ns_per_call`.
    pub fn trial_done(&mut self, k: u32, ns_per_call: f64) {
        self.send(LiveEvent::TrialDone {
            index: self.index,
            warmup: false,
            trial: k,
            latency_ns: Some(ns_per_call),
        });
    }

    /// A point begins.
    pub fn point_start(&mut self, index: usize, label: &str) {
        self.index = index;
        self.label = label.to_string();
        self.point_started = Instant::now();
        self.last_draw = None;
        self.send(LiveEvent::PointStarted {
            index,
            label: label.to_string(),
        });
        if self.quiet {
            return;
        }
        if self.tty {
            self.draw("starting");
        } else {
            eprintln!("[{}/{}] {} ...", index + 1, self.total_points, label);
        }
    }

    /// A trial of the current point is about to run.
    pub fn trial(&mut self, warmup: bool, k: u32, of: u32) {
        self.send(LiveEvent::Trial {
            index: self.index,
            warmup,
            trial: k,
            of,
        });
        if self.quiet || !self.tty {
            return;
        }
        // Redraw at most ten times a second.
        if let Some(t) = self.last_draw {
            if t.elapsed() < Duration::from_millis(100) && k + 1 != of {
                return;
            }
        }
        let what = if warmup {
            format!("warm-up {}/{}", k + 1, of)
        } else {
            format!("trial {}/{}", k + 1, of)
        };
        self.draw(&what);
    }

    fn draw(&mut self, what: &str) {
        self.last_draw = Some(Instant::now());
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{}/{}] {}: {} ({:.1} s)",
            self.index + 1,
            self.total_points,
            self.label,
            what,
            self.point_started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }

    /// The current point ended; `outcome` is one word ("done", "FAILED",
    /// "interrupted"). The point's result itself is printed on stdout by
    /// the caller, so it is not repeated here: on a terminal the progress
    /// line is cleared, elsewhere one short line says the point ended.
    pub fn point_end(&mut self, outcome: &str) {
        if self.quiet {
            return;
        }
        let secs = self.point_started.elapsed().as_secs_f64();
        if self.tty {
            eprint!("\r\x1b[2K");
            return;
        }
        eprintln!(
            "[{}/{}] {}: {outcome} ({secs:.1} s)",
            self.index + 1,
            self.total_points,
            self.label,
        );
    }
}
