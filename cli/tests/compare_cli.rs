//! `sentryprof compare A B`: verdicts and exit status (0 / 1 regression / 2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bundle::synthetic::exp1_run;
use bundle::{BundleWriter, RunJson};

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

fn write(root: &Path, name: &str, run: &RunJson) -> PathBuf {
    let dir = root.join(name);
    BundleWriter::create(&dir).unwrap().finish(run).unwrap();
    dir
}

fn scaled(factor: f64) -> RunJson {
    let mut run = exp1_run();
    for p in &mut run.points {
        for t in &mut p.latency_ns.trials {
            *t *= factor;
        }
        for s in p.sites.values_mut() {
            for t in &mut s.trial_medians {
                *t *= factor;
            }
        }
    }
    run
}

#[test]
fn verdicts_and_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write(tmp.path(), "a", &exp1_run());
    let same = write(tmp.path(), "same", &exp1_run());
    let slow = write(tmp.path(), "slow", &scaled(1.3));
    let fast = write(tmp.path(), "fast", &scaled(0.7));
    let a_s = a.to_str().unwrap();

    let o = sentryprof(&["compare", a_s, same.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("bootstrap") && out.contains("no significant change"),
        "{out}"
    );

    let o = sentryprof(&["compare", a_s, slow.to_str().unwrap(), "--threshold", "10"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("REGRESSION"));
    // Under a threshold above the slowdown it is slower, not a regression.
    let o = sentryprof(&["compare", a_s, slow.to_str().unwrap(), "--threshold", "50"]);
    assert_eq!(o.status.code(), Some(0));

    let o = sentryprof(&["compare", a_s, fast.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("faster"));

    let o = sentryprof(&["compare", a_s, tmp.path().join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    let o = sentryprof(&["compare", a_s, same.to_str().unwrap(), "--threshold", "-3"]);
    assert_eq!(o.status.code(), Some(2));
}
