//! The text tables `sentryprof run` prints on stdout: the latency line and
//! the per-site cycle table of each point, the latency of every point with
//! side-by-side ratios of matching points (sentry ÷ native, linear ÷
//! maxgap), and the kvm points' time beyond one exit.
//!
//! The cycle table shows the rows of [`bundle::sites`], the same rows and
//! share as the report and the TUI.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use bundle::sites::{point_site_rows, SITE_COLUMNS};
use bundle::tsc::cycles_per_ns;
use bundle::Point;

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

/// The per-site cycle table of one point: calls, median, p90, p99 and max
/// cycles per call of each site that was called, and its share of the
/// mmap path ([`bundle::sites::SiteRow::share_of_mmap`]; "-" for `fault`).
/// Empty when the point has no probe sites (native, probes off).
pub fn cycle_table(p: &Point) -> String {
    let mut out = String::new();
    let rows: Vec<_> = point_site_rows(0, p)
        .into_iter()
        .filter(|r| r.calls > 0)
        .collect();
    if rows.is_empty() {
        return out;
    }
    let [site, calls, median, p90, p99, max] = SITE_COLUMNS;
    let _ = writeln!(
        out,
        "    {site:<15} {calls:>10} {median:>11} {p90:>11} {p99:>11} {max:>12} {:>8}",
        "% path"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "    {:<15} {:>10} {:>11.0} {:>11.0} {:>11.0} {:>12.0} {:>8}",
            r.site,
            r.calls,
            r.median_cycles,
            r.p90_cycles,
            r.p99_cycles,
            r.max_cycles,
            r.share_text(1)
        );
    }
    out
}

/// The columns of the latency table: each platform × search label in the
/// order points ran.
fn column_labels(points: &[Point]) -> Vec<String> {
    let mut cols: Vec<String> = Vec::new();
    for p in points {
        let l = p.platform_label();
        if !cols.contains(&l) {
            cols.push(l);
        }
    }
    cols
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
            .insert(p.platform_label(), p.latency_ns.median);
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

/// One line per kvm point the VMM guest sampler ran on (its
/// `extra.guest_sampler`): the guest's share of the sampled time by
/// samples (stops ÷ ticks) beside the same share by rdtsc (cycles inside
/// `KVM_RUN` ÷ cycles sampled), and the broken chains.
pub fn guest_share_lines(points: &[Point]) -> Vec<String> {
    let mut out = Vec::new();
    let mut unmeasured = false;
    for p in points.iter().filter(|p| p.platform == "kvm") {
        let Some(g) = p.extra.get("guest_sampler") else {
            continue;
        };
        let num = |k: &str| g.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0);
        out.push(format!(
            "kvm guest share, {}: {:.1}% by samples ({:.0} of {:.0} ticks at {:.0} Hz, {:.0} broken) vs {:.1}% by rdtsc (inside KVM_RUN)",
            p.label(),
            num("share_by_samples") * 100.0,
            num("samples"),
            num("ticks"),
            num("hz"),
            num("broken"),
            num("share_by_rdtsc") * 100.0,
        ));
        match pmu_share_line(&p.label(), num("share_by_samples"), g.get("pmu")) {
            Some(line) => out.push(line),
            None => unmeasured = true,
        }
    }
    if unmeasured {
        out.push(PMU_NOT_MEASURED.to_string());
    }
    out
}

/// The report's line where no kvm point had hardware `cycles:G` samples.
pub const PMU_NOT_MEASURED: &str = "cycles:G guest share: not measured (no hardware PMU)";

/// How far apart two shares of guest time may be, relative to the VMM
/// sampler's, and still be said to agree.
pub const PMU_AGREEMENT: f64 = 0.10;

/// Whether the `cycles:G` share agrees with the VMM sampler's within
/// [`PMU_AGREEMENT`] of the latter, and their relative difference.
pub fn pmu_agreement(vmm_share: f64, pmu_share: f64) -> (bool, f64) {
    if vmm_share <= 0.0 {
        return (pmu_share <= 0.0, 0.0);
    }
    let rel = (pmu_share - vmm_share) / vmm_share;
    (rel.abs() <= PMU_AGREEMENT, rel)
}

/// The report's line for the hardware `cycles:G` share of a kvm point
/// (`pmu`: `extra.guest_sampler.pmu`, null where no PMU could count:
/// then `None`).
pub fn pmu_share_line(
    label: &str,
    vmm_share: f64,
    pmu: Option<&serde_json::Value>,
) -> Option<String> {
    let share = pmu
        .and_then(|p| p.get("share"))
        .and_then(serde_json::Value::as_f64);
    let (Some(p), Some(pmu_share)) = (pmu.filter(|p| !p.is_null()), share) else {
        return None;
    };
    let num = |k: &str| p.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let (agree, rel) = pmu_agreement(vmm_share, pmu_share);
    let verdict = if agree {
        format!("agree (within {:.0}%)", PMU_AGREEMENT * 100.0)
    } else {
        format!("differ by {:+.0}%", rel * 100.0)
    };
    Some(format!(
        "cycles:G guest share, {label}: {:.1}% by the PMU ({} of {} cycles samples of the vCPU thread in guest mode, on a CPU {:.0}% of the time) vs {:.1}% by the VMM sampler: {verdict}",
        pmu_share * 100.0,
        num("guest_samples"),
        num("samples"),
        num("on_cpu_ns") as f64 * 100.0 / num("wall_ns").max(1) as f64,
        vmm_share * 100.0,
    ))
}

