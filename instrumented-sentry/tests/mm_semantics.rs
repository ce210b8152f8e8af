//! Targeted tests of the memory manager's Linux/gVisor semantics on the
//! in-process platform.

use instrumented_sentry::addr::{Access, Perms, PAGE_SIZE};
use instrumented_sentry::mm::{
    MemoryManager, MmConfig, MmError, MmapRequest, MremapFlags, Placement,
};
use instrumented_sentry::platform::inproc_address_space::{InProcAddressSpace, InProcConfig};
use instrumented_sentry::platform::PlatformError;
use instrumented_sentry::segment::GapSearch;

fn mm_with(search: GapSearch, arena: u64) -> MemoryManager<InProcAddressSpace> {
    let cfg = MmConfig {
        memory_file: instrumented_sentry::mm::MemoryFileConfig {
            chunk_size: 1 << 20,
            max_size: 1 << 30,
        },
        ..MmConfig::with_search(search)
    };
    MemoryManager::inproc(
        cfg,
        &InProcConfig {
            arena_size: arena,
            max_host_mappings: None,
        },
    )
    .unwrap()
}

fn mm() -> MemoryManager<InProcAddressSpace> {
    mm_with(GapSearch::MaxGap, 1 << 30)
}

/// The host mappings the platform counts are those /proc/self/maps shows,
/// and the memory manager's invariants hold.
fn assert_host_agrees_and_invariants_hold(mm: &MemoryManager<InProcAddressSpace>) {
    assert_eq!(
        mm.host_mappings(),
        mm.address_space().host_mappings_from_proc().unwrap()
    );
    mm.check_invariants().unwrap();
}

#[test]
fn anonymous_private_mappings_merge_and_are_populated() {
    let mut mm = mm();
    let a = mm.mmap(&MmapRequest::anonymous(4096)).unwrap();
    let b = mm.mmap(&MmapRequest::anonymous(4096)).unwrap();
    assert_eq!(b + PAGE_SIZE, a, "top-down placement");
    assert_eq!(mm.vma_count(), 1);
    let s = mm.stats();
    assert_eq!(s.resident_bytes, 2 * PAGE_SIZE, "eager populate");
    // Consecutive descending addresses get descending memfd offsets: the
    // host merges them into one mapping.
    assert_eq!(
        mm.host_mappings(),
        mm.address_space().host_mappings_from_proc().unwrap()
    );
    assert!(
        mm.host_mappings() <= 3,
        "host mappings {}",
        mm.host_mappings()
    );
    assert_eq!(mm.touch(b, 2 * PAGE_SIZE, Access::Write, 1).unwrap(), 0);
    mm.check_invariants().unwrap();
}

#[test]
fn private_file_at_offset_zero_does_not_merge_but_contiguous_offsets_do() {
    let mut mm = mm();
    let f = mm.create_file(1 << 20).unwrap();
    for _ in 0..10 {
        mm.mmap(&MmapRequest::file(f, 0, 4096)).unwrap();
    }
    assert_eq!(mm.vma_count(), 10);
    assert_eq!(
        mm.stats().resident_bytes,
        0,
        "file mappings are not populated"
    );
    // Contiguous offsets: the second mapping sits above the first at offset
    // +4096 (placed with a hint right after it).
    let a = mm
        .mmap(
            &MmapRequest::file(f, 0, 4096).at(Placement::Hint(0x10_0000 + mm.layout().range.start)),
        )
        .unwrap();
    let b = mm
        .mmap(&MmapRequest::file(f, 4096, 4096).at(Placement::Hint(a + 4096)))
        .unwrap();
    assert_eq!(b, a + 4096);
    assert_eq!(mm.vma_count(), 11);
    // Different permissions do not merge.
    mm.mmap(
        &MmapRequest::file(f, 8192, 4096)
            .with_perms(Perms::READ)
            .at(Placement::Hint(b + 4096)),
    )
    .unwrap();
    assert_eq!(mm.vma_count(), 12);
    mm.check_invariants().unwrap();
}

