//! `sentryprof report` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {}

pub fn run(_args: ReportArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof report is not in this build yet".to_string(),
    ))
}
