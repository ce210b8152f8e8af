//! Typed run settings → a validated [`Plan`], before any work.
//!
//! The front end turns its flags into a [`PlanRequest`] (names, sizes and
//! counts already parsed into typed values); [`Plan::new`] fills in the
//! defaults of each workload, refuses combinations that do not go together
//! (replay needs a trace, a replay takes no sizes, ...) and expands the lists
//! into every combination, in run order. Every error is a [`PlanError`]
//! that prints as one line naming the flag and the problem.

use std::path::PathBuf;
use std::sync::Arc;

use instrumented_sentry::addr::{page_round_up, PAGE_SIZE};
use instrumented_sentry::platform::kvm::vmm::vcpu_thread::VcpuPlacement;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::trace::{parse_trace_file, Trace};
use instrumented_sentry::workload::{Mapping, PointSpec, PointWork, WorkloadKind};

use crate::error::PlanError;
pub use crate::limits::{
    DEFAULT_GUEST_FREQ_HZ, DEFAULT_PROBE_EVERY, DEFAULT_TRIALS, DEFAULT_WARMUP_TRIALS,
    MAX_GUEST_FREQ_HZ, MAX_ITERATIONS, MAX_MAPPED_BYTES, MAX_PROBE_EVERY, MAX_SIZE, MAX_TRIALS,
    MAX_WARMUP_TRIALS,
};

/// A platform to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformKind {
    /// Real host syscalls, no sentry.
    Native,
    /// The sentry in this process.
    Inproc,
    /// The workload as a KVM guest, the sentry as its kernel.
    Kvm,
    /// The workload as a stub process stopped at each system call by
    /// `PTRACE_SYSEMU`, served by the sentry (gVisor's original platform).
    Ptrace,
    /// The stub's system calls trapped by a seccomp `SECCOMP_RET_TRAP`
    /// filter and handed to the sentry through shared memory (gVisor's
    /// default platform).
    Systrap,
}

impl PlatformKind {
    /// Every platform, in the order help text lists them.
    pub const ALL: [PlatformKind; 5] = [
        PlatformKind::Native,
        PlatformKind::Inproc,
        PlatformKind::Kvm,
        PlatformKind::Ptrace,
        PlatformKind::Systrap,
    ];

    /// Command-line and `run.json` name.
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Native => "native",
            PlatformKind::Inproc => "inproc",
            PlatformKind::Kvm => "kvm",
            PlatformKind::Ptrace => "ptrace",
            PlatformKind::Systrap => "systrap",
        }
    }

    /// Whether the workload runs as the stub process (native, ptrace,
    /// systrap: one program for all three).
    pub fn runs_stub(self) -> bool {
        matches!(
            self,
            PlatformKind::Native | PlatformKind::Ptrace | PlatformKind::Systrap
        )
    }

    /// Whether perf sampling records boundary stacks on this platform
    /// without `--collect ...,boundary`: only where their measured added
    /// cost per call is at most 2% (docs/collectors.md, "Boundary
    /// stacks").
    pub fn boundary_stacks_by_default(self) -> bool {
        BOUNDARY_STACKS_BY_DEFAULT.contains(&self)
    }

    /// Parse a name as [`name`](Self::name) prints it.
    pub fn from_name(s: &str) -> Option<PlatformKind> {
        PlatformKind::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Platforms whose boundary stacks are on whenever perf samples: those
/// whose measured added cost per call is at most 2% (docs/collectors.md,
/// "Boundary stacks"). None yet: systrap +5.5%, ptrace +11–19%, kvm
/// +3–14%.
const BOUNDARY_STACKS_BY_DEFAULT: &[PlatformKind] = &[];

/// A collector a run can record with (`--collect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollectorKind {
    /// The sentry's rdtsc probes.
    Probes,
    /// perf_event_open sampling.
    Perf,
    /// The kvm platform's VMM guest sampler: the guest stopped on a timer,
    /// its frame-pointer chain walked (`--platform kvm` only).
    Guest,
    /// Boundary stacks on every platform perf samples, also where they
    /// are off by default ([`PlatformKind::boundary_stacks_by_default`]).
    Boundary,
}

/// One platform and search strategy pair points run on (`search` is
/// `None` for native).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformChoice {
    /// The platform.
    pub platform: PlatformKind,
    /// The sentry's gap search, `None` for native.
    pub search: Option<GapSearch>,
}

