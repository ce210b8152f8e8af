//! The plan's vocabulary as the command line spells it: every name a flag
//! takes (`--workload exp1`, `--platform native,inproc`, …) parsed into its
//! typed value, with one error form naming the flag, the value and what was
//! expected.

use crate::error::PlanError;
use crate::plan::{CollectorKind, PlatformKind};
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::{Mapping, WorkloadKind};

/// A value a flag names.
pub trait Named: Sized {
    /// What the value is, for the error ("platform", "gap search").
    const WHAT: &'static str;
    /// The names accepted, for the error ("native, inproc, kvm, ptrace or systrap").
    const EXPECTED: &'static str;
    /// The value of `name`, if it is one.
    fn from_name(name: &str) -> Option<Self>;
}

impl Named for WorkloadKind {
    const WHAT: &'static str = "workload";
    const EXPECTED: &'static str = "exp1, exp2, malloc or replay";
    fn from_name(name: &str) -> Option<Self> {
        WorkloadKind::from_name(name)
    }
}

impl Named for Mapping {
    const WHAT: &'static str = "mapping";
    const EXPECTED: &'static str = "anon, private or shared";
    fn from_name(name: &str) -> Option<Self> {
        Mapping::from_name(name)
    }
}

impl Named for PlatformKind {
    const WHAT: &'static str = "platform";
    const EXPECTED: &'static str = "native, inproc, kvm, ptrace or systrap";
    fn from_name(name: &str) -> Option<Self> {
        PlatformKind::from_name(name)
    }
}

impl Named for GapSearch {
    const WHAT: &'static str = "gap search";
    const EXPECTED: &'static str = "linear or maxgap";
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "linear" => Some(GapSearch::Linear),
            "maxgap" => Some(GapSearch::MaxGap),
            _ => None,
        }
    }
}

impl Named for CollectorKind {
    const WHAT: &'static str = "collector";
    const EXPECTED: &'static str = "probes, perf, guest, boundary";
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "probes" => Some(CollectorKind::Probes),
            "perf" => Some(CollectorKind::Perf),
            "guest" => Some(CollectorKind::Guest),
            "boundary" => Some(CollectorKind::Boundary),
            _ => None,
        }
    }
}

/// `name` given to `--{flag}` as a `T`.
pub fn parse_named<T: Named>(flag: &'static str, name: &str) -> Result<T, PlanError> {
    T::from_name(name).ok_or_else(|| PlanError::UnknownName {
        flag,
        given: name.to_string(),
        what: T::WHAT,
        expected: T::EXPECTED,
    })
}

/// Every item of the list given to `--{flag}` parsed by `parse`; an empty
/// item is an error.
pub fn parse_list<T>(
    flag: &'static str,
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, PlanError>,
) -> Result<Vec<T>, PlanError> {
    raw.iter()
        .map(|s| match s.trim() {
            "" => Err(PlanError::EmptyListItem { flag }),
            t => parse(t),
        })
        .collect()
}

/// Every item of `--{flag}` as a `T` (see [`parse_named`]).
pub fn parse_named_list<T: Named>(flag: &'static str, raw: &[String]) -> Result<Vec<T>, PlanError> {
    parse_list(flag, raw, |s| parse_named(flag, s))
}

/// `--platform`: each item a platform name, optionally `/SEARCH`
/// (`systrap/maxgap`) to run that platform on that search only. Returns
/// the platforms and the searches they are restricted to.
pub fn parse_platforms(raw: &[String]) -> Result<PlatformList, PlanError> {
    let items = parse_list("platform", raw, |s| {
        let (name, search) = match s.split_once('/') {
            Some((n, s)) => (
                n.trim(),
                Some(parse_named::<GapSearch>("platform", s.trim())?),
            ),
            None => (s, None),
        };
        let platform: PlatformKind = parse_named("platform", name)?;
        if platform == PlatformKind::Native && search.is_some() {
            return Err(PlanError::NativeSearch {
                given: s.to_string(),
            });
        }
        Ok((platform, search))
    })?;
    let platforms = items.iter().map(|&(p, _)| p).collect();
    let searches = items
        .into_iter()
        .filter_map(|(p, s)| s.map(|s| (p, s)))
        .collect();
    Ok((platforms, searches))
}

/// Platforms, and the searches some of them are restricted to.
pub type PlatformList = (Vec<PlatformKind>, Vec<(PlatformKind, GapSearch)>);

/// `--touch-modes`: `touch` or `notouch` each.
pub fn parse_touch_modes(raw: &[String]) -> Result<Vec<bool>, PlanError> {
    parse_list("touch-modes", raw, |s| match s {
        "touch" => Ok(true),
        "notouch" => Ok(false),
        other => Err(PlanError::TouchMode {
            given: other.to_string(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_errors_name_the_flag() {
        let p: Vec<PlatformKind> =
            parse_named_list("platform", &["native".into(), " kvm".into()]).unwrap();
        assert_eq!(p, vec![PlatformKind::Native, PlatformKind::Kvm]);
        let e = parse_named::<GapSearch>("search", "foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "--search \"foo\": unknown gap search (expected linear or maxgap)"
        );
        let e = parse_named_list::<Mapping>("mapping", &["".into()]).unwrap_err();
        assert_eq!(e.to_string(), "--mapping: empty list item");
        let e = parse_touch_modes(&["both".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--touch-modes \"both\": expected touch or notouch"
        );
    }
}
