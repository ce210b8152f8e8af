//! Fault tests of issue 14: SIGKILL and SIGINT at fixed moments (early,
//! middle, late) of `run`, `record`, `import perf-script` and `report`; a
//! disk that fills (a small tmpfs); two runs with the same `--out` at once.
//! After each: the exit status docs/contract.md gives, no staging
//! directory or temporary file left (after a SIGKILL, the next command of
//! the same output removes it and says so), and the bundle that was at
//! `--out` before is never lost (it is at `--out`, or at `NAME.old` when a
//! new bundle replaced it).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bundle::read_bundle;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Spawn `args` with stdout discarded and stderr into `err_file`.
fn spawn(args: &[String], err_file: &Path) -> Child {
    sentryprof()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(err_file).unwrap())
        .spawn()
        .expect("spawn sentryprof")
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill() on our own child's pid; no memory effects.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(r, 0, "kill");
}

/// Entries a writer leaves while at work: `.NAME.tmp-PID`,
/// `.NAME.old-PID`, `.F.bak-PID`.
fn leftovers(dir: &Path) -> Vec<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with('.')
                && (n.contains(".tmp-") || n.contains(".old-") || n.contains(".bak-"))
        })
        .collect();
    v.sort();
    v
}

/// The status a signal may give: SIGKILL kills (or the command had
/// finished: 0); SIGINT gives 130 (or 0 when it had finished).
fn assert_status(sig: libc::c_int, status: ExitStatus, what: &str, err: &str) {
    match sig {
        libc::SIGKILL => assert!(
            status.signal() == Some(libc::SIGKILL) || status.success(),
            "{what}: {status}: {err}"
        ),
        _ => assert!(
            matches!(status.code(), Some(130) | Some(0)),
            "{what}: {status} (expected 130, or 0 if it had finished): {err}"
        ),
    }
    assert!(!err.contains("panicked"), "{what}: {err}");
}

fn read_err(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

fn run_json(dir: &Path) -> Option<Vec<u8>> {
    fs::read(dir.join("run.json")).ok()
}

/// One signal at one moment of one command, and what must hold after.
struct Fault<'a> {
    what: &'a str,
    args: Vec<String>,
    sig: libc::c_int,
    after: Duration,
}

/// Run `faults` in order against the output `out` (a bundle directory, or
/// for `report` the directory written into): each must end with its
/// documented status, leave nothing behind (a SIGKILL's staging is swept,
/// with a note, by the next command), and keep the bundle that was at
/// `out` before it (at `out` or at `out.old`).
fn exercise(tmp: &Path, out: &Path, faults: &[Fault], bundle_out: bool) {
    let parent = out.parent().unwrap();
    let err_file = tmp.join("stderr.txt");
    for (i, f) in faults.iter().enumerate() {
        let before = run_json(out);
        let pre = leftovers(parent);
        let mut child = spawn(&f.args, &err_file);
        std::thread::sleep(f.after);
        signal(&child, f.sig);
        let status = child.wait().unwrap();
        let err = read_err(&err_file);
        let what = format!("#{i} {} ({} after {:?})", f.what, sig_name(f.sig), f.after);
        assert_status(f.sig, status, &what, &err);
        let left = leftovers(parent);
        println!("{what}: {status}; staging before {pre:?}, after {left:?}");
        if status.success() {
            // Whatever an earlier SIGKILL left is swept, with a note.
            assert!(left.is_empty(), "{what}: left behind {left:?}: {err}");
            if !pre.is_empty() {
                assert!(
                    err.contains("left by a killed earlier run"),
                    "{what}: the sweep of {pre:?} was not reported: {err}"
                );
            }
        } else if f.sig != libc::SIGKILL {
            // Interrupted (130): nothing of its own left.
            let own: Vec<&String> = left.iter().filter(|l| !pre.contains(l)).collect();
            assert!(own.is_empty(), "{what}: left behind {own:?}: {err}");
        }
        if bundle_out {
            if let Some(before) = before {
                let kept_at_out = run_json(out).as_ref() == Some(&before);
                let kept_as_old = run_json(&bundle::old_path(out)).as_ref() == Some(&before);
                assert!(
                    kept_at_out || kept_as_old,
                    "{what}: the bundle that was at {} is lost: {err}",
                    out.display()
                );
            }
            if out.exists() {
                let b = read_bundle(out).unwrap_or_else(|e| panic!("{what}: {e}"));
                for f in &b.run.files {
                    assert!(out.join(f).exists(), "{what}: {f} listed, missing");
                }
            }
        }
    }
    // A last clean command sweeps whatever a final SIGKILL left.
    if !leftovers(parent).is_empty() {
        let last = &faults[faults.len() - 1];
        let o = sentryprof().args(&last.args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "sweep run: {err}");
        assert!(err.contains("left by a killed earlier run"), "{err}");
        assert!(leftovers(parent).is_empty(), "{:?}", leftovers(parent));
    }
}