impl PlatformChoice {
    /// "native", "inproc/maxgap".
    pub fn label(&self) -> String {
        match self.search {
            Some(s) => format!("{}/{}", self.platform.name(), s.name()),
            None => self.platform.name().to_string(),
        }
    }
}

/// What the user asked for, in typed values; an empty list or `None`
/// means "the default" (of the workload where it depends on it).
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    /// The workload [default: exp1].
    pub workload: Option<WorkloadKind>,
    /// The strace log to replay (replay only).
    pub trace: Option<PathBuf>,
    /// Mapping kinds (exp1 and exp2 only) [default: private].
    pub mappings: Vec<Mapping>,
    /// Touch modes: `true` touches every page after mapping it [default: no touch].
    pub touch: Vec<bool>,
    /// Calls per trial [default: the workload's].
    pub iterations: Vec<u64>,
    /// Bytes per call [default: the workload's].
    pub sizes: Vec<u64>,
    /// Platforms [default: native, inproc].
    pub platforms: Vec<PlatformKind>,
    /// Gap searches of the sentry [default: linear, maxgap].
    pub searches: Vec<GapSearch>,
    /// Platforms restricted to some searches (`--platform systrap/maxgap`):
    /// such a platform runs only the searches listed for it here.
    pub platform_searches: Vec<(PlatformKind, GapSearch)>,
    /// Counted trials per point [default: 12].
    pub trials: Option<u32>,
    /// Warm-up trials per point [default: 2].
    pub warmup_trials: Option<u32>,
    /// Collectors [default: probes and perf; guest too with kvm].
    pub collect: Vec<CollectorKind>,
    /// Turn the probes off whatever `collect` says.
    pub no_probes: bool,
    /// Sampling frequency for perf, in Hz.
    pub perf_freq: Option<u64>,
    /// Guest sampling rate of the kvm VMM's sampler, in Hz [default: 1000].
    pub guest_freq: Option<u64>,
    /// Time one call in this many at each probe site [default: 8].
    pub probe_every: Option<u32>,
    /// Subtract the probe's own cost from every probe sample.
    pub subtract_probe_cost: bool,
    /// Save the sentry's memory file of the last inproc point.
    pub keep_memory: bool,
    /// Bundle directory [default: `sentryprof-out/run-…` named by `now_unix`].
    pub out: Option<PathBuf>,
    /// The time the run is created at (seconds since the epoch, UTC); it
    /// names the default output directory.
    pub now_unix: u64,
    /// The command line, for `run.json`.
    pub command: Vec<String>,
}

/// Everything a run will do, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The workload.
    pub workload: WorkloadKind,
    /// Every combination of workload parameters, in run order.
    pub specs: Vec<PointSpec>,
    /// Platform × search pairs, in run order (native first).
    pub platforms: Vec<PlatformChoice>,
    /// Counted trials per point.
    pub trials: u32,
    /// Warm-up trials per point (not counted).
    pub warmup_trials: u32,
    /// Record the sentry's rdtsc probes.
    pub probes: bool,
    /// Sample with perf_event_open.
    pub perf: bool,
    /// `--collect ...,boundary`: boundary stacks on every platform perf
    /// samples, not only where they are on by default.
    pub boundary_everywhere: bool,
    /// Sampling frequency asked for (Hz), if any.
    pub perf_freq: Option<u64>,
    /// The kvm VMM's guest sampler rate (Hz); `None`: off.
    pub guest_hz: Option<u32>,
    /// Subtract the probe's own cost from every probe sample.
    pub subtract_probe_cost: bool,
    /// Probes time one call in this many at each site.
    pub probe_every: u32,
    /// Write the sentry's memory file of the last inproc point.
    pub keep_memory: bool,
    /// Where the bundle goes.
    pub out: PathBuf,
    /// The workload parameters as given, for `run.json`.
    pub params: serde_json::Value,
    /// When the run was created (seconds since the epoch, UTC).
    pub created_unix: u64,
    /// The command line, for `run.json`.
    pub command: Vec<String>,
}

/// Remove duplicates, keeping first occurrences.
fn dedup<T: PartialEq + Clone>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

