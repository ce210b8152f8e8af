//! One module per verb: its clap arguments, their conversion into the
//! library's request, and the wiring and printing around the library call.

pub mod compare;
pub mod docs;
pub mod doctor;
pub mod flamegraph;
pub mod import;
pub mod record;
pub mod report;
pub mod run;
pub mod sharing;
pub mod tui;
