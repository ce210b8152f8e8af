//! Edge cases of the segment set: empty set, full range, misuse errors,
//! adjacency and merges on either side, splits, range removal, the
//! search semantics at gap boundaries, and large ordered builds.

use instrumented_sentry::addr::Range;
use instrumented_sentry::segment::{GapSearch, SegmentError, SegmentFunctions, SegmentSet};

/// Values are (object, offset); adjacent segments merge when the object
/// matches and offsets are contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Val {
    obj: u8,
    off: u64,
}

struct Fns;
impl SegmentFunctions for Fns {
    type Value = Val;
    const TRACK_MAX_GAP: bool = true;
    fn merge(l: Range, lv: &Val, _r: Range, rv: &Val) -> Option<Val> {
        (lv.obj == rv.obj && lv.off + l.len() == rv.off).then_some(*lv)
    }
    fn split(r: Range, v: &Val, at: u64) -> (Val, Val) {
        (
            *v,
            Val {
                obj: v.obj,
                off: v.off + (at - r.start),
            },
        )
    }
}

/// Unit values that never merge, without max-gap tracking.
struct NoMerge;
impl SegmentFunctions for NoMerge {
    type Value = ();
    const TRACK_MAX_GAP: bool = false;
    fn merge(_: Range, _: &(), _: Range, _: &()) -> Option<()> {
        None
    }
    fn split(_: Range, _: &(), _: u64) -> ((), ()) {
        ((), ())
    }
}

/// A value whose offset continues linearly with the address (anonymous
/// memory): always mergeable with a same-object neighbour.
fn anon(obj: u8, start: u64) -> Val {
    Val { obj, off: start }
}

fn set(bounds: Range, degree: usize) -> SegmentSet<Fns> {
    SegmentSet::new(bounds, degree).expect("valid set parameters")
}

fn segs(s: &SegmentSet<Fns>) -> Vec<(u64, u64)> {
    s.iter().map(|(r, _)| (r.start, r.end)).collect()
}

fn both_forward(s: &SegmentSet<Fns>, from: u64, min: u64) -> Option<Range> {
    let a = s.first_large_enough_gap(from, min, GapSearch::Linear);
    let b = s.first_large_enough_gap(from, min, GapSearch::MaxGap);
    assert_eq!(a, b, "forward from {from:#x} min {min}");
    a
}

fn both_backward(s: &SegmentSet<Fns>, before: u64, min: u64) -> Option<Range> {
    let a = s.last_large_enough_gap(before, min, GapSearch::Linear);
    let b = s.last_large_enough_gap(before, min, GapSearch::MaxGap);
    assert_eq!(a, b, "backward before {before:#x} min {min}");
    a
}

#[test]
fn constructor_rejects_bad_parameters() {
    assert_eq!(
        SegmentSet::<Fns>::new(Range::new(0, 10), 1).err(),
        Some(SegmentError::DegreeTooSmall { degree: 1 })
    );
    assert_eq!(
        SegmentSet::<Fns>::new(Range::new(10, 10), 8).err(),
        Some(SegmentError::EmptyBounds {
            bounds: Range::new(10, 10)
        })
    );
    assert!(SegmentSet::<Fns>::new(Range::new(0, u64::MAX), 2).is_ok());
}

#[test]
fn empty_set_is_one_gap() {
    let b = Range::new(0x1000, 0x9000);
    let mut s = set(b, 8);
    s.check_invariants().expect("invariants");
    assert!(s.is_empty());
    assert_eq!(s.gaps().collect::<Vec<_>>(), vec![b]);
    assert_eq!(s.gaps_rev().collect::<Vec<_>>(), vec![b]);
    assert_eq!(s.find_gap(0x1000), Some(b));
    assert_eq!(s.find_gap(0x8fff), Some(b));
    assert_eq!(s.find_gap(0x9000), None, "outside bounds");
    assert_eq!(s.lookup(0x2000), None);
    assert_eq!(s.remove(0x2000), None);
    assert!(s.remove_range(b).is_empty());
    assert!(!s.split_at(0x2000));
    assert_eq!(s.iter().count(), 0);
    assert_eq!(s.total_gap_len(), 0x8000);
    assert_eq!(both_forward(&s, 0, 0x8000), Some(b));
    assert_eq!(both_forward(&s, 0, 0x8001), None);
    assert_eq!(both_forward(&s, 0x2000, 0x7000), Some(b));
    assert_eq!(
        both_forward(&s, 0x2000, 0x7001),
        None,
        "clipped part too short"
    );
    assert_eq!(both_backward(&s, u64::MAX, 0x8000), Some(b));
    assert_eq!(both_backward(&s, 0x8000, 0x7000), Some(b));
    assert_eq!(both_backward(&s, 0x8000, 0x7001), None);
    assert_eq!(both_forward(&s, 0x9000, 1), None, "from at bounds end");
    assert_eq!(both_backward(&s, 0x1000, 1), None, "before at bounds start");
}

