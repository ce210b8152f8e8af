//! The kernel's KSM (kernel samepage merging) counters, from
//! `/sys/kernel/mm/ksm/`, shown beside the estimate: what the kernel really
//! merges (only in areas marked `MADV_MERGEABLE`, machine-wide) against what
//! could be merged.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Where the counters live.
pub const KSM_DIR: &str = "/sys/kernel/mm/ksm";

/// KSM counters (pages of 4096 bytes); a counter is `None` when this kernel
/// does not have that file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KsmCounters {
    /// 0 stopped, 1 running, 2 unmerge.
    pub run: Option<u64>,
    /// Shared pages in use (the kept copies).
    pub pages_shared: Option<u64>,
    /// Pages mapped onto a shared page (the saving).
    pub pages_sharing: Option<u64>,
    /// Pages checked and found unique, still candidates.
    pub pages_unshared: Option<u64>,
    /// Pages changing too fast to merge.
    pub pages_volatile: Option<u64>,
    /// Completed scans of all mergeable areas.
    pub full_scans: Option<u64>,
    /// Zero pages merged with the kernel's zero page (newer kernels).
    pub ksm_zero_pages: Option<u64>,
}

impl KsmCounters {
    /// Whether KSM is merging now.
    pub fn running(&self) -> bool {
        self.run == Some(1)
    }

    /// One line for people.
    pub fn summary(&self) -> String {
        let f = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        let state = match self.run {
            Some(0) => "stopped",
            Some(1) => "running",
            Some(2) => "unmerging",
            _ => "unknown",
        };
        format!(
            "KSM {state} (run={}): pages_shared={} pages_sharing={} pages_unshared={} pages_volatile={} full_scans={}",
            f(self.run),
            f(self.pages_shared),
            f(self.pages_sharing),
            f(self.pages_unshared),
            f(self.pages_volatile),
            f(self.full_scans)
        )
    }
}

/// Read the counters under `dir`; `None` when KSM is absent (no directory).
pub fn read_ksm(dir: &Path) -> Option<KsmCounters> {
    if !dir.is_dir() {
        return None;
    }
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    Some(KsmCounters {
        run: read("run"),
        pages_shared: read("pages_shared"),
        pages_sharing: read("pages_sharing"),
        pages_unshared: read("pages_unshared"),
        pages_volatile: read("pages_volatile"),
        full_scans: read("full_scans"),
        ksm_zero_pages: read("ksm_zero_pages"),
    })
}

/// The machine's KSM counters, if it has KSM.
pub fn read_host_ksm() -> Option<KsmCounters> {
    read_ksm(Path::new(KSM_DIR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_and_tolerates_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("run"), "1\n").unwrap();
        std::fs::write(dir.path().join("pages_sharing"), "42\n").unwrap();
        std::fs::write(dir.path().join("full_scans"), "junk\n").unwrap();
        let k = read_ksm(dir.path()).unwrap();
        assert!(k.running());
        assert_eq!(k.pages_sharing, Some(42));
        assert_eq!(k.pages_shared, None);
        assert_eq!(k.full_scans, None);
        assert!(k.summary().contains("pages_sharing=42"));
        assert!(read_ksm(&dir.path().join("absent")).is_none());
    }
}
