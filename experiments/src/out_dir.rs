//! Default output directories: `sentryprof-out/KIND-YYYYMMDD-HHMMSS` (UTC)
//! under the current directory, one naming rule for every verb.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch now (0 if the clock is before it): the time
/// default names and `created_unix` are made from.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `sentryprof-out/{kind}-YYYYMMDD-HHMMSS` for the UTC time `now_unix`.
pub fn default_out_dir(kind: &str, now_unix: u64) -> PathBuf {
    let days = (now_unix / 86_400) as i64;
    let secs = now_unix % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Path::new("sentryprof-out").join(format!(
        "{kind}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_by_utc_time() {
        // 2026-11-22 02:34:57 UTC
        assert_eq!(
            default_out_dir("sharing", 1_795_314_897),
            Path::new("sentryprof-out/sharing-20261122-023457")
        );
        // 2000-02-29 00:00:00 UTC (leap day)
        assert_eq!(
            default_out_dir("run", 951_782_400),
            Path::new("sentryprof-out/run-20000229-000000")
        );
    }
}
