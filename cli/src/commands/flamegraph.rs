//! `sentryprof flamegraph BUNDLE`: flamegraph SVGs of a bundle (sampled
//! profile or rdtsc probes), flame or icicle, and differential flamegraphs.

use std::path::PathBuf;

use bundle::read_bundle;
use flamegraph::bundle_flames::{bundle_flamegraphs, write_files};
use flamegraph::flame_request::FlameRequest;
use flamegraph::RenderError;

use crate::error::{CliError, Outcome};

/// Flamegraph SVGs from a bundle; written beside its run.json unless --out.
#[derive(Debug, clap::Args)]
pub struct FlamegraphArgs {
    /// The bundle directory (or its run.json).
    pub bundle: PathBuf,
    /// Directory to write the SVGs into (default: the bundle directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Icicle orientation (root at the top) instead of flame.
    #[arg(long)]
    pub icicle: bool,
    /// Leave out frames narrower than this many pixels (of 1200).
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

pub fn run(args: FlamegraphArgs) -> Result<Outcome, CliError> {
    let opts = FlameRequest {
        icicle: args.icicle,
        min_width: args.min_width,
        diff: args.diff.clone(),
        diff_search: args.diff_search.clone(),
        probes: args.probes,
        keep_startup: args.keep_startup,
    }
    .options()
    .map_err(render_error)?;
    let bundle = read_bundle(&args.bundle)?;
    let files = bundle_flamegraphs(&bundle, &opts).map_err(render_error)?;
    let out_dir = args.out.clone().unwrap_or_else(|| bundle.dir.clone());
    let (paths, swept) = write_files(&out_dir, &files).map_err(render_error)?;
    swept
        .iter()
        .for_each(|n| eprintln!("sentryprof: note: {n}"));
    for (f, p) in files.iter().zip(paths) {
        println!("{}: {}", p.display(), f.description);
    }
    Ok(Outcome::Success)
}
