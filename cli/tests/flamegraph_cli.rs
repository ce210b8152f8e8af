//! `sentryprof flamegraph` end to end on synthetic bundles: files beside
//! run.json or in --out, every mode, and bad input (exit 2, nothing written).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bundle::synthetic::{sampled_profile, write_exp1_bundle};
use bundle::{BundleWriter, RunJson, STACKS_FOLDED};

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

fn bundle(root: &Path, name: &str, sampled: bool) -> PathBuf {
    write_exp1_bundle(&root.join(name), sampled).unwrap()
}

fn svg_ok(p: &Path) {
    let s = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        s.starts_with("<?xml") && s.trim_end().ends_with("</svg>"),
        "{}",
        p.display()
    );
}

#[test]
fn every_mode_writes_its_svg() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bundle(tmp.path(), "a", true);
    let b = bundle(tmp.path(), "b", true);
    let a_s = a.to_str().unwrap();
    let o = sentryprof(&["flamegraph", a_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    svg_ok(&a.join("flamegraph.svg"));
    let o = sentryprof(&["flamegraph", a_s, "--icicle", "--min-width", "0.5"]);
    assert!(o.status.success());
    svg_ok(&a.join("icicle.svg"));
    let o = sentryprof(&["flamegraph", a_s, "--probes"]);
    assert!(o.status.success());
    svg_ok(&a.join("probes_flamegraph.svg"));
    let o = sentryprof(&["flamegraph", a_s, "--diff-search", "linear,maxgap"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    svg_ok(&a.join("diff_linear_vs_maxgap_flamegraph.svg"));
    let out = tmp.path().join("elsewhere");
    let o = sentryprof(&[
        "flamegraph",
        a_s,
        "--diff",
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    svg_ok(&out.join("diff_flamegraph.svg"));
    // A bundle without samples still gets a flamegraph, from the probes.
    let c = bundle(tmp.path(), "c", false);
    let o = sentryprof(&["flamegraph", c.to_str().unwrap()]);
    assert!(o.status.success());
    svg_ok(&c.join("probes_flamegraph.svg"));
    // Same bundle, same bytes.
    let first = std::fs::read(a.join("flamegraph.svg")).unwrap();
    assert!(sentryprof(&["flamegraph", a_s]).status.success());
    assert_eq!(first, std::fs::read(a.join("flamegraph.svg")).unwrap());
}

fn assert_bad(o: &Output, mention: &str) {
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(mention),
        "stderr {err:?} should name {mention:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn no_svg(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(!n.contains(".svg"), "{n} left behind in {}", dir.display());
    }
}

#[test]
fn bad_bundles_exit_2_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let newer = tmp.path().join("newer");
    std::fs::create_dir(&newer).unwrap();
    std::fs::write(
        newer.join("run.json"),
        r#"{"format_version":"9.0","points":[]}"#,
    )
    .unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", newer.to_str().unwrap()]),
        "run.json",
    );
    no_svg(&newer);

    let corrupt = tmp.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(
        corrupt.join("run.json"),
        b"{\"format_version\": \"1.0\", \"poi",
    )
    .unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", corrupt.to_str().unwrap()]),
        "run.json",
    );
    no_svg(&corrupt);

    let missing = tmp.path().join("nobundle");
    std::fs::create_dir(&missing).unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", missing.to_str().unwrap()]),
        "nobundle",
    );

    // A declared profile whose folded file is empty.
    let empty = tmp.path().join("empty");
    let w = BundleWriter::create(&empty).unwrap();
    w.write_file(STACKS_FOLDED, b"").unwrap();
    let mut run = RunJson::new(bundle::BundleKind::Record);
    run.profile = Some(sampled_profile().1);
    w.finish(&run).unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", empty.to_str().unwrap()]),
        "stacks.folded",
    );
    no_svg(&empty);

    // Nothing at all to draw.
    let nothing = tmp.path().join("nothing");
    BundleWriter::create(&nothing)
        .unwrap()
        .finish(&RunJson::new(bundle::BundleKind::Run))
        .unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", nothing.to_str().unwrap()]),
        "empty profile",
    );
    no_svg(&nothing);

    let good = bundle(tmp.path(), "good", true);
    assert_bad(
        &sentryprof(&[
            "flamegraph",
            good.to_str().unwrap(),
            "--diff-search",
            "linear",
        ]),
        "--diff-search",
    );
    no_svg(&good);
}

