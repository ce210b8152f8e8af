//! The import graph of the whole workspace, drawn and kept by a test.
//!
//! - **Crates.** Every member of the root `Cargo.toml` may depend (in its
//!   `[dependencies]`) only on the workspace crates [`CRATE_LAYERS`] allows:
//!   the layer order of DESIGN.md, bundle at the bottom and the CLI at the
//!   top. A violation names both crates.
//! - **Files.** Within each crate, every reference from one file of `src/`
//!   to another (`use crate::…`, `use super::…`, `use self::…`, a `use` of a
//!   child module, and the same paths written inline in code) is an edge;
//!   a path to an item re-exported by a `mod.rs` or `lib.rs` is an edge to
//!   that file. Doc comments and `#[cfg(test)]` modules do not count. The
//!   edges must make no cycle, except those listed in [`IMPL_SPLITS`] (a
//!   file holding `impl` blocks of a type defined in another file). A
//!   cycle fails the test, naming its files and the line of each edge.
//! - **The page.** The crate graph found is compared with the one written
//!   in `docs/layout.md` (between [`BEGIN`] and [`END`]); a crate edge
//!   added or removed without the page fails the test, naming the line to
//!   change.
//!
//! `cargo test --release -p sentryprof --test import_graph -- --nocapture`
//! prints the graph: crates with their workspace dependencies, then per
//! crate the module-level edges folded to top-level modules.
//!
//! `instrumented-sentry` is checked like the others (this is the one cycle
//! check of the workspace); the order of its layers inside the crate
//! (segment and addr, platform, mm, workload, runners) is kept by its own
//! `tests/layering.rs`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use support::{code_only, workspace_dependencies, workspace_root};

/// The layer order of DESIGN.md: each crate and the workspace crates it may
/// depend on.
const CRATE_LAYERS: &[(&str, &[&str])] = &[
    ("bundle", &[]),
    ("instrumented-sentry", &["bundle"]),
    ("collectors", &["bundle", "instrumented-sentry"]),
    ("flamegraph", &["bundle"]),
    ("tui", &["bundle", "flamegraph"]),
    (
        "experiments",
        &["bundle", "instrumented-sentry", "collectors", "flamegraph"],
    ),
    (
        "cli",
        &[
            "bundle",
            "instrumented-sentry",
            "collectors",
            "flamegraph",
            "tui",
            "experiments",
        ],
    ),
];

/// Edges allowed to close a cycle: `(crate, type, the file defining it,
/// files holding inherent `impl` blocks of it)`; each of those files may
/// refer to the defining one. Only `instrumented-sentry`'s two split types:
/// gVisor's memory manager is one type with one file per concern, and the
/// segment set keeps its tree, checker, iterators and searches apart.
const IMPL_SPLITS: &[(&str, &str, &str, &[&str])] = &[
    (
        "instrumented-sentry",
        "MemoryManager",
        "mm/manager.rs",
        &[
            "mm/vma.rs",
            "mm/pma.rs",
            "mm/syscalls.rs",
            "mm/fault.rs",
            "mm/address_space.rs",
        ],
    ),
    (
        "instrumented-sentry",
        "SegmentSet",
        "segment/set.rs",
        &[
            "segment/tree.rs",
            "segment/check.rs",
            "segment/iter.rs",
            "segment/search.rs",
        ],
    ),
];

/// The page that describes the layout, and the markers around its crate graph.
const DOC: &str = "docs/layout.md";
const BEGIN: &str = "<!-- crate graph: begin (kept by cli/tests/import_graph.rs) -->";
const END: &str = "<!-- crate graph: end -->";

/// A file of a crate's `src/`: its path under `src/`, module path and code
/// (comments, strings and `#[cfg(test)]` modules blanked, lines kept).
struct SourceFile {
    rel: String,
    module: Vec<String>,
    code: String,
}

/// Where an edge was seen: the line and the path written there.
type Evidence = (usize, String);

/// File-level edges of one crate: `from -> to -> first place seen`.
type Edges = BTreeMap<String, BTreeMap<String, Evidence>>;

