//! `sentryprof`: the command-line front end. Only argument handling and
//! wiring live here; the work is done by the library crates.

mod commands;
mod error;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use error::{CliError, Outcome, EXIT_BAD_INPUT};

/// Profile the memory path of a sandbox: an instrumented mini-sentry, perf
/// collectors, flamegraphs, cycle tables and a terminal browser.
///
/// With no subcommand, runs the README's main job (`sentryprof run` on its
/// defaults).
#[derive(Debug, Parser)]
#[command(name = "sentryprof", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// No notes or progress on stderr (errors still print)
    #[arg(long, global = true)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workload on platforms and search strategies; write a bundle.
    Run(commands::run::RunArgs),
    /// Sample any command and its children with perf_event_open.
    Record(commands::record::RecordArgs),
    /// Import profiles recorded elsewhere.
    Import(commands::import::ImportArgs),
    /// Check what this machine allows: perf, KVM, TSC, host limits.
    Doctor(commands::doctor::DoctorArgs),
    /// Render flamegraph SVGs from a bundle or folded stacks.
    Flamegraph(commands::flamegraph::FlamegraphArgs),
    /// Cycle tables, scaling verdicts, charts and report.html from a bundle.
    Report(commands::report::ReportArgs),
    /// Compare two bundles; exit 1 on a regression.
    Compare(commands::compare::CompareArgs),
    /// Browse bundles in the terminal.
    Tui(commands::tui::TuiArgs),
    /// Measure how much memory is identical page for page.
    Sharing(commands::sharing::SharingArgs),
    /// Print a shell completion script: `sentryprof completions bash`.
    Completions {
        #[arg(value_parser = experiments::usage::SHELLS)]
        shell: String,
    },
    /// Print the man page (roff): `sentryprof man > sentryprof.1`.
    Man,
}

fn dispatch(command: Command) -> Result<Outcome, CliError> {
    match command {
        Command::Run(a) => commands::run::run(a),
        Command::Record(a) => commands::record::run(a),
        Command::Import(a) => commands::import::run(a),
        Command::Doctor(a) => commands::doctor::run(a),
        Command::Flamegraph(a) => commands::flamegraph::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Compare(a) => commands::compare::run(a),
        Command::Tui(a) => commands::tui::run(a),
        Command::Sharing(a) => commands::sharing::run(a),
        Command::Completions { shell } => {
            commands::docs::print(experiments::usage::completions(Cli::command(), &shell))
        }
        Command::Man => commands::docs::print(experiments::usage::man_page(Cli::command())),
    }
}

/// Parse the command line; `--size -4096` is a value its flag refuses.
fn parse_args() -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    let negatives = |a: clap::Arg| {
        let takes = a.get_action().takes_values() && !a.is_positional();
        a.allow_negative_numbers(takes)
    };
    let cmd = Cli::command().mut_subcommands(|sc| sc.mut_args(negatives));
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}

/// `sentryprof` with no subcommand: [`experiments::plan::MAIN_JOB`].
fn main_job() -> Command {
    let words = Cli::try_parse_from(experiments::plan::MAIN_JOB);
    (words.ok().and_then(|c| c.command)).expect("the main job's words parse")
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            let line = experiments::usage::one_line(&e.render().to_string());
            eprintln!("sentryprof: error: {line}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    experiments::notes::set_quiet(cli.quiet);
    let command = cli.command.unwrap_or_else(main_job);
    match dispatch(command) {
        Ok(outcome) => outcome.exit_code(),
        Err(e) => e.report(),
    }
}
