//! The progress observer of a run on stderr. On a terminal: one line
//! rewritten in place, with the point and its trial, a bar of the whole run
//! (points × trials, warm-ups included), the time elapsed and an estimate of
//! the time left. Elsewhere (CI logs, pipes): one line when a point starts
//! and one when it ends, nothing per trial, and no bar or escape bytes.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Cells of the bar between its brackets.
const BAR_CELLS: usize = 20;

/// Width assumed when the terminal's cannot be read.
const DEFAULT_WIDTH: usize = 80;

/// Reports where a run is.
pub struct Progress {
    sink: Box<dyn Write>,
    tty: bool,
    quiet: bool,
    width: usize,
    total_points: usize,
    trials_per_point: u32,
    /// When the first trial of the run started (the estimate's clock).
    first_trial: Option<Instant>,
    point_started: Instant,
    last_draw: Option<Instant>,
    label: String,
    index: usize,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("tty", &self.tty)
            .field("quiet", &self.quiet)
            .field("total_points", &self.total_points)
            .field("trials_per_point", &self.trials_per_point)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A reporter on stderr for `total_points` points of `trials_per_point`
    /// trials each (warm-ups included); `quiet` silences it. The bar is drawn
    /// only when stderr is a terminal.
    pub fn new(total_points: usize, trials_per_point: u32, quiet: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let width = if tty {
            terminal_width().unwrap_or(DEFAULT_WIDTH)
        } else {
            DEFAULT_WIDTH
        };
        Self::with_sink(
            total_points,
            trials_per_point,
            quiet,
            tty,
            width,
            Box::new(std::io::stderr()),
        )
    }

    /// A reporter writing to `sink`, drawing the bar when `tty` (lines are
    /// cut to `width` columns).
    pub fn with_sink(
        total_points: usize,
        trials_per_point: u32,
        quiet: bool,
        tty: bool,
        width: usize,
        sink: Box<dyn Write>,
    ) -> Self {
        Progress {
            sink,
            tty,
            quiet,
            width: width.max(20),
            total_points,
            trials_per_point: trials_per_point.max(1),
            first_trial: None,
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
            let done = self.units_before_point();
            self.draw("starting", done);
        } else {
            let line = format!("[{}/{}] {} ...", index + 1, self.total_points, label);
            self.write_line(&line);
        }
    }

    /// A trial of the current point is about to run: warm-up or counted
    /// trial `k` (0-based) of `of`.
    pub fn trial(&mut self, warmup: bool, k: u32, of: u32) {
        if self.first_trial.is_none() {
            self.first_trial = Some(Instant::now());
        }
        if self.quiet || !self.tty {
            return;
        }
        // Redraw at most ten times a second.
        if let Some(t) = self.last_draw {
            if t.elapsed() < Duration::from_millis(100) && k + 1 != of {
                return;
            }
        }
        let per_point = u64::from(self.trials_per_point);
        let within = if warmup {
            u64::from(k)
        } else {
            // Counted trials come after the warm-ups of the point.
            per_point.saturating_sub(u64::from(of)) + u64::from(k)
        };
        let done = self.units_before_point() + within.min(per_point);
        let what = if warmup {
            format!("warm-up {}/{}", k + 1, of)
        } else {
            format!("trial {}/{}", k + 1, of)
        };
        self.draw(&what, done);
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
            let _ = write!(self.sink, "\r\x1b[2K");
            let _ = self.sink.flush();
            return;
        }
        let line = format!(
            "[{}/{}] {}: {outcome} ({secs:.1} s)",
            self.index + 1,
            self.total_points,
            self.label,
        );
        self.write_line(&line);
    }

    fn units_before_point(&self) -> u64 {
        self.index as u64 * u64::from(self.trials_per_point)
    }

    fn total_units(&self) -> u64 {
        self.total_points as u64 * u64::from(self.trials_per_point)
    }

    fn write_line(&mut self, line: &str) {
        let _ = writeln!(self.sink, "{line}");
        let _ = self.sink.flush();
    }

    fn draw(&mut self, what: &str, done: u64) {
        self.last_draw = Some(Instant::now());
        let elapsed = self.first_trial.map(|t| t.elapsed()).unwrap_or_default();
        let line = bar_line(
            &format!("[{}/{}]", self.index + 1, self.total_points),
            &self.label,
            what,
            done,
            self.total_units(),
            elapsed,
            self.width,
        );
        let _ = write!(self.sink, "\r\x1b[2K{line}");
        let _ = self.sink.flush();
    }
}

/// The estimated time left when `done` of `total` equal units took
/// `elapsed`: the mean time per unit so far times the units left. None
/// before the first unit is done (nothing to estimate from).
pub fn eta(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    if done == 0 {
        return None;
    }
    let left = total.saturating_sub(done);
    let per_unit = elapsed.as_secs_f64() / done as f64;
    Some(Duration::from_secs_f64(per_unit * left as f64))
}

