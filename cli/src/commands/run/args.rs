//! `sentryprof run` flags → an [`experiments::PlanRequest`]: every list
//! split, every name, size and count parsed into its typed value
//! ([`experiments::names`], [`experiments::units`]). What values go
//! together is the plan's to check ([`experiments::Plan::new`]).

use std::time::{SystemTime, UNIX_EPOCH};

use experiments::names::{
    parse_list, parse_named, parse_named_list, parse_platforms, parse_touch_modes,
};
use experiments::units::{parse_iterations, parse_size};
use experiments::{PlanError, PlanRequest};

use super::RunArgs;

/// The typed request of `args`, for [`experiments::Plan::new`].
pub fn request(args: &RunArgs) -> Result<PlanRequest, PlanError> {
    let workload = match args.workload.as_deref().map(str::trim) {
        None => None,
        Some(w) => Some(parse_named("workload", w)?),
    };
    let touch = if args.touch_modes.is_empty() {
        vec![args.touch]
    } else {
        parse_touch_modes(&args.touch_modes)?
    };
    let (platforms, platform_searches) = parse_platforms(&args.platform)?;
    Ok(PlanRequest {
        workload,
        trace: args.trace.clone(),
        mappings: parse_named_list("mapping", &args.mapping)?,
        touch,
        iterations: parse_list("iterations", &args.iterations, parse_iterations)?,
        sizes: parse_list("size", &args.size, parse_size)?,
        platforms,
        searches: parse_named_list("search", &args.search)?,
        platform_searches,
        trials: args.trials,
        warmup_trials: args.warmup_trials,
        collect: parse_named_list("collect", &args.collect)?,
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
