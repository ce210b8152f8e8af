//! Performance targets of the browser (issue: "drawing one frame of the
//! flame view of a profile with 100,000 unique stacks at 200x50 takes at
//! most 16 ms, and opening such a bundle takes at most 1 s").
//!
//! `cargo bench -p tui --bench flame` prints the medians:
//! - `open_bundle/100k_stacks`: read run.json and stacks.folded from disk,
//!   parse, build the flame tree and the function and site tables (all the
//!   loader thread does before the first draw);
//! - `draw_flame_200x50/*`: one full frame of the flame view into a ratatui
//!   `TestBackend` of 200x50 cells, at the root, zoomed, and with a search
//!   highlighting matches.

use std::hint::black_box;

use bundle::synthetic::{sample_run, synthetic_folded, write_bundle};
use criterion::{criterion_group, criterion_main, Criterion};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tui::action::Action;
use tui::model::BundleModel;
use tui::state::{AppState, Tab};

const STACKS: usize = 100_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let bundle = dir.path().join("big");
    let folded = synthetic_folded(STACKS, 7);
    assert_eq!(folded.len(), STACKS);
    write_bundle(&bundle, &sample_run(1.0), Some(&folded)).expect("bundle written");

    let mut open = c.benchmark_group("open_bundle");
    open.sample_size(10);
    open.bench_function("100k_stacks", |b| {
        b.iter(|| black_box(BundleModel::load(&bundle).expect("bundle loads")))
    });
    open.finish();

    let model = BundleModel::load(&bundle).expect("bundle loads");
    eprintln!(
        "profile: {} distinct stacks, {} tree nodes, depth {}, {} functions",
        STACKS,
        model.tree.len(),
        model.tree.max_depth(),
        model.functions.rows.len()
    );
    let mut state = AppState::new(vec![bundle.clone()], 200, 50);
    state.update(Action::Loaded {
        index: 0,
        result: Ok(Box::new(model)),
    });
    state.update(Action::GoTab(Tab::Flame));
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).expect("test terminal");

    let mut draw = c.benchmark_group("draw_flame_200x50");
    draw.bench_function("root", |b| {
        b.iter(|| {
            terminal
                .draw(|f| tui::ui::draw(f, black_box(&state)))
                .expect("draw");
        })
    });
    for _ in 0..3 {
        state.update(Action::Down);
    }
    state.update(Action::Activate);
    draw.bench_function("zoomed", |b| {
        b.iter(|| {
            terminal
                .draw(|f| tui::ui::draw(f, black_box(&state)))
                .expect("draw");
        })
    });
    state.update(Action::ResetZoom);
    state.update(Action::StartInput);
    for ch in "module_3::".chars() {
        state.update(Action::InputChar(ch));
    }
    state.update(Action::InputSubmit);
    draw.bench_function("search", |b| {
        b.iter(|| {
            terminal
                .draw(|f| tui::ui::draw(f, black_box(&state)))
                .expect("draw");
        })
    });
    draw.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