/// One workspace crate: its member folder, package name and sources.
struct Crate {
    dir: String,
    package: String,
    files: Vec<SourceFile>,
}

// ---------------------------------------------------------------- reading

/// The `members` list of the root `Cargo.toml`, in its order.
fn members(root_manifest: &str) -> Vec<String> {
    let Some(start) = root_manifest.find("members") else {
        return Vec::new();
    };
    let rest = &root_manifest[start..];
    let (Some(open), Some(close)) = (rest.find('['), rest.find(']')) else {
        return Vec::new();
    };
    rest[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The `[package]` name of a crate manifest.
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && line.split('=').next().map(str::trim) == Some("name") {
            return line
                .split('=')
                .nth(1)
                .map(|v| v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// The module path of a file under `src/` (`a/b.rs` and `a/b/mod.rs` are
/// both `a::b`; `lib.rs` and `main.rs` are the root).
fn module_path(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if parts.is_empty() && (stem == "lib" || stem == "main") {
        return parts;
    }
    if stem != "mod" {
        parts.push(stem.to_string());
    }
    parts
}

fn walk(dir: &Path, src: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, src, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(src).expect("under src");
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).expect("read source")));
        }
    }
}

/// The files of a crate's `src/`, without the files of `#[cfg(test)]`
/// modules.
fn crate_sources(src: &Path) -> Vec<SourceFile> {
    let mut raw = Vec::new();
    walk(src, src, &mut raw);
    let mut files: Vec<SourceFile> = raw
        .into_iter()
        .map(|(rel, text)| SourceFile {
            module: module_path(&rel),
            rel,
            code: code_only(&text),
        })
        .collect();
    let mut test_modules = Vec::new();
    for f in &mut files {
        let (code, out_of_line) = blank_test_modules(&f.code);
        f.code = code;
        for name in out_of_line {
            let mut m = f.module.clone();
            m.push(name);
            test_modules.push(m);
        }
    }
    files.retain(|f| !test_modules.iter().any(|t| f.module.starts_with(t)));
    files
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The identifier starting at `at`, if one does.
fn ident_at(b: &[u8], at: usize) -> Option<&str> {
    let end = (at..b.len()).find(|&i| !is_ident(b[i])).unwrap_or(b.len());
    (end > at).then(|| std::str::from_utf8(&b[at..end]).unwrap_or(""))
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// After `i`: attributes, `pub`/`pub(...)`, then `mod NAME` followed by
/// `{` or `;`: the name, the position of that `{` or `;`, and which.
fn mod_item_after(b: &[u8], mut i: usize) -> Option<(String, usize, u8)> {
    loop {
        i = skip_ws(b, i);
        if b[i..].starts_with(b"#[") {
            i = i + b[i..].iter().position(|&c| c == b']')? + 1;
        } else if b[i..].starts_with(b"pub(") {
            i = i + b[i..].iter().position(|&c| c == b')')? + 1;
        } else if b[i..].starts_with(b"pub ") {
            i += 4;
        } else {
            break;
        }
    }
    if !b[i..].starts_with(b"mod ") {
        return None;
    }
    let at = skip_ws(b, i + 4);
    let name = ident_at(b, at)?.to_string();
    let after = skip_ws(b, at + name.len());
    matches!(b.get(after), Some(b'{') | Some(b';')).then(|| (name, after, b[after]))
}

/// The matching `}` of the `{` at `open`.
fn matching_brace(b: &[u8], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    b.len() - 1
}

/// The code with every `#[cfg(test)] mod … { … }` blanked, and the names
/// of `#[cfg(test)] mod …;` declared here (files to leave out).
fn blank_test_modules(code: &str) -> (String, Vec<String>) {
    let mut b = code.as_bytes().to_vec();
    let mut out_of_line = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("#[cfg(test)]") {
        let at = from + p;
        from = at + 1;
        let Some((name, end, kind)) = mod_item_after(&b, at + "#[cfg(test)]".len()) else {
            continue;
        };
        if kind == b';' {
            out_of_line.push(name);
            continue;
        }
        let close = matching_brace(&b, end);
        for c in &mut b[at..=close] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    (String::from_utf8_lossy(&b).into_owned(), out_of_line)
}

// ---------------------------------------------------------------- paths

/// One path of a `use` tree and the name it binds (`None` for a glob).
struct UsePath {
    at: usize,
    path: Vec<String>,
    binds: Option<String>,
}

fn use_tokens(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'$' || is_ident(c) {
            let start = i;
            i += 1;
            while i < b.len() && is_ident(b[i]) {
                i += 1;
            }
            tokens.push(s[start..i].to_string());
        } else if b[i..].starts_with(b"::") {
            tokens.push("::".to_string());
            i += 2;
        } else {
            if !c.is_ascii_whitespace() {
                tokens.push((c as char).to_string());
            }
            i += 1;
        }
    }
    tokens
}

/// Expand the use tree `tokens[*i..]` below `prefix` into `out`.
fn expand_tree(tokens: &[String], i: &mut usize, prefix: Vec<String>, out: &mut Vec<UsePath>) {
    let mut path = prefix;
    while let Some(t) = tokens.get(*i) {
        match t.as_str() {
            "{" => {
                *i += 1;
                while tokens.get(*i).is_some_and(|t| t != "}") {
                    expand_tree(tokens, i, path.clone(), out);
                    if tokens.get(*i).is_some_and(|t| t == ",") {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            "*" => {
                *i += 1;
                out.push(UsePath {
                    at: 0,
                    path,
                    binds: None,
                });
                return;
            }
            "::" => *i += 1,
            "," | "}" => break,
            _ => {
                path.push(t.clone());
                *i += 1;
                if tokens.get(*i).is_some_and(|t| t == "::") {
                    continue;
                }
                let mut binds = path.last().cloned();
                if tokens.get(*i).is_some_and(|t| t == "as") {
                    binds = tokens.get(*i + 1).cloned();
                    *i += 2;
                }
                if path.last().is_some_and(|l| l == "self") {
                    path.pop();
                    if binds.as_deref() == Some("self") {
                        binds = path.last().cloned();
                    }
                }
                out.push(UsePath { at: 0, path, binds });
                return;
            }
        }
    }
    if !path.is_empty() {
        out.push(UsePath {
            at: 0,
            path,
            binds: None,
        });
    }
}

/// Every `use` item of `code`: its paths, and the code with the items
/// blanked (so inline paths are looked for in the rest only).
fn use_items(code: &str) -> (Vec<UsePath>, String) {
    let mut b = code.as_bytes().to_vec();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("use ") {
        let at = from + p;
        from = at + 4;
        if at > 0 && (is_ident(b[at - 1]) || b[at - 1] == b':') {
            continue;
        }
        let Some(len) = code[at..].find(';') else {
            break;
        };
        let tokens = use_tokens(&code[at + 4..at + len]);
        if tokens.first().is_some_and(|t| t == "::") {
            continue;
        }
        let mut paths = Vec::new();
        let mut i = 0;
        expand_tree(&tokens, &mut i, Vec::new(), &mut paths);
        for mut p in paths {
            p.at = at;
            out.push(p);
        }
        for c in &mut b[at..at + len] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    }
    (out, String::from_utf8_lossy(&b).into_owned())
}

/// Every path written inline (`a::b…`, not part of a longer path) in
/// `code`, with its position.
fn inline_paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = (is_ident(b[i]) || b[i] == b'$')
            && (i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b'$' || b[i - 1] == b':'));
        if !starts {
            i += 1;
            continue;
        }
        let mut segs = Vec::new();
        let mut j = i;
        loop {
            let k = j + usize::from(b[j] == b'$');
            let Some(id) = ident_at(b, k) else { break };
            segs.push(code[j..k + id.len()].to_string());
            j = k + id.len();
            if b[j..].starts_with(b"::") && b.get(j + 2).is_some_and(|&c| is_ident(c) || c == b'$')
            {
                j += 2;
            } else {
                break;
            }
        }
        if segs.len() > 1 {
            out.push((i, segs));
        }
        i = j.max(i + 1);
    }
    out
}

/// What resolving a file's paths needs: its module, the modules that exist
/// and the names its `use` items bind.
struct Scope<'a> {
    module: &'a [String],
    modules: &'a BTreeSet<Vec<String>>,
    binds: BTreeMap<String, Vec<String>>,
}

impl Scope<'_> {
    /// The module path from the crate root that `segs` names, if it is in
    /// this crate.
    fn resolve(&self, segs: &[String], depth: u32) -> Option<Vec<String>> {
        let first = segs.first()?.as_str();
        let mut base = self.module.to_vec();
        match first {
            "crate" | "$crate" => return Some(segs[1..].to_vec()),
            "self" => base.extend(segs[1..].iter().cloned()),
            "super" => {
                let mut rest = segs;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
            }
            _ => {
                let mut child = base.clone();
                child.push(first.to_string());
                if self.modules.contains(&child) {
                    base.extend(segs.iter().cloned());
                } else if let Some(bound) = self.binds.get(first).filter(|_| depth < 4) {
                    let mut whole = bound.clone();
                    whole.extend(segs[1..].iter().cloned());
                    return self.resolve(&whole, depth + 1);
                } else {
                    return None;
                }
            }
        }
        Some(base)
    }
}

