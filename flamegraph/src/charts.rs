//! SVG charts with plotters: generic line and bar charts, and the study's
//! figures redrawn from a bundle (latency vs number of mappings, latency vs
//! mapping size, find_available cycles vs call index, site cost vs size).
//!
//! Axes carry units; an axis switches to a log scale when its data spans at
//! least two decades; every chart with more than one series has a legend.

use std::collections::BTreeMap;

use bundle::{Point, RunJson, SITE_FIND_AVAILABLE};
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use serde::Serialize;

use crate::error::{RenderError, Result};
use crate::platform_order::platform_key;
use crate::site_cost::{site_cost_groups, SiteCostGroup, FIGURE9_SITES};

/// Pixel size of every chart.
pub const CHART_SIZE: (u32, u32) = (860, 520);
/// A data range spanning at least this ratio gets a log axis.
pub const LOG_SPAN: f64 = 100.0;

/// One named line of a [`LineChart`].
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct LineSeries {
    pub name: String,
    /// (x, y) points; drawn in x order.
    pub points: Vec<(f64, f64)>,
    /// Palette index; None: the series' own index in the chart.
    pub color: Option<usize>,
    /// Drawn as a lighter dashed line with hollow markers (a companion
    /// series, e.g. medians beside means).
    pub dashed: bool,
}

/// A line chart, independent of any data source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineChart {
    pub title: String,
    /// Axis description including the unit, e.g. "mapping size (bytes)".
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<LineSeries>,
    /// Draw a marker at every point (off for dense per-call series).
    pub markers: bool,
}

/// A grouped bar chart: one bar per group within each category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BarChart {
    pub title: String,
    pub y_label: String,
    pub categories: Vec<String>,
    /// (group name, one value per category).
    pub groups: Vec<(String, Vec<f64>)>,
    pub log_y: bool,
}

/// A drawn chart: a file stem (for `STEM.svg`), its title, and the SVG text.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub stem: String,
    pub title: String,
    pub svg: String,
}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn chart_err<E: std::fmt::Display>(title: &str) -> impl Fn(E) -> RenderError + '_ {
    move |e| RenderError::Chart {
        title: title.to_string(),
        message: e.to_string(),
    }
}

/// Range of positive finite values, padded; (min, max, log?).
fn axis_range(values: impl Iterator<Item = f64>, allow_log: bool) -> (f64, f64, bool) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0, false);
    }
    if allow_log && lo > 0.0 && hi / lo >= LOG_SPAN {
        return (lo / 1.5, hi * 1.5, true);
    }
    if hi == lo {
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        return (lo - pad, hi + pad, false);
    }
    let pad = (hi - lo) * 0.05;
    let lo = if lo >= 0.0 {
        (lo - pad).max(0.0)
    } else {
        lo - pad
    };
    (lo, hi + pad, false)
}

/// Tick label: plain for small numbers, with K/M/G for large ones.
fn tick(v: f64) -> String {
    let a = v.abs();
    let (d, s) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "K")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}{s}", x)
    } else {
        format!("{:.1}{s}", x)
    }
}

fn draw_lines<X, Y>(spec: &LineChart, x: X, y: Y) -> Result<String>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = chart_err(&spec.title);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&spec.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(x, y)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_desc(spec.x_label.as_str())
            .y_desc(spec.y_label.as_str())
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(&err)?;
        for (i, s) in spec.series.iter().enumerate() {
            let color = PALETTE[s.color.unwrap_or(i) % PALETTE.len()];
            let mut pts: Vec<(f64, f64)> = s
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite())
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if s.dashed {
                draw_dashed(&mut chart, s, &pts, color, spec.markers).map_err(&err)?;
                continue;
            }
            chart
                .draw_series(plotters::series::LineSeries::new(
                    pts.clone(),
                    color.stroke_width(2),
                ))
                .map_err(&err)?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            if spec.markers {
                chart
                    .draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                    .map_err(&err)?;
            }
        }
        if !spec.series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(buf)
}

