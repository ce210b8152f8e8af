//! `run.json`: the serde types of a bundle. The keys listed in DESIGN.md
//! ("The interface that scripts rely on") are a contract: add fields freely
//! (with `#[serde(default)]` so older bundles of the same major still load),
//! rename nothing without bumping [`FORMAT_MAJOR`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Major version of the bundle format. Readers accept any bundle whose major
/// equals this one, whatever its minor.
pub const FORMAT_MAJOR: u32 = 1;
/// Minor version written by this build.
/// 1.1 added `points[].trial_folded` (per-trial folded stacks).
pub const FORMAT_MINOR: u32 = 1;

/// Name of the JSON file at the top of every bundle.
pub const RUN_JSON: &str = "run.json";
/// Name of the folded stacks of the whole run (all points together).
pub const STACKS_FOLDED: &str = "stacks.folded";

/// Suffix appended to a frame taken in guest mode (kept apart from host).
pub const GUEST_FRAME_SUFFIX: &str = "_[g]";
/// Suffix appended to a host kernel frame (inferno's kernel annotation).
pub const KERNEL_FRAME_SUFFIX: &str = "_[k]";
/// The frame right under `[guest]` in perf's samples of guest mode
/// (`[guest];[perf guest mode];mmap_loop_[g]`: perf gives one guest
/// frame), so they tell apart from the VMM guest sampler's walked stacks
/// (`[guest];_start_[g];…`) of the same guest time.
pub const PERF_GUEST_FRAME: &str = "[perf guest mode]";
/// Root of perf's guest-mode samples on a vCPU thread of another VM than
/// the one whose exits were joined (on kvm: the raw-exit and calibration
/// guests run beside the trial's): not the trial's guest, and named with
/// no symbol map (the trial's would misname them).
pub const OTHER_VM_GUEST_ROOT: &str = "[guest of another VM]";

/// Probe site names, the keys of [`Point::sites`].
pub const SITE_MMAP: &str = "mmap";
pub const SITE_CREATE_VMA: &str = "create_vma";
pub const SITE_FIND_AVAILABLE: &str = "find_available";
pub const SITE_GET_PMAS: &str = "get_pmas";
pub const SITE_MAP_AS: &str = "map_as";
pub const SITE_FAULT: &str = "fault";
/// Every probe site, in path order (outermost first).
pub const ALL_SITES: [&str; 6] = [
    SITE_MMAP,
    SITE_CREATE_VMA,
    SITE_FIND_AVAILABLE,
    SITE_GET_PMAS,
    SITE_MAP_AS,
    SITE_FAULT,
];

/// What produced a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BundleKind {
    /// `sentryprof run`: a workload driven through the sentry or natively.
    #[default]
    Run,
    /// `sentryprof record -- CMD`: any command sampled with perf_event_open.
    Record,
    /// `sentryprof import perf-script FILE`.
    Import,
    /// `sentryprof sharing`: page-sharing analysis.
    Sharing,
}

/// The whole of `run.json`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunJson {
    /// "MAJOR.MINOR", see [`FORMAT_MAJOR`].
    pub format_version: String,
    #[serde(default)]
    pub kind: BundleKind,
    /// "sentryprof X.Y.Z".
    #[serde(default)]
    pub tool: String,
    /// The command line that produced the bundle.
    #[serde(default)]
    pub command: Vec<String>,
    /// Seconds since the Unix epoch at the start of the run.
    #[serde(default)]
    pub created_unix: u64,
    #[serde(default)]
    pub machine: Machine,
    /// Workload name and parameters (exp1, exp2, malloc, replay, record, ...).
    #[serde(default)]
    pub workload: WorkloadInfo,
    /// Calibrated TSC frequency in Hz (0 when unknown).
    #[serde(default)]
    pub tsc_hz: u64,
    /// Cost of one probe pair (enter + exit) in TSC cycles, measured at start-up.
    #[serde(default)]
    pub probe_overhead_cycles: f64,
    /// Whether the probe cost was subtracted from the site figures.
    #[serde(default)]
    pub probe_overhead_subtracted: bool,
    /// Whether the rdtsc probes were on during the run.
    #[serde(default)]
    pub probes_enabled: bool,
    /// Probes time one call in this many (call counts stay exact); 1 = every
    /// call. Older bundles, which timed every call, read as 1.
    #[serde(default = "one")]
    pub probe_sample_every: u32,
    /// The doctor facts.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Trials per point that count, and warm-up trials run before them.
    #[serde(default)]
    pub trials: u32,
    #[serde(default)]
    pub warmup_trials: u32,
    /// One object per measured combination.
    #[serde(default)]
    pub points: Vec<Point>,
    /// Sampled profiles (perf collectors), when any.
    #[serde(default)]
    pub profile: Option<ProfileInfo>,
    /// Points that could not be measured, with why (e.g. a host limit).
    #[serde(default)]
    pub failures: Vec<PointFailure>,
    /// One-line notes the user should see (fallbacks, skipped capabilities).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Other files in the bundle, relative paths (SVGs, sharing.json, ...).
    #[serde(default)]
    pub files: Vec<String>,
}

