//! Property tests of the segment set against a plain `BTreeMap` oracle.
//!
//! Random operation sequences (inserts, inserts with merge, removes, range
//! removes, splits, isolates, updates, merges) run on a `SegmentSet` and on
//! an oracle `BTreeMap<start, (end, value)>`. After EVERY operation:
//! `check_invariants()` passes, the set's segments equal the oracle's, the
//! set's segments and gaps tile the bounds exactly (both directions), and
//! random forward and backward gap searches (linear and max-gap) return the
//! gap a brute-force scan of the oracle finds; the gaps of a random range
//! (`gaps_in`) are the oracle's clipped to it and, with the segments, tile it
//! exactly. The generator is a seeded splitmix64, so every run is the same; a
//! failure prints its seed and step.

use instrumented_sentry::addr::Range;
use instrumented_sentry::segment::{GapSearch, SegmentFunctions, SegmentSet};
use std::collections::BTreeMap;

/// A value like a file-backed VMA: a backing object and a file offset.
/// Adjacent segments merge when the object matches and offsets are
/// contiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Val {
    obj: u8,
    off: u64,
}

fn merge_val(l: Range, lv: &Val, r: Range, rv: &Val) -> Option<Val> {
    assert_eq!(l.end, r.start, "merge called on non-adjacent segments");
    (lv.obj == rv.obj && lv.off + l.len() == rv.off).then_some(*lv)
}

fn split_val(r: Range, v: &Val, at: u64) -> (Val, Val) {
    assert!(r.start < at && at < r.end, "split outside segment");
    (
        *v,
        Val {
            obj: v.obj,
            off: v.off + (at - r.start),
        },
    )
}

/// Tracks max gaps: both searches available.
struct Tracked;
impl SegmentFunctions for Tracked {
    type Value = Val;
    const TRACK_MAX_GAP: bool = true;
    fn merge(l: Range, lv: &Val, r: Range, rv: &Val) -> Option<Val> {
        merge_val(l, lv, r, rv)
    }
    fn split(r: Range, v: &Val, at: u64) -> (Val, Val) {
        split_val(r, v, at)
    }
}

/// No max-gap tracking: only the linear searches exist.
struct Plain;
impl SegmentFunctions for Plain {
    type Value = Val;
    const TRACK_MAX_GAP: bool = false;
    fn merge(l: Range, lv: &Val, r: Range, rv: &Val) -> Option<Val> {
        merge_val(l, lv, r, rv)
    }
    fn split(r: Range, v: &Val, at: u64) -> (Val, Val) {
        split_val(r, v, at)
    }
}

/// Runs every search strategy a set type has.
trait Searches: SegmentFunctions<Value = Val> + Sized {
    fn forward(set: &SegmentSet<Self>, from: u64, min_len: u64) -> Vec<Option<Range>>;
    fn backward(set: &SegmentSet<Self>, before: u64, min_len: u64) -> Vec<Option<Range>>;
}

impl Searches for Tracked {
    fn forward(set: &SegmentSet<Self>, from: u64, min_len: u64) -> Vec<Option<Range>> {
        vec![
            set.first_large_enough_gap(from, min_len, GapSearch::Linear),
            set.first_large_enough_gap(from, min_len, GapSearch::MaxGap),
        ]
    }
    fn backward(set: &SegmentSet<Self>, before: u64, min_len: u64) -> Vec<Option<Range>> {
        vec![
            set.last_large_enough_gap(before, min_len, GapSearch::Linear),
            set.last_large_enough_gap(before, min_len, GapSearch::MaxGap),
        ]
    }
}

impl Searches for Plain {
    fn forward(set: &SegmentSet<Self>, from: u64, min_len: u64) -> Vec<Option<Range>> {
        vec![set.first_large_enough_gap_linear(from, min_len)]
    }
    fn backward(set: &SegmentSet<Self>, before: u64, min_len: u64) -> Vec<Option<Range>> {
        vec![set.last_large_enough_gap_linear(before, min_len)]
    }
}

