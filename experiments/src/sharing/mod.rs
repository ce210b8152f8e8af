//! `sentryprof sharing` as a library: how much memory is identical page
//! for page (the measurement of Barker et al., USENIX ATC 2012) over live
//! processes, raw memory images and the sentry's memory file of a run
//! bundle. [`plan`] validates the request, [`collectors::sharing`] scans,
//! [`bundle`] writes the result bundle; every failure is a
//! [`SharingSetupError`].

pub mod bundle;
mod error;
pub mod plan;

use std::path::PathBuf;

use collectors::sharing::analyze;
use collectors::sharing::report::SharingReport;

pub use error::SharingSetupError;
pub use plan::{SharingConfig, SharingRequest};

/// Scan what `config` names and write the bundle; returns the report and
/// the bundle's directory.
pub fn run(
    config: &SharingConfig,
    created_unix: u64,
) -> Result<(SharingReport, PathBuf), SharingSetupError> {
    let report = analyze(&config.sources, &config.options, &mut |_| {})?;
    let dir = bundle::write_bundle(&config.out, &report, created_unix)?;
    Ok((report, dir))
}
