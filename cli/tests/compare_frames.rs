//! `sentryprof compare A B`'s gated differential flamegraph, end to end:
//! real small `sentryprof run`s sampled with perf (cpu-clock where there
//! is no PMU) and synthetic bundles with per-trial stacks. Two runs of one
//! build colour no frame; the linear walk against max-gap colours
//! find_available's walk and exits 1; bundles without per-trial stacks
//! get one line and no SVG. Also: start-up frames trimmed from flamegraphs
//! by default, kept with --keep-startup, the bundle's files complete.
//!
//! Every comparison's frame counts are printed (`--nocapture`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use bundle::read_bundle;
use bundle::synthetic::trials::{write_trials_bundle, TrialModel};
use bundle::synthetic::write_exp1_bundle;

fn sentryprof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sentryprof"))
        .args(args)
        .output()
        .expect("running sentryprof")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `sentryprof run` of exp1 at 5,000 mappings on inproc with `platform`,
/// 12 trials, sampled at 4999 Hz; None (with a SKIP line) when the bundle
/// has no per-trial stacks because sampling was refused here.
fn run(root: &Path, name: &str, platform: &str) -> Option<PathBuf> {
    let out = root.join(name);
    let o = sentryprof(&[
        "run",
        "--platform",
        platform,
        "--iterations",
        "5000",
        "--trials",
        "12",
        "--warmup-trials",
        "1",
        "--perf-freq",
        "4999",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let b = read_bundle(&out).unwrap();
    if b.run.points.iter().any(|p| p.trial_folded.is_empty()) {
        println!("SKIP: no per-trial stacks in {name}: perf sampling refused here");
        return None;
    }
    Some(out)
}

/// The last line of compare's frame summary, and the exit status.
fn compare(a: &Path, b: &Path, out: &Path) -> (i32, String) {
    let o = sentryprof(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    let frames = t
        .lines()
        .find(|l| l.starts_with("frames: ") && l.contains(" tested (c = "))
        .unwrap_or_else(|| panic!("no frame summary:\n{t}"))
        .to_string();
    (o.status.code().unwrap_or(-1), t + "\n" + &frames)
}

/// (tested, grew, shrank) from the summary line.
fn counts(summary: &str) -> (usize, usize, usize) {
    let line = summary.lines().last().unwrap();
    let num = |after: &str| -> usize {
        let i = line.find(after).unwrap();
        line[..i]
            .rsplit([' ', ',', '('])
            .find(|w| !w.is_empty())
            .unwrap()
            .parse()
            .unwrap()
    };
    (num(" tested"), num(" grew"), num(" shrank"))
}

/// Fills of the frames whose name starts with `name` in an SVG.
fn fills_of(svg: &str, name: &str) -> Vec<String> {
    svg.split("<g><title>")
        .skip(1)
        .filter(|g| g.starts_with(name))
        .filter_map(|g| g.split("fill=\"").nth(1))
        .map(|f| f.split('"').next().unwrap_or("").to_string())
        .collect()
}

/// Frames filled red or blue (the background and greys are r = g = b).
fn coloured(svg: &str) -> usize {
    svg.split("fill=\"rgb(")
        .skip(1)
        .filter_map(|f| f.split(')').next())
        .filter(|rgb| {
            let v: Vec<u32> = rgb.split(',').filter_map(|x| x.parse().ok()).collect();
            v.len() == 3 && !(v[0] == v[1] && v[1] == v[2])
        })
        .count()
}

/// The tests of this file run one at a time: "same build" means the same
/// conditions too, and the synthetic test's bootstrap beside a real run
/// takes a CPU from it (a run under other load has another profile).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn same_build_real_runs_colour_no_frame_and_linear_against_maxgap_colours_the_walk() {
    let _serial = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for k in 0..3 {
        match run(tmp.path(), &format!("same{k}"), "inproc") {
            Some(r) => runs.push(r),
            None => return,
        }
    }
    // The run's own flamegraph has no start-up frames; its folded files do.
    let folded = std::fs::read_to_string(runs[0].join("stacks.folded")).unwrap();
    let svg = std::fs::read_to_string(runs[0].join("flamegraph.svg")).unwrap();
    println!(
        "real run: lang_start_internal in stacks.folded {} times, in flamegraph.svg {}",
        folded.matches("lang_start_internal").count(),
        svg.matches("lang_start_internal").count()
    );
    assert!(folded.contains("lang_start_internal") && !svg.contains("lang_start_internal"));
    for (i, j) in [(0, 1), (1, 2), (0, 2), (2, 0)] {
        let out = tmp.path().join(format!("cmp{i}{j}"));
        let (code, t) = compare(&runs[i], &runs[j], &out);
        let (tested, grew, shrank) = counts(&t);
        println!(
            "same build, run {i} vs run {j}: exit {code}, {tested} frames tested, {grew} grew, {shrank} shrank"
        );
        let svg = std::fs::read_to_string(out.join("compare_flamegraph.svg")).unwrap();
        assert!(tested > 20, "{t}");
        assert_eq!((grew, shrank), (0, 0), "{t}");
        assert_eq!(coloured(&svg), 0);
        assert_ne!(code, 2, "{t}");
    }

    let Some(linear) = run(tmp.path(), "linear", "inproc/linear") else {
        return;
    };
    let Some(maxgap) = run(tmp.path(), "maxgap", "inproc/maxgap") else {
        return;
    };
    let out = tmp.path().join("walk");
    let (code, t) = compare(&maxgap, &linear, &out);
    let (tested, grew, shrank) = counts(&t);
    println!("max-gap -> linear: exit {code}, {tested} tested, {grew} grew, {shrank} shrank");
    let walk: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("last_large_enough_gap_linear") || l.contains("find_available<"))
        .collect();
    println!("{}", walk.join("\n"));
    assert_eq!(code, 1, "a frame regression exits 1:\n{t}");
    assert!(t.contains("matched across search strategies"), "{t}");
    let svg = std::fs::read_to_string(out.join("compare_flamegraph.svg")).unwrap();
    for f in ["last_large_enough_gap_linear", "find_available&lt;"] {
        let fills = fills_of(&svg, f);
        println!("{f}: fills {fills:?}");
        assert!(
            fills.iter().any(|c| c.starts_with("rgb(250,")),
            "{f} is red: {fills:?}"
        );
    }
    assert!(
        t.lines()
            .any(|l| l.contains("last_large_enough_gap_linear") && l.contains("REGRESSION")),
        "{t}"
    );
}

#[test]
fn synthetic_bundles_same_model_colour_nothing_and_older_bundles_say_so() {
    let _serial = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let model = TrialModel::exp1(0.10);
    let dirs: Vec<PathBuf> = (0..4u64)
        .map(|s| {
            write_trials_bundle(&tmp.path().join(format!("s{s}")), &model, 12, s * 31 + 5).unwrap()
        })
        .collect();
    for (i, j) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
        let out = tmp.path().join(format!("c{i}{j}"));
        let (code, t) = compare(&dirs[i], &dirs[j], &out);
        let (tested, grew, shrank) = counts(&t);
        println!("synthetic same model {i} vs {j}: exit {code}, {tested} tested, {grew} grew, {shrank} shrank");
        assert_eq!((grew, shrank), (0, 0), "{t}");
        assert!(tested > 20);
    }
    let walk =
        write_trials_bundle(&tmp.path().join("walk"), &TrialModel::exp1(0.5), 12, 77).unwrap();
    let (code, t) = compare(&dirs[0], &walk, &tmp.path().join("cw"));
    let (tested, grew, shrank) = counts(&t);
    println!(
        "synthetic walk 10% -> 50%: exit {code}, {tested} tested, {grew} grew, {shrank} shrank"
    );
    assert_eq!(code, 1);
    assert!(grew > 0 && shrank > 0);

    // A bundle of format 1.0 (no per-trial stacks): one line, no SVG, the
    // sites still compared.
    let old = write_exp1_bundle(&tmp.path().join("old"), true).unwrap();
    let o = sentryprof(&["compare", old.to_str().unwrap(), dirs[0].to_str().unwrap()]);
    let t = text(&o);
    let lines: Vec<&str> = t
        .lines()
        .filter(|l| l.contains("frame diff: not drawn"))
        .collect();
    println!("older bundle: {lines:?}");
    assert_eq!(lines.len(), 1, "{t}");
    assert!(lines[0].contains("--diff"), "{t}");
    assert!(!dirs[0].join("compare_flamegraph.svg").exists());
    assert_ne!(o.status.code(), Some(2), "{t}");
}