/// The file a module path lands in: the longest prefix that is a file.
fn file_of(path: &[String], files: &BTreeMap<Vec<String>, String>) -> Option<String> {
    (0..=path.len())
        .rev()
        .find_map(|n| files.get(&path[..n]).cloned())
}

fn line_of(code: &str, at: usize) -> usize {
    code[..at].matches('\n').count() + 1
}

/// The file-level edges of one crate's sources.
fn file_edges(files: &[SourceFile]) -> Edges {
    let by_module: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|f| (f.module.clone(), f.rel.clone()))
        .collect();
    let modules: BTreeSet<Vec<String>> = by_module.keys().cloned().collect();
    let mut edges = Edges::new();
    for f in files {
        let (uses, rest) = use_items(&f.code);
        let binds = uses
            .iter()
            .filter_map(|u| Some((u.binds.clone()?, u.path.clone())))
            .filter(|(name, _)| name != "_")
            .collect();
        let scope = Scope {
            module: &f.module,
            modules: &modules,
            binds,
        };
        let found = uses
            .iter()
            .map(|u| (u.at, u.path.clone()))
            .chain(inline_paths(&rest));
        for (at, segs) in found {
            let Some(path) = scope.resolve(&segs, 0) else {
                continue;
            };
            let Some(to) = file_of(&path, &by_module).filter(|t| *t != f.rel) else {
                continue;
            };
            edges
                .entry(f.rel.clone())
                .or_default()
                .entry(to)
                .or_insert((line_of(&f.code, at), segs.join("::")));
        }
    }
    edges
}

