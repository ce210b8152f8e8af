//! The event loop: worker results and terminal events become actions,
//! actions update the state, the state is drawn when it changed. Key
//! handling never waits for work: loading and exports run on threads and
//! report back through the same channel.

use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use bundle::{read_bundle, write_file_atomic};
use crossterm::event::{self, Event};
use flamegraph::flame::{render, FlameOptions, Orientation};
use ratatui::backend::Backend;
use ratatui::Terminal;

use crate::action::{Action, Effect};
use crate::error::TuiError;
use crate::keys::action_for;
use crate::loader::spawn_loader;
use crate::state::AppState;
use crate::terminal::TerminalGuard;
use crate::ui;

/// How long the loop waits for a terminal event before checking workers.
const POLL: Duration = Duration::from_millis(40);

/// Default slowdown (percent) beyond which Compare calls a significant
/// change a regression.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

/// What `sentryprof tui` was asked to open.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowseOptions {
    /// One bundle, or two to compare (A then B).
    pub bundles: Vec<PathBuf>,
    /// Where SVG exports go (None: beside each bundle's run.json).
    pub export_dir: Option<PathBuf>,
    /// Slowdown (percent) beyond which Compare calls a change a regression.
    pub threshold_pct: f64,
}

/// Where terminal events come from: the real terminal, or a script in tests.
pub trait EventSource {
    /// The next event, waiting at most `timeout`; None when none came.
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>>;
}

/// Events of the real terminal, through crossterm.
#[derive(Debug, Default)]
pub struct TerminalEvents;

impl EventSource for TerminalEvents {
    fn next(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if event::poll(timeout)? {
            event::read().map(Some)
        } else {
            Ok(None)
        }
    }
}

/// Open the browser on the real terminal and run it until the user quits.
///
/// Errors: usage (no bundle or more than two), a terminal that is too small
/// or not a terminal, a bundle that fails to load. The terminal is restored
/// before this returns, whatever happened.
pub fn browse(opts: BrowseOptions) -> Result<(), TuiError> {
    if opts.bundles.is_empty() || opts.bundles.len() > 2 {
        return Err(TuiError::Usage(format!(
            "sentryprof tui takes one bundle, or two to compare; got {}",
            opts.bundles.len()
        )));
    }
    if !(opts.threshold_pct.is_finite() && opts.threshold_pct >= 0.0) {
        return Err(TuiError::Usage(format!(
            "--threshold {}: must be a percentage >= 0",
            opts.threshold_pct
        )));
    }
    // A missing or corrupt run.json is reported before the terminal is
    // touched; the (large) profiles are read by the loader thread.
    for path in &opts.bundles {
        read_bundle(path)?;
    }
    let mut guard = TerminalGuard::enter()?;
    let result = run(&mut guard.terminal, &mut TerminalEvents, &opts);
    drop(guard);
    result
}

/// Start the loader and run the event loop on `terminal` with `events`
/// until the user quits, returning the error that stopped it, if any.
pub fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    opts: &BrowseOptions,
) -> Result<(), TuiError>
where
    B::Error: Send + Sync + 'static,
{
    let size = terminal.size().map_err(terminal_error("read the size"))?;
    let (tx, rx) = channel();
    let loader =
        spawn_loader(opts.bundles.clone(), opts.threshold_pct, tx.clone()).map_err(|source| {
            TuiError::Terminal {
                what: "cannot start the loader thread",
                source,
            }
        })?;
    let mut state = AppState::new(opts.bundles.clone(), size.width, size.height);
    state.export_dir = opts.export_dir.clone();
    event_loop(terminal, events, &mut state, &rx, &tx, &loader)?;
    match state.fatal.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn terminal_error<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl Fn(E) -> TuiError {
    move |e| TuiError::Terminal {
        what,
        source: io::Error::other(e),
    }
}

fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    state: &mut AppState,
    rx: &Receiver<Action>,
    tx: &Sender<Action>,
    loader: &JoinHandle<()>,
) -> Result<(), TuiError>
where
    B::Error: Send + Sync + 'static,
{
    let mut dirty = true;
    loop {
        while let Ok(action) = rx.try_recv() {
            apply(state, action, tx);
            dirty = true;
        }
        if loader.is_finished() && !state.all_loaded() && state.fatal.is_none() {
            // The loader ended without sending every bundle: it panicked.
            // Drain once more in case the result raced the check.
            if let Ok(action) = rx.try_recv() {
                apply(state, action, tx);
                continue;
            }
            let path = state
                .bundles
                .iter()
                .find_map(|s| match s {
                    crate::state::Slot::Loading(p) => Some(p.clone()),
                    crate::state::Slot::Ready(_) => None,
                })
                .unwrap_or_default();
            state.fatal = Some(TuiError::LoaderDied {
                path,
                reason: "the loader thread panicked".into(),
            });
            state.quit = true;
        }
        if state.quit {
            return Ok(());
        }
        if dirty {
            terminal
                .draw(|f| ui::draw(f, state))
                .map_err(terminal_error("draw"))?;
            dirty = false;
        }
        let event = events.next(POLL).map_err(|source| TuiError::Terminal {
            what: "read an event",
            source,
        })?;
        for action in actions_of(event, state) {
            apply(state, action, tx);
            dirty = true;
        }
    }
}

/// The actions of one terminal event.
fn actions_of(event: Option<Event>, state: &AppState) -> Vec<Action> {
    match event {
        Some(Event::Key(key)) => action_for(key, state).into_iter().collect(),
        Some(Event::Resize(width, height)) => vec![Action::Resize { width, height }],
        Some(Event::Paste(text)) if state.input.is_some() => text
            .chars()
            .filter(|c| !c.is_control())
            .map(Action::InputChar)
            .collect(),
        _ => Vec::new(),
    }
}

/// Update the state and start any work it asks for.
fn apply(state: &mut AppState, action: Action, tx: &Sender<Action>) {
    if let Some(effect) = state.update(action) {
        start(effect, tx);
    }
}

/// Run an effect on a worker thread; its result comes back as an action.
fn start(effect: Effect, tx: &Sender<Action>) {
    let tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("sentryprof-tui-export".into())
        .spawn({
            let tx = tx.clone();
            let effect = effect.clone();
            move || {
                let _ = tx.send(Action::Exported(run_effect(effect)));
            }
        });
    if let Err(e) = spawned {
        let _ = tx.send(Action::Exported(Err(format!(
            "cannot start the export thread: {e}"
        ))));
    }
}

/// Carry out an effect (on a worker thread).
pub fn run_effect(effect: Effect) -> Result<PathBuf, String> {
    match effect {
        Effect::ExportSvg {
            stacks,
            title,
            path,
            icicle,
            count_name,
        } => {
            let opts = FlameOptions {
                title,
                subtitle: Some("exported from sentryprof tui".into()),
                orientation: if icicle {
                    Orientation::Icicle
                } else {
                    Orientation::Flame
                },
                count_name,
                ..FlameOptions::default()
            };
            let what = path.display().to_string();
            let svg = render(&stacks, &opts, &what).map_err(|e| e.to_string())?;
            write_file_atomic(&path, &svg).map_err(|e| e.to_string())?;
            Ok(path)
        }
    }
}
