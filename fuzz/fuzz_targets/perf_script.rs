//! The `perf script` importer (`collectors::perf_script`, used by
//! `sentryprof import perf-script`): any bytes give folded stacks or an
//! error, never a panic; a success holds at least one sample.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(profile) = collectors::perf_script::fold_perf_script(data, "fuzz.txt") {
        assert!(profile.samples > 0, "an import with no sample succeeded");
        assert!(!profile.folded.is_empty(), "samples but no stack");
    }
});
