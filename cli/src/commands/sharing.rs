//! `sentryprof sharing`: how much memory is identical page for page (the
//! measurement of Barker et al., USENIX ATC 2012) over live processes, raw
//! memory images and the sentry's memory file of a run bundle.

use std::path::PathBuf;

use collectors::sharing::SharingError;
use experiments::sharing::{SharingConfig, SharingRequest, SharingSetupError};

use crate::error::{CliError, Outcome};

/// Measure how much memory is identical page for page.
#[derive(Debug, clap::Args)]
pub struct SharingArgs {
    /// A live process to scan (repeatable): mappings from /proc/PID/maps,
    /// resident pages only, read with process_vm_readv.
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<i32>,
    /// A raw memory image file to scan (repeatable).
    #[arg(long = "image", value_name = "FILE")]
    pub images: Vec<PathBuf>,
    /// A bundle of `sentryprof run --keep-memory`: scan its memory.img, the
    /// sentry's memory file (repeatable).
    #[arg(long = "bundle", value_name = "DIR")]
    pub bundles: Vec<PathBuf>,
    /// Bytes per compared unit: a power of two from 64 to 4096 (K suffix
    /// accepted).
    #[arg(long, value_name = "BYTES", default_value = "4096")]
    pub granularity: String,
    /// How many of the most duplicated contents to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Bundle directory [default: sentryprof-out/sharing-YYYYMMDD-HHMMSS (UTC)]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print sharing.json on stdout instead of the text table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: SharingArgs) -> Result<Outcome, CliError> {
    let now = experiments::out_dir::now_unix();
    let cfg = SharingConfig::new(&SharingRequest {
        pids: args.pids,
        images: args.images,
        bundles: args.bundles,
        granularity: args.granularity,
        top: args.top,
        out: args.out,
        now_unix: now,
    })
    .map_err(cli_error)?;
    let (report, dir) = experiments::sharing::run(&cfg, now).map_err(cli_error)?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| CliError::Environment(format!("cannot encode the report: {e}")))?;
        println!("{json}");
    } else {
        print!("{}", report.render_text());
    }
    experiments::notes::say(&format!("wrote {}", dir.display()));
    Ok(Outcome::Success)
}

/// The library's error in the CLI's exit statuses.
fn cli_error(e: SharingSetupError) -> CliError {
    match e {
        SharingSetupError::Bundle(b) => CliError::Bundle(b),
        SharingSetupError::Analysis(SharingError::NothingScanned { .. })
        | SharingSetupError::Encode(_) => CliError::Environment(e.to_string()),
        other => CliError::BadInput(other.to_string()),
    }
}
