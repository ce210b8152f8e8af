//! Per-trial folded stacks drawn from a model profile: each trial takes a
//! number of samples (about [`TrialModel::samples`]) from the model's
//! stacks at random, the walk's share moving a little from trial to trial,
//! as sampling a real point does. Two sets drawn from one model with
//! different seeds are two runs of one build; the gated frame diff of
//! `sentryprof compare` is tested on them.

use std::path::{Path, PathBuf};

use crate::folded::FoldedStacks;
use crate::io::BundleWriter;
use crate::schema::{ProfileInfo, RunJson, STACKS_FOLDED};
use crate::stats::SplitMix64;

use super::exp1::exp1_run;

/// The Rust start-up frames above `main` in every stack of the model.
pub const STARTUP: &str = "[libc.so.6];main;std::rt::lang_start_internal;std::panicking::catch_unwind::do_call::<std::rt::lang_start_internal::{closure#0}, isize>;std::rt::lang_start_internal::{closure#0};__rust_begin_short_backtrace<fn() -> std::process::ExitCode, std::process::ExitCode>;call_once<fn() -> std::process::ExitCode, ()>";

/// A point's profile: stacks below the start-up frames and their shares.
#[derive(Debug, Clone)]
pub struct TrialModel {
    /// (stack below `sentryprof;STARTUP;`, share); shares sum to 1.
    pub stacks: Vec<(String, f64)>,
    /// Samples per trial (each trial varies by up to ±20%).
    pub samples: u64,
    /// Relative jitter of each stack's share from trial to trial.
    pub jitter: f64,
}

impl TrialModel {
    /// An exp1 point of the sentry whose find_available walk takes `walk`
    /// of the samples; the rest spread over the mmap path and the kernel.
    pub fn exp1(walk: f64) -> Self {
        let rest = 1.0 - walk;
        let path = "main;dispatch;run;measure_point;run_trial;mmap";
        let stacks = vec![
            (format!("{path};create_vma;find_available"), walk),
            (format!("{path};create_vma;vma_insert"), 0.20 * rest),
            (format!("{path};get_pmas;allocate"), 0.25 * rest),
            (format!("{path};map_as;mmap_[k];do_mmap_[k]"), 0.30 * rest),
            (format!("{path};map_as;mmap_[k];vma_merge_[k]"), 0.15 * rest),
            (
                "main;dispatch;run;measure_point;run_trial;drop_in_place;munmap_[k]".to_string(),
                0.10 * rest,
            ),
        ];
        TrialModel {
            stacks,
            samples: 400,
            jitter: 0.05,
        }
    }
}

/// Trial `trial` of a point drawn from `model` with `seed`.
pub fn point_trials(model: &TrialModel, seed: u64, trial: usize) -> FoldedStacks {
    let mut rng = SplitMix64::new(seed.wrapping_mul(0x9E37_79B9).wrapping_add(trial as u64));
    let unit = |rng: &mut SplitMix64| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    // This trial's shares: each moved by the jitter, then renormalised.
    let mut shares: Vec<f64> = model
        .stacks
        .iter()
        .map(|(_, s)| s * (1.0 + model.jitter * (2.0 * unit(&mut rng) - 1.0)))
        .collect();
    let sum: f64 = shares.iter().sum();
    shares.iter_mut().for_each(|s| *s /= sum);
    let n = (model.samples as f64 * (0.8 + 0.4 * unit(&mut rng))).round() as u64;
    let mut out = FoldedStacks::new();
    for _ in 0..n {
        let mut x = unit(&mut rng);
        let pick = shares
            .iter()
            .position(|s| {
                x -= s;
                x < 0.0
            })
            .unwrap_or(shares.len() - 1);
        // cpu-clock weights: ns per sample at 999 Hz.
        out.add_joined(
            format!("sentryprof;{STARTUP};{}", model.stacks[pick].0),
            1_001_001,
        );
    }
    out
}

/// Write the exp1 dataset as a bundle at `dir` whose every point has
/// `trials` per-trial folded stacks drawn from `model` (its point files
/// and `stacks.folded` their sums). `seed` tells runs apart.
pub fn write_trials_bundle(
    dir: &Path,
    model: &TrialModel,
    trials: usize,
    seed: u64,
) -> Result<PathBuf, crate::BundleError> {
    let mut run: RunJson = exp1_run();
    let w = BundleWriter::create(dir)?;
    let mut whole = FoldedStacks::new();
    for (i, p) in run.points.iter_mut().enumerate() {
        let mut point = FoldedStacks::new();
        p.trial_folded.clear();
        for k in 0..trials {
            let t = point_trials(model, seed.wrapping_add(i as u64 * 7919), k);
            let rel = format!("points/{i:03}/trial-{k}.folded");
            w.write_file(&rel, t.to_text().as_bytes())?;
            point.merge(&t);
            p.trial_folded.push(rel);
        }
        let rel = format!("points/{i:03}.folded");
        w.write_file(&rel, point.to_text().as_bytes())?;
        p.folded = Some(rel);
        whole.merge(&point);
    }
    w.write_file(STACKS_FOLDED, whole.to_text().as_bytes())?;
    run.profile = Some(ProfileInfo {
        event: "cpu-clock".into(),
        folded: STACKS_FOLDED.into(),
        frequency_hz: Some(999),
        samples: whole.total_weight() / 1_001_001,
        host_samples: whole.total_weight() / 1_001_001,
        total_weight: whole.total_weight(),
        ..ProfileInfo::default()
    });
    run.notes.push(format!(
        "synthetic: per-trial stacks drawn from a model (seed {seed})"
    ));
    w.finish(&run)
}