/// splitmix64: small, fast, deterministic.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The oracle: start -> (end, value).
#[derive(Default)]
struct Oracle {
    map: BTreeMap<u64, (u64, Val)>,
}

impl Oracle {
    fn segs(&self) -> Vec<(Range, Val)> {
        self.map
            .iter()
            .map(|(&s, &(e, v))| (Range::new(s, e), v))
            .collect()
    }

    fn containing(&self, addr: u64) -> Option<(Range, Val)> {
        let (&s, &(e, v)) = self.map.range(..=addr).next_back()?;
        (addr < e).then_some((Range::new(s, e), v))
    }

    fn overlaps(&self, r: Range) -> bool {
        self.map
            .range(..r.end)
            .next_back()
            .is_some_and(|(_, &(e, _))| e > r.start)
    }

    fn prev_adjacent(&self, addr: u64) -> Option<(Range, Val)> {
        let (&s, &(e, v)) = self.map.range(..addr).next_back()?;
        (e == addr).then_some((Range::new(s, e), v))
    }

    fn insert_with_merge(&mut self, r: Range, v: Val) -> Range {
        let mut cur = (r, v);
        if let Some((pr, pv)) = self.prev_adjacent(r.start) {
            if let Some(m) = merge_val(pr, &pv, r, &v) {
                self.map.remove(&pr.start);
                cur = (Range::new(pr.start, r.end), m);
            }
        }
        if let Some(&(ne, nv)) = self.map.get(&r.end) {
            let nr = Range::new(r.end, ne);
            if let Some(m) = merge_val(cur.0, &cur.1, nr, &nv) {
                self.map.remove(&r.end);
                cur = (Range::new(cur.0.start, ne), m);
            }
        }
        self.map.insert(cur.0.start, (cur.0.end, cur.1));
        cur.0
    }

    fn split_at(&mut self, addr: u64) -> bool {
        match self.containing(addr) {
            Some((r, v)) if r.start < addr => {
                let (a, b) = split_val(r, &v, addr);
                self.map.insert(r.start, (addr, a));
                self.map.insert(addr, (r.end, b));
                true
            }
            _ => false,
        }
    }

    fn remove_range(&mut self, r: Range) -> Vec<(Range, Val)> {
        self.split_at(r.start);
        self.split_at(r.end);
        let starts: Vec<u64> = self
            .map
            .range(..r.end)
            .filter(|(_, &(e, _))| e > r.start)
            .map(|(&s, _)| s)
            .collect();
        starts
            .into_iter()
            .map(|s| {
                let (e, v) = self.map.remove(&s).expect("collected start exists");
                (Range::new(s, e), v)
            })
            .collect()
    }

    fn merge_range(&mut self, r: Range) -> usize {
        let mut merges = 0;
        let mut cur = self
            .map
            .iter()
            .find(|(_, &(e, _))| e >= r.start)
            .map(|(&s, _)| s);
        while let Some(s) = cur {
            let (e, v) = self.map[&s];
            if e > r.end {
                break;
            }
            let Some((&ns, &(ne, nv))) = self.map.range(s + 1..).next() else {
                break;
            };
            if ns == e {
                if let Some(m) = merge_val(Range::new(s, e), &v, Range::new(ns, ne), &nv) {
                    self.map.remove(&ns);
                    self.map.insert(s, (ne, m));
                    merges += 1;
                    continue;
                }
            }
            cur = Some(ns);
        }
        merges
    }

    /// All gaps (non-empty) of the oracle within `bounds`.
    fn gaps(&self, bounds: Range) -> Vec<Range> {
        let mut out = Vec::new();
        let mut at = bounds.start;
        for (&s, &(e, _)) in &self.map {
            if s > at {
                out.push(Range::new(at, s));
            }
            at = e;
        }
        if bounds.end > at {
            out.push(Range::new(at, bounds.end));
        }
        out
    }
}

