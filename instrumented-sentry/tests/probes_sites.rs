//! Probes on the memory manager: every site records exactly the calls it
//! should, probes can be switched off at run time, reset clears, and the
//! per-call series covers every call.

use instrumented_sentry::addr::{Access, PAGE_SIZE};
use instrumented_sentry::mm::{MemoryManager, MmConfig, MmapRequest};
use instrumented_sentry::platform::inproc_address_space::InProcConfig;
use instrumented_sentry::probes::{Calibration, ProbeConfig, Site};
use instrumented_sentry::segment::GapSearch;

fn calls(
    mm: &MemoryManager<instrumented_sentry::platform::inproc_address_space::InProcAddressSpace>,
    site: Site,
) -> u64 {
    mm.probes().histogram(site).count()
}

#[test]
fn calibration_is_measured() {
    let c = Calibration::get();
    assert!(c.tsc_hz > 100_000_000, "tsc_hz {}", c.tsc_hz);
    assert!(c.self_cycles > 0);
    assert_eq!(Calibration::get(), c, "measured once per process");
}

#[test]
fn every_site_counts_its_calls() {
    let mut mm = MemoryManager::inproc(
        MmConfig::with_search(GapSearch::Linear),
        &InProcConfig::default(),
    )
    .unwrap();
    let f = mm.create_file(1 << 20).unwrap();
    for _ in 0..100 {
        mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE)).unwrap();
    }
    assert_eq!(calls(&mm, Site::Mmap), 100);
    assert_eq!(calls(&mm, Site::CreateVma), 100);
    assert_eq!(calls(&mm, Site::FindAvailable), 100);
    assert_eq!(
        calls(&mm, Site::GetPmas),
        0,
        "file mappings are not populated"
    );
    assert_eq!(calls(&mm, Site::MapAs), 0);
    // Anonymous small mappings: populated at mmap time.
    for _ in 0..10 {
        mm.mmap(&MmapRequest::anonymous(4 * PAGE_SIZE)).unwrap();
    }
    assert_eq!(calls(&mm, Site::GetPmas), 10);
    assert_eq!(calls(&mm, Site::MapAs), 10);
    assert_eq!(calls(&mm, Site::Fault), 0);
    // A touch of a file mapping faults once per 64 KiB window.
    let a = mm.mmap(&MmapRequest::file(f, 0, 32 * PAGE_SIZE)).unwrap();
    let faults = mm.touch(a, 32 * PAGE_SIZE, Access::Write, 1).unwrap();
    assert_eq!(calls(&mm, Site::Fault), faults);
    assert!((2..=3).contains(&faults), "faults {faults}");
    assert_eq!(calls(&mm, Site::GetPmas), 10 + faults);

    let report = mm.probes().report(16);
    assert_eq!(report.sites.len(), Site::ALL.len());
    let fa = report
        .sites
        .iter()
        .find(|s| s.site == Site::FindAvailable)
        .unwrap();
    assert_eq!(fa.calls, 111);
    assert!(
        fa.median_cycles > 0.0
            && fa.median_cycles <= fa.p90_cycles
            && fa.p90_cycles <= fa.p99_cycles
    );
    assert!(fa.p99_cycles <= fa.max_cycles);
    assert!((fa.total_cycles - fa.mean_cycles * 111.0).abs() < 1.0);
    let series = report
        .series
        .iter()
        .find(|s| s.site == Site::FindAvailable)
        .unwrap();
    assert!(series.mean_cycles.len() <= 16);
    assert!(series.bucket_calls * (series.mean_cycles.len() as u64 - 1) < 111);

    mm.probes_mut().reset();
    assert_eq!(calls(&mm, Site::Mmap), 0);
    assert!(mm.probes().report(16).series.is_empty());
}

#[test]
fn probes_switched_off_record_nothing() {
    let cfg = MmConfig {
        probes: ProbeConfig {
            enabled: false,
            ..ProbeConfig::default()
        },
        ..MmConfig::default()
    };
    let mut mm = MemoryManager::inproc(cfg, &InProcConfig::default()).unwrap();
    for _ in 0..10 {
        mm.mmap(&MmapRequest::anonymous(PAGE_SIZE)).unwrap();
    }
    for s in Site::ALL {
        assert_eq!(calls(&mm, s), 0);
    }
    assert!(!mm.probes().report(10).enabled);
    mm.probes_mut().set_enabled(true);
    mm.mmap(&MmapRequest::anonymous(PAGE_SIZE)).unwrap();
    assert_eq!(calls(&mm, Site::Mmap), 1);
}

#[test]
fn series_stays_bounded_and_exact_in_the_mean() {
    let cfg = MmConfig {
        probes: ProbeConfig {
            series_max_buckets: 64,
            ..ProbeConfig::default()
        },
        ..MmConfig::default()
    };
    let mut mm = MemoryManager::inproc(cfg, &InProcConfig::default()).unwrap();
    let f = mm.create_file(PAGE_SIZE).unwrap();
    for _ in 0..1000 {
        mm.mmap(&MmapRequest::file(f, 0, PAGE_SIZE)).unwrap();
    }
    let s = mm.probes().series(Site::FindAvailable, 1000);
    assert!(s.mean_cycles.len() <= 64);
    assert_eq!(s.bucket_calls, 16);
    let h = mm.probes().histogram(Site::FindAvailable);
    let total: f64 = s
        .mean_cycles
        .iter()
        .enumerate()
        .map(|(i, m)| m * (s.bucket_calls.min(1000 - i as u64 * s.bucket_calls)) as f64)
        .sum();
    assert!((total - h.sum() as f64).abs() / (h.sum() as f64) < 1e-9);
}
