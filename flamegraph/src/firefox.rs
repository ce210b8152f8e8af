//! The Firefox Profiler's processed profile format, written with samply's
//! crate `fxprof-processed-profile`. One process, one thread per set of
//! stacks: the exported profile, and beside a sampled profile the rdtsc
//! probe stacks. Frames are labels with a category: "Probe site" for the
//! probe sites (create_vma, find_available, get_pmas, map_as, mmap, fault,
//! matched by bare function name), else "Kernel" (`_[k]`), "Guest" (`_[g]`)
//! or "User".
//!
//! Folded stacks carry no time order: the samples are laid out one stack
//! after another in the stacks' byte order, each as long as its weight when
//! weights are nanoseconds (the profile's interval is then 1 ns, so the
//! profiler's times read true), one interval (1 ms) per sample otherwise.
//! Weights are exact; one above `i32::MAX` (the format's sample weight) is
//! split over several samples of the same stack.

use bundle::folded::FoldedStacks;
use bundle::ALL_SITES;
use fxprof_processed_profile::{
    CategoryColor, CategoryHandle, CpuDelta, Frame, FrameFlags, FrameInfo, ProcessHandle, Profile,
    ReferenceTimestamp, SamplingInterval, ThreadHandle, Timestamp,
};

use crate::create_vma_figure::bare_name;
use crate::error::{RenderError, Result};
use crate::export_source::ExportSource;
use crate::flame::{frame_kind, FrameKind};

/// The frame categories of the export.
struct Categories {
    process: ProcessHandle,
    user: CategoryHandle,
    kernel: CategoryHandle,
    guest: CategoryHandle,
    probe_site: CategoryHandle,
}

impl Categories {
    fn new(p: &mut Profile) -> Self {
        Categories {
            process: p.add_process("sentryprof", 1, Timestamp::from_nanos_since_reference(0)),
            user: p.add_category("User", CategoryColor::Yellow),
            kernel: p.add_category("Kernel", CategoryColor::Orange),
            guest: p.add_category("Guest", CategoryColor::Blue),
            probe_site: p.add_category("Probe site", CategoryColor::Green),
        }
    }

    fn of(&self, frame: &str) -> CategoryHandle {
        if ALL_SITES.contains(&bare_name(frame).as_str()) {
            return self.probe_site;
        }
        match frame_kind(frame) {
            FrameKind::Kernel => self.kernel,
            FrameKind::Guest => self.guest,
            FrameKind::Host => self.user,
        }
    }
}

/// Whether sample weights are nanoseconds (else counts, one interval each).
#[derive(Clone, Copy, PartialEq)]
enum Base {
    Nanoseconds,
    Count,
}

/// Add thread `tid` of `process` holding `stacks`, weights scaled by
/// `scale` (1 but for probe cycles turned into nanoseconds).
fn add_thread(
    p: &mut Profile,
    cats: &Categories,
    tid: u32,
    name: &str,
    stacks: &FoldedStacks,
    base: Base,
    scale: f64,
) {
    let process = cats.process;
    let thread = p.add_thread(
        process,
        tid,
        Timestamp::from_nanos_since_reference(0),
        tid == 1,
    );
    p.set_thread_name(thread, name);
    let mut t: u64 = 0;
    for (stack, weight) in stacks.iter() {
        let frames: Vec<FrameInfo> = stack
            .split(';')
            .map(|f| FrameInfo {
                frame: Frame::Label(p.intern_string(f)),
                category_pair: cats.of(f).into(),
                flags: FrameFlags::empty(),
            })
            .collect();
        let handle = p.intern_stack_frames(thread, frames.into_iter());
        let mut left = (weight as f64 * scale).round() as u64;
        while left > 0 {
            let chunk = left.min(i32::MAX as u64);
            add_sample(p, thread, handle, &mut t, chunk, base);
            left -= chunk;
        }
    }
}

fn add_sample(
    p: &mut Profile,
    thread: ThreadHandle,
    stack: Option<fxprof_processed_profile::StackHandle>,
    t: &mut u64,
    weight: u64,
    base: Base,
) {
    let (cpu, step) = match base {
        Base::Nanoseconds => (CpuDelta::from_nanos(weight), weight),
        Base::Count => (CpuDelta::ZERO, 1_000_000),
    };
    p.add_sample(
        thread,
        Timestamp::from_nanos_since_reference(*t),
        stack,
        cpu,
        weight as i32,
    );
    *t = t.saturating_add(step);
}