fn brute_forward(gaps: &[Range], from: u64, min_len: u64) -> Option<Range> {
    let min_len = min_len.max(1);
    gaps.iter()
        .copied()
        .find(|g| g.end > from && g.end - g.start.max(from) >= min_len)
}

fn brute_backward(gaps: &[Range], before: u64, min_len: u64) -> Option<Range> {
    let min_len = min_len.max(1);
    gaps.iter()
        .rev()
        .copied()
        .find(|g| g.start < before && g.end.min(before) - g.start >= min_len)
}

/// One random sequence's shape.
struct Shape {
    degree: usize,
    /// Number of address units in the bounds.
    space: u64,
    /// Segment count the generator steers towards.
    target: usize,
    ops: usize,
}

/// Verifies everything that must hold after each step.
fn verify<F: Searches>(set: &SegmentSet<F>, oracle: &Oracle, rng: &mut Rng, ctx: &str) {
    if let Err(e) = set.check_invariants() {
        panic!("{ctx}: invariant broken: {e}");
    }
    let bounds = set.bounds();
    let segs = oracle.segs();
    assert_eq!(set.len(), segs.len(), "{ctx}: len");
    // Segments equal the oracle's, forwards and backwards.
    let got: Vec<(Range, Val)> = set.iter().map(|(r, v)| (r, *v)).collect();
    assert_eq!(got, segs, "{ctx}: segments differ from oracle");
    let rev: Vec<(Range, Val)> = set.iter_rev().map(|(r, v)| (r, *v)).collect();
    assert!(rev.iter().rev().eq(segs.iter()), "{ctx}: reverse iteration");
    // Gaps + segments tile the bounds exactly.
    let gaps: Vec<Range> = set.gaps().collect();
    let mut pieces: Vec<Range> = gaps
        .iter()
        .copied()
        .chain(segs.iter().map(|s| s.0))
        .collect();
    pieces.sort();
    let mut at = bounds.start;
    for p in &pieces {
        assert!(!p.is_empty(), "{ctx}: empty piece {p}");
        assert_eq!(p.start, at, "{ctx}: tiling hole or overlap at {at:#x}");
        at = p.end;
    }
    assert_eq!(at, bounds.end, "{ctx}: tiling stops short of bounds end");
    let oracle_gaps = oracle.gaps(bounds);
    assert_eq!(gaps, oracle_gaps, "{ctx}: gaps differ from oracle");
    let gaps_rev: Vec<Range> = set.gaps_rev().collect();
    assert!(gaps_rev.iter().rev().eq(gaps.iter()), "{ctx}: reverse gaps");
    let seg_total: u64 = segs.iter().map(|s| s.0.len()).sum();
    assert_eq!(set.total_segment_len(), seg_total, "{ctx}: segment total");
    assert_eq!(
        set.total_gap_len(),
        bounds.len() - seg_total,
        "{ctx}: gap total"
    );

    // Searches, both directions, every strategy, random parameters.
    let max_gap = oracle_gaps.iter().map(|g| g.len()).max().unwrap_or(0);
    for _ in 0..2 {
        let from = rng.range(bounds.start.saturating_sub(2), bounds.end + 2);
        let min_len = match rng.next() % 4 {
            0 => rng.range(0, 3),
            1 => rng.range(1, 12),
            2 => max_gap + rng.range(0, 2),
            _ => rng.range(1, max_gap + 2),
        };
        let want = brute_forward(&oracle_gaps, from, min_len);
        for (i, got) in F::forward(set, from, min_len).into_iter().enumerate() {
            assert_eq!(
                got, want,
                "{ctx}: forward search #{i} from {from:#x} min {min_len}"
            );
        }
        let want = brute_backward(&oracle_gaps, from, min_len);
        for (i, got) in F::backward(set, from, min_len).into_iter().enumerate() {
            assert_eq!(
                got, want,
                "{ctx}: backward search #{i} before {from:#x} min {min_len}"
            );
        }
    }
    // Point queries.
    let addr = rng.range(bounds.start.saturating_sub(1), bounds.end + 1);
    let want = oracle.containing(addr).filter(|_| bounds.contains(addr));
    assert_eq!(
        set.lookup(addr).map(|(r, v)| (r, *v)),
        want,
        "{ctx}: lookup {addr:#x}"
    );
    let want_gap = oracle_gaps.iter().copied().find(|g| g.contains(addr));
    assert_eq!(set.find_gap(addr), want_gap, "{ctx}: find_gap {addr:#x}");
    let want_from: Vec<Range> = oracle_gaps
        .iter()
        .copied()
        .filter(|g| g.end > addr)
        .collect();
    assert!(
        set.gaps_from(addr).eq(want_from),
        "{ctx}: gaps_from {addr:#x}"
    );
    let want_before: Vec<Range> = oracle_gaps
        .iter()
        .rev()
        .copied()
        .filter(|g| g.start < addr)
        .collect();
    assert!(
        set.gaps_rev_before(addr).eq(want_before),
        "{ctx}: gaps_rev_before {addr:#x}"
    );
    let want_iter: Vec<Range> = segs.iter().map(|s| s.0).filter(|r| r.end > addr).collect();
    assert!(
        set.iter_from(addr).map(|s| s.0).eq(want_iter),
        "{ctx}: iter_from {addr:#x}"
    );
    let want_rev: Vec<Range> = segs
        .iter()
        .rev()
        .map(|s| s.0)
        .filter(|r| r.start < addr)
        .collect();
    assert!(
        set.iter_rev_before(addr).map(|s| s.0).eq(want_rev),
        "{ctx}: iter_rev_before {addr:#x}"
    );
    let q = Range::new(addr, addr + rng.range(0, 20));
    let want_int: Vec<Range> = segs
        .iter()
        .map(|s| s.0)
        .filter(|r| r.overlaps(&q))
        .collect();
    assert!(
        set.intersecting(q).map(|s| s.0).eq(want_int),
        "{ctx}: intersecting {q}"
    );
    verify_gaps_in(set, &oracle_gaps, rng, ctx);
}

