//! Scaling verdicts: how a cost grows with the number of existing mappings.
//!
//! Each series (x = existing mappings, y = cycles or ns) is fitted by least
//! squares to three models:
//!
//! * constant `y = a`,
//! * logarithmic `y = a + b ln x`,
//! * linear `y = a + b x`.
//!
//! The rule that names the best fit (documented in docs/render.md):
//!
//! 1. Of logarithmic and linear (both two parameters), prefer the one with
//!    the smaller Akaike information criterion, `AIC = n ln(RSS/n) + 2k`
//!    (equivalently the smaller residual sum of squares).
//! 2. A growing model beats the constant one only if its slope is positive,
//!    its AIC is lower than the constant model's by more than 2 (the usual
//!    threshold for "substantially better"), and the rise it predicts across
//!    the series' x range is at least 10% of the mean of y: noise or a few
//!    outliers do not make growth.
//! 3. Linear is named only when it is also convincing: the per-mapping
//!    term at the largest x (`slope * x_max`) at least equals the fixed
//!    cost (the intercept), or the line fits well (R² >= 0.9) and clearly
//!    better than `ln x` (R² higher by 0.1 or more). A series that creeps up
//!    by a fraction of a cycle per mapping (a B-tree gaining a level: a
//!    step a line fits passably) is not called linear; it is then
//!    logarithmic if the logarithmic model passes rule 2, else constant.
//! 4. Over a narrow x range (`x_max / x_min < 10`, e.g. iterations
//!    5000, 10000, 25000) `ln x` is nearly a straight line in x and the AIC
//!    cannot tell the models apart; there linear is named when the fit is
//!    good (R² >= 0.9) *and* proportional (`slope * x_max >= intercept`),
//!    whatever the AIC says.
//!
//! Long per-call series are first reduced to at most [`MAX_BINS`] bins of
//! consecutive calls, each bin represented by its median x and median y, so
//! that rare spikes (a tree split, a host page fault) do not steer the fit.

use std::collections::BTreeMap;

use bundle::sites::ordered_sites;
use bundle::{Point, RunJson};
use serde::Serialize;

/// Bins a long series is reduced to before fitting.
pub const MAX_BINS: usize = 100;
/// Minimum predicted rise over the x range, as a share of mean y, for a
/// growing model to beat the constant one.
pub const MIN_RELATIVE_RISE: f64 = 0.10;
/// AIC improvement a growing model needs over the constant one.
pub const MIN_AIC_GAIN: f64 = 2.0;
/// How much better (in R²) a line must fit than `ln x` to be named linear
/// when its per-mapping term does not dominate the fixed cost.
pub const MIN_LINEAR_R2_MARGIN: f64 = 0.1;
/// R² a linear fit needs to be named linear when its per-mapping term
/// does not dominate the fixed cost.
pub const MIN_LINEAR_R2: f64 = 0.9;
/// An x range narrower than this ratio (`x_max / x_min`) is "narrow".
pub const NARROW_SPAN: f64 = 10.0;

/// The three candidate models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    Constant,
    Logarithmic,
    Linear,
}

impl Model {
    /// Lower-case name: "constant", "logarithmic", "linear".
    pub fn name(self) -> &'static str {
        match self {
            Model::Constant => "constant",
            Model::Logarithmic => "logarithmic",
            Model::Linear => "linear",
        }
    }
}

/// One model fitted to a series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelFit {
    pub model: Model,
    pub intercept: f64,
    /// `b` of the model (0 for constant): y per unit x (linear) or y per
    /// unit of ln x (logarithmic).
    pub slope: f64,
    /// Residual sum of squares.
    pub rss: f64,
    /// Coefficient of determination (0 for constant).
    pub r2: f64,
    pub aic: f64,
}

/// The three fits of a series and the chosen one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingFit {
    /// Points fitted (after binning).
    pub n: usize,
    pub x_min: f64,
    pub x_max: f64,
    pub mean_y: f64,
    pub best: Model,
    pub constant: ModelFit,
    pub logarithmic: ModelFit,
    pub linear: ModelFit,
}

impl ScalingFit {
    /// The fit of the chosen model.
    pub fn best_fit(&self) -> &ModelFit {
        match self.best {
            Model::Constant => &self.constant,
            Model::Logarithmic => &self.logarithmic,
            Model::Linear => &self.linear,
        }
    }

    /// "linear, 12.3 cycles per existing mapping (R² 0.99)" and the like.
    pub fn describe(&self, y_unit: &str) -> String {
        let f = self.best_fit();
        match self.best {
            Model::Constant => format!("constant, {} {y_unit}", fmt_num(self.mean_y)),
            Model::Logarithmic => format!(
                "logarithmic, {} {y_unit} per doubling of mappings (R² {:.3})",
                fmt_num(f.slope * std::f64::consts::LN_2),
                f.r2
            ),
            Model::Linear => format!(
                "linear, {} {y_unit} per existing mapping (R² {:.3})",
                fmt_num(f.slope),
                f.r2
            ),
        }
    }
}

