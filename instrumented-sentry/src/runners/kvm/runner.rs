//! `--platform kvm`: runs a point's trials as guests.
//!
//! - Exp1/Exp2 (`PointWork::Mmap`): the mmap loop is a guest program built
//!   from the point's parameters; the guest times each call with `rdtsc`
//!   (so a call's latency includes its exit round trip) and makes exactly one
//!   exit per mmap plus one per fault it takes.
//! - Malloc model and trace replay: the request-serving guest
//!   ([`KvmTarget`]) under the workloads' generic bodies.
//!
//! Every trial gets a fresh VM and memory manager. The exit mechanisms
//! (`out`, MMIO, `vmcall`/`vmmcall` from CPL 3) are measured once per
//! runner; system calls use the cheaper usable one. Right before every
//! Exp1/Exp2 trial, a guest that only exits measures that mechanism's raw
//! round trip again, so each trial's "time beyond one exit" is computed
//! against an exit measured next to it; the point reports the median over
//! its counted trials.
//!
//! The paired comparison (each call minus a raw exit made just before it
//! in the same VM) runs in calibration trials of its own: when a point is
//! set up ([`PlatformRunner::check_point`]) the runner runs
//! [`CALIBRATION_TRIALS`] paired guests, never counted in the point's
//! latency. Warm-up and counted trials run the workload alone, so their
//! guest makes only the workload's exits (one per mmap, one per fault,
//! one `exit`) and their latency is what the workload pays. The
//! calibration figures are reported beside it, under `paired_raw_exit`.

use std::sync::Arc;

use bundle::stats;
use serde_json::json;

use super::guest_run::{make_guest_mm, run_guest, GuestRunError, GuestRunSummary};
use super::guest_workloads::{
    mmap_loop_data_len, mmap_loop_program, MmapLoop, MmapLoopTimings, MAP_ANONYMOUS, MAP_PRIVATE,
    MAP_SHARED, WORKLOAD_FD,
};
use super::sentry_calls::GuestFds;
use super::target::KvmTarget;
use crate::addr::page_round_up;
use crate::mm::MmConfig;
use crate::platform::kvm::guest::exit_choice::{
    choose_syscall_exit, measure, ExitChoice, ExitMechanism, MechanismResult,
};
use crate::platform::kvm::vmm::exits::SyscallExit;
use crate::platform::kvm::vmm::guest_sampler::GuestSamples;
use crate::platform::kvm::vmm::layout::{DATA_MAX, MEMFILE_MAX};
use crate::platform::kvm::vmm::machine::Machine;
use crate::platform::kvm::vmm::vcpu_pmu::VcpuPmu;
use crate::probes::{Calibration, ProbeConfig};
use crate::runners::{PlatformRunner, PointError, TrialOutcome};
use crate::segment::GapSearch;
use crate::workload::exec::run_malloc_model_trial;
use crate::workload::spec::{Mapping, PointSpec, PointWork};
use crate::workload::trace::replay_trace;

/// Round trips of each exit mechanism measured per runner.
const RAW_EXIT_ROUND_TRIPS: u64 = 2000;
/// Round trips of the raw exit measured before each Exp1/Exp2 trial.
const TRIAL_RAW_EXIT_ROUND_TRIPS: u64 = 2000;
/// Paired calibration trials run per Exp1/Exp2 point, before its warm-up
/// trials; not counted in its latency.
pub const CALIBRATION_TRIALS: u64 = 1;
/// Smallest application range (as the in-process arena).
const MIN_APP_RANGE: u64 = 64 << 30;
/// Largest application range.
const MAX_APP_RANGE: u64 = 1 << 46;

/// Options from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct KvmOptions {
    /// Record rdtsc probes.
    pub probes: bool,
    /// Subtract the probe's own cost from every sample.
    pub subtract_probe_cost: bool,
    /// Time one call in this many at each probe site (0 or 1 = every call),
    /// as on the in-process platform.
    pub probe_every: u32,
    /// Arm the VMM guest sampler at this rate (Hz) in every trial's guest
    /// (`--collect guest`); `None`: off.
    pub guest_hz: Option<u32>,
}

