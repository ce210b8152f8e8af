//! `sentryprof doctor [--json]`: what this machine allows (perf, KVM, TSC,
//! host limits), one line per check with its verdict and fix. Always exits
//! 0: a missing capability is a fact to report, not an error.

use bundle::Capabilities;
use collectors::capabilities::check_capabilities;

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

/// The doctor table: a status column, the check name, the verdict, and the
/// fix indented below when there is one.
pub fn render_table(caps: &Capabilities) -> String {
    let width = caps.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in &caps.checks {
        let status = if c.ok { " ok " } else { "FAIL" };
        out.push_str(&format!("[{status}] {:<width$}  {}\n", c.name, c.verdict));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("       {:<width$}  fix: {fix}\n", ""));
        }
    }
    out
}
