//! `sentryprof tui BUNDLE [BUNDLE2]`: browse one bundle in the terminal, or
//! two side by side in the Compare view.

use std::path::PathBuf;

use tui::{BrowseOptions, TuiError};

use crate::error::{CliError, Outcome};

/// Browse bundles in the terminal.
#[derive(Debug, clap::Args)]
pub struct TuiArgs {
    /// The bundle to browse; a second bundle is compared against the first
    /// (A = first, B = second).
    #[arg(required = true, num_args = 1..=2, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    /// Directory for SVG exports of the flame view (default: beside the
    /// bundle's run.json).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Compare: a significant slowdown beyond this many percent is shown as
    /// a regression.
    #[arg(long, value_name = "PCT", default_value_t = tui::DEFAULT_THRESHOLD_PCT)]
    pub threshold: f64,
}

/// Run the browser until the user quits (the library checks the arguments).
pub fn run(args: TuiArgs) -> Result<Outcome, CliError> {
    let opts = BrowseOptions {
        bundles: args.bundles,
        export_dir: args.out,
        threshold_pct: args.threshold,
    };
    tui::browse(opts).map_err(|e| match e {
        TuiError::Bundle(b) => CliError::Bundle(b),
        TuiError::TerminalTooSmall { .. } | TuiError::Terminal { .. } => {
            CliError::Environment(e.to_string())
        }
        other => CliError::BadInput(other.to_string()),
    })?;
    Ok(Outcome::Success)
}
