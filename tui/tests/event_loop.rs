//! The event loop (`tui::app::run`) on a `TestBackend` with scripted keys
//! and real bundles on disk, loaded by the loader thread: bad profiles end
//! the loop with an error naming the file and line; `q` ends it cleanly.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use bundle::synthetic::{sample_folded, sample_run, write_bundle};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tui::app::{run, BrowseOptions, EventSource};
use tui::error::TuiError;

/// Keys from a script, waiting like a real terminal when it has none, and
/// failing (not hanging) once it has waited far too long.
struct Script {
    keys: VecDeque<Event>,
    idle: usize,
}

impl EventSource for Script {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if let Some(e) = self.keys.pop_front() {
            return Ok(Some(e));
        }
        self.idle += 1;
        if self.idle > 2_000 {
            return Err(io::Error::other("script exhausted"));
        }
        std::thread::sleep(timeout);
        Ok(None)
    }
}

fn opts(bundle: std::path::PathBuf) -> BrowseOptions {
    BrowseOptions {
        bundles: vec![bundle],
        export_dir: None,
        threshold_pct: tui::DEFAULT_THRESHOLD_PCT,
    }
}

#[test]
fn malformed_folded_file_stops_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        &dir.path().join("b"),
        &sample_run(1.0),
        Some(&sample_folded()),
    )
    .unwrap();
    std::fs::write(bundle.join("stacks.folded"), "a;b 3\na;c lots\n").unwrap();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut script = Script {
        keys: VecDeque::new(),
        idle: 0,
    };
    let err = run(&mut terminal, &mut script, &opts(bundle)).unwrap_err();
    assert!(matches!(err, TuiError::Folded { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("stacks.folded:2"), "{text}");
}

#[test]
fn missing_profile_file_named_in_run_json_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        &dir.path().join("b"),
        &sample_run(1.0),
        Some(&sample_folded()),
    )
    .unwrap();
    std::fs::remove_file(bundle.join("stacks.folded")).unwrap();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let mut script = Script {
        keys: VecDeque::new(),
        idle: 0,
    };
    let err = run(&mut terminal, &mut script, &opts(bundle)).unwrap_err();
    assert!(err.to_string().contains("stacks.folded"), "{err}");
}

#[test]
fn q_quits_cleanly_whether_or_not_loading_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_bundle(
        &dir.path().join("b"),
        &sample_run(1.0),
        Some(&sample_folded()),
    )
    .unwrap();
    let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
    let keys = ['3', 'j', '/', 'm', '\n', 'q']
        .into_iter()
        .map(|c| {
            let code = if c == '\n' {
                KeyCode::Enter
            } else {
                KeyCode::Char(c)
            };
            Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
        })
        .collect();
    let mut script = Script { keys, idle: 0 };
    run(&mut terminal, &mut script, &opts(bundle)).unwrap();
}
