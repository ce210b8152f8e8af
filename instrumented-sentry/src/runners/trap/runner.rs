//! The trapped-process runners: [`TrapRunner`] (ptrace, systrap: the
//! stub's calls served by the memory manager) and [`StubNativeRunner`]
//! (the same stub loop with real host calls).

use std::fs::File;
use std::os::fd::AsRawFd;

use serde_json::json;

use super::handler::{MmHandler, TrapMm, STUB_FILE_FD};
use super::placement::StubPlacement;
use super::replay::replay_on_stub;
use super::stub_outcome::{point_error, serve, NoHandler, Served};
use crate::addr::page_round_up;
use crate::mm::{FileId, MemoryManager, MmConfig};
use crate::platform::trap::address_space::TrapAddressSpace;
use crate::platform::trap::channel::SPIN_CYCLES;
use crate::platform::trap::costs::median;
use crate::platform::trap::{
    Mechanism, Shape, Trial, TrialReport, Workload, APP_LEN, MAX_ITERATIONS,
};
use crate::probes::Calibration;
use crate::runners::inproc::{target_error, InprocOptions, InprocRunner};
use crate::runners::native::{check_map_count, unlinked_temp_file};
use crate::runners::{PlatformRunner, PointError, TrialOutcome};
use crate::segment::GapSearch;
use crate::workload::exec::{experiment_call, MALLOC_MMAP_THRESHOLD};
use crate::workload::spec::{Mapping, PointSpec, PointWork};
use crate::workload::target::{PROT_READ, PROT_WRITE};
use crate::workload::trace::stub_replay;

/// Refuses what the stub cannot run: more iterations than its result
/// array holds, more than the application range; a trace the stub cannot
/// replay (a file offset past 2^64, too many calls in one address space).
fn check_stub_point(platform: &str, spec: &PointSpec) -> Result<(), PointError> {
    if let PointWork::Replay { trace } = &spec.work {
        return stub_replay(trace)
            .map(drop)
            .map_err(|e| match PointError::from_target(e, None) {
                PointError::Unsupported(m) => PointError::Unsupported(format!("{platform}: {m}")),
                other => other,
            });
    }
    if spec.iterations == 0 || spec.iterations > MAX_ITERATIONS || spec.size == 0 {
        return Err(PointError::Unsupported(format!(
            "{platform}: the stub runs 1 to {MAX_ITERATIONS} iterations of a non-empty size"
        )));
    }
    match spec.mapped_bytes() {
        Some(b) if b <= APP_LEN => Ok(()),
        _ => Err(PointError::HostLimit(format!(
            "{platform}: {} maps more than the stub's {} GiB application range",
            spec.label(),
            APP_LEN >> 30
        ))),
    }
}

/// The stub's loop for a point, with the given descriptor for its file.
fn stub_workload(spec: &PointSpec, fd: i32) -> Workload {
    let mapping = match spec.work {
        PointWork::Mmap { mapping } => mapping,
        _ => Mapping::Anon,
    };
    let call = experiment_call(mapping, spec.size, None);
    let mut w = Workload::anon(spec.iterations, spec.size);
    w.shape = match spec.work {
        PointWork::Malloc => Shape::Malloc,
        _ => Shape::Mmap,
    };
    w.prot = (PROT_READ | PROT_WRITE) as i32;
    w.flags = call.flags as i32;
    w.fd = if mapping.is_file_backed() { fd } else { -1 };
    w.touch = spec.touch;
    w
}

/// The first iteration whose call failed, as a point error.
fn failed_call(platform: &str, report: &TrialReport, iterations: u64) -> Option<PointError> {
    if let Some((i, c)) = report
        .calls
        .iter()
        .enumerate()
        .find(|(_, c)| (-4095..0).contains(&c.addr))
    {
        return Some(PointError::Failed(format!(
            "{platform}: call {}: {}",
            i + 1,
            std::io::Error::from_raw_os_error(-c.addr as i32)
        )));
    }
    (report.calls.len() as u64 != iterations).then(|| {
        PointError::Failed(format!(
            "{platform}: the stub finished {} of {iterations} iterations",
            report.calls.len()
        ))
    })
}

