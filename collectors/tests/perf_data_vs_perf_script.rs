//! `perf_data::import_perf_data` against `perf script | inferno-collapse-perf`
//! (inferno's library, default options) on perf.data files recorded here
//! with `perf record -e cpu-clock -g`: the folded stacks must be the same.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use collectors::perf_data::import_perf_data;

/// Record `argv` into `out`; None (with a SKIP line) when perf cannot.
fn record(out: &Path, argv: &[&str]) -> Option<()> {
    let status = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-o"])
        .arg(out)
        .arg("--")
        .args(argv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match status {
        Ok(o) if o.status.success() && out.exists() => Some(()),
        Ok(o) => {
            println!(
                "SKIP: perf record refused here (perf_event_open?): {}",
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
            );
            None
        }
        Err(e) => {
            println!("SKIP: perf is not installed: {e}");
            None
        }
    }
}

/// `perf script -i data` folded by inferno's library.
fn perf_script_folded(data: &Path) -> BTreeMap<String, u64> {
    let text = Command::new("perf")
        .args(["script", "-i"])
        .arg(data)
        .stderr(std::process::Stdio::null())
        .output()
        .expect("perf script runs")
        .stdout;
    let mut folder =
        inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default());
    let mut out = Vec::new();
    inferno::collapse::Collapse::collapse(&mut folder, &text[..], &mut out).expect("inferno folds");
    String::from_utf8(out)
        .expect("utf-8")
        .lines()
        .filter_map(|l| {
            let (k, w) = l.rsplit_once(' ')?;
            Some((k.to_string(), w.parse().ok()?))
        })
        .collect()
}

fn ours(data: &Path) -> BTreeMap<String, u64> {
    let p = import_perf_data(data).expect("imports");
    p.folded.iter().map(|(k, w)| (k.to_string(), w)).collect()
}

/// The stacks that differ, each with both weights.
fn differences(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> Vec<String> {
    let mut d = Vec::new();
    for (k, w) in a {
        if b.get(k) != Some(w) {
            d.push(format!("perf script {w} / import {:?}: {k}", b.get(k)));
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            d.push(format!("perf script none / import {w}: {k}"));
        }
    }
    d
}

fn compare(argv: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("x.data");
    if record(&data, argv).is_none() {
        return;
    }
    let theirs = perf_script_folded(&data);
    let ours = ours(&data);
    let diff = differences(&theirs, &ours);
    let total: u64 = theirs.values().sum();
    println!(
        "{}: {} stacks, weight {total}; {} differ",
        argv[0],
        theirs.len(),
        diff.len()
    );
    for d in diff.iter().take(40) {
        println!("  {d}");
    }
    assert!(diff.is_empty(), "{} stacks differ", diff.len());
}

#[test]
fn python_loop_folds_as_perf_script_does() {
    compare(&[
        "python3",
        "-c",
        "import hashlib\nfor i in range(200000): hashlib.sha1(str(i).encode()).hexdigest()",
    ]);
}

#[test]
fn file_walk_folds_as_perf_script_does() {
    compare(&[
        "sh",
        "-c",
        "find /usr/lib -name '*.so*' | head -3000 | xargs -n 200 ls -l > /dev/null",
    ]);
}

/// The Rust workload of `rust_program_folds_as_perf_script_does` (this test
/// binary runs it in a child under perf): hashing, sorting, formatting.
#[test]
#[ignore = "the workload a recording test runs, not a test of its own"]
fn rust_workload() {
    let mut acc = std::collections::HashMap::new();
    let start = std::time::Instant::now();
    let mut i = 0u64;
    while start.elapsed() < std::time::Duration::from_millis(400) {
        let mut v: Vec<String> = (0..200).map(|k| format!("{:x}", k * i + 7)).collect();
        v.sort();
        *acc.entry(v[i as usize % 200].len()).or_insert(0u64) += 1;
        i += 1;
    }
    assert!(!acc.is_empty());
}

#[test]
fn rust_program_folds_as_perf_script_does() {
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    compare(&[
        exe,
        "--ignored",
        "--exact",
        "rust_workload",
        "--test-threads=1",
    ]);
}
