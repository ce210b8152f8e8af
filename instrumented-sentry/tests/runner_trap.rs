//! The ptrace and systrap runners: the stub's loops served by the memory
//! manager, checked against the inproc runner on the same points.
//!
//! Where the host refuses ptrace or seccomp, each test prints a `SKIP:`
//! line to stderr and returns.

mod trap_support;

use std::io::Write;

use instrumented_sentry::addr::PAGE_SIZE;
use instrumented_sentry::mm::MmConfig;
use instrumented_sentry::platform::inproc_address_space::InProcConfig;
use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::runners::inproc::{InprocOptions, InprocTarget};
use instrumented_sentry::runners::trap::{StubNativeRunner, TrapMm, TrapRunner};
use instrumented_sentry::runners::{PlatformRunner, PointError, TrialOutcome};
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::exec::{run_malloc_model_trial, run_mmap_trial};
use instrumented_sentry::workload::spec::Mapping;
use instrumented_sentry::workload::{PointSpec, PointWork, WorkloadKind};

/// The stub's touch pattern (`Workload::anon`'s default).
const PATTERN: u64 = 0x5e47_7a9f_0000_0000;

const MECHS: [Mechanism; 2] = [Mechanism::Ptrace, Mechanism::Systrap];

fn options() -> InprocOptions {
    InprocOptions {
        probes: true,
        ..InprocOptions::default()
    }
}

fn malloc_spec(touch: bool, iterations: u64, size: u64) -> PointSpec {
    PointSpec {
        workload: WorkloadKind::Malloc,
        work: PointWork::Malloc,
        touch,
        iterations,
        size,
    }
}

/// A runner for `mech`, or `None` with a SKIP line where it is refused.
fn runner(mech: Mechanism) -> Option<TrapRunner> {
    let mut r = TrapRunner::new(mech, GapSearch::MaxGap, options());
    match r.check_point(&PointSpec::exp1(Mapping::Anon, false, 1, 4096)) {
        Ok(()) => Some(r),
        Err(PointError::Unsupported(why)) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP: {} unavailable here: {why}",
                mech.name()
            );
            None
        }
        Err(e) => panic!("{}: {e}", mech.name()),
    }
}

fn site_calls(outcome: &TrialOutcome, site: &str) -> u64 {
    outcome.probes[0]
        .report(16)
        .sites
        .iter()
        .find(|s| s.site.name() == site)
        .map_or(0, |s| s.calls)
}

fn inproc_target() -> InprocTarget {
    InprocTarget::new(
        MmConfig::with_search(GapSearch::MaxGap),
        &InProcConfig::default(),
    )
    .expect("inproc sentry")
}

/// Every page of every VMA holds what the stub wrote there (read through
/// the memory manager, i.e. the memory file behind the stub's mappings).
fn assert_pattern(mm: &mut TrapMm, size: u64) {
    let vmas: Vec<_> = mm.vmas().map(|(r, _)| r).collect();
    assert!(!vmas.is_empty());
    for r in vmas {
        let mut page = r.start;
        while page < r.end {
            let mut b = [0u8; 8];
            mm.read(page, &mut b).expect("read back");
            assert_eq!(
                u64::from_le_bytes(b),
                PATTERN ^ page,
                "page {page:#x} (size {size})"
            );
            page += PAGE_SIZE;
        }
    }
}

#[test]
fn exp1_private_counts_calls_and_vmas_like_inproc() {
    let n = 300;
    let spec = PointSpec::exp1(Mapping::Private, false, n, 4096);
    let mut inproc = inproc_target();
    run_mmap_trial(&mut inproc, Mapping::Private, false, n, 4096, false).expect("inproc");
    for mech in MECHS {
        let Some(mut r) = runner(mech) else { continue };
        let (out, mm) = r.run_trial_keep(&spec).expect("trial");
        assert_eq!(site_calls(&out, "create_vma"), n, "{}", mech.name());
        assert_eq!(site_calls(&out, "find_available"), n, "{}", mech.name());
        assert_eq!(mm.vma_count(), inproc.mm().vma_count(), "{}", mech.name());
        assert_eq!(
            mm.vma_count() as u64,
            n,
            "private file mappings never merge"
        );
        // File mappings are mapped at first fault: nothing at mmap time.
        assert_eq!(out.host_mappings, 0, "{}", mech.name());
        assert_eq!(out.extra["host_calls"], 0, "{}", mech.name());
        assert_eq!(out.calls, n);
        assert!(out.elapsed_ns > 0);
    }
}