#[test]
fn startup_frames_trimmed_by_default_and_kept_on_request() {
    let _serial = one_at_a_time();
    let tmp = tempfile::tempdir().unwrap();
    let b = write_trials_bundle(&tmp.path().join("b"), &TrialModel::exp1(0.1), 3, 1).unwrap();
    let o = sentryprof(&["flamegraph", b.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let trimmed = std::fs::read_to_string(b.join("flamegraph.svg")).unwrap();
    let o = sentryprof(&[
        "flamegraph",
        b.to_str().unwrap(),
        "--keep-startup",
        "--out",
        tmp.path().join("kept").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let kept = std::fs::read_to_string(tmp.path().join("kept/flamegraph.svg")).unwrap();
    let folded = std::fs::read_to_string(b.join("stacks.folded")).unwrap();
    for marker in ["lang_start_internal", "__rust_begin_short_backtrace"] {
        println!(
            "{marker}: folded {}, trimmed SVG {}, kept SVG {}",
            folded.matches(marker).count(),
            trimmed.matches(marker).count(),
            kept.matches(marker).count()
        );
        assert!(folded.contains(marker) && kept.contains(marker));
        assert!(!trimmed.contains(marker));
    }
    assert!(trimmed.contains("start-up frames trimmed") && trimmed.contains("find_available"));
    assert!(!kept.contains("start-up frames trimmed"));
}