// ---------------------------------------------------------------- cycles

fn is_impl_split(krate: &str, from: &str, to: &str) -> bool {
    IMPL_SPLITS
        .iter()
        .any(|&(k, _, def, files)| k == krate && def == to && files.contains(&from))
}

/// Whether `code` holds an inherent `impl` block of `ty`.
fn holds_impl_of(code: &str, ty: &str) -> bool {
    code.lines().any(|l| {
        l.starts_with("impl")
            && !l.contains(" for ")
            && (l.contains(&format!(" {ty}<")) || l.contains(&format!(" {ty} {{")))
    })
}

/// The shortest way from `from` back to `to` in `edges`, as the files
/// along it (both ends included), if there is one.
fn shortest_path(edges: &Edges, from: &str, to: &str) -> Option<Vec<String>> {
    let mut came_from: BTreeMap<String, String> = BTreeMap::new();
    let mut todo = std::collections::VecDeque::from([from.to_string()]);
    while let Some(n) = todo.pop_front() {
        for m in edges.get(&n).into_iter().flat_map(|t| t.keys()) {
            if m == to {
                let mut path = vec![m.clone(), n.clone()];
                let mut at = n;
                while let Some(p) = came_from.get(&at) {
                    path.push(p.clone());
                    at = p.clone();
                }
                path.reverse();
                return Some(path);
            }
            if m != from && !came_from.contains_key(m) {
                came_from.insert(m.clone(), n.clone());
                todo.push_back(m.clone());
            }
        }
    }
    None
}

