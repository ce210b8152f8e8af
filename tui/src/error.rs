//! Errors of the terminal browser. Each prints as one line naming the input
//! or the terminal problem; the CLI maps every one to exit status 2.

use std::path::PathBuf;

use bundle::folded::FoldedError;
use bundle::BundleError;
use thiserror::Error;

/// Why the browser could not open or keep running.
#[derive(Debug, Error)]
pub enum TuiError {
    /// `run.json` missing, unreadable, corrupt or of another major version.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The bundle's folded stacks are malformed (names file and line).
    #[error("{path}: {source}")]
    Folded {
        path: PathBuf,
        #[source]
        source: FoldedError,
    },
    /// A point's folded stacks are missing or malformed (the per-point
    /// guest / exit / sentry split reads them).
    #[error(transparent)]
    Render(#[from] flamegraph::error::RenderError),
    /// The terminal is smaller than the browser can draw.
    #[error("terminal too small: need {need_width}x{need_height}, have {width}x{height}")]
    TerminalTooSmall {
        need_width: u16,
        need_height: u16,
        width: u16,
        height: u16,
    },
    /// Standard output is not a terminal, or the terminal refused a mode.
    #[error("terminal: {what}: {source}")]
    Terminal {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The loader thread stopped without a result (it panicked).
    #[error("{path}: loading stopped unexpectedly: {reason}")]
    LoaderDied { path: PathBuf, reason: String },
    /// Too many or too few bundles given.
    #[error("{0}")]
    Usage(String),
}