/// A companion series: a lighter dashed line, hollow markers, a dashed key.
fn draw_dashed<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    s: &LineSeries,
    pts: &[(f64, f64)],
    color: RGBColor,
    markers: bool,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate<From = (f64, f64)>,
{
    let light = color.mix(0.55);
    chart
        .draw_series(DashedLineSeries::new(
            pts.to_vec(),
            6,
            4,
            light.stroke_width(2),
        ))?
        .label(s.name.as_str())
        .legend(move |(x, y)| {
            DashedPathElement::new(vec![(x, y), (x + 20, y)], 5, 3, light.stroke_width(2))
        });
    if markers {
        chart.draw_series(
            pts.iter()
                .map(|p| Circle::new(*p, 3, light.stroke_width(1))),
        )?;
    }
    Ok(())
}

/// Draw a line chart as SVG text. Axes whose data span two decades or more
/// are logarithmic.
pub fn line_chart(spec: &LineChart) -> Result<String> {
    let xs = spec
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = spec
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let (x0, x1, lx) = axis_range(xs, true);
    let (y0, y1, ly) = axis_range(ys, true);
    let lin = |a: f64, b: f64| -> RangedCoordf64 { (a..b).into() };
    match (lx, ly) {
        (false, false) => draw_lines(spec, lin(x0, x1), lin(y0, y1)),
        (true, false) => draw_lines(spec, LogCoord::from((x0..x1).log_scale()), lin(y0, y1)),
        (false, true) => draw_lines(spec, lin(x0, x1), LogCoord::from((y0..y1).log_scale())),
        (true, true) => draw_lines(
            spec,
            LogCoord::from((x0..x1).log_scale()),
            LogCoord::from((y0..y1).log_scale()),
        ),
    }
}

fn draw_bars<Y>(spec: &BarChart, y: Y, floor: f64) -> Result<String>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = chart_err(&spec.title);
    let n_cat = spec.categories.len().max(1);
    let n_grp = spec.groups.len().max(1);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, CHART_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let x: RangedCoordf64 = (0.0..n_cat as f64).into();
        let mut chart = ChartBuilder::on(&root)
            .caption(&spec.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(x, y)
            .map_err(&err)?;
        let cats = spec.categories.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n_cat * 2 + 1)
            .x_label_formatter(&|v| {
                let i = v.floor();
                if (v - i - 0.5).abs() < 0.01 && i >= 0.0 {
                    cats.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(spec.y_label.as_str())
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(&err)?;
        let width = 0.8 / n_grp as f64;
        for (g, (name, values)) in spec.groups.iter().enumerate() {
            let color = PALETTE[g % PALETTE.len()];
            let bars = values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(c, v)| {
                    let x0 = c as f64 + 0.1 + g as f64 * width;
                    Rectangle::new(
                        [(x0, floor), (x0 + width * 0.95, v.max(floor))],
                        color.filled(),
                    )
                });
            chart
                .draw_series(bars)
                .map_err(&err)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                });
        }
        if !spec.groups.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(buf)
}

/// Draw a grouped bar chart as SVG text (for example sharing by mapping kind).
pub fn bar_chart(spec: &BarChart) -> Result<String> {
    let vals = spec.groups.iter().flat_map(|g| g.1.iter().copied());
    let (mut lo, hi, log) = axis_range(vals.clone(), spec.log_y);
    if log {
        draw_bars(spec, LogCoord::from((lo..hi).log_scale()), lo)
    } else {
        lo = lo.min(0.0);
        let y: RangedCoordf64 = (lo..hi).into();
        draw_bars(spec, y, lo)
    }
}

fn touch_name(p: &Point) -> &'static str {
    if p.touch {
        "touched"
    } else {
        "untouched"
    }
}

fn size_name(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{}M", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{}K", bytes >> 10)
    } else {
        format!("{bytes}B")
    }
}

