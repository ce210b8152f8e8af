//! Collectors: the result bundle, perf_event_open sampling and counting,
//! capability checks, symbolization, stack folding and `perf script` import.

pub mod capabilities;
pub mod collector;
pub mod fold;
pub mod perf;
pub mod perf_script;
pub mod record;
pub mod sharing;
pub mod symbolize;
