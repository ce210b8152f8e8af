//! `sentryprof import perf-script FILE [--out DIR]`: fold the text of
//! `perf script` into a bundle (`stacks.folded` + `run.json`), so profiles
//! recorded with Linux perf elsewhere can be rendered and browsed here.

use std::path::{Path, PathBuf};

use bundle::{BundleKind, BundleWriter, ProfileInfo, RunJson, STACKS_FOLDED};
use collectors::perf_script;

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
        /// Bundle directory to write (default: FILE with its extension
        /// replaced by `.bundle`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: ImportArgs) -> Result<Outcome, CliError> {
    match args.format {
        ImportFormat::PerfScript { file, out } => {
            let out = out.unwrap_or_else(|| default_out(&file));
            import_perf_script(&file, &out)?;
            Ok(Outcome::Success)
        }
    }
}

fn default_out(file: &Path) -> PathBuf {
    file.with_extension("bundle")
}

fn import_perf_script(file: &Path, out: &Path) -> Result<(), CliError> {
    // Parse everything before creating the bundle: bad input leaves nothing.
    let profile = perf_script::import_file(file).map_err(|e| CliError::BadInput(e.to_string()))?;
    let writer = BundleWriter::create(out)?;
    let folded_text = profile.folded.to_text();
    writer.write_file(STACKS_FOLDED, folded_text.as_bytes())?;
    let mut run = RunJson::new(BundleKind::Import);
    run.command = std::env::args().collect();
    run.created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    run.workload.name = "import".to_string();
    run.workload.params = serde_json::json!({
        "format": "perf-script",
        "source": file.display().to_string(),
    });
    if profile.skipped_other_events > 0 {
        run.notes.push(format!(
            "{} events other than '{}' were skipped (only the first event name met is folded)",
            profile.skipped_other_events, profile.event
        ));
    }
    run.profile = Some(ProfileInfo {
        event: profile.event.clone(),
        folded: STACKS_FOLDED.to_string(),
        frequency_hz: None,
        samples: profile.samples,
        host_samples: profile.samples,
        guest_samples: 0,
        lost_samples: 0,
        total_weight: profile.folded.total_weight(),
    });
    let dir = writer.finish(&run)?;
    println!(
        "imported {} samples of '{}' ({} distinct stacks) from {} into {}",
        profile.samples,
        profile.event,
        profile.folded.len(),
        file.display(),
        dir.display()
    );
    Ok(())
}