/// Median cycles of one iteration's call (before → after it returned).
fn call_median(report: &TrialReport) -> u64 {
    median(
        report
            .calls
            .iter()
            .map(|c| c.returned.wrapping_sub(c.enter))
            .collect(),
    )
}

/// The stub's calls that took longer than the hand-off's whole spin
/// ([`SPIN_CYCLES`]): their number and their share of all calls' cycles.
/// On systrap such a call had a waiter yield its CPU or sleep, or was
/// descheduled; a point whose latency (a mean) sits far above its median
/// call owes the difference to these.
fn over_spin(report: &TrialReport) -> serde_json::Value {
    let cycles: Vec<u64> = report
        .calls
        .iter()
        .map(|c| c.returned.wrapping_sub(c.enter))
        .collect();
    let total: u64 = cycles.iter().sum();
    let slow: Vec<u64> = cycles.into_iter().filter(|&c| c > SPIN_CYCLES).collect();
    let share = if total == 0 {
        0.0
    } else {
        slow.iter().sum::<u64>() as f64 / total as f64
    };
    json!({ "calls": slow.len(), "share_of_cycles": (share * 1000.0).round() / 1000.0 })
}

/// Runs points on a stub trapped by ptrace or systrap, served by the
/// sentry's memory manager (the inproc runner's settings).
#[derive(Debug)]
pub struct TrapRunner {
    mechanism: Mechanism,
    search: GapSearch,
    options: InprocOptions,
    placement: StubPlacement,
    /// Whether a one-iteration trial worked here (checked once).
    available: Option<Result<(), PointError>>,
    /// Record boundary windows with the stub's stack (while perf samples).
    boundary: bool,
}

impl TrapRunner {
    /// A runner for `mechanism` (`Ptrace` or `Systrap`; `Native` is
    /// [`StubNativeRunner`]) with the inproc runner's memory-manager
    /// settings for `search` and `options` (`keep_last` is ignored).
    pub fn new(mechanism: Mechanism, search: GapSearch, options: InprocOptions) -> Self {
        TrapRunner {
            mechanism,
            search,
            options,
            placement: StubPlacement::default_for(mechanism),
            available: None,
            boundary: false,
        }
    }

    /// `--platform ptrace`.
    pub fn ptrace(search: GapSearch, options: InprocOptions) -> Self {
        Self::new(Mechanism::Ptrace, search, options)
    }

    /// `--platform systrap`.
    pub fn systrap(search: GapSearch, options: InprocOptions) -> Self {
        Self::new(Mechanism::Systrap, search, options)
    }

    /// The same runner with the stub and the sentry placed as given.
    pub fn with_placement(mut self, placement: StubPlacement) -> Self {
        self.placement = placement;
        self
    }

    /// The memory-manager settings of every trial: the inproc runner's.
    pub fn mm_config(&self) -> MmConfig {
        let mut config = InprocRunner::new(self.search, self.options).mm_config();
        let chunk = config.memory_file.chunk_size;
        config.memory_file.max_size = config
            .memory_file
            .max_size
            .max(APP_LEN.div_ceil(chunk).saturating_mul(chunk));
        config
    }

    fn new_mm(&self) -> Result<TrapMm, PointError> {
        let mech = self.mechanism;
        MemoryManager::new(self.mm_config(), |mf| TrapAddressSpace::new(mech, mf.fd()))
            .map_err(|e| PointError::from_target(target_error(e), None))
    }

