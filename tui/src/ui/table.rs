//! The cycle table: functions (self / total weight and shares) or the probe
//! sites of one point (calls, median, p90, p99, max cycles, share of mmap;
//! rows drawn by [`super::sites`]).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::sites::{site_row, SiteColumns};
use super::style;
use crate::model::BundleModel;
use crate::state::AppState;
use crate::table::TableKind;
use flamegraph::flame::frame_kind;

/// Draw the cycle table of `model` into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, model: &BundleModel) {
    let view = &state.table;
    let area = if state.split {
        let lines = super::split::point_lines(model, view.point, area.width);
        let [table, split] = Layout::vertical([
            Constraint::Min(4),
            Constraint::Length(super::split::height(&lines)),
        ])
        .areas(area);
        super::split::draw(frame, split, lines);
        table
    } else {
        area
    };
    let columns = view.columns();
    let header = Row::new(columns.iter().enumerate().map(|(i, c)| {
        let arrow = if i == view.sort_column {
            if view.descending {
                " ▼"
            } else {
                " ▲"
            }
        } else {
            ""
        };
        let title = Line::from(format!("{c}{arrow}"));
        // Number columns are right-aligned, like their values.
        Cell::from(if i == 0 { title } else { title.right_aligned() })
    }))
    .style(style::header());
    // Only the rows that fit are built.
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let offset = view.selected.saturating_sub(visible - 1);
    let window = view.rows.iter().skip(offset).take(visible);
    let (rows, widths, title): (Vec<Row>, Vec<Constraint>, String) = match view.kind {
        TableKind::Functions => {
            let t = &model.functions;
            let rows = window
                .map(|&i| {
                    let r = &t.rows[i];
                    let kind = frame_kind(&r.name);
                    Row::new(vec![
                        Cell::from(r.name.clone())
                            .style(Style::default().fg(style::frame_fg(kind))),
                        Cell::from(Line::from(r.self_weight.to_string()).right_aligned()),
                        Cell::from(
                            Line::from(format!("{:.2}", r.self_share * 100.0)).right_aligned(),
                        ),
                        Cell::from(Line::from(r.total_weight.to_string()).right_aligned()),
                        Cell::from(
                            Line::from(format!("{:.2}", r.total_share * 100.0)).right_aligned(),
                        ),
                    ])
                })
                .collect();
            let widths = vec![
                Constraint::Min(20),
                Constraint::Length(14),
                Constraint::Length(8),
                Constraint::Length(14),
                Constraint::Length(8),
            ];
            let title = format!(
                " Functions: {} ({} of {} rows, weight in {}) ",
                model.source.describe(),
                view.rows.len(),
                t.rows.len(),
                t.weight_unit
            );
            (rows, widths, title)
        }
        TableKind::Sites => {
            let rows = window
                .map(|&i| site_row(&model.sites[i], SiteColumns::Full))
                .collect();
            let widths = SiteColumns::Full.widths();
            let points = &model.run.points;
            let title = match points.get(view.point) {
                Some(p) => format!(
                    " Sites of point {}/{}: {} · {} ",
                    view.point + 1,
                    points.len(),
                    p.label(),
                    model.probe_note
                ),
                None => " Sites: this bundle has no measured points ".to_string(),
            };
            (rows, widths, title)
        }
    };
    let filter = if view.filter.is_empty() {
        String::new()
    } else {
        format!(" filter {:?} ", view.filter)
    };
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title).title_bottom(filter))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut ts = TableState::default();
    if !view.rows.is_empty() {
        ts.select(Some(view.selected - offset));
    }
    frame.render_stateful_widget(table, area, &mut ts);
    if view.rows.is_empty() {
        let why = empty_reason(state, model);
        // Inside the border, below the header row.
        let inner = Rect::new(
            area.x + 1,
            area.y + 2,
            area.width.saturating_sub(2),
            area.height.saturating_sub(3).min(2),
        );
        frame.render_widget(Paragraph::new(why).wrap(Wrap { trim: true }), inner);
    }
}

/// Why the table has no row, in words.
fn empty_reason(state: &AppState, model: &BundleModel) -> String {
    let view = &state.table;
    if !view.filter.is_empty() {
        return format!(
            "no row matches the filter {:?} (Esc clears it)",
            view.filter
        );
    }
    match (view.kind, model.run.points.get(view.point)) {
        (TableKind::Sites, Some(p)) => format!(
            "{} ([ ]: another point, p: another platform)",
            crate::table::no_sites_reason(p)
        ),
        (TableKind::Sites, None) => "this bundle has no measured points".to_string(),
        (TableKind::Functions, _) => "no function: the profile holds no samples".to_string(),
    }
}
