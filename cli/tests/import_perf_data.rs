//! `sentryprof import perf.data`: a real perf.data becomes a bundle of kind
//! `import`; bad input (bad magic, a header cut short, a truncated or
//! corrupt record) exits 2 with one line naming the file and the byte
//! offset, and leaves no bundle.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../collectors/fixtures/perf-data/ls.data")
}

fn import(file: &Path, out: &Path) -> std::process::Output {
    sentryprof()
        .args(["import", "perf.data"])
        .arg(file)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run sentryprof")
}

#[test]
fn imports_a_real_perf_data_into_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("b");
    let o = import(&fixture(), &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.starts_with("imported 205 samples of 'cpu-clock'"),
        "{stdout}"
    );
    let bundle = bundle::read_bundle(&out).expect("bundle reads back");
    assert_eq!(bundle.run.kind, bundle::BundleKind::Import);
    assert_eq!(bundle.run.workload.params["format"], "perf.data");
    let profile = bundle.run.profile.as_ref().expect("profile");
    assert_eq!(profile.samples, 205);
    let folded = std::fs::read_to_string(out.join("stacks.folded")).unwrap();
    // Every stack is rooted at a comm of the recording.
    assert!(folded.lines().all(|l| ["ls;", "sh;", "perf-exec;"]
        .iter()
        .any(|c| l.starts_with(c))));
}

/// The header's data section: (offset, size).
fn data_section(b: &[u8]) -> (usize, usize) {
    let u = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap()) as usize;
    (u(40), u(48))
}

#[test]
fn bad_inputs_exit_2_name_the_byte_and_leave_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture()).unwrap();
    let (data_off, data_size) = data_section(&good);
    let mut corrupt = good.clone();
    // The first record's size field (bytes 6..8 of its header) set to 4.
    corrupt[data_off + 6..data_off + 8].copy_from_slice(&4u16.to_le_bytes());
    let mut zero_size = good.clone();
    zero_size[data_off + 6..data_off + 8].copy_from_slice(&0u16.to_le_bytes());
    // The last record's size grown by 8: it runs past the data section.
    let mut last = data_off;
    let mut at = data_off;
    while at < data_off + data_size {
        last = at;
        at += u16::from_le_bytes([good[at + 6], good[at + 7]]) as usize;
    }
    let last_size = u16::from_le_bytes([good[last + 6], good[last + 7]]);
    let mut overrun = good.clone();
    overrun[last + 6..last + 8].copy_from_slice(&(last_size + 8).to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "magic",
            b"NOTPERF!and more bytes".to_vec(),
            "not a perf.data file: bad magic \"NOTPERF!\" (at byte 0)".into(),
        ),
        (
            "short",
            good[..60].to_vec(),
            "header cut short: 60 of 104 bytes (at byte 60)".into(),
        ),
        (
            "cut",
            good[..data_off + data_size / 2].to_vec(),
            format!(
                "the data section (bytes {data_off}..{}) runs past the end of the file",
                data_off + data_size
            ),
        ),
        (
            "corrupt",
            corrupt,
            format!("size 4 is smaller than its 8-byte header (at byte {data_off})"),
        ),
        (
            "zero",
            zero_size,
            format!("size 0 is smaller than its 8-byte header (at byte {data_off})"),
        ),
        (
            "record",
            overrun,
            format!(
                "{} bytes) runs past the end of the data section (byte {}): truncated (at byte {last})",
                last_size + 8,
                data_off + data_size
            ),
        ),
        (
            "empty",
            Vec::new(),
            "too short for the magic (at byte 0)".into(),
        ),
    ];
    for (name, bytes, expect) in cases {
        let file = dir.path().join(format!("{name}.data"));
        std::fs::write(&file, bytes).unwrap();
        let out = dir.path().join(format!("{name}.bundle"));
        let o = import(&file, &out);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
        assert!(
            stderr.starts_with(&format!("sentryprof: error: {}: ", file.display())),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(&expect), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: no bundle");
    }
    let missing = dir.path().join("missing.data");
    let o = import(&missing, &dir.path().join("m.bundle"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.data: cannot read"));
}
