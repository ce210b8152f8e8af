//! `sentryprof doctor` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {}

pub fn run(_args: DoctorArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof doctor is not in this build yet".to_string(),
    ))
}
