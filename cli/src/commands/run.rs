//! `sentryprof run` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct RunArgs {}

pub fn run(_args: RunArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof run is not in this build yet".to_string(),
    ))
}

impl RunArgs {
    /// The README's main job.
    pub fn main_job() -> Self {
        RunArgs {}
    }
}
