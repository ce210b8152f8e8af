//! Runners: what runs a workload's trials on a platform (the top layer of
//! the crate).
//!
//! The seam between the run loop and the platforms is here: a
//! [`PlatformRunner`] runs one trial of a [`PointSpec`] and says what it
//! measured. The native and in-process runners implement it over
//! [`MemoryTarget`](crate::workload::MemoryTarget); a guest runner
//! implements it directly.
//!
//! - [`native`]: real host system calls, no sentry (the runc baseline);
//! - [`inproc`]: the sentry in this process as a target and runner;
//! - [`kvm`]: the workload as a KVM guest, the sentry as its kernel;
//! - [`trap`]: the workload as a separate process (the stub) trapped by
//!   ptrace or systrap, the sentry serving its calls; and the same stub
//!   loop natively.

pub mod inproc;
pub mod kvm;
pub mod native;
pub mod trap;

use thiserror::Error;

use std::path::Path;

use crate::platform::boundary::BoundaryWindow;
use crate::platform::kvm::vmm::guest_sampler::GuestSamples;
use crate::platform::kvm::vmm::vcpu_pmu::VcpuPmu;
use crate::probes::Probes;
use crate::workload::spec::PointSpec;
use crate::workload::target::TargetError;

/// What one trial measured.
#[derive(Debug, Clone, Default)]
pub struct TrialOutcome {
    /// Nanoseconds in the timed region.
    pub elapsed_ns: u64,
    /// Calls in the timed region (latency per call = elapsed / calls).
    pub calls: u64,
    /// Host mappings the platform held at the end of the timed region.
    pub host_mappings: u64,
    /// Workload-specific counts (replay: matches and mismatches), JSON.
    pub extra: serde_json::Value,
    /// The probe recorders of the trial's sentries (one per address space;
    /// empty where there is no sentry or probes are off).
    pub probes: Vec<Probes>,
    /// What the kvm VMM's guest sampler counted over the trial (`None`
    /// where it was not armed).
    pub guest: Option<GuestSamples>,
    /// The calls the sentry served, with the workload's stack at each
    /// (empty unless [`PlatformRunner::record_boundary_stacks`] turned it
    /// on), for the collectors to join with perf samples.
    pub boundary: Vec<BoundaryWindow>,
}

impl TrialOutcome {
    /// Mean nanoseconds per call in this trial.
    pub fn ns_per_call(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.elapsed_ns as f64 / self.calls as f64
        }
    }
}

/// Why a point could not be measured on a platform. One line each.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum PointError {
    /// A host limit (vm.max_map_count, memory) stops the point.
    #[error("{0}")]
    HostLimit(String),
    /// This platform does not run this workload.
    #[error("{0}")]
    Unsupported(String),
    /// A call the workload needs failed.
    #[error("{0}")]
    Failed(String),
}

impl PointError {
    /// Turn a target error at call `call` (0-based, `None` in set-up) into a
    /// point error.
    pub fn from_target(error: TargetError, call: Option<u64>) -> PointError {
        let at = match call {
            Some(i) => format!("call {}: ", i + 1),
            None => String::new(),
        };
        match error {
            e @ TargetError::HostLimit { .. } => PointError::HostLimit(format!("{at}{e}")),
            TargetError::Unsupported(m) => PointError::Unsupported(m),
            e => PointError::Failed(format!("{at}{e}")),
        }
    }
}

impl From<crate::workload::exec::TrialError> for PointError {
    fn from(e: crate::workload::exec::TrialError) -> Self {
        PointError::from_target(e.error, e.call)
    }
}

/// A platform that runs trials of points.
///
/// The run loop calls [`check_point`](Self::check_point) once per point,
/// then [`run_trial`](Self::run_trial) for each warm-up and counted trial.
/// Trials must be independent: each starts from a fresh address space (or,
/// for native, one cleaned up after the previous trial).
pub trait PlatformRunner {
    /// "native", "inproc", "kvm".
    fn platform(&self) -> &'static str;
    /// The gap search in use ("linear", "maxgap"), `None` where the
    /// platform has no sentry (native).
    fn search(&self) -> Option<&'static str>;
    /// Refuse a point this platform cannot run, before any trial (host
    /// limits that can be predicted, unsupported workloads).
    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError>;
    /// Run one trial.
    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError>;
    /// Write the memory file of the last trial's sentry to `path` (a raw
    /// copy, holes kept as holes) and return its length; `Ok(None)` where
    /// the platform keeps none.
    fn save_memory(&mut self, path: &Path) -> Result<Option<u64>, PointError> {
        let _ = path;
        Ok(None)
    }
    /// Symbols of guest code the platform runs, as `(start, end, name)`
    /// guest address ranges, for naming guest frames in samples; empty
    /// where the workload runs no guest code. Asked after a point's warm-up
    /// trials (every trial of a point runs the same guest program).
    fn guest_symbols(&self) -> Vec<(u64, u64, String)> {
        Vec::new()
    }
    /// One-line notes the runner has to say (a collector it could not
    /// start, ...), handed over once; asked after each point.
    fn take_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Record, from the next trial on, a [`BoundaryWindow`] for every call
    /// or exit the sentry serves (`TrialOutcome::boundary`): asked while
    /// perf samples, so samples taken while serving get the workload's
    /// stack in front. Platforms without a boundary ignore it.
    fn record_boundary_stacks(&mut self, on: bool) {
        let _ = on;
    }
    /// Keep hardware `cycles:HG` samples of the vCPU thread beside the
    /// guest sampler's (kvm, where a PMU splits host and guest cycles);
    /// platforms without a guest ignore it.
    fn set_vcpu_pmu(&mut self, pmu: std::sync::Arc<dyn VcpuPmu>) {
        let _ = pmu;
    }
    /// The point's `extra` from its counted trials' (in order, non-empty):
    /// by default the last trial's; a platform may add figures over all of
    /// them.
    fn point_extra(&self, trials: &[&serde_json::Value]) -> serde_json::Value {
        trials
            .last()
            .map_or(serde_json::Value::Null, |v| (*v).clone())
    }
}
