//! The shape of the workspace that issue 11 set, kept by a test:
//!
//! - no function in the workspace over 150 lines;
//! - the CLI crate (wiring only) under 1,000 lines, no function over 80;
//! - the renderers and the TUI depend, through their whole dependency
//!   tree, on none of the collectors' system crates (perf-event-open-sys,
//!   kvm-ioctls, addr2line, object) nor on the sentry or the collectors.
//!
//! Function lengths are counted from the line of `fn` to the line of the
//! closing brace of its body, with a small lexer that skips strings, char
//! literals and comments (`support::code_only`).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::{code_only, workspace_dependencies, workspace_root};

/// Every `.rs` file below `dir`, leaving out build output and fixtures.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name == "target" || name.starts_with("target-") || name.starts_with('.') {
                continue;
            }
            if name == "fixtures" || name == "golden" || name == "snapshots" {
                continue;
            }
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// (function name, first line, length in lines) of every function with a body.
fn functions(src: &str) -> Vec<(String, usize, usize)> {
    let code = code_only(src);
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(pos) = find_fn_keyword(line) else {
            continue;
        };
        let name: String = line[pos + 3..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            continue;
        }
        // Find the body's opening brace (or a `;`: no body) after the name.
        let mut depth = 0i64;
        let mut opened = false;
        let mut paren = 0i64;
        'scan: for (m, l) in lines.iter().enumerate().skip(n) {
            let text = if m == n { &l[pos..] } else { l };
            for ch in text.chars() {
                match ch {
                    '(' | '[' => paren += 1,
                    ')' | ']' => paren -= 1,
                    ';' if !opened && paren == 0 => break 'scan,
                    '{' => {
                        opened = true;
                        depth += 1;
                    }
                    '}' => {
                        depth -= 1;
                        if opened && depth == 0 {
                            found.push((name.clone(), n + 1, m - n + 1));
                            break 'scan;
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    found
}

/// Byte position of a `fn` keyword that starts an item on this line.
fn find_fn_keyword(line: &str) -> Option<usize> {
    let mut start = 0;
    while let Some(p) = line[start..].find("fn ") {
        let at = start + p;
        let before_ok = at == 0
            || !line.as_bytes()[at - 1].is_ascii_alphanumeric() && line.as_bytes()[at - 1] != b'_';
        let prefix = line[..at].trim();
        let prefix_ok = prefix.is_empty()
            || prefix.split_whitespace().all(|w| {
                matches!(
                    w,
                    "pub" | "const" | "async" | "unsafe" | "extern" | "default"
                ) || w.starts_with("pub(")
                    || w.starts_with('"')
                    || w.ends_with('"')
            });
        if before_ok && prefix_ok {
            return Some(at);
        }
        start = at + 3;
    }
    None
}

#[test]
fn the_lexer_counts_what_it_should() {
    let src = "fn a() {\n    let s = \"}\";\n    let c = '}';\n    // }\n}\nfn b<'a>(x: &'a str) -> &'a str {\n    x\n}\ntrait T { fn c(&self); }\n";
    let f = functions(src);
    assert_eq!(
        f,
        vec![("a".to_string(), 1, 5), ("b".to_string(), 6, 3)],
        "{f:?}"
    );
}

#[test]
fn no_function_over_150_lines_and_the_cli_is_wiring() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 100, "found only {} Rust files", files.len());
    let mut too_long = Vec::new();
    let mut cli_lines = 0;
    let mut cli_long = Vec::new();
    for file in &files {
        let src = std::fs::read_to_string(file).unwrap();
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let in_cli_src = rel.starts_with("cli/src/");
        if in_cli_src {
            cli_lines += src.lines().count();
        }
        for (name, line, len) in functions(&src) {
            if len > 150 {
                too_long.push(format!("{rel}:{line} fn {name}: {len} lines"));
            }
            if in_cli_src && len > 80 {
                cli_long.push(format!("{rel}:{line} fn {name}: {len} lines"));
            }
        }
    }
    assert!(
        too_long.is_empty(),
        "functions over 150 lines:\n{}",
        too_long.join("\n")
    );
    assert!(
        cli_long.is_empty(),
        "cli functions over 80 lines:\n{}",
        cli_long.join("\n")
    );
    assert!(
        cli_lines <= 1000,
        "cli/src holds {cli_lines} lines; it is wiring and stays under 1,000"
    );
}

#[test]
fn renderers_and_tui_depend_on_the_bundle_crate_not_the_collectors() {
    let graph = workspace_dependencies(&workspace_root());
    assert!(graph.contains_key("bundle"), "no bundle crate: {graph:?}");
    let forbidden = [
        "collectors",
        "instrumented-sentry",
        "experiments",
        "perf-event-open-sys",
        "kvm-ioctls",
        "kvm-bindings",
        "addr2line",
        "object",
    ];
    for krate in ["flamegraph", "tui", "bundle"] {
        // Transitively through workspace crates.
        let mut seen = BTreeSet::new();
        let mut todo = vec![krate.to_string()];
        while let Some(k) = todo.pop() {
            for d in graph.get(&k).into_iter().flatten() {
                assert!(
                    !forbidden.contains(&d.as_str()),
                    "{krate} depends (through {k}) on {d}"
                );
                if graph.contains_key(d) && seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
    }
}

#[test]
fn cargo_tree_of_the_renderers_lists_no_system_crate() {
    for krate in ["flamegraph", "tui"] {
        let out = std::process::Command::new(env!("CARGO"))
            .args([
                "tree",
                "--offline",
                "-e",
                "normal",
                "--prefix",
                "none",
                "-p",
                krate,
            ])
            .current_dir(workspace_root())
            .output()
            .expect("running cargo tree");
        assert!(
            out.status.success(),
            "cargo tree -p {krate}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let tree = String::from_utf8_lossy(&out.stdout);
        for line in tree.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            assert!(
                !matches!(
                    name,
                    "perf-event-open-sys"
                        | "kvm-ioctls"
                        | "kvm-bindings"
                        | "addr2line"
                        | "object"
                        | "collectors"
                        | "instrumented-sentry"
                ),
                "cargo tree -p {krate} lists {line}"
            );
        }
    }
}
