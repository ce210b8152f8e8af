//! `sentryprof run`: the flags of a run, their conversion into a
//! validated [`experiments::Plan`], and the observers that show it.
//!
//! Flow: flags → [`args::request`] (lists, sizes and names parsed into
//! typed values) → [`experiments::Plan::new`] (validated before any work)
//! → [`experiments::Session`] (trials, statistics, the bundle) reporting to
//! [`print::Printer`] (stdout lines and tables of [`table`], progress on
//! stderr) and, with `--tui`, [`live::LiveFeed`] (the live view).

mod args;
mod live;
mod print;

use flamegraph::run_tables as table;

use std::path::PathBuf;

use experiments::{interrupt, Plan, Session};

use crate::error::{CliError, Outcome};

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
    /// Platforms: native, inproc, kvm [default: native,inproc]
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
    /// Collectors: probes (rdtsc in the sentry), perf (perf_event_open sampling) [default: probes,perf]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub collect: Vec<String>,
    /// Turn the rdtsc probes off
    #[arg(long)]
    pub no_probes: bool,
    /// Sampling frequency for --collect perf, in Hz
    #[arg(long, value_name = "HZ")]
    pub perf_freq: Option<u64>,
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
    /// No progress lines on stderr
    #[arg(long)]
    pub quiet: bool,
    /// Show the run live in the terminal: progress per point and each
    /// point's cycle table as it is measured (q stops the run; when it is
    /// over, Enter opens the bundle in the browser)
    #[arg(long)]
    pub tui: bool,
}

impl RunArgs {
    /// The README's main job: Exp1, private file mappings, no touch, 4 KiB,
    /// 5,000 / 10,000 / 25,000 calls (the study's Figure 3), linear against
    /// max-gap against native, 12 trials after 2 warm-up trials, with the
    /// probes and perf sampling (which falls back to the probes alone, with
    /// a note, where perf_event_open is refused).
    pub fn main_job() -> Self {
        RunArgs {
            workload: Some("exp1".to_string()),
            mapping: vec!["private".to_string()],
            search: vec!["linear".to_string(), "maxgap".to_string()],
            platform: vec!["native".to_string(), "inproc".to_string()],
            iterations: vec!["5000".into(), "10000".into(), "25000".into()],
            size: vec!["4K".to_string()],
            trials: Some(12),
            warmup_trials: Some(2),
            collect: vec!["probes".to_string(), "perf".to_string()],
            ..RunArgs::default()
        }
    }
}

/// Run `sentryprof run`.
pub fn run(args: RunArgs) -> Result<Outcome, CliError> {
    let plan = Plan::new(&args::request(&args)?)?;
    let mut printer = print::Printer::new(plan.point_count(), args.quiet || args.tui);
    let session = Session::prepare(plan, &mut printer)?;
    // --tui: the live view takes the terminal until the run is over; what
    // the run prints meanwhile is shown when the view closes.
    let view = if args.tui {
        let view = tui::live::LiveView::start(Box::new(interrupt::request))
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
        Some(view)
    } else {
        None
    };
    let feed = live::LiveFeed::new(view.as_ref(), session.plan());
    session.execute(&mut (printer, feed))?;
    if let Some(view) = view {
        view.finish()
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
    }
    Ok(Outcome::Success)
}
