//! The bundle reader's parsing of `run.json` (`bundle::parse_run_json`, the
//! entry point of `read_bundle`): any bytes give a run or an error, never a
//! panic; every path an accepted run names stays inside the bundle; an
//! accepted run written back parses again.
#![no_main]

use std::path::{Component, Path};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let json_path = Path::new("fuzz/run.json");
    if let Ok(run) = bundle::parse_run_json(data, json_path) {
        if let Some(p) = &run.profile {
            let rel = Path::new(&p.folded);
            assert!(
                rel.components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                "accepted a profile path outside the bundle: {rel:?}"
            );
        }
        let again = serde_json::to_vec(&run).expect("an accepted run serializes");
        bundle::parse_run_json(&again, json_path).expect("an accepted run, written back, parses");
    }
});