#[test]
fn fixed_replaces_and_fixed_noreplace_fails_with_eexist() {
    let mut mm = mm();
    let a = mm.mmap(&MmapRequest::anonymous(4 * PAGE_SIZE)).unwrap();
    mm.write(a, b"old").unwrap();
    let r =
        mm.mmap(&MmapRequest::anonymous(PAGE_SIZE).at(Placement::FixedNoReplace(a + PAGE_SIZE)));
    assert_eq!(r.unwrap_err().errno(), libc::EEXIST);
    let f = mm.create_file(PAGE_SIZE).unwrap();
    mm.file_write(f, 0, b"file").unwrap();
    let got = mm
        .mmap(&MmapRequest::file(f, 0, PAGE_SIZE).at(Placement::Fixed(a)))
        .unwrap();
    assert_eq!(got, a);
    assert_eq!(mm.vma_count(), 2);
    let mut buf = [0u8; 4];
    mm.read(a, &mut buf).unwrap();
    assert_eq!(&buf, b"file");
    assert_eq!(
        mm.read(a + 4 * PAGE_SIZE, &mut buf).unwrap_err().errno(),
        libc::EFAULT
    );
    mm.check_invariants().unwrap();
}

#[test]
fn bad_arguments_give_einval_and_overflow_enomem() {
    let mut mm = mm();
    let e = |r: Result<u64, MmError>| r.unwrap_err().errno();
    assert_eq!(e(mm.mmap(&MmapRequest::anonymous(0))), libc::EINVAL);
    assert_eq!(e(mm.mmap(&MmapRequest::anonymous(u64::MAX))), libc::ENOMEM);
    assert_eq!(
        e(mm.mmap(&MmapRequest::anonymous(4096).at(Placement::Fixed(12345)))),
        libc::EINVAL
    );
    let f = mm.create_file(4096).unwrap();
    assert_eq!(e(mm.mmap(&MmapRequest::file(f, 100, 4096))), libc::EINVAL);
    assert_eq!(
        e(mm.mmap(&MmapRequest::file(f, u64::MAX - 4095, 8192))),
        libc::EINVAL
    );
    assert_eq!(mm.munmap(1, 4096).unwrap_err().errno(), libc::EINVAL);
    assert_eq!(
        mm.munmap(mm.layout().range.start, 0).unwrap_err().errno(),
        libc::EINVAL
    );
    assert_eq!(
        mm.munmap(mm.layout().range.start, u64::MAX)
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
    assert_eq!(
        mm.mprotect(3, 4096, Perms::READ).unwrap_err().errno(),
        libc::EINVAL
    );
    assert!(MmapRequest::from_linux(0, 4096, 3, libc::MAP_ANONYMOUS, None, 0).is_err());
    assert!(MmapRequest::from_linux(
        0,
        4096,
        0x40,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
        None,
        0
    )
    .is_err());
    mm.check_invariants().unwrap();
}

#[test]
fn enomem_when_the_address_space_is_full() {
    let mut mm = mm_with(GapSearch::Linear, 64 * PAGE_SIZE);
    let f = mm.create_file(PAGE_SIZE).unwrap();
    for _ in 0..64 {
        mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE)).unwrap();
    }
    assert_eq!(
        mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE))
            .unwrap_err()
            .errno(),
        libc::ENOMEM
    );
    mm.check_invariants().unwrap();
}

#[test]
fn partial_munmap_splits_vmas() {
    let mut mm = mm();
    let f = mm.create_file(1 << 20).unwrap();
    let a = mm.mmap(&MmapRequest::file(f, 0, 8 * PAGE_SIZE)).unwrap();
    mm.touch(a, 8 * PAGE_SIZE, Access::Read, 0).unwrap();
    mm.munmap(a + 2 * PAGE_SIZE, 3 * PAGE_SIZE).unwrap();
    let vmas: Vec<_> = mm.vmas().collect();
    assert_eq!(vmas.len(), 2);
    assert_eq!(vmas[0].0.len(), 2 * PAGE_SIZE);
    assert_eq!(vmas[1].0.start, a + 5 * PAGE_SIZE);
    match vmas[1].1.backing {
        instrumented_sentry::mm::Backing::File { offset, .. } => assert_eq!(offset, 5 * PAGE_SIZE),
        other => panic!("unexpected backing {other:?}"),
    }
    assert_eq!(mm.stats().resident_bytes, 5 * PAGE_SIZE);
    assert_eq!(
        mm.touch(a + 2 * PAGE_SIZE, 1, Access::Read, 0)
            .unwrap_err()
            .errno(),
        libc::EFAULT
    );
    assert_host_agrees_and_invariants_hold(&mm);
}

