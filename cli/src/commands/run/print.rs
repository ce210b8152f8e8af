//! The observer that prints what `sentryprof run` shows: on stdout the
//! run's header, each point's latency line and cycle table, the final
//! tables ([`flamegraph::run_tables`]) and where the bundle went; on stderr notes
//! and progress ([`experiments::progress`], off with `--quiet`).

use std::path::Path;
use std::time::Duration;

use bundle::{Point, RunJson};
use experiments::progress::Progress;
use experiments::{summary, Calibration, Observer, Plan};
use flamegraph::run_tables as table;

/// Prints a run as it goes.
#[derive(Debug)]
pub struct Printer {
    progress: Progress,
}

impl Printer {
    /// A printer for the points of `plan`; `quiet` silences the progress
    /// lines and bar (not the results).
    pub fn new(plan: &Plan, quiet: bool) -> Self {
        let trials = plan.warmup_trials + plan.trials;
        Printer {
            progress: Progress::new(plan.point_count(), trials, quiet),
        }
    }
}

impl Observer for Printer {
    fn run_started(&mut self, plan: &Plan, calibration: &Calibration) {
        summary::start_lines(plan, calibration)
            .iter()
            .for_each(|l| println!("{l}"));
    }

    fn collector_started(&mut self, notes: &[String]) {
        for n in notes {
            println!("{n}");
        }
    }

    fn note(&mut self, note: &str) {
        experiments::notes::say(&format!("sentryprof: {note}"));
    }

    fn output_note(&mut self, note: &str) {
        eprintln!("sentryprof: {note}");
    }

    fn point_started(&mut self, index: usize, label: &str) {
        self.progress.point_start(index, label);
    }

    fn trial_started(&mut self, _index: usize, warmup: bool, k: u32, of: u32) {
        self.progress.trial(warmup, k, of);
    }

    fn point_measured(&mut self, _index: usize, label: &str, point: &Point) {
        self.progress.point_end("done");
        println!("{label}: {}", table::latency_line(point));
        print!("{}", table::cycle_table(point));
        if let Some(line) = experiments::replay_summary::replay_line(point) {
            println!("{label}: {line}");
        }
    }

    fn point_failed(&mut self, _index: usize, label: &str, error: &str) {
        self.progress.point_end("FAILED");
        println!("{label}: FAILED: {error}");
    }

    fn point_interrupted(&mut self, _index: usize, _label: &str) {
        self.progress.point_end("interrupted");
    }

    fn memory_kept(&mut self, bytes: u64) {
        println!("memory.img: {} MiB of sentry memory file", bytes >> 20);
    }

    fn run_measured(&mut self, run: &RunJson) {
        println!();
        print!("{}", table::latency_table(&run.points));
        print!("{}", table::kvm_beyond_exit_table(&run.points, run.tsc_hz));
        print!("{}", summary::end_text(run));
    }

    fn rendered(&mut self, svgs: usize) {
        println!("rendered {svgs} SVG(s), report.txt and report.html into the bundle");
    }

    fn bundle_written(&mut self, dir: &Path, run: &RunJson, elapsed: Duration) {
        println!(
            "bundle: {} ({} point(s), {:.1} s)",
            dir.display(),
            run.points.len(),
            elapsed.as_secs_f64()
        );
    }
}
