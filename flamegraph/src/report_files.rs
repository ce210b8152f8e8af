//! The files of `sentryprof report`, rendered in memory: the tables in the
//! formats asked for, the study's charts, the exports and a self-contained
//! report.html linking the flamegraphs already beside it. Nothing is
//! written here; the caller writes [`ReportFiles::files`] (each atomically,
//! [`crate::bundle_flames::write_files`]) once nothing can fail any more
//! but the writes.

use std::path::Path;

use bundle::LoadedBundle;

use crate::bundle_flames::RenderedFile;
use crate::create_vma_figure::create_vma_flames;
use crate::export::{export_files, ExportFormat};
use crate::html::report_html;
use crate::report::{build_report, to_csv_files, to_json, to_markdown, to_text};
use crate::study_figures::draw_study_charts;
use crate::Result;

/// A format of the report's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// report.txt (and printed).
    Text,
    /// functions.csv, sites.csv, scaling.csv, strategies.csv.
    Csv,
    /// report.md.
    Markdown,
    /// report.json.
    Json,
}

impl std::str::FromStr for TableFormat {
    type Err = String;
    /// `text` (`txt`), `csv`, `md` (`markdown`) or `json`; the error is the
    /// `--format` flag's one line.
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim() {
            "text" | "txt" => Ok(TableFormat::Text),
            "csv" => Ok(TableFormat::Csv),
            "md" | "markdown" => Ok(TableFormat::Markdown),
            "json" => Ok(TableFormat::Json),
            other => Err(format!(
                "--format {other:?}: expected text, csv, md or json"
            )),
        }
    }
}

/// What to render.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// Table formats, in order.
    pub formats: Vec<TableFormat>,
    /// Rows of the function table in text, Markdown and HTML (0: all).
    pub top: usize,
    /// Profile exports.
    pub exports: Vec<ExportFormat>,
}

impl ReportOptions {
    /// The options of `--format` and `--export` words as given.
    ///
    /// Errors: a word naming no table format or export format.
    pub fn from_words(
        formats: &[String],
        exports: &[String],
        top: usize,
    ) -> std::result::Result<Self, String> {
        let formats = formats
            .iter()
            .map(|f| f.trim().parse())
            .collect::<std::result::Result<Vec<TableFormat>, String>>()?;
        let exports = exports
            .iter()
            .map(|f| f.trim().parse().map_err(|e| format!("--export: {e}")))
            .collect::<std::result::Result<Vec<ExportFormat>, String>>()?;
        Ok(ReportOptions {
            formats,
            top,
            exports,
        })
    }
}

/// The rendered report.
#[derive(Debug, Clone)]
pub struct ReportFiles {
    /// Every file, report.html last.
    pub files: Vec<RenderedFile>,
    /// The text tables, when [`TableFormat::Text`] was asked for.
    pub text: Option<String>,
    /// Why a chart was not drawn.
    pub chart_notes: Vec<String>,
}

fn file(name: &str, bytes: Vec<u8>, description: &str) -> RenderedFile {
    RenderedFile {
        name: name.to_string(),
        bytes,
        description: description.to_string(),
    }
}

/// The flamegraph SVGs already in `dir`, sorted, for report.html to link.
fn flames_in(dir: &Path) -> Vec<String> {
    let mut flames: Vec<String> = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
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
    flames
}

/// Render the report of `bundle` that goes into `out_dir`.
pub fn render_report(
    bundle: &LoadedBundle,
    options: &ReportOptions,
    out_dir: &Path,
) -> Result<ReportFiles> {
    let report = build_report(bundle)?;
    let (charts, chart_notes) = draw_study_charts(&bundle.run)?;
    let mut files = Vec::new();
    let mut text = None;
    for f in &options.formats {
        match f {
            TableFormat::Text => {
                let t = to_text(&report, options.top);
                files.push(file("report.txt", t.clone().into_bytes(), "tables as text"));
                text = Some(t);
            }
            TableFormat::Csv => {
                for (name, csv) in to_csv_files(&report) {
                    files.push(file(&name, csv.into_bytes(), "table as CSV"));
                }
            }
            TableFormat::Markdown => files.push(file(
                "report.md",
                to_markdown(&report, options.top).into_bytes(),
                "tables as Markdown",
            )),
            TableFormat::Json => files.push(file(
                "report.json",
                to_json(&report)?.into_bytes(),
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
    if !options.exports.is_empty() {
        files.extend(export_files(bundle, &options.exports)?);
    }
    // Figures 4 and 5 are flamegraphs (with scripts): written, and linked
    // from the page with the flamegraphs already beside the report.
    let mut flames = flames_in(out_dir);
    for c in create_vma_flames(bundle)? {
        let name = format!("{}.svg", c.stem);
        if !flames.contains(&name) {
            flames.push(name.clone());
        }
        files.push(file(&name, c.svg.into_bytes(), &c.title));
    }
    flames.sort();
    let html = report_html(&report, &charts, &chart_notes, &flames);
    files.push(file(
        "report.html",
        html.into_bytes(),
        "self-contained report",
    ));
    Ok(ReportFiles {
        files,
        text,
        chart_notes,
    })
}