#[test]
fn freed_pages_are_reused() {
    let mut mm = mm();
    let a = mm.mmap(&MmapRequest::anonymous(16 * PAGE_SIZE)).unwrap();
    mm.write(a, &[0xAB; 64]).unwrap();
    let used = mm.stats().memory_file_used;
    let size = mm.stats().memory_file_size;
    mm.munmap(a, 16 * PAGE_SIZE).unwrap();
    assert_eq!(mm.stats().memory_file_used, 0);
    for _ in 0..10 {
        let b = mm.mmap(&MmapRequest::anonymous(16 * PAGE_SIZE)).unwrap();
        let mut buf = [1u8; 64];
        mm.read(b, &mut buf).unwrap();
        assert_eq!(buf, [0u8; 64], "reused pages read as zero");
        mm.munmap(b, 16 * PAGE_SIZE).unwrap();
    }
    mm.mmap(&MmapRequest::anonymous(16 * PAGE_SIZE)).unwrap();
    assert_eq!(mm.stats().memory_file_used, used);
    assert_eq!(
        mm.stats().memory_file_size,
        size,
        "no growth: freed pages were reused"
    );
    mm.check_invariants().unwrap();
}

#[test]
fn shared_file_data_is_seen_through_every_mapping() {
    let mut mm = mm();
    let f = mm.create_file(4 * PAGE_SIZE).unwrap();
    let a = mm
        .mmap(&MmapRequest::file(f, 0, 4 * PAGE_SIZE).shared())
        .unwrap();
    let b = mm
        .mmap(&MmapRequest::file(f, 0, 4 * PAGE_SIZE).shared())
        .unwrap();
    let p = mm.mmap(&MmapRequest::file(f, 0, 4 * PAGE_SIZE)).unwrap();
    let pattern: Vec<u8> = (0..3 * PAGE_SIZE as usize)
        .map(|i| (i % 251) as u8)
        .collect();
    mm.write(a + 100, &pattern).unwrap();
    let mut back = vec![0u8; pattern.len()];
    mm.read(b + 100, &mut back).unwrap();
    assert_eq!(back, pattern);
    let mut fb = vec![0u8; pattern.len()];
    mm.file_read(f, 100, &mut fb).unwrap();
    assert_eq!(fb, pattern);
    // A private mapping copies at first fault; its writes stay private.
    mm.read(p + 100, &mut back).unwrap();
    assert_eq!(back, pattern);
    mm.write(p + 100, b"private").unwrap();
    mm.read(b + 100, &mut back[..7]).unwrap();
    assert_eq!(&back[..7], &pattern[..7]);
    // Beyond the end of the file: SIGBUS-like.
    let big = mm
        .mmap(&MmapRequest::file(f, 0, 8 * PAGE_SIZE).shared())
        .unwrap();
    assert!(matches!(
        mm.touch(big + 5 * PAGE_SIZE, 1, Access::Read, 0),
        Err(MmError::Bus { .. })
    ));
    mm.check_invariants().unwrap();
}

#[test]
fn mprotect_forbids_writes_and_write_to_readonly_is_efault() {
    let mut mm = mm();
    let a = mm.mmap(&MmapRequest::anonymous(4 * PAGE_SIZE)).unwrap();
    mm.mprotect(a + PAGE_SIZE, PAGE_SIZE, Perms::READ).unwrap();
    assert_eq!(mm.vma_count(), 3);
    assert_eq!(
        mm.touch(a + PAGE_SIZE, 1, Access::Write, 1)
            .unwrap_err()
            .errno(),
        libc::EFAULT
    );
    mm.touch(a + PAGE_SIZE, 1, Access::Read, 0).unwrap();
    mm.mprotect(a + PAGE_SIZE, PAGE_SIZE, Perms::RW).unwrap();
    assert_eq!(mm.vma_count(), 1, "re-merged");
    mm.touch(a, 4 * PAGE_SIZE, Access::Write, 1).unwrap();
    assert_eq!(
        mm.mprotect(a + 8 * PAGE_SIZE, PAGE_SIZE, Perms::READ)
            .unwrap_err()
            .errno(),
        libc::ENOMEM
    );
    let ro = mm
        .mmap(&MmapRequest::anonymous(PAGE_SIZE).with_perms(Perms::READ))
        .unwrap();
    assert_eq!(
        mm.touch(ro, 1, Access::Write, 1).unwrap_err().errno(),
        libc::EFAULT
    );
    assert_host_agrees_and_invariants_hold(&mm);
}

