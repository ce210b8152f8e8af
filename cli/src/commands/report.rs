//! `sentryprof report BUNDLE`: per-function and per-site tables, scaling
//! verdicts, the study's figures as SVG charts, a self-contained report.html,
//! and exports (folded, JSON, CSV, pprof, speedscope, Firefox Profiler).

use std::path::PathBuf;

use bundle::read_bundle;
use flamegraph::bundle_flames::write_files;
use flamegraph::report_files::{render_report, ReportOptions};

use super::flamegraph::render_error;
use crate::error::{CliError, Outcome};

/// Tables, verdicts, charts and report.html; written beside run.json unless --out.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The bundle directory (or its run.json).
    pub bundle: PathBuf,
    /// Directory to write into (default: the bundle directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Table formats: text (printed, and report.txt), csv (functions.csv,
    /// sites.csv, scaling.csv, strategies.csv), md (report.md), json (report.json).
    #[arg(long, value_delimiter = ',', default_value = "text")]
    pub format: Vec<String>,
    /// Rows of the function table in text, Markdown and HTML (0: all).
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub top: usize,
    /// Also export the profile: folded, json, csv, pprof, speedscope, firefox
    /// (profile.folded/.json/.csv/.pb.gz/.speedscope.json/.firefox.json).
    #[arg(long, value_delimiter = ',')]
    pub export: Vec<String>,
}

pub fn run(args: ReportArgs) -> Result<Outcome, CliError> {
    let options = ReportOptions::from_words(&args.format, &args.export, args.top)
        .map_err(CliError::BadInput)?;
    let bundle = read_bundle(&args.bundle)?;
    let out_dir = args.out.clone().unwrap_or_else(|| bundle.dir.clone());
    experiments::interrupt::install(); // Ctrl-C while rendering: nothing written
    let report = render_report(&bundle, &options, &out_dir).map_err(render_error)?;
    if experiments::interrupt::requested() {
        return Err(CliError::Interrupted(
            "interrupted: no report file written".into(),
        ));
    }
    let (paths, swept) = write_files(&out_dir, &report.files).map_err(render_error)?;
    swept.iter().for_each(|n| experiments::notes::note(n));
    if let Some(t) = report.text {
        print!("{t}");
    }
    for n in &report.chart_notes {
        println!("note: {n}");
    }
    println!();
    for (f, p) in report.files.iter().zip(paths) {
        println!("wrote {} ({})", p.display(), f.description);
    }
    Ok(Outcome::Success)
}
