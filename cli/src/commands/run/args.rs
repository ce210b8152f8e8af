//! `sentryprof run` flags → an [`experiments::PlanRequest`]: every list
//! split, every name, size and count parsed into its typed value. What
//! values go together is the plan's to check ([`experiments::Plan::new`]).

use std::time::{SystemTime, UNIX_EPOCH};

use experiments::plan::{MAX_ITERATIONS, MAX_SIZE};
use experiments::{CollectorKind, GapSearch, Mapping, PlanRequest, PlatformKind, WorkloadKind};

use super::RunArgs;
use crate::error::CliError;

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
        iterations: list("iterations", &args.iterations, parse_iterations)?,
        sizes: list("size", &args.size, parse_size)?,
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
