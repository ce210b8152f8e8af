//! Shared helpers of the tui crate's tests: sample models and a state with
//! them loaded, built with the real schema types (see `bundle::synthetic`).

#![allow(dead_code)]

use std::path::PathBuf;

use bundle::synthetic::{sample_folded, sample_run};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;
use tui::action::Action;
use tui::model::{BundleModel, ProfileSource};
use tui::state::AppState;
use tui::ui::draw;

/// The sample bundle as a model, `slowdown` scaling its search costs.
pub fn model(slowdown: f64) -> BundleModel {
    BundleModel::from_parts(
        PathBuf::from(format!("/bundles/sample-{slowdown}")),
        sample_run(slowdown),
        sample_folded(),
        ProfileSource::Samples {
            file: "stacks.folded".into(),
            event: Some("cycles:HG".into()),
        },
    )
}

/// A state of the given size with `models` loaded (in order).
pub fn loaded(models: Vec<BundleModel>, width: u16, height: u16) -> AppState {
    let paths = models.iter().map(|m| m.dir.clone()).collect();
    let mut state = AppState::new(paths, width, height);
    for (index, m) in models.into_iter().enumerate() {
        assert!(state
            .update(Action::Loaded {
                index,
                result: Ok(Box::new(m)),
            })
            .is_none());
    }
    state
}

/// Apply actions in order, expecting no effect from any.
pub fn apply(state: &mut AppState, actions: Vec<Action>) {
    for a in actions {
        let dbg = format!("{a:?}");
        assert!(state.update(a).is_none(), "{dbg} asked for work");
    }
}

/// Name of the selected flame frame.
pub fn selected_name(state: &AppState) -> String {
    let m = state.primary().expect("loaded");
    m.tree.name(state.flame.selected).to_string()
}

/// Draw the whole browser into a `TestBackend` of the given size.
pub fn render(state: &AppState, width: u16, height: u16) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, state)).unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer as text, one line per row, trailing blanks cut.
pub fn text_of(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Compare the buffer's text with `tests/snapshots/NAME.txt`
/// (`SENTRYPROF_BLESS=1` writes it).
pub fn check_snapshot(name: &str, buf: &Buffer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(format!("{name}.txt"));
    let actual = text_of(buf);
    if std::env::var_os("SENTRYPROF_BLESS").is_some() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with SENTRYPROF_BLESS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "snapshot {name} differs (SENTRYPROF_BLESS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}"
        );
    }
}
