//! The study's Figure 9 as data: the cost per call of create_vma, get_pmas
//! and map_as against mapping size, with the mean (what the study plotted:
//! periodic costs such as memory-file growth show in it) and the median
//! beside it. Means come from [`bundle::stats::site_mean`]: as recorded, or
//! `total_cycles / calls` for older bundles.

use std::collections::BTreeMap;

use bundle::stats::site_mean;
use bundle::{Point, RunJson, SITE_CREATE_VMA, SITE_GET_PMAS, SITE_MAP_AS};
use serde::Serialize;

use crate::table::Table;

/// The sites of Figure 9, in the order they are drawn.
pub const FIGURE9_SITES: [&str; 3] = [SITE_CREATE_VMA, SITE_GET_PMAS, SITE_MAP_AS];

/// One site at one size of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCostRow {
    /// "exp2 kvm/maxgap anon notouch x25000".
    pub config: String,
    pub site: String,
    /// Bytes per mapping.
    pub size: u64,
    pub calls: u64,
    /// Mean cycles per call, when it can be had.
    pub mean_cycles: Option<f64>,
    /// "recorded" or "total/calls" (see [`bundle::stats::MeanSource`]).
    pub mean_from: Option<String>,
    pub median_cycles: f64,
}

/// Points of one configuration (workload, platform label, mapping, touch,
/// iterations) measured at two or more sizes with Figure 9's probe sites.
#[derive(Debug, Clone)]
pub struct SiteCostGroup<'a> {
    pub workload: String,
    pub platform: String,
    pub mapping: String,
    pub touch: bool,
    pub iterations: u64,
    pub points: Vec<&'a Point>,
}

impl SiteCostGroup<'_> {
    /// The group's name in tables.
    pub fn config(&self) -> String {
        format!(
            "{} {} {} {} x{}",
            self.workload,
            self.platform,
            self.mapping,
            if self.touch { "touch" } else { "notouch" },
            self.iterations
        )
    }

    /// `(size, median, mean)` of `site` at each point that recorded it.
    pub fn site_points(&self, site: &str) -> Vec<(u64, f64, Option<f64>)> {
        self.points
            .iter()
            .filter_map(|p| {
                p.sites
                    .get(site)
                    .filter(|s| s.calls > 0)
                    .map(|s| (p.size, s.median_cycles, site_mean(s).map(|m| m.0)))
            })
            .collect()
    }
}

/// The configurations Figure 9 is drawn for, in a stable order (workload,
/// platform label, mapping, touch, iterations).
pub fn site_cost_groups(run: &RunJson) -> Vec<SiteCostGroup<'_>> {
    let mut by: BTreeMap<(String, String, String, bool, u64), Vec<&Point>> = BTreeMap::new();
    for p in &run.points {
        by.entry((
            p.workload.clone(),
            p.platform_label(),
            p.mapping.clone(),
            p.touch,
            p.iterations,
        ))
        .or_default()
        .push(p);
    }
    by.into_iter()
        .filter(|(_, pts)| {
            let mut sizes: Vec<u64> = pts
                .iter()
                .filter(|p| {
                    FIGURE9_SITES
                        .iter()
                        .any(|s| p.sites.get(*s).is_some_and(|s| s.calls > 0))
                })
                .map(|p| p.size)
                .collect();
            sizes.sort_unstable();
            sizes.dedup();
            sizes.len() >= 2
        })
        .map(
            |((workload, platform, mapping, touch, iterations), points)| SiteCostGroup {
                workload,
                platform,
                mapping,
                touch,
                iterations,
                points,
            },
        )
        .collect()
}

/// Figure 9's rows: every group, site and size.
pub fn site_cost_rows(run: &RunJson) -> Vec<SiteCostRow> {
    let mut rows = Vec::new();
    for g in site_cost_groups(run) {
        let config = g.config();
        for site in FIGURE9_SITES {
            let mut pts: Vec<&Point> = g.points.clone();
            pts.sort_by_key(|p| p.size);
            for p in pts {
                let Some(s) = p.sites.get(site).filter(|s| s.calls > 0) else {
                    continue;
                };
                let mean = site_mean(s);
                rows.push(SiteCostRow {
                    config: config.clone(),
                    site: site.to_string(),
                    size: p.size,
                    calls: s.calls,
                    mean_cycles: mean.map(|m| m.0),
                    mean_from: mean.map(|m| m.1.name().to_string()),
                    median_cycles: s.median_cycles,
                });
            }
        }
    }
    rows
}

/// Figure 9 as a table: configuration, site, size, calls, mean, median,
/// mean/median and where the mean came from.
pub fn site_cost_table(rows: &[SiteCostRow]) -> Table {
    let mut t = Table::new([
        "configuration",
        "site",
        "size",
        "calls",
        "mean",
        "median",
        "mean/median",
        "mean from",
    ]);
    for r in rows {
        let ratio = match r.mean_cycles {
            Some(m) if r.median_cycles > 0.0 => format!("{:.2}", m / r.median_cycles),
            _ => "-".into(),
        };
        t.push(vec![
            r.config.clone(),
            r.site.clone(),
            r.size.to_string(),
            r.calls.to_string(),
            r.mean_cycles.map_or("-".into(), |m| format!("{m:.0}")),
            format!("{:.0}", r.median_cycles),
            ratio,
            r.mean_from.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::SiteStats;

    fn pt(size: u64, median: f64, mean: f64, total: f64) -> Point {
        let mut p = Point {
            workload: "exp2".into(),
            platform: "kvm".into(),
            search: Some("maxgap".into()),
            mapping: "anon".into(),
            iterations: 25_000,
            size,
            ..Point::default()
        };
        p.sites.insert(
            SITE_GET_PMAS.into(),
            SiteStats {
                calls: 100,
                median_cycles: median,
                mean_cycles: mean,
                total_cycles: total,
                ..SiteStats::default()
            },
        );
        p
    }

    #[test]
    fn mean_beside_median_and_from_totals_when_not_recorded() {
        // kvm at 1 MiB in the issue: median 552, mean 4,791.
        let mut run = RunJson {
            points: vec![
                pt(1 << 20, 552.0, 4_791.0, 479_100.0),
                pt(4096, 316.0, 0.0, 40_000.0),
            ],
            ..RunJson::default()
        };
        let rows = site_cost_rows(&run);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].size, 4096);
        assert_eq!(rows[0].mean_cycles, Some(400.0));
        assert_eq!(rows[0].mean_from.as_deref(), Some("total/calls"));
        assert_eq!(rows[1].mean_cycles, Some(4_791.0));
        assert_eq!(rows[1].median_cycles, 552.0);
        let t = site_cost_table(&rows);
        assert_eq!(
            t.rows[1],
            [
                "exp2 kvm/maxgap anon notouch x25000",
                "get_pmas",
                "1048576",
                "100",
                "4791",
                "552",
                "8.68",
                "recorded"
            ]
        );
        // One size only: no Figure 9.
        run.points.pop();
        assert!(site_cost_rows(&run).is_empty());
    }
}
