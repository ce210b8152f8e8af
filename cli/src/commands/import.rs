//! `sentryprof import perf-script FILE [--out DIR]`: fold the text of
//! `perf script` into a bundle (`stacks.folded` + `run.json`), so profiles
//! recorded with Linux perf elsewhere can be rendered and browsed here.

use std::path::PathBuf;

use experiments::profiles::{import_perf_script, imported_line};

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
    /// call chains), folded as `inferno-collapse-perf` would.
    PerfScript {
        /// The `perf script` text file.
        file: PathBuf,
        /// Bundle directory [default: FILE with its extension replaced by
        /// `.bundle`]
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

pub fn run(args: ImportArgs) -> Result<Outcome, CliError> {
    let ImportFormat::PerfScript { file, out } = args.format;
    let out = out.unwrap_or_else(|| file.with_extension("bundle"));
    let (profile, dir, notes) = import_perf_script(&file, &out).map_err(profile_error)?;
    (notes.iter()).for_each(|n| eprintln!("sentryprof: note: {n}"));
    println!("{}", imported_line(&profile, &file, &dir));
    Ok(Outcome::Success)
}