fn sig_name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Fixed moments spread over a command that takes about `span`: early,
/// middle and late (SIGKILL at 5%, 35%, 65%, 90% and 150%, SIGINT at 5%,
/// 50% and 80%), in that order.
fn moments(span: Duration) -> Vec<(libc::c_int, Duration)> {
    // Never before 150 ms: the handlers are installed by then.
    let at = |f: f64| Duration::from_secs_f64((span.as_secs_f64() * f).max(0.15));
    vec![
        (libc::SIGKILL, at(0.05)),
        (libc::SIGINT, at(0.05)),
        (libc::SIGKILL, at(0.35)),
        (libc::SIGINT, at(0.5)),
        (libc::SIGKILL, at(0.65)),
        (libc::SIGINT, at(0.8)),
        (libc::SIGKILL, at(0.9)),
        (libc::SIGKILL, at(1.5)),
    ]
}

/// How long `args` takes once, to place the moments.
fn time_once(args: &[String]) -> Duration {
    let t = Instant::now();
    let o = sentryprof().args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    t.elapsed()
}

#[test]
fn signals_during_run_keep_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let args = strings(&[
        "run",
        "--iterations",
        "4000",
        "--trials",
        "4",
        "--warmup-trials",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let span = time_once(&args);
    println!("run takes {span:?} here; signals from 5% to 150% of it");
    let faults: Vec<Fault> = moments(span)
        .into_iter()
        .map(|(sig, after)| Fault {
            what: "run",
            args: args.clone(),
            sig,
            after,
        })
        .collect();
    exercise(tmp.path(), &out, &faults, true);
}

/// A shell loop that keeps a CPU busy for about `secs` seconds.
fn busy_for(secs: u32) -> Vec<String> {
    strings(&[
        "sh",
        "-c",
        &format!("end=$(($(date +%s)+{secs})); while [ $(date +%s) -lt $end ]; do :; done"),
    ])
}

fn perf_refused(err: &str) -> bool {
    err.contains("perf_event_open refused")
}

#[test]
fn signals_during_record_keep_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let mut args = strings(&["record", "--out", out.to_str().unwrap(), "--"]);
    args.extend(busy_for(2));
    let probe = sentryprof().args(&args).output().unwrap();
    let err = String::from_utf8_lossy(&probe.stderr);
    if perf_refused(&err) {
        println!("SKIP: perf_event_open refused here: {err}");
        return;
    }
    assert!(probe.status.success(), "{err}");
    let faults: Vec<Fault> = moments(Duration::from_secs(2))
        .into_iter()
        .map(|(sig, after)| Fault {
            what: "record",
            args: args.clone(),
            sig,
            after,
        })
        .collect();
    exercise(tmp.path(), &out, &faults, true);
}

#[test]
fn case7_sigint_during_record_saves_the_samples_and_exits_130() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rec");
    let err_file = tmp.path().join("stderr.txt");
    let mut args = strings(&[
        "record",
        "--freq",
        "499",
        "--out",
        out.to_str().unwrap(),
        "--",
    ]);
    args.extend(busy_for(8));
    let started = Instant::now();
    let mut child = spawn(&args, &err_file);
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, libc::SIGINT);
    let status = child.wait().unwrap();
    let err = read_err(&err_file);
    if perf_refused(&err) {
        println!("SKIP: perf_event_open refused here: {err}");
        return;
    }
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the command was not stopped: {:?}",
        started.elapsed()
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("interrupted")).collect();
    assert_eq!(lines.len(), 1, "one line says it was interrupted: {err}");
    assert!(
        lines[0].contains("recorded") && lines[0].contains(out.to_str().unwrap()),
        "{err}"
    );
    let b = read_bundle(&out).expect("a complete bundle");
    let profile = b.run.profile.as_ref().expect("profile");
    // Under load the busy child may get little CPU: some samples, not none.
    assert!(profile.samples > 0, "samples kept: {}", profile.samples);
    assert_eq!(b.run.workload.params["interrupted"], true);
    assert!(b.run.notes.iter().any(|n| n.contains("interrupted")));
    let folded = fs::read_to_string(out.join("stacks.folded")).unwrap();
    assert!(!folded.is_empty());
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
    // The report reads it.
    let o = sentryprof().arg("report").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn sigint_between_points_of_run_saves_the_points_done() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = sentryprof()
        .args([
            "run",
            "--platform",
            "inproc",
            "--search",
            "maxgap,linear",
            "--iterations",
            "500,20000",
            "--trials",
            "200",
            "--warmup-trials",
            "0",
            "--collect",
            "probes",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The first point's latency line on stdout: it is measured.
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("/call (median"))
        .expect("a point line");
    signal(&child, libc::SIGINT);
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{first}\n{rest:?}\n{err}");
    let b = read_bundle(&out).expect("the points done are saved");
    assert!(
        !b.run.points.is_empty() && b.run.points.len() < 4,
        "{} points",
        b.run.points.len()
    );
    assert!(b.run.notes.iter().any(|n| n.contains("interrupted after")));
    let line = err.lines().last().unwrap_or("");
    assert!(
        line.contains("interrupted:") && line.contains("saved in"),
        "{err}"
    );
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
}

