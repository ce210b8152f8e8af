//! The bad-input contract of issue 14, one test per numbered case: exit 2,
//! one line naming the input and the problem, no panic, nothing written.
//! docs/contract.md lists every case with its result.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bundle::synthetic::write_exp1_bundle;

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

fn sampled_bundle(root: &Path, name: &str) -> PathBuf {
    write_exp1_bundle(&root.join(name), true).unwrap()
}

/// Exit 2, one line on stderr containing every `mention`, no panic.
fn assert_bad(o: &Output, mentions: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    for m in mentions {
        assert!(err.contains(m), "stderr {err:?} should name {m:?}");
    }
}

fn svgs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".svg"))
        .collect()
}

#[test]
fn case8_min_width_wider_than_the_graph_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = sampled_bundle(tmp.path(), "a");
    let o = sentryprof(&["flamegraph", a.to_str().unwrap(), "--min-width", "5000"]);
    assert_bad(&o, &["--min-width 5000", "1200"]);
    assert!(svgs(&a).is_empty(), "{:?}", svgs(&a));
}

#[test]
fn case9_diff_search_names_the_unknown_strategy() {
    let tmp = tempfile::tempdir().unwrap();
    let a = sampled_bundle(tmp.path(), "a");
    let o = sentryprof(&[
        "flamegraph",
        a.to_str().unwrap(),
        "--diff-search",
        "linear,foo",
    ]);
    assert_bad(&o, &["\"foo\" is not a search strategy", "linear, maxgap"]);
    assert!(svgs(&a).is_empty(), "{:?}", svgs(&a));
}

#[test]
fn case12_sharing_of_an_empty_image_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("empty.img");
    std::fs::write(&img, b"").unwrap();
    let out = tmp.path().join("out");
    let o = sentryprof(&[
        "sharing",
        "--image",
        img.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad(&o, &["empty.img", "empty"]);
    assert!(!out.exists());
}

#[test]
fn case13_sharing_refuses_a_pid_given_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let me = std::process::id().to_string();
    let o = sentryprof(&[
        "sharing",
        "--pid",
        &me,
        "--pid",
        &me,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad(&o, &["--pid", &me, "twice"]);
    assert!(!out.exists());
}

#[test]
fn case6_record_checks_out_before_running_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious.txt");
    std::fs::write(&precious, b"keep").unwrap();
    let marker = tmp.path().join("ran");
    let o = sentryprof(&[
        "record",
        "--out",
        precious.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &format!("touch {}", marker.display()),
    ]);
    assert_bad(&o, &["precious.txt", "not a sentryprof bundle"]);
    assert!(
        !marker.exists(),
        "the command ran although --out was unusable"
    );
    assert_eq!(std::fs::read(&precious).unwrap(), b"keep");
}

fn replay(dir: &Path, trace: &str) -> Output {
    let t = dir.join("t.txt");
    std::fs::write(&t, trace).unwrap();
    sentryprof(&[
        "run",
        "--workload",
        "replay",
        "--trace",
        t.to_str().unwrap(),
        "--platform",
        "inproc",
        "--search",
        "maxgap",
        "--trials",
        "1",
        "--warmup-trials",
        "0",
        "--collect",
        "probes",
        "--quiet",
        "--out",
        dir.join("out").to_str().unwrap(),
    ])
}

#[test]
fn case1_unknown_syscalls_are_counted_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let o = replay(
        tmp.path(),
        "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n\
         frobnicate(0x1, 2) = 0\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains("1 matched the trace, 0 mismatched")
            && out.contains("1 unknown syscall line(s) not replayed (frobnicate 1)"),
        "{out}"
    );
}

#[test]
fn case4_a_trace_whose_every_call_fails_exits_2_with_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let o = replay(
        tmp.path(),
        "mmap(NULL, 18446744073709547520, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n\
         mmap(NULL, 70368744177664, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n\
         brk(0xffffffffffffffff) = 0x1000\n",
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("mismatched (first: line 1 mmap"), "{out}");
    assert_bad(&o, &["t.txt", "every one of the 3 replayed call(s) failed"]);
    // The bundle with the counts is whole.
    assert!(tmp.path().join("out").join("run.json").is_file());
}

#[test]
fn case3_an_overflowing_mmap_offset_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let o = replay(
        tmp.path(),
        "brk(NULL) = 0x555555559000\n\
         mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3, 0xfffffffffffff000) = 0x7f0000000000\n",
    );
    assert_bad(&o, &["t.txt:2: EOVERFLOW", "offset + length"]);
}

#[test]
fn case18_flag_errors_are_one_line_naming_the_flag() {
    assert_bad(
        &sentryprof(&["run", "--size", "-4096"]),
        &["--size", "-4096"],
    );
    assert_bad(&sentryprof(&["run", "--trials", "x"]), &["--trials", "'x'"]);
    assert_bad(&sentryprof(&["run", "--bogus"]), &["--bogus"]);
    assert_bad(&sentryprof(&["flamegraph"]), &["<BUNDLE>"]);
    let help = sentryprof(&["run", "--help"]);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--size"));
}

#[test]
fn case15_errors_and_reports_name_the_final_path() {
    let o = sentryprof(&["record", "--out", "/proc/sentryprof-x", "--", "true"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains(".tmp-"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let o = replay(
        tmp.path(),
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = tmp.path().join("out");
    for f in ["report.txt", "report.html"] {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(!text.contains(".tmp-"), "{f} names the staging directory");
        assert!(
            text.contains(&*out.to_string_lossy()),
            "{f} names {}",
            out.display()
        );
    }
}

#[test]
fn case11_stale_staging_of_a_killed_run_is_removed_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = tmp.path().join(format!(".out.tmp-{dead}"));
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("run.json"), b"{}").unwrap();
    let o = replay(
        tmp.path(),
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(!stale.exists(), "stale staging directory left");
    assert!(err.contains("removed 1 staging directory"), "{err}");
}

#[test]
fn case14_out_on_an_existing_bundle_keeps_it_as_old() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n";
    assert!(replay(tmp.path(), trace).status.success());
    let first = std::fs::read(tmp.path().join("out/run.json")).unwrap();
    let o = replay(tmp.path(), trace);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("it is kept as") && err.contains("out.old"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(tmp.path().join("out.old/run.json")).unwrap(),
        first
    );
    assert!(tmp.path().join("out/run.json").is_file());
}

#[test]
fn case10_report_files_appear_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = sampled_bundle(tmp.path(), "a");
    let out = tmp.path().join("rep");
    std::fs::create_dir(&out).unwrap();
    // One of the files of the set cannot be written: a directory sits where
    // functions.csv goes (a full disk fails the same way, on some file).
    std::fs::create_dir(out.join("functions.csv")).unwrap();
    let o = sentryprof(&[
        "report",
        a.to_str().unwrap(),
        "--format",
        "text,csv,md",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_bad(&o, &["functions.csv"]);
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["functions.csv".to_string()],
        "half-written report"
    );
}
