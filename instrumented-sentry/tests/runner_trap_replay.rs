//! Trace replay on the stub platforms (native, ptrace, systrap): every
//! fixture trace replayed through the runners, counted against the trace
//! as inproc counts it; an impossible call fails that call, not the trial.
//!
//! Where the host refuses ptrace or seccomp, the tests print a `SKIP:`
//! line to stderr for that platform and go on with the others.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::runners::inproc::{InprocOptions, InprocRunner};
use instrumented_sentry::runners::trap::{StubNativeRunner, TrapRunner};
use instrumented_sentry::runners::{PlatformRunner, PointError, TrialOutcome};
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::trace::{parse_trace, parse_trace_file, Trace};
use instrumented_sentry::workload::{PointSpec, PointWork, WorkloadKind};

const FIXTURES: [&str; 5] = [
    "ls.trace",
    "cat-timestamps.trace",
    "sh-pipe.trace",
    "python-bytearrays.trace",
    "mem-demo.trace",
];

fn options() -> InprocOptions {
    InprocOptions {
        probes: true,
        ..InprocOptions::default()
    }
}

fn replay_spec(trace: Trace) -> PointSpec {
    PointSpec {
        workload: WorkloadKind::Replay,
        work: PointWork::Replay {
            trace: Arc::new(trace),
        },
        touch: false,
        iterations: 1,
        size: 0,
    }
}

fn fixture(name: &str) -> Trace {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/traces")
        .join(name);
    parse_trace_file(&path).expect("fixture")
}

/// The stub runners that work here (a SKIP line for each refused one).
fn stub_runners() -> Vec<Box<dyn PlatformRunner>> {
    let mut out: Vec<Box<dyn PlatformRunner>> = vec![Box::new(StubNativeRunner::new())];
    for mech in [Mechanism::Ptrace, Mechanism::Systrap] {
        let mut r = TrapRunner::new(mech, GapSearch::MaxGap, options());
        match r.check_point(&replay_spec(fixture("ls.trace"))) {
            Ok(()) => out.push(Box::new(r)),
            Err(PointError::Unsupported(why)) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP: {} unavailable here: {why}",
                    mech.name()
                );
            }
            Err(e) => panic!("{}: {e}", mech.name()),
        }
    }
    out
}

fn count(o: &TrialOutcome, k: &str) -> u64 {
    o.extra[k].as_u64().unwrap_or(u64::MAX)
}

/// The per-syscall counts of a replay outcome.
fn by_syscall(o: &TrialOutcome) -> serde_json::Value {
    o.extra["by_syscall"].clone()
}

/// python-bytearrays.trace was recorded without `-f`: its six program
/// images share one address space, and their breaks lie up to ~227 GiB
/// above the first. inproc's 1 TiB arena grants those `brk` calls; the
/// stub's 64 GiB application range (and, natively, the kernel's overcommit
/// check) refuses them. Every other syscall counts the same.
const BRK_BEYOND_APP_RANGE: &str = "python-bytearrays.trace";

