//! The strace parser of trace replay (`instrumented-sentry`
//! `workload::trace::parse`): any bytes give a trace or an error, never a
//! panic; a parsed trace holds at least one call (its documented
//! postcondition).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(trace) =
        instrumented_sentry::workload::trace::parse::parse_trace_bytes("fuzz.trace", data)
    {
        assert!(!trace.calls.is_empty(), "a parsed trace holds no call");
    }
});
