//! `sentryprof compare A B`: per point and per site, the change in median
//! with a bootstrap confidence interval and a verdict; the gated flame diff
//! of the points' per-trial stacks; exit 1 on a regression.

use std::path::PathBuf;

use bundle::read_bundle;
use flamegraph::compare_bundles::{run_compare, CompareRequest};

use super::flamegraph::render_error;
use crate::error::{CliError, Outcome};

/// Compare two bundles; exit 1 when any significant slowdown exceeds --threshold.
#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The baseline bundle.
    pub a: PathBuf,
    /// The bundle compared with it.
    pub b: PathBuf,
    /// Slowdown (percent of A's median) that counts as a regression when
    /// significant; for frames, growth in percentage points of the samples.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
    /// Directory for compare_flamegraph.svg (default: B's directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(args: CompareArgs) -> Result<Outcome, CliError> {
    let req = CompareRequest {
        threshold: args.threshold,
        format: args.format,
        out: args.out,
    };
    req.check().map_err(render_error)?;
    let (a, b) = (read_bundle(&args.a)?, read_bundle(&args.b)?);
    let (c, text, notes) = run_compare(&a, &b, &req).map_err(render_error)?;
    notes
        .iter()
        .for_each(|n| eprintln!("sentryprof: note: {n}"));
    print!("{text}");
    Ok(if c.has_regression() {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}
