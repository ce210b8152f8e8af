//! `sentryprof completions SHELL` and `sentryprof man`: texts generated
//! from the clap definitions (`experiments::usage`), printed on stdout.

use std::io::Write;

use crate::error::{CliError, Outcome};

/// Print a generated text; a closed pipe is no error.
pub fn print(text: Result<Vec<u8>, String>) -> Result<Outcome, CliError> {
    let _ = std::io::stdout().write_all(&text.map_err(CliError::Environment)?);
    Ok(Outcome::Success)
}
