//! `sentryprof compare A B` on two loaded bundles: the checks that make a
//! comparison meaningful (points on both sides, at least one match) and
//! its text form (header, table, unmatched points, verdict counts).

use std::fmt::Write as _;
use std::path::Path;

use bundle::LoadedBundle;

use crate::compare::{compare_runs, comparison_table, Comparison, Verdict};
use crate::{RenderError, Result};

/// Compare `b` with the baseline `a`; a significant slowdown beyond
/// `threshold_pct` is a regression.
///
/// Errors: a bundle without measured points, or no point of one matching
/// a point of the other.
pub fn compare_bundles(
    a: &LoadedBundle,
    b: &LoadedBundle,
    threshold_pct: f64,
) -> Result<Comparison> {
    for side in [a, b] {
        if side.run.points.is_empty() {
            return Err(RenderError::Missing {
                path: side.dir.join("run.json"),
                what: "no measured points to compare".to_string(),
            });
        }
    }
    let c = compare_runs(&a.run, &b.run, threshold_pct);
    if c.rows.is_empty() {
        return Err(RenderError::InvalidOption(format!(
            "{} and {}: no point of one matches a point of the other",
            a.dir.display(),
            b.dir.display()
        )));
    }
    Ok(c)
}

/// The comparison as `sentryprof compare` prints it, `a` and `b` naming
/// the bundles.
pub fn comparison_text(c: &Comparison, a: &Path, b: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A: {}\nB: {}", a.display(), b.display());
    let _ = writeln!(
        out,
        "{}; regression: significant slowdown > {}%",
        c.method, c.threshold_pct
    );
    out.push_str(&comparison_table(c).to_text());
    for u in &c.unmatched {
        let _ = writeln!(out, "unmatched: {u}");
    }
    let count = |v: Verdict| c.rows.iter().filter(|r| r.verdict == v).count();
    let regressions = c.rows.iter().filter(|r| r.regression).count();
    let _ = writeln!(
        out,
        "verdict: {} compared, {} faster, {} slower, {regressions} regression(s)",
        c.rows.len(),
        count(Verdict::Faster),
        count(Verdict::Slower)
    );
    out
}
