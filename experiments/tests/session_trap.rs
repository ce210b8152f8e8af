//! `--platform ptrace` and `--platform systrap` through the run engine: a
//! tiny Exp1 on both lands in the bundle with its probe steps; where the
//! host refuses ptrace and seccomp, each is one note and the other
//! platforms still run; replay on them is planned like any workload.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use experiments::{GapSearch, Mapping, Observer, Plan, PlanRequest, PlatformKind, Session};
use instrumented_sentry::platform::trap::process::refuse_calls_on_exec;
use instrumented_sentry::workload::WorkloadKind;

/// Set in the re-run of a test under the refusing filter.
const REFUSED_CHILD: &str = "SESSION_TRAP_REFUSED_CHILD";

/// A skip or result line straight to the stderr handle (libtest captures
/// `eprintln!` of passing tests).
fn say(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// Keeps the notes the session reports.
#[derive(Debug, Default)]
struct Notes(Vec<String>);

impl Observer for Notes {
    fn note(&mut self, note: &str) {
        self.0.push(note.to_string());
    }
}

/// Exp1, anonymous 4 KiB, `n` calls, maxgap, one trial after none.
fn tiny(out: &Path, platforms: Vec<PlatformKind>, n: u64) -> PlanRequest {
    PlanRequest {
        workload: Some(WorkloadKind::Exp1),
        mappings: vec![Mapping::Anon],
        iterations: vec![n],
        platforms,
        searches: vec![GapSearch::MaxGap],
        trials: Some(1),
        warmup_trials: Some(0),
        no_probes: false,
        collect: vec![experiments::CollectorKind::Probes],
        out: Some(out.to_path_buf()),
        ..PlanRequest::default()
    }
}

fn run(req: &PlanRequest, notes: &mut Notes) -> PathBuf {
    let plan = Plan::new(req).expect("plan");
    Session::prepare(plan, notes)
        .expect("prepare")
        .execute(notes)
        .expect("run")
}

fn read_run(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).expect("run.json"))
        .expect("run.json parses")
}

#[test]
fn exp1_on_ptrace_and_systrap_has_points_with_the_probe_steps() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("b");
    let req = tiny(
        &out,
        vec![
            PlatformKind::Native,
            PlatformKind::Ptrace,
            PlatformKind::Systrap,
        ],
        200,
    );
    let mut notes = Notes::default();
    run(&req, &mut notes);
    let json = read_run(&out);
    let points = json["points"].as_array().expect("points");
    assert!(points.iter().any(|p| p["platform"] == "native"), "{json}");
    for platform in ["ptrace", "systrap"] {
        let Some(p) = points.iter().find(|p| p["platform"] == platform) else {
            let why = json["failures"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["platform"] == platform))
                .map(|f| f["error"].to_string());
            let why = why.unwrap_or_else(|| panic!("{platform}: no point, no failure: {json}"));
            assert!(why.contains("refused"), "{platform} failed here: {why}");
            say(format_args!("SKIP: {platform} unavailable here: {why}"));
            continue;
        };
        assert_eq!(p["search"], "maxgap", "{p}");
        assert_eq!(p["iterations"], 200);
        assert!(
            p["latency_ns"]["median"].as_f64().unwrap_or(0.0) > 0.0,
            "{p}"
        );
        let sites = p["sites"].as_object().expect("sites");
        // The memory manager's steps of a small private anonymous mmap,
        // eagerly committed: the stub executed the injected host mmap.
        for step in ["mmap", "create_vma", "find_available", "map_as"] {
            let calls = sites.get(step).and_then(|s| s["calls"].as_u64());
            assert!(
                calls.is_some_and(|c| c >= 200),
                "{platform}: {step} missing: {sites:?}"
            );
        }
        assert!(
            p["extra"]["trapped_calls"].as_u64().unwrap_or(0) >= 200,
            "{p}"
        );
    }
}

/// Re-runs `this_test` under a seccomp filter that makes `ptrace` and
/// `seccomp` fail with EPERM (a container without them); its stdout.
fn rerun_refused(this_test: &str) -> String {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([this_test, "--exact", "--nocapture", "--test-threads=1"])
        .env(REFUSED_CHILD, "1");
    refuse_calls_on_exec(&mut cmd, &[libc::SYS_ptrace, libc::SYS_seccomp]);
    let out = cmd.output().expect("re-run under the refusing filter");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn refused_ptrace_and_seccomp_are_one_line_each_and_native_still_runs() {
    const NAME: &str = "refused_ptrace_and_seccomp_are_one_line_each_and_native_still_runs";
    if std::env::var_os(REFUSED_CHILD).is_none() {
        let stdout = rerun_refused(NAME);
        for line in stdout
            .lines()
            .filter_map(|l| l.find("NOTE: ").map(|i| &l[i..]))
        {
            say(format_args!("{line}"));
        }
        assert!(stdout.contains("CHILD OK"), "{stdout}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("r");
    let mut req = tiny(
        &out,
        vec![
            PlatformKind::Native,
            PlatformKind::Ptrace,
            PlatformKind::Systrap,
        ],
        50,
    );
    // Two searches: still one note per refused platform.
    req.searches = vec![GapSearch::Linear, GapSearch::MaxGap];
    let mut notes = Notes::default();
    run(&req, &mut notes);
    for n in &notes.0 {
        println!("NOTE: {n}");
    }
    let json = read_run(&out);
    let points = json["points"].as_array().expect("points");
    assert_eq!(points.len(), 1, "native alone ran: {json}");
    assert_eq!(points[0]["platform"], "native");
    for (platform, call) in [("ptrace", "PTRACE_TRACEME"), ("systrap", "seccomp")] {
        let lines: Vec<&String> = notes
            .0
            .iter()
            .filter(|n| n.starts_with(&format!("--platform {platform}: ")))
            .collect();
        assert_eq!(lines.len(), 1, "{platform}: {:?}", notes.0);
        let line = lines[0];
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains(call) && line.contains("not permitted"),
            "{line}"
        );
        let failures: Vec<_> = json["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .filter(|f| f["platform"] == platform)
            .collect();
        assert_eq!(failures.len(), 2, "one per search: {json}");
    }
    println!("CHILD OK");
}

#[test]
fn replay_on_the_stub_platforms_is_planned() {
    let trace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../instrumented-sentry/fixtures/traces/ls.trace");
    for platform in [
        PlatformKind::Native,
        PlatformKind::Ptrace,
        PlatformKind::Systrap,
    ] {
        let req = PlanRequest {
            workload: Some(WorkloadKind::Replay),
            trace: Some(trace.clone()),
            platforms: vec![PlatformKind::Inproc, platform],
            ..PlanRequest::default()
        };
        let plan = Plan::new(&req).expect("planned");
        assert!(
            plan.platforms.iter().any(|c| c.platform == platform),
            "{}",
            platform.name()
        );
    }
}
