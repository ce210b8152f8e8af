//! `sentryprof run` flags ([`RunArgs`]) → an [`experiments::PlanRequest`]: every list
//! split, every name, size and count parsed into its typed value
//! ([`experiments::names`], [`experiments::units`]). What values go
//! together is the plan's to check ([`experiments::Plan::new`]).

use std::path::PathBuf;

use experiments::names::{
    parse_list, parse_named, parse_named_list, parse_platforms, parse_touch_modes,
};
use experiments::units::{parse_iterations, parse_size};
use experiments::{PlanError, PlanRequest};

/// Flags of `sentryprof run`. Lists are comma-separated and every
/// combination runs in one invocation.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Workload: exp1 (latency vs number of mappings), exp2 (latency vs
    /// mapping size), malloc, replay [default: exp1]
    #[arg(long, value_name = "NAME")]
    pub workload: Option<String>,
    /// strace log to replay (`strace -f -e trace=memory -o FILE CMD`), for --workload replay
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Mapping kinds: anon, private, shared [default: private]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub mapping: Vec<String>,
    /// Gap searches of the sentry: linear, maxgap [default: linear,maxgap]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub search: Vec<String>,
    /// Platforms: native, inproc, kvm, ptrace, systrap; PLATFORM/SEARCH runs it on that search only [default: native,inproc]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub platform: Vec<String>,
    /// Calls per trial [default: exp1 5000,10000,25000; exp2 and malloc 25000]
    #[arg(long, value_name = "N[,N...]", value_delimiter = ',')]
    pub iterations: Vec<String>,
    /// Bytes per call, K and M suffixes accepted [default: exp1 4K; exp2 1K..1M; malloc 4K..1M]
    #[arg(long, value_name = "BYTES[,BYTES...]", value_delimiter = ',')]
    pub size: Vec<String>,
    /// Write one byte to every page right after it is mapped (default: no touch)
    #[arg(long)]
    pub touch: bool,
    /// Run both or either: touch, notouch (instead of --touch)
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        conflicts_with = "touch"
    )]
    pub touch_modes: Vec<String>,
    /// Counted trials per point [default: 12]
    #[arg(long, value_name = "N")]
    pub trials: Option<u32>,
    /// Warm-up trials per point, not counted [default: 2]
    #[arg(long, value_name = "N")]
    pub warmup_trials: Option<u32>,
    /// Collectors: probes (rdtsc in the sentry), perf (perf_event_open sampling), guest (kvm guest stacks by the VMM), boundary (perf samples joined with the workload's stack; needs perf) [default: probes,perf; guest with kvm]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub collect: Vec<String>,
    /// Turn the rdtsc probes off
    #[arg(long)]
    pub no_probes: bool,
    /// Sampling frequency for --collect perf, in Hz
    #[arg(long, value_name = "HZ")]
    pub perf_freq: Option<u64>,
    /// Guest sampling rate for --collect guest (kvm), in Hz [default: 1000]
    #[arg(long, value_name = "HZ")]
    pub guest_freq: Option<u64>,
    /// Time one call in N at each probe site (call counts stay exact); 1 times every call, the study's method [default: 8]
    #[arg(long, value_name = "N")]
    pub probe_every: Option<u32>,
    /// Subtract the probe's own cost from every probe sample
    #[arg(long)]
    pub subtract_probe_cost: bool,
    /// Save the sentry's memory file at the end of the last inproc point as memory.img
    #[arg(long)]
    pub keep_memory: bool,
    /// Bundle directory [default: sentryprof-out/run-YYYYMMDD-HHMMSS (UTC)]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Show the run live in the terminal: progress per point and each
    /// point's cycle table as it is measured (q stops the run; when it is
    /// over, Enter opens the bundle in the browser)
    #[arg(long)]
    pub tui: bool,
}

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
        guest_freq: args.guest_freq,
        probe_every: args.probe_every,
        subtract_probe_cost: args.subtract_probe_cost,
        keep_memory: args.keep_memory,
        out: args.out.clone(),
        now_unix: experiments::out_dir::now_unix(),
        command: std::env::args().collect(),
    })
}
