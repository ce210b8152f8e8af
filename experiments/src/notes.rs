//! What the front end says on stderr besides errors: notes (a fallback, a
//! step skipped, a file written) and the progress of a run. `--quiet`, a
//! flag of every verb, silences them for the whole process. Never silenced:
//! errors, what a verb prints on stdout (its results), and what happened to
//! files at `--out` (an earlier bundle kept as `NAME.old`, stale staging
//! directories removed; [`crate::Observer::output_note`]).

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Set once from the command line: true silences notes and progress.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Print `line` on stderr unless quiet.
pub fn say(line: &str) {
    if !is_quiet() {
        eprintln!("{line}");
    }
}

/// Print a note on stderr as `sentryprof: note: NOTE`, unless quiet.
pub fn note(note: &str) {
    say(&format!("sentryprof: note: {note}"));
}
