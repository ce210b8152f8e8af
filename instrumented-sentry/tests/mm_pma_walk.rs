//! getPMAs walks only the range it backs (gVisor's `getPMAsLocked` loop),
//! whatever lies above it.
//!
//! The cost is counted, not timed: the memory manager sums the PMA-set
//! segments its gap walks step over ([`MemoryManager::pma_walk_steps`]).
//! Below 10,000 adjacent non-mergeable PMAs, an mmap (eager populate) and a
//! fault each take O(1) steps; the old walk (`gaps_from` up to the first
//! non-empty gap past the range) took one step per PMA above, ~10,000.

use instrumented_sentry::addr::{Access, Perms, Range, PAGE_SIZE};
use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest};
use instrumented_sentry::platform::inproc_address_space::{InProcAddressSpace, InProcConfig};
use instrumented_sentry::segment::{GapSearch, SegmentFunctions, SegmentSet};

const ABOVE: u64 = 10_000;

/// A memory manager with `ABOVE` adjacent 4 KiB anonymous mappings whose
/// permissions alternate, so neither their VMAs nor their PMAs merge.
fn mm_below_many_pmas() -> MemoryManager<InProcAddressSpace> {
    let mut mm = MemoryManager::inproc(
        MmConfig::with_search(GapSearch::MaxGap),
        &InProcConfig {
            arena_size: 1 << 32,
            max_host_mappings: None,
        },
    )
    .expect("in-process memory manager");
    for i in 0..ABOVE {
        let perms = if i % 2 == 0 { Perms::RW } else { Perms::READ };
        mm.mmap(&MmapRequest::anonymous(PAGE_SIZE).with_perms(perms))
            .expect("mmap while building the population");
    }
    let pmas: Vec<Range> = mm.pmas().map(|(r, _)| r).collect();
    assert_eq!(pmas.len() as u64, ABOVE, "one PMA per mapping");
    assert!(
        pmas.windows(2).all(|w| w[0].end == w[1].start),
        "the PMAs are adjacent"
    );
    mm
}

#[test]
fn populate_below_many_pmas_takes_constant_steps() {
    let mut mm = mm_below_many_pmas();
    let lowest = mm.pmas().next().map(|(r, _)| r).expect("a PMA");
    let before = mm.pma_walk_steps();
    // Lands right below the lowest PMA (top-down) and is populated eagerly.
    let a = mm
        .mmap(&MmapRequest::anonymous(PAGE_SIZE).with_perms(Perms::RW))
        .expect("mmap");
    assert_eq!(a + PAGE_SIZE, lowest.start, "placed right below the PMAs");
    let steps = mm.pma_walk_steps() - before;
    assert!(
        steps <= 2,
        "getPMAs below {ABOVE} PMAs stepped over {steps} segments (want O(1))"
    );
    mm.check_invariants().expect("invariants");
}

#[test]
fn fault_below_many_pmas_takes_constant_steps() {
    let mut mm = mm_below_many_pmas();
    // Larger than the eager-populate limit: no PMA until touched.
    let len = 8 << 20;
    let a = mm.mmap(&MmapRequest::anonymous(len)).expect("mmap");
    let lowest = mm
        .pmas()
        .next()
        .map(|(r, _)| r)
        .expect("the PMAs above remain");
    // Huge-page aligned, so it may end a little below the lowest PMA: no
    // PMA lies between, the PMA gap around it still ends at the lowest PMA.
    assert!(a + len <= lowest.start, "placed below the PMAs");
    let before = mm.pma_walk_steps();
    let faults = mm
        .touch(a + len - PAGE_SIZE, PAGE_SIZE, Access::Write, 7)
        .expect("touch");
    assert_eq!(faults, 1);
    let steps = mm.pma_walk_steps() - before;
    assert!(
        steps <= 2,
        "a fault below {ABOVE} PMAs stepped over {steps} segments (want O(1))"
    );
    mm.check_invariants().expect("invariants");
}

/// Non-mergeable unit segments.
struct NoMerge;
impl SegmentFunctions for NoMerge {
    type Value = u64;
    const TRACK_MAX_GAP: bool = false;
    fn merge(_: Range, _: &u64, _: Range, _: &u64) -> Option<u64> {
        None
    }
    fn split(_: Range, v: &u64, _: u64) -> (u64, u64) {
        (*v, *v)
    }
}

#[test]
fn gaps_in_stops_at_the_range_end_where_gaps_from_walks_on() {
    let mut set: SegmentSet<NoMerge> = SegmentSet::new(Range::new(0, 1 << 40), 8).expect("set");
    let base = 1 << 20;
    for i in 0..ABOVE {
        set.insert(Range::new(base + i, base + i + 1), i)
            .expect("insert");
    }
    let r = Range::new(base - 100, base);
    // The unbounded walk, stopped at the first gap past the range as the
    // old getPMAs did, steps over every adjacent segment above.
    let mut old = set.gaps_from(r.start);
    let got: Vec<Range> = old.by_ref().take_while(|g| g.start < r.end).collect();
    assert_eq!(got, vec![Range::new(0, base)]);
    assert!(old.steps() >= ABOVE, "old walk: {} steps", old.steps());
    // The bounded walk: the same gap clipped to the range, no step.
    let mut new = set.gaps_in(r);
    let got: Vec<Range> = new.by_ref().collect();
    assert_eq!(got, vec![r]);
    assert!(new.steps() <= 1, "bounded walk: {} steps", new.steps());
}
