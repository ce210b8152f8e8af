//! Exports of a bundle's profile: folded stacks, JSON, CSV, gzipped pprof,
//! speedscope JSON and the Firefox Profiler's processed format. The sampled
//! profile is exported when the bundle has one, else the stacks built from
//! the rdtsc probes (weights in TSC cycles); speedscope and Firefox exports
//! of a sampled profile also carry the probe stacks beside it, so the probe
//! sites (create_vma, find_available, get_pmas, map_as, ...) are named
//! frames in both.

use std::str::FromStr;

use bundle::LoadedBundle;
use serde::Serialize;

use crate::bundle_flames::RenderedFile;
use crate::error::{RenderError, Result};
pub use crate::export_source::{export_source, weight_unit, ExportSource};
use crate::firefox::to_firefox_json;
use crate::pprof::{to_pprof_gz, PprofMeta};
use crate::source::describe_run;
use crate::speedscope::to_speedscope_json;
use crate::table::Table;

/// One export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Folded,
    Json,
    Csv,
    Pprof,
    Speedscope,
    Firefox,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "folded" => Ok(ExportFormat::Folded),
            "json" => Ok(ExportFormat::Json),
            "csv" => Ok(ExportFormat::Csv),
            "pprof" => Ok(ExportFormat::Pprof),
            "speedscope" => Ok(ExportFormat::Speedscope),
            "firefox" => Ok(ExportFormat::Firefox),
            other => Err(format!(
                "unknown export format {other:?} (expected folded, json, csv, pprof, speedscope or firefox)"
            )),
        }
    }
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
/// `profile.json`, `profile.csv`, `profile.pb.gz`, `profile.speedscope.json`
/// and `profile.firefox.json`.
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
                    unit: src.unit.into(),
                    time_unix: b.run.created_unix,
                    comment: format!("sentryprof: {} | {}", src.origin, describe_run(&b.run)),
                };
                ("profile.pb.gz", to_pprof_gz(&src.stacks, &meta)?)
            }
            ExportFormat::Speedscope => {
                let name = format!("sentryprof: {}", describe_run(&b.run));
                ("profile.speedscope.json", to_speedscope_json(&src, &name)?)
            }
            ExportFormat::Firefox => {
                let name = format!("sentryprof: {}", describe_run(&b.run));
                let millis = b.run.created_unix.saturating_mul(1000);
                (
                    "profile.firefox.json",
                    to_firefox_json(&src, &name, millis)?,
                )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pprof::decode_pprof_gz;

    /// The pprof sample type's (type, unit) of the bundle's export.
    fn pprof_type(b: &LoadedBundle) -> (String, String) {
        let files = export_files(b, &[ExportFormat::Pprof]).unwrap();
        let p = decode_pprof_gz(&files[0].bytes).unwrap();
        let st = &p.sample_type[0];
        let s = |i: i64| p.string_table[i as usize].clone();
        (s(st.r#type), s(st.unit))
    }

    #[test]
    fn pprof_sample_types_carry_their_unit() {
        assert_eq!(weight_unit("cpu-clock"), "nanoseconds");
        assert_eq!(weight_unit("task-clock"), "nanoseconds");
        assert_eq!(weight_unit("cycles"), "count");
        assert_eq!(weight_unit("samples"), "count");
        let tmp = tempfile::tempdir().unwrap();
        let dir = bundle::synthetic::write_exp1_bundle(&tmp.path().join("b"), true).unwrap();
        let mut b = bundle::read_bundle(&dir).unwrap();
        assert_eq!(pprof_type(&b), ("cycles".into(), "count".into()));
        if let Some(p) = b.run.profile.as_mut() {
            p.event = "cpu-clock".into();
        }
        assert_eq!(pprof_type(&b), ("cpu-clock".into(), "nanoseconds".into()));
        let probes = bundle::synthetic::write_exp1_bundle(&tmp.path().join("p"), false).unwrap();
        let b = bundle::read_bundle(&probes).unwrap();
        assert_eq!(pprof_type(&b), ("cycles".into(), "count".into()));
    }
}
