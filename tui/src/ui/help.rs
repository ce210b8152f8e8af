//! The key list (`?`), drawn over the current view from [`crate::keys::KEYS`],
//! in two columns when one does not fit the height.

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::style;
use crate::keys::KEYS;

/// Width of one column of keys.
const COLUMN: u16 = 74;

/// Draw the key list centred in `area`.
pub fn draw(frame: &mut Frame, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    let mut last = None;
    for k in KEYS {
        if last != Some(k.tab) {
            let heading = k.tab.map(|t| t.title()).unwrap_or("Everywhere");
            lines.push(Line::styled(heading.to_string(), style::header()));
            last = Some(k.tab);
        }
        lines.push(Line::from(format!(" {:<19} {}", k.keys, k.what)));
    }
    let inner_height = area.height.saturating_sub(2);
    let columns: u16 = if lines.len() as u16 > inner_height {
        2
    } else {
        1
    };
    let per_column = lines.len().div_ceil(usize::from(columns));
    let height = (per_column as u16 + 2).min(area.height);
    let width = (COLUMN * columns + 2).min(area.width);
    let [row] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(row);
    frame.render_widget(Clear, popup);
    let block = Block::bordered().title(" keys (? or Esc to close) ");
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let parts = Layout::horizontal(vec![
        Constraint::Ratio(1, u32::from(columns));
        usize::from(columns)
    ])
    .split(inner);
    for (i, part) in parts.iter().enumerate() {
        let chunk: Vec<Line> = lines
            .iter()
            .skip(i * per_column)
            .take(per_column)
            .cloned()
            .collect();
        frame.render_widget(Paragraph::new(chunk), *part);
    }
}