/// A `perf script` text of about `copies` × 19 KB: the fixture repeated.
fn big_perf_script(dir: &Path, copies: usize) -> PathBuf {
    let one =
        fs::read_to_string(workspace().join("collectors/fixtures/perf-script/ls-callchain.txt"))
            .unwrap();
    let p = dir.join("big.txt");
    fs::write(&p, one.repeat(copies)).unwrap();
    p
}

#[test]
fn signals_during_import_keep_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let input = big_perf_script(tmp.path(), 6000);
    let out = tmp.path().join("imp");
    let args = vec![
        "import".to_string(),
        "perf-script".to_string(),
        input.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ];
    let span = time_once(&args);
    println!("import of 116 MB takes {span:?} here");
    let faults: Vec<Fault> = moments(span)
        .into_iter()
        .map(|(sig, after)| Fault {
            what: "import",
            args: args.clone(),
            sig,
            after,
        })
        .collect();
    exercise(tmp.path(), &out, &faults, true);
}

/// A bundle with 50,000 distinct stacks: its report takes a while.
fn big_bundle(dir: &Path) -> PathBuf {
    let stacks = bundle::synthetic::synthetic_folded(50_000, 7);
    bundle::synthetic::write_bundle(
        &dir.join("big"),
        &bundle::synthetic::sample_run(1.0),
        Some(&stacks),
    )
    .unwrap()
}

