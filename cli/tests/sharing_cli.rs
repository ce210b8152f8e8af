//! `sentryprof sharing` end to end: exact counts over images built here,
//! cross sharing between two python3 processes, unreadable processes, and
//! bad input (exit 2, nothing written).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const PAGE: usize = 4096;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

fn run(args: &[&str]) -> Output {
    sentryprof().args(args).output().expect("run sentryprof")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Distinct pseudo-random page for each seed.
fn page(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..PAGE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// Processes started for a test, killed and reaped on drop (also when the
/// test fails).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn images_exact_counts_json_and_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let a = page(1);
    // one.img: a a zero u1 ; two.img: a zero zero u2 a
    let mut one = Vec::new();
    for p in [&a, &a, &vec![0u8; PAGE], &page(2)] {
        one.extend_from_slice(p);
    }
    let mut two = Vec::new();
    for p in [&a, &vec![0u8; PAGE], &vec![0u8; PAGE], &page(3), &a] {
        two.extend_from_slice(p);
    }
    let (p1, p2) = (dir.path().join("one.img"), dir.path().join("two.img"));
    std::fs::write(&p1, &one).unwrap();
    std::fs::write(&p2, &two).unwrap();
    let out = dir.path().join("bundle");
    let o = run(&[
        "sharing",
        "--image",
        p1.to_str().unwrap(),
        "--image",
        p2.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let stdout: Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let t = &stdout["totals"];
    assert_eq!(t["pages_scanned"], 9);
    assert_eq!(t["zero_pages"], 3);
    assert_eq!(t["unique_pages"], 2);
    assert_eq!(t["sharable_pages"], 3);
    assert_eq!(t["self_sharing_pages"], 2);
    assert_eq!(t["cross_sharing_pages"], 1);
    assert_eq!(stdout["by_kind"][0]["kind"], "image");

    let run_json = read_json(&out.join("run.json"));
    assert_eq!(run_json["kind"], "sharing");
    let files: Vec<&str> = run_json["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f.as_str())
        .collect();
    assert!(files.contains(&"sharing.json"), "{files:?}");
    for f in &files {
        assert!(out.join(f).is_file(), "{f} listed but missing");
    }
    let in_bundle = read_json(&out.join("sharing.json"));
    assert_eq!(in_bundle["totals"], stdout["totals"]);

    // Text table at 2048-byte granules.
    let o = run(&[
        "sharing",
        "--image",
        p1.to_str().unwrap(),
        "--granularity",
        "2K",
        "--out",
        dir.path().join("b2").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    assert!(table.contains("granularity 2048 B"), "{table}");
    assert!(table.contains("mapping kind"), "{table}");
    assert!(table.contains("most duplicated contents"), "{table}");
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.img");
    std::fs::write(&img, page(5)).unwrap();
    let out = dir.path().join("never");
    let o_arg = out.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--image".into(),
                img.display().to_string(),
                "--granularity".into(),
                "3000".into(),
            ],
            "granularity",
        ),
        (
            vec![
                "--image".into(),
                img.display().to_string(),
                "--granularity".into(),
                "8192".into(),
            ],
            "granularity",
        ),
        (
            vec![
                "--image".into(),
                dir.path().join("missing.img").display().to_string(),
            ],
            "missing.img",
        ),
        (vec!["--pid".into(), "2147483000".into()], "2147483000"),
        (vec![], "no sources"),
        (
            vec!["--bundle".into(), dir.path().display().to_string()],
            "run.json",
        ),
    ];
    for (args, needle) in cases {
        let mut full = vec!["sharing".to_string(), "--out".into(), o_arg.into()];
        full.extend(args.iter().cloned());
        let o = sentryprof().args(&full).output().unwrap();
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "{args:?} left {out:?}");
    }

    // A run bundle without memory.img: say how to get one.
    let b = dir.path().join("runbundle");
    std::fs::create_dir(&b).unwrap();
    std::fs::write(
        b.join("run.json"),
        r#"{"format_version":"1.0","kind":"run"}"#,
    )
    .unwrap();
    let o = run(&["sharing", "--bundle", b.to_str().unwrap(), "--out", o_arg]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("--keep-memory"),
        "{}",
        text(&o.stderr)
    );
    // With the file it is scanned as the sentry memory file.
    std::fs::write(b.join("memory.img"), [page(6), page(6)].concat()).unwrap();
    let o = run(&[
        "sharing",
        "--bundle",
        b.to_str().unwrap(),
        "--out",
        o_arg,
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["by_kind"][0]["kind"], "sentry_memory_file");
    assert_eq!(v["totals"]["sharable_pages"], 1);
}

#[test]
fn missing_process_is_a_note_when_others_scan() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.img");
    std::fs::write(&img, page(7)).unwrap();
    let o = run(&[
        "sharing",
        "--pid",
        "2147483000",
        "--image",
        img.to_str().unwrap(),
        "--out",
        dir.path().join("b").to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["totals"]["pages_scanned"], 1);
    let notes = v["notes"].to_string();
    assert!(
        notes.contains("2147483000") && notes.contains("no such process"),
        "{notes}"
    );
}

/// Start `python3 -c CODE` and wait until it printed its first line (its
/// imports are done and it sleeps).
fn start_python(procs: &mut Procs, code: &str, uid: Option<u32>) -> Option<u32> {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(u) = uid {
        cmd.uid(u).gid(u);
    }
    let mut child = cmd.spawn().ok()?;
    let pid = child.id();
    let stdout = child.stdout.take();
    procs.0.push(child);
    let mut line = String::new();
    BufReader::new(stdout?).read_line(&mut line).ok()?;
    (line.trim() == "ready").then_some(pid)
}

const SLEEPER: &str = "import sys, time; print('ready', flush=True); time.sleep(30)";

#[test]
fn two_python_processes_share_across_by_kind() {
    let mut procs = Procs(Vec::new());
    let (Some(a), Some(b)) = (
        start_python(&mut procs, SLEEPER, None),
        start_python(&mut procs, SLEEPER, None),
    ) else {
        skip_line(format_args!("SKIP: python3 could not be started"));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("py");
    let o = run(&[
        "sharing",
        "--pid",
        &a.to_string(),
        "--pid",
        &b.to_string(),
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    drop(procs);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = &v["totals"];
    assert!(t["pages_scanned"].as_u64().unwrap() > 100, "{t}");
    assert!(t["cross_sharing_pages"].as_u64().unwrap() > 0, "{t}");
    let kinds = v["by_kind"].as_array().unwrap();
    let cross_in = |name: &str| {
        kinds
            .iter()
            .find(|k| k["kind"] == name)
            .and_then(|k| k["cross_sharing_pages"].as_u64())
            .unwrap_or(0)
    };
    assert!(
        cross_in("library") + cross_in("file") > 0,
        "no cross sharing in file-backed kinds: {kinds:?}"
    );
    for s in v["sources"].as_array().unwrap() {
        assert_eq!(s["status"], "complete", "{s}");
    }
    let run_json = read_json(&out.join("run.json"));
    assert_eq!(run_json["kind"], "sharing");
}

#[test]
fn unreadable_process_is_noted_and_others_scanned() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let nobody = 65534;
    let mut procs = Procs(Vec::new());
    let uid = root.then_some(nobody);
    let Some(mine) = start_python(&mut procs, SLEEPER, uid) else {
        skip_line(format_args!("SKIP: python3 could not be started"));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sentryprof();
    cmd.args([
        "sharing",
        "--pid",
        "1",
        "--pid",
        &mine.to_string(),
        "--out",
        dir.path().join("b").to_str().unwrap(),
        "--json",
    ]);
    if root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        cmd.uid(nobody).gid(nobody).current_dir(dir.path());
    }
    let o = match cmd.output() {
        Ok(o) => o,
        Err(e) => {
            skip_line(format_args!("SKIP: cannot run sentryprof as nobody: {e}"));
            return;
        }
    };
    drop(procs);
    if !o.status.success() && text(&o.stderr).contains("Permission denied") && root {
        // The binary itself may be out of reach of an unprivileged user.
        skip_line(format_args!(
            "SKIP: cannot run sentryprof as nobody: {}",
            text(&o.stderr)
        ));
        return;
    }
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let sources = v["sources"].as_array().unwrap();
    let status_of = |pid: u32| {
        sources
            .iter()
            .find(|s| s["pid"] == pid)
            .map(|s| s["status"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(status_of(1), "failed", "{sources:?}");
    assert_eq!(status_of(mine), "complete", "{sources:?}");
    assert!(v["notes"].to_string().contains("pid 1"), "{}", v["notes"]);
    assert!(v["totals"]["pages_scanned"].as_u64().unwrap() > 0);
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