pub(crate) fn stem_part(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// Series of one chart by platform label, in the platforms' drawing
/// order ([`platform_key`]: native, ptrace, systrap, inproc, kvm, others).
type BySeries<'a> = BTreeMap<(usize, String), Vec<&'a Point>>;

/// Group points by a key, then within each group by series name (the
/// platform label, in drawing order), into `(group key, series -> points)`.
fn grouped<K: Ord>(run: &RunJson, key: impl Fn(&Point) -> K) -> BTreeMap<K, BySeries<'_>> {
    let mut g: BTreeMap<K, BySeries<'_>> = BTreeMap::new();
    for p in &run.points {
        g.entry(key(p))
            .or_default()
            .entry(platform_key(&p.platform_label()))
            .or_default()
            .push(p);
    }
    g
}

/// The study's figures from a bundle, and one note per figure kind that had
/// no data (so the report can say what was skipped and why).
pub fn study_charts(run: &RunJson) -> (Vec<(String, LineChart)>, Vec<String>) {
    type Figure = fn(&RunJson) -> Vec<(String, LineChart)>;
    let figures: [(Figure, &str); 4] = [
        (latency_vs_mappings, "latency vs number of mappings: skipped, the bundle has fewer than two iteration counts per configuration"),
        (latency_vs_size, "latency vs mapping size: skipped, the bundle has fewer than two sizes per configuration"),
        (find_available_per_call, "find_available cycles vs call index: skipped, no point recorded a per-call series"),
        (site_cost_vs_size, "createVMA/getPMAs/mapAS vs mapping size: skipped, no probe figures at two or more sizes"),
    ];
    let mut charts = Vec::new();
    let mut notes = Vec::new();
    for (figure, skipped) in figures {
        let made = figure(run);
        if made.is_empty() {
            notes.push(skipped.to_string());
        }
        charts.extend(made);
    }
    (charts, notes)
}

/// A chart of median latency per mmap against `x` (described by
/// `x_label`), one line per series of a group; `None` when no series has
/// two distinct `x` to draw a line through.
fn latency_chart(
    by: BySeries<'_>,
    x: impl Fn(&Point) -> f64,
    title: String,
    x_label: &str,
) -> Option<LineChart> {
    let series: Vec<LineSeries> = by
        .into_iter()
        .map(|((_, name), pts)| LineSeries {
            name,
            points: pts.iter().map(|p| (x(p), p.latency_ns.median)).collect(),
            ..LineSeries::default()
        })
        .collect();
    if series.iter().all(|s| distinct_x(&s.points) < 2) {
        return None;
    }
    Some(LineChart {
        title,
        x_label: x_label.into(),
        y_label: "median latency per mmap (ns)".into(),
        series,
        markers: true,
    })
}

/// Figures 2, 3, 10, 11: latency against number of mappings.
fn latency_vs_mappings(run: &RunJson) -> Vec<(String, LineChart)> {
    let mut charts = Vec::new();
    for ((w, mapping, touch, size), by) in grouped(run, |p| {
        (p.workload.clone(), p.mapping.clone(), touch_name(p), p.size)
    }) {
        let title = format!(
            "{w}: mmap latency vs mappings ({mapping}, {}, {touch})",
            size_name(size)
        );
        let x_label = "number of mappings (iterations)";
        let Some(chart) = latency_chart(by, |p| p.iterations as f64, title, x_label) else {
            continue;
        };
        charts.push((
            format!(
                "latency_vs_mappings_{}_{}_{}_{}",
                stem_part(&w),
                mapping,
                touch,
                size_name(size)
            ),
            chart,
        ));
    }
    charts
}

