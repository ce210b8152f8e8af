//! `sentryprof record [--perf-freq HZ] [--out DIR] -- COMMAND ARGS...`: sample
//! any command and its children with perf_event_open and write a bundle
//! (`stacks.folded` + `run.json` of kind `record`).

use std::ffi::OsString;
use std::path::PathBuf;

use collectors::perf::DEFAULT_FREQUENCY_HZ;
use experiments::profiles::{ProfileError, RecordRequest};

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Sampling frequency, in Hz (`--freq` is an older name for it)
    #[arg(long, alias = "freq", value_name = "HZ", default_value_t = DEFAULT_FREQUENCY_HZ)]
    pub perf_freq: u64,
    /// Bundle directory [default: record-COMMAND]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The command to run and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

pub fn run(args: RecordArgs) -> Result<Outcome, CliError> {
    let req = RecordRequest {
        command: args.command,
        frequency_hz: args.perf_freq,
        out: args.out,
    };
    let done = req.record_into_bundle().map_err(profile_error)?;
    (done.notes.iter()).for_each(|n| eprintln!("sentryprof: note: {n}"));
    if done.rec.interrupted {
        return Err(CliError::Interrupted(done.summary(&req)));
    }
    println!("{}", done.summary(&req));
    Ok(Outcome::Success)
}

/// A profile bundle's error in the CLI's exit statuses (shared with `import`).
pub fn profile_error(e: ProfileError) -> CliError {
    match e {
        ProfileError::Bundle(b) => CliError::Bundle(b),
        e @ ProfileError::Interrupted => CliError::Interrupted(e.to_string()),
        e if e.is_environment() => CliError::Environment(e.to_string()),
        other => CliError::BadInput(other.to_string()),
    }
}