#[test]
fn exp1_anon_touched_pages_are_backed() {
    let n = 64;
    let spec = PointSpec::exp1(Mapping::Anon, true, n, 4096);
    let mut inproc = inproc_target();
    run_mmap_trial(&mut inproc, Mapping::Anon, true, n, 4096, false).expect("inproc");
    for mech in MECHS {
        let Some(mut r) = runner(mech) else { continue };
        let (out, mut mm) = r.run_trial_keep(&spec).expect("trial");
        assert_eq!(site_calls(&out, "create_vma"), n);
        assert_eq!(site_calls(&out, "find_available"), n);
        assert_eq!(mm.vma_count(), inproc.mm().vma_count(), "{}", mech.name());
        // Small private anonymous mappings are populated at mmap time: the
        // touches do not fault in the sentry.
        assert_eq!(out.extra["faults"], 0, "{}", mech.name());
        assert!(out.host_mappings >= 1);
        assert_eq!(out.host_mappings, inproc.mm().host_mappings());
        assert_pattern(&mut mm, 4096);
    }
}

#[test]
fn exp1_private_touch_faults_and_is_backed() {
    let n = 50;
    let spec = PointSpec::exp1(Mapping::Private, true, n, 4096);
    for mech in MECHS {
        let Some(mut r) = runner(mech) else { continue };
        let (out, mut mm) = r.run_trial_keep(&spec).expect("trial");
        assert_eq!(out.extra["faults"], n, "one fault per mapping");
        assert_eq!(mm.stats().faults, n);
        assert!(out.host_mappings >= 1);
        assert_pattern(&mut mm, 4096);
    }
}

#[test]
fn exp2_sizes() {
    let n = 12;
    for mech in MECHS {
        let Some(mut r) = runner(mech) else { continue };
        for size in [1024, 4096, 64 << 10, 1 << 20] {
            for mapping in [Mapping::Anon, Mapping::Private, Mapping::Shared] {
                let mut spec = PointSpec::exp1(mapping, true, n, size);
                spec.workload = WorkloadKind::Exp2;
                let (out, mut mm) = r.run_trial_keep(&spec).expect("trial");
                let mut inproc = inproc_target();
                run_mmap_trial(&mut inproc, mapping, true, n, size, false).expect("inproc");
                let what = format!("{} {mapping} {size}", mech.name());
                assert_eq!(site_calls(&out, "create_vma"), n, "{what}");
                assert_eq!(mm.vma_count(), inproc.mm().vma_count(), "{what}");
                assert_eq!(
                    mm.stats().resident_bytes,
                    inproc.mm().stats().resident_bytes,
                    "{what}"
                );
                if mapping != Mapping::Shared {
                    assert_pattern(&mut mm, size);
                }
            }
        }
    }
}

#[test]
fn malloc_makes_the_model_calls() {
    for mech in MECHS {
        let Some(mut r) = runner(mech) else { continue };
        for (size, touch) in [
            (4096, false),
            (4096, true),
            (256 << 10, false),
            (256 << 10, true),
        ] {
            let n = 100;
            let (out, mm) = r
                .run_trial_keep(&malloc_spec(touch, n, size))
                .expect("trial");
            let mut inproc = inproc_target();
            run_malloc_model_trial(&mut inproc, touch, n, size).expect("inproc");
            let what = format!("{} malloc {size} touch={touch}", mech.name());
            let (a, b) = (mm.stats(), inproc.mm().stats());
            assert_eq!(a.mmap_calls, b.mmap_calls, "{what}");
            assert_eq!(a.vmas, b.vmas, "{what}");
            assert_eq!(a.resident_bytes, b.resident_bytes, "{what}");
            assert_eq!(
                mm.current_brk() - mm.layout().brk_base,
                inproc.mm().current_brk() - inproc.mm().layout().brk_base,
                "{what}"
            );
            assert_eq!(out.calls, n);
        }
    }
}

