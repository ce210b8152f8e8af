//! What the user (or a worker thread) asked for, independent of which key
//! produced it. [`crate::state::AppState::update`] applies actions; the
//! event loop carries out the [`Effect`]s an update returns.

use std::path::PathBuf;

use bundle::folded::FoldedStacks;
use flamegraph::compare::Comparison;

use crate::error::TuiError;
use crate::model::BundleModel;
use crate::tab::Tab;

/// One step of user intent or a worker's result.
#[derive(Debug)]
pub enum Action {
    /// Leave the browser (q, Ctrl-C).
    Quit,
    /// Show or hide the key list.
    ToggleHelp,
    /// Next / previous tab.
    NextTab,
    PrevTab,
    /// Go to a tab.
    GoTab(Tab),
    /// Selection moves (tables: rows; flame: frames).
    Up,
    Down,
    Left,
    Right,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: zoom into a frame (flame), jump to a function's frames (table).
    Activate,
    /// Esc: close an overlay, cancel input, or zoom back out.
    Back,
    /// Reset the flame zoom.
    ResetZoom,
    /// Start typing a search (flame) or a filter (table).
    StartInput,
    /// A character typed into the input line.
    InputChar(char),
    /// Backspace in the input line.
    InputBackspace,
    /// Enter in the input line.
    InputSubmit,
    /// Next / previous search match.
    NextMatch,
    PrevMatch,
    /// Drop the search highlight.
    ClearSearch,
    /// Sort the table by the next / previous column; reverse the order.
    SortNext,
    SortPrev,
    SortReverse,
    /// Functions (samples) or probe sites.
    ToggleTableKind,
    /// Next / previous measured point.
    NextPoint,
    PrevPoint,
    /// Same point with the other search strategy (linear / maxgap).
    ToggleStrategy,
    /// Same point on the next platform.
    NextPlatform,
    /// Icicle (root on top) or flame (root at the bottom).
    ToggleOrientation,
    /// Write the current flame view as an SVG.
    Export,
    /// Show / hide guest, exit and sentry time side by side (cycle table:
    /// of the point; flame: of the selected path).
    ToggleSplit,
    /// Charts: latency against mappings or against size.
    ToggleChartAxis,
    /// Charts: show all mappings or one kind.
    CycleChartMapping,
    /// The terminal changed size.
    Resize {
        width: u16,
        height: u16,
    },
    /// The loader finished bundle `index`.
    Loaded {
        index: usize,
        result: Result<Box<BundleModel>, TuiError>,
    },
    /// Both bundles are loaded and compared.
    Compared(Box<Comparison>),
    /// An export finished: the file written or why not.
    Exported(Result<PathBuf, String>),
}

/// Work an update asks the event loop to start off the drawing thread.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Render `stacks` as a flamegraph SVG titled `title` into `path`.
    ExportSvg {
        stacks: FoldedStacks,
        title: String,
        path: PathBuf,
        icicle: bool,
        /// What a weight counts ("samples", "cycles").
        count_name: String,
    },
}
