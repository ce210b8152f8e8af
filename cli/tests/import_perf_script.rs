//! `sentryprof import perf-script`: a real fixture becomes a bundle whose
//! `stacks.folded` equals inferno's; bad input exits 2 with the file (and
//! line) named and leaves no bundle.

use std::path::PathBuf;
use std::process::Command;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../collectors/fixtures")
        .join(rel)
}

#[test]
fn import_writes_a_bundle_matching_inferno() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("imported");
    let txt = fixture("perf-script/ls-callchain.txt");
    let status = sentryprof()
        .args(["import", "perf-script"])
        .arg(&txt)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run sentryprof");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let folded = std::fs::read_to_string(out.join("stacks.folded")).expect("stacks.folded");
    let golden =
        std::fs::read_to_string(fixture("perf-script/ls-callchain.folded")).expect("golden");
    assert_eq!(folded, golden);
    let bundle = bundle::read_bundle(&out).expect("bundle reads back");
    let run = &bundle.run;
    assert_eq!(run.kind, bundle::BundleKind::Import);
    let profile = run.profile.as_ref().expect("profile");
    assert_eq!(profile.event, "cpu-clock");
    assert_eq!(profile.samples, 22);
    assert_eq!(profile.folded, "stacks.folded");
}

#[test]
fn bad_inputs_exit_2_and_leave_no_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let garbage = dir.path().join("garbage.txt");
    std::fs::write(&garbage, "this is not\nperf script output\n").expect("write");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").expect("write");
    let cases: Vec<(PathBuf, &str)> = vec![
        (fixture("bad/truncated.txt"), "truncated"),
        (garbage.clone(), "garbage.txt:1:"),
        (empty, "no samples"),
        (dir.path().join("missing.txt"), "missing.txt: cannot read"),
    ];
    for (i, (input, expect)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let o = sentryprof()
            .args(["import", "perf-script"])
            .arg(input)
            .arg("--out")
            .arg(&out)
            .output()
            .expect("run sentryprof");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {stderr}", input.display());
        assert!(stderr.contains(expect), "{}: {stderr}", input.display());
        assert!(!out.exists(), "no bundle for bad input {}", input.display());
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
