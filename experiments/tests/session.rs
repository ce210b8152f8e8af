//! Running a plan through the library: the bundle it writes, the events
//! its observer sees, and failures per point.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bundle::{Point, RunJson};
use experiments::{
    Calibration, GapSearch, Mapping, Observer, Plan, PlanRequest, PlatformKind, RunError, Session,
    WorkloadKind,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../instrumented-sentry/fixtures/traces")
        .join(name)
}

/// The only entry of `dir`, or None when it holds none or several.
fn only_entry(dir: &Path) -> Option<std::ffi::OsString> {
    let mut names = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name());
    let first = names.next();
    names.next().map_or(first, |_| None)
}

/// Records the events it sees, one short word each.
#[derive(Debug, Default)]
struct Recorder {
    events: Vec<String>,
    counted_trials: usize,
}

impl Observer for Recorder {
    fn run_started(&mut self, plan: &Plan, calibration: &Calibration) {
        assert!(calibration.tsc_hz > 0);
        self.events.push(format!("start {}", plan.point_count()));
    }
    fn point_started(&mut self, index: usize, _label: &str) {
        self.events.push(format!("point {index}"));
    }
    fn trial_done(&mut self, _index: usize, _k: u32, ns_per_call: f64) {
        assert!(ns_per_call > 0.0);
        self.counted_trials += 1;
    }
    fn point_measured(&mut self, index: usize, label: &str, point: &Point) {
        assert_eq!(label, point.label());
        self.events.push(format!("measured {index}"));
    }
    fn point_failed(&mut self, index: usize, _label: &str, _error: &str) {
        self.events.push(format!("failed {index}"));
    }
    fn run_measured(&mut self, run: &RunJson) {
        self.events.push(format!("tables {}", run.points.len()));
    }
    fn bundle_written(&mut self, dir: &Path, _run: &RunJson, _elapsed: Duration) {
        assert!(dir.join("run.json").is_file());
        self.events.push("written".to_string());
    }
}

/// A small plan writing to `out`: native and inproc/maxgap, 50 calls.
fn tiny(out: &Path) -> PlanRequest {
    PlanRequest {
        iterations: vec![50],
        trials: Some(2),
        warmup_trials: Some(1),
        searches: vec![GapSearch::MaxGap],
        out: Some(out.to_path_buf()),
        ..PlanRequest::default()
    }
}

fn run(req: &PlanRequest, observer: &mut dyn Observer) -> Result<PathBuf, RunError> {
    let plan = Plan::new(req).unwrap();
    Session::prepare(plan, observer)?.execute(observer)
}

fn read_run(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_run_writes_a_bundle_and_reports_every_point_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("b");
    let req = PlanRequest {
        mappings: vec![Mapping::Anon, Mapping::Private],
        iterations: vec![50, 100],
        searches: vec![GapSearch::Linear, GapSearch::MaxGap],
        ..tiny(&out)
    };
    let mut rec = Recorder::default();
    let dir = run(&req, &mut rec).unwrap();
    assert_eq!(dir, out);
    let mut expected = vec!["start 12".to_string()];
    for i in 0..12 {
        expected.push(format!("point {i}"));
        expected.push(format!("measured {i}"));
    }
    expected.extend(["tables 12".to_string(), "written".to_string()]);
    assert_eq!(rec.events, expected);
    assert_eq!(rec.counted_trials, 12 * 2);

    let json = read_run(&out);
    assert!(json["format_version"].as_str().unwrap().starts_with("1."));
    assert!(json["tsc_hz"].as_u64().unwrap() > 0);
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 12);
    for p in points {
        for key in [
            "platform",
            "search",
            "mapping",
            "touch",
            "iterations",
            "size",
            "latency_ns",
            "host_mappings",
            "sites",
        ] {
            assert!(p.get(key).is_some(), "point lacks {key}: {p}");
        }
        for q in ["median", "p90", "p99"] {
            assert!(p["latency_ns"][q].as_f64().unwrap() > 0.0, "{p}");
        }
        let native = p["platform"] == "native";
        assert_eq!(p["search"].is_null(), native);
        let sites = p["sites"].as_object().unwrap();
        if native {
            assert!(sites.is_empty());
        } else {
            for site in bundle::ALL_SITES {
                for k in [
                    "calls",
                    "median_cycles",
                    "p90_cycles",
                    "p99_cycles",
                    "max_cycles",
                ] {
                    assert!(sites[site].get(k).is_some(), "{site} lacks {k}");
                }
            }
            // 2 counted trials of `iterations` mmaps each.
            assert_eq!(
                sites["mmap"]["calls"].as_u64().unwrap(),
                2 * p["iterations"].as_u64().unwrap()
            );
            assert_eq!(p["latency_ns"]["trials"].as_array().unwrap().len(), 2);
        }
    }
    // The default outputs were rendered into the bundle before the rename.
    assert!(out.join("report.html").is_file());
    // The bundle was renamed into place: no temporary directory is left.
    assert_eq!(only_entry(tmp.path()).as_deref(), Some("b".as_ref()));
}

#[test]
fn replay_records_the_trace_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let req = PlanRequest {
        workload: Some(WorkloadKind::Replay),
        trace: Some(fixture("ls.trace")),
        platforms: vec![PlatformKind::Inproc],
        iterations: Vec::new(),
        warmup_trials: Some(0),
        ..tiny(&out)
    };
    run(&req, &mut ()).unwrap();
    let p = &read_run(&out)["points"][0];
    assert_eq!(p["mapping"], "trace");
    assert_eq!(p["iterations"], 39);
    assert_eq!(p["extra"]["calls"], 39);
    assert!(p["extra"]["matched"].as_u64().unwrap() > 30);
}

#[test]
fn an_unusable_output_path_is_refused_before_any_work() {
    // A directory that is not a bundle, with a file the run must not touch.
    let taken = tempfile::tempdir().unwrap();
    std::fs::write(taken.path().join("precious.txt"), b"keep").unwrap();
    let mut rec = Recorder::default();
    let plan = Plan::new(&tiny(taken.path())).unwrap();
    let e = Session::prepare(plan, &mut rec).err().expect("refused");
    assert!(matches!(e, RunError::Bundle(_)), "{e}");
    assert!(rec.events.is_empty(), "{:?}", rec.events);
    assert_eq!(
        only_entry(taken.path()).as_deref(),
        Some("precious.txt".as_ref())
    );
}

#[test]
fn native_over_the_map_limit_is_a_recorded_failure() {
    let limit: u64 = std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if limit == 0 || limit > 200_000 {
        skip_line(format_args!(
            "SKIP: vm.max_map_count = {limit}; the test needs the default 65530"
        ));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("f");
    let req = PlanRequest {
        iterations: vec![limit + 1000],
        trials: Some(1),
        warmup_trials: Some(0),
        ..tiny(&out)
    };
    let mut rec = Recorder::default();
    run(&req, &mut rec).unwrap();
    assert_eq!(rec.events[1..3], ["point 0", "failed 0"]);
    let json = read_run(&out);
    assert_eq!(
        json["points"].as_array().unwrap().len(),
        1,
        "inproc still ran"
    );
    let f = &json["failures"][0];
    assert_eq!(f["platform"], "native");
    let err = f["error"].as_str().unwrap();
    assert!(err.contains("vm.max_map_count"), "{err}");
    assert!(err.contains("sysctl"), "{err}");
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