fn one() -> u32 {
    1
}

impl RunJson {
    /// A fresh `run.json` carrying this build's format version.
    pub fn new(kind: BundleKind) -> Self {
        RunJson {
            format_version: format!("{FORMAT_MAJOR}.{FORMAT_MINOR}"),
            kind,
            tool: format!("sentryprof {}", env!("CARGO_PKG_VERSION")),
            probe_sample_every: 1,
            ..RunJson::default()
        }
    }
}

/// The machine a bundle was made on.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Machine {
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub cpu_model: String,
    #[serde(default)]
    pub cores: u32,
    #[serde(default)]
    pub memory_bytes: u64,
}

/// Workload name and its parameters as given.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct WorkloadInfo {
    #[serde(default)]
    pub name: String,
    /// Free-form parameters (sizes, iteration lists, trace path, ...).
    #[serde(default)]
    pub params: serde_json::Value,
}

/// One capability check of `sentryprof doctor`.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct CapabilityCheck {
    /// Short stable name, e.g. "perf_event_paranoid", "hardware_cycles".
    pub name: String,
    /// Whether the capability is usable.
    pub ok: bool,
    /// The measured or read value, as text.
    #[serde(default)]
    pub value: String,
    /// One-line verdict for a person.
    pub verdict: String,
    /// How to fix it, where there is a fix.
    #[serde(default)]
    pub fix: Option<String>,
}

/// The doctor facts, recorded in every bundle.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Capabilities {
    #[serde(default)]
    pub perf_event_paranoid: Option<i32>,
    /// Hardware `cycles` can be opened.
    #[serde(default)]
    pub hardware_cycles: bool,
    /// Event used for sampling: "cycles:HG", "cpu-clock", or None (no perf).
    #[serde(default)]
    pub sampling_event: Option<String>,
    /// Whether exclude_host / exclude_guest really split the counts
    /// (None: not measured).
    #[serde(default)]
    pub host_guest_split_enforced: Option<bool>,
    #[serde(default)]
    pub kvm_available: bool,
    /// Hypervisor underneath, when it can be told (e.g. "KVM", "PVM").
    #[serde(default)]
    pub hypervisor: Option<String>,
    #[serde(default)]
    pub tsc_constant: bool,
    #[serde(default)]
    pub tsc_hz: Option<u64>,
    #[serde(default)]
    pub max_map_count: Option<u64>,
    #[serde(default)]
    pub kallsyms_readable: bool,
    /// Every check, in the order doctor prints them.
    #[serde(default)]
    pub checks: Vec<CapabilityCheck>,
}

/// Median and percentiles of a latency over the counted trials.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct LatencyStats {
    pub median: f64,
    pub p90: f64,
    pub p99: f64,
    #[serde(default)]
    pub mean: f64,
    #[serde(default)]
    pub min: f64,
    #[serde(default)]
    pub max: f64,
    /// One value per counted trial (warm-up trials excluded), in trial order:
    /// the mean per-call latency of that trial in ns.
    #[serde(default)]
    pub trials: Vec<f64>,
}

