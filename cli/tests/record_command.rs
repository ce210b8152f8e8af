//! `sentryprof record -- CMD`: samples a real command into a bundle; a
//! command that does not exist exits 2 with no bundle. Skips (visibly)
//! where perf_event_open is refused.

use std::process::Command;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

#[test]
fn missing_command_is_a_clear_error_without_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("rec");
    let o = sentryprof()
        .args(["record", "--out"])
        .arg(&out)
        .args(["--", "/definitely/not/a/command-xyz", "arg"])
        .output()
        .expect("run sentryprof");
    let stderr = String::from_utf8_lossy(&o.stderr);
    if stderr.contains("perf_event_open refused") {
        skip_line(format_args!("SKIP: perf_event_open refused here: {stderr}"));
        return;
    }
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("command-xyz") && stderr.contains("not found"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn record_samples_a_busy_child_with_its_symbols() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("rec");
    // A child that burns CPU in a named libc-free loop: sh's arithmetic.
    let o = sentryprof()
        .args(["record", "--freq", "499", "--out"])
        .arg(&out)
        .args([
            "--",
            "sh",
            "-c",
            "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done",
        ])
        .output()
        .expect("run sentryprof");
    let stderr = String::from_utf8_lossy(&o.stderr);
    if stderr.contains("perf_event_open refused") {
        skip_line(format_args!("SKIP: perf_event_open refused here: {stderr}"));
        return;
    }
    assert!(o.status.success(), "{stderr}");
    let bundle = bundle::read_bundle(&out).expect("bundle");
    let run = &bundle.run;
    assert_eq!(run.kind, bundle::BundleKind::Record);
    let profile = run.profile.as_ref().expect("profile");
    assert!(profile.samples > 20, "samples: {}", profile.samples);
    assert_eq!(profile.frequency_hz, Some(499));
    let folded = std::fs::read_to_string(out.join("stacks.folded")).expect("folded");
    // Stacks are rooted at the child's name (sh, or dash/bash behind it),
    // never at sentryprof itself (the events come alive at exec).
    assert!(!folded.contains("sentryprof;"), "{folded}");
    let named = folded
        .lines()
        .filter(|l| !l.split(';').skip(1).all(|f| f.starts_with('[')))
        .count();
    assert!(named > 0, "some frames should be symbolized:\n{folded}");
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