#[test]
fn brk_grows_and_shrinks() {
    let mut mm = mm();
    let base = mm.brk(0).unwrap();
    assert_eq!(base, mm.layout().brk_base);
    assert_eq!(mm.brk(base + 10_000).unwrap(), base + 10_000);
    mm.write(base + 9_000, b"heap").unwrap();
    assert_eq!(mm.vma_count(), 1);
    assert_eq!(mm.brk(base + 100).unwrap(), base + 100);
    assert_eq!(mm.stats().mapped_bytes, PAGE_SIZE);
    assert_eq!(
        mm.brk(base - 1).unwrap(),
        base + 100,
        "refused: returns current"
    );
    mm.check_invariants().unwrap();
}

#[test]
fn mremap_shrinks_grows_and_moves_with_data() {
    let mut mm = mm();
    let a = mm.mmap(&MmapRequest::anonymous(4 * PAGE_SIZE)).unwrap();
    mm.write(a, b"keep me").unwrap();
    assert_eq!(
        mm.mremap(a, 4 * PAGE_SIZE, 2 * PAGE_SIZE, MremapFlags::default())
            .unwrap(),
        a
    );
    assert_eq!(mm.stats().mapped_bytes, 2 * PAGE_SIZE);
    // Grow in place into the freed space.
    assert_eq!(
        mm.mremap(a, 2 * PAGE_SIZE, 3 * PAGE_SIZE, MremapFlags::default())
            .unwrap(),
        a
    );
    // Block growth, then move.
    mm.mmap(&MmapRequest::anonymous(PAGE_SIZE).at(Placement::Fixed(a + 3 * PAGE_SIZE)))
        .unwrap();
    assert_eq!(
        mm.mremap(a, 3 * PAGE_SIZE, 8 * PAGE_SIZE, MremapFlags::default())
            .unwrap_err()
            .errno(),
        libc::ENOMEM
    );
    let moved = mm
        .mremap(
            a,
            3 * PAGE_SIZE,
            8 * PAGE_SIZE,
            MremapFlags {
                may_move: true,
                fixed: None,
            },
        )
        .unwrap();
    assert_ne!(moved, a);
    let mut buf = [0u8; 7];
    mm.read(moved, &mut buf).unwrap();
    assert_eq!(&buf, b"keep me");
    assert_eq!(
        mm.touch(a, 1, Access::Read, 0).unwrap_err().errno(),
        libc::EFAULT
    );
    mm.touch(moved, 8 * PAGE_SIZE, Access::Write, 3).unwrap();
    assert_eq!(
        mm.mremap(a + 123, PAGE_SIZE, PAGE_SIZE, MremapFlags::default())
            .unwrap_err()
            .errno(),
        libc::EINVAL
    );
    assert_eq!(
        mm.mremap(a, PAGE_SIZE, PAGE_SIZE, MremapFlags::default())
            .unwrap_err()
            .errno(),
        libc::EFAULT
    );
    assert_host_agrees_and_invariants_hold(&mm);
}

#[test]
fn host_mapping_limit_is_a_clear_error() {
    let cfg = MmConfig::default();
    let mut mm = MemoryManager::inproc(
        cfg,
        &InProcConfig {
            arena_size: 1 << 30,
            max_host_mappings: Some(20),
        },
    )
    .unwrap();
    let f = mm.create_file(PAGE_SIZE).unwrap();
    let mut err = None;
    for _ in 0..100 {
        // Shared mappings of the same file page: the same memfd offset
        // again and again, which the host cannot merge.
        match mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE).shared().with_populate()) {
            Ok(_) => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    let err = err.expect("limit reached");
    assert!(err.is_environment());
    assert!(matches!(
        err,
        MmError::Platform(PlatformError::MapCountLimit { limit: 20, .. })
    ));
    let msg = err.to_string();
    assert!(
        msg.contains("vm.max_map_count") && msg.contains("sysctl -w vm.max_map_count="),
        "{msg}"
    );
    assert!(mm.host_mappings() <= 20);
    mm.check_invariants().unwrap();
}

