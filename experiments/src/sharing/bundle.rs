//! Writing a sharing bundle: `run.json` (kind `sharing`), `sharing.json`
//! and the bar chart of sharing by mapping kind (`sharing.svg`), drawn by
//! the flamegraph crate's generic bar chart.

use std::path::{Path, PathBuf};

use bundle::{BundleKind, BundleWriter, Machine, RunJson, WorkloadInfo};
use collectors::sharing::report::{SharingReport, SHARING_JSON};
use flamegraph::charts::{bar_chart, BarChart};

use super::error::SharingSetupError;

/// Name of the chart in a sharing bundle.
pub const SHARING_SVG: &str = "sharing.svg";

/// The bar chart: for each mapping kind, its self-sharing, cross-sharing
/// and zero granules.
pub fn chart(report: &SharingReport) -> BarChart {
    let kinds = &report.by_kind;
    BarChart {
        title: format!(
            "Sharable memory by mapping kind ({} sources, {} B granules)",
            report.sources.len(),
            report.granularity
        ),
        y_label: format!("granules of {} B", report.granularity),
        categories: kinds.iter().map(|k| k.kind.name().to_string()).collect(),
        groups: vec![
            (
                "self-sharing".to_string(),
                kinds.iter().map(|k| k.self_sharing_pages as f64).collect(),
            ),
            (
                "cross sharing".to_string(),
                kinds.iter().map(|k| k.cross_sharing_pages as f64).collect(),
            ),
            (
                "zero".to_string(),
                kinds.iter().map(|k| k.zero_pages as f64).collect(),
            ),
        ],
        log_y: false,
    }
}

/// Write the bundle at `out`; returns its final path. A chart that cannot
/// be drawn is a note in `run.json`, not a lost analysis.
pub fn write_bundle(
    out: &Path,
    report: &SharingReport,
    created_unix: u64,
) -> Result<PathBuf, SharingSetupError> {
    let writer = BundleWriter::create(out)?;
    let json = serde_json::to_vec_pretty(report).map_err(SharingSetupError::Encode)?;
    writer.write_file(SHARING_JSON, &json)?;
    let mut run = RunJson::new(BundleKind::Sharing);
    run.command = std::env::args().collect();
    run.created_unix = created_unix;
    run.machine = Machine::current();
    run.workload = WorkloadInfo {
        name: "sharing".to_string(),
        params: serde_json::json!({
            "granularity": report.granularity,
            "sources": report.sources.iter().map(|s| s.label.clone()).collect::<Vec<_>>(),
        }),
    };
    run.files.push(SHARING_JSON.to_string());
    if report.by_kind.is_empty() {
        run.notes
            .push("no granules scanned: no chart drawn".to_string());
    } else {
        match bar_chart(&chart(report)) {
            Ok(svg) => {
                writer.write_file(SHARING_SVG, svg.as_bytes())?;
                run.files.push(SHARING_SVG.to_string());
            }
            Err(e) => run.notes.push(format!("{SHARING_SVG} not drawn: {e}")),
        }
    }
    run.notes.extend(report.notes.iter().cloned());
    Ok(writer.finish(&run)?)
}