    /// One trial: a fresh memory manager, the point's file in it, the stub
    /// forked (inheriting the memory file), served to the end.
    fn trial(&mut self, spec: &PointSpec) -> Result<(TrialOutcome, TrapMm), PointError> {
        let platform = self.mechanism.name();
        let mut mm = self.new_mm()?;
        let file: Option<FileId> = match spec.work {
            PointWork::Mmap { mapping } if mapping.is_file_backed() => {
                let size = page_round_up(spec.size)
                    .ok_or_else(|| PointError::Failed(format!("{platform}: size overflows")))?;
                Some(
                    mm.create_file(size)
                        .map_err(|e| PointError::from_target(target_error(e), None))?,
                )
            }
            _ => None,
        };
        let workload = stub_workload(spec, STUB_FILE_FD);
        let mut trial = Trial::spawn(self.mechanism, &workload).map_err(point_error)?;
        trial.record_boundary_stacks(self.boundary);
        let mut handler = MmHandler::new(&mut mm, file);
        let Served {
            mut report,
            faults,
            calls,
            stub_pinned: pinned,
        } = serve(trial, &self.placement, &mut handler, platform)?;
        if let Some(e) = failed_call(platform, &report, spec.iterations) {
            return Err(e);
        }
        let mut extra = self.placement.to_json();
        extra["stub_pinned"] = json!(pinned);
        extra["stub_call_median_cycles"] = json!(call_median(&report));
        extra["trapped_calls"] = json!(calls);
        extra["faults"] = json!(faults);
        extra["host_calls"] = json!(mm.address_space().flushed());
        extra["calls_over_spin"] = over_spin(&report);
        if self.mechanism == Mechanism::Systrap {
            extra["handoffs"] = json!(report.handoffs);
        }
        let outcome = TrialOutcome {
            elapsed_ns: Calibration::get().cycles_to_whole_ns(report.loop_cycles),
            calls: spec.iterations,
            host_mappings: mm.host_mappings(),
            extra,
            probes: vec![mm.probes().clone()],
            guest: None,
            boundary: std::mem::take(&mut report.boundary),
        };
        Ok((outcome, mm))
    }

    /// Runs one trial and keeps its memory manager (tests and tools read
    /// the VMAs, PMAs and memory file of the trial).
    pub fn run_trial_keep(
        &mut self,
        spec: &PointSpec,
    ) -> Result<(TrialOutcome, TrapMm), PointError> {
        self.check_point(spec)?;
        self.trial(spec)
    }
}

/// A one-iteration anonymous mmap: what `check_point` runs once to learn
/// whether the platform works here.
fn probe_spec() -> PointSpec {
    PointSpec::exp1(Mapping::Anon, false, 1, 4096)
}

/// Whether `mechanism` (ptrace or systrap) works here: a one-iteration
/// trial through the runner. Errors: one line saying why not (a refused
/// `PTRACE_TRACEME` or seccomp filter names the call and the errno).
pub fn trap_available(mechanism: Mechanism) -> Result<(), String> {
    let options = InprocOptions {
        probes: false,
        subtract_probe_cost: false,
        probe_every: 1,
        keep_last: false,
    };
    TrapRunner::new(mechanism, GapSearch::MaxGap, options)
        .check_point(&probe_spec())
        .map_err(|e| e.to_string())
}