/// The kvm points' time per call beyond one raw exit beside the in-process
/// sentry's latency per call for the same workload and search, and their
/// ratios, by two measures (medians over counted trials): against a guest
/// that only exits, run right before each trial ("separate"); and paired
/// with a raw exit made just before each call in the same VM ("paired").
/// Empty when no kvm point has a matching inproc point.
pub fn kvm_beyond_exit_table(points: &[Point], tsc_hz: u64) -> String {
    let mut out = String::new();
    let Some(cycles_per_ns) = cycles_per_ns(tsc_hz) else {
        return out;
    };
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
            kvm.touch_label(),
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
    use bundle::synthetic::latency_point;

    #[test]
    fn guest_share_lines_name_each_sampled_kvm_point() {
        let mut kvm = pt("kvm", Some("maxgap"), 900.0);
        kvm.extra = serde_json::json!({"guest_sampler": {
            "hz": 1000, "ticks": 2000, "samples": 500, "broken": 2,
            "share_by_samples": 0.25, "share_by_rdtsc": 0.24,
        }});
        let lines = guest_share_lines(&[pt("inproc", Some("maxgap"), 400.0), kvm]);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[1],
            "cycles:G guest share: not measured (no hardware PMU)"
        );
        assert!(lines[0].ends_with(
            "25.0% by samples (500 of 2000 ticks at 1000 Hz, 2 broken) vs 24.0% by rdtsc (inside KVM_RUN)"
        ), "{}", lines[0]);
    }

    #[test]
    fn pmu_and_vmm_shares_agree_within_a_tenth_of_the_vmm_share() {
        assert_eq!(pmu_agreement(0.25, 0.27), (true, 0.08000000000000007));
        assert!(pmu_agreement(0.25, 0.2251).0);
        assert!(!pmu_agreement(0.25, 0.2249).0);
        assert!(!pmu_agreement(0.25, 0.2751).0);
        assert!(pmu_agreement(0.0, 0.0).0);
        assert!(!pmu_agreement(0.0, 0.01).0);
    }

    #[test]
    fn the_pmu_line_says_both_shares_and_whether_they_agree() {
        let pmu = serde_json::json!({
            "event": "cycles", "samples": 2000, "guest_samples": 1000,
            "on_cpu_ns": 500, "wall_ns": 1000, "share": 0.25, "lost": 0,
        });
        let agree = pmu_share_line("exp1 kvm", 0.24, Some(&pmu));
        assert_eq!(
            agree.as_deref().unwrap_or_default(),
            "cycles:G guest share, exp1 kvm: 25.0% by the PMU (1000 of 2000 cycles samples of the vCPU thread in guest mode, on a CPU 50% of the time) vs 24.0% by the VMM sampler: agree (within 10%)"
        );
        let differ = pmu_share_line("exp1 kvm", 0.20, Some(&pmu)).unwrap_or_default();
        assert!(
            differ.ends_with("vs 20.0% by the VMM sampler: differ by +25%"),
            "{differ}"
        );
        assert_eq!(
            pmu_share_line("exp1 kvm", 0.2, Some(&serde_json::Value::Null)),
            None
        );
    }

    fn pt(platform: &str, search: Option<&str>, median: f64) -> Point {
        latency_point(platform, search, 1000, median)
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
    fn cycle_table_shows_the_share_of_mmap_like_the_report() {
        let site = |calls, total| bundle::SiteStats {
            calls,
            median_cycles: 10.0,
            total_cycles: total,
            ..bundle::SiteStats::default()
        };
        let mut p = pt("inproc", Some("maxgap"), 1000.0);
        p.sites.insert("mmap".into(), site(10, 4000.0));
        p.sites.insert("map_as".into(), site(10, 1000.0));
        p.sites.insert("fault".into(), site(5, 1000.0));
        p.sites.insert("get_pmas".into(), site(0, 0.0));
        let t = cycle_table(&p);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(lines[0].ends_with("% path"), "{t}");
        assert!(
            lines[1].contains("mmap") && lines[1].ends_with("100.0%"),
            "{t}"
        );
        assert!(
            lines[2].contains("map_as") && lines[2].ends_with("25.0%"),
            "{t}"
        );
        assert!(lines[3].contains("fault") && lines[3].ends_with('-'), "{t}");
        assert!(cycle_table(&pt("native", None, 1.0)).is_empty());
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
