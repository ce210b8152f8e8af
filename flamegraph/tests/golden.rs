//! Golden-file tests of every rendering (SVG flamegraphs, charts, tables,
//! report.html) from a synthetic bundle, and a check that every SVG and the
//! HTML parse as XML. Regenerate the golden files with
//! `BLESS=1 cargo test -p flamegraph --release --test golden`.

use std::path::{Path, PathBuf};

use bundle::synthetic::{exp1_run, sampled_profile};
use bundle::{read_bundle, BundleWriter, LoadedBundle, STACKS_FOLDED};
use flamegraph::bundle_flames::{bundle_flamegraphs, BundleFlameOptions, DiffMode};
use flamegraph::flame::Orientation;
use flamegraph::html::report_html;
use flamegraph::report::{build_report, to_csv_files, to_json, to_markdown, to_text};
use flamegraph::scaling::Model;
use flamegraph::study_figures::draw_study_charts;
use quick_xml::events::Event;
use quick_xml::Reader;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Write a synthetic bundle (with a sampled profile when `sampled`).
fn make_bundle(root: &Path, name: &str, sampled: bool, scale_find: u64) -> LoadedBundle {
    let dir = root.join(name);
    let mut run = exp1_run();
    let w = BundleWriter::create(&dir).unwrap();
    if sampled {
        let (mut f, mut info) = sampled_profile();
        if scale_find > 1 {
            let mut g = bundle::folded::FoldedStacks::new();
            for (s, wt) in f.iter() {
                let wt = if s.contains("find_available") {
                    wt / scale_find
                } else {
                    wt
                };
                g.add_joined(s.to_string(), wt);
            }
            f = g;
            info.total_weight = f.total_weight();
        }
        w.write_file(STACKS_FOLDED, f.to_text().as_bytes()).unwrap();
        run.profile = Some(info);
    }
    w.finish(&run).unwrap();
    read_bundle(&dir).unwrap()
}

/// Compare with the golden file, or write it under BLESS=1. Paths of the
/// temporary directory are replaced by `<DIR>` first.
fn check(name: &str, content: &str, tmp: &Path) {
    let content = content.replace(&tmp.display().to_string(), "<DIR>");
    let path = golden_dir().join(name);
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, &content).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with BLESS=1 to create it", path.display()));
    assert!(
        want == content,
        "{name} differs from {}; if the change is intended, rerun with BLESS=1",
        path.display()
    );
}

/// Parse a document as XML: every element closed and properly nested.
fn assert_xml(name: &str, text: &str) {
    let mut r = Reader::from_str(text);
    let mut depth = 0i64;
    let mut elements = 0;
    loop {
        match r.read_event() {
            Ok(Event::Start(_)) => {
                depth += 1;
                elements += 1;
            }
            Ok(Event::Empty(_)) => elements += 1,
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!(
                "{name}: not well-formed XML at byte {}: {e}",
                r.buffer_position()
            ),
        }
        assert!(depth >= 0, "{name}: unbalanced end tag");
    }
    assert_eq!(depth, 0, "{name}: unclosed elements");
    assert!(elements > 3, "{name}: suspiciously empty document");
}

#[test]
fn golden_flamegraphs_tables_charts_and_html() {
    let tmp = tempfile::tempdir().unwrap();
    let a = make_bundle(tmp.path(), "a", true, 1);
    let b = make_bundle(tmp.path(), "b", true, 8);
    let mut docs: Vec<(String, String)> = Vec::new();

    let cases: Vec<(BundleFlameOptions, &LoadedBundle)> = vec![
        (BundleFlameOptions::default(), &a),
        (
            BundleFlameOptions {
                orientation: Orientation::Icicle,
                ..BundleFlameOptions::default()
            },
            &a,
        ),
        (
            BundleFlameOptions {
                probes: true,
                ..BundleFlameOptions::default()
            },
            &a,
        ),
        (
            BundleFlameOptions {
                diff: DiffMode::Searches {
                    before: "linear".into(),
                    after: "maxgap".into(),
                },
                ..BundleFlameOptions::default()
            },
            &a,
        ),
        (
            BundleFlameOptions {
                diff: DiffMode::Bundle(Box::new(b.clone())),
                ..BundleFlameOptions::default()
            },
            &a,
        ),
    ];
    for (opts, bundle) in cases {
        for f in bundle_flamegraphs(bundle, &opts).unwrap() {
            let svg = String::from_utf8(f.bytes).unwrap();
            docs.push((f.name, svg));
        }
    }
    let names: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "flamegraph.svg",
            "icicle.svg",
            "probes_flamegraph.svg",
            "diff_linear_vs_maxgap_flamegraph.svg",
            "diff_flamegraph.svg"
        ]
    );
    // Guest frames are drawn in the guest (blue) hue family.
    let flame = &docs[0].1;
    assert!(flame.contains("set_pte_[g]"));
    assert!(
        flame.contains("event cycles:HG, 4920 samples"),
        "subtitle names event and samples"
    );

    let report = build_report(&a).unwrap();
    docs.push(("report.txt".into(), to_text(&report, 30)));
    docs.push(("report.md".into(), to_markdown(&report, 30)));
    docs.push(("report.json".into(), to_json(&report).unwrap()));
    for (name, csv) in to_csv_files(&report) {
        docs.push((name, csv));
    }
    let (charts, notes) = draw_study_charts(&a.run).unwrap();
    assert!(notes.is_empty(), "every figure has data: {notes:?}");
    assert!(charts.len() >= 4);
    for c in &charts {
        docs.push((format!("{}.svg", c.stem), c.svg.clone()));
    }
    let html = report_html(&report, &charts, &notes, &["flamegraph.svg".into()]);
    assert!(
        !html.contains("http://") || !html.contains("<script"),
        "no scripts"
    );
    assert!(!html.contains("src=\"http"), "no network resources");
    docs.push(("report.html".into(), html));

    for (name, text) in &docs {
        if name.ends_with(".svg") || name.ends_with(".html") {
            assert_xml(name, text);
        }
        check(name, text, tmp.path());
    }
}

#[test]
fn synthetic_main_job_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = make_bundle(tmp.path(), "a", false, 1);
    let report = build_report(&a).unwrap();
    let best = |quantity: &str, search: &str, mapping: &str, per_call: bool| {
        report
            .scaling
            .iter()
            .find(|v| {
                v.quantity == quantity
                    && v.search.as_deref() == Some(search)
                    && v.mapping == mapping
                    && v.x_label.starts_with("call") == per_call
                    && v.series.contains(" 4096B ")
            })
            .unwrap_or_else(|| panic!("no verdict for {quantity} {search} {mapping}"))
            .fit
            .best
    };
    for per_call in [true, false] {
        assert_eq!(
            best("find_available", "linear", "private", per_call),
            Model::Linear
        );
        assert_ne!(
            best("find_available", "maxgap", "private", per_call),
            Model::Linear
        );
    }
    assert_eq!(best("latency", "linear", "private", false), Model::Linear);
    assert_ne!(best("latency", "maxgap", "private", false), Model::Linear);
    for s in report.strategies.iter().filter(|s| s.mapping == "anon") {
        assert!((s.ratio - 1.0).abs() < 0.10, "anon within 10%: {s:?}");
    }
}
