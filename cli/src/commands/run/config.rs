//! Raw `sentryprof run` flags → a validated [`RunConfig`], before any work.
//!
//! Every error here is one line naming the flag and the problem; the caller
//! exits with status 2 and nothing is written.

use std::path::PathBuf;
use std::sync::Arc;

use instrumented_sentry::addr::{page_round_up, PAGE_SIZE};
use instrumented_sentry::workload::trace::parse_trace_file;
use instrumented_sentry::workload::{Mapping, PointSpec, PointWork, WorkloadKind};

use super::RunArgs;
use crate::error::CliError;

/// Largest accepted `--iterations` value.
pub const MAX_ITERATIONS: u64 = 10_000_000;
/// Largest accepted `--size` value (1 GiB per mapping).
pub const MAX_SIZE: u64 = 1 << 30;
/// Largest address space one trial may map (64 TiB, half of x86-64's
/// 47-bit user space).
pub const MAX_MAPPED_BYTES: u64 = 1 << 46;
/// Largest accepted `--trials`.
pub const MAX_TRIALS: u32 = 10_000;
/// Probes time one call in this many by default: timing every call adds
/// about a fifth to the ~900-cycle max-gap private mmap path (three nested
/// sites, two rdtsc each); one in eight adds about 2%.
pub const DEFAULT_PROBE_EVERY: u32 = 8;
/// Largest accepted `--probe-every`.
pub const MAX_PROBE_EVERY: u32 = 1_000_000;
/// Largest accepted `--warmup-trials`.
pub const MAX_WARMUP_TRIALS: u32 = 1_000;

/// A platform to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlatformKind {
    /// Real host syscalls, no sentry.
    Native,
    /// The sentry in this process.
    Inproc,
    /// The workload as a KVM guest, the sentry as its kernel.
    Kvm,
}

impl PlatformKind {
    /// Command-line and `run.json` name.
    pub fn name(self) -> &'static str {
        match self {
            PlatformKind::Native => "native",
            PlatformKind::Inproc => "inproc",
            PlatformKind::Kvm => "kvm",
        }
    }

    fn parse(s: &str) -> Option<PlatformKind> {
        match s {
            "native" => Some(PlatformKind::Native),
            "inproc" => Some(PlatformKind::Inproc),
            "kvm" => Some(PlatformKind::Kvm),
            _ => None,
        }
    }
}

/// A gap search strategy of the sentry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SearchKind {
    /// Gap by gap (gVisor before the fix).
    Linear,
    /// Descend by max gap (gVisor after the fix).
    Maxgap,
}

impl SearchKind {
    /// Command-line and `run.json` name.
    pub fn name(self) -> &'static str {
        match self {
            SearchKind::Linear => "linear",
            SearchKind::Maxgap => "maxgap",
        }
    }

    fn parse(s: &str) -> Option<SearchKind> {
        match s {
            "linear" => Some(SearchKind::Linear),
            "maxgap" => Some(SearchKind::Maxgap),
            _ => None,
        }
    }
}

/// One platform and search strategy pair points run on (`search` is
/// `None` for native).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlatformChoice {
    /// The platform.
    pub platform: PlatformKind,
    /// The sentry's gap search, `None` for native.
    pub search: Option<SearchKind>,
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

/// Everything `sentryprof run` will do, checked.
#[derive(Debug, Clone)]
pub struct RunConfig {
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
    /// Sampling frequency asked for (Hz), if any.
    pub perf_freq: Option<u64>,
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
}

fn bad(msg: impl Into<String>) -> CliError {
    CliError::BadInput(msg.into())
}

