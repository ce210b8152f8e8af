//! `sentryprof compare` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct CompareArgs {}

pub fn run(_args: CompareArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof compare is not in this build yet".to_string(),
    ))
}
