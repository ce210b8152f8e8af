//! Guest, exit and sentry time side by side (`g`, issue 13): a box under
//! the flame view's info lines (the selected path) and under the cycle
//! table (the selected point). The figures are
//! `flamegraph::boundary_split`'s, the same as `sentryprof report`'s table.

use flamegraph::boundary_split::{pct, CallSplit, SideWeights};
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use crate::flame::{path_split, NodeId};
use crate::model::BundleModel;

/// Colours of the sides (guest as the guest's frames, the host kernel as
/// the kernel's; exit yellow, sentry red).
const GUEST: Color = Color::Rgb(90, 170, 240);
const EXIT: Color = Color::Rgb(230, 200, 60);
const SENTRY: Color = Color::Rgb(230, 90, 60);
const KERNEL: Color = Color::Rgb(80, 200, 130);

/// Title of the box.
const TITLE: &str = " guest / exit / sentry (g hides) ";

/// The one line shown for a bundle without guest data.
pub const NO_GUEST_DATA: &str = "no guest data in this bundle: no sampled stack starts at [guest] or [stub] (kvm: sentryprof run --platform kvm --collect probes,perf,guest,boundary)";

/// Rows the box takes for `lines` lines of text.
pub fn height(lines: &[Line]) -> u16 {
    lines.len() as u16 + 2
}

/// Draw `lines` in the box.
pub fn draw(frame: &mut Frame, area: Rect, lines: Vec<Line<'static>>) {
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(TITLE)),
        area,
    );
}

/// The lines for the flame path ending at `node`, `width` columns wide.
pub fn path_lines(model: &BundleModel, node: NodeId, width: u16) -> Vec<Line<'static>> {
    if model.crossing.crossing() == 0 {
        return vec![Line::from(NO_GUEST_DATA)];
    }
    let w = path_split(&model.tree, node);
    let unit = &model.functions.weight_unit;
    let mut lines = weight_lines(&w, unit, width);
    lines.insert(
        0,
        Line::from(format!(
            "samples ({unit}) through {}, all points of the bundle (one call by rdtsc: cycle table, g)",
            model.tree.name(node)
        )),
    );
    lines
}

/// The lines for point `index` of the run, `width` columns wide.
pub fn point_lines(model: &BundleModel, index: usize, width: u16) -> Vec<Line<'static>> {
    if model.crossing.crossing() == 0 {
        return vec![Line::from(NO_GUEST_DATA)];
    }
    let Some(split) = model.point_split(index) else {
        let label = model
            .run
            .points
            .get(index)
            .map_or_else(|| "no point".to_string(), |p| p.label());
        return vec![Line::from(format!(
            "no guest data for {label}: none of its sampled stacks starts at [guest] or [stub] ([ ] p: another point)"
        ))];
    };
    let unit = &model.functions.weight_unit;
    let mut lines = vec![Line::from(format!("samples ({unit}) of {}", split.point))];
    lines.extend(weight_lines(&split.samples, unit, width));
    lines.push(match &split.call {
        Some(c) => call_line(c),
        None => Line::from(
            "one call by rdtsc: not recorded for this point (no call time or no mmap probe)",
        ),
    });
    lines
}

/// `1.23G`, `45.6M`, `7.8k`: a weight in few characters.
fn compact(w: u64) -> String {
    let v = w as f64;
    match w {
        1_000_000_000.. => format!("{:.2}G", v / 1e9),
        1_000_000.. => format!("{:.1}M", v / 1e6),
        10_000.. => format!("{:.1}k", v / 1e3),
        _ => w.to_string(),
    }
}

/// The shares line and a bar of them, or one line when nothing of the
/// path crosses the boundary.
fn weight_lines(w: &SideWeights, unit: &str, width: u16) -> Vec<Line<'static>> {
    let Some([g, e, s, k]) = w.shares() else {
        return vec![Line::from(format!(
            "no stack through this path crosses the boundary (all {} {unit} outside it)",
            compact(w.outside)
        ))];
    };
    let part = |name: &str, share: f64, weight: u64, colour: Color| {
        Span::styled(
            format!("{name} {} ({})", pct(share), compact(weight)),
            Style::default().fg(colour),
        )
    };
    let sep = || Span::raw("  │  ");
    let mut shares = vec![
        part("guest", g, w.guest_counted(), GUEST),
        sep(),
        part("exit", e, w.exit, EXIT),
        sep(),
        part("sentry", s, w.sentry, SENTRY),
        Span::raw(" of which "),
        part("host kernel", k, w.sentry_kernel, KERNEL),
    ];
    if w.outside > 0 {
        shares.push(Span::raw(format!(
            "  · {} outside the boundary",
            compact(w.outside)
        )));
    }
    vec![
        Line::from(shares),
        bar(g, e, s - k, k, width),
        Line::from(w.guest_source()),
    ]
}

/// One row of blocks, each side as wide as its share.
fn bar(g: f64, e: f64, s: f64, k: f64, width: u16) -> Line<'static> {
    let cols = f64::from(width.saturating_sub(2));
    let mut spans = Vec::new();
    let mut used = 0.0;
    let mut at = 0usize;
    for (share, colour) in [(g, GUEST), (e, EXIT), (s, SENTRY), (k, KERNEL)] {
        used += share * cols;
        let end = used.round() as usize;
        if end > at {
            spans.push(Span::styled(
                "█".repeat(end - at),
                Style::default().fg(colour),
            ));
            at = end;
        }
    }
    Line::from(spans)
}

/// One call by rdtsc: the call, its exit, the sentry's mmap probe and the
/// rest, as cycles and shares of the call.
fn call_line(c: &CallSplit) -> Line<'static> {
    let [e, s, r] = c.shares();
    let exit = match c.exit {
        Some(x) => format!("exit {} ({x:.0})", pct(e)),
        None => "exit - (not measured)".to_string(),
    };
    Line::from(vec![
        Span::raw(format!("one call by rdtsc: {:.0} cycles = ", c.call)),
        Span::styled(exit, Style::default().fg(EXIT)),
        Span::raw("  │  "),
        Span::styled(
            format!("sentry (mmap probe) {} ({:.0})", pct(s), c.sentry),
            Style::default().fg(SENTRY),
        ),
        Span::raw("  │  "),
        Span::styled(
            format!("rest {} ({:.0})", pct(r), c.rest),
            Style::default().fg(GUEST),
        ),
    ])
}
