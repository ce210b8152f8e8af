//! Host limits on mappings.

/// Path of the host's mapping limit.
pub const MAX_MAP_COUNT_PATH: &str = "/proc/sys/vm/max_map_count";

/// The host's `vm.max_map_count`, if readable.
pub fn max_map_count() -> Option<u64> {
    std::fs::read_to_string(MAX_MAP_COUNT_PATH)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Kernel VMAs this process holds now (lines of `/proc/self/maps`), if
/// readable.
pub fn process_mappings() -> Option<u64> {
    let maps = std::fs::read("/proc/self/maps").ok()?;
    Some(maps.iter().filter(|&&b| b == b'\n').count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_mappings() {
        assert!(process_mappings().is_some_and(|n| n > 0));
    }
}
