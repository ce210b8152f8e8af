//! Why a sharing analysis wrote no bundle: the error of every step of
//! [`super::run`].

use collectors::sharing::report::SHARING_JSON;
use collectors::sharing::SharingError;
use thiserror::Error;

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