#[test]
fn signals_during_report_keep_the_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let b = big_bundle(tmp.path());
    let out = tmp.path().join("rep");
    fs::create_dir(&out).unwrap();
    let args = vec![
        "report".to_string(),
        b.display().to_string(),
        "--format".to_string(),
        "text,csv,md,json".to_string(),
        "--export".to_string(),
        "folded,json,csv,pprof".to_string(),
        "--out".to_string(),
        out.display().to_string(),
    ];
    let span = time_once(&args);
    println!("report of 50,000 stacks takes {span:?} here");
    let faults: Vec<Fault> = moments(span)
        .into_iter()
        .map(|(sig, after)| Fault {
            what: "report",
            args: args.clone(),
            sig,
            after,
        })
        .collect();
    // Files in `rep` (not a bundle): each is whole; temporary files of a
    // killed report are swept by the next one.
    exercise(tmp.path(), &out.join("report.txt"), &faults, false);
    for f in ["report.txt", "report.md", "functions.csv", "profile.folded"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !o.status.success() {
            println!(
                "SKIP: cannot mount a small tmpfs here (needs root): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Some(SmallDisk(dir.to_path_buf()))
    }

    /// Fill it so that about `free` bytes stay free.
    fn fill_leaving(&self, free: u64) {
        use std::io::Write;
        let mut f = fs::File::create(self.0.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        drop(f);
        let len = fs::metadata(self.0.join("filler")).unwrap().len();
        let keep = len.saturating_sub(free);
        fs::OpenOptions::new()
            .write(true)
            .open(self.0.join("filler"))
            .unwrap()
            .set_len(keep)
            .unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Exit 2, one line naming a path on the disk and ENOSPC.
fn assert_enospc(o: &std::process::Output, disk: &Path, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    let line = err.lines().last().unwrap_or("");
    assert!(
        line.contains("ENOSPC") && line.contains(disk.to_str().unwrap()),
        "{what}: {err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("sentryprof: error"))
            .count(),
        1,
        "{what}: one error line: {err}"
    );
}

#[test]
fn a_full_disk_fails_each_verb_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk"), "256k") else {
        return;
    };
    let d = disk.0.clone();
    // The earlier bundle on the disk, and an earlier report.
    let small = workspace().join("collectors/fixtures/perf-script/ls-callchain.txt");
    let out = d.join("b");
    let o = sentryprof()
        .args(["import", "perf-script"])
        .arg(&small)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let before = run_json(&out).unwrap();
    let rep = d.join("rep");
    fs::create_dir(&rep).unwrap();
    fs::write(rep.join("report.txt"), b"earlier report").unwrap();
    let sampled = bundle::synthetic::write_exp1_bundle(&tmp.path().join("src"), true).unwrap();
    let mut rec = vec![
        "record".to_string(),
        "--out".into(),
        out.display().to_string(),
        "--".into(),
    ];
    rec.extend(busy_for(1));
    let cases: Vec<(&str, Vec<String>, u64)> = vec![
        (
            "run, disk full mid-bundle",
            strings(&[
                "run",
                "--iterations",
                "500",
                "--trials",
                "2",
                "--warmup-trials",
                "0",
                "--out",
                out.to_str().unwrap(),
            ]),
            64 << 10,
        ),
        (
            "run, disk full",
            strings(&[
                "run",
                "--iterations",
                "500",
                "--trials",
                "2",
                "--warmup-trials",
                "0",
                "--out",
                out.to_str().unwrap(),
            ]),
            0,
        ),
        ("record", rec, 0),
        (
            "import",
            vec![
                "import".into(),
                "perf-script".into(),
                small.display().to_string(),
                "--out".into(),
                out.display().to_string(),
            ],
            0,
        ),
        (
            "report, disk full mid-set",
            strings(&[
                "report",
                sampled.to_str().unwrap(),
                "--format",
                "text,csv,md,json",
                "--export",
                "folded,json,csv,pprof",
                "--out",
                rep.to_str().unwrap(),
            ]),
            48 << 10,
        ),
        (
            "report, disk full",
            strings(&[
                "report",
                sampled.to_str().unwrap(),
                "--format",
                "text,csv,md",
                "--out",
                rep.to_str().unwrap(),
            ]),
            0,
        ),
    ];
    for (what, args, free) in cases {
        disk.fill_leaving(free);
        let o = sentryprof().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        if what == "record" && perf_refused(&err) {
            println!("SKIP: record on a full disk: perf_event_open refused here");
            continue;
        }
        assert_enospc(&o, &d, what);
        assert_eq!(
            run_json(&out).as_ref(),
            Some(&before),
            "{what}: earlier bundle changed"
        );
        assert!(
            !bundle::old_path(&out).exists(),
            "{what}: nothing moved to .old"
        );
        assert!(leftovers(&d).is_empty(), "{what}: {:?}", leftovers(&d));
        let in_rep: Vec<String> = fs::read_dir(&rep)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            in_rep,
            vec!["report.txt".to_string()],
            "{what}: half a report"
        );
        assert_eq!(fs::read(rep.join("report.txt")).unwrap(), b"earlier report");
        println!("{what}: {}", err.lines().last().unwrap_or(""));
    }
}

#[test]
fn two_runs_with_the_same_out_never_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    bundle::synthetic::write_exp1_bundle(&out, false).unwrap();
    let before = run_json(&out).unwrap();
    let args = strings(&[
        "run",
        "--iterations",
        "500",
        "--trials",
        "2",
        "--warmup-trials",
        "0",
        "--out",
        out.to_str().unwrap(),
    ]);
    let spawn_piped = || {
        sentryprof()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn_piped(), spawn_piped());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let mut codes = [a.status.code(), b.status.code()];
    codes.sort();
    let errs = format!(
        "{}\n---\n{}",
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr)
    );
    // Documented: the second refuses while the first holds the output
    // (exit 2, naming the other's pid); both succeed only when one had
    // finished before the other claimed the output.
    assert!(
        codes == [Some(0), Some(2)] || codes == [Some(0), Some(0)],
        "{codes:?}: {errs}"
    );
    if codes == [Some(0), Some(2)] {
        assert!(errs.contains("is writing this bundle now"), "{errs}");
    }
    let b = read_bundle(&out).expect("one whole bundle");
    assert_eq!(b.run.kind, bundle::BundleKind::Run);
    for f in &b.run.files {
        assert!(
            out.join(f).exists(),
            "{f} listed but missing: a mixed bundle"
        );
    }
    let old = run_json(&bundle::old_path(&out));
    assert!(
        old.as_ref() == Some(&before) || codes == [Some(0), Some(0)],
        "the earlier bundle is kept as out.old"
    );
    assert!(
        leftovers(tmp.path()).is_empty(),
        "{:?}",
        leftovers(tmp.path())
    );
}
