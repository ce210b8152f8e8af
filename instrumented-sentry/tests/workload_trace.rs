//! The strace parser on the recorded fixtures and on malformed input, and
//! trace replay into the in-process sentry.

use std::path::PathBuf;

use instrumented_sentry::mm::MmConfig;
use instrumented_sentry::platform::inproc_address_space::InProcConfig;
use instrumented_sentry::runners::inproc::{InprocOptions, InprocRunner, InprocTarget};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::target::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ};
use instrumented_sentry::workload::trace::{
    parse_trace, parse_trace_file, replay_trace, TraceError, TraceOp, TraceResult,
};
use instrumented_sentry::workload::{PointSpec, PointWork, WorkloadKind};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/traces")
        .join(name)
}

fn counts(name: &str) -> (usize, u64, usize) {
    let t = parse_trace_file(&fixture(name)).unwrap();
    (t.calls.len(), t.other_lines, t.pids.len())
}

#[test]
fn fixtures_parse_with_exact_counts() {
    // Expected figures counted with grep on the fixture files.
    assert_eq!(counts("ls.trace"), (39, 1, 1));
    assert_eq!(counts("python-bytearrays.trace"), (348, 8, 0));
    assert_eq!(counts("sh-pipe.trace"), (84, 4, 3));
    assert_eq!(counts("cat-timestamps.trace"), (30, 1, 1));
    assert_eq!(counts("mem-demo.trace"), (628, 3, 3));
}

#[test]
fn split_calls_are_joined_and_failures_kept() {
    let t = parse_trace_file(&fixture("mem-demo.trace")).unwrap();
    assert_eq!(t.orphan_resumed, 0);
    assert_eq!(t.unfinished_at_end, 0);
    assert_eq!(t.unknown_syscalls.get("madvise"), Some(&2));
    let by = t.calls_by_syscall();
    assert_eq!(by.get("mremap"), Some(&1));
    assert_eq!(by.get("mmap"), Some(&313));
    let enomem: Vec<_> = t
        .calls
        .iter()
        .filter(|c| c.result == TraceResult::Error("ENOMEM".into()))
        .collect();
    assert_eq!(enomem.len(), 1);
    match enomem[0].op {
        TraceOp::Mmap { len, .. } => assert_eq!(len, 1 << 46),
        ref other => panic!("ENOMEM call is {other:?}"),
    }
    // A file-backed mapping keeps its fd.
    assert!(t
        .calls
        .iter()
        .any(|c| matches!(c.op, TraceOp::Mmap { fd: Some(3), .. })));
}

#[test]
fn prefixes_flags_and_fd_paths() {
    let t = parse_trace_file(&fixture("cat-timestamps.trace")).unwrap();
    let fixed = t
        .calls
        .iter()
        .find(|c| matches!(c.op, TraceOp::Mmap { flags, .. } if flags & MAP_FIXED != 0))
        .expect("ld.so maps segments with MAP_FIXED");
    assert!(matches!(fixed.op, TraceOp::Mmap { fd: Some(3), offset, .. } if offset > 0));
    assert!(matches!(fixed.result, TraceResult::Value(v) if v > 0));
}

#[test]
fn hand_written_lines() {
    let text = "\
mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
[pid  12] munmap(0x7f0000000000, 4096 <unfinished ...>
[pid  13] madvise(0x1000, 4096, MADV_DONTNEED) = 0
[pid  12] <... munmap resumed>) = 0
brk(NULL) = 0x555555554000
mprotect(0x7f0000001000, 4096, PROT_NONE) = -1 ENOMEM (Cannot allocate memory)
mremap(0x7f0000001000, 4096, 8192, MREMAP_MAYMOVE|MREMAP_FIXED, 0x7f0000100000) = 0x7f0000100000
mmap(0x10000, 4096, 0x1, MAP_PRIVATE|MAP_FIXED_NOREPLACE|0x40000000, -1, 0) = ?
--- SIGSEGV {si_signo=SIGSEGV} ---
";
    let t = parse_trace("hand", text).unwrap();
    assert_eq!(t.calls.len(), 6);
    assert_eq!(t.unknown_syscalls.get("madvise"), Some(&1));
    assert_eq!(t.other_lines, 1);
    assert_eq!(
        t.calls[0].op,
        TraceOp::Mmap {
            addr: 0,
            len: 8192,
            prot: 3,
            flags: MAP_PRIVATE | MAP_ANONYMOUS,
            fd: None,
            offset: 0
        }
    );
    assert_eq!(t.calls[1].pid, Some(12));
    assert_eq!(
        t.calls[1].line, 4,
        "a joined call has the line it completed on"
    );
    assert_eq!(t.calls[3].result, TraceResult::Error("ENOMEM".into()));
    assert!(matches!(
        t.calls[4].op,
        TraceOp::Mremap {
            new_addr: 0x7f0000100000,
            flags: 3,
            ..
        }
    ));
    assert!(matches!(
        t.calls[5].op,
        TraceOp::Mmap {
            prot: PROT_READ,
            ..
        }
    ));
    assert_eq!(t.calls[5].result, TraceResult::Unknown);
}

fn malformed_line(text: &str) -> usize {
    match parse_trace("bad.trace", text) {
        Err(TraceError::Malformed { line, .. }) => line,
        other => panic!("expected a malformed-line error, got {other:?}"),
    }
}

