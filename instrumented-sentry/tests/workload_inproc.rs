//! The workloads on the in-process sentry: fresh sentry per trial, probe
//! reports per trial, the malloc model, and the statistics helpers.

use bundle::stats::{median, percentile, reduce_series, summarize};
use instrumented_sentry::mm::MmConfig;
use instrumented_sentry::platform::inproc_address_space::InProcConfig;
use instrumented_sentry::probes::Site;
use instrumented_sentry::runners::inproc::{InprocOptions, InprocRunner, InprocTarget};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::exec::{
    run_malloc_model_trial, MallocModel, MALLOC_MMAP_THRESHOLD,
};
use instrumented_sentry::workload::target::MemoryTarget;
use instrumented_sentry::workload::{Mapping, PointSpec};

fn runner(search: GapSearch) -> InprocRunner {
    InprocRunner::new(
        search,
        InprocOptions {
            probes: true,
            ..InprocOptions::default()
        },
    )
}

#[test]
fn each_trial_starts_from_a_fresh_sentry() {
    let mut r = runner(GapSearch::Linear);
    let s = PointSpec::exp1(Mapping::Private, false, 300, 4096);
    r.check_point(&s).unwrap();
    for _ in 0..3 {
        let o = r.run_trial(&s).unwrap();
        assert_eq!(o.calls, 300);
        assert_eq!(o.probes.len(), 1);
        let p = &o.probes[0];
        // Exactly this trial's calls: nothing carried over from the last.
        assert_eq!(p.site_summary(Site::Mmap).calls, 300);
        assert_eq!(p.site_summary(Site::FindAvailable).calls, 300);
        assert_eq!(p.site_summary(Site::Fault).calls, 0, "no touch, no fault");
        assert_eq!(
            p.site_summary(Site::GetPmas).calls,
            0,
            "file pages are lazy"
        );
    }
}

#[test]
fn anon_is_populated_eagerly_and_file_touch_faults() {
    let mut r = runner(GapSearch::MaxGap);
    let anon = r
        .run_trial(&PointSpec::exp1(Mapping::Anon, false, 100, 4096))
        .unwrap();
    let p = &anon.probes[0];
    assert!(p.site_summary(Site::GetPmas).calls >= 100, "eager populate");
    assert!(p.site_summary(Site::MapAs).calls >= 1);
    let shared = r
        .run_trial(&PointSpec::exp1(Mapping::Shared, true, 50, 8192))
        .unwrap();
    let p = &shared.probes[0];
    assert!(
        p.site_summary(Site::Fault).calls >= 50,
        "touch faults pages in"
    );
}

#[test]
fn probes_off_record_nothing() {
    let mut r = InprocRunner::new(GapSearch::MaxGap, InprocOptions::default());
    let o = r
        .run_trial(&PointSpec::exp1(Mapping::Private, false, 100, 4096))
        .unwrap();
    assert!(o.probes.iter().all(|p| !p.is_enabled()));
    assert_eq!(o.probes[0].site_summary(Site::Mmap).calls, 0);
}

#[test]
fn malloc_model_uses_brk_below_the_threshold_and_mmap_above() {
    let new = || InprocTarget::new(MmConfig::default(), &InProcConfig::default()).unwrap();
    // Small: every chunk comes from the brk heap.
    let mut t = new();
    let brk0 = t.brk(0).unwrap();
    let mut m = MallocModel::new();
    let a = m.malloc(&mut t, 100).unwrap();
    let b = m.malloc(&mut t, 100).unwrap();
    assert!(
        a > brk0 && b > a && b - a == 112,
        "chunks of 100+8 rounded to 16"
    );
    assert!(t.brk(0).unwrap() > b, "the heap grew past the chunks");
    assert_eq!(t.mm().probes().site_summary(Site::Mmap).calls, 0);
    assert!(
        t.mm().probes().site_summary(Site::Fault).calls >= 1,
        "writing chunk headers faults heap pages in, as glibc's stores do"
    );
    // Large: one mmap each.
    let mut t = new();
    let timed = run_malloc_model_trial(&mut t, true, 20, MALLOC_MMAP_THRESHOLD).unwrap();
    assert_eq!(timed.calls, 20);
    assert_eq!(t.mm().probes().site_summary(Site::Mmap).calls, 20);
    // Touching a brk heap faults its pages in.
    let mut t = new();
    run_malloc_model_trial(&mut t, true, 64, 4096).unwrap();
    assert!(t.mm().probes().site_summary(Site::Fault).calls >= 1);
    t.mm().check_invariants().unwrap();
}

#[test]
fn memory_image_is_a_copy_of_the_memory_file() {
    let mut r = InprocRunner::new(
        GapSearch::MaxGap,
        InprocOptions {
            keep_last: true,
            ..InprocOptions::default()
        },
    );
    r.run_trial(&PointSpec::exp1(Mapping::Anon, true, 16, 4096))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.img");
    let len = r
        .save_memory(&path)
        .unwrap()
        .expect("the runner kept its sentry");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len() as u64, len);
    // Every touched anonymous page holds the byte written (1).
    assert!(bytes.iter().filter(|&&b| b == 1).count() >= 16);
}

#[test]
fn statistics_over_trials() {
    let trials = [5.0, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(median(&trials), Some(3.0));
    assert_eq!(percentile(&trials, 90.0), Some(4.6));
    let s = summarize(&trials).unwrap();
    assert_eq!((s.min, s.max, s.mean), (1.0, 5.0, 3.0));
    assert!((s.p99 - 4.96).abs() < 1e-9);
    assert!(summarize(&[]).is_none());
    let series: Vec<u64> = (0..10_001).collect();
    let (per, means) = reduce_series(&series, 2000);
    assert_eq!(per, 6);
    assert_eq!(means.len(), 1667);
    assert_eq!(means[0], 2.5);
}
