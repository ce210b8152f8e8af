//! The browser's views, the tabs of its tab bar: named by actions
//! ([`crate::action::Action::GoTab`]) and kept in the state.

/// The views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Table,
    Flame,
    Charts,
    Compare,
}

impl Tab {
    /// Every tab in display order.
    pub const ALL: [Tab; 5] = [
        Tab::Overview,
        Tab::Table,
        Tab::Flame,
        Tab::Charts,
        Tab::Compare,
    ];

    /// Title in the tab bar.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Table => "Cycle table",
            Tab::Flame => "Flame",
            Tab::Charts => "Charts",
            Tab::Compare => "Compare",
        }
    }
}