/// Every import cycle of a crate's edges (leaving out its impl splits), one
/// per group of files that reach each other, each as the files along it.
fn find_cycles(krate: &str, edges: &Edges) -> Vec<Vec<String>> {
    let kept: Edges = edges
        .iter()
        .map(|(from, tos)| {
            let tos = tos
                .iter()
                .filter(|(to, _)| !is_impl_split(krate, from, to))
                .map(|(to, e)| (to.clone(), e.clone()))
                .collect();
            (from.clone(), tos)
        })
        .collect();
    let mut covered = BTreeSet::new();
    let mut cycles = Vec::new();
    for start in kept.keys() {
        if covered.contains(start) {
            continue;
        }
        if let Some(cycle) = shortest_path(&kept, start, start) {
            covered.extend(cycle.iter().cloned());
            cycles.push(cycle);
        }
    }
    cycles
}

/// A cycle as one line per edge: `from -> to (from:line: path)`.
fn describe_cycle(krate: &str, cycle: &[String], edges: &Edges) -> String {
    let mut s = format!("{krate}: import cycle {}", cycle.join(" -> "));
    for pair in cycle.windows(2) {
        if let Some((line, path)) = edges.get(&pair[0]).and_then(|t| t.get(&pair[1])) {
            let _ = write!(s, "\n    {}:{line}: {path}", pair[0]);
        }
    }
    s
}

// ---------------------------------------------------------------- crates

/// The crate-level violations of the layer order: one line per forbidden
/// dependency or crate missing from [`CRATE_LAYERS`].
fn layer_violations(graph: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (krate, deps) in graph {
        let Some(&(_, allowed)) = CRATE_LAYERS.iter().find(|(k, _)| k == krate) else {
            out.push(format!(
                "crate {krate} has no place in the layer order: add it to CRATE_LAYERS"
            ));
            continue;
        };
        for dep in deps.iter().filter(|d| !allowed.contains(&d.as_str())) {
            out.push(format!(
                "{krate} depends on {dep}, which the layer order does not allow \
                 ({krate} may depend on: {})",
                if allowed.is_empty() {
                    "no workspace crate".to_string()
                } else {
                    allowed.join(", ")
                }
            ));
        }
    }
    out
}

fn crate_line(krate: &str, deps: &[String]) -> String {
    if deps.is_empty() {
        format!("{krate} -> (none)")
    } else {
        format!("{krate} -> {}", deps.join(", "))
    }
}

/// What to change in the page so its crate graph reads `expected`: one
/// line per difference, naming the page's line.
fn doc_differences(doc: &str, expected: &[String]) -> Vec<String> {
    let lines: Vec<&str> = doc.lines().collect();
    let (Some(begin), Some(end)) = (
        lines.iter().position(|l| l.trim() == BEGIN),
        lines.iter().position(|l| l.trim() == END),
    ) else {
        return vec![format!(
            "{DOC}: no crate graph between `{BEGIN}` and `{END}`"
        )];
    };
    let written: Vec<(usize, &str)> = (begin + 1..end)
        .map(|i| (i + 1, lines[i].trim()))
        .filter(|(_, l)| l.contains(" -> "))
        .collect();
    let krate_of = |l: &str| l.split(" -> ").next().unwrap_or("").to_string();
    let mut out = Vec::new();
    for want in expected {
        let k = krate_of(want);
        match written.iter().find(|(_, l)| krate_of(l) == k) {
            Some((n, l)) if l != want => out.push(format!(
                "{DOC}:{n}: reads `{l}`; the manifests say `{want}`"
            )),
            Some(_) => {}
            None => out.push(format!(
                "{DOC}:{}: add the line `{want}`",
                written.last().map_or(begin + 1, |(n, _)| n + 1)
            )),
        }
    }
    for (n, l) in &written {
        if !expected.iter().any(|w| krate_of(w) == krate_of(l)) {
            out.push(format!(
                "{DOC}:{n}: `{l}` names no workspace crate: remove it"
            ));
        }
    }
    out
}

// ---------------------------------------------------------------- the graph

