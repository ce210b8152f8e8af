//! Shared helpers of the tui crate's tests: sample models and a state with
//! them loaded, built with the real schema types (see `bundle::synthetic`).

#![allow(dead_code)]

use std::path::PathBuf;

use bundle::synthetic::{sample_folded, sample_run};
use tui::action::Action;
use tui::model::{BundleModel, ProfileSource};
use tui::state::AppState;

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
