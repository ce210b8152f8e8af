//! Bundles of profiles made outside a run: `sentryprof record` (any
//! command sampled with perf_event_open), `sentryprof import perf-script`
//! (the text of `perf script` folded) and `sentryprof import perf.data`
//! (a perf.data file read directly). Each writes
//! `stacks.folded` and a `run.json` of its kind through the atomic
//! `BundleWriter`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use bundle::{BundleError, BundleKind, BundleWriter, ProfileInfo, RunJson, STACKS_FOLDED};
use collectors::capabilities::check_capabilities;
use collectors::perf_data::{import_perf_data, PerfDataError};
use collectors::perf_script::{self, ImportedProfile, OddLines, PerfScriptError};
use collectors::record::{record_until, RecordConfig, RecordError, Recording};
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
    /// The perf.data file cannot be read or is corrupt (bad input).
    #[error(transparent)]
    PerfData(#[from] PerfDataError),
    /// The bundle could not be written.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Ctrl-C or SIGTERM during an import: nothing was written.
    #[error("interrupted: nothing imported, no bundle written")]
    Interrupted,
}

impl ProfileError {
    /// The machine's fault (perf_event_open refused), not the input's.
    pub fn is_environment(&self) -> bool {
        matches!(self, ProfileError::Record(RecordError::Perf(_)))
    }
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

    /// Check the request, claim `--out` (before the command runs: an
    /// output that cannot be written refuses the work), run and sample the
    /// command, and write the bundle. Ctrl-C or SIGTERM stops the command
    /// (SIGTERM to it) and the samples up to then are written as the
    /// bundle ([`RecordOutcome::interrupted`]).
    pub fn record_into_bundle(&self) -> Result<RecordOutcome, ProfileError> {
        if self.frequency_hz == 0 || self.frequency_hz > MAX_RECORD_FREQUENCY_HZ {
            return Err(ProfileError::Frequency {
                hz: self.frequency_hz,
            });
        }
        crate::interrupt::install();
        let writer = BundleWriter::create(&self.out_dir())?;
        let config = RecordConfig {
            command: self.command.clone(),
            frequency_hz: self.frequency_hz,
        };
        let rec = record_until(&config, &crate::interrupt::requested, &crate::notes::note)?;
        let (dir, notes) = self.write_bundle(writer, &rec)?;
        Ok(RecordOutcome { rec, dir, notes })
    }

    /// Write `rec` as a bundle of kind `record` through `writer`; returns
    /// its directory and the bundle's notes.
    fn write_bundle(
        &self,
        writer: BundleWriter,
        rec: &Recording,
    ) -> Result<(PathBuf, Vec<String>), ProfileError> {
        writer.write_file(STACKS_FOLDED, rec.folded.to_text().as_bytes())?;
        let mut run = RunJson::new(BundleKind::Record);
        run.command = std::env::args().collect();
        run.created_unix = crate::out_dir::now_unix();
        run.machine = bundle::Machine::current();
        run.workload.name = "record".to_string();
        run.workload.params = serde_json::json!({
            "command": self.command.iter().map(|c| c.to_string_lossy().into_owned()).collect::<Vec<_>>(),
            "exit_status": rec.status.code(),
            "processes": rec.processes,
            "interrupted": rec.interrupted,
        });
        let mut caps = check_capabilities();
        caps.sampling_event = Some(rec.info.event.clone());
        run.tsc_hz = caps.tsc_hz.unwrap_or(0);
        run.capabilities = caps;
        run.notes.extend(writer.stale_note());
        run.notes.extend(writer.replace_note());
        // Printed by `record` (what happened at `--out`, never silenced);
        // the fallback notes are printed by their own path (silenced by
        // `--quiet`), the interruption is `record`'s last line.
        let shown = run.notes.clone();
        run.notes.extend(rec.notes.iter().cloned());
        if rec.interrupted {
            run.notes.push(format!(
                "interrupted: recording stopped by a signal; '{}' was sent SIGTERM and the samples up to then are kept",
                self.base_name()
            ));
        } else if !rec.status.success() {
            run.notes
                .push(format!("the command ended with {}", rec.status));
        }
        run.profile = Some(rec.info.clone());
        Ok((writer.finish(&run)?, shown))
    }
}