/// Runs `sentryprof ARGS` in `cwd` with `stdin` on its standard input.
fn sentryprof_stdin(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running sentryprof");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// A `perf script` stack folded as inferno-collapse-perf folds it: the
/// kernel frames carry no suffix.
const PERF_FOLDED: &str =
    "python3;main;__libc_write;entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_write 50\n\
                           python3;main;compute 70\n";

/// The fill colour of the frame whose tooltip starts with `name`.
fn fill_of(svg: &str, name: &str) -> String {
    let at = svg
        .find(&format!("<title>{name} ("))
        .unwrap_or_else(|| panic!("{name} not drawn"));
    let fill = &svg[at..][svg[at..].find("fill=\"rgb(").unwrap() + 10..];
    fill[..fill.find(')').unwrap()].to_string()
}

#[test]
fn folded_files_and_stdin_are_inputs_with_title_and_width() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("perf.folded");
    std::fs::write(&file, PERF_FOLDED).unwrap();
    let f = file.to_str().unwrap();
    let o = sentryprof(&["flamegraph", f, "--title", "My & title", "--width", "640"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(tmp.path().join("flamegraph.svg")).unwrap();
    assert!(svg.contains("My &amp; title"), "the title is used");
    assert!(svg.contains("width=\"640\""), "the width is used");
    // Kernel frames (below the entry point) in green, user frames warm.
    for k in [
        "entry_SYSCALL_64_after_hwframe",
        "do_syscall_64",
        "ksys_write",
    ] {
        let rgb: Vec<u32> = fill_of(&svg, k)
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(rgb[1] > rgb[0] && rgb[1] > rgb[2], "{k} is green: {rgb:?}");
    }
    for u in ["compute", "__libc_write"] {
        let rgb: Vec<u32> = fill_of(&svg, u)
            .split(',')
            .map(|v| v.parse().unwrap())
            .collect();
        assert!(rgb[0] > rgb[1] && rgb[0] > rgb[2], "{u} is warm: {rgb:?}");
    }
    // Standard input: written into the current directory, same drawing.
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let args = [
        "flamegraph",
        "-",
        "--title",
        "My & title",
        "--width",
        "640",
        "--icicle",
    ];
    let o = sentryprof_stdin(&cwd, &args, PERF_FOLDED.as_bytes());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let icicle = std::fs::read_to_string(cwd.join("icicle.svg")).unwrap();
    assert!(
        icicle.contains("folded stacks from &lt;stdin&gt;"),
        "the subtitle names stdin"
    );
}

#[test]
fn long_subtitles_wrap() {
    let tmp = tempfile::tempdir().unwrap();
    let a = bundle(tmp.path(), "a", true);
    let o = sentryprof(&["flamegraph", a.to_str().unwrap(), "--width", "400"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(a.join("flamegraph.svg")).unwrap();
    let first = svg.split("id=\"subtitle\"").nth(1).unwrap();
    let first = &first[first.find('>').unwrap() + 1..first.find("</text>").unwrap()];
    assert!(
        first.chars().count() <= 60,
        "one line fits 400 px: {first:?}"
    );
    let more = svg.matches("text-anchor=\"middle\">").count();
    assert!(
        more >= 2,
        "the rest of the subtitle follows on {more} more lines"
    );
    assert!(
        svg.contains("4920 samples"),
        "nothing of the subtitle is lost"
    );
}

#[test]
fn bad_folded_input_exits_2_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.folded");
    std::fs::write(&file, "a;b 1\na;c x\n").unwrap();
    assert_bad(
        &sentryprof(&["flamegraph", file.to_str().unwrap()]),
        "bad.folded:2",
    );
    no_svg(tmp.path());
    let o = sentryprof_stdin(tmp.path(), &["flamegraph", "-"], b"ok 1\nno-weight\n");
    assert_bad(&o, "<stdin>:2");
    no_svg(tmp.path());
    let missing = tmp.path().join("missing.folded");
    assert_bad(
        &sentryprof(&["flamegraph", missing.to_str().unwrap()]),
        "missing.folded",
    );
    std::fs::write(&file, "a 1\n").unwrap();
    let f = file.to_str().unwrap();
    assert_bad(&sentryprof(&["flamegraph", f, "--probes"]), "need a bundle");
    assert_bad(
        &sentryprof(&["flamegraph", f, "--width", "10"]),
        "--width 10",
    );
    no_svg(tmp.path());
}
