//! `sentryprof record [--freq N] [--out DIR] -- COMMAND ARGS...`: sample
//! any command and its children with perf_event_open and write a bundle
//! (`stacks.folded` + `run.json` of kind `record`).

use std::ffi::OsString;
use std::path::PathBuf;

use bundle::{BundleKind, BundleWriter, RunJson, STACKS_FOLDED};
use collectors::capabilities::check_capabilities;
use collectors::perf::DEFAULT_FREQUENCY_HZ;
use collectors::record::{record, RecordConfig, RecordError};

use crate::error::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Samples per second.
    #[arg(long, default_value_t = DEFAULT_FREQUENCY_HZ)]
    pub freq: u64,
    /// Bundle directory to write (default: record-COMMAND).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The command to run and its arguments (after `--`).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

pub fn run(args: RecordArgs) -> Result<Outcome, CliError> {
    if args.freq == 0 || args.freq > 100_000 {
        return Err(CliError::BadInput(format!(
            "--freq {} is out of range (1..=100000)",
            args.freq
        )));
    }
    let base = args
        .command
        .first()
        .map(|c| {
            let s = c.to_string_lossy();
            s.rsplit('/').next().unwrap_or(&s).to_string()
        })
        .unwrap_or_else(|| "command".to_string());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("record-{base}")));
    let config = RecordConfig {
        command: args.command.clone(),
        frequency_hz: args.freq,
    };
    let rec = record(&config).map_err(|e| match e {
        RecordError::Perf(p) => CliError::Environment(format!("record: {p}")),
        other => CliError::BadInput(format!("record: {other}")),
    })?;
    for n in &rec.notes {
        eprintln!("sentryprof: note: {n}");
    }
    let writer = BundleWriter::create(&out)?;
    writer.write_file(STACKS_FOLDED, rec.folded.to_text().as_bytes())?;
    let mut run = RunJson::new(BundleKind::Record);
    run.command = std::env::args().collect();
    run.created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    run.workload.name = "record".to_string();
    run.workload.params = serde_json::json!({
        "command": args.command.iter().map(|c| c.to_string_lossy().into_owned()).collect::<Vec<_>>(),
        "exit_status": rec.status.code(),
        "processes": rec.processes,
    });
    let mut caps = check_capabilities();
    caps.sampling_event = Some(rec.info.event.clone());
    run.tsc_hz = caps.tsc_hz.unwrap_or(0);
    run.capabilities = caps;
    run.notes = rec.notes.clone();
    if !rec.status.success() {
        run.notes
            .push(format!("the command ended with {}", rec.status));
    }
    run.profile = Some(rec.info.clone());
    let dir = writer.finish(&run)?;
    println!(
        "recorded {} samples of {} ({} Hz, {} lost) from '{}' ({}) into {}",
        rec.info.samples,
        rec.info.event,
        args.freq,
        rec.info.lost_samples,
        base,
        rec.status,
        dir.display()
    );
    Ok(Outcome::Success)
}
