//! The terminal browser of result bundles (`sentryprof tui`).
//!
//! Layers, kept apart so each can be tested alone:
//! - [`flame`]: the flame tree, its layout, navigation and search (no UI);
//! - [`model`]: a bundle opened for browsing (run.json, folded stacks, the
//!   tree and tables), loaded by [`loader`] on a thread of its own;
//! - [`table`], [`charts`]: what the cycle table and the charts show;
//! - [`keys`], [`action`] and [`state`]: keys become actions, actions update
//!   the state (event → action → state update); [`tab`] names the views
//!   both speak of;
//! - [`ui`]: drawing the state into a ratatui frame, nothing else;
//! - [`app`] and [`terminal`]: the event loop and the terminal guard that
//!   restores the terminal on quit, error, Ctrl-C and panic;
//! - [`live`]: `sentryprof run --tui`, the run shown as it goes.
//!
//! Statistics (function tables, scaling fits, comparisons) and SVG rendering
//! come from the `flamegraph` crate, the per-site rows and point labels from
//! the `bundle` crate; this crate only shows them. Synthetic bundles for its
//! tests, benches and examples are `bundle::synthetic`.

pub mod action;
pub mod app;
pub mod charts;
pub mod error;
pub mod flame;
pub mod keys;
pub mod live;
pub mod loader;
pub mod model;
pub mod state;
pub mod tab;
pub mod table;
pub mod terminal;
pub mod ui;

pub use app::{browse, BrowseOptions, DEFAULT_THRESHOLD_PCT};
pub use error::TuiError;