/// The workload parameters after defaults, before expansion.
struct Params {
    workload: WorkloadKind,
    trace_path: Option<PathBuf>,
    trace: Option<Arc<Trace>>,
    mappings: Vec<Mapping>,
    touches: Vec<bool>,
    iterations: Vec<u64>,
    sizes: Vec<u64>,
}

impl Params {
    fn is_replay(&self) -> bool {
        self.workload == WorkloadKind::Replay
    }

    fn is_mmap(&self) -> bool {
        matches!(self.workload, WorkloadKind::Exp1 | WorkloadKind::Exp2)
    }
}

/// The trace of a replay, read and parsed; refusals of a missing or
/// unused one.
fn trace_of(
    req: &PlanRequest,
    workload: WorkloadKind,
) -> Result<(Option<PathBuf>, Option<Arc<Trace>>), PlanError> {
    match (&req.trace, workload == WorkloadKind::Replay) {
        (None, true) => Err(PlanError::TraceNeeded),
        (Some(_), false) => Err(PlanError::TraceUnused { workload }),
        (None, false) => Ok((None, None)),
        (Some(p), true) => {
            let t = parse_trace_file(p).map_err(|e| PlanError::Trace(e.to_string()))?;
            Ok((Some(p.clone()), Some(Arc::new(t))))
        }
    }
}

/// Workload parameters with the workload's defaults filled in.
fn workload_params(req: &PlanRequest) -> Result<Params, PlanError> {
    let workload = req.workload.unwrap_or(WorkloadKind::Exp1);
    let (trace_path, trace) = trace_of(req, workload)?;
    let mut p = Params {
        workload,
        trace_path,
        trace,
        mappings: vec![Mapping::Private],
        touches: vec![false],
        iterations: workload.default_iterations().to_vec(),
        sizes: workload.default_sizes(),
    };
    if !req.mappings.is_empty() {
        if !p.is_mmap() {
            return Err(PlanError::MappingUnused { workload });
        }
        p.mappings = dedup(&req.mappings);
    }
    if !req.touch.is_empty() {
        p.touches = dedup(&req.touch);
    }
    if p.is_replay() && p.touches.contains(&true) {
        return Err(PlanError::TouchOnReplay);
    }
    if p.is_replay() && (!req.iterations.is_empty() || !req.sizes.is_empty()) {
        return Err(PlanError::SizesOnReplay);
    }
    if !req.iterations.is_empty() {
        p.iterations = dedup(&req.iterations);
    }
    if !req.sizes.is_empty() {
        p.sizes = dedup(&req.sizes);
    }
    Ok(p)
}

/// Platform × search pairs in run order (native has no search).
fn platform_choices(
    platforms: &[PlatformKind],
    searches: &[GapSearch],
    restricted: &[(PlatformKind, GapSearch)],
) -> Result<Vec<PlatformChoice>, PlanError> {
    let mut choices = Vec::new();
    for &p in platforms {
        if p == PlatformKind::Native {
            choices.push(PlatformChoice {
                platform: p,
                search: None,
            });
        } else {
            let only: Vec<GapSearch> = restricted
                .iter()
                .filter(|&&(q, _)| q == p)
                .map(|&(_, s)| s)
                .collect();
            let searches = if only.is_empty() {
                searches.to_vec()
            } else {
                dedup(&only)
            };
            for s in searches {
                choices.push(PlatformChoice {
                    platform: p,
                    search: Some(s),
                });
            }
        }
    }
    Ok(choices)
}

/// Counted and warm-up trials, checked against their limits.
fn trial_counts(req: &PlanRequest) -> Result<(u32, u32), PlanError> {
    let trials = req.trials.unwrap_or(DEFAULT_TRIALS);
    if trials == 0 || trials > MAX_TRIALS {
        return Err(PlanError::Trials { trials });
    }
    let warmup_trials = req.warmup_trials.unwrap_or(DEFAULT_WARMUP_TRIALS);
    if warmup_trials > MAX_WARMUP_TRIALS {
        return Err(PlanError::WarmupTrials { warmup_trials });
    }
    Ok((trials, warmup_trials))
}

