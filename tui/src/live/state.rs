//! The live view's state: one row per point of the run, updated by the
//! run's events, and what a key press asks for. No terminal, no threads.

use std::path::PathBuf;

use bundle::{Point, RunJson};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What the run reports, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// The run begins: how many points, trials and warm-up trials each.
    RunStarted {
        total_points: usize,
        trials: u32,
        warmup_trials: u32,
    },
    /// Point `index` begins.
    PointStarted { index: usize, label: String },
    /// Trial `trial` (0-based) of `of` of the current point is about to run.
    Trial {
        index: usize,
        warmup: bool,
        trial: u32,
        of: u32,
    },
    /// A trial ended; its mean latency per call when known.
    TrialDone {
        index: usize,
        warmup: bool,
        trial: u32,
        latency_ns: Option<f64>,
    },
    /// Point `index` is measured: its figures, sites included.
    PointFinished { index: usize, point: Box<Point> },
    /// Point `index` could not be measured.
    PointFailed { index: usize, error: String },
    /// The run is over: the bundle written (None when none was), and one
    /// line saying how it ended.
    Finished {
        bundle: Option<PathBuf>,
        summary: String,
    },
}

/// Where a point is.
#[derive(Debug, Clone, PartialEq)]
pub enum PointStatus {
    Pending,
    Running { warmup: bool, trial: u32, of: u32 },
    Done,
    Failed(String),
}

/// One row of the live view.
#[derive(Debug, Clone, PartialEq)]
pub struct LivePoint {
    pub label: String,
    pub status: PointStatus,
    /// Latency (ns per call) of each counted trial done so far.
    pub trial_latencies: Vec<f64>,
    /// Index into [`LiveState::finished`]'s points once measured.
    pub finished_at: Option<usize>,
}

/// What a key asks the live view's loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveCommand {
    /// Ask the run to stop after the current trial.
    StopRun,
    /// Close the view.
    Quit,
    /// Open the finished bundle in the browser.
    Browse(PathBuf),
    /// Redraw.
    Redraw,
}

/// The live view's state.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    pub total_points: usize,
    pub trials: u32,
    pub warmup_trials: u32,
    pub points: Vec<LivePoint>,
    /// The points measured so far, as a run (for the site table).
    pub finished: RunJson,
    /// Point whose cycle table is shown (follows the newest until moved).
    pub selected: Option<usize>,
    pub follow: bool,
    /// The user asked the run to stop.
    pub stop_requested: bool,
    /// Set when the run is over.
    pub ended: Option<(Option<PathBuf>, String)>,
}

impl LiveState {
    /// A view waiting for the run to start.
    pub fn new() -> LiveState {
        LiveState {
            follow: true,
            ..LiveState::default()
        }
    }

    fn point_mut(&mut self, index: usize) -> &mut LivePoint {
        while self.points.len() <= index {
            self.points.push(LivePoint {
                label: format!("point {}", self.points.len() + 1),
                status: PointStatus::Pending,
                trial_latencies: Vec::new(),
                finished_at: None,
            });
        }
        &mut self.points[index]
    }

    /// Apply one event of the run.
    pub fn apply(&mut self, event: LiveEvent) {
        match event {
            LiveEvent::RunStarted {
                total_points,
                trials,
                warmup_trials,
            } => {
                self.total_points = total_points;
                self.trials = trials;
                self.warmup_trials = warmup_trials;
                if total_points > 0 {
                    self.point_mut(total_points - 1);
                }
            }
            LiveEvent::PointStarted { index, label } => {
                let p = self.point_mut(index);
                p.label = label;
                p.status = PointStatus::Running {
                    warmup: true,
                    trial: 0,
                    of: 0,
                };
                self.total_points = self.total_points.max(index + 1);
            }
            LiveEvent::Trial {
                index,
                warmup,
                trial,
                of,
            } => {
                self.point_mut(index).status = PointStatus::Running { warmup, trial, of };
            }
            LiveEvent::TrialDone {
                index,
                warmup,
                latency_ns,
                ..
            } => {
                if let (false, Some(ns)) = (warmup, latency_ns) {
                    self.point_mut(index).trial_latencies.push(ns);
                }
            }
            LiveEvent::PointFinished { index, point } => {
                let at = self.finished.points.len();
                self.finished.points.push(*point);
                let p = self.point_mut(index);
                p.status = PointStatus::Done;
                p.finished_at = Some(at);
                if self.follow {
                    self.selected = Some(index);
                }
            }
            LiveEvent::PointFailed { index, error } => {
                self.point_mut(index).status = PointStatus::Failed(error);
            }
            LiveEvent::Finished { bundle, summary } => {
                self.ended = Some((bundle, summary));
            }
        }
    }

    /// Points measured or failed.
    pub fn done_count(&self) -> usize {
        self.points
            .iter()
            .filter(|p| matches!(p.status, PointStatus::Done | PointStatus::Failed(_)))
            .count()
    }

    /// What a key press asks for.
    pub fn key(&mut self, key: KeyEvent) -> Option<LiveCommand> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl_c = key.modifiers.contains(KeyModifiers::CONTROL)
            && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C'));
        match key.code {
            _ if ctrl_c => self.stop_or_quit(),
            KeyCode::Char('q') | KeyCode::Esc => self.stop_or_quit(),
            KeyCode::Enter => match &self.ended {
                Some((Some(bundle), _)) => Some(LiveCommand::Browse(bundle.clone())),
                _ => None,
            },
            KeyCode::Down | KeyCode::Char('j') => {
                self.move_selection(1);
                Some(LiveCommand::Redraw)
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.move_selection(-1);
                Some(LiveCommand::Redraw)
            }
            _ => None,
        }
    }

    fn stop_or_quit(&mut self) -> Option<LiveCommand> {
        if self.ended.is_some() {
            Some(LiveCommand::Quit)
        } else if !self.stop_requested {
            self.stop_requested = true;
            Some(LiveCommand::StopRun)
        } else {
            None
        }
    }

    /// Move the cycle table to the previous / next measured point; the
    /// table stops following new points until the newest is selected again.
    fn move_selection(&mut self, step: isize) {
        let done: Vec<usize> = (0..self.points.len())
            .filter(|&i| self.points[i].finished_at.is_some())
            .collect();
        if done.is_empty() {
            return;
        }
        let here = self
            .selected
            .and_then(|s| done.iter().position(|&d| d == s))
            .unwrap_or(done.len() - 1) as isize;
        let to = (here + step).clamp(0, done.len() as isize - 1) as usize;
        self.selected = Some(done[to]);
        self.follow = to == done.len() - 1;
    }
}
