//! Native vs ptrace vs systrap, side by side, on one program: the stub's
//! loop of private 4 KiB file `mmap`s without touch (max-gap search), at
//! 5,000, 10,000 and 25,000 mappings. Trials alternate between the
//! platforms; the figure of a platform is the median over its trials of
//! the stub's median per-call latency (rdtsc around each `mmap` in the
//! stub). The default placements (systrap: stub and sentry on different
//! CPUs; ptrace: unpinned) come first; the other placement of each follows.
//!
//! ```text
//! cargo run --release -p instrumented-sentry --example trap_side_by_side [trials]
//! ```

use instrumented_sentry::platform::trap::costs::median;
use instrumented_sentry::runners::inproc::InprocOptions;
use instrumented_sentry::runners::trap::{StubNativeRunner, StubPlacement, TrapRunner};
use instrumented_sentry::runners::PlatformRunner;
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::spec::Mapping;
use instrumented_sentry::workload::PointSpec;

fn main() {
    let trials: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut runners: Vec<Box<dyn PlatformRunner>> = vec![
        Box::new(StubNativeRunner::new()),
        Box::new(TrapRunner::systrap(
            GapSearch::MaxGap,
            InprocOptions::default(),
        )),
        Box::new(TrapRunner::ptrace(
            GapSearch::MaxGap,
            InprocOptions::default(),
        )),
        Box::new(
            TrapRunner::systrap(GapSearch::MaxGap, InprocOptions::default())
                .with_placement(StubPlacement::unpinned()),
        ),
        Box::new(
            TrapRunner::ptrace(GapSearch::MaxGap, InprocOptions::default())
                .with_placement(StubPlacement::detect()),
        ),
    ];
    println!("private 4 KiB mmap, no touch, max-gap; medians of {trials} alternating trials, TSC cycles per call");
    println!(
        "{:>8} {:>9} {:>9} {:>9} {:>8} {:>8}  placement | systrap unpinned, ptrace split: {:>9} {:>9}",
        "mappings", "native", "systrap", "ptrace", "sys/nat", "ptr/nat", "systrap", "ptrace"
    );
    for n in [5_000u64, 10_000, 25_000] {
        let spec = private_4k(n);
        let mut samples: Vec<Vec<u64>> = vec![Vec::new(); runners.len()];
        let mut placement = String::new();
        for r in runners.iter_mut() {
            if let Err(e) = r.check_point(&spec) {
                eprintln!("{}: {e}", r.platform());
            }
        }
        for _ in 0..trials {
            for (i, r) in runners.iter_mut().enumerate() {
                match r.run_trial(&spec) {
                    Ok(out) => {
                        samples[i].push(out.extra["stub_call_median_cycles"].as_u64().unwrap_or(0));
                        if i == 1 {
                            placement = out.extra["placement"].as_str().unwrap_or("").to_string();
                        }
                    }
                    Err(e) => eprintln!("{}: {e}", r.platform()),
                }
            }
        }
        let m: Vec<u64> = samples.into_iter().map(median).collect();
        let ratio = |x: u64| x as f64 / m[0].max(1) as f64;
        println!(
            "{n:>8} {:>9} {:>9} {:>9} {:>7.2}x {:>7.2}x  {placement:<9} |                              {:>9} {:>9}",
            m[0],
            m[1],
            m[2],
            ratio(m[1]),
            ratio(m[2]),
            m[3],
            m[4]
        );
    }
    for n in [5_000, 25_000] {
        sentry_share(n);
    }
}

/// The sentry's own share on systrap: the memory manager's `mmap` site
/// with probes on, one trial at `n` mappings.
fn sentry_share(n: u64) {
    let spec = private_4k(n);
    let options = InprocOptions {
        probes: true,
        ..InprocOptions::default()
    };
    let mut r = TrapRunner::systrap(GapSearch::MaxGap, options);
    match r.run_trial(&spec) {
        Ok(out) => {
            let report = out.probes[0].report(16);
            let site = |name: &str| {
                report
                    .sites
                    .iter()
                    .find(|s| s.site.name() == name)
                    .map_or(0.0, |s| s.median_cycles)
            };
            println!(
                "systrap x{n}, probes on: stub call median {} cycles; sentry mmap site median {:.0} (create_vma {:.0}, find_available {:.0})",
                out.extra["stub_call_median_cycles"],
                site("mmap"),
                site("create_vma"),
                site("find_available")
            );
        }
        Err(e) => eprintln!("systrap: {e}"),
    }
}

/// `n` private 4 KiB file mmaps, no touch.
fn private_4k(n: u64) -> PointSpec {
    PointSpec::exp1(Mapping::Private, false, n, 4096)
}
