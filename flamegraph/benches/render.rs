//! Rendering 100,000 unique folded stacks: sentryprof's renderer (parse,
//! validate, colour, inferno) side by side with inferno's own
//! `inferno-flamegraph` CLI on the same file, and inferno's library with its
//! defaults. Prints the medians and the ratio, then runs criterion.
//!
//! The CLI is looked up in $INFERNO_FLAMEGRAPH, then
//! /tmp/inferno-render/bin/inferno-flamegraph, then PATH
//! (install: `cargo install --root /tmp/inferno-render inferno`).
//!
//! Run: `cargo bench -p flamegraph --bench render`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use bundle::synthetic::many_stacks;
use criterion::{criterion_group, criterion_main, Criterion};
use flamegraph::flame::{render_folded_text, FlameOptions};

const STACKS: usize = 100_000;

fn inferno_cli() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("INFERNO_FLAMEGRAPH").map(PathBuf::from),
        Some(PathBuf::from("/tmp/inferno-render/bin/inferno-flamegraph")),
    ];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Some(c);
        }
    }
    let ok = Command::new("inferno-flamegraph")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| PathBuf::from("inferno-flamegraph"))
}

fn input() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory for the bench input");
    let path = dir.path().join("stacks.folded");
    std::fs::write(&path, many_stacks(STACKS)).expect("writing the bench input");
    (dir, path)
}

fn ours(path: &PathBuf) -> usize {
    let text = std::fs::read_to_string(path).expect("reading the bench input");
    let svg = render_folded_text(&text, &FlameOptions::default(), "bench").expect("render");
    let out = std::env::temp_dir().join(format!("sentryprof-bench-{}.svg", std::process::id()));
    std::fs::write(&out, &svg).expect("writing the SVG");
    svg.len()
}

fn theirs(cli: &PathBuf, path: &PathBuf) -> usize {
    let out = Command::new(cli)
        .arg(path)
        .stderr(Stdio::null())
        .output()
        .expect("running inferno-flamegraph");
    assert!(out.status.success(), "inferno-flamegraph failed");
    out.stdout.len()
}

fn median_ms(mut f: impl FnMut(), runs: usize) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn side_by_side() {
    let (_dir, path) = input();
    let Some(cli) = inferno_cli() else {
        eprintln!("SKIP: inferno-flamegraph not found; side-by-side ratio not measured");
        return;
    };
    // Warm the page cache and both code paths once, then alternate.
    ours(&path);
    theirs(&cli, &path);
    let runs = 11;
    let mut a = Vec::new();
    let mut b = Vec::new();
    for _ in 0..runs {
        a.push(median_ms(
            || {
                ours(&path);
            },
            1,
        ));
        b.push(median_ms(
            || {
                theirs(&cli, &path);
            },
            1,
        ));
    }
    a.sort_by(|x, y| x.total_cmp(y));
    b.sort_by(|x, y| x.total_cmp(y));
    let (ma, mb) = (a[runs / 2], b[runs / 2]);
    println!(
        "render {STACKS} unique stacks, median of {runs} alternating runs: sentryprof {ma:.1} ms, inferno-flamegraph CLI {mb:.1} ms, ratio {:.3} (target <= 1.2)",
        ma / mb
    );
}

fn bench(c: &mut Criterion) {
    side_by_side();
    let (_dir, path) = input();
    let mut g = c.benchmark_group("render_100k_unique_stacks");
    g.sample_size(10);
    g.bench_function("sentryprof", |b| b.iter(|| ours(&path)));
    if let Some(cli) = inferno_cli() {
        g.bench_function("inferno-flamegraph_cli", |b| b.iter(|| theirs(&cli, &path)));
    }
    g.bench_function("inferno_library_defaults", |b| {
        let text = std::fs::read_to_string(&path).expect("reading the bench input");
        b.iter(|| {
            let mut o = inferno::flamegraph::Options::default();
            let mut out = Vec::new();
            inferno::flamegraph::from_lines(&mut o, text.lines(), &mut out).expect("inferno");
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