#[test]
fn full_range_leaves_no_gap() {
    let b = Range::new(0, 1 << 40);
    let mut s = set(b, 3);
    s.insert(b, anon(0, 0)).expect("insert whole bounds");
    s.check_invariants().expect("invariants");
    assert_eq!(s.gaps().count(), 0);
    assert_eq!(s.total_gap_len(), 0);
    assert_eq!(s.find_gap(123), None);
    assert_eq!(both_forward(&s, 0, 0), None, "min 0 counts as 1");
    assert_eq!(both_backward(&s, u64::MAX, 1), None);
    assert_eq!(s.lookup(b.end - 1).map(|x| x.0), Some(b));
}

#[test]
fn misuse_is_an_error_and_leaves_the_set_unchanged() {
    let b = Range::new(100, 1000);
    let mut s = set(b, 2);
    s.insert(Range::new(200, 300), anon(0, 200))
        .expect("insert");
    let before = segs(&s);
    let existing = Range::new(200, 300);
    let cases = [
        (
            Range::new(250, 250),
            SegmentError::EmptyRange {
                range: Range::new(250, 250),
            },
        ),
        (
            Range::new(300, 250),
            SegmentError::EmptyRange {
                range: Range::new(300, 250),
            },
        ),
        (
            Range::new(50, 150),
            SegmentError::OutOfBounds {
                range: Range::new(50, 150),
                bounds: b,
            },
        ),
        (
            Range::new(900, 1001),
            SegmentError::OutOfBounds {
                range: Range::new(900, 1001),
                bounds: b,
            },
        ),
        (
            existing,
            SegmentError::Overlap {
                range: existing,
                existing,
            },
        ),
        (
            Range::new(150, 201),
            SegmentError::Overlap {
                range: Range::new(150, 201),
                existing,
            },
        ),
        (
            Range::new(299, 400),
            SegmentError::Overlap {
                range: Range::new(299, 400),
                existing,
            },
        ),
        (
            Range::new(150, 400),
            SegmentError::Overlap {
                range: Range::new(150, 400),
                existing,
            },
        ),
        (
            Range::new(210, 220),
            SegmentError::Overlap {
                range: Range::new(210, 220),
                existing,
            },
        ),
    ];
    for (r, want) in cases {
        assert_eq!(
            s.insert(r, anon(0, r.start)),
            Err(want.clone()),
            "insert {r}"
        );
        assert_eq!(
            s.insert_with_merge(r, anon(0, r.start)),
            Err(want),
            "insert_with_merge {r}"
        );
        assert_eq!(segs(&s), before);
        s.check_invariants().expect("invariants");
    }
    // Adjacent on both sides is fine.
    s.insert(Range::new(100, 200), anon(1, 0))
        .expect("left adjacent");
    s.insert(Range::new(300, 1000), anon(2, 0))
        .expect("right adjacent, up to bounds end");
    assert_eq!(segs(&s), vec![(100, 200), (200, 300), (300, 1000)]);
    assert_eq!(s.gaps().count(), 0);
    s.check_invariants().expect("invariants");
    // The error message names the ranges.
    let msg = s
        .insert(Range::new(150, 160), anon(0, 0))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("0x96") && msg.contains("0x64"), "{msg}");
}

#[test]
fn insert_with_merge_on_each_side() {
    let mut s = set(Range::new(0, 1000), 2);
    s.insert(Range::new(0, 10), anon(0, 0)).expect("insert");
    s.insert(Range::new(20, 30), anon(0, 20)).expect("insert");
    // Both sides.
    assert_eq!(
        s.insert_with_merge(Range::new(10, 20), anon(0, 10)),
        Ok(Range::new(0, 30))
    );
    assert_eq!(segs(&s), vec![(0, 30)]);
    assert_eq!(s.lookup(25).map(|x| *x.1), Some(anon(0, 0)));
    // Left only (right neighbour has another object).
    s.insert(Range::new(40, 50), anon(1, 40)).expect("insert");
    assert_eq!(
        s.insert_with_merge(Range::new(30, 40), anon(0, 30)),
        Ok(Range::new(0, 40))
    );
    assert_eq!(segs(&s), vec![(0, 40), (40, 50)]);
    // Right only (left neighbour has another object).
    assert_eq!(
        s.insert_with_merge(Range::new(35 + 15, 60), anon(1, 50)),
        Ok(Range::new(40, 60))
    );
    assert_eq!(segs(&s), vec![(0, 40), (40, 60)]);
    s.insert(Range::new(70, 80), anon(1, 70)).expect("insert");
    assert_eq!(
        s.insert_with_merge(Range::new(60, 70), anon(2, 60)),
        Ok(Range::new(60, 70))
    );
    assert_eq!(segs(&s), vec![(0, 40), (40, 60), (60, 70), (70, 80)]);
    // Right merge with a non-contiguous offset is refused.
    assert_eq!(
        s.insert_with_merge(Range::new(80, 90), Val { obj: 1, off: 999 }),
        Ok(Range::new(80, 90))
    );
    // A gap between them: no merge even with a matching value.
    assert_eq!(
        s.insert_with_merge(Range::new(95, 99), anon(1, 95)),
        Ok(Range::new(95, 99))
    );
    s.check_invariants().expect("invariants");
    assert_eq!(s.len(), 6);
}

