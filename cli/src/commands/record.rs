//! `sentryprof record` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {}

pub fn run(_args: RecordArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof record is not in this build yet".to_string(),
    ))
}