/// Figures 7, 8, 12, 13: latency against mapping size.
fn latency_vs_size(run: &RunJson) -> Vec<(String, LineChart)> {
    let mut charts = Vec::new();
    for ((w, mapping, touch, it), by) in grouped(run, |p| {
        (
            p.workload.clone(),
            p.mapping.clone(),
            touch_name(p),
            p.iterations,
        )
    }) {
        let title = format!("{w}: mmap latency vs mapping size ({mapping}, x{it}, {touch})");
        let x_label = "mapping size (bytes)";
        let Some(chart) = latency_chart(by, |p| p.size as f64, title, x_label) else {
            continue;
        };
        charts.push((
            format!(
                "latency_vs_size_{}_{}_{}_x{it}",
                stem_part(&w),
                mapping,
                touch
            ),
            chart,
        ));
    }
    charts
}

/// Figure 6: find_available cycles against the index of the call.
fn find_available_per_call(run: &RunJson) -> Vec<(String, LineChart)> {
    let mut charts = Vec::new();
    for ((w, mapping, touch, size, it), by) in grouped(run, |p| {
        (
            p.workload.clone(),
            p.mapping.clone(),
            touch_name(p),
            p.size,
            p.iterations,
        )
    }) {
        let mut series = Vec::new();
        for ((_, name), pts) in by {
            for p in pts {
                for s in p.series.iter().filter(|s| s.site == SITE_FIND_AVAILABLE) {
                    let bc = s.bucket_calls.max(1) as f64;
                    series.push(LineSeries {
                        name: name.clone(),
                        points: s
                            .mean_cycles
                            .iter()
                            .enumerate()
                            .map(|(i, y)| (i as f64 * bc + (bc + 1.0) / 2.0, *y))
                            .collect(),
                        ..LineSeries::default()
                    });
                }
            }
        }
        if series.is_empty() {
            continue;
        }
        charts.push((
            format!(
                "find_available_per_call_{}_{}_{}_{}_x{it}",
                stem_part(&w),
                mapping,
                touch,
                size_name(size)
            ),
            LineChart {
                title: format!(
                    "{w}: findAvailable cost per call ({mapping}, {}, x{it})",
                    size_name(size)
                ),
                x_label: "index of the mmap call (existing mappings)".into(),
                y_label: "find_available (TSC cycles, bucket mean)".into(),
                series,
                markers: false,
            },
        ));
    }
    charts
}

/// Figure 9: cost of create_vma, get_pmas, map_as against mapping size:
/// the means as lines (as the study plotted), the medians beside them as
/// lighter dashed lines of the same colour.
fn site_cost_vs_size(run: &RunJson) -> Vec<(String, LineChart)> {
    let mut groups = site_cost_groups(run);
    groups.sort_by(|a, b| {
        let key = |g: &SiteCostGroup| {
            (
                g.workload.clone(),
                platform_key(&g.platform),
                g.mapping.clone(),
                if g.touch { "touched" } else { "untouched" },
                g.iterations,
            )
        };
        key(a).cmp(&key(b))
    });
    let mut charts = Vec::new();
    for g in groups {
        let mut series = Vec::new();
        for (k, site) in FIGURE9_SITES.iter().enumerate() {
            let pts = g.site_points(site);
            if pts.is_empty() {
                continue;
            }
            series.push(LineSeries {
                name: format!("{site} mean"),
                points: pts
                    .iter()
                    .filter_map(|(x, _, mean)| mean.map(|m| (*x as f64, m)))
                    .collect(),
                color: Some(k),
                dashed: false,
            });
            series.push(LineSeries {
                name: format!("{site} median"),
                points: pts.iter().map(|(x, med, _)| (*x as f64, *med)).collect(),
                color: Some(k),
                dashed: true,
            });
        }
        let (w, plat, mapping, it) = (&g.workload, &g.platform, &g.mapping, g.iterations);
        let touch = if g.touch { "touched" } else { "untouched" };
        charts.push((
            format!(
                "site_cost_vs_size_{}_{}_{}_{}_x{it}",
                stem_part(w),
                stem_part(plat),
                mapping,
                touch
            ),
            LineChart {
                title: format!(
                    "{w}: createVMA / getPMAs / mapAS vs size ({plat}, {mapping}, x{it})"
                ),
                x_label: "mapping size (bytes)".into(),
                y_label: "cycles per call (TSC): mean solid, median dashed".into(),
                series,
                markers: true,
            },
        ));
    }
    charts
}

