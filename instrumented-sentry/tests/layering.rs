//! The crate's layers import downward only.
//!
//! Every file under `src/` gets the layer of its top-level module (below).
//! Every `crate::…` path in it (use lines, inline paths, doc links) and every
//! `super::…` path is resolved to the module it names; a path into a higher
//! layer fails the test, naming the file, the line and both layers.
//!
//! File-level import cycles (within a layer, the only place one can close)
//! are checked for every crate of the workspace by
//! `cli/tests/import_graph.rs`, with the `impl` splits it allows.

use std::path::{Path, PathBuf};

/// Layers, bottom first: a module may use its own layer and those below.
const LAYERS: &[(&str, u32)] = &[
    ("addr", 0),
    ("segment", 0),
    ("probes", 0),
    ("host", 0),
    ("platform", 1),
    ("mm", 2),
    ("workload", 3),
    ("runners", 4),
];

fn layer_of(top: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == top).map(|&(_, l)| l)
}

/// A source file: its path under `src/`, module path and text.
struct SourceFile {
    rel: String,
    module: Vec<String>,
    text: String,
}

/// A path found in a file, resolved to module segments from the crate root.
struct Reference {
    line: usize,
    path: Vec<String>,
}

fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_string());
    }
    parts
}

fn collect_files(dir: &Path, root: &Path, out: &mut Vec<SourceFile>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read src dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).expect("under src");
            out.push(SourceFile {
                rel: rel.to_string_lossy().replace('\\', "/"),
                module: module_path(rel),
                text: std::fs::read_to_string(&path).expect("read source"),
            });
        }
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifiers of the path starting at `s` (`a::b::c` → `[a, b, c]`).
fn path_segments(s: &str) -> Vec<String> {
    let mut segs = Vec::new();
    let mut rest = s;
    loop {
        let end = rest.find(|c| !is_ident(c)).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        segs.push(rest[..end].to_string());
        match rest[end..].strip_prefix("::") {
            Some(r) => rest = r,
            None => break,
        }
    }
    segs
}

/// Every `crate::` and `super::` path of `text`, resolved against the
/// module `module` (a `mod.rs` file's module is its folder). Plain `//`
/// comments are skipped; doc comments count if `docs` (their links are
/// references to document, not imports).
fn references(module: &[String], text: &str, docs: bool) -> Vec<Reference> {
    let mut refs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        let doc = t.starts_with("///") || t.starts_with("//!");
        if t.starts_with("//") && !(doc && docs) {
            continue;
        }
        for (at, _) in line
            .match_indices("crate::")
            .chain(line.match_indices("super::"))
        {
            if line[..at].ends_with(is_ident) {
                continue;
            }
            let segs = path_segments(&line[at..]);
            if let Some(path) = resolve(module, &segs) {
                refs.push(Reference { line: i + 1, path });
            }
        }
    }
    refs
}

fn resolve(module: &[String], segs: &[String]) -> Option<Vec<String>> {
    match segs.first().map(String::as_str) {
        Some("crate") => Some(segs[1..].to_vec()),
        Some("super") => {
            // In `a/b.rs` and in `a/b/mod.rs` (both module a::b), `super`
            // is `a`.
            let mut base = module.to_vec();
            let mut rest = segs;
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            Some(base)
        }
        _ => None,
    }
}

/// Upward references of one file, one line of text each (file, line, both layers).
fn upward(rel: &str, module: &[String], text: &str) -> Vec<String> {
    let Some(own) = module.first().and_then(|m| layer_of(m)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in references(module, text, true) {
        let Some(top) = r.path.first() else { continue };
        if let Some(other) = layer_of(top).filter(|&l| l > own) {
            out.push(format!(
                "{rel}:{}: {} (layer {own}) refers to crate::{} (layer {other})",
                r.line,
                module[0],
                r.path.join("::")
            ));
        }
    }
    out
}

fn sources() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    collect_files(&root, &root, &mut out);
    out
}

#[test]
fn no_module_refers_to_a_higher_layer() {
    let sources = sources();
    for s in &sources {
        if let Some(top) = s.module.first() {
            assert!(
                layer_of(top).is_some(),
                "{}: module {top} has no layer: add it to LAYERS",
                s.rel
            );
        }
    }
    let violations: Vec<String> = sources
        .iter()
        .flat_map(|s| upward(&s.rel, &s.module, &s.text))
        .collect();
    assert!(
        violations.is_empty(),
        "upward references:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import() {
    let module = vec!["platform".to_string(), "inproc_address_space".to_string()];
    let text = "use crate::addr::Range;\nuse crate::mm::MemoryManager;\n";
    let v = upward("platform/inproc_address_space.rs", &module, text);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].starts_with("platform/inproc_address_space.rs:2: platform (layer 1) refers to crate::mm::MemoryManager (layer 2)"), "{}", v[0]);
    let module = vec!["segment".to_string(), "set".to_string()];
    let text = "    let x = super::super::runners::native::NativeRunner::new();\n";
    assert_eq!(upward("segment/set.rs", &module, text).len(), 1);
    let plain_comment = "// crate::runners is mentioned in a plain comment\n";
    assert!(upward("segment/set.rs", &module, plain_comment).is_empty());
}
