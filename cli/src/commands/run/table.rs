//! Text tables of a run: the per-function cycle table of each point, the
//! latency of every point, and side-by-side ratios of matching points
//! (sentry ÷ native, linear ÷ maxgap).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bundle::{Point, ALL_SITES, SITE_FAULT, SITE_MMAP};

/// Nanoseconds as a short human figure: "812 ns", "3.41 µs", "1.20 ms".
pub fn fmt_ns(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

/// One line: "1.23 µs/call (median of 12 trials; p90 1.30 µs, p99 1.35 µs)".
pub fn latency_line(p: &Point) -> String {
    let l = &p.latency_ns;
    format!(
        "{}/call (median of {} trials; p90 {}, p99 {}; {} host mappings)",
        fmt_ns(l.median),
        l.trials.len(),
        fmt_ns(l.p90),
        fmt_ns(l.p99),
        p.host_mappings
    )
}

/// The per-function cycle table of one point: calls, median, p90, p99 and
/// max cycles per call, and each site's share of the probed path (the
/// cycles of `mmap` plus `fault`; with no faults, the share of the mmap
/// path). Empty when the point has no probe sites (native, probes off).
pub fn cycle_table(p: &Point) -> String {
    let mut out = String::new();
    if p.sites.values().all(|s| s.calls == 0) {
        return out;
    }
    let path_total: f64 = [SITE_MMAP, SITE_FAULT]
        .iter()
        .filter_map(|k| p.sites.get(*k))
        .map(|s| s.total_cycles)
        .sum();
    let _ = writeln!(
        out,
        "    {:<15} {:>10} {:>11} {:>11} {:>11} {:>12} {:>8}",
        "site", "calls", "median cyc", "p90 cyc", "p99 cyc", "max cyc", "% path"
    );
    for site in ALL_SITES {
        let Some(s) = p.sites.get(site) else { continue };
        if s.calls == 0 {
            continue;
        }
        let share = if path_total > 0.0 {
            format!("{:.1}%", 100.0 * s.total_cycles / path_total)
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            out,
            "    {:<15} {:>10} {:>11.0} {:>11.0} {:>11.0} {:>12.0} {:>8}",
            site, s.calls, s.median_cycles, s.p90_cycles, s.p99_cycles, s.max_cycles, share
        );
    }
    out
}

/// The columns of the latency table: each platform × search label in the
/// order points ran.
fn column_labels(points: &[Point]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for p in points {
        let l = platform_label(p);
        if !cols.contains(&l) {
            cols.push(l);
        }
    }
    cols
}

/// "native", "inproc/maxgap".
pub fn platform_label(p: &Point) -> String {
    match &p.search {
        Some(s) => format!("{}/{}", p.platform, s),
        None => p.platform.clone(),
    }
}

/// The workload parameters of a point, without platform and search:
/// workload, mapping, touch, size, iterations.
type RowKey = (String, String, bool, u64, u64);

/// The workload parameters of a point, without platform and search.
fn row_key(p: &Point) -> RowKey {
    (
        p.workload.clone(),
        p.mapping.clone(),
        p.touch,
        p.size,
        p.iterations,
    )
}

/// A ratio of two platform columns measured side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratio {
    /// "inproc/maxgap ÷ native".
    pub name: String,
    /// Numerator and denominator column labels.
    pub num: String,
    /// Denominator column label.
    pub den: String,
}

/// The ratios worth printing for these columns: every sentry column over
/// native, and linear over maxgap on the same platform.
pub fn ratios_for(cols: &[String]) -> Vec<Ratio> {
    let mut out = Vec::new();
    if cols.iter().any(|c| c == "native") {
        for c in cols.iter().filter(|c| c.as_str() != "native") {
            out.push(Ratio {
                name: format!("{c} ÷ native"),
                num: c.clone(),
                den: "native".to_string(),
            });
        }
    }
    for c in cols {
        if let Some(platform) = c.strip_suffix("/linear") {
            let mg = format!("{platform}/maxgap");
            if cols.contains(&mg) {
                out.push(Ratio {
                    name: format!("{platform} linear ÷ maxgap"),
                    num: c.clone(),
                    den: mg,
                });
            }
        }
    }
    out
}