/// Figures of one probe site over all counted calls of a point.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct SiteStats {
    pub calls: u64,
    pub median_cycles: f64,
    pub p90_cycles: f64,
    pub p99_cycles: f64,
    pub max_cycles: f64,
    #[serde(default)]
    pub mean_cycles: f64,
    #[serde(default)]
    pub total_cycles: f64,
    /// Median cycles of this site in each counted trial (for compare).
    #[serde(default)]
    pub trial_medians: Vec<f64>,
}

/// Cycles of the n-th call of one site (the study's Figure 6), reduced to at
/// most a few thousand buckets of consecutive calls.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct CallSeries {
    /// Probe site the series is of (usually `find_available`).
    pub site: String,
    /// Consecutive calls per bucket (1 = every call).
    pub bucket_calls: u64,
    /// Mean cycles of the calls in each bucket, bucket `i` covering calls
    /// `i * bucket_calls .. (i + 1) * bucket_calls`.
    pub mean_cycles: Vec<f64>,
}

/// `perf stat`-like counts for one point (counting mode).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct PointCounters {
    #[serde(default)]
    pub cycles: Option<u64>,
    #[serde(default)]
    pub instructions: Option<u64>,
    #[serde(default)]
    pub cycles_host_only: Option<u64>,
    #[serde(default)]
    pub cycles_guest_only: Option<u64>,
}

/// One measured combination of a run (its labels: `labels`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct Point {
    /// "exp1", "exp2", "malloc", "replay".
    #[serde(default)]
    pub workload: String,
    /// "native", "inproc", "kvm".
    pub platform: String,
    /// "linear" or "maxgap"; None for native.
    pub search: Option<String>,
    /// "anon", "private", "shared".
    pub mapping: String,
    pub touch: bool,
    pub iterations: u64,
    /// Bytes per mapping.
    pub size: u64,
    /// Per-call latency over the counted trials.
    pub latency_ns: LatencyStats,
    /// Host mmaps the platform holds at the end of the point.
    pub host_mappings: u64,
    /// Keyed by the `SITE_*` names; empty for native.
    pub sites: BTreeMap<String, SiteStats>,
    /// Per-call series of the last counted trial, when recorded.
    #[serde(default)]
    pub series: Vec<CallSeries>,
    #[serde(default)]
    pub counters: Option<PointCounters>,
    /// Folded stacks of this point alone, relative to the bundle, if sampled.
    #[serde(default)]
    pub folded: Option<String>,
    /// Folded stacks of each counted trial of this point, in trial order,
    /// relative to the bundle (`points/NNN/trial-K.folded`; their sum is
    /// `folded`). Empty in bundles before format 1.1 or without sampling.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trial_folded: Vec<String>,
    /// Workload-specific extras (replay: unknown lines counted, etc.).
    #[serde(default)]
    pub extra: serde_json::Value,
}

/// A point that could not be measured.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct PointFailure {
    pub platform: String,
    #[serde(default)]
    pub search: Option<String>,
    #[serde(default)]
    pub mapping: String,
    #[serde(default)]
    pub iterations: u64,
    #[serde(default)]
    pub size: u64,
    pub error: String,
}

/// What the sampling collectors recorded.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct ProfileInfo {
    /// Event name as perf would print it ("cycles:HG", "cpu-clock", or the
    /// event of an imported file).
    pub event: String,
    /// Folded stacks of the whole run, relative to the bundle.
    pub folded: String,
    /// Sampling frequency asked for (Hz), when sampling by frequency.
    #[serde(default)]
    pub frequency_hz: Option<u64>,
    pub samples: u64,
    #[serde(default)]
    pub host_samples: u64,
    #[serde(default)]
    pub guest_samples: u64,
    /// Samples the kernel reported lost (ring buffer full).
    #[serde(default)]
    pub lost_samples: u64,
    /// Sum of sample weights (periods) in the folded file.
    #[serde(default)]
    pub total_weight: u64,
}