#[test]
fn native_stub_runs_the_same_loops() {
    let mut r = StubNativeRunner::new();
    for spec in [
        PointSpec::exp1(Mapping::Private, true, 100, 4096),
        PointSpec::exp1(Mapping::Anon, false, 100, 8192),
        malloc_spec(true, 100, 256 << 10),
        malloc_spec(false, 100, 100),
    ] {
        r.check_point(&spec).expect("check");
        let out = r.run_trial(&spec).expect("native stub");
        assert_eq!(out.calls, 100);
        assert!(out.elapsed_ns > 0);
        assert!(out.extra["stub_call_median_cycles"].as_u64().unwrap_or(0) > 0);
    }
}

const REFUSED_CHILD: &str = "RUNNER_TRAP_REFUSED_CHILD";

/// Where ptrace and seccomp are refused (EPERM), `check_point` is one
/// `Unsupported` line naming the platform. The test re-runs itself under a
/// filter that refuses both.
#[test]
fn refused_platform_is_one_unsupported_line() {
    if std::env::var_os(REFUSED_CHILD).is_some() {
        for mech in MECHS {
            let mut r = TrapRunner::new(mech, GapSearch::MaxGap, options());
            match r.check_point(&PointSpec::exp1(Mapping::Anon, false, 10, 4096)) {
                Err(PointError::Unsupported(m)) => println!("UNSUPPORTED: {m}"),
                other => panic!("expected Unsupported, got {other:?}"),
            }
        }
        return;
    }
    let stdout =
        trap_support::rerun_refused("refused_platform_is_one_unsupported_line", REFUSED_CHILD);
    let lines: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.find("UNSUPPORTED: ").map(|i| &l[i + 13..]))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, mech) in lines.iter().zip(MECHS) {
        let _ = writeln!(std::io::stderr(), "{line}");
        assert!(
            line.starts_with(&format!("{}: ", mech.name())) && line.contains("not permitted"),
            "{line}"
        );
    }
}

/// gVisor's `MapFile` on ptrace/systrap runs the stub's host `mmap` before
/// mapAS returns: the host call's time is inside the `map_as` site. Small
/// anonymous mmaps are populated at mmap time (one host mmap each), so the
/// `map_as` median is at least the median time the handler spent in host
/// calls (fails when the host call is queued for after the reply).
#[test]
fn host_mmap_runs_inside_map_as() {
    use instrumented_sentry::mm::MemoryManager;
    use instrumented_sentry::platform::trap::address_space::TrapAddressSpace;
    use instrumented_sentry::platform::trap::costs::median;
    use instrumented_sentry::platform::trap::{Trial, Workload};
    use instrumented_sentry::probes::Site;
    use instrumented_sentry::runners::trap::MmHandler;
    for mech in MECHS {
        let Some(r) = runner(mech) else { continue };
        let mut mm: TrapMm =
            MemoryManager::new(r.mm_config(), |mf| TrapAddressSpace::new(mech, mf.fd()))
                .expect("memory manager");
        let trial = Trial::spawn(mech, &Workload::anon(200, 4096)).expect("spawn");
        let report = {
            let mut handler = MmHandler::new(&mut mm, None);
            let report = trial.run(&mut handler).expect("trial");
            assert_eq!(handler.failure(), None, "{}", mech.name());
            report
        };
        let host: Vec<u64> = report
            .served
            .iter()
            .filter(|s| s.nr == libc::SYS_mmap)
            .map(|s| s.host_cycles)
            .collect();
        assert_eq!(host.len(), 200, "{}", mech.name());
        assert!(
            host.iter().all(|&c| c > 0),
            "{}: a mmap without host call",
            mech.name()
        );
        let map_as = mm.probes().site_summary(Site::MapAs);
        assert_eq!(map_as.calls, 200, "{}", mech.name());
        let host_median = median(host) as f64;
        assert!(
            map_as.median_cycles >= 0.9 * host_median,
            "{}: map_as median {} cycles, host calls {host_median}",
            mech.name(),
            map_as.median_cycles
        );
    }
}