/// `gaps_in` over a random range (sometimes straddling the bounds, sometimes
/// empty): the oracle's gaps clipped to it; with the intersecting segments
/// (clipped) they tile `range ∩ bounds` exactly; and the walk steps over no
/// more segments than intersect the range.
fn verify_gaps_in<F: SegmentFunctions>(
    set: &SegmentSet<F>,
    oracle_gaps: &[Range],
    rng: &mut Rng,
    ctx: &str,
) {
    let bounds = set.bounds();
    let start = rng.range(bounds.start.saturating_sub(2), bounds.end + 2);
    let q = Range::new(start, start + rng.range(0, bounds.len() / 2 + 2));
    let clip = q.intersect(&bounds);
    let want: Vec<Range> = oracle_gaps
        .iter()
        .map(|g| g.intersect(&clip))
        .filter(|g| !g.is_empty())
        .collect();
    let mut it = set.gaps_in(q);
    let got: Vec<Range> = it.by_ref().collect();
    assert_eq!(got, want, "{ctx}: gaps_in {q}");
    let segs: Vec<Range> = set
        .intersecting(clip)
        .map(|s| s.0.intersect(&clip))
        .collect();
    let mut pieces: Vec<Range> = got.iter().copied().chain(segs.iter().copied()).collect();
    pieces.sort();
    let mut at = clip.start;
    for p in &pieces {
        assert!(!p.is_empty(), "{ctx}: gaps_in {q}: empty piece {p}");
        assert_eq!(
            p.start, at,
            "{ctx}: gaps_in {q}: tiling hole or overlap at {at:#x}"
        );
        at = p.end;
    }
    assert_eq!(
        at,
        clip.end.max(clip.start),
        "{ctx}: gaps_in {q}: tiling stops short"
    );
    assert!(
        it.steps() <= segs.len() as u64,
        "{ctx}: gaps_in {q}: {} steps over {} intersecting segments",
        it.steps(),
        segs.len()
    );
}

