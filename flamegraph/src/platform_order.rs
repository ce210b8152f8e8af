//! The order platforms appear in the study's new figures and tables:
//! native, ptrace, systrap, inproc, kvm when present, any other platform
//! after them (by name). Platform names come from the bundle as they are;
//! nothing here limits which names a bundle may hold.

/// Platforms in the order they are drawn; others follow, sorted by name.
pub const PLATFORM_ORDER: [&str; 5] = ["native", "ptrace", "systrap", "inproc", "kvm"];

/// Sort key of a platform label ("systrap/maxgap", "native", "gvisor-x"):
/// its platform's place in [`PLATFORM_ORDER`] (unknown ones after), then
/// the label itself.
pub fn platform_key(label: &str) -> (usize, String) {
    let platform = label.split('/').next().unwrap_or(label);
    let rank = PLATFORM_ORDER
        .iter()
        .position(|p| *p == platform)
        .unwrap_or(PLATFORM_ORDER.len());
    (rank, label.to_string())
}

/// Sort platform labels into the drawing order and drop duplicates.
pub fn ordered_labels(labels: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = labels.into_iter().collect();
    v.sort_by_key(|l| platform_key(l));
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_platforms_first_in_study_order_then_others() {
        let got = ordered_labels(
            [
                "kvm/maxgap",
                "zeta",
                "inproc/linear",
                "systrap/maxgap",
                "native",
                "alpha",
                "ptrace/maxgap",
                "inproc/linear",
            ]
            .map(String::from),
        );
        assert_eq!(
            got,
            [
                "native",
                "ptrace/maxgap",
                "systrap/maxgap",
                "inproc/linear",
                "kvm/maxgap",
                "alpha",
                "zeta"
            ]
        );
    }
}