/// The runner of the KVM platform for one gap search.
#[derive(Debug)]
pub struct KvmRunner {
    search: GapSearch,
    options: KvmOptions,
    exits: Option<ExitChoice>,
    guest_symbols: Vec<(u64, u64, String)>,
    last_call_cycles: Vec<u64>,
    /// The current point's paired calibration (`paired_raw_exit` JSON).
    calibration: serde_json::Value,
    /// Notes not yet handed over ([`PlatformRunner::take_notes`]).
    notes: Vec<String>,
    /// The guest sampler could not start: not tried again.
    guest_sampler_off: bool,
    /// Record boundary windows in Exp1/Exp2 trials (while perf samples).
    boundary: bool,
    /// Hardware cycles:HG on the vCPU thread beside the guest sampler,
    /// where a PMU splits host and guest cycles.
    vcpu_pmu: Option<Arc<dyn VcpuPmu>>,
}

/// One Exp1/Exp2 guest run: what the runner reports from it.
struct MmapGuestRun {
    summary: GuestRunSummary,
    timings: MmapLoopTimings,
    host_mappings: u64,
    pte_writes: u64,
    placement: &'static str,
    probes: crate::probes::Probes,
    symbols: Vec<(u64, u64, String)>,
    guest: Option<GuestSamples>,
    boundary: Vec<crate::platform::boundary::BoundaryWindow>,
}

/// Whether this machine can make the VM; `Err` is one line saying why not.
pub fn kvm_available() -> Result<(), String> {
    if !std::path::Path::new("/dev/kvm").exists() {
        return Err(
            "kvm: /dev/kvm is absent (no KVM on this machine or not exposed to this container)"
                .to_string(),
        );
    }
    measure(ExitMechanism::PortIo, 1)
        .map(drop)
        .map_err(|e| format!("kvm: /dev/kvm present but the VM cannot be made: {e}"))
}

fn mmap_flags(mapping: Mapping) -> (u64, u64) {
    match mapping {
        Mapping::Anon => (MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX),
        Mapping::Private => (MAP_PRIVATE, WORKLOAD_FD),
        Mapping::Shared => (MAP_SHARED, WORKLOAD_FD),
    }
}

fn run_error(e: GuestRunError) -> PointError {
    match e {
        GuestRunError::Unavailable(why) => PointError::Unsupported(format!("kvm: {why}")),
        other => PointError::Failed(format!("kvm: {other}")),
    }
}

/// The `p`-th percentile of sorted per-call cycles, without interpolation
/// (0 if empty): the convention of the guest-call figures.
fn percentile(sorted: &[u64], p: u64) -> u64 {
    stats::percentile_low(sorted, p).unwrap_or(0)
}

/// The median over trials (mean of the two middle values for an even
/// count; 0 if empty): the convention of the `over_trials` figures.
fn median_over_trials(sorted: &[u64]) -> u64 {
    stats::median_u64(sorted).unwrap_or(0)
}

/// The exits of a guest run; `total` leaves out the guest sampler's stops
/// (`sample_stops`, apart), so counts compare with the sampler off.
fn exits_json(s: &GuestRunSummary, calls: u64) -> serde_json::Value {
    let per = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
    let total = s.exits.total.saturating_sub(s.exits.sample_stops);
    json!({
        "total": total,
        "syscall": s.exits.syscalls,
        "fault": s.exits.faults,
        "request": s.exits.requests,
        "paired_raw": s.exits.benchmark,
        "per_call": per(total.saturating_sub(s.exits.benchmark), calls),
        "per_mmap": per(s.exits.syscalls.saturating_sub(1), calls),
        "per_fault": per(s.exits.faults, s.faults_resolved + s.stale_faults),
        "faults_resolved": s.faults_resolved,
        "stale_faults": s.stale_faults,
        "translation_flushes": s.flushes,
        "sample_stops": s.exits.sample_stops,
    })
}

impl KvmRunner {
    /// A runner using `search` for the memory manager's gap search.
    pub fn new(search: GapSearch, options: KvmOptions) -> Self {
        Self {
            search,
            options,
            exits: None,
            guest_symbols: Vec::new(),
            last_call_cycles: Vec::new(),
            calibration: serde_json::Value::Null,
            notes: Vec::new(),
            guest_sampler_off: false,
            boundary: false,
            vcpu_pmu: None,
        }
    }