/// The guest sampler's rate when it runs: listed (`--collect guest`, which
/// needs a kvm platform) or by default where kvm runs; `--guest-freq`
/// without it is refused.
fn guest_sampler(req: &PlanRequest, platforms: &[PlatformKind]) -> Result<Option<u32>, PlanError> {
    let kvm = platforms.contains(&PlatformKind::Kvm);
    let listed = req.collect.contains(&CollectorKind::Guest);
    if listed && !kvm {
        return Err(PlanError::GuestWithoutKvm);
    }
    let on = kvm && (listed || req.collect.is_empty());
    match req.guest_freq {
        Some(_) if !on => Err(PlanError::GuestFreqWithoutGuest),
        Some(hz) => match u32::try_from(hz) {
            Ok(h) if (1..=MAX_GUEST_FREQ_HZ).contains(&h) => Ok(Some(h)),
            _ => Err(PlanError::GuestFreq { hz }),
        },
        None => Ok(on.then_some(DEFAULT_GUEST_FREQ_HZ)),
    }
}

/// Collectors: (probes, perf, probe_every); `boundary` needs perf.
///
/// `--collect` lists what runs: `probes` alone samples nothing, `perf`
/// alone times nothing; with no list both run (the main job). A flag that
/// would be ignored or contradicts the list is refused before any work.
fn collectors(
    req: &PlanRequest,
    platforms: &[PlatformKind],
) -> Result<(bool, bool, u32), PlanError> {
    let listed = |c: CollectorKind| req.collect.is_empty() || req.collect.contains(&c);
    if req.no_probes && req.collect.contains(&CollectorKind::Probes) {
        return Err(PlanError::NoProbesButListed);
    }
    let probes = !req.no_probes && listed(CollectorKind::Probes);
    let perf = listed(CollectorKind::Perf);
    if req.collect.contains(&CollectorKind::Boundary) && !perf {
        return Err(PlanError::BoundaryWithoutPerf);
    }
    if !probes {
        if let Some(probe_every) = req.probe_every {
            return Err(PlanError::ProbeFlagWithoutProbes {
                flag: "--probe-every",
                given: probe_every.to_string(),
            });
        }
        if req.subtract_probe_cost {
            return Err(PlanError::ProbeFlagWithoutProbes {
                flag: "--subtract-probe-cost",
                given: String::new(),
            });
        }
    }
    let probe_every = req.probe_every.unwrap_or(DEFAULT_PROBE_EVERY);
    if probe_every == 0 || probe_every > MAX_PROBE_EVERY {
        return Err(PlanError::ProbeEvery { probe_every });
    }
    if let Some(0) = req.perf_freq {
        return Err(PlanError::PerfFreqZero);
    }
    if let Some(hz) = req.perf_freq {
        if !perf {
            return Err(PlanError::PerfFreqWithoutPerf);
        }
        let max = max_sample_rate_hz();
        if hz > max {
            return Err(PlanError::PerfFreqTooHigh { hz, max });
        }
    }
    if req.keep_memory && !platforms.contains(&PlatformKind::Inproc) {
        return Err(PlanError::KeepMemoryWithoutInproc);
    }
    Ok((probes, perf, probe_every))
}

/// The highest sampling frequency the kernel accepts
/// (`kernel.perf_event_max_sample_rate`; 100,000 Hz, its default, where
/// unreadable).
fn max_sample_rate_hz() -> u64 {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100_000)
}

/// Every combination of the workload parameters, in run order, each
/// checked to fit this machine.
fn expand(p: &Params) -> Result<Vec<PointSpec>, PlanError> {
    let mut specs = Vec::new();
    if p.is_replay() {
        let t = p.trace.clone().ok_or(PlanError::TraceNeeded)?;
        specs.push(PointSpec {
            workload: p.workload,
            iterations: t.calls.len() as u64,
            size: 0,
            work: PointWork::Replay { trace: t },
            touch: false,
        });
        return Ok(specs);
    }
    let memory = bundle::mem_total_bytes();
    let works: Vec<PointWork> = if p.is_mmap() {
        p.mappings
            .iter()
            .map(|&mapping| PointWork::Mmap { mapping })
            .collect()
    } else {
        vec![PointWork::Malloc]
    };
    for work in &works {
        for &touch in &p.touches {
            for &size in &p.sizes {
                for &n in &p.iterations {
                    let spec = PointSpec {
                        workload: p.workload,
                        work: work.clone(),
                        touch,
                        iterations: n,
                        size,
                    };
                    check_fits(&spec, memory)?;
                    specs.push(spec);
                }
            }
        }
    }
    Ok(specs)
}