#[test]
fn split_isolate_remove_range_and_update() {
    let mut s = set(Range::new(0, 1000), 2);
    s.insert(Range::new(100, 200), Val { obj: 3, off: 5000 })
        .expect("insert");
    assert!(!s.split_at(100), "split at a segment start does nothing");
    assert!(!s.split_at(50), "split in a gap does nothing");
    assert!(s.split_at(150));
    assert_eq!(segs(&s), vec![(100, 150), (150, 200)]);
    assert_eq!(s.lookup(150).map(|x| *x.1), Some(Val { obj: 3, off: 5050 }));
    assert_eq!(
        s.merge_range(Range::new(150, 150)),
        1,
        "split halves merge back"
    );
    assert_eq!(segs(&s), vec![(100, 200)]);

    s.isolate(Range::new(120, 130));
    assert_eq!(segs(&s), vec![(100, 120), (120, 130), (130, 200)]);
    assert_eq!(s.merge_range(Range::new(0, 1000)), 2);

    // mprotect-like update of the middle, then restore: merges back.
    assert_eq!(s.update_range(Range::new(120, 130), |_, v| v.obj = 4), 1);
    assert_eq!(segs(&s), vec![(100, 120), (120, 130), (130, 200)]);
    assert_eq!(s.update_range(Range::new(110, 140), |_, v| v.obj = 3), 3);
    assert_eq!(
        segs(&s),
        vec![(100, 200)],
        "restored values merge with both neighbours"
    );

    // Range removal splits the straddling segment at both ends.
    let removed = s.remove_range(Range::new(150, 160));
    assert_eq!(
        removed,
        vec![(Range::new(150, 160), Val { obj: 3, off: 5050 })]
    );
    assert_eq!(segs(&s), vec![(100, 150), (160, 200)]);
    s.insert(Range::new(300, 400), anon(1, 300))
        .expect("insert");
    let removed = s.remove_range(Range::new(120, 350));
    let pieces: Vec<Range> = removed.iter().map(|x| x.0).collect();
    assert_eq!(
        pieces,
        vec![
            Range::new(120, 150),
            Range::new(160, 200),
            Range::new(300, 350)
        ]
    );
    assert_eq!(segs(&s), vec![(100, 120), (350, 400)]);
    assert_eq!(s.remove(119).map(|x| x.0), Some(Range::new(100, 120)));
    s.check_invariants().expect("invariants");
}

#[test]
fn searches_respect_clipping_at_from_and_before() {
    let mut s = set(Range::new(0, 100), 2);
    // Gaps: [0,10) [20,25) [30,60) [70,100)
    for (a, b) in [(10, 20), (25, 30), (60, 70)] {
        s.insert(Range::new(a, b), Val { obj: 0, off: a * 7 })
            .expect("insert");
    }
    assert_eq!(both_forward(&s, 0, 10), Some(Range::new(0, 10)));
    assert_eq!(
        both_forward(&s, 5, 10),
        Some(Range::new(30, 60)),
        "first gap clipped to 5"
    );
    assert_eq!(both_forward(&s, 5, 5), Some(Range::new(0, 10)));
    assert_eq!(
        both_forward(&s, 12, 5),
        Some(Range::new(20, 25)),
        "from inside a segment"
    );
    assert_eq!(both_forward(&s, 12, 31), None);
    assert_eq!(both_forward(&s, 12, 30), Some(Range::new(30, 60)));
    assert_eq!(
        both_forward(&s, 35, 30),
        Some(Range::new(70, 100)),
        "gap at from clipped to 35"
    );
    assert_eq!(both_backward(&s, 100, 30), Some(Range::new(70, 100)));
    assert_eq!(
        both_backward(&s, 90, 25),
        Some(Range::new(30, 60)),
        "last gap clipped to 90"
    );
    assert_eq!(both_backward(&s, 90, 20), Some(Range::new(70, 100)));
    assert_eq!(
        both_backward(&s, 65, 5),
        Some(Range::new(30, 60)),
        "before inside a segment"
    );
    assert_eq!(both_backward(&s, 30, 6), Some(Range::new(0, 10)));
    assert_eq!(both_backward(&s, 30, 11), None);
    // Top-down placement as findAvailable does it: a mapping of 8 below 90.
    let g = both_backward(&s, 90, 8).expect("a gap");
    let top = g.end.min(90);
    assert_eq!(Range::new(top - 8, top), Range::new(82, 90));
}