/// Compact number: 3 significant digits for small values, thousands for big.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 || a == 0.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.2e}")
    }
}

fn aic(n: usize, rss: f64, k: usize) -> f64 {
    let n_f = n as f64;
    // A perfect fit would give ln(0); floor the RSS at a tiny share of n.
    let rss = rss.max(1e-12 * n_f);
    n_f * (rss / n_f).ln() + 2.0 * k as f64
}

fn fit_line(xs: &[f64], ys: &[f64], model: Model, tss: f64) -> ModelFit {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    let rss: f64 = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| {
            let e = y - (intercept + slope * x);
            e * e
        })
        .sum();
    let r2 = if tss > 0.0 { 1.0 - rss / tss } else { 0.0 };
    ModelFit {
        model,
        intercept,
        slope,
        rss,
        r2,
        aic: aic(xs.len(), rss, 2),
    }
}

/// Reduce a series to at most [`MAX_BINS`] bins of consecutive points (in x
/// order), each the median x and median y of its points.
pub fn bin_series(xs: &[f64], ys: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut pts: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if pts.len() <= MAX_BINS {
        return pts.into_iter().unzip();
    }
    let per = pts.len().div_ceil(MAX_BINS);
    pts.chunks(per)
        .map(|c| {
            let mut cx: Vec<f64> = c.iter().map(|p| p.0).collect();
            let mut cy: Vec<f64> = c.iter().map(|p| p.1).collect();
            (median(&mut cx), median(&mut cy))
        })
        .unzip()
}

/// Median of a non-empty slice (sorted in place); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Fit the three models to `(xs, ys)` and pick one by the module's rule.
///
/// Preconditions: `xs.len() == ys.len()`; x values are counts of mappings
/// (>= 1 for the logarithmic model; smaller ones are clamped to 1).
/// Returns None with fewer than 3 finite points or fewer than 3 distinct x.
pub fn fit(xs: &[f64], ys: &[f64]) -> Option<ScalingFit> {
    let (xs, ys): (Vec<f64>, Vec<f64>) = xs
        .iter()
        .zip(ys)
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .map(|(x, y)| (*x, *y))
        .unzip();
    let (xs, ys) = bin_series(&xs, &ys);
    let mut distinct = xs.clone();
    distinct.dedup();
    if xs.len() < 3 || distinct.len() < 3 {
        return None;
    }
    let n = xs.len();
    let mean_y = ys.iter().sum::<f64>() / n as f64;
    let tss: f64 = ys.iter().map(|y| (y - mean_y) * (y - mean_y)).sum();
    let constant = ModelFit {
        model: Model::Constant,
        intercept: mean_y,
        slope: 0.0,
        rss: tss,
        r2: 0.0,
        aic: aic(n, tss, 1),
    };
    let lx: Vec<f64> = xs.iter().map(|x| x.max(1.0).ln()).collect();
    let logarithmic = fit_line(&lx, &ys, Model::Logarithmic, tss);
    let linear = fit_line(&xs, &ys, Model::Linear, tss);
    let x_min = xs[0];
    let x_max = xs[n - 1];

    let beats_constant = |m: &ModelFit| {
        let rise = match m.model {
            Model::Linear => m.slope * (x_max - x_min),
            _ => m.slope * (x_max.max(1.0).ln() - x_min.max(1.0).ln()),
        };
        m.slope > 0.0
            && m.aic < constant.aic - MIN_AIC_GAIN
            && mean_y.abs() > 0.0
            && rise >= MIN_RELATIVE_RISE * mean_y.abs()
    };
    // Linear must also be convincing: either a good fit or a per-mapping
    // term that dominates the fixed cost at the end of the range.
    let dominant = linear.slope * x_max >= linear.intercept.abs();
    let prefer_linear = if x_min > 0.0 && x_max / x_min < NARROW_SPAN {
        // Within a decade ln x is nearly a straight line in x: the fits
        // cannot tell the models apart, proportional growth can.
        dominant && linear.r2 >= MIN_LINEAR_R2
    } else {
        // A B-tree gaining a level mid-series is a step that a line fits
        // passably (R² about 0.9) but barely better than ln x: linear must
        // then be clearly the better shape, or dominate the fixed cost.
        linear.aic <= logarithmic.aic
            && (dominant
                || (linear.r2 >= MIN_LINEAR_R2
                    && linear.r2 - logarithmic.r2 >= MIN_LINEAR_R2_MARGIN))
    };
    let best = if prefer_linear && beats_constant(&linear) {
        Model::Linear
    } else if beats_constant(&logarithmic) {
        Model::Logarithmic
    } else {
        Model::Constant
    };
    Some(ScalingFit {
        n,
        x_min,
        x_max,
        mean_y,
        best,
        constant,
        logarithmic,
        linear,
    })
}

