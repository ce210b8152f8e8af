//! `sentryprof tui` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct TuiArgs {}

pub fn run(_args: TuiArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof tui is not in this build yet".to_string(),
    ))
}
