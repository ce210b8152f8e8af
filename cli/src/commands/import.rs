//! `sentryprof import` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {}

pub fn run(_args: ImportArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof import is not in this build yet".to_string(),
    ))
}
