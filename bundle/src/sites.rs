//! Per-site rows from the rdtsc probes, the one computation behind every
//! per-site table (the report, the TUI's cycle tables, the tables
//! `sentryprof run` prints): calls, median, p90, p99, max cycles of each
//! site of each point, and its share of the mmap path.
//!
//! The share has one meaning everywhere: the site's total cycles over the
//! total cycles of the `mmap` site of the same point. `fault` runs outside
//! mmap and has no share.

use serde::Serialize;

use crate::schema::{Point, RunJson, SiteStats, ALL_SITES, SITE_FAULT, SITE_MMAP};

/// Column titles of a per-site table, share column aside (each renderer
/// names that one in its own words).
pub const SITE_COLUMNS: [&str; 6] = [
    "site",
    "calls",
    "median cyc",
    "p90 cyc",
    "p99 cyc",
    "max cyc",
];

/// One site of one point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteRow {
    /// Index of the point in `run.json`'s `points`.
    pub point_index: usize,
    /// [`Point::label`] of the point.
    pub point_label: String,
    /// Probe site (`mmap`, `create_vma`, ...).
    pub site: String,
    pub calls: u64,
    pub median_cycles: f64,
    pub p90_cycles: f64,
    pub p99_cycles: f64,
    pub max_cycles: f64,
    /// Total cycles of the site divided by the total cycles of `mmap` in
    /// the same point (None for `fault`, which runs outside mmap, and when
    /// the mmap total is unknown).
    pub share_of_mmap: Option<f64>,
}

impl SiteRow {
    /// The share of mmap as a percentage with `decimals` decimals
    /// ("7.0%"), or "-" when there is none.
    pub fn share_text(&self, decimals: usize) -> String {
        match self.share_of_mmap {
            Some(s) => format!("{:.*}%", decimals, s * 100.0),
            None => "-".to_string(),
        }
    }
}

/// Total cycles of a site: the recorded total, else mean x calls, else
/// median x calls.
pub fn site_total_cycles(s: &SiteStats) -> f64 {
    if s.total_cycles > 0.0 {
        s.total_cycles
    } else if s.mean_cycles > 0.0 {
        s.mean_cycles * s.calls as f64
    } else {
        s.median_cycles * s.calls as f64
    }
}

/// Sites of a point in path order (known sites first, then any others by name).
pub fn ordered_sites(point: &Point) -> Vec<(&str, &SiteStats)> {
    let mut out: Vec<(&str, &SiteStats)> = ALL_SITES
        .iter()
        .filter_map(|s| point.sites.get(*s).map(|st| (*s, st)))
        .collect();
    for (name, st) in &point.sites {
        if !ALL_SITES.contains(&name.as_str()) {
            out.push((name.as_str(), st));
        }
    }
    out
}

/// Rows of every site of one point, in path order; `index` is the point's
/// place in `run.json`'s `points`.
pub fn point_site_rows(index: usize, p: &Point) -> Vec<SiteRow> {
    let mmap_total = p.sites.get(SITE_MMAP).map(site_total_cycles).unwrap_or(0.0);
    let label = p.label();
    ordered_sites(p)
        .into_iter()
        .map(|(name, s)| SiteRow {
            point_index: index,
            point_label: label.clone(),
            site: name.to_string(),
            calls: s.calls,
            median_cycles: s.median_cycles,
            p90_cycles: s.p90_cycles,
            p99_cycles: s.p99_cycles,
            max_cycles: s.max_cycles,
            share_of_mmap: if name == SITE_FAULT || mmap_total <= 0.0 {
                None
            } else {
                Some(site_total_cycles(s) / mmap_total)
            },
        })
        .collect()
}

/// Rows of every site of every point, points in bundle order.
pub fn site_rows(run: &RunJson) -> Vec<SiteRow> {
    run.points
        .iter()
        .enumerate()
        .flat_map(|(i, p)| point_site_rows(i, p))
        .collect()
}

/// One line saying the probe cost and whether it was subtracted.
pub fn probe_cost_note(run: &RunJson) -> String {
    if !run.probes_enabled && run.points.iter().all(|p| p.sites.is_empty()) {
        return "rdtsc probes were off in this run: no per-site figures".to_string();
    }
    let verb = if run.probe_overhead_subtracted {
        "subtracted from"
    } else {
        "NOT subtracted from"
    };
    format!(
        "probe cost {:.1} cycles per probe pair, {verb} the site figures",
        run.probe_overhead_cycles
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stats(calls: u64, median: f64, total: f64) -> SiteStats {
        SiteStats {
            calls,
            median_cycles: median,
            p90_cycles: median * 1.2,
            p99_cycles: median * 1.5,
            max_cycles: median * 3.0,
            total_cycles: total,
            ..SiteStats::default()
        }
    }

    #[test]
    fn shares_of_mmap_and_order() {
        let mut sites = BTreeMap::new();
        sites.insert("map_as".to_string(), stats(10, 100.0, 1000.0));
        sites.insert("mmap".to_string(), stats(10, 500.0, 5000.0));
        sites.insert("fault".to_string(), stats(3, 50.0, 150.0));
        sites.insert("create_vma".to_string(), stats(10, 250.0, 2500.0));
        let mut run = RunJson::default();
        run.points.push(Point {
            platform: "inproc".into(),
            sites,
            ..Point::default()
        });
        let rows = site_rows(&run);
        let names: Vec<_> = rows.iter().map(|r| r.site.as_str()).collect();
        assert_eq!(names, ["mmap", "create_vma", "map_as", "fault"]);
        assert_eq!(rows[0].share_of_mmap, Some(1.0));
        assert_eq!(rows[1].share_of_mmap, Some(0.5));
        assert_eq!(rows[3].share_of_mmap, None);
        assert_eq!(rows[1].share_text(1), "50.0%");
        assert_eq!(rows[1].share_text(2), "50.00%");
        assert_eq!(rows[3].share_text(1), "-");
    }

    #[test]
    fn note_says_subtracted_or_not() {
        let mut run = RunJson {
            probes_enabled: true,
            probe_overhead_cycles: 36.0,
            ..RunJson::default()
        };
        assert!(probe_cost_note(&run).contains("NOT subtracted"));
        run.probe_overhead_subtracted = true;
        assert!(probe_cost_note(&run).contains("36.0 cycles per probe pair, subtracted"));
    }
}