#[test]
fn every_fixture_replays_on_the_stub_platforms_as_on_inproc() {
    let runners = stub_runners();
    let mut runners = runners;
    for name in FIXTURES {
        let trace = fixture(name);
        let n = trace.calls.len() as u64;
        let spec = replay_spec(trace);
        let mut inproc = InprocRunner::new(GapSearch::MaxGap, options());
        inproc.check_point(&spec).expect("inproc check");
        let base = inproc.run_trial(&spec).expect("inproc replay");
        let mut first: Option<serde_json::Value> = None;
        for r in runners.iter_mut() {
            let platform = r.platform();
            r.check_point(&spec).expect("check");
            let o = r
                .run_trial(&spec)
                .unwrap_or_else(|e| panic!("{name} {platform}: {e}"));
            let _ = writeln!(
                std::io::stderr(),
                "{name} {platform}: {} calls, {} matched, {} mismatched (inproc {} / {}), {} ns",
                count(&o, "calls"),
                count(&o, "matched"),
                count(&o, "mismatched"),
                count(&base, "matched"),
                count(&base, "mismatched"),
                o.elapsed_ns
            );
            assert_eq!(o.calls, n, "{name} {platform}");
            assert_eq!(count(&o, "calls"), n, "{name} {platform}");
            assert!(o.elapsed_ns > 0 && count(&o, "stub_call_median_cycles") > 0);
            assert_eq!(
                count(&o, "mapped_outside_app_range"),
                0,
                "{name} {platform}: every mapping in the application range"
            );
            assert_eq!(count(&o, "processes"), count(&base, "processes"));
            assert_eq!(count(&o, "files"), count(&base, "files"));
            if platform != "native" {
                assert_eq!(
                    count(&o, "trapped_calls"),
                    n,
                    "{name} {platform}: all served"
                );
                assert!(
                    !o.probes.is_empty(),
                    "{name} {platform}: the sentry's probes"
                );
            }
            let (mine, theirs) = (by_syscall(&o), by_syscall(&base));
            for (sys, c) in theirs.as_object().expect("by_syscall") {
                if sys == "brk" && name == BRK_BEYOND_APP_RANGE {
                    assert!(
                        mine[sys]["ok_both"].as_u64() < c["ok_both"].as_u64(),
                        "{name} {platform}: {mine}"
                    );
                    continue;
                }
                assert_eq!(&mine[sys], c, "{name} {platform} {sys}: as on inproc");
            }
            // native, ptrace and systrap run one program: one set of counts.
            match &first {
                None => first = Some(mine),
                Some(f) => assert_eq!(f, &mine, "{name} {platform}: as the other stubs"),
            }
        }
    }
}

#[test]
fn an_impossible_call_fails_that_call_not_the_trial() {
    let text = "brk(NULL) = 0x5600000\n\
        mmap(NULL, 18446744073709547520, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)\n\
        mmap(NULL, 70368744177664, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n\
        mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1000000000\n\
        munmap(0x7f1000000000, 8192) = 0\n\
        brk(0xffffffffffffffff) = 0x5600000\n";
    let trace = parse_trace("imp.trace", text).expect("parse");
    let spec = replay_spec(trace);
    for mut r in stub_runners() {
        let platform = r.platform();
        r.check_point(&spec).expect("check");
        let o = r
            .run_trial(&spec)
            .unwrap_or_else(|e| panic!("{platform}: {e}"));
        assert_eq!(count(&o, "calls"), 6, "{platform}");
        let mmap = &o.extra["by_syscall"]["mmap"];
        assert_eq!(
            mmap["failed_both"], 1,
            "{platform}: 2^64-4096 fails: {mmap}"
        );
        assert_eq!(
            mmap["trace_ok_replay_failed"], 1,
            "{platform}: 64 TiB fails: {mmap}"
        );
        assert_eq!(mmap["ok_both"], 1, "{platform}: {mmap}");
        assert_eq!(o.extra["by_syscall"]["munmap"]["ok_both"], 1, "{platform}");
        let brk = &o.extra["by_syscall"]["brk"];
        assert_eq!(brk["ok_both"], 1, "{platform}: brk(NULL): {brk}");
        assert_eq!(
            brk["failed_both"], 1,
            "{platform}: brk(2^64-1) fails: {brk}"
        );
        assert_eq!(count(&o, "mismatched"), 1, "{platform}");
    }
}

#[test]
fn a_mapping_the_fork_leaves_out_does_not_draw_native_mappings_out_of_the_range() {
    // A perf ring buffer is such a mapping (VM_DONTCOPY); MADV_DONTFORK
    // makes one: in the stub its range is free, and must be filled too.
    let len = 64 << 10;
    // SAFETY: a fresh anonymous mapping, unmapped below; nothing else uses it.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: advice on the mapping just made.
    assert_eq!(unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) }, 0);
    let spec = replay_spec(fixture("mem-demo.trace"));
    let mut r = StubNativeRunner::new();
    r.check_point(&spec).expect("check");
    let o = r.run_trial(&spec).expect("replay");
    // SAFETY: unmaps the mapping made above.
    unsafe { libc::munmap(p, len) };
    assert_eq!(count(&o, "mapped_outside_app_range"), 0, "{}", o.extra);
    assert_eq!(count(&o, "matched"), 615);
}