    /// Arms the guest sampler on `machine` if it is asked for; if its timer
    /// cannot start, says so once and runs on without it.
    fn arm_guest_sampler(&mut self, machine: &mut Machine) {
        let Some(hz) = self.options.guest_hz else {
            return;
        };
        if self.guest_sampler_off {
            return;
        }
        if let Err(e) = machine.start_guest_sampler(hz) {
            self.guest_sampler_off = true;
            self.notes.push(format!(
                "--collect guest: the kvm guest sampler cannot start ({e}); the run goes on without guest stacks"
            ));
            return;
        }
        if let Some(pmu) = &self.vcpu_pmu {
            if let Err(e) = machine.attach_vcpu_pmu(pmu.as_ref()) {
                self.vcpu_pmu = None;
                self.notes.push(format!(
                    "cycles:G guest samples: not measured ({e}); the guest sampler runs on"
                ));
            }
        }
    }

    /// The last trial's guest symbol map, `(start_gva, end_gva, name)`.
    pub fn guest_symbols(&self) -> &[(u64, u64, String)] {
        &self.guest_symbols
    }

    /// The last Exp1/Exp2 trial's per-call TSC cycles as the guest measured
    /// them, in call order (the n-th mmap's latency, exit included).
    pub fn last_call_cycles(&self) -> &[u64] {
        &self.last_call_cycles
    }

    /// The raw exit round trip of the mechanism system calls use, measured
    /// by this runner (after the first `check_point`).
    pub fn raw_exit(&self) -> Option<&MechanismResult> {
        self.exits.as_ref().map(|c| &c.chosen)
    }

    /// The exit mechanisms measured and the one chosen.
    pub fn exit_choice(&self) -> Option<&ExitChoice> {
        self.exits.as_ref()
    }

    fn syscall_exit(&self) -> SyscallExit {
        self.exits
            .as_ref()
            .map_or(SyscallExit::PortIo, |c| c.syscall_exit)
    }

    fn mm_config(&self, spec: &PointSpec) -> (MmConfig, u64) {
        let need = spec
            .mapped_bytes()
            .and_then(|b| b.checked_mul(2))
            .unwrap_or(u64::MAX)
            .clamp(MIN_APP_RANGE, MAX_APP_RANGE);
        let app = need.next_power_of_two().min(MAX_APP_RANGE);
        let mut config = MmConfig {
            probes: ProbeConfig::for_run(
                self.options.probes,
                self.options.subtract_probe_cost,
                self.options.probe_every,
            ),
            ..MmConfig::with_search(self.search)
        };
        let chunk = config.memory_file.chunk_size;
        config.memory_file.max_size = (MEMFILE_MAX / chunk) * chunk;
        (config, app)
    }

    fn raw_exit_json(&self) -> serde_json::Value {
        let Some(choice) = &self.exits else {
            return serde_json::Value::Null;
        };
        let mechanisms: Vec<_> = choice
            .all
            .iter()
            .map(|r| {
                json!({
                    "mechanism": r.mechanism.name(),
                    "round_trips": r.cycles.len(),
                    "median_cycles": r.median(),
                    "p90_cycles": r.percentile(90),
                    "unusable": r.unusable,
                })
            })
            .collect();
        let r = &choice.chosen;
        json!({
            "mechanism": r.mechanism.name(),
            "round_trips": r.cycles.len(),
            "median_cycles": r.median(),
            "p90_cycles": r.percentile(90),
            "median_ns": Calibration::get().cycles_to_whole_ns(r.median()),
            "measured": mechanisms,
        })
    }

    fn mmap_params(&self, spec: &PointSpec, mapping: Mapping, paired: bool) -> MmapLoop {
        let (flags, fd) = mmap_flags(mapping);
        MmapLoop {
            iterations: spec.iterations,
            size: spec.size,
            flags,
            fd,
            touch: spec.touch,
            exit: self.syscall_exit(),
            paired_raw_exit: paired,
        }
    }