fn distinct_x(points: &[(f64, f64)]) -> usize {
    let mut xs: Vec<f64> = points.iter().map(|p| p.0).collect();
    xs.sort_by(|a, b| a.total_cmp(b));
    xs.dedup();
    xs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_only_for_two_decades() {
        assert!(!axis_range([1.0, 50.0].into_iter(), true).2);
        assert!(axis_range([1.0, 100.0].into_iter(), true).2);
        assert!(!axis_range([0.0, 1000.0].into_iter(), true).2);
    }

    #[test]
    fn line_and_bar_charts_have_labels_and_legend() {
        let spec = LineChart {
            title: "t".into(),
            x_label: "mapping size (bytes)".into(),
            y_label: "latency (ns)".into(),
            series: vec![
                LineSeries {
                    name: "inproc/linear".into(),
                    points: vec![(4096.0, 5000.0), (1048576.0, 90000.0)],
                    ..LineSeries::default()
                },
                LineSeries {
                    name: "native".into(),
                    points: vec![(4096.0, 3400.0), (1048576.0, 3600.0)],
                    ..LineSeries::default()
                },
            ],
            markers: true,
        };
        let svg = line_chart(&spec).unwrap();
        assert!(svg.contains("mapping size (bytes)") && svg.contains("latency (ns)"));
        assert!(svg.contains("inproc/linear") && svg.contains("native"));
        let bars = BarChart {
            title: "sharing".into(),
            y_label: "pages".into(),
            categories: vec!["anon".into(), "private".into()],
            groups: vec![
                ("identical".into(), vec![10.0, 20.0]),
                ("unique".into(), vec![5.0, 1.0]),
            ],
            log_y: false,
        };
        let svg = bar_chart(&bars).unwrap();
        assert!(svg.contains("private") && svg.contains("unique") && svg.contains("pages"));
    }

    #[test]
    fn latency_charts_list_platforms_in_the_drawing_order() {
        use bundle::{CallSeries, LatencyStats};
        let mut run = RunJson::default();
        for (platform, search) in [
            ("kvm", Some("maxgap")),
            ("inproc", Some("linear")),
            ("systrap", Some("maxgap")),
            ("native", None),
            ("ptrace", Some("maxgap")),
        ] {
            for it in [1000u64, 2000] {
                run.points.push(Point {
                    workload: "exp1".into(),
                    platform: platform.into(),
                    search: search.map(String::from),
                    mapping: "private".into(),
                    iterations: it,
                    size: 4096,
                    latency_ns: LatencyStats {
                        median: 1000.0 + it as f64,
                        ..LatencyStats::default()
                    },
                    series: vec![CallSeries {
                        site: SITE_FIND_AVAILABLE.into(),
                        bucket_calls: 10,
                        mean_cycles: vec![200.0, 210.0, 220.0],
                    }],
                    ..Point::default()
                });
            }
        }
        let want = [
            "native",
            "ptrace/maxgap",
            "systrap/maxgap",
            "inproc/linear",
            "kvm/maxgap",
        ];
        let (charts, _) = study_charts(&run);
        let mut checked = 0;
        for (stem, chart) in &charts {
            if !(stem.starts_with("latency_vs_mappings")
                || stem.starts_with("find_available_per_call"))
            {
                continue;
            }
            let mut names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
            names.dedup();
            assert_eq!(names, want, "{stem}");
            checked += 1;
        }
        // One latency chart and one per-call chart per iteration count.
        assert_eq!(
            checked,
            3,
            "{:?}",
            charts.iter().map(|c| &c.0).collect::<Vec<_>>()
        );
    }
}