/// A random segment of 1..=max_len units inside `bounds` (may overlap).
fn random_range(rng: &mut Rng, bounds: Range, max_len: u64) -> Range {
    let len = rng.range(1, max_len + 1).min(bounds.len());
    let start = rng.range(bounds.start, bounds.end - len + 1);
    Range::new(start, start + len)
}

/// A random free range inside some gap, if the random probe hits one.
fn random_free_range(rng: &mut Rng, oracle: &Oracle, bounds: Range, max_len: u64) -> Option<Range> {
    let addr = rng.range(bounds.start, bounds.end);
    if oracle.containing(addr).is_some() {
        return None;
    }
    let gap_end = oracle
        .map
        .range(addr..)
        .next()
        .map_or(bounds.end, |(&s, _)| s);
    let len = rng.range(1, max_len + 1).min(gap_end - addr);
    Some(Range::new(addr, addr + len))
}

/// A free range starting right after the segment at or before a random
/// address, with a value that continues that segment's offsets (so the
/// left merge is possible) most of the time; sometimes it fills the whole
/// gap (so the right neighbour is adjacent too).
fn adjacent_free_range(
    rng: &mut Rng,
    oracle: &Oracle,
    bounds: Range,
    max_len: u64,
) -> Option<(Range, Val)> {
    let addr = rng.range(bounds.start, bounds.end);
    let (&s, &(e, v)) = oracle.map.range(..=addr).next_back()?;
    let gap_end = oracle
        .map
        .range(e..)
        .next()
        .map_or(bounds.end, |(&ns, _)| ns);
    if gap_end <= e {
        return None;
    }
    let len = if rng.chance(40) {
        gap_end - e
    } else {
        rng.range(1, max_len + 1).min(gap_end - e)
    };
    let r = Range::new(e, e + len);
    let val = if rng.chance(75) {
        Val {
            obj: v.obj,
            off: v.off + (e - s),
        }
    } else {
        random_val(rng, r)
    };
    Some((r, val))
}

/// An address strictly inside some segment near a random address.
fn interior_addr(rng: &mut Rng, oracle: &Oracle, bounds: Range) -> Option<u64> {
    let addr = rng.range(bounds.start, bounds.end);
    let (&s, &(e, _)) = oracle.map.range(..=addr).next_back()?;
    (e - s >= 2).then(|| rng.range(s + 1, e))
}

fn random_val(rng: &mut Rng, r: Range) -> Val {
    let obj = (rng.next() % 3) as u8;
    // Mostly "contiguous offsets" (mergeable with same-object neighbours),
    // sometimes a random offset (never merges).
    let off = if rng.chance(70) {
        r.start + 7
    } else {
        rng.next() >> 8
    };
    Val { obj, off }
}

/// What a sequence exercised, so a reader can see the tests are not vacuous.
#[derive(Default, Debug)]
struct Coverage {
    ops: usize,
    peak_len: usize,
    merged_inserts: usize,
    merge_range_merges: usize,
    splits: usize,
    refused_overlaps: usize,
    removed_pieces: usize,
}

