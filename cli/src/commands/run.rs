//! `sentryprof run`: run a workload on platforms and search strategies,
//! print cycle and latency tables, and write a result bundle.
//!
//! Flow: flags → [`config::RunConfig`] (validated before any work) → one
//! runner per platform × search ([`platforms::make_runner`], the platform
//! seam) → for every point, warm-up and counted trials
//! ([`measure::measure_point`], bracketed by a sampling collector, the
//! [`collect::PointCollector`] seam) → tables ([`table`]) → `run.json`
//! through the atomic `BundleWriter`.

mod collect;
mod config;
mod interrupt;
mod measure;
mod platforms;
mod progress;

use flamegraph::run_tables as table;

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bundle::{
    BundleKind, BundleWriter, LoadedBundle, PointFailure, ProfileInfo, RunJson, WorkloadInfo,
    STACKS_FOLDED,
};
use instrumented_sentry::probes::Calibration;
use instrumented_sentry::runners::{PlatformRunner, PointError};

use crate::error::{CliError, Outcome};
use config::{PlatformKind, RunConfig};
use measure::{MeasureError, TrialPlan};

/// Name of the sentry memory image written by `--keep-memory`.
pub const MEMORY_IMAGE: &str = "memory.img";

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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cfg = RunConfig::from_args(&args, now)?;
    // Ctrl-C from here on stops between trials, and the unfinished bundle
    // writer removes its staging directory.
    interrupt::install();
    // Refuse an output path that is not ours before any work.
    let writer = BundleWriter::create(&cfg.out)?;
    let started = Instant::now();

    let calibration = Calibration::get();
    let mut run = RunJson::new(BundleKind::Run);
    run.command = std::env::args().collect();
    run.created_unix = now;
    run.machine = bundle::Machine::current();
    run.workload = WorkloadInfo {
        name: cfg.workload.name().to_string(),
        params: cfg.params.clone(),
    };
    run.tsc_hz = calibration.tsc_hz;
    run.probe_overhead_cycles = calibration.pair_cost_cycles as f64;
    run.probe_overhead_subtracted = cfg.subtract_probe_cost;
    run.probes_enabled = cfg.probes;
    run.probe_sample_every = cfg.probe_every;
    run.capabilities = collectors::capabilities::check_capabilities();
    run.trials = cfg.trials;
    run.warmup_trials = cfg.warmup_trials;

    println!(
        "sentryprof run: {} — {} point(s): {} parameter set(s) x [{}], {} trial(s) after {} warm-up",
        cfg.workload,
        cfg.point_count(),
        cfg.specs.len(),
        cfg.platforms
            .iter()
            .map(|c| c.label())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.trials,
        cfg.warmup_trials
    );
    if cfg.probes {
        println!(
            "probes: TSC {:.3} GHz, probe pair cost {} cycles ({}), timing {}",
            calibration.tsc_hz as f64 / 1e9,
            calibration.pair_cost_cycles,
            if cfg.subtract_probe_cost {
                format!(
                    "probe self-cost of {} cycles subtracted",
                    calibration.self_cycles
                )
            } else {
                "not subtracted".to_string()
            },
            if cfg.probe_every == 1 {
                "every call".to_string()
            } else {
                format!("1 call in {} (call counts exact)", cfg.probe_every)
            }
        );
    } else {
        println!("probes: off");
    }

    // Sampling collector (the perf seam).
    let mut collector = None;
    if cfg.perf {
        match collect::make_perf_collector(&collect::PerfOptions {
            frequency_hz: cfg.perf_freq,
        }) {
            Ok(c) => {
                for n in c.start_notes() {
                    println!("{n}");
                }
                collector = Some(c);
            }
            Err(why) => {
                let note = format!("--collect perf: {why}; the run continues with probes alone");
                eprintln!("sentryprof: {note}");
                run.notes.push(note);
            }
        }
    }

    // Runners (the platform seam).
    let options = platforms::SentryOptions {
        probes: cfg.probes,
        subtract_probe_cost: cfg.subtract_probe_cost,
        probe_every: cfg.probe_every,
        keep_memory: cfg.keep_memory,
    };
    let mut runners: Vec<Result<Box<dyn PlatformRunner>, String>> = Vec::new();
    for choice in &cfg.platforms {
        let r = platforms::make_runner(*choice, options);
        if let Err(why) = &r {
            let note = format!("--platform {}: {why}", choice.label());
            eprintln!("sentryprof: {note}");
            run.notes.push(note);
        }
        runners.push(r);
    }

    let plan = TrialPlan {
        trials: cfg.trials,
        warmup_trials: cfg.warmup_trials,
    };
    let mut progress = progress::Progress::new(cfg.point_count(), args.quiet);
    // --tui: the live view takes the terminal until the run is over; what
    // the run prints meanwhile is shown when the view closes.
    let live = if args.tui {
        let view = tui::live::LiveView::start(Box::new(interrupt::request))
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
        progress.set_live(view.sender());
        let _ = view.sender().send(tui::live::LiveEvent::RunStarted {
            total_points: cfg.point_count(),
            trials: cfg.trials,
            warmup_trials: cfg.warmup_trials,
        });
        Some(view)
    } else {
        None
    };
    let mut last_inproc: Option<usize> = None;
    let mut index = 0usize;
    for spec in &cfg.specs {
        for (ci, choice) in cfg.platforms.iter().enumerate() {
            let skeleton = measure::point_skeleton(
                spec,
                choice.platform.name(),
                choice.search.map(|s| s.name()),
            );
            let label = skeleton.label();
            progress.point_start(index, &label);
            let result = match &mut runners[ci] {
                Err(why) => Err(MeasureError::Point(PointError::Unsupported(why.clone()))),
                Ok(runner) => measure::measure_point(
                    spec,
                    runner.as_mut(),
                    plan,
                    collector.as_deref_mut(),
                    &mut progress,
                ),
            };
            match result {
                Ok(m) => {
                    progress.point_end("done");
                    progress.point_measured(&m.point);
                    println!("{label}: {}", table::latency_line(&m.point));
                    print!("{}", table::cycle_table(&m.point));
                    if let Some(note) = m.collector_note {
                        eprintln!("sentryprof: {note}");
                        run.notes.push(note);
                    }
                    let mut point = m.point;
                    if let Some(stacks) = m.folded {
                        let rel = format!("points/{index:03}.folded");
                        writer.write_file(&rel, stacks.to_text().as_bytes())?;
                        point.folded = Some(rel.clone());
                        run.files.push(rel);
                    }
                    if choice.platform == PlatformKind::Inproc {
                        last_inproc = Some(ci);
                    }
                    run.points.push(point);
                }
                Err(MeasureError::Interrupted) => {
                    progress.point_end("interrupted");
                    return Err(CliError::Environment(
                        "interrupted; no bundle written".to_string(),
                    ));
                }
                Err(MeasureError::Point(e)) => {
                    progress.point_end("FAILED");
                    progress.point_failed(&e.to_string());
                    println!("{label}: FAILED: {e}");
                    run.failures.push(PointFailure {
                        platform: skeleton.platform,
                        search: skeleton.search,
                        mapping: skeleton.mapping,
                        iterations: skeleton.iterations,
                        size: skeleton.size,
                        error: e.to_string(),
                    });
                }
            }
            index += 1;
        }
    }

    if run.points.is_empty() {
        return Err(CliError::Environment(format!(
            "no point could be measured ({} failed; first: {}); no bundle written",
            run.failures.len(),
            run.failures
                .first()
                .map(|f| f.error.as_str())
                .unwrap_or("none")
        )));
    }

    // Collector summary.
    if let Some(c) = collector.as_mut() {
        let (profile, notes) = c.finish();
        for n in notes {
            eprintln!("sentryprof: {n}");
            run.notes.push(n);
        }
        if let Some(p) = profile {
            writer.write_file(STACKS_FOLDED, p.folded.to_text().as_bytes())?;
            run.files.push(STACKS_FOLDED.to_string());
            run.profile = Some(ProfileInfo {
                folded: STACKS_FOLDED.to_string(),
                ..p.info
            });
        }
    }

    // The sentry's memory file, for the sharing analysis.
    if cfg.keep_memory {
        match last_inproc.and_then(|ci| runners[ci].as_mut().ok()) {
            Some(runner) => {
                let path = writer.staging_dir().join(MEMORY_IMAGE);
                match runner.save_memory(&path) {
                    Ok(Some(bytes)) => {
                        println!("memory.img: {} MiB of sentry memory file", bytes >> 20);
                        run.files.push(MEMORY_IMAGE.to_string());
                    }
                    Ok(None) => run
                        .notes
                        .push("--keep-memory: the inproc runner kept no memory file".to_string()),
                    Err(e) => {
                        return Err(CliError::Environment(format!(
                            "--keep-memory: cannot write {MEMORY_IMAGE}: {e}"
                        )))
                    }
                }
            }
            None => run
                .notes
                .push("--keep-memory: no inproc point was measured".to_string()),
        }
    }

    println!();
    print!("{}", table::latency_table(&run.points));
    print!("{}", table::kvm_beyond_exit_table(&run.points, run.tsc_hz));
    if !run.failures.is_empty() {
        println!("{} point(s) failed:", run.failures.len());
        for f in &run.failures {
            let search = f.search.as_deref().unwrap_or("-");
            println!(
                "  {}/{} {} {}B x{}: {}",
                f.platform, search, f.mapping, f.size, f.iterations, f.error
            );
        }
    }
    render_into_staging(&writer, &mut run)?;
    let dir = writer.finish(&run)?;
    println!(
        "bundle: {} ({} point(s), {:.1} s)",
        dir.display(),
        run.points.len(),
        started.elapsed().as_secs_f64()
    );
    if let Some(view) = live {
        let _ = view.sender().send(tui::live::LiveEvent::Finished {
            bundle: Some(dir.clone()),
            summary: format!(
                "run over: {} point(s) measured, {} failed, {:.1} s",
                run.points.len(),
                run.failures.len(),
                started.elapsed().as_secs_f64()
            ),
        });
        view.finish()
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
    }
    Ok(Outcome::Success)
}

/// Render the bundle's default outputs (flamegraphs, charts, report.txt,
/// report.html) into the staging directory, so the bundle appears with its
/// SVGs or not at all. A part that cannot be drawn is a note in `run.json`,
/// not a lost run.
fn render_into_staging(writer: &BundleWriter, run: &mut RunJson) -> Result<(), CliError> {
    let staged = LoadedBundle {
        dir: writer.staging_dir().to_path_buf(),
        run: run.clone(),
    };
    match flamegraph::default_outputs::default_outputs(&staged) {
        Ok(out) => {
            for f in &out.files {
                writer.write_file(&f.name, &f.bytes)?;
                run.files.push(f.name.clone());
            }
            let svgs = out
                .files
                .iter()
                .filter(|f| f.name.ends_with(".svg"))
                .count();
            println!("rendered {svgs} SVG(s), report.txt and report.html into the bundle");
            run.notes.extend(out.notes);
        }
        Err(e) => {
            let note = format!("rendering skipped: {e} (re-render with `sentryprof report`)");
            eprintln!("sentryprof: {note}");
            run.notes.push(note);
        }
    }
    Ok(())
}
