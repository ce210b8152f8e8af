//! The charts' data: latency against the number of mappings or against the
//! mapping size, one series per platform, strategy and mapping kind, on
//! log-log axes (values are plotted as log10, ticks at whole decades), with
//! the scaling verdict of each series from the flamegraph crate.

use std::collections::BTreeMap;

use bundle::{Point, RunJson};
use flamegraph::scaling::fit;

/// What the x axis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartAxis {
    /// Mappings made per trial (`iterations`), the study's Figure 4/5 axis.
    Mappings,
    /// Bytes per mapping.
    Size,
}

impl ChartAxis {
    /// Axis title.
    pub fn title(self) -> &'static str {
        match self {
            ChartAxis::Mappings => "mappings (log)",
            ChartAxis::Size => "bytes per mapping (log)",
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartSeries {
    /// Legend text.
    pub label: String,
    /// `(log10 x, log10 median latency ns)`, sorted by x.
    pub points: Vec<(f64, f64)>,
    /// Scaling verdict of the raw series, when it can be fitted.
    pub verdict: Option<String>,
}

/// Everything one chart needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub axis: ChartAxis,
    pub series: Vec<ChartSeries>,
    /// Bounds in log10 units, whole decades.
    pub x_bounds: [f64; 2],
    pub y_bounds: [f64; 2],
    /// One label per decade from the lower to the upper bound.
    pub x_labels: Vec<String>,
    pub y_labels: Vec<String>,
    /// Points left out: non-positive values cannot go on a log axis.
    pub skipped: usize,
}

/// Key of a series: platform, search, mapping, touch, and the size or
/// iteration count that is not on the x axis.
type SeriesKey = (String, String, String, bool, u64);

/// Key of a series: every parameter but the one on the x axis.
fn series_key(p: &Point, axis: ChartAxis) -> SeriesKey {
    let other = match axis {
        ChartAxis::Mappings => p.size,
        ChartAxis::Size => p.iterations,
    };
    (
        p.platform.clone(),
        p.search.clone().unwrap_or_default(),
        p.mapping.clone(),
        p.touch,
        other,
    )
}

fn series_label(p: &Point, axis: ChartAxis) -> String {
    let search = p
        .search
        .as_deref()
        .map(|s| format!("/{s}"))
        .unwrap_or_default();
    let fixed = match axis {
        ChartAxis::Mappings => bytes(p.size),
        ChartAxis::Size => format!("x{}", si(p.iterations as f64, "")),
    };
    let touch = if p.touch { " touch" } else { "" };
    format!("{}{} {} {}{}", p.platform, search, p.mapping, fixed, touch)
}

/// Build the chart of `run` along `axis`, keeping only points of `mapping`
/// (all when None).
///
/// Postconditions: every plotted value lies within the bounds; each label
/// list has one entry per decade of its bounds (bounds span >= 1 decade).
pub fn chart_data(run: &RunJson, axis: ChartAxis, mapping: Option<&str>) -> ChartData {
    let mut groups: BTreeMap<SeriesKey, (String, Vec<(f64, f64)>)> = BTreeMap::new();
    let mut skipped = 0;
    for p in &run.points {
        if mapping.is_some_and(|m| m != p.mapping) {
            continue;
        }
        let x = match axis {
            ChartAxis::Mappings => p.iterations as f64,
            ChartAxis::Size => p.size as f64,
        };
        let y = p.latency_ns.median;
        if !(x > 0.0 && y > 0.0 && y.is_finite()) {
            skipped += 1;
            continue;
        }
        groups
            .entry(series_key(p, axis))
            .or_insert_with(|| (series_label(p, axis), Vec::new()))
            .1
            .push((x, y));
    }
    let mut series = Vec::new();
    let (mut x_lo, mut x_hi, mut y_lo, mut y_hi) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (_, (label, mut raw)) in groups {
        raw.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let xs: Vec<f64> = raw.iter().map(|r| r.0).collect();
        let ys: Vec<f64> = raw.iter().map(|r| r.1).collect();
        let verdict = fit(&xs, &ys).map(|f| f.describe("ns"));
        let points: Vec<(f64, f64)> = raw.iter().map(|&(x, y)| (x.log10(), y.log10())).collect();
        for &(x, y) in &points {
            x_lo = x_lo.min(x);
            x_hi = x_hi.max(x);
            y_lo = y_lo.min(y);
            y_hi = y_hi.max(y);
        }
        series.push(ChartSeries {
            label,
            points,
            verdict,
        });
    }
    let x_bounds = decades(x_lo, x_hi);
    let y_bounds = decades(y_lo, y_hi);
    let x_unit = match axis {
        ChartAxis::Mappings => "",
        ChartAxis::Size => "B",
    };
    ChartData {
        axis,
        x_labels: decade_labels(x_bounds, |v| si(v, x_unit)),
        y_labels: decade_labels(y_bounds, duration_ns),
        x_bounds,
        y_bounds,
        series,
        skipped,
    }
}

/// Whole-decade bounds around `[lo, hi]` (log10 units), at least one decade.
pub fn decades(lo: f64, hi: f64) -> [f64; 2] {
    if lo > hi {
        return [0.0, 1.0];
    }
    let a = lo.floor();
    let mut b = hi.ceil();
    if b <= a {
        b = a + 1.0;
    }
    [a, b]
}

/// One label per decade of `bounds`, formatted by `fmt` from the real value.
pub fn decade_labels(bounds: [f64; 2], fmt: impl Fn(f64) -> String) -> Vec<String> {
    let (a, b) = (bounds[0] as i32, bounds[1] as i32);
    (a..=b).map(|k| fmt(10f64.powi(k))).collect()
}

/// 1, 10, 100, 1k, 10k, 1M ... with a unit suffix.
pub fn si(v: f64, unit: &str) -> String {
    let (scaled, prefix) = if v >= 1e9 {
        (v / 1e9, "G")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    format!("{}{prefix}{unit}", trim_number(scaled))
}

/// Up to two decimals, without trailing zeros: 2.25, 2.5, 4.
fn trim_number(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A size in bytes with binary prefixes, as mmap sizes are given: 4K, 2M.
pub fn bytes(v: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (scale, suffix) in UNITS {
        if v >= scale {
            return format!("{}{suffix}", trim_number(v as f64 / scale as f64));
        }
    }
    format!("{v}B")
}

/// A duration given in ns: 10ns, 1µs, 100ms, 1s.
pub fn duration_ns(v: f64) -> String {
    if v >= 1e9 {
        si(v / 1e9, "s")
    } else if v >= 1e6 {
        si(v / 1e6, "ms")
    } else if v >= 1e3 {
        si(v / 1e3, "µs")
    } else {
        si(v, "ns")
    }
}

/// Mapping kinds present in a run, in order of first appearance.
pub fn mappings_of(run: &RunJson) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in &run.points {
        if !out.contains(&p.mapping) {
            out.push(p.mapping.clone());
        }
    }
    out
}
