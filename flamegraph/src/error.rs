//! Errors of the rendering crate. Each names the input or output concerned.

use std::path::PathBuf;

use bundle::folded::FoldedError;
use bundle::BundleError;
use thiserror::Error;

/// Something a renderer could not do, with the file or input it concerns.
#[derive(Debug, Error)]
pub enum RenderError {
    /// Reading or writing a bundle (missing, corrupt, newer format, I/O).
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// A folded stacks file with a malformed line.
    #[error(transparent)]
    Folded(#[from] FoldedError),
    /// A profile with nothing to draw or tabulate.
    #[error("{source_name}: empty profile: {why}")]
    EmptyProfile { source_name: String, why: String },
    /// The bundle lacks what was asked for.
    #[error("{path}: {what}")]
    Missing { path: PathBuf, what: String },
    /// inferno failed to write the SVG.
    #[error("{what}: rendering failed: {source}")]
    Svg {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// plotters failed to draw a chart.
    #[error("chart {title:?}: {message}")]
    Chart { title: String, message: String },
    /// An option or argument that makes no sense.
    #[error("{0}")]
    InvalidOption(String),
}

/// Result of the rendering crate.
pub type Result<T> = std::result::Result<T, RenderError>;
