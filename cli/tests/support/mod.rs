//! Reading the workspace's sources and manifests, shared by the tests that
//! keep its shape (`workspace_shape.rs`) and its import graph
//! (`import_graph.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root: the folder above `cli/`.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ sits in the workspace root")
        .to_path_buf()
}

/// The text with strings, char literals and comments blanked out (newlines
/// kept), so braces can be counted.
pub fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        // Line comment.
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
            continue;
        }
        // Block comment (nesting as Rust does).
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    blank(&mut out, b[i]);
                    blank(&mut out, b[i + 1]);
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    blank(&mut out, b[i]);
                    blank(&mut out, b[i + 1]);
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            continue;
        }
        // Raw string r"..." / r#"..."# (also br).
        if (c == b'r' || (c == b'b' && b.get(i + 1) == Some(&b'r')))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let start = if c == b'b' { i + 2 } else { i + 1 };
            let mut j = start;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            if b.get(j) == Some(&b'"') {
                let hashes = j - start;
                let mut k = j + 1;
                loop {
                    if k >= b.len() {
                        break;
                    }
                    if b[k] == b'"'
                        && b[k + 1..]
                            .iter()
                            .take(hashes)
                            .filter(|&&h| h == b'#')
                            .count()
                            == hashes
                    {
                        k += 1 + hashes;
                        break;
                    }
                    k += 1;
                }
                for &x in &b[i..k.min(b.len())] {
                    blank(&mut out, x);
                }
                i = k;
                continue;
            }
        }
        // String.
        if c == b'"' {
            blank(&mut out, c);
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            if i < b.len() {
                blank(&mut out, b[i]);
                i += 1;
            }
            continue;
        }
        // Char literal ('x', '\n', '\u{..}'), not a lifetime.
        if c == b'\'' {
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                // A multi-byte char: find a closing quote within 5 bytes.
                b[i + 1..b.len().min(i + 6)]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 1 + p)
                    .filter(|&e| {
                        std::str::from_utf8(&b[i + 1..e]).is_ok_and(|s| s.chars().count() == 1)
                    })
            };
            if let Some(end) = close {
                for &x in &b[i..=end] {
                    blank(&mut out, x);
                }
                i = end + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `[dependencies]` (normal ones) of each workspace crate, by package name.
pub fn workspace_dependencies(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let mut name = None;
        let mut deps = BTreeSet::new();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('[') {
                section = line.to_string();
                continue;
            }
            let key = line.split(['=', '.']).next().unwrap_or("").trim();
            if section == "[package]" && key == "name" {
                name = line
                    .split('=')
                    .nth(1)
                    .map(|v| v.trim().trim_matches('"').to_string());
            }
            if section == "[dependencies]" && !key.is_empty() && !key.starts_with('#') {
                deps.insert(key.to_string());
            }
        }
        if let Some(name) = name {
            out.insert(name, deps);
        }
    }
    out
}
