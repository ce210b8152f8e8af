//! `sentryprof report`: the tables and verdicts of a bundle, rendered as
//! aligned text, CSV, Markdown or JSON.

use std::collections::BTreeMap;

use bundle::sites::{probe_cost_note, site_rows, SiteRow, SITE_COLUMNS};
use bundle::{LoadedBundle, Point, RunJson, RUN_JSON};
use serde::Serialize;

use crate::boundary_figure::{boundary_rows, boundary_table, BoundaryRow, BOUNDARY_TITLE};
use crate::boundary_split::{point_splits, split_table, PointSplit, SPLIT_TITLE};
use crate::create_vma_figure::{create_vma_shares, CreateVmaShare};
use crate::error::{RenderError, Result};
use crate::functions::{function_table, FunctionTable};
use crate::malloc_figure::{malloc_rows, malloc_table, missing_touch_note, MallocRow};
use crate::scaling::{fmt_num, verdicts, Model, SeriesVerdict};
use crate::site_cost::{site_cost_rows, site_cost_table, SiteCostRow};
use crate::source::{describe_event, describe_run, load_profile};
use crate::table::Table;

/// Median latency of one configuration under two search strategies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyRatio {
    /// The point's label without its search strategy.
    pub config: String,
    pub mapping: String,
    pub linear_ns: f64,
    pub maxgap_ns: f64,
    /// `linear_ns / maxgap_ns`.
    pub ratio: f64,
}

/// Everything `sentryprof report` shows about a bundle.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The bundle directory.
    pub bundle: String,
    /// What was run and where.
    pub description: String,
    /// "event cycles:HG, N samples", when sampled.
    pub event: Option<String>,
    pub tsc_hz: u64,
    /// Probe cost and whether it was subtracted.
    pub probe_note: String,
    pub probe_overhead_cycles: f64,
    pub probe_overhead_subtracted: bool,
    /// Per-function table of the sampled profile, if any.
    pub functions: Option<FunctionTable>,
    pub sites: Vec<SiteRow>,
    pub scaling: Vec<SeriesVerdict>,
    pub strategies: Vec<StrategyRatio>,
    /// Points that could not be measured.
    pub failures: Vec<String>,
    /// Notes from the run and from the report (skipped parts).
    pub notes: Vec<String>,
    /// Figure 1: malloc throughput per platform (malloc bundles only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub malloc: Vec<MallocRow>,
    /// Figures 4 and 5: findAvailable's share of createVMA per sampled point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub create_vma: Vec<CreateVmaShare>,
    /// Figure 9: mean and median cost per call against mapping size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub site_costs: Vec<SiteCostRow>,
    /// Per kvm point, the guest's share of the sampled time by the VMM
    /// guest sampler beside the same share by rdtsc.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guest_shares: Vec<String>,
    /// One stack across the boundary: per sampled kvm/ptrace/systrap point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub boundary: Vec<BoundaryRow>,
    /// Guest / exit / sentry per point whose stacks cross the boundary.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub splits: Vec<PointSplit>,
}

/// Linear against max-gap for every configuration measured with both.
pub fn strategy_ratios(run: &RunJson) -> Vec<StrategyRatio> {
    let mut by: BTreeMap<String, (Option<&Point>, Option<&Point>)> = BTreeMap::new();
    for p in &run.points {
        let e = by.entry(p.label_without_search()).or_default();
        match p.search.as_deref() {
            Some("linear") => e.0 = Some(p),
            Some("maxgap") => e.1 = Some(p),
            _ => {}
        }
    }
    by.into_iter()
        .filter_map(|(config, pair)| match pair {
            (Some(l), Some(m)) if m.latency_ns.median > 0.0 => Some(StrategyRatio {
                config,
                mapping: l.mapping.clone(),
                linear_ns: l.latency_ns.median,
                maxgap_ns: m.latency_ns.median,
                ratio: l.latency_ns.median / m.latency_ns.median,
            }),
            _ => None,
        })
        .collect()
}

