//! The terminal guard: raw mode and the alternate screen on entry, and the
//! terminal put back as it was on every way out (return, error, Ctrl-C,
//! which arrives as a key in raw mode, and panic, through a panic hook).

use std::io::{self, Stdout};
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

/// The terminal in browser mode; dropping it restores the terminal.
pub struct TerminalGuard {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

/// Put the terminal back: leave the alternate screen, show the cursor, end
/// raw mode. Safe to call more than once and from a panic hook.
pub fn restore() {
    let raw = is_raw_mode_enabled().unwrap_or(true);
    let _ = execute!(io::stdout(), DisableBracketedPaste, LeaveAlternateScreen, Show);
    if raw {
        let _ = disable_raw_mode();
    }
}

static HOOK: Once = Once::new();

/// Chain a panic hook that restores the terminal before the panic message
/// is printed (once per process).
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

impl TerminalGuard {
    /// Check the terminal is big enough, then enter raw mode and the
    /// alternate screen.
    ///
    /// Errors: [`TuiError::TerminalTooSmall`] before anything is changed;
    /// [`TuiError::Terminal`] when stdout is not a terminal (the terminal is
    /// restored before returning).
    pub fn enter() -> Result<TerminalGuard, TuiError> {
        let (width, height) = size().map_err(|source| TuiError::Terminal {
            what: "cannot read the terminal size (is stdout a terminal?)",
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
        install_panic_hook();
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
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