impl PlatformRunner for TrapRunner {
    fn platform(&self) -> &'static str {
        self.mechanism.name()
    }

    fn search(&self) -> Option<&'static str> {
        Some(match self.search {
            GapSearch::Linear => "linear",
            GapSearch::MaxGap => "maxgap",
        })
    }

    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError> {
        if self.mechanism == Mechanism::Native {
            return Err(PointError::Unsupported(
                "native: the stub's native loop is StubNativeRunner".to_string(),
            ));
        }
        check_stub_point(self.mechanism.name(), spec)?;
        if self.available.is_none() {
            let probe = self.trial(&probe_spec()).map(drop);
            self.available = Some(probe);
        }
        self.available.clone().unwrap_or(Ok(()))
    }

    /// Exp1/Exp2 and malloc trials; a replay records none.
    fn record_boundary_stacks(&mut self, on: bool) {
        self.boundary = on;
    }

    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError> {
        check_stub_point(self.mechanism.name(), spec)?;
        if let PointWork::Replay { trace } = &spec.work {
            let placement = self.placement;
            return replay_on_stub(self.mechanism, trace, &placement, &mut || self.new_mm());
        }
        self.trial(spec).map(|(outcome, _)| outcome)
    }

    /// The last trial's `extra`, with every trial's hand-off counts and
    /// stub median per call (`per_trial`), in trial order: a point whose
    /// latency moves between trials shows whether its hand-offs slept.
    fn point_extra(&self, trials: &[&serde_json::Value]) -> serde_json::Value {
        let mut extra = trials
            .last()
            .map_or(serde_json::Value::Null, |v| (*v).clone());
        if let serde_json::Value::Object(map) = &mut extra {
            let per_trial: Vec<serde_json::Value> = trials
                .iter()
                .map(|t| {
                    json!({
                        "stub_call_median_cycles": t.get("stub_call_median_cycles"),
                        "calls_over_spin": t.get("calls_over_spin"),
                        "handoffs": t.get("handoffs"),
                    })
                })
                .collect();
            map.insert("per_trial".into(), json!(per_trial));
        }
        extra
    }
}

/// Runs points as the stub's loop with real host system calls: the same
/// program the trapped runners measure, untrapped (`Mechanism::Native`).
/// File mappings map an unlinked temporary file, as the native runner's.
#[derive(Debug)]
pub struct StubNativeRunner {
    placement: StubPlacement,
}

impl Default for StubNativeRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl StubNativeRunner {
    /// The stub pinned where a trapped runner's stub would run.
    pub fn new() -> Self {
        StubNativeRunner {
            placement: StubPlacement::detect(),
        }
    }
}

impl PlatformRunner for StubNativeRunner {
    fn platform(&self) -> &'static str {
        "native"
    }

    fn search(&self) -> Option<&'static str> {
        None
    }

    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError> {
        check_stub_point("native", spec)?;
        check_map_count(spec)
    }

    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError> {
        check_stub_point("native", spec)?;
        if let PointWork::Replay { trace } = &spec.work {
            return replay_on_stub(Mechanism::Native, trace, &self.placement, &mut || {
                Err(PointError::Unsupported(
                    "native: no memory manager".to_string(),
                ))
            });
        }
        let file: Option<File> = match spec.work {
            PointWork::Mmap { mapping } if mapping.is_file_backed() => {
                let size = page_round_up(spec.size)
                    .ok_or_else(|| PointError::Failed("native: size overflows".to_string()))?;
                Some(unlinked_temp_file(size).map_err(|e| PointError::from_target(e, None))?)
            }
            _ => None,
        };
        let fd = file.as_ref().map_or(-1, |f| f.as_raw_fd());
        let trial =
            Trial::spawn(Mechanism::Native, &stub_workload(spec, fd)).map_err(point_error)?;
        let pinned = self.placement.pin_stub(trial.pid());
        let report = trial.run(&mut NoHandler).map_err(point_error)?;
        drop(file);
        if let Some(e) = failed_call("native", &report, spec.iterations) {
            return Err(e);
        }
        // What the stub held at the end: one host mapping per mmap (file
        // mappings never merge; anonymous ones are counted as the native
        // runner counts its own), or, for malloc below the threshold, the heap.
        let host_mappings = match spec.work {
            PointWork::Malloc if spec.size < MALLOC_MMAP_THRESHOLD => 1,
            _ => report.calls.len() as u64,
        };
        let mut extra = self.placement.to_json();
        extra["stub_pinned"] = json!(pinned);
        extra["stub_call_median_cycles"] = json!(call_median(&report));
        Ok(TrialOutcome {
            elapsed_ns: Calibration::get().cycles_to_whole_ns(report.loop_cycles),
            calls: spec.iterations,
            host_mappings,
            extra,
            probes: Vec::new(),
            guest: None,
            boundary: Vec::new(),
        })
    }
}
