//! The terminal guard: raw mode and the alternate screen on entry, and the
//! terminal put back as it was on every way out (return, error, Ctrl-C,
//! which arrives as a key in raw mode, and panic, through a panic hook).
//!
//! The browser draws on standard output. The live view of `sentryprof run
//! --tui` draws on the controlling terminal (`/dev/tty`) instead, because
//! the run's own standard output is captured while it is on screen.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::cursor::Show;
use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, is_raw_mode_enabled, size, EnterAlternateScreen,
    LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::error::TuiError;
use crate::ui::{MIN_HEIGHT, MIN_WIDTH};

/// Where the screen is drawn.
#[derive(Debug)]
pub enum TermOut {
    /// Standard output (the browser).
    Stdout(Stdout),
    /// The controlling terminal, opened for writing (the live view).
    Tty(File),
}

impl Write for TermOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TermOut::Stdout(s) => s.write(buf),
            TermOut::Tty(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TermOut::Stdout(s) => s.flush(),
            TermOut::Tty(f) => f.flush(),
        }
    }
}

/// The terminal in browser mode; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<TermOut>>,
}

/// Whether the screen was drawn on `/dev/tty` rather than stdout.
static ON_TTY: AtomicBool = AtomicBool::new(false);

fn open_tty() -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open("/dev/tty")
}

/// Put the terminal back: leave the alternate screen, show the cursor, end
/// raw mode. Safe to call more than once and from a panic hook.
pub fn restore() {
    let raw = is_raw_mode_enabled().unwrap_or(true);
    if ON_TTY.load(Ordering::SeqCst) {
        if let Ok(mut tty) = open_tty() {
            let _ = execute!(tty, DisableBracketedPaste, LeaveAlternateScreen, Show);
        }
    } else {
        let _ = execute!(
            io::stdout(),
            DisableBracketedPaste,
            LeaveAlternateScreen,
            Show
        );
    }
    if raw {
        let _ = disable_raw_mode();
    }
}

static HOOK: Once = Once::new();

/// Chain a panic hook that restores the terminal (and the standard output
/// of a captured run) before the panic message is printed, once per process.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            crate::live::capture::release_on_panic();
            previous(info);
        }));
    });
}

impl TerminalGuard {
    /// Check the terminal is big enough, then enter raw mode and the
    /// alternate screen on standard output.
    ///
    /// Errors: [`TuiError::TerminalTooSmall`] before anything is changed;
    /// [`TuiError::Terminal`] when stdout is not a terminal (the terminal is
    /// restored before returning).
    pub fn enter() -> Result<TerminalGuard, TuiError> {
        if !io::stdout().is_terminal() {
            return Err(TuiError::Terminal {
                what: "standard output is not a terminal",
                source: io::Error::other("the browser draws on a terminal; run it in one"),
            });
        }
        Self::enter_on(TermOut::Stdout(io::stdout()))
    }

    /// Like [`enter`](Self::enter), drawing on the controlling terminal.
    pub fn enter_tty() -> Result<TerminalGuard, TuiError> {
        let tty = open_tty().map_err(|source| TuiError::Terminal {
            what: "cannot open /dev/tty (no controlling terminal)",
            source,
        })?;
        Self::enter_on(TermOut::Tty(tty))
    }

    fn enter_on(out: TermOut) -> Result<TerminalGuard, TuiError> {
        let (width, height) = size().map_err(|source| TuiError::Terminal {
            what: "cannot read the terminal size",
            source,
        })?;
        if width < MIN_WIDTH || height < MIN_HEIGHT {
            return Err(TuiError::TerminalTooSmall {
                need_width: MIN_WIDTH,
                need_height: MIN_HEIGHT,
                width,
                height,
            });
        }
        ON_TTY.store(matches!(out, TermOut::Tty(_)), Ordering::SeqCst);
        install_panic_hook();
        let setup = move || -> io::Result<Terminal<CrosstermBackend<TermOut>>> {
            let mut out = out;
            enable_raw_mode()?;
            execute!(out, EnterAlternateScreen, EnableBracketedPaste)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
            terminal.hide_cursor()?;
            terminal.clear()?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(source) => {
                restore();
                Err(TuiError::Terminal {
                    what: "cannot enter raw mode and the alternate screen",
                    source,
                })
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}
