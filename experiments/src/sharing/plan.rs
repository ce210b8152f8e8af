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
        refuse_repeats(args)?;
        for img in &args.images {
            if std::fs::metadata(img)
                .map(|m| m.is_file() && m.len() == 0)
                .unwrap_or(false)
            {
                return Err(bad(format!(
                    "--image {}: the file is empty, nothing to scan",
                    img.display()
                )));
            }
        }
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

/// A source named twice would be scanned twice and its pages counted as
/// shared with themselves: refused, naming the repeated flag.
fn refuse_repeats(args: &SharingRequest) -> Result<(), SharingSetupError> {
    let twice = |flag: &str, what: String| {
        bad(format!(
            "{flag} {what} is given twice: a source scanned twice would count its pages as cross-shared"
        ))
    };
    let mut pids = std::collections::BTreeSet::new();
    if let Some(p) = args.pids.iter().find(|p| !pids.insert(**p)) {
        return Err(twice("--pid", p.to_string()));
    }
    for (flag, list) in [("--image", &args.images), ("--bundle", &args.bundles)] {
        let mut seen = std::collections::BTreeSet::new();
        for p in list {
            let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            if !seen.insert(key) {
                return Err(twice(flag, p.display().to_string()));
            }
        }
    }
    Ok(())
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

    fn request() -> SharingRequest {
        SharingRequest {
            granularity: "4096".into(),
            top: 10,
            ..SharingRequest::default()
        }
    }

    #[test]
    fn a_pid_given_twice_is_refused() {
        let mut r = request();
        r.pids = vec![std::process::id() as i32, std::process::id() as i32];
        let err = SharingConfig::new(&r).unwrap_err().to_string();
        assert!(err.contains("--pid") && err.contains("twice"), "{err}");
    }

    #[test]
    fn an_empty_or_repeated_image_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let empty = tmp.path().join("empty.img");
        std::fs::write(&empty, b"").unwrap();
        let mut r = request();
        r.images = vec![empty.clone()];
        let err = SharingConfig::new(&r).unwrap_err().to_string();
        assert!(err.contains("empty.img") && err.contains("empty"), "{err}");
        let full = tmp.path().join("full.img");
        std::fs::write(&full, vec![1u8; 8192]).unwrap();
        r.images = vec![full.clone(), tmp.path().join(".").join("full.img")];
        let err = SharingConfig::new(&r).unwrap_err().to_string();
        assert!(err.contains("--image") && err.contains("twice"), "{err}");
    }
}
