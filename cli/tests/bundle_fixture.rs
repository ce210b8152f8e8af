//! A bundle written by `sentryprof run` before the workspace was re-laid
//! (format 1.0, commit 093602b) is read and rendered byte for byte as it
//! was then: every flamegraph, chart, table, export and report.html, and
//! what `report` prints. One intended change since: the latency charts
//! draw their series in platform order (native, ptrace, systrap, inproc,
//! kvm), so `latency_vs_mappings_*.svg` and the chart in `report.html` were
//! re-rendered (same series and values, native first). Since issue 12:
//! host kernel frames are green (they were orange, inside the host palette's
//! red-yellow range) and a long subtitle wraps (so `flamegraph.svg`,
//! `icicle/icicle.svg` and `probes/probes_flamegraph.svg` were re-rendered),
//! and the pprof sample type of this cpu-clock profile carries its unit,
//! nanoseconds (`profile.pb.gz`). Since issue 13: the report has a "Guest /
//! exit / sentry per point" table for the kvm points (`report.*`,
//! `stdout.txt`, and its own `guest_exit_sentry.csv`); each split's
//! samples also carry `guest_perf`, the weight of perf's guest-mode samples
//! marked `[perf guest mode]` (0 in this bundle, made before the mark:
//! `report.json`).
//!
//! The fixture was made with
//! `sentryprof run --workload exp1 --mapping private --platform native,inproc,kvm
//!  --search linear,maxgap --iterations 200,400 --trials 2 --warmup-trials 1`
//! and its expected outputs with the commands in [`render_all`], run from the
//! directory that holds the bundle as `input`, writing into `out`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bundle-1.0")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs every rendering verb on `input` from `cwd`, into `out`.
fn render_all(cwd: &Path) -> String {
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_sentryprof"))
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("running sentryprof");
        assert!(
            o.status.success(),
            "sentryprof {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    std::fs::create_dir_all(cwd.join("out")).unwrap();
    run(&["flamegraph", "input", "--out", "out"]);
    run(&["flamegraph", "input", "--out", "out/icicle", "--icicle"]);
    run(&["flamegraph", "input", "--out", "out/probes", "--probes"]);
    run(&[
        "flamegraph",
        "input",
        "--out",
        "out/diff",
        "--diff-search",
        "linear,maxgap",
    ]);
    let o = run(&[
        "report",
        "input",
        "--out",
        "out",
        "--format",
        "text,csv,md,json",
        "--export",
        "folded,json,csv,pprof",
    ]);
    let mut printed = String::from_utf8_lossy(&o.stdout).into_owned();
    printed.push_str(&String::from_utf8_lossy(&o.stderr));
    printed
}

fn files_below(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_below(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

#[test]
fn pre_layout_bundle_renders_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture().join("bundle"), &tmp.path().join("input"));
    let printed = render_all(tmp.path());
    std::fs::write(tmp.path().join("out/stdout.txt"), printed).unwrap();

    let expected = fixture().join("expected");
    let mut want = Vec::new();
    files_below(&expected, &expected, &mut want);
    let mut got = Vec::new();
    files_below(&tmp.path().join("out"), &tmp.path().join("out"), &mut got);
    want.sort();
    got.sort();
    assert_eq!(got, want, "the set of rendered files changed");
    for rel in &want {
        let a = std::fs::read(expected.join(rel)).unwrap();
        let b = std::fs::read(tmp.path().join("out").join(rel)).unwrap();
        assert!(
            a == b,
            "{} differs from the rendering made before the re-layout",
            rel.display()
        );
    }
}
