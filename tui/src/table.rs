//! The cycle table's view model: which rows are shown (filter), in which
//! order (sort), for which point; recomputed only when one of these changes.

use std::cmp::Ordering;

use bundle::sites::{SiteRow, SITE_COLUMNS};
use bundle::{Point, ALL_SITES};
use flamegraph::functions::FunctionRow;

use crate::model::BundleModel;

/// Which table is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// Per function, from the sampled (or probe) stacks.
    Functions,
    /// Per probe site of the selected point.
    Sites,
}

/// Column titles of the function table.
pub const FUNCTION_COLUMNS: [&str; 5] = ["function", "self", "self %", "total", "total %"];
/// Column titles of the site table: [`bundle::sites::SITE_COLUMNS`] and
/// the share of mmap.
pub const SITE_TABLE_COLUMNS: [&str; 7] = {
    let [site, calls, median, p90, p99, max] = SITE_COLUMNS;
    [site, calls, median, p90, p99, max, "share"]
};

/// State of the cycle table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableView {
    pub kind: TableKind,
    /// Column sorted by, per kind (index into the column titles).
    pub sort_column: usize,
    /// Largest first.
    pub descending: bool,
    /// Case-insensitive substring rows must contain (empty: all rows).
    pub filter: String,
    /// Point whose sites are shown.
    pub point: usize,
    /// Selected position in `rows`.
    pub selected: usize,
    /// Shown rows: indices into the model's function rows or site rows.
    pub rows: Vec<usize>,
}

impl Default for TableView {
    fn default() -> Self {
        TableView {
            kind: TableKind::Functions,
            sort_column: 1,
            descending: true,
            filter: String::new(),
            point: 0,
            selected: 0,
            rows: Vec::new(),
        }
    }
}

impl TableView {
    /// Number of columns of the current kind.
    pub fn columns(&self) -> &'static [&'static str] {
        match self.kind {
            TableKind::Functions => &FUNCTION_COLUMNS,
            TableKind::Sites => &SITE_TABLE_COLUMNS,
        }
    }

    /// Recompute `rows` from the model after a change of kind, sort, filter
    /// or point.
    ///
    /// Postconditions: `rows` holds exactly the rows of the current kind
    /// (and point, sites with calls only) whose name contains the filter,
    /// in sort order;
    /// `selected < rows.len()` unless `rows` is empty (then 0).
    pub fn refresh(&mut self, model: &BundleModel) {
        let needle = self.filter.to_lowercase();
        let keep = |name: &str| needle.is_empty() || name.to_lowercase().contains(&needle);
        match self.kind {
            TableKind::Functions => {
                let rows = &model.functions.rows;
                let mut idx: Vec<usize> =
                    (0..rows.len()).filter(|&i| keep(&rows[i].name)).collect();
                let col = self.sort_column.min(FUNCTION_COLUMNS.len() - 1);
                idx.sort_by(|&a, &b| {
                    let o = compare_functions(&rows[a], &rows[b], col);
                    let o = if self.descending { o.reverse() } else { o };
                    o.then(rows[a].name.cmp(&rows[b].name))
                });
                self.rows = idx;
            }
            TableKind::Sites => {
                let rows = &model.sites;
                let mut idx: Vec<usize> = (0..rows.len())
                    .filter(|&i| {
                        // A site with no calls (not on this point's path)
                        // says nothing.
                        rows[i].point_index == self.point
                            && rows[i].calls > 0
                            && keep(&rows[i].site)
                    })
                    .collect();
                let col = self.sort_column.min(SITE_TABLE_COLUMNS.len() - 1);
                idx.sort_by(|&a, &b| {
                    let o = compare_sites(&rows[a], &rows[b], col);
                    let o = if self.descending { o.reverse() } else { o };
                    o.then(a.cmp(&b))
                });
                self.rows = idx;
            }
        }
        if self.selected >= self.rows.len() {
            self.selected = self.rows.len().saturating_sub(1);
        }
    }

    /// Default sort of a kind: functions by self weight, largest first;
    /// sites in path order.
    pub fn set_kind(&mut self, kind: TableKind) {
        self.kind = kind;
        self.selected = 0;
        match kind {
            TableKind::Functions => {
                self.sort_column = 1;
                self.descending = true;
            }
            TableKind::Sites => {
                self.sort_column = 0;
                self.descending = false;
            }
        }
    }

    /// Sort by the column `step` places to the right (negative: left),
    /// wrapping; text columns ascend, number columns descend.
    pub fn shift_sort(&mut self, step: isize) {
        let n = self.columns().len() as isize;
        self.sort_column = (self.sort_column as isize + step).rem_euclid(n) as usize;
        self.descending = self.sort_column != 0;
    }
}

