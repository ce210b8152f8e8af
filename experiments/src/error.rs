//! The errors of planning and running an experiment. Each prints as one
//! line; the front end maps them to its exit statuses (a [`PlanError`] is
//! bad input; a [`RunError`] is bad input or the environment, see its
//! variants).

use std::path::PathBuf;

use instrumented_sentry::runners::PointError;
use instrumented_sentry::workload::WorkloadKind;
use thiserror::Error;

use crate::limits::{MAX_PROBE_EVERY, MAX_TRIALS, MAX_WARMUP_TRIALS};

/// A request that cannot become a plan.
#[derive(Debug, Error)]
pub enum PlanError {
    /// A size or count that is not one, or out of range.
    #[error("--{flag} {given:?}: {problem}")]
    Number {
        /// The flag, without its dashes.
        flag: &'static str,
        /// The text given.
        given: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A name a flag does not know.
    #[error("--{flag} {given:?}: unknown {what} (expected {expected})")]
    UnknownName {
        /// The flag, without its dashes.
        flag: &'static str,
        /// The text given.
        given: String,
        /// What the flag names.
        what: &'static str,
        /// The names it accepts.
        expected: &'static str,
    },
    /// An empty item in a comma-separated list.
    #[error("--{flag}: empty list item")]
    EmptyListItem {
        /// The flag, without its dashes.
        flag: &'static str,
    },
    /// A `--touch-modes` item that is neither `touch` nor `notouch`.
    #[error("--touch-modes {given:?}: expected touch or notouch")]
    TouchMode {
        /// The text given.
        given: String,
    },
    /// Replay without a trace.
    #[error("--workload replay needs --trace FILE (a `strace -f -e trace=memory` log)")]
    TraceNeeded,
    /// A trace given to a workload that does not replay.
    #[error("--trace is only used by --workload replay, not {workload}")]
    TraceUnused {
        /// The workload asked for.
        workload: WorkloadKind,
    },
    /// The trace cannot be read or parsed (the message names file and line).
    #[error("{0}")]
    Trace(String),
    /// Mapping kinds given to a workload without mappings of its own.
    #[error("--mapping does not apply to --workload {workload} (only exp1 and exp2)")]
    MappingUnused {
        /// The workload asked for.
        workload: WorkloadKind,
    },
    /// Touch asked of a replay.
    #[error("--touch does not apply to --workload replay (a trace records no memory accesses)")]
    TouchOnReplay,
    /// Iterations or sizes given to a replay.
    #[error("--iterations and --size do not apply to --workload replay (the trace decides)")]
    SizesOnReplay,
    /// A gap search given to native (`native/maxgap`).
    #[error("--platform {given:?}: native has no gap search (it runs no sentry)")]
    NativeSearch {
        /// The item as given.
        given: String,
    },
    /// Trials out of range.
    #[error("--trials {trials}: must be between 1 and {MAX_TRIALS}")]
    Trials {
        /// The count asked for.
        trials: u32,
    },
    /// Warm-up trials out of range.
    #[error("--warmup-trials {warmup_trials}: must be at most {MAX_WARMUP_TRIALS}")]
    WarmupTrials {
        /// The count asked for.
        warmup_trials: u32,
    },
    /// Probe sampling out of range.
    #[error("--probe-every {probe_every}: must be between 1 (every call) and {MAX_PROBE_EVERY}")]
    ProbeEvery {
        /// The interval asked for.
        probe_every: u32,
    },
    /// A sampling frequency of zero.
    #[error("--perf-freq 0: the sampling frequency must be at least 1 Hz")]
    PerfFreqZero,
    /// Boundary stacks without the sampling collector they join with.
    #[error("--collect boundary needs perf: boundary stacks are joined with perf samples (--collect perf,boundary)")]
    BoundaryWithoutPerf,
    /// A sampling frequency without the sampling collector.
    #[error("--perf-freq needs --collect perf")]
    PerfFreqWithoutPerf,
    /// A sampling frequency above what the kernel accepts.
    #[error(
        "--perf-freq {hz}: above the kernel's limit of {max} Hz (kernel.perf_event_max_sample_rate)"
    )]
    PerfFreqTooHigh {
        /// The frequency asked for.
        hz: u64,
        /// The kernel's limit.
        max: u64,
    },
    /// `--collect guest` with no kvm platform in the run.
    #[error("--collect guest samples the guest of the kvm platform's VMM; add --platform kvm")]
    GuestWithoutKvm,
    /// A guest sampling rate without the guest sampler.
    #[error("--guest-freq needs --collect guest (and --platform kvm)")]
    GuestFreqWithoutGuest,
    /// A guest sampling rate out of the timer's range.
    #[error("--guest-freq {hz}: the guest sampling rate must be 1..=100000 Hz")]
    GuestFreq {
        /// The rate asked for.
        hz: u64,
    },
    /// `--no-probes` while `--collect` lists the probes.
    #[error("--no-probes contradicts --collect probes: list only the collectors you want")]
    NoProbesButListed,
    /// A probe setting while the probes are off.
    #[error("{flag}{}{given} needs the probes, which are off (--collect without probes, or --no-probes)", if given.is_empty() { "" } else { " " })]
    ProbeFlagWithoutProbes {
        /// The flag.
        flag: &'static str,
        /// Its value (empty for a switch).
        given: String,
    },
    /// `--keep-memory` without an inproc platform.
    #[error(
        "--keep-memory saves the sentry's memory file of an inproc point; add --platform inproc"
    )]
    KeepMemoryWithoutInproc,
    /// One trial would map more address space than allowed.
    #[error(
        "{label}: {iterations} x {size} bytes does not fit the address space one trial may map (64 TiB)"
    )]
    DoesNotFit {
        /// The point's label.
        label: String,
        /// Calls per trial.
        iterations: u64,
        /// Bytes per call.
        size: u64,
    },
    /// Touching would write more memory than the machine has.
    #[error(
        "{label}: touching {touched_mib} MiB per trial needs more memory than this machine has ({memory_mib} MiB)"
    )]
    NotEnoughMemory {
        /// The point's label.
        label: String,
        /// MiB one trial touches.
        touched_mib: u64,
        /// MiB of memory of this machine.
        memory_mib: u64,
    },
    /// An empty `--out`.
    #[error("--out: empty path")]
    EmptyOut,
    /// `SENTRYPROF_VCPU_PLACEMENT` names no placement (checked for kvm
    /// points only).
    #[error("SENTRYPROF_VCPU_PLACEMENT={given:?}: unknown vCPU placement (expected own-thread, sentry-thread or pinned-apart)")]
    VcpuPlacement {
        /// The value given.
        given: String,
    },
}

