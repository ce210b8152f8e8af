//! Drawing the live view: progress over all points, one row per point with
//! its trials as they finish, and the cycle table of a measured point.

use bundle::sites::point_site_rows;
use bundle::stats::median;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Gauge, Paragraph, Row, Table};
use ratatui::Frame;

use super::state::{LiveState, PointStatus};
use crate::charts::duration_ns;
use crate::ui::sites::{site_row, SiteColumns};
use crate::ui::{MIN_HEIGHT, MIN_WIDTH};

/// Draw the live view.
pub fn draw(frame: &mut Frame, state: &LiveState) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(
            Paragraph::new(format!(
                "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{}",
                area.width, area.height
            )),
            area,
        );
        return;
    }
    let [gauge, body, status] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(5),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_gauge(frame, gauge, state);
    let [points, table] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(body);
    draw_points(frame, points, state);
    draw_cycle_table(frame, table, state);
    let keys = match &state.ended {
        Some((Some(_), summary)) => format!("{summary} · Enter browse the bundle · q quit"),
        Some((None, summary)) => format!("{summary} · q quit"),
        None if state.stop_requested => "stopping after the current trial ...".to_string(),
        None => "q / Ctrl-C stop the run · j/k cycle table of another point".to_string(),
    };
    frame.render_widget(
        Paragraph::new(keys).style(Style::default().add_modifier(Modifier::REVERSED)),
        status,
    );
}

fn draw_gauge(frame: &mut Frame, area: Rect, state: &LiveState) {
    let total = state.total_points.max(1);
    let done = state.done_count();
    let title = format!(
        " sentryprof run · {done}/{} points · {} trials + {} warm-up each ",
        state.total_points, state.trials, state.warmup_trials
    );
    frame.render_widget(
        Gauge::default()
            .block(Block::bordered().title(title))
            .gauge_style(Style::default().fg(Color::Green))
            .ratio((done as f64 / total as f64).clamp(0.0, 1.0))
            .label(format!("{:.0}%", done as f64 * 100.0 / total as f64)),
        area,
    );
}

fn point_progress(p: &super::state::LivePoint) -> (String, String, Color) {
    let running_median = |lat: &[f64]| {
        median(lat)
            .map(|m| format!(" · median so far {}", duration_ns(m)))
            .unwrap_or_default()
    };
    match &p.status {
        PointStatus::Pending => ("·".into(), "waiting".into(), Color::DarkGray),
        PointStatus::Running { warmup, trial, of } => {
            let what = if *of == 0 {
                "starting".to_string()
            } else if *warmup {
                format!("warm-up {}/{of}", trial + 1)
            } else {
                format!("trial {}/{of}", trial + 1)
            };
            (
                "▶".into(),
                format!("{what}{}", running_median(&p.trial_latencies)),
                Color::Yellow,
            )
        }
        PointStatus::Done => ("✓".into(), running_median(&p.trial_latencies), Color::Green),
        PointStatus::Failed(e) => ("✗".into(), e.clone(), Color::Red),
    }
}

fn draw_points(frame: &mut Frame, area: Rect, state: &LiveState) {
    let visible = usize::from(area.height.saturating_sub(2)).max(1);
    // Keep the running point in view.
    let running = state
        .points
        .iter()
        .position(|p| matches!(p.status, PointStatus::Running { .. }))
        .unwrap_or(state.done_count());
    let offset = running.saturating_sub(visible.saturating_sub(2));
    let rows: Vec<Row> = state
        .points
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, p)| {
            let (mark, text, color) = point_progress(p);
            let latency = p
                .finished_at
                .and_then(|at| state.finished.points.get(at))
                .map(|pt| duration_ns(pt.latency_ns.median))
                .unwrap_or_default();
            let style = if state.selected == Some(i) {
                Style::default().fg(color).add_modifier(Modifier::BOLD)
            } else {
                Style::default().fg(color)
            };
            Row::new(vec![
                Cell::from(mark),
                Cell::from(p.label.clone()),
                Cell::from(Line::from(latency).right_aligned()),
                Cell::from(text),
            ])
            .style(style)
        })
        .collect();
    let label_width = state
        .points
        .iter()
        .map(|p| p.label.chars().count())
        .max()
        .unwrap_or(10)
        .min(60) as u16;
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(label_width),
                Constraint::Length(9),
                Constraint::Min(12),
            ],
        )
        .block(Block::bordered().title(" points (median latency per call) ")),
        area,
    );
}

fn draw_cycle_table(frame: &mut Frame, area: Rect, state: &LiveState) {
    let Some((index, at)) = state.selected.and_then(|i| {
        state
            .points
            .get(i)
            .and_then(|p| p.finished_at)
            .map(|at| (i, at))
    }) else {
        frame.render_widget(
            Paragraph::new("the cycle table fills in as points finish")
                .block(Block::bordered().title(" cycle table ")),
            area,
        );
        return;
    };
    let rows: Vec<Row> = state
        .finished
        .points
        .get(at)
        .map(|p| point_site_rows(at, p))
        .unwrap_or_default()
        .iter()
        .filter(|r| r.calls > 0)
        .map(|r| site_row(r, SiteColumns::Compact))
        .collect();
    let header = Row::new(vec!["site", "calls", "median", "p90", "p99", "share"])
        .style(Style::default().fg(Color::Yellow));
    let label = state
        .points
        .get(index)
        .map(|p| p.label.as_str())
        .unwrap_or("");
    let title = format!(" cycles: {label} ");
    let table = if rows.is_empty() {
        Table::new(
            vec![Row::new(vec!["no probe sites (native)"])],
            [Constraint::Min(10)],
        )
    } else {
        Table::new(rows, SiteColumns::Compact.widths()).header(header)
    };
    frame.render_widget(table.block(Block::bordered().title(title)), area);
}
