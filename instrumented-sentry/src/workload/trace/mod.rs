//! Trace replay: a `strace -f -e trace=memory` log of a real program, parsed
//! ([`parse`]) into the memory calls it made, and replayed into a platform
//! ([`replay`]: call by call into a target; [`stub_calls`]: translated up
//! front into the call list a stub process runs).

mod addr_map;
mod model;
pub mod parse;
pub mod replay;
pub mod stub_calls;

pub use addr_map::{AddrMap, Place, ResultOf};
pub use model::{Trace, TraceCall, TraceOp, TraceResult};
pub use parse::{parse_trace, parse_trace_file, TraceError};
pub use replay::{assign_spaces, replay_trace, ReplayCounts, SpacePlan};
pub use stub_calls::{stub_replay, StubFile, StubReplay, StubSpace, MAX_STUB_CALLS};
