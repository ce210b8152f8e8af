//! Trace replay: a `strace -f -e trace=memory` log of a real program, parsed
//! ([`parse`]) into the memory calls it made, and replayed into a platform
//! ([`replay`]).

mod model;
pub mod parse;
pub mod replay;

pub use model::{Trace, TraceCall, TraceOp, TraceResult};
pub use parse::{parse_trace, parse_trace_file, TraceError};
pub use replay::{replay_trace, ReplayCounts};
