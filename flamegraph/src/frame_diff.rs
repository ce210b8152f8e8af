//! The gated frame diff of `sentryprof compare A B`: for every frame of the
//! matched points (a frame = a path from the point's root), the change in
//! its share of the point's samples from A to B, with a confidence interval
//! from a bootstrap over the points' **per-trial** folded stacks; a frame is
//! called grown or shrunk only when its interval lies wholly beyond
//! ±[`MIN_CHANGE_PP`] (a change of at least that size, with confidence).
//!
//! Method (deterministic: a fixed seed per point):
//! * share of a frame on one side = weight under the frame summed over the
//!   side's trials ÷ the trials' total weight (pooled);
//! * [`RESAMPLES`] times, the trials of A and of B are resampled with
//!   replacement, independently, and every tested frame's difference in
//!   share (B − A, percentage points of the point's samples) recomputed;
//! * intervals are **simultaneous** over every tested frame of every point
//!   (bootstrap max-t): `c` is the 95th percentile over resamples of
//!   `max over frames |d* − d| / se`, `se` the frame's bootstrap standard
//!   error; so all intervals hold together with 95% confidence, and two
//!   runs of one build colour a frame with about 5% probability in all,
//!   however many frames there are;
//! * `se` comes from a dozen trials, not from a known variance: each
//!   frame's interval is `d ± t·se`, `t` the Student quantile at the tail
//!   probability of `c` with the frame's Welch–Satterthwaite degrees of
//!   freedom ([`t_from_z`]), as a t test would widen a z test;
//! * the intervals cover trial-to-trial variation within one run, not
//!   run-to-run variation (two processes of one build differ in layout and
//!   cache placement; seen: a leaf's share 22.7% in one run, 17.1% in the
//!   next, interval [-11.0, -0.2] pp), so a frame is coloured only when its
//!   whole interval is beyond ±[`MIN_CHANGE_PP`], not merely beyond zero;
//! * frames with a share below [`MIN_SHARE`] on both sides, and points
//!   with fewer than [`MIN_TRIALS`] trials with samples on
//!   a side, are not tested (grey, said in their tooltip).
//!
//! A frame that grew significantly by more than the threshold (in
//! percentage points) is a regression: `compare` exits 1.

use std::collections::BTreeMap;

use bundle::folded::FoldedStacks;
use bundle::stats::SplitMix64;
use serde::Serialize;

use crate::bootstrap::{MIN_TRIALS, RESAMPLES, SEED};
use crate::startup::trim_startup;

/// Smallest share (of a point's samples, on either side) a frame needs to be tested.
pub const MIN_SHARE: f64 = 0.005;
/// Smallest change (percentage points) a frame's whole interval must be
/// beyond to be called grown or shrunk.
pub const MIN_CHANGE_PP: f64 = 1.0;
/// Confidence of the simultaneous intervals.
pub const LEVEL: f64 = 0.95;
/// One-line description of the method, for the output.
pub const FRAME_METHOD: &str = "frames: change in share of the point's samples (B - A, percentage points), 95% simultaneous CI (bootstrap max-t over per-trial stacks, Student-t widened, 2000 resamples, fixed seed); coloured when the whole CI is beyond +/-1 pp; frames under 0.5% on both sides not tested";

/// What the diff says of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameVerdict {
    /// Its share grew: the interval is above +[`MIN_CHANGE_PP`].
    Grew,
    /// Its share shrank: the interval is below −[`MIN_CHANGE_PP`].
    Shrank,
    NoSignificantChange,
    /// Too small on both sides, or too few trials.
    NotTested,
}

impl FrameVerdict {
    pub fn text(self) -> &'static str {
        match self {
            FrameVerdict::Grew => "grew",
            FrameVerdict::Shrank => "shrank",
            FrameVerdict::NoSignificantChange => "no significant change",
            FrameVerdict::NotTested => "not tested",
        }
    }
}

/// One frame of a matched point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameChange {
    /// The point's key (its label).
    pub point: String,
    /// Frames from the point's root to this one, joined by ';'.
    pub stack: String,
    /// Share of the point's samples under this frame in A and in B (0..1).
    pub share_a: f64,
    pub share_b: f64,
    /// `share_b - share_a` in percentage points.
    pub change_pp: f64,
    pub ci_low_pp: Option<f64>,
    pub ci_high_pp: Option<f64>,
    pub verdict: FrameVerdict,
    /// Grew by more than the threshold (percentage points).
    pub regression: bool,
    /// Index of the parent frame in [`FrameDiff::frames`] (None: a root).
    #[serde(skip)]
    pub parent: Option<usize>,
}