/// A recording written as a bundle.
#[derive(Debug)]
pub struct RecordOutcome {
    /// The recording.
    pub rec: Recording,
    /// The bundle's directory.
    pub dir: PathBuf,
    /// What happened at `--out` (a swept staging directory, an earlier
    /// bundle kept as `NAME.old`); the fallbacks are in `rec.notes`.
    pub notes: Vec<String>,
}

impl RecordOutcome {
    /// The one line `record` prints at the end: what was recorded and
    /// where; it starts with `interrupted:` when a signal stopped it.
    pub fn summary(&self, req: &RecordRequest) -> String {
        let rec = &self.rec;
        format!(
            "{}recorded {} samples of {} ({} Hz, {} lost) from '{}' ({}) into {}",
            if rec.interrupted { "interrupted: " } else { "" },
            rec.info.samples,
            rec.info.event,
            req.frequency_hz,
            rec.info.lost_samples,
            req.base_name(),
            rec.status,
            self.dir.display()
        )
    }
}

/// What `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportSource {
    /// The text of `perf script`.
    PerfScript,
    /// A perf.data file, read directly.
    PerfData,
}

/// What `sentryprof import perf-script` or `import perf.data` is asked for.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// What the file holds.
    pub source: ImportSource,
    /// The input file; `-` reads stdin (perf-script only).
    pub file: PathBuf,
    /// Bundle directory [default: FILE with its extension replaced by
    /// `.bundle`; `stdin.bundle` for `-`].
    pub out: Option<PathBuf>,
    /// Refuse the lines inferno-collapse-perf skips with a warning
    /// (perf-script only).
    pub strict: bool,
}

impl ImportRequest {
    /// `import perf-script FILE [--out DIR] [--strict]`.
    pub fn text(file: PathBuf, out: Option<PathBuf>, strict: bool) -> Self {
        let source = ImportSource::PerfScript;
        ImportRequest {
            source,
            file,
            out,
            strict,
        }
    }

    /// `import perf.data FILE [--out DIR]`.
    pub fn perf_data(file: PathBuf, out: Option<PathBuf>) -> Self {
        let source = ImportSource::PerfData;
        ImportRequest {
            source,
            file,
            out,
            strict: false,
        }
    }

    /// Where the bundle goes.
    pub fn out_dir(&self) -> PathBuf {
        match &self.out {
            Some(out) => out.clone(),
            None if self.file == Path::new("-") => PathBuf::from("stdin.bundle"),
            None => self.file.with_extension("bundle"),
        }
    }

    /// Import the file into its bundle and print what `import` prints: the
    /// bundle's notes on stderr (what happened at `--out`, the events of
    /// other names and the lines skipped), then the summary line on stdout.
    pub fn import_and_report(&self) -> Result<(), ProfileError> {
        let odd = if self.strict {
            OddLines::Refuse
        } else {
            OddLines::Skip
        };
        let (profile, dir, notes) = match self.source {
            ImportSource::PerfScript => import_perf_script_with(&self.file, &self.out_dir(), odd)?,
            ImportSource::PerfData => import_perf_data_file(&self.file, &self.out_dir())?,
        };
        (notes.iter()).for_each(|n| eprintln!("sentryprof: note: {n}"));
        println!("{}", imported_line(&profile, &self.file, &dir));
        Ok(())
    }
}

/// Fold the `perf script` text of `file` into a bundle at `out` (kind
/// `import`), skipping the lines inferno skips; see [`import_perf_script_with`].
pub fn import_perf_script(
    file: &Path,
    out: &Path,
) -> Result<(ImportedProfile, PathBuf, Vec<String>), ProfileError> {
    import_perf_script_with(file, out, OddLines::Skip)
}

