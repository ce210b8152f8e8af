//! How long opening a bundle takes, phase by phase, in wall-clock time and
//! in CPU time of the process (which stays meaningful on a busy machine):
//! `cargo run -p tui --release --example open_timing -- BUNDLE [ROUNDS]`.
//!
//! Phases: reading `run.json` and `stacks.folded`, parsing the folded text,
//! building the flame tree, the function table (flamegraph crate); then the
//! whole `BundleModel::load`, which builds tree and table on two threads.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bundle::folded::FoldedStacks;
use bundle::{read_bundle, STACKS_FOLDED};
use flamegraph::functions::function_table;
use tui::flame::FlameTree;
use tui::model::BundleModel;

/// CPU time of the whole process so far, in seconds.
fn process_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Wall and CPU seconds since a mark.
struct Mark(Instant, f64);

impl Mark {
    fn now() -> Mark {
        Mark(Instant::now(), process_cpu())
    }
    fn since(&self) -> String {
        format!(
            "{:.3} s wall / {:.3} s cpu",
            self.0.elapsed().as_secs_f64(),
            process_cpu() - self.1
        )
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: open_timing BUNDLE [ROUNDS]");
        return ExitCode::from(2);
    };
    let rounds: usize = match args.next().map(|s| s.parse()) {
        None => 3,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("open_timing: ROUNDS: {e}");
            return ExitCode::from(2);
        }
    };
    for round in 1..=rounds {
        let m = Mark::now();
        let bundle = match read_bundle(&dir) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("open_timing: {e}");
                return ExitCode::from(2);
            }
        };
        let text = match bundle.read_text(STACKS_FOLDED) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("open_timing: {e}");
                return ExitCode::from(2);
            }
        };
        let read = m.since();
        let m = Mark::now();
        let stacks = match FoldedStacks::parse(&text, STACKS_FOLDED) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("open_timing: {e}");
                return ExitCode::from(2);
            }
        };
        let parse = m.since();
        let m = Mark::now();
        let tree = FlameTree::from_folded(&stacks);
        let build = m.since();
        let m = Mark::now();
        let table = function_table(&stacks, None);
        let functions = m.since();
        let m = Mark::now();
        let model = match BundleModel::load(&dir) {
            Ok(model) => model,
            Err(e) => {
                eprintln!("open_timing: {e}");
                return ExitCode::from(2);
            }
        };
        let load = m.since();
        println!(
            "round {round}: {} stacks, {} nodes, {} functions | read {read} | parse {parse} | tree {build} | functions {functions} | BundleModel::load {load}",
            stacks.len(),
            tree.len(),
            table.rows.len().max(model.functions.rows.len()),
        );
    }
    ExitCode::SUCCESS
}
