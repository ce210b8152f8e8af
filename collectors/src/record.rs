//! `record`: sample any command and its children. Events are opened on
//! this process per CPU, disabled, with `inherit` and `enable_on_exec`, so
//! they come alive in the child at its `execve` and follow everything it
//! starts; MMAP2/COMM/FORK records tell which object each address belongs
//! to, for symbolization after the command ends.

use std::ffi::OsString;
use std::process::{Command, ExitStatus};

use thiserror::Error;

use crate::perf::{PerfError, SampleTarget, Sampler, SamplerConfig};
use crate::stack_fold::fold_samples;
use crate::symbolize::unwind::StackUnwinder;
use crate::symbolize::{ProcessView, Symbolizer};
use bundle::folded::FoldedStacks;
use bundle::{ProfileInfo, STACKS_FOLDED};

/// What to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    /// Program and arguments.
    pub command: Vec<OsString>,
    pub frequency_hz: u64,
}

/// Why a recording failed.
#[derive(Debug, Error)]
pub enum RecordError {
    #[error("no command given (usage: record -- COMMAND ARGS...)")]
    EmptyCommand,
    #[error("cannot run '{command}': {problem}")]
    Spawn { command: String, problem: String },
    #[error("waiting for '{command}': {source}")]
    Wait {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Perf(#[from] PerfError),
}

/// A finished recording.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The recording was stopped (Ctrl-C, SIGTERM) before the command
    /// ended: the command was sent SIGTERM and the samples up to then kept.
    pub interrupted: bool,
    pub folded: FoldedStacks,
    pub info: ProfileInfo,
    pub status: ExitStatus,
    /// One-line notes (fallbacks, lost records, unreadable objects).
    pub notes: Vec<String>,
    /// Processes seen (address spaces rebuilt from the side band).
    pub processes: usize,
}

/// How often the wait for the command looks at the stop request.
const STOP_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// How long a stopped command has after SIGTERM before SIGKILL.
const TERM_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Run the command to completion under the sampler and fold its samples.
pub fn record(config: &RecordConfig) -> Result<Recording, RecordError> {
    record_until(config, &|| false, &|_| {})
}

/// Wait for `child`; when `stop()` turns true first, end it (SIGTERM, as
/// perf record does, then SIGKILL after [`TERM_GRACE`]). Returns its
/// status and whether it was stopped.
fn wait_or_stop(
    child: &mut std::process::Child,
    stop: &dyn Fn() -> bool,
) -> std::io::Result<(ExitStatus, bool)> {
    loop {
        if let Some(status) = child.try_wait()? {
            // A Ctrl-C at a terminal reaches the command too, which may
            // end before the stop request is seen here.
            return Ok((status, stop()));
        }
        if stop() {
            break;
        }
        std::thread::sleep(STOP_POLL);
    }
    // SAFETY: kill() on the pid of a child not yet reaped; no memory effects.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let asked = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok((status, true));
        }
        if asked.elapsed() > TERM_GRACE {
            child.kill()?;
            return Ok((child.wait()?, true));
        }
        std::thread::sleep(STOP_POLL);
    }
}

/// [`record`], stopping early when `stop()` turns true (checked every
/// 10 ms): the command is ended and the samples so far are folded. Each
/// note goes to `say` when it happens (the sampling fallback before the
/// command starts) and into [`Recording::notes`].
pub fn record_until(
    config: &RecordConfig,
    stop: &dyn Fn() -> bool,
    say: &dyn Fn(&str),
) -> Result<Recording, RecordError> {
    let (program, args) = config
        .command
        .split_first()
        .ok_or(RecordError::EmptyCommand)?;
    let shown = program.to_string_lossy().into_owned();
    let sampler = Sampler::open(SamplerConfig {
        frequency_hz: config.frequency_hz,
        target: SampleTarget::ExecedChildren,
        ..SamplerConfig::default()
    })?;
    let mut notes = Vec::new();
    notes.extend(sampler.event().note());
    notes.iter().for_each(|n| say(n));
    let started = notes.len();
    let event = sampler.event().name.clone();
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| RecordError::Spawn {
            command: shown.clone(),
            problem: if e.kind() == std::io::ErrorKind::NotFound {
                "command not found".to_string()
            } else {
                e.to_string()
            },
        })?;
    let (status, interrupted) =
        wait_or_stop(&mut child, stop).map_err(|source| RecordError::Wait {
            command: shown.clone(),
            source,
        })?;
    let mut out = sampler.stop();
    let mut unwinder = StackUnwinder::new();
    out.side_band.sort_by_key(|r| r.time());
    let base = shown.rsplit('/').next().unwrap_or(&shown).to_string();
    let view = ProcessView::from_side_band(&out.side_band, &base);
    let mut sym = Symbolizer::new();
    unwinder.repair(&mut out.samples, &view);
    let folded = fold_samples(&out.samples, &view, &mut sym);
    for p in sym.problems.drain(..) {
        notes.push(format!("symbolization: {p}"));
    }
    if out.lost > 0 {
        notes.push(format!(
            "{} perf records were lost (ring buffer full); lower --perf-freq",
            out.lost
        ));
    }
    notes[started..].iter().for_each(|n| say(n));
    Ok(Recording {
        info: ProfileInfo {
            event,
            folded: STACKS_FOLDED.to_string(),
            frequency_hz: Some(config.frequency_hz),
            samples: folded.samples,
            host_samples: folded.host_samples,
            guest_samples: folded.guest_samples,
            lost_samples: out.lost,
            total_weight: folded.total_weight,
        },
        folded: folded.folded,
        status,
        interrupted,
        notes,
        processes: view.spaces(),
    })
}
