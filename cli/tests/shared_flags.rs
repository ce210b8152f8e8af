//! Flags that several verbs share have one name and one value name: read
//! from the built binary's `--help` of every verb. `--quiet`, a flag of
//! every verb, leaves stderr empty; without it, each fallback note is
//! printed once.

use std::collections::BTreeMap;
use std::process::{Command, Output};

fn sentryprof() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
}

/// Every verb, as its `--help` is asked for.
const VERBS: [&[&str]; 10] = [
    &["run"],
    &["record"],
    &["import", "perf-script"],
    &["import", "perf.data"],
    &["doctor"],
    &["flamegraph"],
    &["report"],
    &["compare"],
    &["tui"],
    &["sharing"],
];

/// `--flag` → its value name (`""` for a switch), from a verb's `--help`.
fn flags_of(verb: &[&str]) -> BTreeMap<String, String> {
    let o = sentryprof()
        .args(verb)
        .arg("--help")
        .output()
        .expect("run sentryprof --help");
    assert!(o.status.success(), "{verb:?} --help: {o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    let mut flags = BTreeMap::new();
    for line in text.lines() {
        let l = line.trim_start();
        let l = match l.strip_prefix('-') {
            // `-h, --help`: the long form.
            Some(rest) if !rest.starts_with('-') => match l.split_once(", ") {
                Some((_, long)) => long,
                None => continue,
            },
            Some(_) => l,
            None => continue,
        };
        let mut words = l.split_whitespace();
        let Some(name) = words.next().filter(|n| n.starts_with("--")) else {
            continue;
        };
        let value = words
            .next()
            .filter(|v| v.starts_with('<'))
            .unwrap_or("")
            .to_string();
        flags.insert(name.to_string(), value);
    }
    assert!(
        flags.contains_key("--help"),
        "{verb:?}: no flags read from\n{text}"
    );
    flags
}

#[test]
fn shared_flags_have_one_name_and_one_value_name() {
    let mut seen: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for verb in VERBS {
        let flags = flags_of(verb);
        let shown = verb.join(" ");
        assert_eq!(
            flags.get("--quiet").map(String::as_str),
            Some(""),
            "{shown}: no --quiet switch in {flags:?}"
        );
        for (name, value) in flags {
            seen.entry(name).or_default().push((shown.clone(), value));
        }
    }
    let mut problems = Vec::new();
    for (name, uses) in &seen {
        let first = &uses[0].1;
        if uses.iter().any(|(_, v)| v != first) {
            problems.push(format!("{name}: {uses:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "flags with differing value names:\n{}",
        problems.join("\n")
    );
    // The names chosen: --out DIR everywhere, --perf-freq HZ for sampling.
    let verbs_of = |flag: &str| -> Vec<String> {
        seen.get(flag)
            .map(|u| u.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        verbs_of("--out"),
        [
            "run",
            "record",
            "import perf-script",
            "import perf.data",
            "flamegraph",
            "report",
            "compare",
            "tui",
            "sharing"
        ]
    );
    assert_eq!(seen["--out"][0].1, "<DIR>");
    assert_eq!(verbs_of("--perf-freq"), ["run", "record"]);
    assert_eq!(seen["--perf-freq"][0].1, "<HZ>");
    assert!(
        !seen.contains_key("--freq"),
        "--freq is a hidden alias, not shown"
    );
}

#[test]
fn record_still_takes_the_old_freq_flag() {
    // Parsing only: an out-of-range value is refused by record itself,
    // naming the flag by its current name, before anything runs.
    let o = sentryprof()
        .args(["record", "--freq", "0", "--", "true"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("--perf-freq 0 is out of range"), "{err}");
}

fn small_run(dir: &std::path::Path, quiet: bool) -> Output {
    let mut c = sentryprof();
    c.current_dir(dir).args([
        "run",
        "--workload",
        "exp1",
        "--platform",
        "inproc",
        "--search",
        "maxgap",
        "--iterations",
        "200",
        "--trials",
        "1",
        "--warmup-trials",
        "0",
        "--collect",
        "probes,perf",
        "--out",
    ]);
    c.arg(dir.join(if quiet { "quiet" } else { "loud" }));
    if quiet {
        c.arg("--quiet");
    }
    c.output().expect("run sentryprof")
}

#[test]
fn quiet_leaves_stderr_empty_and_each_fallback_note_prints_once() {
    let tmp = tempfile::tempdir().unwrap();
    let loud = small_run(tmp.path(), false);
    let err = String::from_utf8_lossy(&loud.stderr).into_owned();
    assert!(loud.status.success(), "{err}");
    let fallback = err
        .lines()
        .filter(|l| l.contains("sampling with cpu-clock"))
        .count();
    if fallback == 0 {
        eprintln!("skip: the fallback-note half: this machine samples cycles (it has a PMU)");
    } else {
        assert_eq!(fallback, 1, "the fallback note once:\n{err}");
        // Where it happens: before the first point starts.
        let note_at = err.find("sampling with cpu-clock").unwrap();
        let point_at = err.find("[1/1]").expect("a progress line");
        assert!(
            note_at < point_at,
            "the note comes when sampling starts:\n{err}"
        );
    }
    let quiet = small_run(tmp.path(), true);
    assert!(quiet.status.success(), "{quiet:?}");
    assert_eq!(
        String::from_utf8_lossy(&quiet.stderr),
        "",
        "--quiet: stderr"
    );
    assert!(
        String::from_utf8_lossy(&quiet.stdout).contains("bundle: "),
        "results still on stdout"
    );
    // record: the same fallback note, silenced the same way.
    let rec = sentryprof()
        .args(["record", "--quiet", "--out"])
        .arg(tmp.path().join("rec"))
        .args(["--", "true"])
        .output()
        .unwrap();
    assert!(rec.status.success(), "{rec:?}");
    assert_eq!(
        String::from_utf8_lossy(&rec.stderr),
        "",
        "record --quiet: stderr"
    );
}

#[test]
fn off_a_terminal_the_run_shows_point_lines_and_no_bar() {
    let tmp = tempfile::tempdir().unwrap();
    let o = small_run(tmp.path(), false);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    assert!(err.contains("[1/1] exp1 inproc/maxgap"), "{err}");
    assert!(
        !err.contains('\r') && !err.contains('\x1b') && !err.contains("elapsed"),
        "bar bytes in captured stderr: {err:?}"
    );
}
