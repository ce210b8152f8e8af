//! `sentryprof compare A B`: per point and per site, the change in median
//! from A to B with a 95% confidence interval from the trials, and a verdict.
//!
//! Method: percentile bootstrap of the relative change in medians,
//! `(median(B) - median(A)) / median(A)`, resampling A's and B's per-trial
//! values independently with replacement, [`RESAMPLES`] times, from a fixed
//! seed (the same inputs always give the same interval). A change is
//! significant when its interval excludes zero; a significant slowdown
//! larger than the threshold is a regression.

use std::collections::BTreeMap;

use bundle::sites::ordered_sites;
use bundle::stats::SplitMix64;
use bundle::{Point, RunJson};
use serde::Serialize;

use crate::scaling::median;
use crate::table::Table;

pub use crate::bootstrap::{MIN_TRIALS, RESAMPLES, SEED};
/// One-line description of the method, for the output.
pub const METHOD: &str = "95% CI: percentile bootstrap of the relative change in medians over per-trial values (2000 resamples, fixed seed)";

/// What a comparison concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    NoSignificantChange,
    /// Fewer than [`MIN_TRIALS`] per-trial values on a side.
    NotEnoughTrials,
}

impl Verdict {
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::NoSignificantChange => "no significant change",
            Verdict::NotEnoughTrials => "not enough trials",
        }
    }
}

/// One compared quantity of one matched point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompareRow {
    /// The point's label (same in A and B).
    pub point: String,
    /// "latency_ns" or a site name (cycles).
    pub quantity: String,
    pub median_a: f64,
    pub median_b: f64,
    /// Relative change in percent (positive: B slower).
    pub change_pct: f64,
    pub ci_low_pct: Option<f64>,
    pub ci_high_pct: Option<f64>,
    pub verdict: Verdict,
    /// Significant slowdown beyond the threshold.
    pub regression: bool,
}

/// The comparison of two bundles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub method: String,
    pub threshold_pct: f64,
    pub rows: Vec<CompareRow>,
    /// Points of one bundle without a match in the other.
    pub unmatched: Vec<String>,
    /// One-line notes (points matched across strategies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The gated frame diff over the points' per-trial stacks, when made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<crate::frame_diff::FrameSummary>,
}

impl Comparison {
    /// Whether any row is a regression.
    pub fn has_regression(&self) -> bool {
        self.rows.iter().any(|r| r.regression)
            || self.frames.as_ref().is_some_and(|f| f.regressions() > 0)
    }
}

/// Bootstrap 95% interval of the relative change in medians, in percent.
///
/// Preconditions: both slices non-empty with positive medians.
pub fn bootstrap_change_ci(a: &[f64], b: &[f64], seed: u64) -> (f64, f64) {
    let mut rng = SplitMix64::new(seed);
    let mut ra = vec![0.0; a.len()];
    let mut rb = vec![0.0; b.len()];
    let mut changes = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        for v in ra.iter_mut() {
            *v = a[rng.below(a.len())];
        }
        for v in rb.iter_mut() {
            *v = b[rng.below(b.len())];
        }
        let ma = median(&mut ra);
        let mb = median(&mut rb);
        if ma > 0.0 {
            changes.push((mb - ma) / ma * 100.0);
        }
    }
    changes.sort_by(|x, y| x.total_cmp(y));
    if changes.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let at = |q: f64| changes[((changes.len() - 1) as f64 * q).round() as usize];
    (at(0.025), at(0.975))
}

/// Compare two sets of per-trial values.
pub fn compare_values(
    point: &str,
    quantity: &str,
    a: &[f64],
    b: &[f64],
    threshold_pct: f64,
) -> CompareRow {
    let a: Vec<f64> = a.iter().copied().filter(|v| v.is_finite()).collect();
    let b: Vec<f64> = b.iter().copied().filter(|v| v.is_finite()).collect();
    let median_a = median(&mut a.clone());
    let median_b = median(&mut b.clone());
    let change_pct = if median_a > 0.0 {
        (median_b - median_a) / median_a * 100.0
    } else {
        f64::NAN
    };
    let mut row = CompareRow {
        point: point.to_string(),
        quantity: quantity.to_string(),
        median_a,
        median_b,
        change_pct,
        ci_low_pct: None,
        ci_high_pct: None,
        verdict: Verdict::NotEnoughTrials,
        regression: false,
    };
    if a.len() < MIN_TRIALS || b.len() < MIN_TRIALS || median_a.is_nan() || median_a <= 0.0 {
        return row;
    }
    // Seed from the names, so each comparison has its own fixed stream.
    let seed = point.bytes().chain(quantity.bytes()).fold(SEED, |h, c| {
        (h ^ u64::from(c)).wrapping_mul(0x0100_0000_01b3)
    });
    let (lo, hi) = bootstrap_change_ci(&a, &b, seed);
    row.ci_low_pct = Some(lo);
    row.ci_high_pct = Some(hi);
    row.verdict = if lo > 0.0 {
        Verdict::Slower
    } else if hi < 0.0 {
        Verdict::Faster
    } else {
        Verdict::NoSignificantChange
    };
    row.regression = row.verdict == Verdict::Slower && change_pct > threshold_pct;
    row
}

/// The points of `a` and `b` that match, each with its key, and the
/// points without a match ("only in A: ...").
#[derive(Debug, Clone, Default)]
pub struct MatchedPoints<'r> {
    pub pairs: Vec<(String, &'r Point, &'r Point)>,
    pub unmatched: Vec<String>,
    /// Set when the points were matched across search strategies.
    pub note: Option<String>,
}