/// Runs one sequence, adding what it did to `cov`.
fn run_sequence<F: Searches>(seed: u64, shape: &Shape, cov: &mut Coverage) {
    let mut rng = Rng(seed);
    let base = rng.range(0, 1 << 20) * 16;
    let bounds = Range::new(base, base + shape.space);
    let mut set = SegmentSet::<F>::new(bounds, shape.degree).expect("valid bounds and degree");
    let mut oracle = Oracle::default();
    let max_len = (shape.space / (shape.target as u64 * 2)).clamp(1, 64);
    for step in 0..shape.ops {
        let ctx = format!("seed {seed:#x} degree {} step {step}", shape.degree);
        let grow = set.len() < shape.target;
        let pick = rng.next() % 100;
        match pick {
            // insert (no merge), sometimes deliberately overlapping
            0..=24 => {
                let r = if rng.chance(80) {
                    random_free_range(&mut rng, &oracle, bounds, max_len)
                } else {
                    Some(random_range(&mut rng, bounds, max_len))
                };
                if let Some(r) = r.filter(|_| grow || rng.chance(30)) {
                    let v = random_val(&mut rng, r);
                    let res = set.insert(r, v);
                    if oracle.overlaps(r) {
                        assert!(res.is_err(), "{ctx}: overlapping insert {r} accepted");
                        cov.refused_overlaps += 1;
                    } else {
                        assert!(res.is_ok(), "{ctx}: insert {r} refused: {res:?}");
                        oracle.map.insert(r.start, (r.end, v));
                    }
                }
            }
            // insert with merge
            25..=49 => {
                let candidate = if rng.chance(60) {
                    adjacent_free_range(&mut rng, &oracle, bounds, max_len)
                } else {
                    random_free_range(&mut rng, &oracle, bounds, max_len)
                        .map(|r| (r, random_val(&mut rng, r)))
                };
                if let Some((r, v)) = candidate.filter(|_| grow || rng.chance(30)) {
                    let got = set.insert_with_merge(r, v);
                    let want = oracle.insert_with_merge(r, v);
                    assert_eq!(got, Ok(want), "{ctx}: insert_with_merge {r}");
                    cov.merged_inserts += usize::from(want != r);
                } else if rng.chance(20) {
                    let r = random_range(&mut rng, bounds, max_len);
                    if oracle.overlaps(r) {
                        assert!(
                            set.insert_with_merge(r, random_val(&mut rng, r)).is_err(),
                            "{ctx}: overlap accepted"
                        );
                    }
                }
            }
            // remove one segment
            50..=61 => {
                if !grow || rng.chance(25) {
                    let addr = rng.range(bounds.start, bounds.end);
                    let want = oracle.containing(addr);
                    if let Some((r, _)) = want {
                        oracle.map.remove(&r.start);
                    }
                    assert_eq!(set.remove(addr), want, "{ctx}: remove {addr:#x}");
                }
            }
            // remove a range
            62..=69 => {
                if !grow || rng.chance(20) {
                    let r = random_range(&mut rng, bounds, max_len * 4);
                    let got = set.remove_range(r);
                    let want = oracle.remove_range(r);
                    assert_eq!(got, want, "{ctx}: remove_range {r}");
                    cov.removed_pieces += want.len();
                }
            }
            // split
            70..=79 => {
                let addr = match interior_addr(&mut rng, &oracle, bounds) {
                    Some(a) if rng.chance(70) => a,
                    _ => rng.range(bounds.start, bounds.end),
                };
                let did = oracle.split_at(addr);
                assert_eq!(set.split_at(addr), did, "{ctx}: split_at {addr:#x}");
                cov.splits += usize::from(did);
            }
            // isolate
            80..=85 => {
                let r = random_range(&mut rng, bounds, max_len * 3);
                set.isolate(r);
                oracle.split_at(r.start);
                oracle.split_at(r.end);
            }
            // update a range (mprotect-like): change object, then merge
            86..=91 => {
                let r = random_range(&mut rng, bounds, max_len * 3);
                let obj = (rng.next() % 3) as u8;
                let n = set.update_range(r, |_, v| v.obj = obj);
                oracle.split_at(r.start);
                oracle.split_at(r.end);
                let keys: Vec<u64> = oracle.map.range(r.start..r.end).map(|(&s, _)| s).collect();
                assert_eq!(n, keys.len(), "{ctx}: update_range count {r}");
                for s in keys {
                    if let Some(e) = oracle.map.get_mut(&s) {
                        e.1.obj = obj;
                    }
                }
                oracle.merge_range(r);
            }
            // merge a range
            92..=96 => {
                let r = random_range(&mut rng, bounds, max_len * 3);
                let want = oracle.merge_range(r);
                assert_eq!(set.merge_range(r), want, "{ctx}: merge_range {r}");
                cov.merge_range_merges += want;
            }
            // mutate one value in place (breaks merge-ability, not invariants)
            97..=98 => {
                let addr = rng.range(bounds.start, bounds.end);
                let bump = rng.next() % 5;
                if let Some((r, v)) = set.lookup_mut(addr) {
                    v.off += bump;
                    oracle.map.get_mut(&r.start).expect("oracle has it").1.off += bump;
                }
            }
            // clear, rarely
            _ => {
                if rng.chance(3) {
                    set.clear();
                    oracle.map.clear();
                }
            }
        }
        verify(&set, &oracle, &mut rng, &ctx);
        cov.peak_len = cov.peak_len.max(set.len());
    }
    cov.ops += shape.ops;
}