#[test]
fn bottom_up_places_upwards_and_hugepage_aligns() {
    let cfg = MmConfig {
        direction: instrumented_sentry::mm::MmapDirection::BottomUp,
        ..MmConfig::default()
    };
    let mut mm = MemoryManager::inproc(
        cfg,
        &InProcConfig {
            arena_size: 1 << 30,
            max_host_mappings: None,
        },
    )
    .unwrap();
    let f = mm.create_file(PAGE_SIZE).unwrap();
    let a = mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE)).unwrap();
    let b = mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE)).unwrap();
    assert_eq!(a, mm.layout().bottom_up_base);
    assert_eq!(b, a + PAGE_SIZE);
    let h = mm.mmap(&MmapRequest::file(f, 0, 2 << 20)).unwrap();
    assert_eq!(h % (2 << 20), 0);
    mm.check_invariants().unwrap();
}

#[test]
fn mremap_fixed_moves_to_the_given_address_and_from_linux_parses() {
    let mut mm = mm();
    let f = mm.create_file(8 * PAGE_SIZE).unwrap();
    mm.file_write(f, 2 * PAGE_SIZE, b"third page").unwrap();
    let a = mm
        .mmap(&MmapRequest::file(f, 0, 4 * PAGE_SIZE).shared())
        .unwrap();
    let target = a - 64 * PAGE_SIZE;
    // Something already at the target is replaced.
    mm.mmap(&MmapRequest::anonymous(PAGE_SIZE).at(Placement::Fixed(target)))
        .unwrap();
    let flags = MremapFlags::from_linux(libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, target).unwrap();
    let got = mm
        .mremap(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, 2 * PAGE_SIZE, flags)
        .unwrap();
    assert_eq!(got, target);
    let mut buf = [0u8; 10];
    mm.read(target, &mut buf).unwrap();
    assert_eq!(&buf, b"third page");
    assert_eq!(mm.vma_count(), 2);
    assert!(MremapFlags::from_linux(libc::MREMAP_FIXED, target).is_ok());
    assert_eq!(
        mm.mremap(
            a,
            PAGE_SIZE,
            PAGE_SIZE,
            MremapFlags::from_linux(libc::MREMAP_FIXED, target).unwrap()
        )
        .unwrap_err()
        .errno(),
        libc::EINVAL
    );
    let req = MmapRequest::from_linux(
        target,
        100,
        libc::PROT_READ,
        libc::MAP_PRIVATE | libc::MAP_FIXED_NOREPLACE,
        Some(f),
        0,
    )
    .unwrap();
    assert_eq!(req.placement, Placement::FixedNoReplace(target));
    assert_eq!(mm.mmap(&req).unwrap_err().errno(), libc::EEXIST);
    mm.check_invariants().unwrap();
}

#[test]
fn shared_anonymous_memory_is_freed_with_its_last_mapping() {
    let mut mm = mm();
    let a = mm
        .mmap(&MmapRequest::anonymous(4 * PAGE_SIZE).shared())
        .unwrap();
    let b = mm
        .mmap(&MmapRequest::anonymous(4 * PAGE_SIZE).shared())
        .unwrap();
    assert_eq!(
        mm.vma_count(),
        2,
        "separate shared anonymous mappings never merge"
    );
    assert_eq!(
        mm.stats().resident_bytes,
        0,
        "shared anonymous memory is not populated eagerly"
    );
    mm.write(a, b"shm").unwrap();
    mm.touch(b, 4 * PAGE_SIZE, Access::Write, 9).unwrap();
    assert!(mm.stats().memory_file_used >= 5 * PAGE_SIZE);
    mm.munmap(a, 4 * PAGE_SIZE).unwrap();
    mm.munmap(b, 4 * PAGE_SIZE).unwrap();
    assert_eq!(mm.stats().memory_file_used, 0);
    mm.check_invariants().unwrap();
}
