//! `sentryprof doctor [--json]`: what this machine allows (perf, KVM, TSC,
//! host limits), one line per check with its verdict and fix. Always exits
//! 0: a missing capability is a fact to report, not an error.

use collectors::capabilities::check_capabilities;
use collectors::capabilities::text::render_table;

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the facts as JSON (the `capabilities` object of run.json).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DoctorArgs) -> Result<Outcome, CliError> {
    let caps = check_capabilities();
    if args.json {
        let text = serde_json::to_string_pretty(&caps)
            .map_err(|e| CliError::Environment(format!("cannot encode capabilities: {e}")))?;
        println!("{text}");
    } else {
        print!("{}", render_table(&caps));
    }
    Ok(Outcome::Success)
}
