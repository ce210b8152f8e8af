//! Per-function cycle table from folded stacks: self and total weight of
//! each function, their share of the whole profile, and samples.
//!
//! "Self" is the weight of stacks whose leaf is the function; "total" the
//! weight of stacks that hold the function anywhere (counted once per stack,
//! so recursion does not count twice).

use std::collections::HashMap;

use bundle::folded::FoldedStacks;
use bundle::ProfileInfo;
use serde::Serialize;

/// One function of a [`FunctionTable`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionRow {
    /// Frame name as in the folded stacks (suffix `_[g]` guest, `_[k]` kernel).
    pub name: String,
    /// Weight of stacks ending in this function.
    pub self_weight: u64,
    /// Weight of stacks holding this function.
    pub total_weight: u64,
    /// `self_weight / table total`, 0..=1.
    pub self_share: f64,
    /// `total_weight / table total`, 0..=1.
    pub total_share: f64,
    /// Samples ending in this function (estimated from the weight when the
    /// weights are periods, see [`FunctionTable::weight_unit`]).
    pub self_samples: u64,
    /// Samples holding this function.
    pub total_samples: u64,
}

/// The per-function table of one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionTable {
    /// What a weight counts: "samples" or the event (e.g. "cycles").
    pub weight_unit: String,
    /// Whether the samples columns are exact (weights are sample counts) or
    /// estimated as `weight * samples / total_weight` of the profile.
    pub samples_exact: bool,
    /// Sum of all weights of the profile.
    pub total_weight: u64,
    /// Rows sorted by self weight, then total weight (both descending), then name.
    pub rows: Vec<FunctionRow>,
}

/// How weights relate to samples: `(unit, samples per weight unit, exact)`.
pub(crate) fn weight_meaning(profile: Option<&ProfileInfo>) -> (String, f64, bool) {
    match profile {
        Some(p) if p.total_weight > 0 && p.samples > 0 && p.total_weight != p.samples => {
            let unit = p.event.split(':').next().unwrap_or("weight").to_string();
            let unit = if unit.is_empty() {
                "weight".into()
            } else {
                unit
            };
            (unit, p.samples as f64 / p.total_weight as f64, false)
        }
        _ => ("samples".to_string(), 1.0, true),
    }
}

/// Build the per-function table of `stacks`. `profile`, when given, says
/// whether the weights are periods (cycles) or sample counts.
///
/// Postconditions: every row has `self_weight <= total_weight <= total`;
/// the self weights sum to the total weight of `stacks`.
pub fn function_table(stacks: &FoldedStacks, profile: Option<&ProfileInfo>) -> FunctionTable {
    let (unit, samples_per_weight, exact) = weight_meaning(profile);
    let mut acc: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut seen: Vec<&str> = Vec::with_capacity(64);
    for (stack, weight) in stacks.iter() {
        seen.clear();
        let mut leaf = "";
        for frame in stack.split(';') {
            leaf = frame;
            if !seen.contains(&frame) {
                seen.push(frame);
                acc.entry(frame).or_insert((0, 0)).1 += weight;
            }
        }
        acc.entry(leaf).or_insert((0, 0)).0 += weight;
    }
    let total = stacks.total_weight();
    let share = |w: u64| {
        if total == 0 {
            0.0
        } else {
            w as f64 / total as f64
        }
    };
    let samples = |w: u64| (w as f64 * samples_per_weight).round() as u64;
    let mut rows: Vec<FunctionRow> = acc
        .into_iter()
        .map(|(name, (s, t))| FunctionRow {
            name: name.to_string(),
            self_weight: s,
            total_weight: t,
            self_share: share(s),
            total_share: share(t),
            self_samples: samples(s),
            total_samples: samples(t),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.self_weight
            .cmp(&a.self_weight)
            .then(b.total_weight.cmp(&a.total_weight))
            .then(a.name.cmp(&b.name))
    });
    FunctionTable {
        weight_unit: unit,
        samples_exact: exact,
        total_weight: total,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_and_total_and_recursion() {
        let f = FoldedStacks::parse("main;a;b 30\nmain;a 10\nmain;c;c 60\n", "t").unwrap();
        let t = function_table(&f, None);
        assert_eq!(t.total_weight, 100);
        let row = |n: &str| t.rows.iter().find(|r| r.name == n).unwrap().clone();
        assert_eq!(row("main").total_weight, 100);
        assert_eq!(row("main").self_weight, 0);
        assert_eq!(row("a").total_weight, 40);
        assert_eq!(row("a").self_weight, 10);
        // Recursive c counted once per stack.
        assert_eq!(row("c").total_weight, 60);
        assert_eq!(row("c").self_weight, 60);
        assert_eq!(t.rows[0].name, "c");
        let self_sum: u64 = t.rows.iter().map(|r| r.self_weight).sum();
        assert_eq!(self_sum, 100);
        assert!((row("b").self_share - 0.3).abs() < 1e-12);
        assert!(t.samples_exact);
    }

    #[test]
    fn weights_as_periods_estimate_samples() {
        let f = FoldedStacks::parse("main;a 3000\nmain;b 1000\n", "t").unwrap();
        let p = ProfileInfo {
            event: "cycles:HG".into(),
            folded: "stacks.folded".into(),
            samples: 4,
            total_weight: 4000,
            ..ProfileInfo::default()
        };
        let t = function_table(&f, Some(&p));
        assert_eq!(t.weight_unit, "cycles");
        assert!(!t.samples_exact);
        assert_eq!(t.rows[0].self_samples, 3);
    }
}
