//! `sentryprof flamegraph INPUT`: flamegraph SVGs of a bundle (sampled
//! profile or rdtsc probes) or of folded stacks, flame or icicle, and
//! differential flamegraphs.

use std::path::PathBuf;

use flamegraph::bundle_flames::write_files;
use flamegraph::flame_request::{render_request, FlameRequest};
use flamegraph::RenderError;

use crate::error::{CliError, Outcome};

/// Flamegraph SVGs; written beside the input unless --out.
#[derive(Debug, clap::Args)]
pub struct FlamegraphArgs {
    /// A bundle directory (or its run.json), a folded stacks file, or - for
    /// folded stacks on stdin (written into the current directory).
    pub bundle: PathBuf,
    /// Directory to write the SVGs into (default: beside the input).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Icicle orientation (root at the top) instead of flame.
    #[arg(long)]
    pub icicle: bool,
    /// Leave out frames narrower than this many pixels (of the width).
    #[arg(long, value_name = "PX", default_value_t = 0.1)]
    pub min_width: f64,
    /// Differential flamegraph against a second bundle (normalised).
    #[arg(long, value_name = "BUNDLE2", conflicts_with = "diff_search")]
    pub diff: Option<PathBuf>,
    /// Differential flamegraph of two search strategies of this bundle,
    /// e.g. `linear,maxgap` (before,after; normalised).
    #[arg(long, value_name = "BEFORE,AFTER")]
    pub diff_search: Option<String>,
    /// Draw from the rdtsc probes (exact cycles) even if perf samples exist.
    #[arg(long)]
    pub probes: bool,
    /// Title of the graph (default: what it shows).
    #[arg(long)]
    pub title: Option<String>,
    /// Fixed width in pixels [default: 1200, stretching to the window].
    #[arg(long, value_name = "PX")]
    pub width: Option<usize>,
    /// Keep the Rust and C/C++ start-up frames (trimmed by default).
    #[arg(long)]
    pub keep_startup: bool,
}

/// Turn a renderer error into the CLI's (all exit 2).
pub fn render_error(e: RenderError) -> CliError {
    match e {
        RenderError::Bundle(b) => CliError::Bundle(b),
        other => CliError::BadInput(other.to_string()),
    }
}

pub fn run(a: FlamegraphArgs) -> Result<Outcome, CliError> {
    let req = FlameRequest {
        icicle: a.icicle,
        min_width: a.min_width,
        diff: a.diff,
        diff_search: a.diff_search,
        probes: a.probes,
        title: a.title,
        width: a.width,
        keep_startup: a.keep_startup,
    };
    let (files, out_dir) = render_request(&a.bundle, &req, a.out).map_err(render_error)?;
    let (paths, swept) = write_files(&out_dir, &files).map_err(render_error)?;
    swept.iter().for_each(|n| experiments::notes::note(n));
    for (f, p) in files.iter().zip(paths) {
        println!("{}: {}", p.display(), f.description);
    }
    Ok(Outcome::Success)
}