impl FrameChange {
    /// The frame's own name (the last of its stack).
    pub fn name(&self) -> &str {
        self.stack.rsplit(';').next().unwrap_or(&self.stack)
    }

    /// Frames above the point's root (0 for a root).
    pub fn depth(&self) -> usize {
        self.stack.matches(';').count()
    }
}

/// The per-trial stacks of one matched point.
#[derive(Debug, Clone)]
pub struct PointTrials {
    pub key: String,
    pub a: Vec<FoldedStacks>,
    pub b: Vec<FoldedStacks>,
}

/// The frame diff of all matched points.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameDiff {
    pub threshold_pp: f64,
    /// Every frame of every point, parents before children; a point's
    /// root frame (its key) first.
    pub frames: Vec<FrameChange>,
    /// Frames tested, over all points.
    pub tested: usize,
    /// The max-t critical value of the simultaneous intervals (normal
    /// scale, before each frame's Student-t widening).
    pub critical: f64,
    /// Points not tested and why, one line each.
    pub notes: Vec<String>,
}

/// What `compare` reports of the frame diff (its JSON): the tested frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameSummary {
    pub method: String,
    pub threshold_pp: f64,
    pub tested: usize,
    pub critical: f64,
    pub frames: Vec<FrameChange>,
    pub notes: Vec<String>,
    /// The SVG written, when one was.
    pub svg: Option<String>,
}

impl FrameSummary {
    /// Frames that grew beyond the threshold.
    pub fn regressions(&self) -> usize {
        self.frames.iter().filter(|f| f.regression).count()
    }
}

impl FrameDiff {
    /// The tested frames, for `compare`'s output.
    pub fn summary(&self, svg: Option<String>) -> FrameSummary {
        FrameSummary {
            method: FRAME_METHOD.to_string(),
            threshold_pp: self.threshold_pp,
            tested: self.tested,
            critical: self.critical,
            frames: self
                .frames
                .iter()
                .filter(|f| f.verdict != FrameVerdict::NotTested)
                .cloned()
                .collect(),
            notes: self.notes.clone(),
            svg,
        }
    }
}

/// Frames of one point as a tree: weights per trial, per frame.
struct PointTree {
    /// (stack, parent) of each frame, parents first.
    frames: Vec<(String, Option<usize>)>,
    /// weights[trial][frame], A's trials then B's.
    weights: Vec<Vec<f64>>,
    totals: Vec<f64>,
    n_a: usize,
}

fn build_tree(p: &PointTrials, keep_startup: bool) -> PointTree {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut frames: Vec<(String, Option<usize>)> = vec![(p.key.clone(), None)];
    let mut per_trial: Vec<Vec<(usize, f64)>> = Vec::new();
    let mut totals = Vec::new();
    for trial in p.a.iter().chain(p.b.iter()) {
        let mut adds = Vec::new();
        let mut total = 0.0;
        for (stack, w) in trial.iter() {
            let stack = if keep_startup {
                std::borrow::Cow::Borrowed(stack)
            } else {
                trim_startup(stack)
            };
            let w = w as f64;
            total += w;
            adds.push((0, w));
            let mut path = p.key.clone();
            let mut parent = 0;
            for f in stack.split(';') {
                path.push(';');
                path.push_str(f);
                let id = match index.get(&path) {
                    Some(&id) => id,
                    None => {
                        frames.push((path.clone(), Some(parent)));
                        index.insert(path.clone(), frames.len() - 1);
                        frames.len() - 1
                    }
                };
                adds.push((id, w));
                parent = id;
            }
        }
        per_trial.push(adds);
        totals.push(total);
    }
    let weights = per_trial
        .into_iter()
        .map(|adds| {
            let mut v = vec![0.0; frames.len()];
            for (id, w) in adds {
                v[id] += w;
            }
            v
        })
        .collect();
    PointTree {
        frames,
        weights,
        totals,
        n_a: p.a.len(),
    }
}

