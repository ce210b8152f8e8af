//! End to end: the real `sentryprof tui` in a real terminal (a detached
//! tmux session of 200x50): open a bundle, sort the cycle table, zoom and
//! search in the flame view, quit with `q` and with Ctrl-C, and check that
//! the terminal is restored (primary screen, cooked mode with echo). Also a
//! terminal too small to draw: message and status 2.
//!
//! Prints `SKIP: tmux not found` when tmux is absent. Every tmux call uses
//! a socket of its own (`-L`), and the server is killed at the end, even
//! when an assertion fails.

use std::path::Path;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bundle::synthetic::{sample_folded, sample_run, write_bundle};

/// How long to wait for the screen to show something before failing.
const PATIENCE: Duration = Duration::from_secs(60);

/// A tmux server on a private socket, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Type a shell command line and run it.
    fn run_line(&self, line: &str) {
        let out = self.cmd(&["send-keys", "-t", "e2e", "-l", line]);
        assert!(out.status.success(), "{out:?}");
        self.send(&["Enter"]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "e2e"]).stdout).into_owned()
    }

    fn display(&self, format: &str) -> String {
        let out = self.cmd(&["display-message", "-p", "-t", "e2e", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait until the screen satisfies `pred`; fail with the screen if it
    /// never does.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            if start.elapsed() > PATIENCE {
                panic!("waited for {what}; the screen shows:\n{screen}");
            }
            sleep(Duration::from_millis(100));
        }
    }

    fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Check the pane is back on the primary screen in cooked mode with echo.
