//! Every command in README.md's code blocks runs as written (issue 14:
//! "Every README command runs as written on a 2-core 24 GiB machine, and a
//! test runs each of them").
//!
//! The commands are read from the README's ```sh blocks: each line that
//! starts with `sentryprof` or `cargo run --release` (run as the built
//! binary; `cargo run --release -- ARGS` is `sentryprof ARGS`). Comments
//! after `#` are dropped. Placeholders are filled with real things made
//! here (BUNDLE and B2: bundles of earlier README commands; A B: two
//! bundles; FILE: a `perf script` fixture; PERF_DATA: the perf.data fixture; COMMAND ARGS...: `ls -l /`;
//! P1 P2: two live processes), and an optional `[...]` group runs once
//! without it and once with each alternative (`a | b`). Each runs in a
//! temporary directory (its bundles land there; the README's relative
//! paths point into the workspace through symlinks); commands with `--tui`
//! or the `tui` verb run in a detached tmux terminal (SKIP line without
//! tmux). `cargo test` itself is not run from inside a test (a visible
//! line says so).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The command lines of the README's code blocks, as written.
fn readme_commands() -> Vec<String> {
    let text = fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut in_block = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        if !in_block {
            continue;
        }
        let cmd = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        let cmd = cmd.trim();
        if cmd.starts_with("sentryprof") || cmd.starts_with("cargo ") {
            out.push(cmd.to_string());
        }
    }
    out
}

/// Split a command line into words, keeping `[...]` groups as one word
/// each and honouring single quotes.
fn words(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quoted) = (0, false);
    for c in cmd.chars() {
        match c {
            '\'' if depth == 0 => quoted = !quoted,
            '[' if !quoted => {
                depth += 1;
                cur.push(c);
            }
            ']' if !quoted => {
                depth -= 1;
                cur.push(c);
            }
            ' ' if depth == 0 && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every variant of a command: optional groups left out, then each
/// alternative of each group alone.
fn variants(ws: &[String]) -> Vec<Vec<String>> {
    let base: Vec<String> = ws.iter().filter(|w| !w.starts_with('[')).cloned().collect();
    let mut out = vec![base.clone()];
    for (i, w) in ws.iter().enumerate() {
        let Some(inner) = w.strip_prefix('[').and_then(|w| w.strip_suffix(']')) else {
            continue;
        };
        for alt in inner.split(" | ") {
            // The group's words at its place in the command.
            let before = ws[..i].iter().filter(|w| !w.starts_with('['));
            let after = ws[i + 1..].iter().filter(|w| !w.starts_with('['));
            let mut v: Vec<String> = before.cloned().collect();
            v.extend(words(alt.trim()));
            v.extend(after.cloned());
            out.push(v);
        }
    }
    out
}

/// The README's words for the built binary's arguments (None for a command
/// a test must not run).
fn binary_args(ws: &[String]) -> Option<Vec<String>> {
    match ws.first().map(String::as_str) {
        Some("sentryprof") => Some(ws[1..].to_vec()),
        Some("cargo") if ws.get(1).map(String::as_str) == Some("run") => {
            let rest: Vec<String> = ws[2..]
                .iter()
                .skip_while(|w| w.as_str() != "--")
                .skip(1)
                .cloned()
                .collect();
            Some(rest)
        }
        _ => None,
    }
}

/// What fills the README's placeholders.
struct Fill {
    bundle: Option<PathBuf>,
    second: Option<PathBuf>,
    file: PathBuf,
    pids: (u32, u32),
}

fn fill(ws: &[String], f: &Fill) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let w = ws[i].as_str();
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .ok_or_else(|| format!("no bundle yet for {w}"))
        };
        match w {
            "BUNDLE" | "A" => out.push(path(&f.bundle)?),
            "B" | "B2" => out.push(path(&f.second)?),
            "FILE" => out.push(f.file.display().to_string()),
            "PERF_DATA" => out.push("ls.data".to_string()),
            "P1" => out.push(f.pids.0.to_string()),
            "P2" => out.push(f.pids.1.to_string()),
            "COMMAND" if ws.get(i + 1).map(String::as_str) == Some("ARGS...") => {
                out.extend(["ls".to_string(), "-l".to_string(), "/".to_string()]);
                i += 1;
            }
            _ if w.len() > 1
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c == '.' || c == '_') =>
            {
                return Err(format!("unknown placeholder {w}"));
            }
            _ => out.push(w.to_string()),
        }
        i += 1;
    }
    Ok(out)
}