/// Pooled share of `frame` over the trials `idx` of the tree.
fn pooled(t: &PointTree, idx: &[usize], frame: usize) -> f64 {
    let total: f64 = idx.iter().map(|&i| t.totals[i]).sum();
    if total > 0.0 {
        idx.iter().map(|&i| t.weights[i][frame]).sum::<f64>() / total
    } else {
        0.0
    }
}

/// One point's frames with their estimates, the tested ones' bootstrap
/// differences (pp) and standard errors.
struct PointBoot {
    changes: Vec<FrameChange>,
    /// (index into changes, bootstrap differences, se, degrees of
    /// freedom) of tested frames.
    tested: Vec<(usize, Vec<f64>, f64, f64)>,
}

/// Variance of the pooled share of `frame` over the trials `idx` (the
/// ratio estimator's linearised variance).
fn share_var(t: &PointTree, idx: &[usize], frame: usize) -> f64 {
    let share = pooled(t, idx, frame);
    let total: f64 = idx.iter().map(|&i| t.totals[i]).sum();
    let n = idx.len() as f64;
    if total <= 0.0 || n < 2.0 {
        return 0.0;
    }
    let ss: f64 = idx
        .iter()
        .map(|&i| (t.weights[i][frame] - share * t.totals[i]).powi(2))
        .sum();
    n / (n - 1.0) * ss / (total * total)
}

/// Welch–Satterthwaite degrees of freedom of the difference in share of
/// `frame` (at least 2).
fn welch_df(t: &PointTree, a: &[usize], b: &[usize], frame: usize) -> f64 {
    let (va, vb) = (share_var(t, a, frame), share_var(t, b, frame));
    let (na, nb) = (a.len() as f64 - 1.0, b.len() as f64 - 1.0);
    let den = va * va / na.max(1.0) + vb * vb / nb.max(1.0);
    if den > 0.0 {
        ((va + vb).powi(2) / den).max(2.0)
    } else {
        (na + nb).max(2.0)
    }
}

/// The Student t quantile with `df` degrees of freedom at the tail
/// probability of the normal quantile `z` (Cornish–Fisher expansion, good
/// to about 1% from 10 degrees of freedom on): the bootstrap's standard
/// error comes from a few trials, so its normal critical value is widened
/// as a t statistic's would be.
pub fn t_from_z(z: f64, df: f64) -> f64 {
    let (z2, v) = (z * z, df);
    let g1 = (z2 + 1.0) * z / 4.0;
    let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
    let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
    z + g1 / v + g2 / (v * v) + g3 / (v * v * v)
}

