//! `sentryprof report` end to end: text on stdout, files beside run.json,
//! formats, exports (pprof decodes), and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bundle::synthetic::{sampled_profile, write_exp1_bundle};
use bundle::STACKS_FOLDED;
use flamegraph::pprof::decode_pprof_gz;

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

fn bundle(root: &Path) -> PathBuf {
    write_exp1_bundle(&root.join("b"), true).unwrap()
}

#[test]
fn report_writes_tables_charts_html_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle(tmp.path());
    let o = sentryprof(&[
        "report",
        b.to_str().unwrap(),
        "--format",
        "text,csv,md,json",
        "--export",
        "folded,json,csv,pprof",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Scaling verdicts"), "{out}");
    assert!(out.contains("probe cost 36.0 cycles per probe pair, subtracted"));
    for f in [
        "report.html",
        "report.txt",
        "report.md",
        "report.json",
        "functions.csv",
        "sites.csv",
        "scaling.csv",
        "profile.folded",
        "profile.json",
        "profile.csv",
        "profile.pb.gz",
        "latency_vs_mappings_exp1_private_untouched_4K.svg",
    ] {
        let len = std::fs::metadata(b.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    let html = std::fs::read_to_string(b.join("report.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"));
    let p = decode_pprof_gz(&std::fs::read(b.join("profile.pb.gz")).unwrap()).unwrap();
    assert_eq!(p.sample.len(), sampled_profile().0.len());
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("report.json")).unwrap()).unwrap();
    assert!(json["scaling"]
        .as_array()
        .map(|a| !a.is_empty())
        .unwrap_or(false));
}

#[test]
fn report_bad_input_exits_2_without_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join("run.json"), b"[1, 2").unwrap();
    let o = sentryprof(&["report", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run.json"));
    assert!(!bad.join("report.html").exists());

    let b = bundle(tmp.path());
    let o = sentryprof(&["report", b.to_str().unwrap(), "--format", "pdf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!b.join("report.html").exists());
    let o = sentryprof(&["report", b.to_str().unwrap(), "--export", "svgz"]);
    assert_eq!(o.status.code(), Some(2));
    // A folded file with a malformed line is named with its line number.
    std::fs::write(b.join(STACKS_FOLDED), "a;b 1\nbroken\n").unwrap();
    let o = sentryprof(&["report", b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stacks.folded:2"), "{err}");
    assert!(!b.join("report.html").exists());
}