/// The output of one command.
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

fn run_plain(cwd: &Path, args: &[String]) -> Ran {
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Ran {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        took: t.elapsed(),
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a terminal command in a detached 200x50 tmux terminal: press `q`
/// once `ready` holds (the run's bundle exists, or the browser is up) and
/// until it exits.
fn run_in_tmux(cwd: &Path, args: &[String], ready: &dyn Fn() -> bool) -> Ran {
    let socket = format!("readme-{}", std::process::id());
    let tmux = |a: &[&str]| {
        Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(a)
            .output()
            .unwrap()
    };
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let line = format!(
        "'{}' {} 2>stderr.txt; echo $? > rc.txt; sleep 600",
        env!("CARGO_BIN_EXE_sentryprof"),
        quoted.join(" ")
    );
    let _ = fs::remove_file(cwd.join("rc.txt"));
    let t = Instant::now();
    let cwd_s = cwd.display().to_string();
    let o = tmux(&[
        "new-session",
        "-d",
        "-s",
        "r",
        "-x",
        "200",
        "-y",
        "50",
        "-c",
        &cwd_s,
        &line,
    ]);
    assert!(o.status.success(), "{o:?}");
    let limit = Duration::from_secs(300);
    while !ready() && t.elapsed() < limit && !cwd.join("rc.txt").exists() {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    while !cwd.join("rc.txt").exists() && t.elapsed() < limit {
        tmux(&["send-keys", "-t", "r", "q"]);
        std::thread::sleep(Duration::from_millis(700));
    }
    let screen = tmux(&["capture-pane", "-p", "-t", "r"]);
    tmux(&["kill-server"]);
    let code = fs::read_to_string(cwd.join("rc.txt"))
        .ok()
        .and_then(|s| s.trim().parse().ok());
    Ran {
        code,
        stdout: String::from_utf8_lossy(&screen.stdout).into_owned(),
        stderr: fs::read_to_string(cwd.join("stderr.txt")).unwrap_or_default(),
        took: t.elapsed(),
    }
}

/// The run bundles under `cwd/sentryprof-out`, newest name last.
fn run_bundles(cwd: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(cwd.join("sentryprof-out"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("run.json").is_file())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Two processes whose memory `sharing` can scan, killed on drop.
struct Sleepers(Child, Child);

impl Drop for Sleepers {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.1.kill();
        let _ = self.0.wait();
        let _ = self.1.wait();
    }
}

#[test]
fn the_readme_commands_are_found() {
    let cmds = readme_commands();
    for expected in [
        "cargo run --release",
        "sentryprof doctor",
        "sentryprof run --workload exp2",
        "sentryprof record -- COMMAND ARGS...",
        "sentryprof import perf-script FILE",
        "sentryprof import perf.data PERF_DATA",
        "sentryprof sharing --pid P1 --pid P2",
    ] {
        assert!(
            cmds.iter().any(|c| c.starts_with(expected)),
            "{expected:?} not found among {cmds:#?}"
        );
    }
    let flame = cmds
        .iter()
        .find(|c| c.contains("flamegraph BUNDLE"))
        .unwrap();
    let v = variants(&words(flame));
    assert_eq!(
        v.len(),
        5,
        "base, --icicle, --probes, --diff-search, --diff: {v:?}"
    );
    assert_eq!(v[4], words("sentryprof flamegraph BUNDLE --diff B2"));
}

#[test]
fn every_readme_command_runs_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path();
    // The README's relative paths (fixtures) resolve from here.
    for d in ["instrumented-sentry", "collectors"] {
        std::os::unix::fs::symlink(workspace().join(d), cwd.join(d)).unwrap();
    }
    let fixture = workspace().join("collectors/fixtures/perf-script/ls-callchain.txt");
    fs::copy(&fixture, cwd.join("ls-callchain.txt")).unwrap();
    // A copy: `import perf.data` writes its bundle beside its input.
    let perf_data = workspace().join("collectors/fixtures/perf-data/ls.data");
    fs::copy(&perf_data, cwd.join("ls.data")).unwrap();
    let spawn_sleeper = || Command::new("sleep").arg("600").spawn().expect("sleep");
    let sleepers = Sleepers(spawn_sleeper(), spawn_sleeper());
    let mut f = Fill {
        bundle: None,
        second: None,
        file: PathBuf::from("ls-callchain.txt"),
        pids: (sleepers.0.id(), sleepers.1.id()),
    };
    let tmux = have_tmux();
    let mut ran = 0;
    let mut slow = Vec::new();
    for cmd in readme_commands() {
        let ws = words(&cmd);
        let Some(_) = binary_args(&ws) else {
            println!("NOT RUN (a test cannot run the test suite from inside it): {cmd}");
            continue;
        };
        for v in variants(&ws) {
            let args = binary_args(&fill(&v, &f).unwrap_or_else(|e| panic!("{cmd}: {e}"))).unwrap();
            let shown = v.join(" ");
            let terminal =
                args.iter().any(|a| a == "--tui") || args.first().is_some_and(|a| a == "tui");
            if terminal && !tmux {
                println!("SKIP: tmux not found, not run: {shown}");
                continue;
            }
            let before = run_bundles(cwd).len();
            let r = if terminal {
                let is_run = args.first().is_some_and(|a| a == "run");
                let ready = || {
                    if is_run {
                        run_bundles(cwd).len() > before
                    } else {
                        std::thread::sleep(Duration::from_secs(2));
                        true
                    }
                };
                run_in_tmux(cwd, &args, &ready)
            } else {
                run_plain(cwd, &args)
            };
            ran += 1;
            println!(
                "ran in {:.1} s, exit {:?}: {shown}",
                r.took.as_secs_f64(),
                r.code
            );
            if r.took > Duration::from_secs(60) {
                slow.push(format!("{shown} ({:.0} s)", r.took.as_secs_f64()));
            }
            let compare = args.first().is_some_and(|a| a == "compare");
            let ok = match r.code {
                Some(0) => true,
                Some(1) => compare, // a regression found: a valid outcome
                _ => false,
            };
            assert!(
                ok,
                "README command failed as written: {shown}\nexit {:?}\nstderr:\n{}\nstdout (end):\n{}",
                r.code,
                r.stderr,
                r.stdout.lines().rev().take(15).collect::<Vec<_>>().join("\n")
            );
            assert!(!r.stderr.contains("panicked"), "{shown}: {}", r.stderr);
            // The latest run bundle fills BUNDLE; the one before it B2/B.
            let bundles = run_bundles(cwd);
            if bundles.len() > before && args.first().is_some_and(|a| a == "run") {
                let exp1 = bundles
                    .iter()
                    .rev()
                    .find(|b| bundle::read_bundle(b).is_ok_and(|l| l.run.workload.name == "exp1"));
                if let Some(b) = exp1 {
                    if f.bundle.as_ref() != Some(b) {
                        f.second = f.bundle.take().or_else(|| Some(b.clone()));
                        f.bundle = Some(b.clone());
                    }
                }
            }
            // Distinct default names (one per second).
            std::thread::sleep(Duration::from_millis(1100));
        }
    }
    assert!(ran >= 15, "only {ran} command(s) ran");
    if !slow.is_empty() {
        println!("README commands over 60 s here: {}", slow.join("; "));
    }
}

#[test]
fn an_exp2_point_that_cannot_fit_in_memory_is_refused_up_front() {
    // The README's small exp2 says the defaults would not fit: a point that
    // touches more than this machine's memory is refused before any work.
    let mib = bundle::mem_total_bytes().expect("MemTotal") >> 20;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let calls = (mib + 1024).to_string();
    let t = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(["run", "--workload", "exp2", "--mapping", "anon", "--touch"])
        .args([
            "--platform",
            "native,inproc,kvm",
            "--size",
            "1M",
            "--iterations",
            &calls,
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("needs more memory than this machine has") && err.contains(&calls),
        "{err}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "refused only after work"
    );
    assert!(
        fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
