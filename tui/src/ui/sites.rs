//! The per-site rows of a point ([`bundle::sites::SiteRow`]) as table rows:
//! the one drawing of a site row, for the browser's cycle table and the
//! live view's.

use bundle::sites::SiteRow;
use ratatui::layout::Constraint;
use ratatui::text::Line;
use ratatui::widgets::{Cell, Row};

/// Which columns a site table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteColumns {
    /// site, calls, median, p90, p99, max cycles, share (the browser).
    Full,
    /// The same without max cycles, in narrower columns (the live view,
    /// beside the points).
    Compact,
}

impl SiteColumns {
    /// Column widths.
    pub fn widths(self) -> Vec<Constraint> {
        match self {
            SiteColumns::Full => vec![
                Constraint::Min(16),
                Constraint::Length(10),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(8),
            ],
            SiteColumns::Compact => vec![
                Constraint::Min(14),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(8),
                Constraint::Length(7),
            ],
        }
    }
}

/// One site as a table row: numbers right-aligned, cycles whole, the share
/// of mmap with one decimal ("-" for none).
pub fn site_row(r: &SiteRow, columns: SiteColumns) -> Row<'static> {
    let right = |s: String| Cell::from(Line::from(s).right_aligned());
    let cycles = |v: f64| right(format!("{v:.0}"));
    let mut cells = vec![
        Cell::from(r.site.clone()),
        right(r.calls.to_string()),
        cycles(r.median_cycles),
        cycles(r.p90_cycles),
        cycles(r.p99_cycles),
    ];
    if columns == SiteColumns::Full {
        cells.push(cycles(r.max_cycles));
    }
    cells.push(right(r.share_text(1)));
    Row::new(cells)
}