/// Runs every shape's sequences; returns the coverage and checks that
/// each kind of operation really happened.
fn run_suite<F: Searches>(seed0: u64, shapes: &[(Shape, usize)]) -> Coverage {
    let mut cov = Coverage::default();
    for (si, (shape, sequences)) in shapes.iter().enumerate() {
        for k in 0..*sequences {
            let seed = seed0 ^ ((si as u64) << 32) ^ (k as u64).wrapping_mul(0x9e37_79b9);
            run_sequence::<F>(seed, shape, &mut cov);
        }
    }
    eprintln!("{cov:?}");
    assert!(
        cov.merged_inserts > 1000 && cov.merge_range_merges > 100,
        "merges exercised"
    );
    assert!(cov.splits > 1000 && cov.refused_overlaps > 1000 && cov.removed_pieces > 1000);
    cov
}

const fn shape(degree: usize, space: u64, target: usize, ops: usize) -> Shape {
    Shape {
        degree,
        space,
        target,
        ops,
    }
}

#[test]
fn random_ops_small_degrees_match_oracle() {
    // Degrees 2, 3 and 4: many node splits, rotations and merges.
    let shapes = [
        (shape(2, 200, 40, 2_000), 40),
        (shape(3, 400, 80, 2_000), 40),
        (shape(4, 1_000, 150, 2_000), 30),
        (shape(3, 20_000, 1_500, 5_000), 4),
        (shape(2, 64, 20, 1_000), 120),
    ];
    let cov = run_suite::<Tracked>(0x5eed_0001, &shapes);
    assert!(cov.ops >= 350_000 && cov.peak_len >= 1_000);
}

#[test]
fn random_ops_vma_degrees_match_oracle() {
    // Degrees 8 and 16 (the VMA set uses 8), larger sets.
    let shapes = [
        (shape(8, 2_000, 300, 4_000), 40),
        (shape(16, 4_000, 600, 4_000), 20),
        (shape(8, 50_000, 3_000, 8_000), 3),
        (shape(5, 1_000, 100, 3_000), 30),
    ];
    let cov = run_suite::<Tracked>(0x5eed_0002, &shapes);
    assert!(cov.ops >= 350_000 && cov.peak_len >= 2_000);
}

#[test]
fn random_ops_untracked_set_match_oracle() {
    // A set without max-gap tracking (like the PMA set): linear searches.
    let shapes = [
        (shape(3, 300, 60, 2_000), 75),
        (shape(8, 3_000, 400, 4_000), 25),
        (shape(2, 100, 25, 2_000), 50),
    ];
    let cov = run_suite::<Plain>(0x5eed_0003, &shapes);
    assert!(cov.ops >= 350_000);
}