fn assert_restored(t: &Tmux, marker: &str) {
    assert_eq!(t.display("#{alternate_on}"), "0", "alternate screen left");
    // The output line ends in "DONE:<marker>", which the typed command
    // line itself does not contain.
    t.run_line(&format!(
        "stty -a | tr ' ' '\\n' | grep -x -e icanon -e echo | tr '\\n' ' '; printf 'DONE:%s\\n' {marker}"
    ));
    let done = format!("DONE:{marker}");
    let screen = t.wait_text(&done);
    let line = screen.lines().find(|l| l.ends_with(&done)).unwrap_or("");
    assert!(
        line.contains("icanon") && line.contains("echo"),
        "terminal left in raw mode: {line:?}\n{screen}"
    );
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[test]
fn browse_sort_zoom_search_quit_in_tmux() {
    if !tmux_available() {
        skip_line(format_args!("SKIP: tmux not found"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        &dir.path().join("bundle"),
        &sample_run(1.0),
        Some(&sample_folded()),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_sentryprof");
    let t = Tmux {
        socket: format!("sentryprof-tui-e2e-{}", std::process::id()),
    };
    let out = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "200",
        "-y",
        "50",
        "env",
        "PS1=$ ",
        "TERM=xterm-256color",
        "sh",
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    t.wait_text("$");
    let tui_cmd = format!(
        "{} tui {}; echo EXIT=$?",
        shell_quote(Path::new(bin)),
        shell_quote(&bundle)
    );

    // Open: the overview with the doctor facts.
    t.run_line(&tui_cmd);
    let screen = t.wait_text("Capabilities (doctor)");
    assert!(
        screen.contains("1 Overview") && screen.contains("2 Cycle table"),
        "{screen}"
    );
    assert_eq!(
        t.display("#{alternate_on}"),
        "1",
        "drawn on the alternate screen"
    );

    // Sort: the function table by total, largest first.
    t.send(&["2"]);
    t.wait_text("self ▼");
    t.send(&["s", "s"]);
    let screen = t.wait_text("total ▼");
    let first_row = screen
        .lines()
        .find(|l| l.starts_with("│") && !l.contains("function"))
        .unwrap_or("");
    assert!(
        first_row.contains("sentryprof"),
        "heaviest total first: {screen}"
    );

    // Zoom: into MemoryManager::mmap (four levels down the heaviest path).
    t.send(&["3"]);
    t.wait_text("view: all");
    t.send(&["j", "j", "j", "j", "Enter"]);
    let screen =
        t.wait_text("view: all > sentryprof > run_point > Workload::exp1 > MemoryManager::mmap");
    assert!(screen.contains("findAvailable"), "{screen}");

    // Search: a regex, with the share of matched samples.
    t.send(&["/"]);
    t.wait_text("search (regex)");
    t.send(&["-l", "find.*"]);
    t.send(&["Enter"]);
    let screen = t.wait_text("/find.*/:");
    assert!(screen.contains("62.21% of samples"), "{screen}");

    // Help, then quit with q: the terminal is as it was.
    t.send(&["?"]);
    t.wait_text("keys (? or Esc to close)");
    t.send(&["q"]);
    t.wait_text("EXIT=0");
    assert_restored(&t, "RESTORED-AFTER-Q");

    // Ctrl-C quits too, also while a search is being typed.
    t.run_line(&tui_cmd);
    t.wait_text("Capabilities (doctor)");
    t.send(&["3", "/", "x"]);
    t.wait_text("search (regex)");
    t.send(&["C-c"]);
    t.wait_for("second EXIT=0", |s| s.matches("EXIT=0").count() >= 2);
    assert_restored(&t, "RESTORED-AFTER-CTRL-C");

    // Resized below the minimum: a clear message and status 2, nothing drawn.
    let out = t.cmd(&["resize-window", "-t", "e2e", "-x", "40", "-y", "10"]);
    assert!(out.status.success(), "{out:?}");
    t.run_line("clear");
    t.run_line(&tui_cmd);
    let screen = t.wait_text("EXIT=2");
    assert!(screen.contains("terminal too small"), "{screen}");
    assert_restored(&t, "RESTORED-SMALL");
}

#[test]
fn run_tui_shows_points_live_then_browses_the_bundle() {
    if !tmux_available() {
        skip_line(format_args!("SKIP: tmux not found"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("live-bundle");
    let bin = env!("CARGO_BIN_EXE_sentryprof");
    let t = Tmux {
        socket: format!("sentryprof-run-tui-e2e-{}", std::process::id()),
    };
    let out = t.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "200",
        "-y",
        "50",
        "env",
        "PS1=$ ",
        "TERM=xterm-256color",
        "sh",
    ]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    t.wait_text("$");
    // A small real run: in-process sentry, both strategies, two sizes of
    // the mapping set, probes only.
    t.run_line(&format!(
        "{} run --workload exp1 --mapping private --platform inproc --search linear,maxgap \
         --iterations 500,1000 --trials 3 --warmup-trials 1 --collect probes --out {} --tui; echo EXIT=$?",
        shell_quote(Path::new(bin)),
        shell_quote(&out_dir)
    ));
    let screen = t.wait_text("run over:");
    assert!(screen.contains("4/4 points"), "{screen}");
    assert!(
        screen.contains("✓ exp1 inproc/maxgap private 4096B x1000 notouch"),
        "{screen}"
    );
    assert!(
        screen.contains("find_available"),
        "cycle table of a measured point: {screen}"
    );
    assert!(
        screen.contains("median so far"),
        "trial latencies as they finish: {screen}"
    );
    assert!(
        !screen.contains("bundle: "),
        "the run's own output waits until the view closes"
    );
    // Enter: the finished bundle in the browser.
    t.send(&["Enter"]);
    t.wait_text("Capabilities (doctor)");
    t.send(&["q"]);
    let screen = t.wait_text("EXIT=0");
    assert!(
        screen.contains("bundle: "),
        "captured output shown afterwards: {screen}"
    );
    assert!(out_dir.join("run.json").is_file());
    assert_restored(&t, "RESTORED-AFTER-RUN");
}

/// Print a skip line straight to the stderr handle: libtest captures
/// `eprintln!` of passing tests, and a skip must be visible in CI's log.
fn skip_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{args}");
}
