//! `sentryprof compare A B` on two loaded bundles: the checks that make a
//! comparison meaningful (options, points on both sides, at least one
//! match), the gated frame diff over the points' per-trial stacks and its
//! SVG, and the text form (header, table, unmatched points, frames,
//! verdict counts).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bundle::folded::FoldedStacks;
use bundle::{LoadedBundle, Point};

use crate::bundle_flames::{write_files, RenderedFile};
use crate::compare::{compare_runs, comparison_table, match_points, Comparison, Verdict};
use crate::frame_diff::{frame_diff, FrameVerdict, PointTrials, FRAME_METHOD};
use crate::frame_diff_svg::render_frame_diff;
use crate::table::Table;
use crate::{RenderError, Result};

/// Name of the gated differential flamegraph `compare` writes.
pub const COMPARE_FLAME: &str = "compare_flamegraph.svg";

/// `sentryprof compare` as asked for.
#[derive(Debug, Clone, Default)]
pub struct CompareRequest {
    /// Regression threshold: percent of A's median for sites and latency,
    /// percentage points of a point's samples for frames.
    pub threshold: f64,
    /// "text" or "json".
    pub format: String,
    /// Directory for the gated flame diff (default: B's directory).
    pub out: Option<PathBuf>,
}

impl CompareRequest {
    /// Errors: a negative or non-finite threshold, an unknown format.
    pub fn check(&self) -> Result<()> {
        if !self.threshold.is_finite() || self.threshold < 0.0 {
            return Err(RenderError::InvalidOption(format!(
                "--threshold {}: expected a percentage >= 0",
                self.threshold
            )));
        }
        if self.format != "text" && self.format != "json" {
            return Err(RenderError::InvalidOption(format!(
                "--format {:?}: expected text or json",
                self.format
            )));
        }
        Ok(())
    }
}

/// Compare `b` with `a` as `req` asks, write the gated flame diff when
/// both have per-trial stacks, and return the comparison with what to
/// print (text or JSON) and notes for stderr.
///
/// Errors: see [`compare_bundles`]; unreadable per-trial stacks; the SVG
/// could not be written.
pub fn run_compare(
    a: &LoadedBundle,
    b: &LoadedBundle,
    req: &CompareRequest,
) -> Result<(Comparison, String, Vec<String>)> {
    req.check()?;
    let mut c = compare_bundles(a, b, req.threshold)?;
    let out_dir = req.out.clone().unwrap_or_else(|| b.dir.clone());
    let mut notes = Vec::new();
    let trials = point_trials(a, b, &mut c)?;
    if trials.is_empty() {
        c.notes.push(format!("frame diff: not drawn: no matched point has per-trial stacks in both bundles (format 1.1 `run` with perf sampling); the un-gated diff: sentryprof flamegraph {} --diff {}", a.dir.display(), b.dir.display()));
    } else {
        let d = frame_diff(&trials, req.threshold, false);
        let subtitle = format!(
            "A {} -> B {} | {FRAME_METHOD}",
            a.dir.display(),
            b.dir.display()
        );
        let svg = render_frame_diff(
            &d,
            "sentryprof compare: gated differential flamegraph",
            &subtitle,
        );
        let file = RenderedFile {
            name: COMPARE_FLAME.to_string(),
            bytes: svg.into_bytes(),
            description: "gated differential flamegraph".to_string(),
        };
        let (paths, swept) = write_files(&out_dir, &[file])?;
        notes.extend(swept);
        c.frames = Some(d.summary(paths.first().map(|p| p.display().to_string())));
    }
    let text = if req.format == "json" {
        serde_json::to_string_pretty(&c)
            .map_err(|e| RenderError::InvalidOption(format!("comparison as JSON: {e}")))?
            + "\n"
    } else {
        comparison_text(&c, &a.dir, &b.dir)
    };
    Ok((c, text, notes))
}

/// The per-trial stacks of `p` in `b`, None when it has none.
fn trial_stacks(b: &LoadedBundle, p: &Point) -> Result<Option<Vec<FoldedStacks>>> {
    if p.trial_folded.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(p.trial_folded.len());
    for rel in &p.trial_folded {
        let text = b.read_text(rel)?;
        out.push(FoldedStacks::parse(
            &text,
            &b.shown_path(rel).display().to_string(),
        )?);
    }
    Ok(Some(out))
}

/// The matched points with per-trial stacks on both sides; a note in `c`
/// for those without.
fn point_trials(
    a: &LoadedBundle,
    b: &LoadedBundle,
    c: &mut Comparison,
) -> Result<Vec<PointTrials>> {
    let matched = match_points(&a.run, &b.run);
    let mut out = Vec::new();
    let mut without = 0;
    for (key, pa, pb) in matched.pairs {
        match (trial_stacks(a, pa)?, trial_stacks(b, pb)?) {
            (Some(ta), Some(tb)) => out.push(PointTrials { key, a: ta, b: tb }),
            _ => without += 1,
        }
    }
    if without > 0 && !out.is_empty() {
        c.notes.push(format!(
            "frame diff: {without} matched point(s) without per-trial stacks on both sides are left out"
        ));
    }
    Ok(out)
}

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
    for n in &c.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if let Some(f) = &c.frames {
        let _ = writeln!(
            out,
            "{}; regression: grew > {} pp",
            f.method, f.threshold_pp
        );
        let mut t = Table::new([
            "point", "frame", "share A", "share B", "change", "95% CI", "verdict",
        ]);
        for r in f
            .frames
            .iter()
            .filter(|r| r.verdict != FrameVerdict::NoSignificantChange)
        {
            t.push(vec![
                r.point.clone(),
                r.name().to_string(),
                format!("{:.2}%", r.share_a * 100.0),
                format!("{:.2}%", r.share_b * 100.0),
                format!("{:+.2} pp", r.change_pp),
                format!(
                    "[{:+.2}, {:+.2}] pp",
                    r.ci_low_pp.unwrap_or(f64::NAN),
                    r.ci_high_pp.unwrap_or(f64::NAN)
                ),
                if r.regression {
                    format!("{} (REGRESSION)", r.verdict.text())
                } else {
                    r.verdict.text().to_string()
                },
            ]);
        }
        if f.frames
            .iter()
            .any(|r| r.verdict != FrameVerdict::NoSignificantChange)
        {
            out.push_str(&t.to_text());
        }
        for n in &f.notes {
            let _ = writeln!(out, "note: {n}");
        }
        let count = |v: FrameVerdict| f.frames.iter().filter(|r| r.verdict == v).count();
        let _ = writeln!(
            out,
            "frames: {} tested (c = {:.2}), {} grew, {} shrank, {} regression(s); {}",
            f.tested,
            f.critical,
            count(FrameVerdict::Grew),
            count(FrameVerdict::Shrank),
            f.regressions(),
            f.svg
                .as_deref()
                .map_or("no SVG".to_string(), |p| format!("wrote {p}"))
        );
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