/// Parse a size: `4096`, `4K`, `16k`, `1M`, `64KiB`, `1MiB`.
pub fn parse_size(s: &str) -> Result<u64, CliError> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix("kb"))
        .or_else(|| lower.strip_suffix('k'))
    {
        (d, 1024u64)
    } else if let Some(d) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix("mb"))
        .or_else(|| lower.strip_suffix('m'))
    {
        (d, 1024 * 1024)
    } else if let Some(d) = lower.strip_suffix('b') {
        (d, 1)
    } else {
        (lower.as_str(), 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "--size {t:?}: not a size (bytes, or a number with K or M)"
        )));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(format!("--size {t:?}: too large")))?;
    let v = n
        .checked_mul(mult)
        .ok_or_else(|| bad(format!("--size {t:?}: too large")))?;
    if v == 0 {
        return Err(bad(format!("--size {t:?}: must be at least 1 byte")));
    }
    if v > MAX_SIZE {
        return Err(bad(format!(
            "--size {t:?}: {v} bytes is more than the largest mapping accepted (1 GiB)"
        )));
    }
    Ok(v)
}

/// Parse an iteration count (plain decimal, `_` allowed as a separator).
pub fn parse_iterations(s: &str) -> Result<u64, CliError> {
    let t = s.trim();
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("--iterations {t:?}: not a whole number")));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(format!("--iterations {t:?}: too large")))?;
    if n == 0 {
        return Err(bad(format!("--iterations {t:?}: must be at least 1")));
    }
    if n > MAX_ITERATIONS {
        return Err(bad(format!(
            "--iterations {t:?}: more than the {MAX_ITERATIONS} calls per trial accepted"
        )));
    }
    Ok(n)
}

/// Remove duplicates, keeping first occurrences.
fn dedup<T: PartialEq + Clone>(v: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

fn list<'a>(flag: &str, raw: &'a [String]) -> Result<Vec<&'a str>, CliError> {
    let mut out = Vec::new();
    for s in raw {
        let t = s.trim();
        if t.is_empty() {
            return Err(bad(format!("--{flag}: empty list item")));
        }
        out.push(t);
    }
    Ok(out)
}

