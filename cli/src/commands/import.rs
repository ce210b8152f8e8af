//! `sentryprof import perf-script FILE [--out DIR] [--strict]` and `import
//! perf.data FILE [--out DIR]`: profiles folded into a bundle by
//! `experiments::profiles::ImportRequest`.

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
    /// A perf.data file (`perf record -g`), read directly and folded as
    /// `perf script | inferno-collapse-perf` would fold it.
    #[command(name = "perf.data")]
    PerfData {
        /// The perf.data file.
        file: PathBuf,
        /// Bundle directory [default: FILE with its extension replaced by `.bundle`]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

pub fn run(args: ImportArgs) -> Result<Outcome, CliError> {
    let req = match args.format {
        ImportFormat::PerfScript { file, out, strict } => ImportRequest::text(file, out, strict),
        ImportFormat::PerfData { file, out } => ImportRequest::perf_data(file, out),
    };
    req.import_and_report().map_err(profile_error)?;
    Ok(Outcome::Success)
}