/// Fold the `perf script` text of `file` (`-`: stdin) into a bundle at
/// `out` (kind `import`); returns the profile, the bundle's directory and
/// the notes of its `run.json` (what happened at `--out`, events of other
/// names skipped, the lines skipped as inferno skips them). The input is read and parsed before the bundle is
/// created: bad input leaves nothing, nor does Ctrl-C or SIGTERM
/// ([`ProfileError::Interrupted`]).
pub fn import_perf_script_with(
    file: &Path,
    out: &Path,
    odd: OddLines,
) -> Result<(ImportedProfile, PathBuf, Vec<String>), ProfileError> {
    let source = perf_script::source_display_name(file);
    // Ctrl-C while folding a file cancels the import: the staging directory
    // goes. stdin is read as it is folded, so the handler comes after it
    // (Ctrl-C on a stdin that never ends stops the process as usual).
    let stdin = file == Path::new("-");
    if !stdin {
        crate::interrupt::install();
    }
    let profile = perf_script::import_file_with(file, &source, odd)?;
    crate::interrupt::install();
    write_import_bundle(profile, &source, "perf-script", out)
}

/// Fold the perf.data `file` ([`import_perf_data`]: same stacks as
/// `perf script | inferno-collapse-perf`) into a bundle at `out` (kind
/// `import`); returns as [`import_perf_script_with`] does. A bad file
/// (bad magic, a cut header, a corrupt or truncated record) leaves nothing.
pub fn import_perf_data_file(
    file: &Path,
    out: &Path,
) -> Result<(ImportedProfile, PathBuf, Vec<String>), ProfileError> {
    crate::interrupt::install();
    let profile = import_perf_data(file)?;
    let source = perf_script::source_display_name(file);
    write_import_bundle(profile, &source, "perf.data", out)
}

/// Write an imported profile as a bundle of kind `import` (`format` names
/// the input's kind in `run.json`); Ctrl-C or SIGTERM before the rename
/// leaves nothing ([`ProfileError::Interrupted`]).
fn write_import_bundle(
    profile: ImportedProfile,
    source: &str,
    format: &str,
    out: &Path,
) -> Result<(ImportedProfile, PathBuf, Vec<String>), ProfileError> {
    let writer = BundleWriter::create(out)?;
    let folded_text = profile.folded.to_text();
    writer.write_file(STACKS_FOLDED, folded_text.as_bytes())?;
    let mut run = RunJson::new(BundleKind::Import);
    run.command = std::env::args().collect();
    run.created_unix = crate::out_dir::now_unix();
    run.machine = bundle::Machine::current();
    run.workload.name = "import".to_string();
    run.notes.extend(writer.stale_note());
    run.notes.extend(writer.replace_note());
    run.workload.params = serde_json::json!({
        "format": format,
        "source": source,
        "odd_lines_skipped": profile.odd_lines,
    });
    if profile.skipped_other_events > 0 {
        run.notes.push(format!(
            "{} events other than '{}' were skipped (only the first event name met is folded)",
            profile.skipped_other_events, profile.event
        ));
    }
    run.notes.extend(profile.odd_lines_note(source));
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
    if crate::interrupt::requested() {
        return Err(ProfileError::Interrupted);
    }
    let dir = writer.finish(&run)?;
    Ok((profile, dir, run.notes))
}

/// The line `sentryprof import perf-script` (or `perf.data`) prints on stdout.
pub fn imported_line(profile: &ImportedProfile, file: &Path, dir: &Path) -> String {
    format!(
        "imported {} samples of '{}' ({} distinct stacks) from {} into {}",
        profile.samples,
        profile.event,
        profile.folded.len(),
        perf_script::source_display_name(file),
        dir.display()
    )
}