/// The latency table (median ns per call of every point, one row per
/// workload parameter set, one column per platform × search), then the
/// ratios of medians of matching points.
pub fn latency_table(points: &[Point]) -> String {
    let mut out = String::new();
    if points.is_empty() {
        return out;
    }
    let cols = column_labels(points);
    let mut rows: BTreeMap<RowKey, BTreeMap<String, f64>> = BTreeMap::new();
    let mut order = Vec::new();
    for p in points {
        let k = row_key(p);
        if !rows.contains_key(&k) {
            order.push(k.clone());
        }
        rows.entry(k)
            .or_default()
            .insert(platform_label(p), p.latency_ns.median);
    }
    let ratios = ratios_for(&cols);
    let _ = writeln!(out, "latency per call, median over counted trials:");
    let mut header = format!(
        "  {:<7} {:<8} {:<7} {:>9} {:>10}",
        "work", "mapping", "touch", "size", "iterations"
    );
    for c in &cols {
        let _ = write!(header, " {:>14}", c);
    }
    for r in &ratios {
        let _ = write!(header, " {:>22}", r.name);
    }
    let _ = writeln!(out, "{header}");
    for k in &order {
        let Some(vals) = rows.get(k) else { continue };
        let (work, mapping, touch, size, iterations) = k;
        let mut line = format!(
            "  {:<7} {:<8} {:<7} {:>9} {:>10}",
            work,
            mapping,
            if *touch { "touch" } else { "notouch" },
            size,
            iterations
        );
        for c in &cols {
            let cell = vals
                .get(c)
                .map(|&v| fmt_ns(v))
                .unwrap_or_else(|| "-".into());
            let _ = write!(line, " {:>14}", cell);
        }
        for r in &ratios {
            let cell = match (vals.get(&r.num), vals.get(&r.den)) {
                (Some(&a), Some(&b)) if b > 0.0 => format!("{:.3}x", a / b),
                _ => "-".to_string(),
            };
            let _ = write!(line, " {:>22}", cell);
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// The kvm points' time per call beyond one raw exit beside the in-process
/// sentry's latency per call for the same workload and search, and their
/// ratios, by two measures (medians over counted trials): against a guest
/// that only exits, run right before each trial ("separate"); and paired
/// with a raw exit made just before each call in the same VM ("paired").
/// Empty when no kvm point has a matching inproc point.
pub fn kvm_beyond_exit_table(points: &[Point], tsc_hz: u64) -> String {
    let mut out = String::new();
    if tsc_hz == 0 {
        return out;
    }
    let cycles_per_ns = tsc_hz as f64 / 1e9;
    let over = |p: &Point, key: &str| {
        p.extra
            .get("over_trials")
            .and_then(|o| o.get(key))
            .and_then(serde_json::Value::as_u64)
    };
    for kvm in points.iter().filter(|p| p.platform == "kvm") {
        let separate = over(kvm, "median_beyond_raw_exit");
        let paired = over(kvm, "paired_median_beyond_raw_exit");
        if separate.is_none() && paired.is_none() {
            continue;
        }
        let Some(inproc) = points.iter().find(|p| {
            p.platform == "inproc" && p.search == kvm.search && row_key(p) == row_key(kvm)
        }) else {
            continue;
        };
        if out.is_empty() {
            let _ = writeln!(
                out,
                "kvm: time per call beyond one raw exit (cycles, median over trials) vs the in-process sentry's latency per call:"
            );
            let _ = writeln!(
                out,
                "  {:<7} {:<8} {:<7} {:>9} {:>10} {:>8} {:>8} {:>9} {:>8} {:>9} {:>9}",
                "work",
                "mapping",
                "touch",
                "size",
                "iterations",
                "search",
                "inproc",
                "separate",
                "ratio",
                "paired",
                "ratio"
            );
        }
        let inproc_cycles = inproc.latency_ns.median * cycles_per_ns;
        let cell = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let ratio = |v: Option<u64>| match v {
            Some(v) if inproc_cycles > 0.0 => format!("{:.2}x", v as f64 / inproc_cycles),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "  {:<7} {:<8} {:<7} {:>9} {:>10} {:>8} {:>8.0} {:>9} {:>8} {:>9} {:>9}",
            kvm.workload,
            kvm.mapping,
            if kvm.touch { "touch" } else { "notouch" },
            kvm.size,
            kvm.iterations,
            kvm.search.as_deref().unwrap_or("-"),
            inproc_cycles,
            cell(separate),
            ratio(separate),
            cell(paired),
            ratio(paired)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::LatencyStats;

    fn pt(platform: &str, search: Option<&str>, median: f64) -> Point {
        Point {
            workload: "exp1".into(),
            platform: platform.into(),
            search: search.map(Into::into),
            mapping: "private".into(),
            iterations: 1000,
            size: 4096,
            latency_ns: LatencyStats {
                median,
                ..LatencyStats::default()
            },
            ..Point::default()
        }
    }

    #[test]
    fn ratios_are_side_by_side() {
        let pts = vec![
            pt("native", None, 8000.0),
            pt("inproc", Some("linear"), 4000.0),
            pt("inproc", Some("maxgap"), 1000.0),
        ];
        let t = latency_table(&pts);
        assert!(t.contains("inproc/maxgap ÷ native"), "{t}");
        assert!(t.contains("0.125x"), "{t}");
        assert!(t.contains("0.500x"), "{t}");
        assert!(t.contains("inproc linear ÷ maxgap"), "{t}");
        assert!(t.contains("4.000x"), "{t}");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(812.4), "812 ns");
        assert_eq!(fmt_ns(3410.0), "3.41 µs");
        assert_eq!(fmt_ns(1_200_000.0), "1.20 ms");
    }

    #[test]
    fn kvm_time_beyond_one_exit_is_set_beside_the_matching_inproc_point() {
        let mut kvm = pt("kvm", Some("maxgap"), 20_000.0);
        kvm.extra = serde_json::json!({"over_trials": {
            "median_beyond_raw_exit": 1100,
            "paired_median_beyond_raw_exit": 950
        }});
        let other = pt("inproc", Some("linear"), 9_000.0);
        let inproc = pt("inproc", Some("maxgap"), 400.0);
        // 400 ns at 2.5 GHz = 1,000 cycles: 1,100 beyond is 1.10x.
        let t = kvm_beyond_exit_table(&[other, inproc, kvm.clone()], 2_500_000_000);
        assert!(t.contains("1100"), "{t}");
        assert!(t.contains("1000"), "{t}");
        assert!(t.contains("1.10x"), "{t}");
        assert!(t.contains("950"), "{t}");
        assert!(t.contains("0.95x"), "{t}");
        // No matching inproc point (other search): nothing printed.
        assert!(
            kvm_beyond_exit_table(&[pt("inproc", Some("linear"), 400.0), kvm], 2_500_000_000)
                .is_empty()
        );
    }
}
