//! Loading bundles off the drawing thread: one thread reads, parses and
//! folds every bundle and sends each result over a channel, then compares
//! the first two, so the event loop keeps answering keys (and `q`) while a
//! large profile loads.

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use flamegraph::compare::compare_runs;

use crate::action::Action;
use crate::model::BundleModel;

/// Start a thread that loads `paths` in order and sends one
/// [`Action::Loaded`] per bundle, then, with two bundles loaded, one
/// [`Action::Compared`] (regressions beyond `threshold_pct`). The thread
/// ends when all is sent, a bundle fails, or the receiver is gone.
pub fn spawn_loader(
    paths: Vec<PathBuf>,
    threshold_pct: f64,
    tx: Sender<Action>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("sentryprof-tui-loader".into())
        .spawn(move || {
            let mut runs = Vec::new();
            for (index, path) in paths.into_iter().enumerate() {
                let result = BundleModel::load(&path).map(Box::new);
                let failed = result.is_err();
                if let Ok(model) = &result {
                    runs.push(model.run.clone());
                }
                if tx.send(Action::Loaded { index, result }).is_err() || failed {
                    return;
                }
            }
            if let [a, b] = runs.as_slice() {
                let cmp = compare_runs(a, b, threshold_pct);
                let _ = tx.send(Action::Compared(Box::new(cmp)));
            }
        })
}