/// The export as the Firefox Profiler's processed profile JSON, named
/// `name`, taken at `start_millis` since the epoch.
pub fn to_firefox_json(src: &ExportSource, name: &str, start_millis: u64) -> Result<Vec<u8>> {
    let base = if src.unit == "nanoseconds" {
        Base::Nanoseconds
    } else {
        Base::Count
    };
    let interval = match base {
        Base::Nanoseconds => SamplingInterval::from_nanos(1),
        Base::Count => SamplingInterval::from_millis(1),
    };
    let mut p = Profile::new(
        name,
        ReferenceTimestamp::from_millis_since_unix_epoch(start_millis as f64),
        interval,
    );
    let cats = Categories::new(&mut p);
    let main = match base {
        Base::Nanoseconds => format!("{} ({} nanoseconds)", src.origin, src.value_type),
        Base::Count => format!(
            "{} (weights: {} counts, each read as 1 ms)",
            src.origin, src.value_type
        ),
    };
    add_thread(&mut p, &cats, 1, &main, &src.stacks, base, 1.0);
    if let Some(probes) = &src.probes {
        let per_ns = bundle::tsc::cycles_per_ns(src.tsc_hz).filter(|_| base == Base::Nanoseconds);
        let (label, scale) = match per_ns {
            Some(c) => (
                format!("rdtsc probes (TSC cycles as nanoseconds, {c:.3} cycles/ns)"),
                1.0 / c,
            ),
            None => (
                "rdtsc probes (weights: TSC cycles, each read as 1 ms)".to_string(),
                1.0,
            ),
        };
        add_thread(&mut p, &cats, 2, &label, probes, base, scale);
    }
    serde_json::to_vec(&p)
        .map_err(|e| RenderError::InvalidOption(format!("Firefox Profiler export: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(unit: &'static str, big: bool) -> ExportSource {
        let w = if big { 5_000_000_000u64 } else { 70 };
        ExportSource {
            stacks: FoldedStacks::parse(
                &format!("main;mmap;create_vma {w}\nmain;do_mmap_[k] 30\nmain;guest_[g] 5\n"),
                "t",
            )
            .unwrap(),
            value_type: "cpu-clock".into(),
            unit,
            origin: "sampled profile".into(),
            probes: Some(
                FoldedStacks::parse("mmap;create_vma;find_available 900\nmmap;map_as 400\n", "p")
                    .unwrap(),
            ),
            tsc_hz: 2_000_000_000,
        }
    }

    /// (thread name, frame names by stack leaf, category names, weights).
    fn threads(j: &serde_json::Value) -> Vec<(String, Vec<i64>)> {
        j["threads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let w = t["samples"]["weight"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect();
                (t["name"].as_str().unwrap().to_string(), w)
            })
            .collect()
    }

    #[test]
    fn threads_categories_and_exact_weights() {
        let j: serde_json::Value = serde_json::from_slice(
            &to_firefox_json(&source("nanoseconds", false), "n", 1000).unwrap(),
        )
        .unwrap();
        assert!(
            (j["meta"]["interval"].as_f64().unwrap() - 1e-6).abs() < 1e-12,
            "1 ns in ms"
        );
        let cats: Vec<&str> = j["meta"]["categories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        let t = &j["threads"][0];
        let names = t["stringArray"].as_array().unwrap();
        let func_names = t["funcTable"]["name"].as_array().unwrap();
        let category_of = |frame: &str| {
            let f = func_names
                .iter()
                .position(|n| names[n.as_u64().unwrap() as usize] == frame)
                .unwrap();
            cats[t["frameTable"]["category"][f].as_u64().unwrap() as usize]
        };
        assert_eq!(category_of("create_vma"), "Probe site");
        assert_eq!(category_of("mmap"), "Probe site");
        assert_eq!(category_of("do_mmap_[k]"), "Kernel");
        assert_eq!(category_of("guest_[g]"), "Guest");
        assert_eq!(category_of("main"), "User");
        let th = threads(&j);
        assert_eq!(th.len(), 2);
        assert_eq!(th[0].1.iter().sum::<i64>(), 105);
        // 1300 TSC cycles at 2 cycles/ns.
        assert_eq!(th[1].1.iter().sum::<i64>(), 650);
        assert!(th[1].0.starts_with("rdtsc probes"));
        assert_eq!(
            j["threads"][1]["pid"], j["threads"][0]["pid"],
            "one process"
        );
    }

    #[test]
    fn weights_past_i32_are_split_and_counts_keep_cycles() {
        let j: serde_json::Value =
            serde_json::from_slice(&to_firefox_json(&source("count", true), "n", 0).unwrap())
                .unwrap();
        assert_eq!(j["meta"]["interval"].as_f64().unwrap(), 1.0);
        let th = threads(&j);
        assert_eq!(th[0].1.iter().sum::<i64>(), 5_000_000_035);
        assert!(th[0].1.iter().all(|w| *w > 0 && *w <= i64::from(i32::MAX)));
        assert_eq!(th[1].1.iter().sum::<i64>(), 1300, "cycles kept as counts");
    }
}