    /// Runs the mmap loop once in a fresh VM (`paired`: with a raw exit
    /// before each call, the calibration guest).
    fn run_mmap_guest(
        &mut self,
        spec: &PointSpec,
        mapping: Mapping,
        paired: bool,
    ) -> Result<MmapGuestRun, PointError> {
        let params = self.mmap_params(spec, mapping, paired);
        let program =
            mmap_loop_program(&params).map_err(|e| PointError::Failed(format!("kvm: {e}")))?;
        let symbols = program.symbol_map();
        let (config, app) = self.mm_config(spec);
        let mut mm = make_guest_mm(
            config,
            program,
            mmap_loop_data_len(spec.iterations, paired),
            app,
        )
        .map_err(run_error)?;
        let mut fds = GuestFds::default();
        if mapping.is_file_backed() {
            let size = page_round_up(spec.size)
                .ok_or_else(|| PointError::Failed("kvm: mapping size overflows".to_string()))?;
            let file = mm
                .create_file(size)
                .map_err(|e| PointError::Failed(format!("kvm: {e}")))?;
            fds.install(WORKLOAD_FD, file);
        }
        let machine = mm.address_space_mut().machine_mut();
        machine.record_boundary_stacks(self.boundary && !paired);
        if !paired {
            self.arm_guest_sampler(mm.address_space_mut().machine_mut());
        }
        let summary = run_guest(&mut mm, &fds, true).map_err(run_error)?;
        let guest = mm.address_space_mut().machine_mut().stop_guest_sampler();
        let boundary = mm.address_space_mut().machine_mut().take_boundary_windows();
        let timings = MmapLoopTimings::read(mm.address_space().machine(), spec.iterations, paired)
            .map_err(|e| PointError::Failed(format!("kvm: {e}")))?;
        Ok(MmapGuestRun {
            summary,
            timings,
            host_mappings: mm.host_mappings(),
            pte_writes: mm.address_space().pte_writes(),
            placement: mm.address_space().machine().vm().placement().name(),
            probes: mm.probes().clone(),
            symbols,
            guest,
            boundary,
        })
    }

    /// Runs the point's paired calibration trials and keeps their figures
    /// (the `paired_raw_exit` object of every trial's `extra`): pairs
    /// pooled over the calibration trials for `round_trips`,
    /// `median_cycles` (raw exits) and `call_median_cycles` (the paired
    /// calls); each calibration trial's median paired difference in
    /// `beyond_raw_exit_cycles`, their median in `median_beyond_raw_exit`;
    /// the last calibration guest's exit counts in `exits`.
    fn calibrate_paired(&mut self, spec: &PointSpec, mapping: Mapping) -> Result<(), PointError> {
        self.calibration = serde_json::Value::Null;
        let (mut raw, mut calls, mut beyond) = (Vec::new(), Vec::new(), Vec::new());
        let mut exits = serde_json::Value::Null;
        for _ in 0..CALIBRATION_TRIALS {
            let run = self.run_mmap_guest(spec, mapping, true)?;
            beyond.push(run.timings.median_paired_beyond().max(0) as u64);
            raw.extend_from_slice(&run.timings.raw_before);
            calls.extend_from_slice(&run.timings.calls);
            exits = exits_json(&run.summary, spec.iterations);
        }
        raw.sort_unstable();
        calls.sort_unstable();
        let mut sorted = beyond.clone();
        sorted.sort_unstable();
        self.calibration = json!({
            "round_trips": raw.len(),
            "median_cycles": percentile(&raw, 50),
            "median_beyond_raw_exit": median_over_trials(&sorted),
            "call_median_cycles": percentile(&calls, 50),
            "calibration_trials": CALIBRATION_TRIALS,
            "beyond_raw_exit_cycles": beyond,
            "in_counted_trials": false,
            "exits": exits,
        });
        // The symbols of the program the counted trials run (the paired
        // guest's code differs), in case no warm-up trial runs before
        // they are asked for.
        let program = mmap_loop_program(&self.mmap_params(spec, mapping, false))
            .map_err(|e| PointError::Failed(format!("kvm: {e}")))?;
        self.guest_symbols = program.symbol_map();
        Ok(())
    }

