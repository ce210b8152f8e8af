//! The bundles of `record` and `import` carry the machine they were made
//! on, as `run` bundles do (the browser showed `0 cores · 0B` for them).

use std::ffi::OsString;
use std::path::Path;

use experiments::profiles::{import_perf_script, RecordRequest};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../collectors/fixtures/perf-script")
        .join(name)
}

fn assert_this_machine(dir: &Path) {
    let run = bundle::read_bundle(dir).expect("read the bundle").run;
    let here = bundle::Machine::current();
    assert!(run.machine.cores >= 1, "{:?}", run.machine);
    assert!(run.machine.memory_bytes > 0, "{:?}", run.machine);
    assert_eq!(run.machine.kernel, here.kernel);
    assert_eq!(run.machine.hostname, here.hostname);
}

#[test]
fn an_import_bundle_names_its_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("imp");
    let (_, dir, _) = import_perf_script(&fixture("ls-callchain.txt"), &out).expect("import");
    assert_this_machine(&dir);
}

#[test]
fn a_record_bundle_names_its_machine() {
    let tmp = tempfile::tempdir().unwrap();
    let req = RecordRequest {
        command: vec![OsString::from("true")],
        frequency_hz: 99,
        out: Some(tmp.path().join("rec")),
    };
    let done = match req.record_into_bundle() {
        Ok(done) => done,
        Err(e) if e.is_environment() => {
            println!("SKIP: record cannot sample here: {e}");
            return;
        }
        Err(e) => panic!("record: {e}"),
    };
    assert_this_machine(&done.dir);
}