/// Build the report of a bundle.
///
/// Errors: a bundle with neither points nor a sampled profile (an empty
/// profile, named by its run.json); a missing or malformed folded file.
pub fn build_report(b: &LoadedBundle) -> Result<Report> {
    let profile = load_profile(b)?;
    if profile.is_none() && b.run.points.is_empty() {
        return Err(RenderError::EmptyProfile {
            source_name: b.dir.join(RUN_JSON).display().to_string(),
            why: "no measured points and no sampled profile".into(),
        });
    }
    let run = &b.run;
    let functions = profile
        .as_ref()
        .map(|p| function_table(&p.stacks, p.info.as_ref()));
    let event = profile
        .as_ref()
        .map(|p| describe_event(p.info.as_ref(), p.stacks.total_weight()));
    let mut notes = run.notes.clone();
    if profile.is_none() {
        notes.push("no sampled profile in this bundle: no per-function table".into());
    }
    let malloc = malloc_rows(run);
    notes.extend(missing_touch_note(&malloc));
    let scaling = verdicts(run);
    if scaling.is_empty() && !run.points.is_empty() {
        notes.push("no scaling verdict: needs a per-call series or at least three iteration counts of one configuration".into());
    }
    Ok(Report {
        bundle: b.dir.display().to_string(),
        description: describe_run(run),
        event,
        tsc_hz: run.tsc_hz,
        probe_note: probe_cost_note(run),
        probe_overhead_cycles: run.probe_overhead_cycles,
        probe_overhead_subtracted: run.probe_overhead_subtracted,
        functions,
        sites: site_rows(run),
        scaling,
        strategies: strategy_ratios(run),
        failures: run
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.label(), f.error))
            .collect(),
        notes,
        malloc,
        create_vma: create_vma_shares(b)?,
        site_costs: site_cost_rows(run),
        guest_shares: crate::run_tables::guest_share_lines(&run.points),
        boundary: boundary_rows(b)?,
        splits: point_splits(b)?,
    })
}

fn pct(v: f64) -> String {
    format!("{:.2}%", v * 100.0)
}

/// The report's tables, each with a title. `top` limits the function table
/// (0 = all rows).
pub fn tables(r: &Report, top: usize) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    if let Some(f) = &r.functions {
        let unit = &f.weight_unit;
        let samples_h = if f.samples_exact {
            "samples"
        } else {
            "samples (est.)"
        };
        let mut t = Table::new([
            "function".to_string(),
            format!("self {unit}"),
            "self %".into(),
            format!("total {unit}"),
            "total %".into(),
            format!("self {samples_h}"),
            format!("total {samples_h}"),
        ]);
        let n = if top == 0 {
            f.rows.len()
        } else {
            top.min(f.rows.len())
        };
        for row in &f.rows[..n] {
            t.push(vec![
                row.name.clone(),
                row.self_weight.to_string(),
                pct(row.self_share),
                row.total_weight.to_string(),
                pct(row.total_share),
                row.self_samples.to_string(),
                row.total_samples.to_string(),
            ]);
        }
        let more = if n < f.rows.len() {
            format!(" (top {n} of {} by self)", f.rows.len())
        } else {
            String::new()
        };
        out.push((format!("Functions from samples, {unit}{more}"), t));
    }
    if !r.sites.is_empty() {
        let mut t = Table::new(
            std::iter::once("point")
                .chain(SITE_COLUMNS)
                .chain(["% of mmap"]),
        );
        for s in &r.sites {
            t.push(vec![
                s.point_label.clone(),
                s.site.clone(),
                s.calls.to_string(),
                format!("{:.0}", s.median_cycles),
                format!("{:.0}", s.p90_cycles),
                format!("{:.0}", s.p99_cycles),
                format!("{:.0}", s.max_cycles),
                s.share_text(2),
            ]);
        }
        out.push((format!("Probe sites (TSC cycles; {})", r.probe_note), t));
    }
    if !r.scaling.is_empty() {
        let mut t = Table::new([
            "quantity", "series", "x", "n", "best fit", "slope", "R² lin", "R² log", "verdict",
        ]);
        for v in &r.scaling {
            let f = &v.fit;
            let slope = match f.best {
                Model::Constant => format!("{} {}", fmt_num(f.mean_y), v.y_unit),
                Model::Linear => format!("{} {}/mapping", fmt_num(f.linear.slope), v.y_unit),
                Model::Logarithmic => format!(
                    "{} {}/doubling",
                    fmt_num(f.logarithmic.slope * std::f64::consts::LN_2),
                    v.y_unit
                ),
            };
            let verdict = if f.best == Model::Linear {
                "linear"
            } else {
                "not linear"
            };
            t.push(vec![
                v.quantity.clone(),
                v.series.clone(),
                v.x_label.clone(),
                f.n.to_string(),
                f.best.name().to_string(),
                slope,
                format!("{:.3}", f.linear.r2),
                format!("{:.3}", f.logarithmic.r2),
                verdict.to_string(),
            ]);
        }
        out.push((
            "Scaling verdicts (least squares; constant/log/linear chosen by AIC, see docs/render.md)".to_string(),
            t,
        ));
    }
    if !r.strategies.is_empty() {
        let mut t = Table::new(["configuration", "linear ns", "maxgap ns", "linear/maxgap"]);
        for s in &r.strategies {
            t.push(vec![
                s.config.clone(),
                format!("{:.0}", s.linear_ns),
                format!("{:.0}", s.maxgap_ns),
                format!("{:.3}", s.ratio),
            ]);
        }
        out.push((
            "Linear gap walk against max-gap search (median latency per mmap)".into(),
            t,
        ));
    }
    out.extend(figure_tables(r));
    out
}