impl RunConfig {
    /// Validate `args`. `now_unix` names the default output directory.
    pub fn from_args(args: &RunArgs, now_unix: u64) -> Result<RunConfig, CliError> {
        let workload = match args.workload.as_deref().map(str::trim) {
            None => WorkloadKind::Exp1,
            Some(w) => WorkloadKind::from_name(w).ok_or_else(|| {
                bad(format!(
                    "--workload {w:?}: unknown workload (expected exp1, exp2, malloc or replay)"
                ))
            })?,
        };
        let is_replay = workload == WorkloadKind::Replay;
        let is_mmap = matches!(workload, WorkloadKind::Exp1 | WorkloadKind::Exp2);

        // Trace.
        let (trace_path, trace) = match (&args.trace, is_replay) {
            (None, true) => {
                return Err(bad(
                    "--workload replay needs --trace FILE (a `strace -f -e trace=memory` log)",
                ))
            }
            (Some(_), false) => {
                return Err(bad(format!(
                    "--trace is only used by --workload replay, not {workload}"
                )))
            }
            (None, false) => (None, None),
            (Some(p), true) => {
                let t = parse_trace_file(p).map_err(|e| bad(e.to_string()))?;
                (Some(p.clone()), Some(Arc::new(t)))
            }
        };

        // Mappings.
        let mappings: Vec<Mapping> = if args.mapping.is_empty() {
            vec![Mapping::Private]
        } else if !is_mmap {
            return Err(bad(format!(
                "--mapping does not apply to --workload {workload} (only exp1 and exp2)"
            )));
        } else {
            dedup(
                list("mapping", &args.mapping)?
                    .into_iter()
                    .map(|m| {
                        Mapping::from_name(m).ok_or_else(|| {
                            bad(format!(
                                "--mapping {m:?}: unknown mapping (expected anon, private or shared)"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            )
        };

        // Touch.
        let touches: Vec<bool> = if !args.touch_modes.is_empty() {
            dedup(
                list("touch-modes", &args.touch_modes)?
                    .into_iter()
                    .map(|t| match t {
                        "touch" => Ok(true),
                        "notouch" => Ok(false),
                        other => Err(bad(format!(
                            "--touch-modes {other:?}: expected touch or notouch"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
            )
        } else {
            vec![args.touch]
        };
        if is_replay && touches.contains(&true) {
            return Err(bad(
                "--touch does not apply to --workload replay (a trace records no memory accesses)",
            ));
        }

        // Iterations and sizes.
        if is_replay && (!args.iterations.is_empty() || !args.size.is_empty()) {
            return Err(bad(
                "--iterations and --size do not apply to --workload replay (the trace decides)",
            ));
        }
        let iterations: Vec<u64> = if args.iterations.is_empty() {
            workload.default_iterations().to_vec()
        } else {
            dedup(
                list("iterations", &args.iterations)?
                    .into_iter()
                    .map(parse_iterations)
                    .collect::<Result<_, _>>()?,
            )
        };
        let sizes: Vec<u64> = if args.size.is_empty() {
            workload.default_sizes()
        } else {
            dedup(
                list("size", &args.size)?
                    .into_iter()
                    .map(parse_size)
                    .collect::<Result<_, _>>()?,
            )
        };

        // Platforms and searches.
        let platforms: Vec<PlatformKind> = if args.platform.is_empty() {
            vec![PlatformKind::Native, PlatformKind::Inproc]
        } else {
            dedup(
                list("platform", &args.platform)?
                    .into_iter()
                    .map(|p| {
                        PlatformKind::parse(p).ok_or_else(|| {
                            bad(format!(
                                "--platform {p:?}: unknown platform (expected native, inproc or kvm)"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            )
        };
        let searches: Vec<SearchKind> = if args.search.is_empty() {
            vec![SearchKind::Linear, SearchKind::Maxgap]
        } else {
            dedup(
                list("search", &args.search)?
                    .into_iter()
                    .map(|s| {
                        SearchKind::parse(s).ok_or_else(|| {
                            bad(format!(
                                "--search {s:?}: unknown gap search (expected linear or maxgap)"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?,
            )
        };
        let mut choices = Vec::new();
        for &p in &platforms {
            if p == PlatformKind::Native {
                if is_replay {
                    return Err(bad(
                        "--platform native cannot replay a trace (MAP_FIXED and brk calls would \
                         rewrite sentryprof's own memory); use inproc or kvm",
                    ));
                }
                choices.push(PlatformChoice {
                    platform: p,
                    search: None,
                });
            } else {
                for &s in &searches {
                    choices.push(PlatformChoice {
                        platform: p,
                        search: Some(s),
                    });
                }
            }
        }

        // Trials.
        let trials = args.trials.unwrap_or(12);
        if trials == 0 || trials > MAX_TRIALS {
            return Err(bad(format!(
                "--trials {trials}: must be between 1 and {MAX_TRIALS}"
            )));
        }
        let warmup_trials = args.warmup_trials.unwrap_or(2);
        if warmup_trials > MAX_WARMUP_TRIALS {
            return Err(bad(format!(
                "--warmup-trials {warmup_trials}: must be at most {MAX_WARMUP_TRIALS}"
            )));
        }

        // Collectors.
        // Default: both, so `sentryprof run` with no flags is the main job
        // (perf falls back to cpu-clock, or off with a note, where refused).
        let (mut probes, mut perf) = (true, true);
        if !args.collect.is_empty() {
            probes = false;
            for c in list("collect", &args.collect)? {
                match c {
                    "probes" => probes = true,
                    "perf" => perf = true,
                    other => {
                        return Err(bad(format!(
                            "--collect {other:?}: unknown collector (expected probes, perf)"
                        )))
                    }
                }
            }
        }
        if args.no_probes {
            probes = false;
        }
        let probe_every = args.probe_every.unwrap_or(DEFAULT_PROBE_EVERY);
        if probe_every == 0 || probe_every > MAX_PROBE_EVERY {
            return Err(bad(format!(
                "--probe-every {probe_every}: must be between 1 (every call) and {MAX_PROBE_EVERY}"
            )));
        }
        if let Some(0) = args.perf_freq {
            return Err(bad(
                "--perf-freq 0: the sampling frequency must be at least 1 Hz",
            ));
        }
        if args.perf_freq.is_some() && !perf {
            return Err(bad("--perf-freq needs --collect perf"));
        }
        if args.keep_memory && !platforms.contains(&PlatformKind::Inproc) {
            return Err(bad(
                "--keep-memory saves the sentry's memory file of an inproc point; add --platform inproc",
            ));
        }

        // Combinations.
        let mut specs = Vec::new();
        let memory = bundle::mem_total_bytes();
        if is_replay {
            let t = trace
                .clone()
                .ok_or_else(|| bad("--workload replay needs --trace FILE"))?;
            specs.push(PointSpec {
                workload,
                iterations: t.calls.len() as u64,
                size: 0,
                work: PointWork::Replay { trace: t },
                touch: false,
            });
        } else {
            let works: Vec<PointWork> = if is_mmap {
                mappings
                    .iter()
                    .map(|&mapping| PointWork::Mmap { mapping })
                    .collect()
            } else {
                vec![PointWork::Malloc]
            };
            for work in &works {
                for &touch in &touches {
                    for &size in &sizes {
                        for &n in &iterations {
                            let spec = PointSpec {
                                workload,
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
        }

        let out = args
            .out
            .clone()
            .unwrap_or_else(|| crate::commands::out_dir::default_out_dir("run", now_unix));
        if out.as_os_str().is_empty() {
            return Err(bad("--out: empty path"));
        }

        let params = serde_json::json!({
            "mappings": if is_mmap { mappings.iter().map(|m| m.name()).collect::<Vec<_>>() } else { Vec::new() },
            "iterations": if is_replay { Vec::new() } else { iterations.clone() },
            "sizes": if is_replay { Vec::new() } else { sizes.clone() },
            "touch": touches,
            "platforms": platforms.iter().map(|p| p.name()).collect::<Vec<_>>(),
            "searches": searches.iter().map(|s| s.name()).collect::<Vec<_>>(),
            "trace": trace_path.as_ref().map(|p| p.display().to_string()),
            "collect": {
                "probes": probes,
                "perf": perf,
            },
        });

        Ok(RunConfig {
            workload,
            specs,
            platforms: choices,
            trials,
            warmup_trials,
            probes,
            perf,
            perf_freq: args.perf_freq,
            subtract_probe_cost: args.subtract_probe_cost,
            probe_every,
            keep_memory: args.keep_memory,
            out,
            params,
        })
    }

    /// Points the run will attempt (specs × platform choices).
    pub fn point_count(&self) -> usize {
        self.specs.len() * self.platforms.len()
    }
}

/// Refuse parameters that cannot fit: the address space one trial maps,
/// and the memory it writes when touching.
fn check_fits(spec: &PointSpec, memory: Option<u64>) -> Result<(), CliError> {
    let label = spec.label();
    let page_size = page_round_up(spec.size).unwrap_or(PAGE_SIZE);
    let mapped = page_size
        .checked_mul(spec.iterations)
        .filter(|&b| b <= MAX_MAPPED_BYTES);
    let Some(mapped) = mapped else {
        return Err(bad(format!(
            "{label}: {} x {} bytes does not fit the address space one trial may map (64 TiB)",
            spec.iterations, spec.size
        )));
    };
    if spec.touch {
        if let Some(mem) = memory {
            if mapped > mem / 10 * 9 {
                return Err(bad(format!(
                    "{label}: touching {} MiB per trial needs more memory than this machine has ({} MiB)",
                    mapped >> 20,
                    mem >> 20
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("16k").unwrap(), 16384);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert!(parse_size("0").is_err());
        assert!(parse_size("2G").is_err());
        assert!(parse_size("-4K").is_err());
        assert!(parse_size("99999999999999999999999").is_err());
        assert!(parse_size("18014398509481984K").is_err());
        assert!(parse_size("K").is_err());
    }

    #[test]
    fn iterations_parse() {
        assert_eq!(parse_iterations("500_000").unwrap(), 500_000);
        assert!(parse_iterations("0").is_err());
        assert!(parse_iterations("1e5").is_err());
        assert!(parse_iterations("10000001").is_err());
    }
}
