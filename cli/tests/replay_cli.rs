//! `sentryprof run --workload replay` on every stub platform and inproc,
//! end to end: one point per platform in run.json, each with the replay's
//! counts; the stub platforms count as inproc counts (ls.trace replays the
//! same on all four). Where ptrace or seccomp is refused, that platform's
//! point is a failure and a `SKIP:` line says so.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

#[test]
fn replay_runs_on_native_ptrace_systrap_and_inproc() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let trace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../instrumented-sentry/fixtures/traces/ls.trace");
    let o = Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .current_dir(tmp.path())
        .args(["run", "--quiet", "--workload", "replay", "--trace"])
        .arg(&trace)
        .args([
            "--platform",
            "native,ptrace,systrap,inproc",
            "--search",
            "maxgap",
            "--trials",
            "2",
            "--warmup-trials",
            "0",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("run the sentryprof binary");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    let points = json["points"].as_array().expect("points");
    let failures = json["failures"].as_array().cloned().unwrap_or_default();
    let mut counted = Vec::new();
    for platform in ["native", "ptrace", "systrap", "inproc"] {
        let Some(p) = points.iter().find(|p| p["platform"] == platform) else {
            let f = failures
                .iter()
                .find(|f| f.to_string().contains(platform))
                .unwrap_or_else(|| panic!("{platform}: neither a point nor a failure: {json}"));
            assert!(
                platform == "ptrace" || platform == "systrap",
                "{platform} failed: {f}"
            );
            let _ = writeln!(std::io::stderr(), "SKIP: {platform} unavailable here: {f}");
            continue;
        };
        let extra = &p["extra"];
        assert_eq!(extra["calls"], 39, "{platform}: {extra}");
        assert_eq!(p["iterations"], 39, "{platform}");
        assert!(
            p["latency_ns"]["median"].as_f64().unwrap_or(0.0) > 0.0,
            "{p}"
        );
        counted.push((
            platform,
            extra["matched"].clone(),
            extra["mismatched"].clone(),
            extra["by_syscall"].clone(),
        ));
    }
    let (_, m, mm, by) = counted.last().expect("inproc ran").clone();
    assert_eq!(m, 37, "inproc matched");
    for (platform, matched, mismatched, by_syscall) in &counted {
        assert_eq!(
            (matched, mismatched),
            (&m, &mm),
            "{platform} counts as inproc"
        );
        assert_eq!(by_syscall, &by, "{platform}");
        assert!(
            stdout.contains("replay: 39 call(s): 37 matched the trace, 2 mismatched"),
            "{stdout}"
        );
    }
}
