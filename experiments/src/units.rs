//! Numbers of a run as the user writes them: sizes with K and M suffixes
//! and iteration counts with `_` separators, checked against the plan's
//! limits. Errors are [`PlanError::Number`], naming the flag.

use crate::error::PlanError;
use crate::limits::{MAX_ITERATIONS, MAX_SIZE};

fn number(flag: &'static str, given: &str, problem: impl Into<String>) -> PlanError {
    PlanError::Number {
        flag,
        given: given.to_string(),
        problem: problem.into(),
    }
}

/// Parse a size: `4096`, `4K`, `16k`, `1M`, `64KiB`, `1MiB`.
pub fn parse_size(s: &str) -> Result<u64, PlanError> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (digits, mult) = if let Some(d) = lower
        .strip_suffix("kib")
        .or_else(|| lower.strip_suffix("kb"))
        .or_else(|| lower.strip_suffix('k'))
    {
        (d, 1024u64)
    } else if let Some(d) = lower
        .strip_suffix("mib")
        .or_else(|| lower.strip_suffix("mb"))
        .or_else(|| lower.strip_suffix('m'))
    {
        (d, 1024 * 1024)
    } else if let Some(d) = lower.strip_suffix('b') {
        (d, 1)
    } else {
        (lower.as_str(), 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(number(
            "size",
            t,
            "not a size (bytes, or a number with K or M)",
        ));
    }
    let n: u64 = digits.parse().map_err(|_| number("size", t, "too large"))?;
    let v = n
        .checked_mul(mult)
        .ok_or_else(|| number("size", t, "too large"))?;
    if v == 0 {
        return Err(number("size", t, "must be at least 1 byte"));
    }
    if v > MAX_SIZE {
        return Err(number(
            "size",
            t,
            format!("{v} bytes is more than the largest mapping accepted (1 GiB)"),
        ));
    }
    Ok(v)
}

/// Parse an iteration count (plain decimal, `_` allowed as a separator).
pub fn parse_iterations(s: &str) -> Result<u64, PlanError> {
    let t = s.trim();
    let digits: String = t.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(number("iterations", t, "not a whole number"));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| number("iterations", t, "too large"))?;
    if n == 0 {
        return Err(number("iterations", t, "must be at least 1"));
    }
    if n > MAX_ITERATIONS {
        return Err(number(
            "iterations",
            t,
            format!("more than the {MAX_ITERATIONS} calls per trial accepted"),
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_suffixes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4K").unwrap(), 4096);
        assert_eq!(parse_size("16k").unwrap(), 16384);
        assert_eq!(parse_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_size("64KiB").unwrap(), 65536);
        assert!(parse_size("0").is_err());
        assert!(parse_size("2G").is_err());
        assert!(parse_size("-4K").is_err());
        assert!(parse_size("99999999999999999999999").is_err());
        assert!(parse_size("18014398509481984K").is_err());
        assert!(parse_size("K").is_err());
    }

    #[test]
    fn iterations_parse() {
        assert_eq!(parse_iterations("500_000").unwrap(), 500_000);
        assert!(parse_iterations("0").is_err());
        assert!(parse_iterations("1e5").is_err());
        assert!(parse_iterations("10000001").is_err());
    }
}
