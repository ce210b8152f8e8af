//! Where inferno-collapse-perf is lenient, so is the import: the lines it
//! skips with a warning are skipped, counted and named by line, and the
//! kept samples fold exactly as inferno folded them (the golden `.folded`
//! files in `fixtures/lenient`, written by inferno 0.12.8, which logged one
//! warning per line counted here). `OddLines::Refuse` (`--strict`) refuses
//! the same files naming the first such line. Every event-line form keeps
//! its event name and period, and absurd periods or a file cut in an event
//! line are errors naming the line.

use std::path::{Path, PathBuf};

use bundle::folded::FoldedStacks;
use collectors::perf_script::{
    fold_perf_script_with, import_file, ImportedProfile, OddLines, PerfScriptError,
};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn golden(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("golden file");
    FoldedStacks::parse(&text, &path.display().to_string()).expect("golden parses");
    text
}

fn import(rel: &str, odd: OddLines) -> Result<ImportedProfile, PerfScriptError> {
    let path = fixture(rel);
    let bytes = std::fs::read(&path).expect("fixture");
    fold_perf_script_with(&bytes, &path.display().to_string(), odd)
}

/// Lenient: inferno's stacks, the odd lines counted at these line numbers.
/// Strict: an error naming the first of them.
fn check_odd_fixture(name: &str, odd_lines: &[usize]) {
    let rel = format!("lenient/{name}.txt");
    let p = import(&rel, OddLines::Skip).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let folded = fixture(&format!("lenient/{name}.folded"));
    assert_eq!(
        p.folded.to_text(),
        golden(&folded),
        "{rel} differs from inferno"
    );
    assert_eq!(p.odd_lines, odd_lines.len() as u64, "{rel}");
    assert_eq!(p.odd_line_numbers, odd_lines, "{rel}");
    assert_eq!(p.event, "cpu-clock");
    let note = p.odd_lines_note("F").expect("a note");
    assert!(
        note.starts_with(&format!("F: skipped {} unreadable", odd_lines.len())),
        "{note}"
    );

    let e = import(&rel, OddLines::Refuse).unwrap_err();
    let msg = e.to_string();
    let expect = format!("{}:{}: ", fixture(&rel).display(), odd_lines[0]);
    assert!(msg.starts_with(&expect), "{msg} should start with {expect}");
    assert!(msg.contains("--strict"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
}

#[test]
fn stack_lines_after_a_blank_line_are_skipped_as_inferno_skips_them() {
    // Lines 11-13 follow the blank line 10 inside a stack: inferno warned
    // "Weird event line" for each; line 14 (address all digits) it reads
    // as an event line without an event, as this importer does.
    check_odd_fixture("stack-after-blank", &[11, 12, 13]);
}

#[test]
fn an_unreadable_stack_line_is_skipped_and_its_event_kept() {
    check_odd_fixture("odd-stack-line", &[17]);
}

#[test]
fn an_unreadable_event_line_is_skipped() {
    check_odd_fixture("odd-event-line", &[15]);
}

#[test]
fn an_unreadable_frame_at_the_end_of_an_event_line_is_skipped() {
    check_odd_fixture("odd-frame-on-event-line", &[5]);
}

#[test]
fn the_line_numbers_kept_are_capped_and_the_count_is_not() {
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!(
            "a 1 1.{i}: 7 cpu-clock: \n\t1 f (m)\n\tbroken\n\n"
        ));
    }
    let p = fold_perf_script_with(text.as_bytes(), "t", OddLines::Skip).unwrap();
    assert_eq!(p.odd_lines, 12);
    assert_eq!(p.odd_line_numbers, vec![3, 7, 11, 15, 19]);
    assert_eq!(p.folded.to_text(), "a;f 84\n");
    let note = p.odd_lines_note("t").unwrap();
    assert!(note.contains("(line 3, 7, 11, 15, 19, ...)"), "{note}");
}

