//! The compare view: per point, median latency and per-site median cycles
//! of bundle A and bundle B side by side, with the change, its 95% interval
//! and the verdict of the flamegraph crate's comparison.

use flamegraph::compare::Verdict;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::style;
use crate::state::AppState;

/// Draw the comparison of the two bundles into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState) {
    let (Some(a), Some(b), Some(cmp)) = (state.model(0), state.model(1), &state.comparison) else {
        let text = if state.bundles.len() < 2 {
            "give two bundles to compare: sentryprof tui A B"
        } else {
            "comparing ..."
        };
        frame.render_widget(Paragraph::new(text).block(Block::bordered()), area);
        return;
    };
    let visible = usize::from(area.height.saturating_sub(3)).max(1);
    let total = cmp.rows.len() + cmp.unmatched.len();
    let scroll = state.scroll.min(total.saturating_sub(visible));
    let right = |s: String| Cell::from(Line::from(s).right_aligned());
    let mut rows: Vec<Row> = cmp
        .rows
        .iter()
        .map(|r| {
            let color = if r.regression {
                Color::Red
            } else {
                match r.verdict {
                    Verdict::Faster => Color::Green,
                    Verdict::Slower => Color::Yellow,
                    _ => Color::Reset,
                }
            };
            let ci = match (r.ci_low_pct, r.ci_high_pct) {
                (Some(l), Some(h)) => format!("[{l:+.1}, {h:+.1}]%"),
                _ => "-".into(),
            };
            let verdict = if r.regression {
                "REGRESSION"
            } else {
                r.verdict.text()
            };
            Row::new(vec![
                Cell::from(r.point.clone()),
                Cell::from(r.quantity.clone()),
                right(format!("{:.0}", r.median_a)),
                right(format!("{:.0}", r.median_b)),
                right(if r.change_pct.is_finite() {
                    format!("{:+.1}%", r.change_pct)
                } else {
                    "-".into()
                }),
                right(ci),
                Cell::from(verdict),
            ])
            .style(Style::default().fg(color))
        })
        .collect();
    rows.extend(cmp.unmatched.iter().map(|u| {
        Row::new(vec![Cell::from(u.clone())]).style(Style::default().fg(Color::DarkGray))
    }));
    let rows: Vec<Row> = rows.into_iter().skip(scroll).take(visible).collect();
    let header = Row::new(vec![
        "point",
        "median of",
        "A",
        "B",
        "change",
        "95% CI",
        "verdict",
    ])
    .style(style::header());
    let title = format!(
        " A = {} · B = {} · regression = slower beyond {:.0}% · {} ",
        a.name, b.name, cmp.threshold_pct, cmp.method
    );
    let table = Table::new(
        rows,
        [
            Constraint::Min(30),
            Constraint::Length(14),
            Constraint::Length(11),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(17),
            Constraint::Length(21),
        ],
    )
    .header(header)
    .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}
