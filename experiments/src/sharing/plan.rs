//! What `sentryprof sharing` is asked for ([`SharingRequest`]) turned into
//! a validated [`SharingConfig`] before any work starts.

use std::path::{Path, PathBuf};

use bundle::read_bundle;
use collectors::sharing::{Granularity, ScanOptions, SourceSpec};

use super::error::SharingSetupError;
use crate::session::MEMORY_IMAGE as MEMORY_IMG;

/// The sources and settings of a sharing analysis, as given.
#[derive(Debug, Clone, Default)]
pub struct SharingRequest {
    /// Live processes to scan.
    pub pids: Vec<i32>,
    /// Raw memory image files to scan.
    pub images: Vec<PathBuf>,
    /// Bundles of `sentryprof run --keep-memory` whose memory.img to scan.
    pub bundles: Vec<PathBuf>,
    /// Bytes per compared unit, as given ("4096", "2K").
    pub granularity: String,
    /// How many of the most duplicated contents to list.
    pub top: usize,
    /// Bundle directory [default: `sentryprof-out/sharing-…` named by `now_unix`].
    pub out: Option<PathBuf>,
    /// The time that names the default output directory.
    pub now_unix: u64,
}

/// What `sentryprof sharing` will do.
#[derive(Debug, Clone)]
pub struct SharingConfig {
    /// What to scan.
    pub sources: Vec<SourceSpec>,
    /// How to scan it.
    pub options: ScanOptions,
    /// Where the bundle goes.
    pub out: PathBuf,
}

fn bad(msg: impl Into<String>) -> SharingSetupError {
    SharingSetupError::BadInput(msg.into())
}

/// "4096", "2K", "64" → bytes.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, mult) = match t.strip_suffix(['K', 'k']) {
        Some(d) => (d, 1024),
        None => (t, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

impl SharingConfig {
    /// Validate `args`.
    pub fn new(args: &SharingRequest) -> Result<SharingConfig, SharingSetupError> {
        let g = parse_bytes(&args.granularity).ok_or_else(|| {
            bad(format!(
                "--granularity {:?}: not a number of bytes (e.g. 4096, 2K, 64)",
                args.granularity
            ))
        })?;
        let granularity = Granularity::new(g)
            .map_err(|e| bad(format!("--granularity {}: {e}", args.granularity)))?;
        let mut sources: Vec<SourceSpec> =
            args.pids.iter().map(|&p| SourceSpec::process(p)).collect();
        sources.extend(
            args.images
                .iter()
                .map(|p| SourceSpec::Image { path: p.clone() }),
        );
        for dir in &args.bundles {
            sources.push(SourceSpec::SentryMemoryFile {
                path: memory_file_of(dir)?,
            });
        }
        if sources.is_empty() {
            return Err(bad(
                "no sources: give at least one --pid PID, --image FILE or --bundle DIR",
            ));
        }
        Ok(SharingConfig {
            sources,
            options: ScanOptions {
                granularity,
                top: args.top,
                ..ScanOptions::default()
            },
            out: args
                .out
                .clone()
                .unwrap_or_else(|| crate::out_dir::default_out_dir("sharing", args.now_unix)),
        })
    }
}

/// The sentry memory file of a run bundle, or a clear error saying how to
/// get one.
pub fn memory_file_of(dir: &Path) -> Result<PathBuf, SharingSetupError> {
    let bundle = read_bundle(dir)?;
    let path = bundle.path_of(MEMORY_IMG);
    if path.is_file() {
        return Ok(path);
    }
    let listed = bundle.run.files.iter().any(|f| f == MEMORY_IMG);
    Err(bad(format!(
        "{}: {}: re-run with `sentryprof run --keep-memory ...` to keep the sentry's memory file",
        dir.display(),
        if listed {
            "run.json lists memory.img but the file is missing"
        } else {
            "this bundle has no memory.img"
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_and_out_dir() {
        assert_eq!(parse_bytes("4096"), Some(4096));
        assert_eq!(parse_bytes("2K"), Some(2048));
        assert_eq!(parse_bytes("x"), None);
    }
}
