//! The gated differential flamegraph as an SVG: one root per matched
//! point, side by side at equal widths; a frame's width is the mean of its
//! shares in A and B (so a frame that vanished in B still shows); red when
//! its share grew significantly, blue when it shrank, grey otherwise. Each
//! frame's tooltip (`<title>`) gives both shares, the change and its
//! interval. Static (no script): drawn here rather than by inferno, whose
//! colours and tooltips are per function name, not per frame.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::escape::escape;
use crate::frame_diff::{FrameChange, FrameDiff, FrameVerdict, MIN_SHARE};

const WIDTH: f64 = 1200.0;
const FRAME_H: f64 = 16.0;
const TOP: f64 = 70.0;
const PAD: f64 = 10.0;
const CHAR_W: f64 = 6.6;
const GREY: &str = "rgb(200,200,200)";
const PALE_GREY: &str = "rgb(228,228,228)";

/// Fill of a frame: red (grew) or blue (shrank), deeper for larger
/// changes (full at 20 percentage points); grey when not significant,
/// paler grey when not tested.
fn fill(f: &FrameChange) -> String {
    let t = (f.change_pp.abs() / 20.0).clamp(0.0, 1.0);
    let light = (215.0 - 175.0 * t).round() as u8;
    match f.verdict {
        FrameVerdict::Grew => format!("rgb(250,{light},{light})"),
        FrameVerdict::Shrank => format!("rgb({light},{light},250)"),
        FrameVerdict::NoSignificantChange => GREY.to_string(),
        FrameVerdict::NotTested => PALE_GREY.to_string(),
    }
}

/// The tooltip of a frame.
pub fn tooltip(f: &FrameChange) -> String {
    let shares = format!(
        "{}: A {:.2}%, B {:.2}% of the point's samples; change {:+.2} pp",
        f.name(),
        f.share_a * 100.0,
        f.share_b * 100.0,
        f.change_pp
    );
    match (f.ci_low_pp, f.ci_high_pp) {
        (Some(lo), Some(hi)) => format!(
            "{shares}, 95% CI [{lo:+.2}, {hi:+.2}] pp: {}{}",
            f.verdict.text(),
            if f.regression { " (REGRESSION)" } else { "" }
        ),
        _ if f.parent.is_none() => format!("{}: the point (100% on both sides)", f.name()),
        _ => format!(
            "{shares}: not tested (under {:.1}% on both sides, or too few trials)",
            MIN_SHARE * 100.0
        ),
    }
}

/// Render the frame diff; `subtitle` says what was compared.
pub fn render_frame_diff(d: &FrameDiff, title: &str, subtitle: &str) -> String {
    let mut children: BTreeMap<Option<usize>, Vec<usize>> = BTreeMap::new();
    for (i, f) in d.frames.iter().enumerate() {
        children.entry(f.parent).or_default().push(i);
    }
    for v in children.values_mut() {
        v.sort_by(|&x, &y| d.frames[x].name().cmp(d.frames[y].name()));
    }
    let roots = children.get(&None).cloned().unwrap_or_default();
    let max_depth = d.frames.iter().map(FrameChange::depth).max().unwrap_or(0);
    let height = TOP + (max_depth as f64 + 1.0) * FRAME_H + PAD;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<?xml version="1.0" standalone="no"?><svg version="1.1" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="100%" height="100%" fill="rgb(250,250,250)"/><text x="{}" y="22" font-family="Verdana,sans-serif" font-size="16" text-anchor="middle">{}</text><text x="{}" y="40" font-family="Verdana,sans-serif" font-size="11" text-anchor="middle">{}</text><text x="{}" y="56" font-family="Verdana,sans-serif" font-size="11" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title),
        WIDTH / 2.0,
        escape(subtitle),
        WIDTH / 2.0,
        escape(&format!(
            "red: share grew, blue: shrank (95% simultaneous CI wholly beyond +/-1 pp; {} frames tested, c = {:.2}); grey: no significant change; pale: not tested; width: mean share of A and B; hover for the interval",
            d.tested, d.critical
        ))
    );
    let per_root = (WIDTH - 2.0 * PAD) / roots.len().max(1) as f64;
    // Depth-first, each frame at its parent's x plus its elder siblings'.
    let mut stack: Vec<(usize, f64)> = roots
        .iter()
        .enumerate()
        .map(|(k, &r)| (r, PAD + k as f64 * per_root))
        .collect();
    while let Some((i, x)) = stack.pop() {
        let f = &d.frames[i];
        let share = if f.parent.is_none() {
            1.0
        } else {
            (f.share_a + f.share_b) / 2.0
        };
        let w = share * per_root;
        if w < 0.1 {
            continue;
        }
        let y = height - PAD - (f.depth() as f64 + 1.0) * FRAME_H;
        let _ = write!(
            svg,
            r#"<g><title>{}</title><rect x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{:.1}" fill="{}" rx="2" ry="2"/>"#,
            escape(&tooltip(f)),
            FRAME_H - 1.0,
            fill(f)
        );
        let fits = (w / CHAR_W).floor() as usize;
        if fits >= 3 {
            let name = f.name();
            let label: String = if name.chars().count() <= fits {
                name.to_string()
            } else {
                name.chars().take(fits - 2).chain("..".chars()).collect()
            };
            let _ = write!(
                svg,
                r#"<text x="{:.2}" y="{:.1}" font-family="Verdana,sans-serif" font-size="11">{}</text>"#,
                x + 3.0,
                y + FRAME_H - 4.5,
                escape(&label)
            );
        }
        svg.push_str("</g>");
        let mut cx = x;
        for &c in children.get(&Some(i)).map(Vec::as_slice).unwrap_or(&[]) {
            let cf = &d.frames[c];
            stack.push((c, cx));
            cx += (cf.share_a + cf.share_b) / 2.0 * per_root;
        }
    }
    svg.push_str("</svg>\n");
    svg
}