fn compare_functions(a: &FunctionRow, b: &FunctionRow, col: usize) -> Ordering {
    match col {
        0 => a.name.cmp(&b.name),
        1 | 2 => a.self_weight.cmp(&b.self_weight),
        _ => a.total_weight.cmp(&b.total_weight),
    }
}

/// Position of a site in the mmap path (unknown sites last).
fn path_rank(site: &str) -> usize {
    ALL_SITES
        .iter()
        .position(|s| *s == site)
        .unwrap_or(ALL_SITES.len())
}

fn compare_sites(a: &SiteRow, b: &SiteRow, col: usize) -> Ordering {
    let f = |x: f64, y: f64| x.partial_cmp(&y).unwrap_or(Ordering::Equal);
    match col {
        0 => path_rank(&a.site)
            .cmp(&path_rank(&b.site))
            .then(a.site.cmp(&b.site)),
        1 => a.calls.cmp(&b.calls),
        2 => f(a.median_cycles, b.median_cycles),
        3 => f(a.p90_cycles, b.p90_cycles),
        4 => f(a.p99_cycles, b.p99_cycles),
        5 => f(a.max_cycles, b.max_cycles),
        _ => f(
            a.share_of_mmap.unwrap_or(-1.0),
            b.share_of_mmap.unwrap_or(-1.0),
        ),
    }
}

/// Whether point `index` of `model` has a probe site with calls to show.
pub fn point_has_sites(model: &BundleModel, index: usize) -> bool {
    model
        .sites
        .iter()
        .any(|r| r.point_index == index && r.calls > 0)
}

/// Why `point` shows no site rows, in words.
pub fn no_sites_reason(point: &Point) -> String {
    if point.platform == "native" {
        "native runs the workload on the host kernel, outside the sentry: it has no probe sites"
            .to_string()
    } else if point.sites.is_empty() {
        format!(
            "{} recorded no probe sites (probes were off for this run)",
            point.platform
        )
    } else {
        "no probe site was called at this point".to_string()
    }
}

/// The first point of `model` with probe sites, if any.
pub fn first_point_with_sites(model: &BundleModel) -> Option<usize> {
    (0..model.run.points.len()).find(|&j| point_has_sites(model, j))
}

/// The parameters two points must share to be "the same point" on another
/// platform or with another search strategy.
fn same_workload(a: &Point, b: &Point) -> bool {
    a.workload == b.workload
        && a.mapping == b.mapping
        && a.touch == b.touch
        && a.iterations == b.iterations
        && a.size == b.size
}

/// The point like `points[at]` but with the other search strategy, if any.
pub fn other_strategy(points: &[Point], at: usize) -> Option<usize> {
    let cur = points.get(at)?;
    let n = points.len();
    (1..n).map(|k| (at + k) % n).find(|&j| {
        let p = &points[j];
        same_workload(p, cur) && p.platform == cur.platform && p.search != cur.search
    })
}

/// The point like `points[at]` on the next platform (in order of first
/// appearance), keeping the search strategy when that platform has it.
pub fn next_platform(points: &[Point], at: usize) -> Option<usize> {
    let cur = points.get(at)?;
    let mut platforms: Vec<&str> = Vec::new();
    for p in points {
        if !platforms.contains(&p.platform.as_str()) {
            platforms.push(&p.platform);
        }
    }
    let here = platforms.iter().position(|p| *p == cur.platform)?;
    for k in 1..platforms.len() {
        let target = platforms[(here + k) % platforms.len()];
        let candidates: Vec<usize> = (0..points.len())
            .filter(|&j| points[j].platform == target && same_workload(&points[j], cur))
            .collect();
        if let Some(&j) = candidates
            .iter()
            .find(|&&j| points[j].search == cur.search)
            .or(candidates.first())
        {
            return Some(j);
        }
    }
    None
}
