//! `sentryprof tui` on bad input: a clear one-line error naming the input,
//! exit status 2, and nothing drawn (run without a terminal).

use std::fs;
use std::process::Command;

use bundle::synthetic::{sample_run, write_bundle};

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

#[test]
fn missing_bundle_is_named_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-bundle");
    let out = sentryprof().arg("tui").arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-bundle"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(out.stdout.is_empty(), "nothing drawn");
}

#[test]
fn corrupt_run_json_is_named_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("run.json"),
        b"{\"format_version\": \"1.0\", \"points\": [",
    )
    .unwrap();
    let out = sentryprof().arg("tui").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run.json") && err.contains("corrupt"), "{err}");
}

#[test]
fn second_bundle_is_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_bundle(&dir.path().join("a"), &sample_run(1.0), None).unwrap();
    let out = sentryprof()
        .arg("tui")
        .arg(&a)
        .arg(dir.path().join("b-missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("b-missing"));
}

#[test]
fn no_terminal_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_bundle(&dir.path().join("a"), &sample_run(1.0), None).unwrap();
    // stdin/stdout are pipes here: there is no terminal to draw in.
    let out = sentryprof().arg("tui").arg(&a).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("terminal"), "{err}");
}

#[test]
fn three_bundles_and_bad_threshold_are_usage_errors() {
    let out = sentryprof().args(["tui", "a", "b", "c"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = sentryprof()
        .args(["tui", "--threshold=-3", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
