//! `sentryprof run --tui`: the run shown live, point by point, with each
//! point's cycle table as soon as it is measured; when the run is over,
//! Enter opens the bundle in the browser.
//!
//! The run loop stays where it is (the CLI's `run`) and reports through a
//! channel of [`LiveEvent`]s; the view runs on a thread of its own and
//! draws on the controlling terminal, while whatever the run prints is
//! captured and printed once the view closes.
//!
//! ```text
//! let live = LiveView::start(Box::new(|| ask_the_run_to_stop()))?;
//! let tx = live.sender();      // send LiveEvents from the run loop
//! ...run...
//! tx.send(LiveEvent::Finished { bundle, summary })?;
//! live.finish()?;              // waits until the user quits
//! ```

pub mod capture;
mod draw;
pub mod state;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::Event;
use ratatui::backend::Backend;
use ratatui::Terminal;

pub use draw::draw;
pub use state::{LiveCommand, LiveEvent, LiveState, PointStatus};

use crate::app::{self, BrowseOptions, EventSource, TerminalEvents};
use crate::error::TuiError;
use crate::terminal::TerminalGuard;
use capture::OutputCapture;

/// How long the view waits for a key before looking at the run's events.
const POLL: Duration = Duration::from_millis(50);

/// A callback asking the run to stop after the current trial.
pub type StopRun = Box<dyn Fn() + Send + 'static>;

/// The live view, on screen until [`finish`](Self::finish).
pub struct LiveView {
    tx: Option<Sender<LiveEvent>>,
    /// Set to close the view at once (the run failed).
    close: Arc<AtomicBool>,
    ui: Option<JoinHandle<Result<(), TuiError>>>,
    capture: Option<OutputCapture>,
}

impl LiveView {
    /// Take the terminal and start the view on its own thread. `stop` is
    /// called (once) when the user presses q or Ctrl-C during the run.
    ///
    /// Errors: no controlling terminal, or one too small; nothing is
    /// changed then.
    pub fn start(stop: StopRun) -> Result<LiveView, TuiError> {
        let guard = TerminalGuard::enter_tty()?;
        let capture = OutputCapture::start().map_err(|source| TuiError::Terminal {
            what: "cannot capture the run's output",
            source,
        })?;
        let (tx, rx) = channel();
        let close = Arc::new(AtomicBool::new(false));
        let ui_close = close.clone();
        let ui = std::thread::Builder::new()
            .name("sentryprof-live".into())
            .spawn(move || {
                let mut guard = guard;
                run_live(
                    &mut guard.terminal,
                    &mut TerminalEvents,
                    &rx,
                    stop.as_ref(),
                    &ui_close,
                )
            })
            .map_err(|source| TuiError::Terminal {
                what: "cannot start the live view thread",
                source,
            })?;
        Ok(LiveView {
            tx: Some(tx),
            close,
            ui: Some(ui),
            capture: Some(capture),
        })
    }

    /// Where the run sends its events.
    pub fn sender(&self) -> Sender<LiveEvent> {
        match &self.tx {
            Some(tx) => tx.clone(),
            None => channel().0,
        }
    }

    /// The run is over (send [`LiveEvent::Finished`] first): wait until the
    /// user closes the view, restore the terminal, and print what the run
    /// printed meanwhile.
    pub fn finish(mut self) -> Result<(), TuiError> {
        self.tx = None;
        let result = match self.ui.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(TuiError::Terminal {
                what: "the live view stopped",
                source: std::io::Error::other("its thread panicked"),
            }),
            None => Ok(()),
        };
        if let Some(capture) = self.capture.take() {
            if let Ok(text) = capture.finish() {
                let mut out = std::io::stdout();
                let _ = out.write_all(&text);
                let _ = out.flush();
            }
        }
        result
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        // Not finished (an error in the run): close the view without
        // waiting for the user, then give the output back.
        self.tx = None;
        self.close.store(true, Ordering::SeqCst);
        if let Some(ui) = self.ui.take() {
            let _ = ui.join();
        }
        if let Some(capture) = self.capture.take() {
            if let Ok(text) = capture.finish() {
                let _ = std::io::stdout().write_all(&text);
            }
        }
    }
}

/// The live view's loop on `terminal`: run events and keys until the user
/// quits after the run, or opens the bundle in the browser and quits that.
/// A run that disconnects without [`LiveEvent::Finished`], or `close`
/// becoming true, ends the view.
pub fn run_live<B: Backend>(
    terminal: &mut Terminal<B>,
    events: &mut dyn EventSource,
    rx: &Receiver<LiveEvent>,
    stop: &(dyn Fn() + Send),
    close: &AtomicBool,
) -> Result<(), TuiError>
where
    B::Error: Send + Sync + 'static,
{
    let mut state = LiveState::new();
    let mut dirty = true;
    loop {
        if close.load(Ordering::SeqCst) {
            return Ok(());
        }
        loop {
            match rx.try_recv() {
                Ok(ev) => {
                    state.apply(ev);
                    dirty = true;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    if state.ended.is_none() {
                        // The run went away without saying how it ended.
                        return Ok(());
                    }
                    break;
                }
            }
        }
        if dirty {
            terminal
                .draw(|f| draw(f, &state))
                .map_err(|e| TuiError::Terminal {
                    what: "draw",
                    source: std::io::Error::other(e),
                })?;
            dirty = false;
        }
        let event = events.next(POLL).map_err(|source| TuiError::Terminal {
            what: "read an event",
            source,
        })?;
        match event {
            Some(Event::Key(key)) => match state.key(key) {
                Some(LiveCommand::StopRun) => {
                    stop();
                    dirty = true;
                }
                Some(LiveCommand::Quit) => return Ok(()),
                Some(LiveCommand::Browse(bundle)) => {
                    let opts = BrowseOptions {
                        bundles: vec![bundle],
                        export_dir: None,
                        threshold_pct: app::DEFAULT_THRESHOLD_PCT,
                    };
                    return app::run(terminal, events, &opts);
                }
                Some(LiveCommand::Redraw) => dirty = true,
                None => {}
            },
            Some(Event::Resize(..)) => dirty = true,
            _ => {}
        }
    }
}
