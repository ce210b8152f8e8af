//! Exports of a bundle's profile: folded stacks, JSON, CSV and gzipped pprof.
//! The sampled profile is exported when the bundle has one, else the stacks
//! built from the rdtsc probes (weights in TSC cycles).

use std::str::FromStr;

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, RUN_JSON};
use serde::Serialize;

use crate::bundle_flames::RenderedFile;
use crate::error::{RenderError, Result};
use crate::pprof::{to_pprof_gz, PprofMeta};
use crate::probe_flame::probe_folded_run;
use crate::source::{describe_run, load_profile};
use crate::table::Table;

/// One export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Folded,
    Json,
    Csv,
    Pprof,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "folded" => Ok(ExportFormat::Folded),
            "json" => Ok(ExportFormat::Json),
            "csv" => Ok(ExportFormat::Csv),
            "pprof" => Ok(ExportFormat::Pprof),
            other => Err(format!(
                "unknown export format {other:?} (expected folded, json, csv or pprof)"
            )),
        }
    }
}

/// The stacks to export and what their weights mean.
#[derive(Debug, Clone)]
pub struct ExportSource {
    pub stacks: FoldedStacks,
    /// "cycles", "samples", ...
    pub value_type: String,
    /// Where the stacks come from, in words.
    pub origin: String,
}

/// The bundle's sampled profile, else its probe stacks.
pub fn export_source(b: &LoadedBundle) -> Result<ExportSource> {
    if let Some(p) = load_profile(b)? {
        let value_type = match &p.info {
            Some(i) if i.total_weight > 0 && i.total_weight != i.samples => {
                i.event.split(':').next().unwrap_or("weight").to_string()
            }
            _ => "samples".to_string(),
        };
        let origin = match &p.info {
            Some(i) => format!("sampled profile, event {}", i.event),
            None => "sampled profile".to_string(),
        };
        return Ok(ExportSource {
            stacks: p.stacks,
            value_type,
            origin,
        });
    }
    let stacks = probe_folded_run(&b.run);
    if stacks.is_empty() {
        return Err(RenderError::EmptyProfile {
            source_name: b.dir.join(RUN_JSON).display().to_string(),
            why: "no sampled profile and no rdtsc probe figures to export".into(),
        });
    }
    Ok(ExportSource {
        stacks,
        value_type: "cycles".into(),
        origin: "rdtsc probes (exact TSC cycles)".into(),
    })
}

#[derive(Serialize)]
struct JsonStack<'a> {
    frames: Vec<&'a str>,
    weight: u64,
}

#[derive(Serialize)]
struct JsonExport<'a> {
    origin: &'a str,
    value_type: &'a str,
    total_weight: u64,
    stacks: Vec<JsonStack<'a>>,
}

/// Render the asked formats as files named `profile.folded`,
/// `profile.json`, `profile.csv`, `profile.pb.gz`.
pub fn export_files(b: &LoadedBundle, formats: &[ExportFormat]) -> Result<Vec<RenderedFile>> {
    let src = export_source(b)?;
    let mut out = Vec::new();
    for f in formats {
        let (name, bytes) = match f {
            ExportFormat::Folded => ("profile.folded", src.stacks.to_text().into_bytes()),
            ExportFormat::Json => {
                let j = JsonExport {
                    origin: &src.origin,
                    value_type: &src.value_type,
                    total_weight: src.stacks.total_weight(),
                    stacks: src
                        .stacks
                        .iter()
                        .map(|(s, w)| JsonStack {
                            frames: s.split(';').collect(),
                            weight: w,
                        })
                        .collect(),
                };
                let text = serde_json::to_vec_pretty(&j)
                    .map_err(|e| RenderError::InvalidOption(format!("JSON export: {e}")))?;
                ("profile.json", text)
            }
            ExportFormat::Csv => {
                let mut t = Table::new(["stack", &src.value_type]);
                for (s, w) in src.stacks.iter() {
                    t.push(vec![s.to_string(), w.to_string()]);
                }
                ("profile.csv", t.to_csv().into_bytes())
            }
            ExportFormat::Pprof => {
                let meta = PprofMeta {
                    value_type: src.value_type.clone(),
                    unit: "count".into(),
                    time_unix: b.run.created_unix,
                    comment: format!("sentryprof: {} | {}", src.origin, describe_run(&b.run)),
                };
                ("profile.pb.gz", to_pprof_gz(&src.stacks, &meta)?)
            }
        };
        out.push(RenderedFile {
            name: name.to_string(),
            bytes,
            description: format!("{} ({})", name, src.origin),
        });
    }
    Ok(out)
}
