//! `sentryprof run` flags → an [`experiments::PlanRequest`]: every list
//! split, every name, size and count parsed into its typed value. What
//! values go together is the plan's to check ([`experiments::Plan::new`]).

use std::time::{SystemTime, UNIX_EPOCH};

use experiments::units::{parse_iterations, parse_size};
use experiments::{CollectorKind, GapSearch, Mapping, PlanRequest, PlatformKind, WorkloadKind};

use super::RunArgs;
use crate::error::CliError;

fn bad(msg: impl Into<String>) -> CliError {
    CliError::BadInput(msg.into())
}

/// Every item of the list `--{flag}` parsed by `parse`; an empty item is
/// an error.
fn list<T>(
    flag: &str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, CliError>,
) -> Result<Vec<T>, CliError> {
    raw.iter()
        .map(|s| match s.trim() {
            "" => Err(bad(format!("--{flag}: empty list item"))),
            t => parse(t),
        })
        .collect()
}

/// A name of `--{flag}`, or "unknown {what} (expected {expected})".
fn named<T>(
    flag: &'static str,
    what: &'static str,
    expected: &'static str,
    from_name: fn(&str) -> Option<T>,
) -> impl Fn(&str) -> Result<T, CliError> {
    move |s| {
        from_name(s).ok_or_else(|| {
            bad(format!(
                "--{flag} {s:?}: unknown {what} (expected {expected})"
            ))
        })
    }
}

fn search_from_name(s: &str) -> Option<GapSearch> {
    match s {
        "linear" => Some(GapSearch::Linear),
        "maxgap" => Some(GapSearch::MaxGap),
        _ => None,
    }
}

fn collector_from_name(s: &str) -> Option<CollectorKind> {
    match s {
        "probes" => Some(CollectorKind::Probes),
        "perf" => Some(CollectorKind::Perf),
        _ => None,
    }
}

fn touch_mode(s: &str) -> Result<bool, CliError> {
    match s {
        "touch" => Ok(true),
        "notouch" => Ok(false),
        other => Err(bad(format!(
            "--touch-modes {other:?}: expected touch or notouch"
        ))),
    }
}

/// The typed request of `args`, for [`experiments::Plan::new`].
pub fn request(args: &RunArgs) -> Result<PlanRequest, CliError> {
    let workload = match args.workload.as_deref().map(str::trim) {
        None => None,
        Some(w) => Some(named(
            "workload",
            "workload",
            "exp1, exp2, malloc or replay",
            WorkloadKind::from_name,
        )(w)?),
    };
    let touch = if args.touch_modes.is_empty() {
        vec![args.touch]
    } else {
        list("touch-modes", &args.touch_modes, touch_mode)?
    };
    Ok(PlanRequest {
        workload,
        trace: args.trace.clone(),
        mappings: list(
            "mapping",
            &args.mapping,
            named(
                "mapping",
                "mapping",
                "anon, private or shared",
                Mapping::from_name,
            ),
        )?,
        touch,
        iterations: list("iterations", &args.iterations, |s| Ok(parse_iterations(s)?))?,
        sizes: list("size", &args.size, |s| Ok(parse_size(s)?))?,
        platforms: list(
            "platform",
            &args.platform,
            named(
                "platform",
                "platform",
                "native, inproc or kvm",
                PlatformKind::from_name,
            ),
        )?,
        searches: list(
            "search",
            &args.search,
            named("search", "gap search", "linear or maxgap", search_from_name),
        )?,
        trials: args.trials,
        warmup_trials: args.warmup_trials,
        collect: list(
            "collect",
            &args.collect,
            named("collect", "collector", "probes, perf", collector_from_name),
        )?,
        no_probes: args.no_probes,
        perf_freq: args.perf_freq,
        probe_every: args.probe_every,
        subtract_probe_cost: args.subtract_probe_cost,
        keep_memory: args.keep_memory,
        out: args.out.clone(),
        now_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        command: std::env::args().collect(),
    })
}
