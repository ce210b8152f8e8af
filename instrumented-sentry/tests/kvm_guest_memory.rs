//! A real guest under /dev/kvm with the sentry as its kernel: a pattern
//! written through one shared file mapping reads back intact through a
//! second mapping of the same file, and after munmap the guest's access is
//! reported as a fault at the right address (not served by a stale
//! translation). Both hold with `KVM_RUN` on its own vCPU thread (the
//! default where two CPUs are usable), on the sentry's thread, and on its
//! own thread with the two threads pinned to different CPUs (whose pin of
//! the sentry's thread is undone when the VM goes).

use instrumented_sentry::mm::MmConfig;
use instrumented_sentry::platform::kvm::vmm::exits::SyscallExit;
use instrumented_sentry::platform::kvm::vmm::vcpu_thread::{
    pinned_cpus, usable_cpus, VcpuPlacement,
};
use instrumented_sentry::runners::kvm::guest_run::{
    make_guest_mm_placed, run_guest, GuestRunError,
};
use instrumented_sentry::runners::kvm::guest_workloads::{
    pattern_program, AfterPattern, WORKLOAD_FD,
};
use instrumented_sentry::runners::kvm::sentry_calls::{GuestFds, KvmMemoryManager};
use instrumented_sentry::segment::GapSearch;

const PLACEMENTS: [VcpuPlacement; 3] = [
    VcpuPlacement::OwnThread,
    VcpuPlacement::SentryThread,
    VcpuPlacement::PinnedApart,
];

const LEN: u64 = 256 * 1024;

/// A guest memory manager running the pattern program, or `None` (with a
/// SKIP line) where /dev/kvm is absent or the VM cannot be made.
fn guest(
    after: AfterPattern,
    exit: SyscallExit,
    placement: VcpuPlacement,
) -> Option<(KvmMemoryManager, GuestFds)> {
    if !std::path::Path::new("/dev/kvm").exists() {
        skip_line(format_args!("SKIP: /dev/kvm is absent"));
        return None;
    }
    let program = pattern_program(LEN, after, exit).expect("assemble");
    let mut mm = match make_guest_mm_placed(
        MmConfig::with_search(GapSearch::MaxGap),
        program,
        4096,
        1 << 36,
        placement,
    ) {
        Ok(mm) => mm,
        Err(GuestRunError::Unavailable(why)) => {
            skip_line(format_args!(
                "SKIP: /dev/kvm present but the VM cannot be made: {why}"
            ));
            return None;
        }
        Err(e) => panic!("{e}"),
    };
    let file = mm.create_file(LEN).expect("file");
    let mut fds = GuestFds::default();
    fds.install(WORKLOAD_FD, file);
    Some((mm, fds))
}

#[test]
fn pattern_through_one_shared_mapping_reads_back_through_another() {
    for exit in [SyscallExit::PortIo, SyscallExit::Mmio] {
        for placement in PLACEMENTS {
            pattern_round_trip(exit, placement);
        }
    }
}

fn pattern_round_trip(exit: SyscallExit, placement: VcpuPlacement) {
    let cpus_before = usable_cpus();
    pattern_in_guest(exit, placement);
    assert_eq!(
        usable_cpus(),
        cpus_before,
        "the sentry's CPU mask is restored"
    );
}

fn pattern_in_guest(exit: SyscallExit, placement: VcpuPlacement) {
    let Some((mut mm, fds)) = guest(AfterPattern::Exit, exit, placement) else {
        return;
    };
    // Pinning apart needs two CPUs; with one the vCPU thread runs unpinned.
    let expected = match placement {
        VcpuPlacement::PinnedApart if pinned_cpus().is_none() => VcpuPlacement::OwnThread,
        p => p,
    };
    assert_eq!(mm.address_space().machine().vm().placement(), expected);
    if expected == VcpuPlacement::PinnedApart {
        assert_eq!(usable_cpus(), 1, "the sentry's thread is pinned");
    }
    let s = run_guest(&mut mm, &fds, true).expect("guest run");
    assert_eq!(s.exit_status, 0, "mismatching words seen by the guest");
    assert_eq!(s.mmap_results.len(), 2);
    assert_ne!(s.mmap_results[0], s.mmap_results[1]);
    // The guest faulted the file in (64 KiB windows): 256 KiB through each
    // mapping, the second mapping finding the pages in the file's cache.
    assert!(
        s.faults_resolved >= 2 * LEN / (64 * 1024),
        "faults {}",
        s.faults_resolved
    );
    assert_eq!(s.exits.faults, s.faults_resolved + s.stale_faults);
    // The bytes really are in the sentry's memory file: read the file.
    let mut word = [0u8; 8];
    mm.file_read(fds.get(WORKLOAD_FD).unwrap(), 8 * 12345, &mut word)
        .unwrap();
    assert_eq!(
        u64::from_le_bytes(word),
        12345u64.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    );
}

#[test]
fn access_after_munmap_is_reported_at_its_address() {
    for placement in PLACEMENTS {
        munmap_then_read(placement);
    }
}

fn munmap_then_read(placement: VcpuPlacement) {
    let Some((mut mm, fds)) = guest(AfterPattern::MunmapThenRead, SyscallExit::PortIo, placement)
    else {
        return;
    };
    let err = run_guest(&mut mm, &fds, true).expect_err("the read after munmap must fault");
    let first = mm.vmas().map(|(r, _)| r.start).min();
    match err {
        GuestRunError::Segfault {
            addr,
            write,
            function,
            ..
        } => {
            assert!(!write);
            assert_eq!(function.as_deref(), Some("after_check"));
            // The first mapping is gone; the second is the only VMA left,
            // placed top-down just below where the first was.
            let second = first.expect("second mapping still mapped");
            assert_eq!(
                addr,
                second + LEN,
                "fault address is the unmapped first mapping"
            );
            assert_eq!(mm.vma_count(), 1);
        }
        other => panic!("expected a segfault report, got {other}"),
    }
    assert!(mm.address_space().machine().flushes_requested() >= 1);
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
