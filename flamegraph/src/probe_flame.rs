//! Flame stacks built from the rdtsc probes alone (exact cycles per site), so
//! a bundle without perf samples still gets a flamegraph.
//!
//! The nesting is the mmap path of DESIGN.md:
//! `mmap > create_vma > find_available`, `mmap > get_pmas`, `mmap > map_as`,
//! and `fault > get_pmas`, `fault > map_as`. A site's self cycles are its
//! total minus its children's totals (never below zero).
//!
//! The probes record totals per site, not per caller, so when a point has
//! faults *and* `get_pmas`/`map_as` totals larger than what mmap has left
//! after `create_vma`, the excess is attributed to `fault` (proportionally
//! between `get_pmas` and `map_as`). Without faults, all of `get_pmas` and
//! `map_as` sits under mmap.

use bundle::folded::FoldedStacks;
use bundle::{
    Point, RunJson, SITE_CREATE_VMA, SITE_FAULT, SITE_FIND_AVAILABLE, SITE_GET_PMAS, SITE_MAP_AS,
    SITE_MMAP,
};

use bundle::sites::site_total_cycles;

fn total(point: &Point, site: &str) -> f64 {
    point.sites.get(site).map(site_total_cycles).unwrap_or(0.0)
}

fn add(out: &mut FoldedStacks, prefix: &[&str], frames: &[&str], cycles: f64) {
    if cycles.is_finite() && cycles >= 0.5 {
        let all: Vec<&str> = prefix.iter().chain(frames.iter()).copied().collect();
        out.add_frames(&all, cycles.round() as u64);
    }
}

/// Probe stacks of one point, each stack starting with `prefix` frames.
/// Weights are TSC cycles summed over all counted calls.
pub fn probe_folded_with_prefix(point: &Point, prefix: &[&str]) -> FoldedStacks {
    let mut out = FoldedStacks::new();
    let mmap = total(point, SITE_MMAP);
    let cv = total(point, SITE_CREATE_VMA);
    let fa = total(point, SITE_FIND_AVAILABLE);
    let gp = total(point, SITE_GET_PMAS);
    let ma = total(point, SITE_MAP_AS);
    let fault = total(point, SITE_FAULT);

    let budget = (mmap - cv).max(0.0);
    let gm = gp + ma;
    let under_mmap = if fault <= 0.0 || gm <= budget || gm <= 0.0 {
        1.0
    } else {
        budget / gm
    };
    let under_fault = 1.0 - under_mmap;

    add(
        &mut out,
        prefix,
        &[SITE_MMAP],
        (budget - under_mmap * gm).max(0.0),
    );
    add(
        &mut out,
        prefix,
        &[SITE_MMAP, SITE_CREATE_VMA],
        (cv - fa).max(0.0),
    );
    add(
        &mut out,
        prefix,
        &[SITE_MMAP, SITE_CREATE_VMA, SITE_FIND_AVAILABLE],
        fa,
    );
    add(
        &mut out,
        prefix,
        &[SITE_MMAP, SITE_GET_PMAS],
        gp * under_mmap,
    );
    add(&mut out, prefix, &[SITE_MMAP, SITE_MAP_AS], ma * under_mmap);
    add(
        &mut out,
        prefix,
        &[SITE_FAULT],
        (fault - under_fault * gm).max(0.0),
    );
    add(
        &mut out,
        prefix,
        &[SITE_FAULT, SITE_GET_PMAS],
        gp * under_fault,
    );
    add(
        &mut out,
        prefix,
        &[SITE_FAULT, SITE_MAP_AS],
        ma * under_fault,
    );
    out
}

/// Probe stacks of one point, rooted at `mmap` / `fault`.
pub fn probe_folded(point: &Point) -> FoldedStacks {
    probe_folded_with_prefix(point, &[])
}

/// Probe stacks of every point of a run, each under a root frame naming the
/// point ([`Point::label`]). Empty when no point has probe figures.
pub fn probe_folded_run(run: &RunJson) -> FoldedStacks {
    let mut out = FoldedStacks::new();
    for p in &run.points {
        let label = p.label();
        out.merge(&probe_folded_with_prefix(p, &[label.as_str()]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bundle::SiteStats;

    fn site(total: f64) -> SiteStats {
        SiteStats {
            calls: 10,
            total_cycles: total,
            ..SiteStats::default()
        }
    }

    #[test]
    fn self_cycles_are_totals_minus_children() {
        let mut p = Point::default();
        for (s, t) in [
            (SITE_MMAP, 10_000.0),
            (SITE_CREATE_VMA, 6_000.0),
            (SITE_FIND_AVAILABLE, 5_000.0),
            (SITE_GET_PMAS, 1_500.0),
            (SITE_MAP_AS, 2_000.0),
        ] {
            p.sites.insert(s.to_string(), site(t));
        }
        let f = probe_folded(&p);
        assert_eq!(
            f.to_text(),
            "mmap 500\nmmap;create_vma 1000\nmmap;create_vma;find_available 5000\n\
             mmap;get_pmas 1500\nmmap;map_as 2000\n"
        );
        assert_eq!(f.total_weight(), 10_000);
    }

    #[test]
    fn excess_page_work_goes_under_fault() {
        let mut p = Point::default();
        for (s, t) in [
            (SITE_MMAP, 4_000.0),
            (SITE_CREATE_VMA, 3_000.0),
            (SITE_GET_PMAS, 2_000.0),
            (SITE_MAP_AS, 2_000.0),
            (SITE_FAULT, 5_000.0),
        ] {
            p.sites.insert(s.to_string(), site(t));
        }
        let f = probe_folded(&p);
        // mmap has 1000 left after create_vma: a quarter of get_pmas+map_as.
        assert_eq!(f.total_weight(), 9_000);
        let text = f.to_text();
        assert!(text.contains("mmap;get_pmas 500\n"), "{text}");
        assert!(text.contains("fault;map_as 1500\n"), "{text}");
        assert!(text.contains("fault 2000\n"), "{text}");
    }

    #[test]
    fn run_roots_are_point_labels() {
        let mut run = RunJson::default();
        let mut p = Point {
            workload: "exp1".into(),
            platform: "inproc".into(),
            search: Some("linear".into()),
            mapping: "private".into(),
            iterations: 100,
            size: 4096,
            ..Point::default()
        };
        p.sites.insert(SITE_MMAP.into(), site(100.0));
        run.points.push(p);
        run.points.push(Point::default());
        let f = probe_folded_run(&run);
        assert_eq!(
            f.to_text(),
            "exp1 inproc/linear private 4096B x100 notouch;mmap 100\n"
        );
    }
}
