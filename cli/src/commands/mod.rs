//! One module per verb: its clap arguments, their validation into a config,
//! and the wiring to the library crates.

pub mod compare;
pub mod doctor;
pub mod flamegraph;
pub mod import;
pub mod record;
pub mod report;
pub mod run;
pub mod sharing;
pub mod tui;
