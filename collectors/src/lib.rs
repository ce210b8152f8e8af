//! Collectors: the result bundle, perf_event_open sampling and counting,
//! capability checks, symbolization, stack folding and `perf script` import.

pub mod bundle;
pub mod folded;
pub mod sharing;
