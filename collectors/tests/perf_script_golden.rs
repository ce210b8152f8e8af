//! Importing the recorded `perf script` fixtures gives exactly the folded
//! stacks `inferno-collapse-perf` produced from the same files (the golden
//! `.folded` files beside them; see `fixtures/README.md` for the commands).

use std::path::PathBuf;

use bundle::folded::FoldedStacks;
use collectors::perf_script::{fold_perf_script, import_file, PerfScriptError};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

#[test]
fn every_fixture_matches_inferno_golden() {
    let dir = fixtures().join("perf-script");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    entries.sort();
    for txt in entries {
        let golden_path = txt.with_extension("folded");
        let golden_text = std::fs::read_to_string(&golden_path).expect("golden file");
        let golden = FoldedStacks::parse(&golden_text, &golden_path.display().to_string())
            .expect("golden parses");
        let got = import_file(&txt).unwrap_or_else(|e| panic!("{}: {e}", txt.display()));
        assert_eq!(
            got.folded.to_text(),
            golden.to_text(),
            "{} differs from inferno's output",
            txt.display()
        );
        // Byte for byte, too: inferno writes sorted "stack count" lines.
        assert_eq!(got.folded.to_text(), golden_text, "{}", txt.display());
        checked += 1;
    }
    assert!(
        checked >= 5,
        "expected the recorded fixtures, found {checked}"
    );
}

#[test]
fn truncated_fixture_is_rejected_with_its_line() {
    let path = fixtures().join("bad").join("truncated.txt");
    let text = std::fs::read(&path).expect("fixture");
    let lines = text.iter().filter(|&&b| b == b'\n').count() + 1;
    let e = import_file(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{}:{lines}: truncated", path.display())),
        "{msg}"
    );
}

#[test]
fn missing_file_empty_and_garbage_are_errors() {
    let missing = fixtures().join("does-not-exist.txt");
    let e = import_file(&missing).unwrap_err();
    assert!(matches!(e, PerfScriptError::Read { .. }));
    assert!(e.to_string().contains("does-not-exist.txt"), "{e}");

    let e = fold_perf_script(b"", "empty.txt").unwrap_err();
    assert!(matches!(e, PerfScriptError::Empty { .. }), "{e}");
    let e = fold_perf_script(b"# only a comment\n\n", "c.txt").unwrap_err();
    assert!(matches!(e, PerfScriptError::Empty { .. }), "{e}");

    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
    let e = fold_perf_script(&garbage, "garbage.bin").unwrap_err();
    assert!(e.to_string().starts_with("garbage.bin:"), "{e}");
}

#[test]
fn fuzz_found_samples_of_period_zero_are_an_error_not_an_empty_profile() {
    // Found by `fuzz/run.sh` (target perf_script): a sample of period 0,
    // the only one of the first event, was counted but folded into nothing,
    // so the import succeeded with no stack at all.
    let path = fixtures().join("bad").join("fuzz-zero-period.txt");
    let e = import_file(&path).unwrap_err();
    assert!(
        matches!(e, PerfScriptError::ZeroPeriod { samples: 1, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: every one of the 1 sample(s) has period 0: nothing to weigh",
            path.display()
        )
    );
    // A zero-period sample beside a weighed one is left out, not an error.
    let text = b"a 1 1.0: 0 cpu-clock: \n\t1 f (m)\n\na 1 1.1: 5 cpu-clock: \n\t1 g (m)\n";
    let p = fold_perf_script(text, "mixed.txt").unwrap();
    assert_eq!(p.folded.to_text(), "a;g 5\n");
}

#[test]
fn fuzz_found_periods_past_2_64_are_an_error_naming_the_line() {
    // Found by `fuzz/run.sh` (target perf_script): periods of
    // 888888888888001001 added up past u64 (a panic with overflow checks,
    // silently wrapped weights without).
    let path = fixtures().join("bad").join("fuzz-period-overflow.txt");
    let e = import_file(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, PerfScriptError::Malformed { line, .. } if line > 1),
        "{msg}"
    );
    assert!(msg.starts_with(&format!("{}:", path.display())), "{msg}");
    assert!(
        msg.contains(":26: the periods add up past 2^64, more than any real profile"),
        "{msg}"
    );
    // Two stacks whose sum passes u64: refused too (the total is what
    // run.json records).
    let big = u64::MAX / 2 + 1;
    let text =
        format!("a 1 1.0: {big} cpu-clock: \n\t1 f (m)\n\na 1 1.1: {big} cpu-clock: \n\t1 g (m)\n");
    let e = fold_perf_script(text.as_bytes(), "two.txt").unwrap_err();
    assert_eq!(
        e.to_string(),
        "two.txt:5: the periods add up past 2^64, more than any real profile"
    );
}
