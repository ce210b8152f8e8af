//! How a command ends: the exit statuses of DESIGN.md and the one-line
//! errors behind them.

use std::process::ExitCode;

use thiserror::Error;

/// A command failed: one line on stderr, exit 2 (`Interrupted`: 130).
#[derive(Debug, Error)]
pub enum CliError {
    /// The user's input is wrong: flags, files, bundles, traces.
    #[error("{0}")]
    BadInput(String),
    /// The machine cannot do what was asked (a host limit, a missing device).
    #[error("{0}")]
    Environment(String),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// Ctrl-C or SIGTERM stopped the command; the line says what was kept.
    #[error("{0}")]
    Interrupted(String),
}

impl CliError {
    /// Print the error's one line on stderr; its exit status.
    pub fn report(&self) -> ExitCode {
        if let CliError::Interrupted(line) = self {
            eprintln!("sentryprof: {line}");
            return ExitCode::from(130); // 128 + SIGINT, as a shell gives
        }
        eprintln!("sentryprof: error: {self}");
        ExitCode::from(EXIT_BAD_INPUT)
    }
}

impl From<experiments::PlanError> for CliError {
    fn from(e: experiments::PlanError) -> Self {
        CliError::BadInput(e.to_string())
    }
}

impl From<experiments::RunError> for CliError {
    fn from(e: experiments::RunError) -> Self {
        match e {
            experiments::RunError::Bundle(b) => CliError::Bundle(b),
            e @ experiments::RunError::Interrupted { .. } => CliError::Interrupted(e.to_string()),
            other => CliError::Environment(other.to_string()),
        }
    }
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit status 0.
    Success,
    /// Exit status 1: a comparison found a regression.
    Regression,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Success => ExitCode::SUCCESS,
            Outcome::Regression => ExitCode::from(1),
        }
    }
}

/// Exit status for errors: bad input or an unusable environment.
pub const EXIT_BAD_INPUT: u8 = 2;