/// A duration as a person reads it: `42 s`, `3:05`, `1:02:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    }
}

/// The progress line: `POINT LABEL: WHAT`, then the run's bar with its
/// percentage, the time elapsed and the estimate left. The label is cut
/// (with `…`) so the whole line fits `width - 1` columns: the point, the
/// trial, the bar and the times stay visible.
pub fn bar_line(
    point: &str,
    label: &str,
    what: &str,
    done: u64,
    total: u64,
    elapsed: Duration,
    width: usize,
) -> String {
    let total = total.max(1);
    let done = done.min(total);
    let filled = (done as usize * BAR_CELLS) / total as usize;
    let bar: String = "#".repeat(filled) + &"-".repeat(BAR_CELLS - filled);
    let pct = done * 100 / total;
    let left = match eta(elapsed, done, total) {
        Some(d) => format!("~{} left", clock(d)),
        None => "estimating".to_string(),
    };
    let tail = format!(" [{bar}] {pct:>3}% {} elapsed, {left}", clock(elapsed));
    let fixed = point.chars().count() + 1 + 2 + what.chars().count() + tail.chars().count();
    let room = width.saturating_sub(1).saturating_sub(fixed);
    let label = if label.chars().count() <= room {
        label.to_string()
    } else if room == 0 {
        String::new()
    } else {
        let keep: String = label.chars().take(room.saturating_sub(1)).collect();
        format!("{keep}…")
    };
    format!("{point} {label}: {what}{tail}")
}

/// Columns of the terminal on stderr.
fn terminal_width() -> Option<usize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` into the struct we pass, which
    // lives for the whole call; fd 2 is only queried.
    let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn drive(tty: bool, quiet: bool) -> String {
        let out = Captured::default();
        let mut p = Progress::with_sink(2, 3, quiet, tty, 80, Box::new(out.clone()));
        for (i, label) in ["a", "b"].iter().enumerate() {
            p.point_start(i, label);
            p.trial(true, 0, 1);
            p.trial(false, 0, 2);
            p.trial(false, 1, 2);
            p.point_end("done");
        }
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn eta_is_mean_time_per_unit_times_units_left() {
        let s = Duration::from_secs;
        assert_eq!(eta(s(10), 0, 4), None);
        assert_eq!(eta(s(10), 1, 4), Some(s(30)));
        assert_eq!(eta(s(10), 2, 4), Some(s(10)));
        assert_eq!(eta(s(10), 4, 4), Some(s(0)));
        assert_eq!(eta(s(90), 3, 12), Some(s(270)));
        // More done than planned (a miscount) never goes negative.
        assert_eq!(eta(s(10), 5, 4), Some(s(0)));
    }

    #[test]
    fn clock_reads_as_seconds_minutes_hours() {
        assert_eq!(clock(Duration::from_secs(42)), "42 s");
        assert_eq!(clock(Duration::from_secs(185)), "3:05");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    #[test]
    fn the_bar_line_fits_the_width_and_keeps_the_estimate() {
        let secs = Duration::from_secs;
        let line = bar_line("[1/4]", "p", "trial 1/3", 3, 12, secs(9), 80);
        assert_eq!(
            line,
            "[1/4] p: trial 1/3 [#####---------------]  25% 9 s elapsed, ~27 s left"
        );
        let long = "x".repeat(300);
        let cut = bar_line("[1/4]", &long, "trial 2/3", 0, 12, Duration::ZERO, 90);
        assert_eq!(cut.chars().count(), 89, "{cut}");
        assert!(cut.starts_with("[1/4] xxx"), "{cut}");
        assert!(cut.contains("x…: trial 2/3 [---"), "{cut}");
        assert!(cut.ends_with("0 s elapsed, estimating"), "{cut}");
    }

    #[test]
    fn off_a_terminal_only_the_point_lines_are_written() {
        let text = drive(false, false);
        assert_eq!(
            text.lines().count(),
            4,
            "one start and one end line per point: {text:?}"
        );
        assert!(text.starts_with("[1/2] a ...\n[1/2] a: done ("), "{text:?}");
        assert!(!text.contains('\r') && !text.contains('\x1b') && !text.contains('#'));
    }

    #[test]
    fn on_a_terminal_the_bar_counts_points_times_trials() {
        let text = drive(true, false);
        assert!(text.contains("\r\x1b[2K"), "{text:?}");
        // Point b, its last counted trial: 3 (point a) + 1 (warm-up) + 1
        // (counted) units of 6 done.
        assert!(
            text.contains("[2/2] b: trial 2/2 [################----]  83%"),
            "{text:?}"
        );
    }

    #[test]
    fn quiet_writes_nothing() {
        assert_eq!(drive(true, true), "");
        assert_eq!(drive(false, true), "");
    }
}
