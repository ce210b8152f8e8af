//! `sentryprof import perf-script FILE [--out DIR] [--strict]`: `perf script`
//! text folded into a bundle by `experiments::profiles::ImportRequest`.

use std::path::PathBuf;

use experiments::profiles::ImportRequest;

use super::record::profile_error;
use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

/// Formats `import` reads.
#[derive(Debug, clap::Subcommand)]
pub enum ImportFormat {
    /// The text output of `perf script` (default fields, with or without
    /// call chains), folded as `inferno-collapse-perf` would; the lines it
    /// skips are skipped too, counted and named in a note.
    PerfScript {
        /// The `perf script` text file; `-` reads stdin.
        file: PathBuf,
        /// Bundle directory [default: FILE with its extension replaced by
        /// `.bundle`; `stdin.bundle` when FILE is `-`]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Refuse a line inferno-collapse-perf would skip (exit 2, naming it)
        #[arg(long)]
        strict: bool,
    },
}

pub fn run(args: ImportArgs) -> Result<Outcome, CliError> {
    let ImportFormat::PerfScript { file, out, strict } = args.format;
    (ImportRequest { file, out, strict }.import_and_report()).map_err(profile_error)?;
    Ok(Outcome::Success)
}