/// A fitted series of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesVerdict {
    /// What is measured: a site name ("find_available") or "latency".
    pub quantity: String,
    /// Which points: a point label, or a group label with iterations "x*".
    pub series: String,
    /// "call index (existing mappings)" or "iterations (mappings made)".
    pub x_label: String,
    /// "cycles" or "ns".
    pub y_unit: String,
    /// Search strategy of the series, if any ("linear", "maxgap").
    pub search: Option<String>,
    /// Mapping kind ("anon", "private", "shared").
    pub mapping: String,
    pub fit: ScalingFit,
}

impl SeriesVerdict {
    /// One line: "find_available exp1 inproc/linear ...: linear, 12 cycles per existing mapping".
    pub fn line(&self) -> String {
        format!(
            "{} vs {} [{}]: {}",
            self.quantity,
            self.x_label,
            self.series,
            self.fit.describe(&self.y_unit)
        )
    }
}

/// Verdicts of every series a bundle holds:
///
/// * each point's per-call series (`series`, x = index of the call, i.e.
///   mappings made before it in the trial);
/// * across points that differ only in `iterations` (at least 3 distinct
///   counts): median latency (ns) and each site's median cycles against the
///   iteration count.
pub fn verdicts(run: &RunJson) -> Vec<SeriesVerdict> {
    let mut out = Vec::new();
    for p in &run.points {
        for s in &p.series {
            let bc = s.bucket_calls.max(1) as f64;
            let xs: Vec<f64> = (0..s.mean_cycles.len())
                .map(|i| i as f64 * bc + (bc + 1.0) / 2.0)
                .collect();
            if let Some(fit) = fit(&xs, &s.mean_cycles) {
                out.push(SeriesVerdict {
                    quantity: s.site.clone(),
                    series: p.label(),
                    x_label: "call index (existing mappings)".into(),
                    y_unit: "cycles".into(),
                    search: p.search.clone(),
                    mapping: p.mapping.clone(),
                    fit,
                });
            }
        }
    }
    let mut groups: BTreeMap<String, Vec<&Point>> = BTreeMap::new();
    for p in &run.points {
        groups
            .entry(p.label_without_iterations())
            .or_default()
            .push(p);
    }
    for (label, mut pts) in groups {
        pts.sort_by_key(|p| p.iterations);
        let xs: Vec<f64> = pts.iter().map(|p| p.iterations as f64).collect();
        let first = pts[0];
        let mut push = |quantity: &str, unit: &str, ys: Vec<f64>| {
            if let Some(fit) = fit(&xs, &ys) {
                out.push(SeriesVerdict {
                    quantity: quantity.to_string(),
                    series: label.clone(),
                    x_label: "iterations (mappings made)".into(),
                    y_unit: unit.to_string(),
                    search: first.search.clone(),
                    mapping: first.mapping.clone(),
                    fit,
                });
            }
        };
        push(
            "latency",
            "ns",
            pts.iter().map(|p| p.latency_ns.median).collect(),
        );
        for (site, _) in ordered_sites(first) {
            let ys: Option<Vec<f64>> = pts
                .iter()
                .map(|p| p.sites.get(site).map(|s| s.median_cycles))
                .collect();
            if let Some(ys) = ys {
                push(site, "cycles", ys);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1).
    fn noise(i: usize) -> f64 {
        let mut z = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 31;
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z ^= z >> 29;
        (z % 2000) as f64 / 1000.0 - 1.0
    }

    #[test]
    fn linear_walk_is_linear_with_its_slope() {
        // 900 cycles fixed + 4.2 cycles per existing VMA, 10% noise, spikes.
        let xs: Vec<f64> = (1..=10_000).map(|i| i as f64).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let base = 900.0 + 4.2 * x;
                let spike = if i % 997 == 0 { 20_000.0 } else { 0.0 };
                base * (1.0 + 0.1 * noise(i)) + spike
            })
            .collect();
        let f = fit(&xs, &ys).unwrap();
        assert_eq!(f.best, Model::Linear, "{f:?}");
        assert!((f.linear.slope - 4.2).abs() < 0.3, "{}", f.linear.slope);
        assert!(f.describe("cycles").starts_with("linear, 4."));
    }

    #[test]
    fn a_real_maxgap_staircase_is_not_linear() {
        // Medians of 200-call bins of find_available cycles, max-gap, from
        // the main job on the development machine (10,000 private file
        // mmaps): the B-tree's levels fill one after another, so the cost
        // climbs in steps of ~25 cycles per doubling. A line fits it with
        // R² just above 0.9, barely better than ln x; it is not linear.
        const BINS: [f64; 50] = [
            147., 147., 172., 172., 196., 172., 196., 196., 196., 196., 196., 196., 220., 196.,
            196., 221., 220., 220., 220., 220., 221., 245., 221., 245., 245., 245., 245., 245.,
            245., 245., 245., 245., 245., 245., 245., 269., 270., 269., 269., 269., 269., 270.,
            270., 270., 270., 270., 270., 270., 270., 270.,
        ];
        let xs: Vec<f64> = (0..BINS.len()).map(|i| (i as f64 + 0.5) * 200.0).collect();
        let f = fit(&xs, &BINS).unwrap();
        assert_ne!(f.best, Model::Linear, "{f:?}");
        assert_eq!(f.best, Model::Logarithmic, "{f:?}");
    }

    #[test]
    fn maxgap_search_is_not_linear() {
        // B-tree descent: ~ 150 cycles per level, fan-out 8, plus noise.
        let xs: Vec<f64> = (1..=10_000).map(|i| i as f64).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let levels = (x.ln() / 8f64.ln()).ceil().max(1.0);
                (600.0 + 150.0 * levels) * (1.0 + 0.15 * noise(i))
            })
            .collect();
        let f = fit(&xs, &ys).unwrap();
        assert_ne!(f.best, Model::Linear, "{f:?}");
        let flat: Vec<f64> = (0..5000).map(|i| 700.0 * (1.0 + 0.2 * noise(i))).collect();
        let f = fit(&xs[..5000], &flat).unwrap();
        assert_eq!(f.best, Model::Constant, "{f:?}");
    }

    #[test]
    fn slow_creep_of_a_short_series_is_not_linear() {
        // Shape of a real max-gap run of 1000 calls: 123 -> 196 cycles,
        // quantised to TSC steps of ~24.5 cycles, plus jitter.
        let xs: Vec<f64> = (1..=1000).map(|i| i as f64).collect();
        let ys: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let v = 120.0 + 0.075 * x + 30.0 * noise(i);
                (v / 24.5).round() * 24.5
            })
            .collect();
        let f = fit(&xs, &ys).unwrap();
        assert_ne!(f.best, Model::Linear, "{f:?}");
    }

    #[test]
    fn narrow_range_proportional_growth_is_linear() {
        // A real linear walk at 5000, 10000, 25000 iterations: the per-gap
        // cost drops a little at the largest count (slight concavity).
        let f = fit(
            &[5000.0, 10000.0, 25000.0],
            &[42_000.0, 81_000.0, 160_000.0],
        )
        .unwrap();
        assert_eq!(f.best, Model::Linear, "{f:?}");
        // Same range, a fixed cost with a small creep: not linear.
        let f = fit(&[5000.0, 10000.0, 25000.0], &[600.0, 640.0, 690.0]).unwrap();
        assert_ne!(f.best, Model::Linear, "{f:?}");
    }

    #[test]
    fn too_few_points_give_no_verdict() {
        assert!(fit(&[1.0, 2.0], &[3.0, 4.0]).is_none());
        assert!(fit(&[1.0, 1.0, 1.0, 2.0], &[3.0, 4.0, 5.0, 6.0]).is_none());
    }

    #[test]
    fn verdicts_over_iterations_and_series() {
        use bundle::{CallSeries, LatencyStats};
        let mut run = RunJson::default();
        for (search, per) in [("linear", 2.0), ("maxgap", 0.0)] {
            for it in [1000u64, 2000, 5000, 10_000] {
                run.points.push(Point {
                    workload: "exp1".into(),
                    platform: "inproc".into(),
                    search: Some(search.into()),
                    mapping: "private".into(),
                    iterations: it,
                    size: 4096,
                    latency_ns: LatencyStats {
                        median: 3000.0 + per * it as f64 / 2.0,
                        ..LatencyStats::default()
                    },
                    series: if it == 10_000 {
                        vec![CallSeries {
                            site: "find_available".into(),
                            bucket_calls: 10,
                            mean_cycles: (0..1000)
                                .map(|i| 500.0 + per * 2.25 * (i * 10) as f64)
                                .collect(),
                        }]
                    } else {
                        vec![]
                    },
                    ..Point::default()
                });
            }
        }
        let v = verdicts(&run);
        let get = |q: &str, s: &str| {
            v.iter()
                .find(|v| v.quantity == q && v.search.as_deref() == Some(s))
                .unwrap()
                .fit
                .best
        };
        assert_eq!(get("latency", "linear"), Model::Linear);
        assert_eq!(get("latency", "maxgap"), Model::Constant);
        assert_eq!(get("find_available", "linear"), Model::Linear);
        assert_eq!(get("find_available", "maxgap"), Model::Constant);
        assert_eq!(v.len(), 4);
    }
}