#[test]
fn malformed_input_names_the_line() {
    let good = "brk(NULL) = 0x1000\n";
    assert_eq!(malformed_line(&format!("{good}this is not strace\n")), 2);
    assert_eq!(
        malformed_line(&format!(
            "{good}{good}mmap(NULL, 4096, PROT_READ) = 0x1000\n"
        )),
        3
    );
    assert_eq!(
        malformed_line(&format!(
            "{good}mmap(NULL, 4096, PROT_READ, MAP_BOGUS, -1, 0) = 0x1\n"
        )),
        2
    );
    assert_eq!(malformed_line(&format!("{good}munmap(0x1000, 4096\n")), 2);
    assert_eq!(
        malformed_line(&format!("{good}munmap(0x1000, 4096) = zz\n")),
        2
    );
    assert_eq!(
        malformed_line(&format!("{good}munmap(0x1000, 4096) = -1\n")),
        2
    );
    assert_eq!(malformed_line(&format!("{good}brk(0xZZ) = 0\n")), 2);
    let err = parse_trace("bad.trace", "brk(NULL) = 0x1000\ngarbage(\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("bad.trace:2: "), "{err}");
}

#[test]
fn empty_and_unreadable_traces_are_refused() {
    assert!(matches!(
        parse_trace("e.trace", "+++ exited with 0 +++\n"),
        Err(TraceError::Empty { .. })
    ));
    let missing = fixture("no-such.trace");
    let err = parse_trace_file(&missing).unwrap_err().to_string();
    assert!(err.contains("no-such.trace"), "{err}");
    let bin = instrumented_sentry::workload::trace::parse::parse_trace_bytes(
        "bin",
        b"brk(NULL) = 0x1\n\xff\xfe\n",
    );
    assert!(matches!(bin, Err(TraceError::Malformed { line: 2, .. })));
}

fn new_target() -> Result<InprocTarget, instrumented_sentry::workload::TargetError> {
    InprocTarget::new(
        MmConfig::with_search(GapSearch::MaxGap),
        &InProcConfig::default(),
    )
}

#[test]
fn replay_into_the_sentry_counts_every_call() {
    for name in [
        "ls.trace",
        "sh-pipe.trace",
        "mem-demo.trace",
        "python-bytearrays.trace",
    ] {
        let trace = parse_trace_file(&fixture(name)).unwrap();
        let mut factory = new_target;
        let (out, targets) = replay_trace(&trace, &mut factory).unwrap();
        let c = &out.counts;
        assert_eq!(c.calls, trace.calls.len() as u64, "{name}");
        let unknown: u64 = c.by_syscall.values().map(|s| s.trace_result_unknown).sum();
        assert_eq!(c.matched + c.mismatched + unknown, c.calls, "{name}");
        let per_syscall: u64 = c.by_syscall.values().map(|s| s.calls).sum();
        assert_eq!(per_syscall, c.calls, "{name}");
        assert_eq!(targets.len() as u64, c.processes, "{name}");
        // Most of a real program's calls replay as they ran.
        assert!(
            c.matched * 10 >= c.calls * 9,
            "{name}: only {} of {} calls matched: {:?}",
            c.matched,
            c.calls,
            c.first_mismatches
        );
        for t in &targets {
            t.mm().check_invariants().unwrap();
        }
    }
}

#[test]
fn replay_address_spaces_follow_program_images() {
    // sh forks two children that exec: three images. mem-demo's threads
    // share one.
    let sh = parse_trace_file(&fixture("sh-pipe.trace")).unwrap();
    let (out, _) = replay_trace(&sh, &mut new_target).unwrap();
    assert_eq!((out.counts.processes, out.counts.threads), (3, 3));
    let demo = parse_trace_file(&fixture("mem-demo.trace")).unwrap();
    let (out, _) = replay_trace(&demo, &mut new_target).unwrap();
    assert_eq!((out.counts.processes, out.counts.threads), (1, 3));
    // The 64 TiB mapping that failed with ENOMEM is counted by its outcome.
    let mmap = &out.counts.by_syscall["mmap"];
    assert_eq!(mmap.calls, 313);
    assert!(mmap.failed_both + mmap.trace_failed_replay_ok >= 1);
}

#[test]
fn replay_runner_reports_counts_in_extra() {
    let trace = std::sync::Arc::new(parse_trace_file(&fixture("ls.trace")).unwrap());
    let spec = PointSpec {
        workload: WorkloadKind::Replay,
        iterations: trace.calls.len() as u64,
        size: 0,
        work: PointWork::Replay { trace },
        touch: false,
    };
    let mut runner = InprocRunner::new(
        GapSearch::MaxGap,
        InprocOptions {
            probes: true,
            ..InprocOptions::default()
        },
    );
    runner.check_point(&spec).unwrap();
    let o = runner.run_trial(&spec).unwrap();
    assert_eq!(o.calls, 39);
    assert_eq!(o.extra["calls"], 39);
    assert_eq!(o.extra["by_syscall"]["mmap"]["calls"], 30);
    assert_eq!(o.probes.len(), 1);
    let mmaps = o.probes[0].site_summary(instrumented_sentry::probes::Site::Mmap);
    assert_eq!(
        mmaps.calls, 30,
        "every replayed mmap went through the probes"
    );
}