impl Plan {
    /// Validate `req` and expand it into every point, in run order.
    pub fn new(req: &PlanRequest) -> Result<Plan, PlanError> {
        let p = workload_params(req)?;
        let platforms = if req.platforms.is_empty() {
            vec![PlatformKind::Native, PlatformKind::Inproc]
        } else {
            dedup(&req.platforms)
        };
        let searches = if req.searches.is_empty() {
            vec![GapSearch::Linear, GapSearch::MaxGap]
        } else {
            dedup(&req.searches)
        };
        let choices = platform_choices(&platforms, &searches, &req.platform_searches)?;
        if platforms.contains(&PlatformKind::Kvm) {
            VcpuPlacement::from_env().map_err(|given| PlanError::VcpuPlacement { given })?;
        }
        let (trials, warmup_trials) = trial_counts(req)?;
        let (probes, perf, probe_every) = collectors(req, &platforms)?;
        let guest_hz = guest_sampler(req, &platforms)?;
        let boundary_everywhere = req.collect.contains(&CollectorKind::Boundary);
        let specs = expand(&p)?;
        let out = req
            .out
            .clone()
            .unwrap_or_else(|| crate::out_dir::default_out_dir("run", req.now_unix));
        if out.as_os_str().is_empty() {
            return Err(PlanError::EmptyOut);
        }
        let params = serde_json::json!({
            "mappings": if p.is_mmap() { p.mappings.iter().map(|m| m.name()).collect::<Vec<_>>() } else { Vec::new() },
            "iterations": if p.is_replay() { Vec::new() } else { p.iterations.clone() },
            "sizes": if p.is_replay() { Vec::new() } else { p.sizes.clone() },
            "touch": p.touches,
            "platforms": platforms.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "searches": searches.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "trace": p.trace_path.as_ref().map(|p| p.display().to_string()),
            "collect": {
                "probes": probes,
                "perf": perf,
                "guest_hz": guest_hz,
                "boundary": boundary_everywhere,
            },
        });
        Ok(Plan {
            workload: p.workload,
            specs,
            platforms: choices,
            trials,
            warmup_trials,
            probes,
            perf,
            boundary_everywhere,
            perf_freq: req.perf_freq,
            guest_hz,
            subtract_probe_cost: req.subtract_probe_cost,
            probe_every,
            keep_memory: req.keep_memory,
            out,
            params,
            created_unix: req.now_unix,
            command: req.command.clone(),
        })
    }

    /// Points the run will attempt (specs × platform choices).
    pub fn point_count(&self) -> usize {
        self.specs.len() * self.platforms.len()
    }
}

/// Refuse parameters that cannot fit: the address space one trial maps,
/// and the memory it writes when touching.
fn check_fits(spec: &PointSpec, memory: Option<u64>) -> Result<(), PlanError> {
    let page_size = page_round_up(spec.size).unwrap_or(PAGE_SIZE);
    let mapped = page_size
        .checked_mul(spec.iterations)
        .filter(|&b| b <= MAX_MAPPED_BYTES);
    let Some(mapped) = mapped else {
        return Err(PlanError::DoesNotFit {
            label: spec.label(),
            iterations: spec.iterations,
            size: spec.size,
        });
    };
    if spec.touch {
        if let Some(mem) = memory {
            if mapped > mem / 10 * 9 {
                return Err(PlanError::NotEnoughMemory {
                    label: spec.label(),
                    touched_mib: mapped >> 20,
                    memory_mib: mem >> 20,
                });
            }
        }
    }
    Ok(())
}

/// The README's main job, as the words of the command that runs it
/// (`sentryprof` with no subcommand runs these): Exp1 (Figure 3), private
/// 4 KiB, no touch, 5,000 / 10,000 / 25,000 calls: native, systrap max-gap
/// (its linear walk would take ~45 s), inproc linear and max-gap (no
/// boundary), 12 trials after 2 warm-up, probes and perf sampling (probes
/// alone where perf is refused).
pub const MAIN_JOB: &[&str] = &[
    "sentryprof",
    "run",
    "--workload=exp1",
    "--mapping=private",
    "--search=linear,maxgap",
    "--platform=native,systrap/maxgap,inproc",
    "--iterations=5000,10000,25000",
    "--size=4K",
    "--trials=12",
    "--warmup-trials=2",
    "--collect=probes,perf",
];