/// Every member crate, in the order of the root manifest.
fn workspace() -> Vec<Crate> {
    let root = workspace_root();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("root Cargo.toml");
    members(&manifest)
        .into_iter()
        .map(|dir| {
            let text = std::fs::read_to_string(root.join(&dir).join("Cargo.toml"))
                .expect("member Cargo.toml");
            Crate {
                package: package_name(&text).expect("member has a package name"),
                files: crate_sources(&root.join(&dir).join("src")),
                dir,
            }
        })
        .collect()
}

/// Each crate (by folder) and the workspace crates it depends on.
fn crate_graph(crates: &[Crate]) -> Vec<(String, Vec<String>)> {
    let deps = workspace_dependencies(&workspace_root());
    let dir_of = |package: &str| {
        crates
            .iter()
            .find(|c| c.package == package)
            .map(|c| c.dir.clone())
    };
    crates
        .iter()
        .map(|c| {
            let mut on: Vec<String> = deps
                .get(&c.package)
                .into_iter()
                .flatten()
                .filter_map(|d| dir_of(d))
                .collect();
            on.sort_by_key(|d| crates.iter().position(|c| &c.dir == d));
            (c.dir.clone(), on)
        })
        .collect()
}

/// A file's top-level module (`lib` or `main` for the crate root).
fn top_module(rel: &str) -> String {
    rel.split('/')
        .next()
        .unwrap_or(rel)
        .trim_end_matches(".rs")
        .to_string()
}

/// The whole graph as text: crates, then per crate its top-level modules
/// and the edges between them.
fn render(crates: &[Crate], graph: &[(String, Vec<String>)], edges: &[Edges]) -> String {
    let mut s = String::from("crates (workspace dependencies):\n");
    for (k, deps) in graph {
        let _ = writeln!(s, "  {}", crate_line(k, deps));
    }
    for (c, e) in crates.iter().zip(edges) {
        let mut folded: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for f in &c.files {
            folded.entry(top_module(&f.rel)).or_default();
        }
        for (from, tos) in e {
            for to in tos.keys() {
                let (a, b) = (top_module(from), top_module(to));
                if a != b {
                    folded.entry(a).or_default().insert(b);
                }
            }
        }
        let n: usize = e.values().map(BTreeMap::len).sum();
        let _ = writeln!(
            s,
            "\n{} ({} files, {n} file edges), modules -> modules they use:",
            c.dir,
            c.files.len()
        );
        for (m, to) in &folded {
            let to: Vec<&str> = to.iter().map(String::as_str).collect();
            let _ = writeln!(
                s,
                "  {m} -> {}",
                if to.is_empty() {
                    "-".to_string()
                } else {
                    to.join(", ")
                }
            );
        }
    }
    s
}