/// The one search strategy all points of `run` used, if there is one.
fn single_search(run: &RunJson) -> Option<&str> {
    let first = run.points.first()?.search.as_deref()?;
    run.points
        .iter()
        .all(|p| p.search.as_deref() == Some(first))
        .then_some(first)
}

/// Match the points of `a` and `b` by workload, platform, search, mapping,
/// touch, iterations and size (their label). When none match that way and
/// each bundle ran a single, different search strategy (a run of the linear
/// walk against a run of max-gap, as two builds would be), they are matched
/// by everything but the strategy, which `note` says.
pub fn match_points<'r>(a: &'r RunJson, b: &'r RunJson) -> MatchedPoints<'r> {
    let by = |key: fn(&Point) -> String| {
        let bmap: BTreeMap<String, &Point> = b.points.iter().map(|p| (key(p), p)).collect();
        let amap: BTreeMap<String, &Point> = a.points.iter().map(|p| (key(p), p)).collect();
        let mut m = MatchedPoints::default();
        for pa in &a.points {
            let k = key(pa);
            match bmap.get(&k) {
                Some(pb) => m.pairs.push((k, pa, pb)),
                None => m.unmatched.push(format!("only in A: {k}")),
            }
        }
        for k in bmap.keys().filter(|k| !amap.contains_key(*k)) {
            m.unmatched.push(format!("only in B: {k}"));
        }
        m
    };
    let exact = by(Point::label);
    if !exact.pairs.is_empty() {
        return exact;
    }
    match (single_search(a), single_search(b)) {
        (Some(sa), Some(sb)) if sa != sb => {
            let mut m = by(Point::label_without_search);
            if !m.pairs.is_empty() {
                m.note = Some(format!(
                    "points matched across search strategies: A ran {sa}, B ran {sb} (matched by everything else)"
                ));
            }
            m
        }
        _ => exact,
    }
}

/// Compare every point of `a` with its match in `b` ([`match_points`]):
/// latency from `latency_ns.trials`, each site from
/// `sites.*.trial_medians`.
pub fn compare_runs(a: &RunJson, b: &RunJson, threshold_pct: f64) -> Comparison {
    let matched = match_points(a, b);
    let mut rows = Vec::new();
    for (k, pa, pb) in &matched.pairs {
        rows.push(compare_values(
            k,
            "latency_ns",
            &pa.latency_ns.trials,
            &pb.latency_ns.trials,
            threshold_pct,
        ));
        for (site, sa) in ordered_sites(pa) {
            if let Some(sb) = pb.sites.get(site).filter(|sb| sa.calls > 0 || sb.calls > 0) {
                rows.push(compare_values(
                    k,
                    site,
                    &sa.trial_medians,
                    &sb.trial_medians,
                    threshold_pct,
                ));
            }
        }
    }
    Comparison {
        method: METHOD.to_string(),
        threshold_pct,
        rows,
        unmatched: matched.unmatched,
        notes: matched.note.into_iter().collect(),
        frames: None,
    }
}

/// The comparison as a table.
pub fn comparison_table(c: &Comparison) -> Table {
    let mut t = Table::new([
        "point", "quantity", "median A", "median B", "change", "95% CI", "verdict",
    ]);
    for r in &c.rows {
        let ci = match (r.ci_low_pct, r.ci_high_pct) {
            (Some(l), Some(h)) => format!("[{l:+.1}%, {h:+.1}%]"),
            _ => "-".into(),
        };
        let verdict = if r.regression {
            format!("{} (REGRESSION > {}%)", r.verdict.text(), c.threshold_pct)
        } else {
            r.verdict.text().to_string()
        };
        let num = |v: f64, text: String| if v.is_finite() { text } else { "-".into() };
        t.push(vec![
            r.point.clone(),
            r.quantity.clone(),
            num(r.median_a, format!("{:.0}", r.median_a)),
            num(r.median_b, format!("{:.0}", r.median_b)),
            num(r.change_pct, format!("{:+.1}%", r.change_pct)),
            ci,
            verdict,
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_slowdown_is_a_regression_and_noise_is_not() {
        let a = [
            100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 100.1, 99.9, 100.3, 99.7,
        ];
        let slower: Vec<f64> = a.iter().map(|v| v * 1.3).collect();
        let r = compare_values("p", "latency_ns", &a, &slower, 5.0);
        assert_eq!(r.verdict, Verdict::Slower);
        assert!(r.regression);
        assert!(r.ci_low_pct.unwrap() > 25.0, "{r:?}");
        let faster: Vec<f64> = a.iter().map(|v| v * 0.7).collect();
        let r = compare_values("p", "latency_ns", &a, &faster, 5.0);
        assert_eq!(r.verdict, Verdict::Faster);
        assert!(!r.regression);
        let same = [
            100.4, 99.6, 100.0, 100.8, 99.2, 100.1, 99.9, 100.6, 99.4, 100.0,
        ];
        let r = compare_values("p", "latency_ns", &a, &same, 5.0);
        assert_eq!(r.verdict, Verdict::NoSignificantChange);
        // Deterministic.
        assert_eq!(r, compare_values("p", "latency_ns", &a, &same, 5.0));
        let r = compare_values("p", "x", &a[..2], &same, 5.0);
        assert_eq!(r.verdict, Verdict::NotEnoughTrials);
    }

    #[test]
    fn small_significant_slowdown_below_threshold_is_not_a_regression() {
        let a: Vec<f64> = (0..12).map(|i| 100.0 + (i % 3) as f64 * 0.1).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 1.02).collect();
        let r = compare_values("p", "latency_ns", &a, &b, 5.0);
        assert_eq!(r.verdict, Verdict::Slower);
        assert!(!r.regression);
    }
}
