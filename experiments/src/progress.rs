//! The progress observer of a run on stderr: on a terminal, one line per point rewritten in
//! place as its trials go by; elsewhere (CI logs, pipes), one line when a
//! point starts and one when it ends, and nothing per trial.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

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
        }
    }

    /// A point begins.
    pub fn point_start(&mut self, index: usize, label: &str) {
        self.index = index;
        self.label = label.to_string();
        self.point_started = Instant::now();
        self.last_draw = None;
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
