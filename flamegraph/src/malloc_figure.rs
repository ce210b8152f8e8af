//! The study's Figure 1: malloc throughput (operations per second) by
//! platform, touch and no-touch, from a bundle's malloc points
//! (`sentryprof run --workload malloc`). A malloc point's latency is the
//! time per `malloc` call (each trial's mean per call; the point keeps the
//! median over trials), so its throughput is `1e9 / median ns per call`.

use bundle::RunJson;
use serde::Serialize;

use crate::charts::{LineChart, LineSeries};
use crate::platform_order::{ordered_labels, platform_key};
use crate::table::Table;

/// Workload name of the malloc points.
pub const MALLOC_WORKLOAD: &str = "malloc";

/// One malloc point: throughput of one platform at one size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MallocRow {
    /// Platform label ("native", "systrap/maxgap").
    pub platform: String,
    pub touch: bool,
    /// Bytes per malloc call.
    pub size: u64,
    /// malloc calls per trial.
    pub iterations: u64,
    /// Median ns per call over the counted trials.
    pub ns_per_call: f64,
    /// `1e9 / ns_per_call`.
    pub ops_per_sec: f64,
}

/// Every malloc point with a latency, ordered by touch (no-touch first),
/// size, platform (native, ptrace, systrap, inproc, kvm, others).
pub fn malloc_rows(run: &RunJson) -> Vec<MallocRow> {
    let mut rows: Vec<MallocRow> = run
        .points
        .iter()
        .filter(|p| p.workload == MALLOC_WORKLOAD && p.latency_ns.median > 0.0)
        .map(|p| MallocRow {
            platform: p.platform_label(),
            touch: p.touch,
            size: p.size,
            iterations: p.iterations,
            ns_per_call: p.latency_ns.median,
            ops_per_sec: 1e9 / p.latency_ns.median,
        })
        .collect();
    rows.sort_by(|a, b| {
        (a.touch, a.size, platform_key(&a.platform), a.iterations).cmp(&(
            b.touch,
            b.size,
            platform_key(&b.platform),
            b.iterations,
        ))
    });
    rows
}

/// The note for a bundle whose malloc points lack touch or no-touch, or
/// None when both are there (or there are no malloc points).
pub fn missing_touch_note(rows: &[MallocRow]) -> Option<String> {
    let touch = rows.iter().any(|r| r.touch);
    let notouch = rows.iter().any(|r| !r.touch);
    let missing = match (notouch, touch) {
        (true, false) => "touch",
        (false, true) => "notouch",
        _ => return None,
    };
    Some(format!(
        "Figure 1: this bundle has no {missing} malloc points (run with --touch-modes touch,notouch for both)"
    ))
}

fn mode(touch: bool) -> &'static str {
    if touch {
        "touch"
    } else {
        "notouch"
    }
}

/// Figure 1 as a table: one row per touch mode and size, one column of
/// operations per second per platform.
pub fn malloc_table(rows: &[MallocRow]) -> Table {
    let cols = ordered_labels(rows.iter().map(|r| r.platform.clone()));
    let mut t = Table::new(
        ["touch".to_string(), "size".to_string(), "calls".to_string()]
            .into_iter()
            .chain(cols.iter().map(|c| format!("{c} ops/s"))),
    );
    let mut keys: Vec<(bool, u64, u64)> = rows
        .iter()
        .map(|r| (r.touch, r.size, r.iterations))
        .collect();
    keys.sort();
    keys.dedup();
    for (touch, size, it) in keys {
        let mut row = vec![mode(touch).to_string(), size.to_string(), it.to_string()];
        for c in &cols {
            let v = rows
                .iter()
                .find(|r| (r.touch, r.size, r.iterations) == (touch, size, it) && &r.platform == c);
            row.push(v.map_or("-".into(), |r| format!("{:.0}", r.ops_per_sec)));
        }
        t.push(row);
    }
    t
}

/// Figure 1 as a line chart: ops/s against malloc size, one colour per
/// platform, no-touch solid and touch dashed. None without malloc points.
pub fn malloc_chart(rows: &[MallocRow]) -> Option<(String, LineChart)> {
    if rows.is_empty() {
        return None;
    }
    let cols = ordered_labels(rows.iter().map(|r| r.platform.clone()));
    let mut series = Vec::new();
    for (i, c) in cols.iter().enumerate() {
        for touch in [false, true] {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| &r.platform == c && r.touch == touch)
                .map(|r| (r.size as f64, r.ops_per_sec))
                .collect();
            if points.is_empty() {
                continue;
            }
            series.push(LineSeries {
                name: format!("{c} {}", mode(touch)),
                points,
                color: Some(i),
                dashed: touch,
            });
        }
    }
    let missing = missing_touch_note(rows)
        .map(|_| {
            if rows.iter().any(|r| r.touch) {
                " (touch only)"
            } else {
                " (no-touch only)"
            }
        })
        .unwrap_or("");
    Some((
        "malloc_throughput".to_string(),
        LineChart {
            title: format!("Figure 1: malloc throughput by platform, nofree{missing}"),
            x_label: "malloc size (bytes)".into(),
            y_label: "malloc calls per second (ops/s)".into(),
            series,
            markers: true,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::{LatencyStats, Point};

    fn pt(platform: &str, search: Option<&str>, touch: bool, size: u64, ns: f64) -> Point {
        Point {
            workload: MALLOC_WORKLOAD.into(),
            platform: platform.into(),
            search: search.map(String::from),
            mapping: "anon".into(),
            touch,
            iterations: 25_000,
            size,
            latency_ns: LatencyStats {
                median: ns,
                ..LatencyStats::default()
            },
            ..Point::default()
        }
    }

    #[test]
    fn table_values_are_ops_per_second_in_platform_order() {
        let run = RunJson {
            points: vec![
                pt("kvm", Some("maxgap"), false, 4096, 2_000.0),
                pt("native", None, false, 4096, 50.0),
                pt("systrap", Some("maxgap"), false, 4096, 400.0),
                pt("native", None, true, 4096, 1_000.0),
                pt("native", None, false, 1 << 20, 8_000.0),
            ],
            ..RunJson::default()
        };
        let rows = malloc_rows(&run);
        let t = malloc_table(&rows);
        assert_eq!(
            t.headers,
            [
                "touch",
                "size",
                "calls",
                "native ops/s",
                "systrap/maxgap ops/s",
                "kvm/maxgap ops/s"
            ]
        );
        assert_eq!(
            t.rows[0],
            ["notouch", "4096", "25000", "20000000", "2500000", "500000"]
        );
        assert_eq!(
            t.rows[1],
            ["notouch", "1048576", "25000", "125000", "-", "-"]
        );
        assert_eq!(t.rows[2], ["touch", "4096", "25000", "1000000", "-", "-"]);
        assert_eq!(missing_touch_note(&rows), None);
        let (_, chart) = malloc_chart(&rows).unwrap();
        let names: Vec<&str> = chart.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "native notouch",
                "native touch",
                "systrap/maxgap notouch",
                "kvm/maxgap notouch"
            ]
        );
    }

    #[test]
    fn a_missing_touch_mode_is_named() {
        let run = RunJson {
            points: vec![pt("native", None, false, 4096, 50.0)],
            ..RunJson::default()
        };
        let rows = malloc_rows(&run);
        assert!(missing_touch_note(&rows)
            .unwrap()
            .contains("no touch malloc points"));
        let (_, chart) = malloc_chart(&rows).unwrap();
        assert!(chart.title.ends_with("(no-touch only)"));
        assert!(malloc_chart(&[]).is_none());
    }
}