/// Titles of the figure tables, which also name their CSV files.
const FIG1_TITLE: &str =
    "Figure 1: malloc throughput by platform (nofree; calls per second = 1e9 / median ns per call)";
const FIG45_TITLE: &str =
    "Figures 4 and 5: findAvailable's share of createVMA (sampled stacks under create_vma)";
const FIG9_TITLE: &str = "Figure 9: cost per call vs mapping size (TSC cycles; mean as the study plotted, median beside)";

/// The tables of the study's figures, each only when the bundle has its data.
fn figure_tables(r: &Report) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    if !r.malloc.is_empty() {
        out.push((FIG1_TITLE.to_string(), malloc_table(&r.malloc)));
    }
    if !r.create_vma.is_empty() {
        let mut t = Table::new([
            "point",
            "mappings",
            "search",
            "samples under create_vma",
            "find_available share",
        ]);
        for s in &r.create_vma {
            t.push(vec![
                s.point.clone(),
                s.mappings.to_string(),
                s.search.clone(),
                s.samples.to_string(),
                format!("{:.1}%", s.share * 100.0),
            ]);
        }
        out.push((FIG45_TITLE.to_string(), t));
    }
    if !r.site_costs.is_empty() {
        out.push((FIG9_TITLE.to_string(), site_cost_table(&r.site_costs)));
    }
    if !r.boundary.is_empty() {
        out.push((BOUNDARY_TITLE.to_string(), boundary_table(&r.boundary)));
    }
    if !r.splits.is_empty() {
        out.push((SPLIT_TITLE.to_string(), split_table(&r.splits)));
    }
    out
}

/// The lines above the tables (bundle, run, event, TSC, probe cost), shared
/// by the text, Markdown and HTML reports.
pub(crate) fn header_lines(r: &Report) -> Vec<String> {
    let mut v = vec![format!("bundle: {}", r.bundle), r.description.clone()];
    if let Some(e) = &r.event {
        v.push(e.clone());
    }
    if r.tsc_hz > 0 {
        v.push(format!("TSC {:.3} GHz", r.tsc_hz as f64 / 1e9));
    }
    v.push(r.probe_note.clone());
    v.extend(r.guest_shares.iter().cloned());
    v
}

/// Aligned text for a terminal.
pub fn to_text(r: &Report, top: usize) -> String {
    let mut s = String::new();
    for l in header_lines(r) {
        s.push_str(&l);
        s.push('\n');
    }
    for (title, t) in tables(r, top) {
        s.push('\n');
        s.push_str(&title);
        s.push('\n');
        s.push_str(&t.to_text());
    }
    for f in &r.failures {
        s.push_str(&format!("\nfailed point: {f}"));
    }
    if !r.notes.is_empty() {
        s.push('\n');
        for n in &r.notes {
            s.push_str(&format!("note: {n}\n"));
        }
    }
    s
}

/// Markdown document.
pub fn to_markdown(r: &Report, top: usize) -> String {
    let mut s = String::from("# sentryprof report\n\n");
    for l in header_lines(r) {
        s.push_str(&format!("- {}\n", l.replace('|', "\\|")));
    }
    for (title, t) in tables(r, top) {
        s.push_str(&format!("\n## {title}\n\n"));
        s.push_str(&t.to_markdown());
    }
    for f in &r.failures {
        s.push_str(&format!("\n- failed point: {f}"));
    }
    for n in &r.notes {
        s.push_str(&format!("\n> note: {n}\n"));
    }
    s
}

/// CSV files: `(file name, content)` for each table.
pub fn to_csv_files(r: &Report) -> Vec<(String, String)> {
    tables(r, 0)
        .into_iter()
        .map(|(title, t)| {
            let name = if title == FIG1_TITLE {
                "malloc.csv"
            } else if title == FIG45_TITLE {
                "create_vma_share.csv"
            } else if title == FIG9_TITLE {
                "site_cost.csv"
            } else if title == BOUNDARY_TITLE {
                "boundary.csv"
            } else if title == SPLIT_TITLE {
                "guest_exit_sentry.csv"
            } else if title.starts_with("Functions") {
                "functions.csv"
            } else if title.starts_with("Probe") {
                "sites.csv"
            } else if title.starts_with("Scaling") {
                "scaling.csv"
            } else {
                "strategies.csv"
            };
            (name.to_string(), t.to_csv())
        })
        .collect()
}

/// The whole report as pretty JSON.
pub fn to_json(r: &Report) -> Result<String> {
    serde_json::to_string_pretty(r)
        .map_err(|e| RenderError::InvalidOption(format!("report as JSON: {e}")))
}