#[test]
fn odd_lines_of_a_chunked_large_input_keep_their_whole_file_numbers() {
    // > 4 MiB is folded in chunks on several threads: line numbers must
    // still count from the start of the file.
    let event = "a 1 1.0: 3 cpu-clock: \n\t1 f (m)\n\t2 g (m)\n\n";
    let repeats = (5 << 20) / event.len();
    let mut text = event.repeat(repeats);
    text.push_str("a 1 2.0: 3 cpu-clock: \n\tbroken\n\t1 f (m)\n\n");
    let lines_before = repeats * 4;
    let p = fold_perf_script_with(text.as_bytes(), "big", OddLines::Skip).unwrap();
    assert_eq!(p.odd_line_numbers, vec![lines_before + 2]);
    let e = fold_perf_script_with(text.as_bytes(), "big", OddLines::Refuse).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("big:{}: ", lines_before + 2)),
        "{e}"
    );
}

#[test]
fn a_file_of_nothing_but_odd_lines_is_empty_and_says_so() {
    let e =
        fold_perf_script_with(b"hello world\nno perf here\n", "g.txt", OddLines::Skip).unwrap_err();
    assert!(
        matches!(e, PerfScriptError::Empty { odd_lines: 2, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "g.txt: no samples found (empty input, or not `perf script` output); 2 unreadable line(s) skipped, the first at line 1"
    );
}

/// A timestamp-less form folds as inferno folded its twin with timestamps
/// (the same samples printed with `time` among the fields).
fn check_form(no_time: &str, twin: &str, samples: u64) {
    let p = import_file(&fixture(&format!("event-forms/{no_time}.txt"))).unwrap();
    let twin_folded = golden(&fixture(&format!("perf-script/{twin}.folded")));
    assert_eq!(p.folded.to_text(), twin_folded, "{no_time}");
    assert_eq!(p.event, "cpu-clock", "{no_time}");
    assert_eq!(p.samples, samples, "{no_time}");
    assert_eq!(p.odd_lines, 0, "{no_time}");
}

#[test]
fn event_form_without_timestamp_with_call_chains() {
    // `perf script -F comm,tid,event,ip,sym,dso`: `ls 22547 cpu-clock:ppp:`
    // (inferno reads the event as `ppp` here).
    check_form("ls-fields-no-time", "ls-fields-time", 20);
}

#[test]
fn event_form_without_timestamp_with_period() {
    // `-F comm,tid,period,event,ip,sym,dso`: `ls 22547    1001001 cpu-clock:ppp:`
    // (inferno weighs these 1).
    check_form("ls-fields-no-time-period", "ls-fields-time-period", 20);
}

#[test]
fn event_form_without_timestamp_frame_on_the_event_line() {
    // `python3 22552 cpu-clock:  ffffffff82261767 exc_page_fault (...)`:
    // inferno folds the whole file into one nonsense stack.
    check_form("flat-fields-no-time", "flat-fields-time", 140);
    check_form("flat-fields-no-time-period", "flat-fields-time-period", 140);
}

#[test]
fn event_forms_with_timestamp_name_their_event() {
    for rel in [
        "perf-script/ls-fields-time.txt",
        "perf-script/ls-fields-time-period.txt",
        "perf-script/flat-cpu-clock.txt",
        "perf-script/ls-callchain.txt",
        "perf-script/no-period.txt",
    ] {
        let p = import_file(&fixture(rel)).unwrap();
        assert_eq!(p.event, "cpu-clock", "{rel}");
    }
    let p = import_file(&fixture("perf-script/two-events.txt")).unwrap();
    assert_eq!(p.event, "page-faults");
}

fn assert_error_at(rel: &str, line: usize, problem: &str) {
    for odd in [OddLines::Skip, OddLines::Refuse] {
        let e = import(rel, odd).unwrap_err();
        let msg = e.to_string();
        let expect = format!("{}:{line}: {problem}", fixture(rel).display());
        assert!(msg.starts_with(&expect), "{msg} should start with {expect}");
        assert_eq!(msg.lines().count(), 1, "{msg}");
    }
}

#[test]
fn a_period_past_u64_is_an_error_naming_its_line() {
    assert_error_at(
        "bad/period-past-u64.txt",
        6,
        "period 18446744073709551616 does not fit in 64 bits",
    );
}

#[test]
fn a_negative_period_is_an_error_naming_its_line() {
    assert_error_at("bad/negative-period.txt", 6, "negative period -1001001");
}

#[test]
fn a_file_cut_inside_an_event_line_is_an_error_naming_its_line() {
    assert_error_at(
        "bad/cut-in-header.txt",
        15,
        "truncated event line at end of input (no newline, no frames)",
    );
}
