//! `sentryprof compare A B`: per point and per site, the change in median
//! with a bootstrap confidence interval and a verdict; exit 1 on a regression.

use std::path::PathBuf;

use bundle::read_bundle;
use flamegraph::compare_bundles::{compare_bundles, comparison_text};

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
    /// significant.
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub threshold: f64,
    /// Output format: text or json.
    #[arg(long, default_value = "text")]
    pub format: String,
}

pub fn run(args: CompareArgs) -> Result<Outcome, CliError> {
    if !args.threshold.is_finite() || args.threshold < 0.0 {
        return Err(CliError::BadInput(format!(
            "--threshold {}: expected a percentage >= 0",
            args.threshold
        )));
    }
    if args.format != "text" && args.format != "json" {
        return Err(CliError::BadInput(format!(
            "--format {:?}: expected text or json",
            args.format
        )));
    }
    let a = read_bundle(&args.a)?;
    let b = read_bundle(&args.b)?;
    let c = compare_bundles(&a, &b, args.threshold).map_err(render_error)?;
    if args.format == "json" {
        let j = serde_json::to_string_pretty(&c)
            .map_err(|e| CliError::BadInput(format!("comparison as JSON: {e}")))?;
        println!("{j}");
    } else {
        print!("{}", comparison_text(&c, &a.dir, &b.dir));
    }
    Ok(if c.has_regression() {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}