#[test]
fn ordered_build_and_teardown_at_several_degrees() {
    for degree in [2, 3, 4, 8, 32] {
        let mut s = set(Range::new(0, 1 << 40), degree);
        let n = 20_000u64;
        for i in 0..n {
            // Non-mergeable: offsets jump.
            s.insert(
                Range::new(i * 0x2000, i * 0x2000 + 0x1000),
                Val {
                    obj: 0,
                    off: i * 0x10_0000,
                },
            )
            .expect("insert");
        }
        s.check_invariants().expect("invariants after build");
        assert_eq!(s.len(), n as usize);
        // Ordered inserts hand overflow to a sibling with room instead of
        // splitting, so nodes end up full and the tree as low as it can be:
        // the least h with (2t)^h - 1 >= n.
        let fanout = 2 * degree as u64;
        let mut min_height = 1;
        while fanout.pow(min_height) - 1 < n {
            min_height += 1;
        }
        assert_eq!(
            s.height(),
            min_height as usize,
            "degree {degree}: tree height"
        );
        // The same in descending order (top-down mmap places each new
        // mapping below the previous one).
        let mut down = set(Range::new(0, 1 << 40), degree);
        for i in (0..n).rev() {
            down.insert(
                Range::new(i * 0x2000, i * 0x2000 + 0x1000),
                Val {
                    obj: 0,
                    off: i * 0x10_0000,
                },
            )
            .expect("insert");
        }
        down.check_invariants()
            .expect("invariants after descending build");
        assert_eq!(
            down.height(),
            min_height as usize,
            "degree {degree}: descending height"
        );
        let last_end = (n - 1) * 0x2000 + 0x1000;
        assert_eq!(
            both_forward(&s, 0, 0x1001),
            Some(Range::new(last_end, 1 << 40))
        );
        assert_eq!(
            both_backward(&s, last_end, 0x1000),
            Some(Range::new((n - 2) * 0x2000 + 0x1000, (n - 1) * 0x2000))
        );
        assert_eq!(both_backward(&s, last_end, 0x1001), None);
        // Remove every other segment from the top: gaps grow to 0x3000.
        for i in (0..n).rev().step_by(2) {
            assert!(s.remove(i * 0x2000).is_some());
        }
        s.check_invariants().expect("invariants after removals");
        assert_eq!(
            both_forward(&s, 0, 0x3000),
            Some(Range::new(0x1000, 0x4000))
        );
        // Then everything, with range removals.
        let removed = s.remove_range(Range::new(0, 1 << 40));
        assert_eq!(removed.len(), (n / 2) as usize);
        assert!(s.is_empty());
        s.check_invariants().expect("invariants when empty again");
        let c = s.clone();
        c.check_invariants().expect("clone invariants");
    }
}

#[test]
fn untracked_set_uses_linear_searches() {
    let mut s: SegmentSet<NoMerge> = SegmentSet::new(Range::new(0, 100), 4).expect("set");
    for i in 0..10 {
        s.insert_with_merge(Range::new(i * 10, i * 10 + 5), ())
            .expect("insert");
    }
    assert_eq!(s.len(), 10, "NoMerge never merges");
    s.insert_with_merge(Range::new(5, 10), ())
        .expect("fills a gap");
    assert_eq!(s.len(), 11);
    s.check_invariants().expect("invariants");
    assert_eq!(
        s.first_large_enough_gap_linear(0, 5),
        Some(Range::new(15, 20))
    );
    assert_eq!(
        s.last_large_enough_gap_linear(100, 5),
        Some(Range::new(95, 100))
    );
    assert_eq!(
        s.last_large_enough_gap_linear(99, 5),
        Some(Range::new(85, 90))
    );
    assert_eq!(s.first_large_enough_gap_linear(0, 6), None);
}

#[test]
fn gap_search_names_parse() {
    assert_eq!("linear".parse::<GapSearch>(), Ok(GapSearch::Linear));
    assert_eq!("maxgap".parse::<GapSearch>(), Ok(GapSearch::MaxGap));
    assert_eq!(GapSearch::MaxGap.to_string(), "maxgap");
    let err = "fast".parse::<GapSearch>().unwrap_err().to_string();
    assert!(err.contains("fast") && err.contains("linear"), "{err}");
}