fn seed_of(key: &str) -> u64 {
    key.bytes().fold(SEED ^ 0xf4a3_e5d1, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn boot_point(p: &PointTrials, keep_startup: bool, notes: &mut Vec<String>) -> PointBoot {
    let t = build_tree(p, keep_startup);
    let all_a: Vec<usize> = (0..t.n_a).collect();
    let all_b: Vec<usize> = (t.n_a..t.totals.len()).collect();
    let sampled = |idx: &[usize]| idx.iter().filter(|&&i| t.totals[i] > 0.0).count();
    let enough = sampled(&all_a) >= MIN_TRIALS && sampled(&all_b) >= MIN_TRIALS;
    if !enough {
        notes.push(format!(
            "{}: frames not tested: {} and {} trials with samples in A and B (at least {MIN_TRIALS} each needed)",
            p.key,
            sampled(&all_a),
            sampled(&all_b)
        ));
    }
    let mut changes = Vec::with_capacity(t.frames.len());
    let mut to_test = Vec::new();
    for (i, (stack, parent)) in t.frames.iter().enumerate() {
        let (sa, sb) = (pooled(&t, &all_a, i), pooled(&t, &all_b, i));
        if enough && parent.is_some() && sa.max(sb) >= MIN_SHARE {
            to_test.push(i);
        }
        changes.push(FrameChange {
            point: p.key.clone(),
            stack: stack.clone(),
            share_a: sa,
            share_b: sb,
            change_pp: (sb - sa) * 100.0,
            ci_low_pp: None,
            ci_high_pp: None,
            verdict: FrameVerdict::NotTested,
            regression: false,
            parent: *parent,
        });
    }
    let mut diffs: Vec<Vec<f64>> = vec![Vec::with_capacity(RESAMPLES); to_test.len()];
    if !to_test.is_empty() {
        let mut rng = SplitMix64::new(seed_of(&p.key));
        let mut ra = vec![0usize; all_a.len()];
        let mut rb = vec![0usize; all_b.len()];
        for _ in 0..RESAMPLES {
            ra.iter_mut()
                .for_each(|v| *v = all_a[rng.below(all_a.len())]);
            rb.iter_mut()
                .for_each(|v| *v = all_b[rng.below(all_b.len())]);
            for (k, &f) in to_test.iter().enumerate() {
                diffs[k].push((pooled(&t, &rb, f) - pooled(&t, &ra, f)) * 100.0);
            }
        }
    }
    let tested = to_test
        .into_iter()
        .zip(diffs)
        .map(|(f, d)| {
            let mean = d.iter().sum::<f64>() / d.len() as f64;
            let var = d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d.len() as f64;
            (f, d, var.sqrt(), welch_df(&t, &all_a, &all_b, f))
        })
        .collect();
    PointBoot { changes, tested }
}

/// The gated frame diff of `points`: frames of each point from its
/// per-trial stacks (start-up frames trimmed unless `keep_startup`), a
/// frame that grew significantly by more than `threshold_pp` percentage
/// points being a regression.
pub fn frame_diff(points: &[PointTrials], threshold_pp: f64, keep_startup: bool) -> FrameDiff {
    let mut notes = Vec::new();
    let boots: Vec<PointBoot> = points
        .iter()
        .map(|p| boot_point(p, keep_startup, &mut notes))
        .collect();
    // max-t over every tested frame of every point, per resample.
    let mut max_t = vec![0.0f64; RESAMPLES];
    for b in &boots {
        for (f, d, se, _) in &b.tested {
            if *se > 0.0 {
                let est = b.changes[*f].change_pp;
                for (m, x) in max_t.iter_mut().zip(d) {
                    *m = m.max((x - est).abs() / se);
                }
            }
        }
    }
    max_t.sort_by(|x, y| x.total_cmp(y));
    let critical = max_t[((RESAMPLES - 1) as f64 * LEVEL).round() as usize];
    let mut frames = Vec::new();
    let mut tested = 0;
    for b in boots {
        let offset = frames.len();
        let mut changes = b.changes;
        for (f, _, se, df) in &b.tested {
            let c = &mut changes[*f];
            let half = t_from_z(critical, *df) * se;
            let (lo, hi) = (c.change_pp - half, c.change_pp + half);
            c.ci_low_pp = Some(lo);
            c.ci_high_pp = Some(hi);
            c.verdict = if lo > MIN_CHANGE_PP {
                FrameVerdict::Grew
            } else if hi < -MIN_CHANGE_PP {
                FrameVerdict::Shrank
            } else {
                FrameVerdict::NoSignificantChange
            };
            c.regression = c.verdict == FrameVerdict::Grew && c.change_pp > threshold_pp;
            tested += 1;
        }
        for mut c in changes {
            c.parent = c.parent.map(|p| p + offset);
            frames.push(c);
        }
    }
    FrameDiff {
        threshold_pp,
        frames,
        tested,
        critical,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::synthetic::trials::{point_trials, TrialModel};

    fn trials(model: &TrialModel, n: usize, seed: u64) -> Vec<FoldedStacks> {
        (0..n).map(|k| point_trials(model, seed, k)).collect()
    }

    #[test]
    fn same_model_colours_nothing_and_a_shift_is_found() {
        let base = TrialModel::exp1(0.10);
        for seed in 1..=5u64 {
            let p = PointTrials {
                key: "p".into(),
                a: trials(&base, 12, seed),
                b: trials(&base, 12, seed + 100),
            };
            let d = frame_diff(&[p], 5.0, false);
            let coloured: Vec<&FrameChange> = d
                .frames
                .iter()
                .filter(|f| matches!(f.verdict, FrameVerdict::Grew | FrameVerdict::Shrank))
                .collect();
            println!(
                "same model, seeds {seed}/{}: {} frames, {} tested, c = {:.2}, coloured {}",
                seed + 100,
                d.frames.len(),
                d.tested,
                d.critical,
                coloured.len()
            );
            assert!(d.tested > 3);
            assert!(coloured.is_empty(), "{coloured:#?}");
        }
        let p = PointTrials {
            key: "p".into(),
            a: trials(&base, 12, 7),
            b: trials(&TrialModel::exp1(0.60), 12, 8),
        };
        let d = frame_diff(&[p], 5.0, false);
        let walk = d
            .frames
            .iter()
            .find(|f| f.name() == "find_available")
            .unwrap();
        println!("walk 10% -> 60%: {walk:?}");
        assert_eq!(walk.verdict, FrameVerdict::Grew);
        assert!(walk.regression);
        assert!(walk.ci_low_pp.unwrap() > 30.0);
        // Deterministic.
        let again = frame_diff(
            &[PointTrials {
                key: "p".into(),
                a: trials(&base, 12, 7),
                b: trials(&TrialModel::exp1(0.60), 12, 8),
            }],
            5.0,
            false,
        );
        assert_eq!(d, again);
    }

    #[test]
    fn t_quantiles_from_z() {
        // Student t two-sided 99% and 99.9% quantiles (tables).
        for (z, df, t) in [
            (2.5758, 20.0, 2.845),
            (3.2905, 20.0, 3.850),
            (3.2905, 11.0, 4.437),
            (2.5758, 1e9, 2.5758),
        ] {
            let got = t_from_z(z, df);
            println!("z {z} df {df}: t {got:.3} (table {t})");
            assert!((got - t).abs() / t < 0.02, "{got} vs {t}");
        }
    }

    #[test]
    fn familywise_false_colours_over_many_same_model_pairs() {
        // 40 pairs of "runs" of 8 points each, every point from one model:
        // the share of pairs with any frame coloured estimates the
        // familywise error (5% aimed at).
        let base = TrialModel::exp1(0.30);
        let mut with_colour = 0;
        let pairs = 40u64;
        for pair in 0..pairs {
            let points: Vec<PointTrials> = (0..8u64)
                .map(|k| PointTrials {
                    key: format!("p{k}"),
                    a: trials(&base, 12, 1000 * pair + 2 * k),
                    b: trials(&base, 12, 1000 * pair + 2 * k + 1),
                })
                .collect();
            let d = frame_diff(&points, 5.0, false);
            if d.frames
                .iter()
                .any(|f| matches!(f.verdict, FrameVerdict::Grew | FrameVerdict::Shrank))
            {
                with_colour += 1;
            }
        }
        println!("same model: {with_colour} of {pairs} pairs (8 points, 12 trials each) coloured a frame");
        assert!(
            with_colour * 10 <= pairs as usize,
            "{with_colour} of {pairs}"
        );
    }

    #[test]
    fn a_significant_change_under_the_minimum_is_not_coloured() {
        // Many samples and no jitter: tight intervals. The walk moves by
        // 0.6 pp (interval clear of 0, inside +1 pp) and then by 2 pp.
        let model = |walk: f64| TrialModel {
            samples: 200_000,
            jitter: 0.0,
            ..TrialModel::exp1(walk)
        };
        let walk_of = |b: f64| {
            let p = PointTrials {
                key: "p".into(),
                a: trials(&model(0.30), 12, 1),
                b: trials(&model(b), 12, 2),
            };
            let d = frame_diff(&[p], 5.0, false);
            let w = d.frames.iter().find(|f| f.name() == "find_available");
            w.cloned().unwrap()
        };
        let small = walk_of(0.306);
        println!("walk 30% -> 30.6%: {small:?}");
        assert!(small.ci_low_pp.unwrap() > 0.0 && small.ci_high_pp.unwrap() < MIN_CHANGE_PP);
        assert_eq!(small.verdict, FrameVerdict::NoSignificantChange);
        let large = walk_of(0.32);
        println!("walk 30% -> 32%: {large:?}");
        assert!(large.ci_low_pp.unwrap() > MIN_CHANGE_PP);
        assert_eq!(large.verdict, FrameVerdict::Grew);
        assert!(!large.regression);
    }

    #[test]
    fn too_few_trials_are_not_tested() {
        let base = TrialModel::exp1(0.10);
        let p = PointTrials {
            key: "p".into(),
            a: trials(&base, 2, 1),
            b: trials(&base, 12, 2),
        };
        let d = frame_diff(&[p], 5.0, false);
        assert_eq!(d.tested, 0);
        assert!(d.notes[0].contains("2 and 12 trials"), "{:?}", d.notes);
    }
}