    /// One warm-up or counted Exp1/Exp2 trial: the workload alone (no
    /// paired raw exit), next to a raw-exit guest run right before it.
    fn mmap_trial(
        &mut self,
        spec: &PointSpec,
        mapping: Mapping,
    ) -> Result<TrialOutcome, PointError> {
        let raw_mechanism = self
            .raw_exit()
            .map_or(ExitMechanism::PortIo, |r| r.mechanism);
        let raw = measure(raw_mechanism, TRIAL_RAW_EXIT_ROUND_TRIPS)
            .map_err(|e| PointError::Failed(format!("kvm: raw exit measurement: {e}")))?;
        if let Some(why) = &raw.unusable {
            return Err(PointError::Failed(format!(
                "kvm: raw exit measurement: {why}"
            )));
        }
        let run = self.run_mmap_guest(spec, mapping, false)?;
        self.guest_symbols = run.symbols;
        let mut cycles = run.timings.calls;
        let total: u64 = cycles.iter().sum();
        self.last_call_cycles.clone_from(&cycles);
        cycles.sort_unstable();
        let raw_median = raw.median();
        let median = percentile(&cycles, 50);
        let extra = json!({
            "exit_mechanism": self.syscall_exit().name(),
            "vcpu_placement": run.placement,
            "exits": exits_json(&run.summary, spec.iterations),
            "raw_exit": self.raw_exit_json(),
            "raw_exit_this_trial": {
                "mechanism": raw.mechanism.name(),
                "round_trips": raw.cycles.len(),
                "median_cycles": raw_median,
                "p90_cycles": raw.percentile(90),
            },
            "guest_call_cycles": {
                "median": median,
                "p90": percentile(&cycles, 90),
                "p99": percentile(&cycles, 99),
                "max": cycles.last().copied().unwrap_or(0),
                "median_beyond_raw_exit": median.saturating_sub(raw_median),
            },
            "paired_raw_exit": self.calibration.clone(),
            "memory_slots": run.host_mappings,
            "pte_writes": run.pte_writes,
            "guest_symbols": self.guest_symbols.iter().map(|(s, e, n)| json!([s, e, n])).collect::<Vec<_>>(),
        });
        Ok(TrialOutcome {
            elapsed_ns: Calibration::get().cycles_to_whole_ns(total),
            calls: spec.iterations,
            host_mappings: run.host_mappings,
            extra,
            probes: vec![run.probes],
            guest: run.guest,
            boundary: run.boundary,
        })
    }

    fn target(&self, spec: &PointSpec) -> Result<KvmTarget, crate::workload::TargetError> {
        let (config, app) = self.mm_config(spec);
        KvmTarget::new(config, app, self.syscall_exit())
            .map_err(|e| crate::workload::TargetError::Platform(format!("kvm: {e}")))
    }
}

