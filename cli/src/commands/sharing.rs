//! `sentryprof sharing` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct SharingArgs {}

pub fn run(_args: SharingArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof sharing is not in this build yet".to_string(),
    ))
}
