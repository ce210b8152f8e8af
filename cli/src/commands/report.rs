//! `sentryprof report BUNDLE`: per-function and per-site tables, scaling
//! verdicts, the study's figures as SVG charts, a self-contained report.html,
//! and exports (folded, JSON, CSV, pprof).

use std::path::PathBuf;
use std::str::FromStr;

use bundle::read_bundle;
use flamegraph::bundle_flames::{write_files, RenderedFile};
use flamegraph::charts::draw_study_charts;
use flamegraph::export::{export_files, ExportFormat};
use flamegraph::html::report_html;
use flamegraph::report::{build_report, to_csv_files, to_json, to_markdown, to_text};

use super::flamegraph::render_error;
use crate::error::{CliError, Outcome};

/// Tables, verdicts, charts and report.html; written beside run.json unless --out.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The bundle directory (or its run.json).
    pub bundle: PathBuf,
    /// Directory to write into (default: the bundle directory).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Table formats: text (printed, and report.txt), csv (functions.csv,
    /// sites.csv, scaling.csv, strategies.csv), md (report.md), json (report.json).
    #[arg(long, value_delimiter = ',', default_value = "text")]
    pub format: Vec<String>,
    /// Rows of the function table in text, Markdown and HTML (0: all).
    #[arg(long, default_value_t = 30)]
    pub top: usize,
    /// Also export the profile: folded, json, csv, pprof (profile.folded,
    /// profile.json, profile.csv, profile.pb.gz).
    #[arg(long, value_delimiter = ',')]
    pub export: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableFormat {
    Text,
    Csv,
    Markdown,
    Json,
}

impl FromStr for TableFormat {
    type Err = CliError;
    fn from_str(s: &str) -> Result<Self, CliError> {
        match s.trim() {
            "text" | "txt" => Ok(TableFormat::Text),
            "csv" => Ok(TableFormat::Csv),
            "md" | "markdown" => Ok(TableFormat::Markdown),
            "json" => Ok(TableFormat::Json),
            other => Err(CliError::BadInput(format!(
                "--format {other:?}: expected text, csv, md or json"
            ))),
        }
    }
}

fn file(name: &str, bytes: Vec<u8>, description: &str) -> RenderedFile {
    RenderedFile {
        name: name.to_string(),
        bytes,
        description: description.to_string(),
    }
}

pub fn run(args: ReportArgs) -> Result<Outcome, CliError> {
    let formats = args
        .format
        .iter()
        .map(|f| f.parse::<TableFormat>())
        .collect::<Result<Vec<_>, _>>()?;
    let exports = args
        .export
        .iter()
        .map(|f| {
            ExportFormat::from_str(f.trim())
                .map_err(|e| CliError::BadInput(format!("--export: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bundle = read_bundle(&args.bundle)?;
    let out_dir = args.out.clone().unwrap_or_else(|| bundle.dir.clone());

    // Everything is rendered in memory first; files are written (each
    // atomically) only once nothing can fail any more but the writes.
    let report = build_report(&bundle).map_err(render_error)?;
    let (charts, chart_notes) = draw_study_charts(&bundle.run).map_err(render_error)?;
    let mut files = Vec::new();
    let mut text_out = None;
    for f in &formats {
        match f {
            TableFormat::Text => {
                let t = to_text(&report, args.top);
                files.push(file("report.txt", t.clone().into_bytes(), "tables as text"));
                text_out = Some(t);
            }
            TableFormat::Csv => {
                for (name, csv) in to_csv_files(&report) {
                    files.push(file(&name, csv.into_bytes(), "table as CSV"));
                }
            }
            TableFormat::Markdown => files.push(file(
                "report.md",
                to_markdown(&report, args.top).into_bytes(),
                "tables as Markdown",
            )),
            TableFormat::Json => files.push(file(
                "report.json",
                to_json(&report).map_err(render_error)?.into_bytes(),
                "report as JSON",
            )),
        }
    }
    for c in &charts {
        files.push(file(
            &format!("{}.svg", c.stem),
            c.svg.clone().into_bytes(),
            &c.title,
        ));
    }
    files.extend(export_files_if(&bundle, &exports)?);
    // Flamegraphs already beside the report are linked from the page.
    let mut flames: Vec<String> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&out_dir) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".svg")
                && (n.contains("flamegraph") || n.contains("icicle") || n.starts_with("diff_"))
            {
                flames.push(n);
            }
        }
    }
    flames.sort();
    let html = report_html(&report, &charts, &chart_notes, &flames);
    files.push(file(
        "report.html",
        html.into_bytes(),
        "self-contained report",
    ));

    let paths = write_files(&out_dir, &files).map_err(render_error)?;
    if let Some(t) = text_out {
        print!("{t}");
    }
    for n in &chart_notes {
        println!("note: {n}");
    }
    println!();
    for (f, p) in files.iter().zip(paths) {
        println!("wrote {} ({})", p.display(), f.description);
    }
    Ok(Outcome::Success)
}

fn export_files_if(
    bundle: &bundle::LoadedBundle,
    exports: &[ExportFormat],
) -> Result<Vec<RenderedFile>, CliError> {
    if exports.is_empty() {
        return Ok(Vec::new());
    }
    export_files(bundle, exports).map_err(render_error)
}
