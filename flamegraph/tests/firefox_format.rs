//! The Firefox Profiler export checked against the processed profile
//! format (version 55, as `fxprof-processed-profile` writes it): the
//! invariants the profiler's loader relies on (every column of a table as
//! long as its `length`, stack prefixes pointing backwards, indices in
//! range, categories known), and the stacks read back from the tables equal
//! the exported folded stacks, weight for weight.
//!
//! The Firefox Profiler app itself cannot be loaded here: it is not
//! published on npm (`npm view firefox-profiler` finds nothing,
//! `@firefox-devtools/profiler` is a 404), and nothing else can be fetched.

use bundle::folded::FoldedStacks;
use flamegraph::export::{export_files, export_source, ExportFormat};
use serde_json::Value;

fn column_lengths_match(table: &Value, what: &str) -> usize {
    let len = table["length"]
        .as_u64()
        .unwrap_or_else(|| panic!("{what}: no length")) as usize;
    for (key, col) in table.as_object().unwrap() {
        if let Some(a) = col.as_array() {
            assert_eq!(
                a.len(),
                len,
                "{what}.{key} has {} entries, length is {len}",
                a.len()
            );
        }
    }
    len
}

fn index(v: &Value) -> usize {
    v.as_u64().expect("an index") as usize
}

/// The folded stacks a thread holds, read back from its tables.
fn thread_stacks(t: &Value, categories: usize) -> FoldedStacks {
    let strings: Vec<&str> = t["stringArray"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let funcs = column_lengths_match(&t["funcTable"], "funcTable");
    let frames = column_lengths_match(&t["frameTable"], "frameTable");
    let stacks = column_lengths_match(&t["stackTable"], "stackTable");
    let samples = column_lengths_match(&t["samples"], "samples");
    assert_eq!(t["samples"]["weightType"], "samples");
    for f in 0..frames {
        assert!(index(&t["frameTable"]["func"][f]) < funcs);
        assert!(index(&t["frameTable"]["category"][f]) < categories);
    }
    let func_name = |func: usize| strings[index(&t["funcTable"]["name"][func])];
    let mut out = FoldedStacks::new();
    for s in 0..samples {
        assert!(t["samples"]["timeDeltas"][s].as_f64().unwrap() >= 0.0);
        let mut names = Vec::new();
        let mut at = Some(index(&t["samples"]["stack"][s]));
        while let Some(i) = at {
            assert!(i < stacks);
            let frame = index(&t["stackTable"]["frame"][i]);
            assert!(frame < frames);
            names.push(func_name(index(&t["frameTable"]["func"][frame])));
            at = t["stackTable"]["prefix"][i].as_u64().map(|p| {
                assert!((p as usize) < i, "a stack's prefix comes before it");
                p as usize
            });
        }
        names.reverse();
        let w = t["samples"]["weight"][s].as_i64().unwrap();
        assert!(w > 0);
        out.add_frames(&names, w as u64);
    }
    out
}

#[test]
fn firefox_export_follows_the_processed_format_and_keeps_the_stacks() {
    let tmp = tempfile::tempdir().unwrap();
    for sampled in [true, false] {
        let dir =
            bundle::synthetic::write_exp1_bundle(&tmp.path().join(format!("b{sampled}")), sampled)
                .unwrap();
        let b = bundle::read_bundle(&dir).unwrap();
        let files = export_files(&b, &[ExportFormat::Firefox]).unwrap();
        assert_eq!(files[0].name, "profile.firefox.json");
        let j: Value = serde_json::from_slice(&files[0].bytes).unwrap();
        assert_eq!(j["meta"]["preprocessedProfileVersion"], 55);
        let categories = j["meta"]["categories"].as_array().unwrap().len();
        let threads = j["threads"].as_array().unwrap();
        let src = export_source(&b).unwrap();
        assert_eq!(threads.len(), if src.probes.is_some() { 2 } else { 1 });
        assert_eq!(
            thread_stacks(&threads[0], categories),
            src.stacks,
            "sampled={sampled}"
        );
        if let Some(probes) = &src.probes {
            // Probe cycles in the count base (the synthetic profile counts
            // cycles:HG events): kept as cycles.
            assert_eq!(&thread_stacks(&threads[1], categories), probes);
        }
        let names: Vec<&str> = threads
            .iter()
            .flat_map(|t| t["stringArray"].as_array().unwrap())
            .filter_map(|s| s.as_str())
            .collect();
        for site in ["create_vma", "find_available", "get_pmas", "map_as"] {
            assert!(
                names.contains(&site),
                "probe site {site} is a named frame (sampled={sampled})"
            );
        }
    }
}
