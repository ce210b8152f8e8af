//! The native platform: real host mmaps, cleaned up after each trial, and
//! refusals that protect the process it runs in.

use instrumented_sentry::host::{max_map_count, process_mappings};
use instrumented_sentry::runners::native::{run_native_malloc_trial, NativeRunner, NativeTarget};
use instrumented_sentry::runners::{PlatformRunner, PointError};
use instrumented_sentry::workload::exec::{experiment_call, run_mmap_trial};
use instrumented_sentry::workload::target::{MemoryTarget, MmapCall, TargetError, MAP_FIXED};
use instrumented_sentry::workload::{Mapping, PointSpec, PointWork, WorkloadKind};

#[test]
fn every_mapping_kind_runs_and_is_unmapped_after() {
    let before = process_mappings().unwrap();
    for mapping in Mapping::ALL {
        for touch in [false, true] {
            let mut t = NativeTarget::new();
            let timed = run_mmap_trial(&mut t, mapping, touch, 200, 16 * 1024, true).unwrap();
            assert_eq!(timed.calls, 200);
            assert_eq!(timed.host_mappings, 200, "{mapping} touch={touch}");
            assert!(timed.elapsed_ns > 0);
            assert_eq!(t.host_mappings(), 0, "trial unmapped everything");
        }
    }
    let after = process_mappings().unwrap();
    assert!(
        after <= before + 8,
        "VMAs leaked: {before} before, {after} after"
    );
}

#[test]
fn touched_shared_file_pages_hold_the_written_byte() {
    let mut t = NativeTarget::new();
    let f = t.create_file(8192).unwrap();
    let a = t
        .mmap(&experiment_call(Mapping::Shared, 8192, Some(f)))
        .unwrap();
    let b = t
        .mmap(&experiment_call(Mapping::Shared, 8192, Some(f)))
        .unwrap();
    t.touch(a, 8192).unwrap();
    // SAFETY: `b` is a live 8 KiB shared mapping of the same file, made
    // read-write by this target; reading it aliases no Rust reference.
    let seen = unsafe { std::ptr::read_volatile((b + 4096) as *const u8) };
    assert_eq!(
        seen, 1,
        "the write through one mapping shows through the other"
    );
    t.munmap(a, 8192).unwrap();
    t.munmap(b, 8192).unwrap();
}

#[test]
fn refuses_what_would_damage_the_process() {
    let mut t = NativeTarget::new();
    let fixed = MmapCall {
        flags: experiment_call(Mapping::Anon, 4096, None).flags | MAP_FIXED,
        addr: 0x10000,
        ..experiment_call(Mapping::Anon, 4096, None)
    };
    assert!(matches!(t.mmap(&fixed), Err(TargetError::Unsupported(_))));
    let own = &t as *const NativeTarget as u64 & !4095;
    assert!(matches!(
        t.munmap(own, 4096),
        Err(TargetError::Unsupported(_))
    ));
    assert!(matches!(
        t.touch(own, 4096),
        Err(TargetError::Unsupported(_))
    ));
    assert!(matches!(t.brk(0), Err(TargetError::Unsupported(_))));
}

#[test]
fn real_malloc_trial_crosses_the_mmap_threshold() {
    let small = run_native_malloc_trial(true, 100, 4096).unwrap();
    assert_eq!(small.calls, 100);
    assert_eq!(
        small.host_mappings, 1,
        "small blocks come from the brk heap"
    );
    let large = run_native_malloc_trial(false, 50, 256 * 1024).unwrap();
    assert_eq!(
        large.host_mappings, 50,
        "blocks of 256 KiB are mmapped each"
    );
}

#[test]
fn point_beyond_max_map_count_fails_with_the_limit_named() {
    let Some(limit) = max_map_count() else {
        skip_line(format_args!("SKIP: /proc/sys/vm/max_map_count unreadable"));
        return;
    };
    if limit >= 5_000_000 {
        skip_line(format_args!(
            "SKIP: vm.max_map_count = {limit} is above what the test may map"
        ));
        return;
    }
    let mut r = NativeRunner::new();
    let s = PointSpec::exp1(Mapping::Private, false, limit + 1, 4096);
    match r.check_point(&s) {
        Err(PointError::HostLimit(msg)) => {
            assert!(msg.contains("vm.max_map_count"), "{msg}");
            assert!(msg.contains("sysctl -w vm.max_map_count="), "{msg}");
        }
        other => panic!("expected a host limit error, got {other:?}"),
    }
    // Anonymous mappings merge, so the same count is no problem.
    r.check_point(&PointSpec::exp1(Mapping::Anon, false, limit + 1, 4096))
        .unwrap();
}

#[test]
fn native_refuses_replay() {
    let trace = instrumented_sentry::workload::trace::parse_trace(
        "t",
        "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
    )
    .unwrap();
    let s = PointSpec {
        workload: WorkloadKind::Replay,
        work: PointWork::Replay {
            trace: std::sync::Arc::new(trace),
        },
        touch: false,
        iterations: 1,
        size: 0,
    };
    assert!(matches!(
        NativeRunner::new().check_point(&s),
        Err(PointError::Unsupported(_))
    ));
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
