//! The charts view: latency against mappings or size, log-log, one line per
//! series, and a legend with each series' scaling verdict.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::style;
use crate::charts::chart_data;
use crate::model::BundleModel;
use crate::state::AppState;

/// Draw the chart of `model` into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, model: &BundleModel) {
    let data = chart_data(&model.run, state.chart_axis, state.chart_mapping.as_deref());
    let mapping = state.chart_mapping.as_deref().unwrap_or("all mappings");
    if data.series.is_empty() {
        frame.render_widget(
            Paragraph::new(format!(
                "no points to chart for {mapping} (latency and {} must be positive)",
                data.axis.title()
            ))
            .block(Block::bordered().title(" Charts ")),
            area,
        );
        return;
    }
    let legend_rows = (data.series.len() as u16 + 2).min(area.height / 2);
    let [chart_area, legend_area] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(legend_rows)]).areas(area);
    let datasets: Vec<Dataset> = data
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let color = style::SERIES[i % style::SERIES.len()];
            Dataset::default()
                .name(s.label.clone())
                .marker(Marker::Braille)
                .graph_type(if s.points.len() > 1 {
                    GraphType::Line
                } else {
                    GraphType::Scatter
                })
                .style(Style::default().fg(color))
                .data(&s.points)
        })
        .collect();
    let chart = Chart::new(datasets)
        .block(Block::bordered().title(format!(
            " median latency per call vs {} · {mapping} · x: toggle axis, m: mapping ",
            data.axis.title()
        )))
        .legend_position(None)
        .x_axis(
            Axis::default()
                .title(data.axis.title())
                .bounds(data.x_bounds)
                .labels(data.x_labels.clone()),
        )
        .y_axis(
            Axis::default()
                .title("latency (log)")
                .bounds(data.y_bounds)
                .labels(data.y_labels.clone()),
        );
    frame.render_widget(chart, chart_area);
    let mut lines: Vec<Line> = data
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let color = style::SERIES[i % style::SERIES.len()];
            Line::from(vec![
                Span::styled("━━ ", Style::default().fg(color)),
                Span::styled(format!("{:<40}", s.label), Style::default().fg(color)),
                Span::raw(
                    s.verdict
                        .clone()
                        .unwrap_or_else(|| "too few points for a verdict".into()),
                ),
            ])
        })
        .collect();
    if data.skipped > 0 {
        lines.push(Line::raw(format!(
            "{} points left out (zero values cannot go on a log axis)",
            data.skipped
        )));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" legend and scaling verdicts ")),
        legend_area,
    );
}