#[test]
fn the_workspace_import_graph_is_layered_acyclic_and_documented() {
    let crates = workspace();
    assert!(crates.len() >= 7, "found {} member crates", crates.len());
    let graph = crate_graph(&crates);
    let edges: Vec<Edges> = crates.iter().map(|c| file_edges(&c.files)).collect();
    println!("{}", render(&crates, &graph, &edges));

    let mut problems = layer_violations(&graph);
    for c in &crates {
        for &(k, ty, _, files) in IMPL_SPLITS.iter().filter(|s| s.0 == c.dir) {
            for file in files {
                let holds = c
                    .files
                    .iter()
                    .any(|f| f.rel == *file && holds_impl_of(&f.code, ty));
                if !holds {
                    problems.push(format!(
                        "{k}/src/{file} is listed in IMPL_SPLITS as holding impl blocks of {ty} but holds none"
                    ));
                }
            }
        }
    }
    for (c, e) in crates.iter().zip(&edges) {
        for cycle in find_cycles(&c.dir, e) {
            problems.push(describe_cycle(&c.dir, &cycle, e));
        }
    }
    let doc = std::fs::read_to_string(workspace_root().join(DOC)).unwrap_or_default();
    let expected: Vec<String> = graph.iter().map(|(k, d)| crate_line(k, d)).collect();
    problems.extend(doc_differences(&doc, &expected));
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

// ---------------------------------------------------------------- the checker's own tests

fn synthetic(edges: &[(&str, &str)]) -> Edges {
    let mut out = Edges::new();
    for &(a, b) in edges {
        out.entry(a.to_string()).or_default().insert(
            b.to_string(),
            (1, format!("crate::{}", b.trim_end_matches(".rs"))),
        );
    }
    out
}

#[test]
fn a_three_file_cycle_is_found_and_named() {
    let edges = synthetic(&[
        ("a.rs", "b.rs"),
        ("b.rs", "c.rs"),
        ("c.rs", "a.rs"),
        ("c.rs", "d.rs"),
    ]);
    let cycles = find_cycles("some-crate", &edges);
    assert_eq!(cycles, vec![vec!["a.rs", "b.rs", "c.rs", "a.rs"]]);
    let text = describe_cycle("some-crate", &cycles[0], &edges);
    assert!(
        text.starts_with("some-crate: import cycle a.rs -> b.rs -> c.rs -> a.rs"),
        "{text}"
    );
    assert!(text.contains("c.rs:1: crate::a"), "{text}");
    assert!(find_cycles(
        "some-crate",
        &synthetic(&[("a.rs", "b.rs"), ("b.rs", "c.rs")])
    )
    .is_empty());
}

#[test]
fn an_allowed_impl_split_is_not_reported() {
    let edges = synthetic(&[
        ("mm/manager.rs", "mm/vma.rs"),
        ("mm/vma.rs", "mm/manager.rs"),
    ]);
    assert!(find_cycles("instrumented-sentry", &edges).is_empty());
    // The same edges in another crate are a cycle.
    assert_eq!(find_cycles("collectors", &edges).len(), 1);
}

#[test]
fn references_are_found_in_use_trees_and_code_but_not_docs_or_tests() {
    let src = "//! See [`crate::docs_only`].\n\
        use crate::{a::{A, B as C}, b};\n\
        use super::up;\n\
        pub use child::Thing;\n\
        fn f() { let x = crate::c::f(); b::g(); let s = \"crate::in_string\"; }\n\
        #[cfg(test)]\nmod tests {\n    use crate::test_only::T;\n}\n";
    let files: Vec<SourceFile> = [
        "lib.rs",
        "a.rs",
        "b.rs",
        "c.rs",
        "m/mod.rs",
        "m/child.rs",
        "docs_only.rs",
        "test_only.rs",
        "up.rs",
    ]
    .iter()
    .map(|rel| SourceFile {
        rel: rel.to_string(),
        module: module_path(rel),
        code: if *rel == "m/mod.rs" {
            blank_test_modules(&code_only(src)).0
        } else {
            String::new()
        },
    })
    .collect();
    let edges = file_edges(&files);
    let to: Vec<&str> = edges["m/mod.rs"].keys().map(String::as_str).collect();
    assert_eq!(
        to,
        ["a.rs", "b.rs", "c.rs", "m/child.rs", "up.rs"],
        "{edges:?}"
    );
    assert_eq!(edges["m/mod.rs"]["b.rs"].0, 2);
}

#[test]
fn a_forbidden_crate_edge_and_a_stale_page_are_named() {
    let graph = vec![
        ("bundle".to_string(), vec![]),
        (
            "flamegraph".to_string(),
            vec!["bundle".to_string(), "collectors".to_string()],
        ),
    ];
    let v = layer_violations(&graph);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(
        v[0].starts_with("flamegraph depends on collectors"),
        "{}",
        v[0]
    );

    let doc = format!("# Layout\n{BEGIN}\n```text\nbundle -> (none)\nflamegraph -> bundle\nold -> bundle\n```\n{END}\n");
    let expected: Vec<String> = graph.iter().map(|(k, d)| crate_line(k, d)).collect();
    let d = doc_differences(&doc, &expected);
    assert_eq!(
        d,
        [
            format!("{DOC}:5: reads `flamegraph -> bundle`; the manifests say `flamegraph -> bundle, collectors`"),
            format!("{DOC}:6: `old -> bundle` names no workspace crate: remove it"),
        ]
    );
}