/// The line of an interrupted run: what was kept.
fn interrupted_line(saved: Option<&std::path::Path>, measured: usize, total: usize) -> String {
    match saved {
        Some(dir) => format!(
            "interrupted: {measured} of {total} point(s) were done; they are saved in {} (the rest were not run)",
            dir.display()
        ),
        None => format!("interrupted before any of {total} point(s) was measured; no bundle written"),
    }
}

/// A run that ended without a bundle.
#[derive(Debug, Error)]
pub enum RunError {
    /// The bundle could not be created or written (bad input: the output
    /// path is not ours, or the disk refused).
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// Ctrl-C or SIGTERM stopped the run between trials: the points
    /// measured until then are written as the bundle (`saved`), or none
    /// was measured and nothing is written. `sentryprof` exits 130.
    #[error("{}", interrupted_line(.saved.as_deref(), *.measured, *.total))]
    Interrupted {
        /// The bundle written with the points measured, if any.
        saved: Option<PathBuf>,
        /// Points measured (or failed) before the signal.
        measured: usize,
        /// Points the plan had.
        total: usize,
    },
    /// Every replayed call of the trace failed; the bundle holds the counts.
    #[error("{0}")]
    ReplayFailed(String),
    /// Every point failed (environment).
    #[error("no point could be measured ({failed} failed; first: {first}); no bundle written")]
    NothingMeasured {
        /// Points that failed.
        failed: usize,
        /// The first failure's error ("none" when there was none).
        first: String,
    },
    /// `--keep-memory` could not write the memory image (environment).
    #[error("--keep-memory: cannot write {name}: {source}")]
    KeepMemory {
        /// The file's name in the bundle.
        name: &'static str,
        /// Why.
        source: PointError,
    },
}
