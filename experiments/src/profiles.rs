//! Bundles of profiles made outside a run: `sentryprof record` (any
//! command sampled with perf_event_open) and `sentryprof import
//! perf-script` (the text of `perf script` folded). Each writes
//! `stacks.folded` and a `run.json` of its kind through the atomic
//! `BundleWriter`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bundle::{BundleError, BundleKind, BundleWriter, ProfileInfo, RunJson, STACKS_FOLDED};
use collectors::capabilities::check_capabilities;
use collectors::perf_script::{self, ImportedProfile, PerfScriptError};
use collectors::record::{record, RecordConfig, RecordError, Recording};
use thiserror::Error;

/// Largest sampling frequency `record` accepts, in Hz.
pub const MAX_RECORD_FREQUENCY_HZ: u64 = 100_000;

/// Why a profile bundle was not written.
#[derive(Debug, Error)]
pub enum ProfileError {
    /// A sampling frequency out of range (bad input).
    #[error("--perf-freq {hz} is out of range (1..={MAX_RECORD_FREQUENCY_HZ})")]
    Frequency {
        /// The frequency asked for.
        hz: u64,
    },
    /// Recording failed: [`RecordError::Perf`] is the environment's fault,
    /// the rest the input's.
    #[error("record: {0}")]
    Record(#[from] RecordError),
    /// The `perf script` text cannot be read or parsed (bad input).
    #[error(transparent)]
    PerfScript(#[from] PerfScriptError),
    /// The bundle could not be written.
    #[error(transparent)]
    Bundle(#[from] BundleError),
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What `sentryprof record` is asked for.
#[derive(Debug, Clone)]
pub struct RecordRequest {
    /// The command to run and its arguments.
    pub command: Vec<OsString>,
    /// Samples per second.
    pub frequency_hz: u64,
    /// Bundle directory [default: `record-COMMAND`].
    pub out: Option<PathBuf>,
}

impl RecordRequest {
    /// The command's base name ("ls" for `/bin/ls`; "command" without one).
    pub fn base_name(&self) -> String {
        self.command
            .first()
            .map(|c| {
                let s = c.to_string_lossy();
                s.rsplit('/').next().unwrap_or(&s).to_string()
            })
            .unwrap_or_else(|| "command".to_string())
    }

    /// Where the bundle goes.
    pub fn out_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("record-{}", self.base_name())))
    }

    /// Check the request, then run and sample the command.
    pub fn record(&self) -> Result<Recording, ProfileError> {
        if self.frequency_hz == 0 || self.frequency_hz > MAX_RECORD_FREQUENCY_HZ {
            return Err(ProfileError::Frequency {
                hz: self.frequency_hz,
            });
        }
        // Refuse an --out that would be thrown away only after the command ran.
        bundle::check_out_dir(&self.out_dir())?;
        Ok(record(&RecordConfig {
            command: self.command.clone(),
            frequency_hz: self.frequency_hz,
        })?)
    }

    /// Write `rec` as a bundle of kind `record`; returns its directory.
    pub fn write_bundle(&self, rec: &Recording) -> Result<PathBuf, ProfileError> {
        let writer = BundleWriter::create(&self.out_dir())?;
        writer.write_file(STACKS_FOLDED, rec.folded.to_text().as_bytes())?;
        let mut run = RunJson::new(BundleKind::Record);
        run.command = std::env::args().collect();
        run.created_unix = now_unix();
        run.machine = bundle::Machine::current();
        run.workload.name = "record".to_string();
        run.workload.params = serde_json::json!({
            "command": self.command.iter().map(|c| c.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "exit_status": rec.status.code(),
            "processes": rec.processes,
        });
        let mut caps = check_capabilities();
        caps.sampling_event = Some(rec.info.event.clone());
        run.tsc_hz = caps.tsc_hz.unwrap_or(0);
        run.capabilities = caps;
        run.notes = rec.notes.clone();
        run.notes.extend(writer.stale_note());
        run.notes.extend(writer.replace_note());
        if !rec.status.success() {
            run.notes
                .push(format!("the command ended with {}", rec.status));
        }
        run.profile = Some(rec.info.clone());
        Ok(writer.finish(&run)?)
    }
}

/// Fold the `perf script` text of `file` into a bundle at `out` (kind
/// `import`); returns the profile and the bundle's directory. The file is
/// parsed before the bundle is created: bad input leaves nothing.
pub fn import_perf_script(
    file: &Path,
    out: &Path,
) -> Result<(ImportedProfile, PathBuf), ProfileError> {
    let profile = perf_script::import_file(file)?;
    let writer = BundleWriter::create(out)?;
    let folded_text = profile.folded.to_text();
    writer.write_file(STACKS_FOLDED, folded_text.as_bytes())?;
    let mut run = RunJson::new(BundleKind::Import);
    run.command = std::env::args().collect();
    run.created_unix = now_unix();
    run.machine = bundle::Machine::current();
    run.workload.name = "import".to_string();
    run.notes.extend(writer.stale_note());
    run.notes.extend(writer.replace_note());
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
    Ok((profile, dir))
}

/// The line `sentryprof record` prints on stdout when the bundle is written.
pub fn recorded_line(req: &RecordRequest, rec: &Recording, dir: &Path) -> String {
    format!(
        "recorded {} samples of {} ({} Hz, {} lost) from '{}' ({}) into {}",
        rec.info.samples,
        rec.info.event,
        req.frequency_hz,
        rec.info.lost_samples,
        req.base_name(),
        rec.status,
        dir.display()
    )
}

/// The line `sentryprof import perf-script` prints on stdout.
pub fn imported_line(profile: &ImportedProfile, file: &Path, dir: &Path) -> String {
    format!(
        "imported {} samples of '{}' ({} distinct stacks) from {} into {}",
        profile.samples,
        profile.event,
        profile.folded.len(),
        file.display(),
        dir.display()
    )
}
