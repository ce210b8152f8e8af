//! `sentryprof run`: the flags of a run ([`RunArgs`]), their conversion
//! into a validated [`experiments::Plan`], and the observers that show it.
//!
//! Flow: flags → [`args::request`] (lists, sizes and names parsed into
//! typed values) → [`experiments::Plan::new`] (validated before any work)
//! → [`experiments::Session`] (trials, statistics, the bundle) reporting to
//! [`print::Printer`] (stdout lines and tables of
//! [`flamegraph::run_tables`], progress on stderr) and, with `--tui`,
//! [`live::LiveFeed`] (the live view).

mod args;
mod live;
mod print;

use experiments::{interrupt, Plan, Session};

use crate::error::{CliError, Outcome};

pub use args::RunArgs;

/// Run `sentryprof run`.
pub fn run(args: RunArgs) -> Result<Outcome, CliError> {
    let plan = Plan::new(&args::request(&args)?)?;
    let mut printer = print::Printer::new(&plan, experiments::notes::is_quiet() || args.tui);
    let session = Session::prepare(plan, &mut printer)?;
    // --tui: the live view takes the terminal until the run is over; what
    // the run prints meanwhile is shown when the view closes.
    let view = if args.tui {
        let view = tui::live::LiveView::start(Box::new(interrupt::request))
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
        Some(view)
    } else {
        None
    };
    let feed = live::LiveFeed::new(view.as_ref(), session.plan());
    session.execute(&mut (printer, feed))?;
    if let Some(view) = view {
        view.finish()
            .map_err(|e| CliError::Environment(format!("--tui: {e}")))?;
    }
    Ok(Outcome::Success)
}
