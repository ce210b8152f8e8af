//! `sentryprof sharing` as a library: how much memory is identical page
//! for page (the measurement of Barker et al., USENIX ATC 2012) over live
//! processes, raw memory images and the sentry's memory file of a run
//! bundle. [`plan`] validates the request, [`collectors::sharing`] scans,
//! [`bundle`] writes the result bundle.

pub mod bundle;
pub mod plan;

use std::path::PathBuf;

use collectors::sharing::report::{SharingReport, SHARING_JSON};
use collectors::sharing::{analyze, SharingError};
use thiserror::Error;

pub use plan::{SharingConfig, SharingRequest};

/// Why a sharing analysis wrote no bundle.
#[derive(Debug, Error)]
pub enum SharingSetupError {
    /// The request is wrong (flags, a bundle without memory.img).
    #[error("{0}")]
    BadInput(String),
    /// The analysis failed ([`SharingError::NothingScanned`] is the
    /// environment's fault, the rest the input's).
    #[error(transparent)]
    Analysis(#[from] SharingError),
    /// A bundle could not be read or written.
    #[error(transparent)]
    Bundle(#[from] ::bundle::BundleError),
    /// The report could not be encoded.
    #[error("cannot encode {SHARING_JSON}: {0}")]
    Encode(serde_json::Error),
}

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
