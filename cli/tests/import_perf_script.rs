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
        (garbage.clone(), "skipped, the first at line 1"),
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

fn import(args: &[&std::ffi::OsStr]) -> std::process::Output {
    sentryprof()
        .args(["import", "perf-script"])
        .args(args)
        .output()
        .expect("run sentryprof")
}

#[test]
fn lines_inferno_skips_are_skipped_with_one_note_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("b");
    let txt = fixture("lenient/stack-after-blank.txt");
    let o = import(&[txt.as_os_str(), "--out".as_ref(), out.as_os_str()]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one note: {stderr}");
    let expect = format!(
        "sentryprof: note: {}: skipped 3 unreadable line(s), as inferno-collapse-perf does (line 11, 12, 13); --strict refuses them",
        txt.display()
    );
    assert_eq!(stderr.trim_end(), expect);
    let folded = std::fs::read_to_string(out.join("stacks.folded")).expect("stacks.folded");
    let golden = std::fs::read_to_string(fixture("lenient/stack-after-blank.folded")).unwrap();
    assert_eq!(
        folded, golden,
        "the kept samples fold as inferno folded them"
    );
    let run = bundle::read_bundle(&out).expect("bundle").run;
    assert!(
        run.notes.iter().any(|n| expect.ends_with(n.as_str())),
        "{:?}",
        run.notes
    );
    assert_eq!(run.workload.params["odd_lines_skipped"], 3);
}

#[test]
fn strict_refuses_a_line_inferno_skips_with_exit_2_and_no_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, line) in [
        ("stack-after-blank", 11),
        ("odd-stack-line", 17),
        ("odd-event-line", 15),
        ("odd-frame-on-event-line", 5),
    ] {
        let out = dir.path().join(name);
        let txt = fixture(&format!("lenient/{name}.txt"));
        let o = import(&[
            txt.as_os_str(),
            "--strict".as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        let expect = format!("sentryprof: error: {}:{line}: ", txt.display());
        assert!(
            stderr.starts_with(&expect),
            "{stderr} should start with {expect}"
        );
        assert!(stderr.contains("--strict"), "{stderr}");
        assert!(!out.exists(), "{name}: no bundle under --strict");
    }
}

#[test]
fn absurd_periods_and_a_cut_event_line_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, line, problem) in [
        (
            "bad/period-past-u64.txt",
            6,
            "period 18446744073709551616 does not fit in 64 bits",
        ),
        ("bad/negative-period.txt", 6, "negative period -1001001"),
        (
            "bad/cut-in-header.txt",
            15,
            "truncated event line at end of input",
        ),
    ] {
        let out = dir.path().join("out");
        let txt = fixture(rel);
        let o = import(&[txt.as_os_str(), "--out".as_ref(), out.as_os_str()]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{rel}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        let expect = format!("sentryprof: error: {}:{line}: {problem}", txt.display());
        assert!(
            stderr.starts_with(&expect),
            "{stderr} should start with {expect}"
        );
        assert!(!out.exists(), "{rel}: no bundle");
    }
}

#[test]
fn dash_reads_stdin_into_stdin_bundle_and_names_the_event() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read(fixture("event-forms/ls-fields-no-time.txt")).unwrap();
    let mut child = sentryprof()
        .args(["import", "perf-script", "-"])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sentryprof");
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stdout.trim_end(),
        "imported 20 samples of 'cpu-clock' (17 distinct stacks) from stdin into stdin.bundle"
    );
    let folded = std::fs::read_to_string(dir.path().join("stdin.bundle/stacks.folded")).unwrap();
    let twin = std::fs::read_to_string(fixture("perf-script/ls-fields-time.folded")).unwrap();
    assert_eq!(folded, twin);

    // Empty stdin: exit 2 naming stdin, no bundle.
    let out = dir.path().join("empty.bundle");
    let o = sentryprof()
        .args(["import", "perf-script", "-", "--out"])
        .arg(&out)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("sentryprof: error: stdin: no samples"),
        "{stderr}"
    );
    assert!(!out.exists());
}
