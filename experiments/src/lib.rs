//! Experiments of sentryprof: a run of workloads on platforms and search
//! strategies, from a validated plan to a written bundle.
//!
//! The layers, in the order a run goes through them:
//!
//! - [`plan`]: typed settings ([`PlanRequest`]) become a validated
//!   [`Plan`] before any work starts (defaults per workload, combinations
//!   refused, every point expanded in run order); errors are [`PlanError`].
//! - [`session`]: the executor. [`Session::prepare`] claims the output
//!   directory, calibrates the probes, starts the sampling collector
//!   ([`collect`], the collector seam) and makes one runner per platform ×
//!   search ([`platforms`], the platform seam); [`Session::execute`]
//!   measures every point ([`measure`]: warm-up, counted trials,
//!   statistics, probe histograms merged), records failures per point,
//!   stops between trials on Ctrl-C ([`interrupt`]), renders the default
//!   outputs into the staging directory and renames the bundle into place.
//!   Errors are [`RunError`].
//! - [`observer`]: the [`Observer`] trait through which a session reports
//!   progress; front ends print or draw, the session prints nothing
//!   ([`summary`] has the lines `sentryprof run` prints about a plan).
//!
//! [`names`] and [`units`] parse names, sizes and counts as users write
//! them, within the [`limits`] a plan accepts; [`progress`] is the progress line a run shows on stderr and [`notes`] the
//! notes (both off with `--quiet`); [`out_dir`] names
//! default output directories for every verb; [`profiles`] and [`sharing`]
//! write the bundles of `sentryprof record`, `import` and `sharing`.
//!
//! ```no_run
//! use experiments::{Plan, PlanRequest, Session};
//!
//! let plan = Plan::new(&PlanRequest {
//!     iterations: vec![100],
//!     trials: Some(2),
//!     ..PlanRequest::default()
//! })?;
//! let mut observer = ();
//! let session = Session::prepare(plan, &mut observer)?;
//! let dir = session.execute(&mut observer)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod collect;
pub mod error;
pub mod guest_sampling;
pub mod interrupt;
pub mod limits;
pub mod measure;
pub mod names;
pub mod notes;
pub mod observer;
pub mod out_dir;
pub mod plan;
pub mod platforms;
pub mod profiles;
pub mod progress;
pub mod replay_summary;
pub mod session;
pub mod sharing;
pub mod summary;
pub mod units;
pub mod usage;

pub use error::{PlanError, RunError};
pub use observer::Observer;
pub use plan::{CollectorKind, Plan, PlanRequest, PlatformChoice, PlatformKind};
pub use session::{Session, MEMORY_IMAGE};

/// The sentry's types a plan is made of, re-exported so front ends need
/// not name `instrumented-sentry`.
pub use instrumented_sentry::probes::Calibration;
pub use instrumented_sentry::segment::GapSearch;
pub use instrumented_sentry::workload::{Mapping, WorkloadKind};
