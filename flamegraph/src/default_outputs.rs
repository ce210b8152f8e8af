//! The set of files a bundle gets by default: what `sentryprof run` renders
//! into every bundle it writes, so the main job's bundle holds its SVGs and
//! report without a second command.

use bundle::LoadedBundle;

use crate::bundle_flames::{bundle_flamegraphs, BundleFlameOptions, DiffMode, RenderedFile};
use crate::create_vma_figure::create_vma_flames;
use crate::error::Result;
use crate::html::report_html;
use crate::report::{build_report, to_text};
use crate::source::profile_rel;
use crate::study_figures::draw_study_charts;

/// Rows of the function table in the default text and HTML report.
const DEFAULT_TOP: usize = 30;

/// Files rendered for a bundle, and notes on what could not be drawn.
#[derive(Debug, Default)]
pub struct DefaultOutputs {
    pub files: Vec<RenderedFile>,
    /// One line each: a flamegraph or chart that was left out, and why.
    pub notes: Vec<String>,
}

/// Render the default outputs of a bundle (read from `b.dir`, which may be a
/// bundle still being staged): the flamegraph of the sampled profile when
/// there is one, the flamegraph of the rdtsc probes, the linear against
/// max-gap differential flamegraph when both strategies were run, the
/// study's charts, `report.txt` and a self-contained `report.html`.
///
/// A part that cannot be drawn (for example no probe figures in a bundle of
/// native points only) becomes a note; only the report itself can fail.
pub fn default_outputs(b: &LoadedBundle) -> Result<DefaultOutputs> {
    let mut out = DefaultOutputs::default();
    let flame =
        |opts: BundleFlameOptions, what: &str, out: &mut DefaultOutputs| match bundle_flamegraphs(
            b, &opts,
        ) {
            Ok(files) => out.files.extend(files),
            Err(e) => out.notes.push(format!("{what} not drawn: {e}")),
        };
    let sampled = profile_rel(b).is_some();
    if sampled {
        flame(
            BundleFlameOptions::default(),
            "sampled flamegraph",
            &mut out,
        );
    }
    let has_probe_sites = b.run.points.iter().any(|p| !p.sites.is_empty());
    if has_probe_sites {
        let opts = BundleFlameOptions {
            probes: true,
            ..BundleFlameOptions::default()
        };
        flame(opts, "probe flamegraph", &mut out);
    }
    let has = |s: &str| b.run.points.iter().any(|p| p.search.as_deref() == Some(s));
    if has("linear") && has("maxgap") {
        let opts = BundleFlameOptions {
            diff: DiffMode::Searches {
                before: "linear".to_string(),
                after: "maxgap".to_string(),
            },
            ..BundleFlameOptions::default()
        };
        flame(opts, "linear vs max-gap differential flamegraph", &mut out);
    }

    let report = build_report(b)?;
    let (charts, chart_notes) = draw_study_charts(&b.run)?;
    // Figures 4 and 5: flamegraphs (with scripts), linked, not inlined.
    for c in create_vma_flames(b)? {
        out.files.push(RenderedFile {
            name: format!("{}.svg", c.stem),
            bytes: c.svg.into_bytes(),
            description: c.title,
        });
    }
    let flame_names: Vec<String> = out.files.iter().map(|f| f.name.clone()).collect();
    for c in &charts {
        out.files.push(RenderedFile {
            name: format!("{}.svg", c.stem),
            bytes: c.svg.clone().into_bytes(),
            description: c.title.clone(),
        });
    }
    out.files.push(RenderedFile {
        name: "report.txt".to_string(),
        bytes: to_text(&report, DEFAULT_TOP).into_bytes(),
        description: "tables as text".to_string(),
    });
    out.files.push(RenderedFile {
        name: "report.html".to_string(),
        bytes: report_html(&report, &charts, &chart_notes, &flame_names).into_bytes(),
        description: "self-contained report".to_string(),
    });
    out.notes.extend(chart_notes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::synthetic;

    #[test]
    fn a_probe_bundle_gets_flames_charts_and_report() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        let w = bundle::BundleWriter::create(&dir).unwrap();
        w.finish(&synthetic::exp1_run()).unwrap();
        let b = bundle::read_bundle(&dir).unwrap();
        let out = default_outputs(&b).unwrap();
        let names: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
        assert!(names.iter().any(|n| n.starts_with("probes_")), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("diff_linear_vs_maxgap")),
            "{names:?}"
        );
        assert!(names.contains(&"report.html") && names.contains(&"report.txt"));
        assert!(names.iter().filter(|n| n.ends_with(".svg")).count() >= 3);
        assert!(out.files.iter().all(|f| !f.bytes.is_empty()));
    }

    #[test]
    fn figures_1_4_5_appear_only_with_their_data() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("b");
        let w = bundle::BundleWriter::create(&dir).unwrap();
        let mut run = synthetic::exp1_run();
        // Two sampled points: the share of find_available grows 40% -> 80%.
        for (k, (it, fa)) in [(1_000u64, 40u64), (10_000, 80)].into_iter().enumerate() {
            let rel = format!("points/{k:03}.folded");
            let text = format!(
                "main;mmap;create_vma;find_available;walk {fa}\n\
                 main;mmap;create_vma;insert {}\nmain;mmap;get_pmas 50\n",
                100 - fa
            );
            w.write_file(&rel, text.as_bytes()).unwrap();
            let p = run
                .points
                .iter_mut()
                .find(|p| p.iterations == it && p.search.as_deref() == Some("linear"))
                .unwrap();
            p.folded = Some(rel);
        }
        let mut m = synthetic::exp1::point("maxgap", "anon", 5_000, 4096, 3);
        m.workload = "malloc".into();
        m.platform = "systrap".into();
        run.points.push(m);
        w.finish(&run).unwrap();
        let b = bundle::read_bundle(&dir).unwrap();
        let out = default_outputs(&b).unwrap();
        let names: Vec<&str> = out.files.iter().map(|f| f.name.as_str()).collect();
        assert!(names.contains(&"malloc_throughput.svg"), "{names:?}");
        let flames: Vec<&&str> = names
            .iter()
            .filter(|n| n.starts_with("create_vma_flamegraph_"))
            .collect();
        assert_eq!(flames.len(), 2, "{names:?}");
        let text = out.files.iter().find(|f| f.name == "report.txt").unwrap();
        let text = String::from_utf8_lossy(&text.bytes);
        assert!(text.contains("40.0%") && text.contains("80.0%"), "{text}");
        assert!(text.contains("systrap/maxgap ops/s"), "{text}");
        assert!(text.contains("no touch malloc points"), "{text}");
        let svg = out.files.iter().find(|f| f.name == *flames[1]).unwrap();
        assert!(String::from_utf8_lossy(&svg.bytes).contains("find_available 80.0% of create_vma"));
    }
}
