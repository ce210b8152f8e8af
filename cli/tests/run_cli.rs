//! `sentryprof run` end to end: the built binary on tiny parameters. What
//! needs the binary only: exit statuses, stdout and stderr wording, flags,
//! signals. The plan's refusals and the session's bundles are tested on the
//! library (`experiments/tests`).

use std::path::Path;
use std::process::{Command, Output};

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    sentryprof()
        .current_dir(dir)
        .arg("run")
        .arg("--quiet")
        .args(args)
        .output()
        .expect("run the sentryprof binary")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn tiny_run_writes_a_bundle_with_every_contract_key() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let o = run_in(
        tmp.path(),
        &[
            "--workload",
            "exp1",
            "--mapping",
            "anon,private",
            "--platform",
            "native,inproc",
            "--search",
            "linear,maxgap",
            "--iterations",
            "50,100",
            "--size",
            "4K",
            "--trials",
            "2",
            "--warmup-trials",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("inproc/maxgap ÷ native"), "{stdout}");
    assert!(stdout.contains("inproc linear ÷ maxgap"), "{stdout}");
    assert!(stdout.contains("find_available"), "cycle table: {stdout}");

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    for key in [
        "format_version",
        "probe_overhead_cycles",
        "tsc_hz",
        "capabilities",
        "points",
    ] {
        assert!(json.get(key).is_some(), "run.json lacks {key}");
    }
    assert!(json["format_version"].as_str().unwrap().starts_with("1."));
    assert!(json["tsc_hz"].as_u64().unwrap() > 0);
    // 2 mappings x 2 iteration counts x (native + 2 searches); the
    // figures of each point are checked by experiments/tests/session.rs.
    assert_eq!(json["points"].as_array().unwrap().len(), 12);
    // The bundle was renamed into place: no temporary directory is left.
    assert_eq!(entries(tmp.path()), vec!["b".to_string()]);
}

fn expect_bad_input(args: &[&str], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let o = run_in(tmp.path(), args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one-line error expected: {stderr}"
    );
    assert!(
        entries(tmp.path()).is_empty(),
        "{args:?} wrote {:?}",
        entries(tmp.path())
    );
}

#[test]
fn bad_flags_exit_2_and_write_nothing() {
    expect_bad_input(&["--workload", "exp9"], "unknown workload");
    expect_bad_input(&["--size", "0"], "at least 1 byte");
    expect_bad_input(&["--size", "3G"], "not a size");
    expect_bad_input(&["--size", "99999999999999999999K"], "too large");
    expect_bad_input(&["--size", "2048M"], "1 GiB");
    expect_bad_input(&["--iterations", "0"], "at least 1");
    expect_bad_input(&["--iterations", "ten"], "not a whole number");
    expect_bad_input(&["--iterations", "100000000"], "accepted");
    expect_bad_input(
        &["--iterations", "10000000", "--size", "1024M"],
        "does not fit the address space",
    );
    expect_bad_input(
        &["--iterations", "1000000", "--size", "1M", "--touch"],
        "more memory than this machine has",
    );
    expect_bad_input(&["--mapping", "weird"], "unknown mapping");
    expect_bad_input(&["--platform", "xen"], "unknown platform");
    expect_bad_input(&["--search", "binary"], "unknown gap search");
    expect_bad_input(&["--collect", "dtrace"], "unknown collector");
    expect_bad_input(&["--mapping", "anon,"], "empty list item");
    expect_bad_input(&["--touch-modes", "sometimes"], "expected touch or notouch");
    // Refusals of the plan (all of them: experiments/tests/plan.rs) exit 2
    // the same way.
    expect_bad_input(&["--trials", "0"], "--trials 0");
    expect_bad_input(&["--workload", "replay"], "needs --trace");
    expect_bad_input(
        &["--workload", "malloc", "--mapping", "anon"],
        "does not apply",
    );
}

#[test]
fn an_unknown_vcpu_placement_is_refused_for_kvm_points_only() {
    let tmp = tempfile::tempdir().unwrap();
    let o = sentryprof()
        .current_dir(tmp.path())
        .env("SENTRYPROF_VCPU_PLACEMENT", "bogus")
        .args(["run", "--quiet", "--platform", "kvm", "--iterations", "10"])
        .output()
        .expect("run the sentryprof binary");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SENTRYPROF_VCPU_PLACEMENT=\"bogus\"") && stderr.contains("own-thread"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(entries(tmp.path()).is_empty());
    // Points without kvm do not read it.
    let o = sentryprof()
        .current_dir(tmp.path())
        .env("SENTRYPROF_VCPU_PLACEMENT", "bogus")
        .args([
            "run",
            "--quiet",
            "--platform",
            "inproc",
            "--iterations",
            "10",
        ])
        .args(["--trials", "1", "--warmup-trials", "0", "--out", "b"])
        .output()
        .expect("run the sentryprof binary");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn an_unusable_output_path_is_refused_before_any_work() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("taken");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("precious.txt"), b"keep").unwrap();
    let o = run_in(
        tmp.path(),
        &["--iterations", "10", "--out", out.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(entries(&out), vec!["precious.txt".to_string()]);
    assert_eq!(entries(tmp.path()), vec!["taken".to_string()]);
}

#[test]
fn interrupted_run_leaves_no_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    // Long enough to be interrupted mid-way: linear search at 20,000
    // mappings, many trials.
    let child = sentryprof()
        .current_dir(tmp.path())
        .args([
            "run",
            "--quiet",
            "--platform",
            "inproc",
            "--search",
            "linear",
            "--iterations",
            "20000",
            "--trials",
            "1000",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has started its bundle (the staging directory
    // exists: the signal handler is installed right after), then a moment.
    let started = std::time::Instant::now();
    while entries(tmp.path()).is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the run never started its bundle"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: kill() with a child's pid and SIGINT has no memory effects.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0);
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    // Stopped inside the first point: nothing was measured, so no bundle;
    // exit 130 as for every interrupted command.
    assert_eq!(o.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted before any"), "{stderr}");
    assert!(
        entries(tmp.path()).is_empty(),
        "left behind: {:?}",
        entries(tmp.path())
    );
}