impl PlatformRunner for KvmRunner {
    fn platform(&self) -> &'static str {
        "kvm"
    }

    fn search(&self) -> Option<&'static str> {
        Some(self.search.name())
    }

    fn guest_symbols(&self) -> Vec<(u64, u64, String)> {
        self.guest_symbols.clone()
    }

    fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
    /// Exp1/Exp2 trials (not their paired calibration); the malloc model
    /// and replay record none.
    fn set_vcpu_pmu(&mut self, pmu: Arc<dyn VcpuPmu>) {
        self.vcpu_pmu = Some(pmu);
    }

    fn record_boundary_stacks(&mut self, on: bool) {
        self.boundary = on;
    }

    /// The last trial's `extra`, plus `over_trials`: each counted trial's
    /// guest-measured median per call, the median of the raw-exit guest run
    /// right before it, and their difference (median over trials:
    /// `median_beyond_raw_exit`); and each paired calibration trial's median
    /// difference (call minus the raw exit made just before it in the same
    /// VM; `paired_beyond_raw_exit_cycles`, one per calibration trial,
    /// `paired_calibration_trials` of them; their median:
    /// `paired_median_beyond_raw_exit`). Both are compared with the
    /// in-process sentry's latency.
    fn point_extra(&self, trials: &[&serde_json::Value]) -> serde_json::Value {
        let mut extra = trials
            .last()
            .map_or(serde_json::Value::Null, |v| (*v).clone());
        let field = |v: &serde_json::Value, a: &str, b: &str| {
            v.get(a)
                .and_then(|x| x.get(b))
                .and_then(serde_json::Value::as_u64)
        };
        let guest: Vec<u64> = trials
            .iter()
            .filter_map(|v| field(v, "guest_call_cycles", "median"))
            .collect();
        let paired: Vec<u64> = trials
            .last()
            .and_then(|v| v.get("paired_raw_exit"))
            .and_then(|p| p.get("beyond_raw_exit_cycles"))
            .and_then(serde_json::Value::as_array)
            .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        let raw: Vec<u64> = trials
            .iter()
            .filter_map(|v| field(v, "raw_exit_this_trial", "median_cycles"))
            .collect();
        let beyond: Vec<u64> = trials
            .iter()
            .filter_map(|v| field(v, "guest_call_cycles", "median_beyond_raw_exit"))
            .collect();
        if beyond.is_empty() || beyond.len() != trials.len() {
            return extra;
        }
        let mut sorted = beyond.clone();
        sorted.sort_unstable();
        let mut paired_sorted = paired.clone();
        paired_sorted.sort_unstable();
        if let Some(obj) = extra.as_object_mut() {
            obj.insert(
                "over_trials".to_string(),
                json!({
                    "trials": trials.len(),
                    "guest_call_median_cycles": guest,
                    "raw_exit_median_cycles": raw,
                    "beyond_raw_exit_cycles": beyond,
                    "median_beyond_raw_exit": median_over_trials(&sorted),
                    "paired_beyond_raw_exit_cycles": paired,
                    "paired_median_beyond_raw_exit": median_over_trials(&paired_sorted),
                    "paired_calibration_trials": paired.len(),
                }),
            );
        }
        extra
    }

    /// Measures the exit mechanisms (first point only), refuses an Exp1/Exp2
    /// point whose timing buffer would not fit, and runs that point's
    /// paired calibration trials ([`CALIBRATION_TRIALS`], not counted).
    fn check_point(&mut self, spec: &PointSpec) -> Result<(), PointError> {
        if self.exits.is_none() {
            kvm_available().map_err(PointError::Unsupported)?;
            let choice = choose_syscall_exit(RAW_EXIT_ROUND_TRIPS)
                .map_err(|e| PointError::Unsupported(format!("kvm: exit benchmark failed: {e}")))?;
            self.exits = Some(choice);
        }
        self.calibration = serde_json::Value::Null;
        if let PointWork::Mmap { mapping } = spec.work {
            // The calibration guest's buffer (paired) is the larger one.
            let need = mmap_loop_data_len(spec.iterations, true);
            if need > DATA_MAX {
                return Err(PointError::Unsupported(format!(
                    "kvm: {} iterations need {need} bytes of guest timing buffer, more than {DATA_MAX}",
                    spec.iterations
                )));
            }
            self.calibrate_paired(spec, mapping)?;
        }
        Ok(())
    }

    fn run_trial(&mut self, spec: &PointSpec) -> Result<TrialOutcome, PointError> {
        match &spec.work {
            PointWork::Mmap { mapping } => self.mmap_trial(spec, *mapping),
            PointWork::Malloc => {
                let mut t = self
                    .target(spec)
                    .map_err(|e| PointError::from_target(e, None))?;
                self.arm_guest_sampler(t.machine_mut());
                let timed = run_malloc_model_trial(&mut t, spec.touch, spec.iterations, spec.size)?;
                let guest = t.machine_mut().stop_guest_sampler();
                self.guest_symbols = t.mm().address_space().machine().program().symbol_map();
                let extra = json!({
                    "exit_mechanism": self.syscall_exit().name(),
                    "exits": exits_json(t.summary(), timed.calls),
                    "raw_exit": self.raw_exit_json(),
                    "note": "request-serving guest: one request exit per call besides the call's own exits",
                });
                let mm = t.into_mm();
                Ok(TrialOutcome {
                    elapsed_ns: timed.elapsed_ns,
                    calls: timed.calls,
                    host_mappings: timed.host_mappings,
                    extra,
                    probes: vec![mm.probes().clone()],
                    guest,
                    boundary: Vec::new(),
                })
            }
            PointWork::Replay { trace } => {
                let mut factory = || self.target(spec);
                let (out, targets) = replay_trace(trace, &mut factory)
                    .map_err(|e| PointError::from_target(e, None))?;
                let mut counts =
                    serde_json::to_value(&out.counts).unwrap_or(serde_json::Value::Null);
                let exits: Vec<_> = targets
                    .iter()
                    .map(|t| exits_json(t.summary(), t.summary().calls))
                    .collect();
                if let serde_json::Value::Object(map) = &mut counts {
                    map.insert("kvm_exits".to_string(), json!(exits));
                    map.insert("raw_exit".to_string(), self.raw_exit_json());
                }
                let probes = targets
                    .into_iter()
                    .map(|t| t.into_mm().probes().clone())
                    .collect();
                Ok(TrialOutcome {
                    elapsed_ns: out.elapsed_ns,
                    calls: trace.calls.len() as u64,
                    host_mappings: out.host_mappings,
                    extra: counts,
                    probes,
                    guest: None,
                    boundary: Vec::new(),
                })
            }
        }
    }
}
