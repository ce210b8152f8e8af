//! `sentryprof flamegraph` (being built: see the issue that owns this verb).

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct FlamegraphArgs {}

pub fn run(_args: FlamegraphArgs) -> Result<Outcome, CliError> {
    Err(CliError::Environment(
        "sentryprof flamegraph is not in this build yet".to_string(),
    ))
}
