//! The overview: what was run, where, with which capabilities (the doctor
//! facts and their verdicts) and the headline numbers of every point.

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use bundle::Machine;

use super::style;
use crate::charts::{bytes, duration_ns, si};
use crate::model::BundleModel;
use crate::state::AppState;

/// Draw the overview of `model` into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, model: &BundleModel) {
    let lines = overview_lines(model);
    let max_scroll = lines
        .len()
        .saturating_sub(usize::from(area.height.saturating_sub(2)));
    let scroll = state.scroll.min(max_scroll) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::bordered().title(format!(" {} ", model.dir.display())))
            .scroll((scroll, 0)),
        area,
    );
}

fn field(name: &str, value: String) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            format!("{name:<12}"),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(value),
    ])
}

fn heading(text: &str) -> Line<'static> {
    Line::styled(text.to_string(), style::header())
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// "2026-11-22 02:33:00 UTC" from Unix seconds.
pub fn utc_time(unix: u64) -> String {
    let secs = unix as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The machine a bundle was made on: the facts it holds, in order
/// (hostname, kernel, CPU, cores, memory); facts left empty or zero are
/// left out, and a bundle with none says so.
pub fn machine_text(m: &Machine) -> String {
    let mut parts: Vec<String> = [&m.hostname, &m.kernel, &m.cpu_model]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect();
    if m.cores > 0 {
        parts.push(format!("{} cores", m.cores));
    }
    if m.memory_bytes > 0 {
        parts.push(bytes(m.memory_bytes));
    }
    if parts.is_empty() {
        "not recorded in this bundle".to_string()
    } else {
        parts.join(" · ")
    }
}

/// Every line of the overview.
pub fn overview_lines(model: &BundleModel) -> Vec<Line<'static>> {
    let run = &model.run;
    let m = &run.machine;
    let mut out = vec![
        field(
            "bundle",
            format!(
                "{:?} bundle, format {}, by {}",
                run.kind, run.format_version, run.tool
            ),
        ),
        field("command", run.command.join(" ")),
        field(
            "created",
            if run.created_unix > 0 {
                utc_time(run.created_unix)
            } else {
                "unknown".into()
            },
        ),
        field("machine", machine_text(m)),
        field(
            "workload",
            format!("{} {}", run.workload.name, run.workload.params),
        ),
        field(
            "trials",
            format!(
                "{} counted + {} warm-up per point · TSC {} · {}",
                run.trials,
                run.warmup_trials,
                if run.tsc_hz > 0 {
                    si(run.tsc_hz as f64, "Hz")
                } else {
                    "unknown".into()
                },
                model.probe_note
            ),
        ),
        field("profile", profile_line(model)),
        Line::raw(""),
        heading("Capabilities (doctor)"),
    ];
    let caps = &run.capabilities;
    if caps.checks.is_empty() {
        out.push(Line::raw("  no capability checks recorded"));
    }
    for c in &caps.checks {
        let (mark, color) = if c.ok {
            ("✓", Color::Green)
        } else {
            ("✗", Color::Red)
        };
        let mut spans = vec![
            Span::styled(format!("  {mark} "), Style::default().fg(color)),
            Span::styled(
                format!("{:<26}", c.name),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{:<14} ", c.value)),
            Span::raw(c.verdict.clone()),
        ];
        if let Some(fix) = &c.fix {
            spans.push(Span::styled(
                format!("  (fix: {fix})"),
                Style::default().fg(Color::DarkGray),
            ));
        }
        out.push(Line::from(spans));
    }
    out.push(Line::raw(""));
    out.push(heading(
        "Headline: latency per mmap call (median / p90 / p99 over trials)",
    ));
    if run.points.is_empty() {
        out.push(Line::raw("  no measured points"));
    }
    for p in &run.points {
        let find = p
            .sites
            .get(bundle::SITE_FIND_AVAILABLE)
            .map(|s| format!(" · find_available median {:.0} cyc", s.median_cycles))
            .unwrap_or_default();
        out.push(Line::raw(format!(
            "  {:<52} {:>9} {:>9} {:>9} · {} host maps{find}",
            p.label(),
            duration_ns(p.latency_ns.median),
            duration_ns(p.latency_ns.p90),
            duration_ns(p.latency_ns.p99),
            p.host_mappings
        )));
    }
    let ratios = strategy_ratios(model);
    if !ratios.is_empty() {
        out.push(Line::raw(""));
        out.push(heading("linear / maxgap median latency, same parameters"));
        out.extend(ratios.into_iter().map(Line::raw));
    }
    if !run.failures.is_empty() {
        out.push(Line::raw(""));
        out.push(heading("Points that could not be measured"));
        for f in &run.failures {
            out.push(Line::raw(format!("  {}: {}", f.label(), f.error)));
        }
    }
    if !run.notes.is_empty() {
        out.push(Line::raw(""));
        out.push(heading("Notes"));
        out.extend(run.notes.iter().map(|n| Line::raw(format!("  {n}"))));
    }
    out
}

fn profile_line(model: &BundleModel) -> String {
    let mut s = model.source.describe();
    if let Some(p) = &model.run.profile {
        s.push_str(&format!(
            " · {} samples ({} host, {} guest, {} lost)",
            p.samples, p.host_samples, p.guest_samples, p.lost_samples
        ));
    }
    s.push_str(&format!(
        " · {} distinct call paths, {} functions",
        model.tree.len().saturating_sub(1),
        model.functions.rows.len()
    ));
    s
}

/// For each linear point with a maxgap twin: the ratio of their median
/// latencies, the study's headline.
fn strategy_ratios(model: &BundleModel) -> Vec<String> {
    let points = &model.run.points;
    let mut out = Vec::new();
    for (i, p) in points.iter().enumerate() {
        if p.search.as_deref() != Some("linear") {
            continue;
        }
        let Some(j) = crate::table::other_strategy(points, i) else {
            continue;
        };
        let q = &points[j];
        if q.latency_ns.median > 0.0 {
            out.push(format!(
                "  {:<52} {:>7.2}x",
                p.label().replace("/linear", "/*"),
                p.latency_ns.median / q.latency_ns.median
            ));
        }
    }
    out
}
