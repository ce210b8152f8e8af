//! A session runs a [`Plan`] and writes its bundle.
//!
//! Flow: [`Session::prepare`] (Ctrl-C handling installed, the output path
//! claimed through the atomic `BundleWriter` before any work, the probes
//! calibrated, the sampling collector started — the
//! [`PointCollector`] seam — and one runner
//! made per platform × search, [`platforms::make_runner`], the platform
//! seam) → [`Session::execute`]: for every point, warm-up and counted
//! trials ([`measure::measure_point`]), a failed point recorded and the
//! others still run; then the collector's profile, `--keep-memory`'s image,
//! the default outputs rendered into the staging directory, and `run.json`
//! renamed into place. Progress goes to an [`Observer`]; nothing is printed
//! here.

use std::path::PathBuf;
use std::time::Instant;

use bundle::{
    BundleKind, BundleWriter, LoadedBundle, PointFailure, ProfileInfo, RunJson, WorkloadInfo,
    STACKS_FOLDED,
};
use instrumented_sentry::probes::Calibration;

use crate::collect::{self, PointCollector};
use crate::error::RunError;
use crate::guest_sampling::{profile_with_guest, GuestPoint};
use crate::interrupt;
use crate::measure::{self, MeasureError, Measured, TrialPlan};
use crate::observer::Observer;
use crate::plan::{Plan, PlatformKind};
use crate::platforms::{self, PlatformRunner, PointError};

/// Name of the sentry memory image written by `--keep-memory`.
pub const MEMORY_IMAGE: &str = "memory.img";

/// A runner, or why its platform cannot run here.
type Runner = Result<Box<dyn PlatformRunner>, String>;

/// A plan being run: its bundle writer, the run's `run.json` so far, the
/// collector and the runners.
pub struct Session {
    plan: Plan,
    writer: BundleWriter,
    started: Instant,
    run: RunJson,
    collector: Option<Box<dyn PointCollector>>,
    runners: Vec<Runner>,
    /// The platform choice of the last measured inproc point.
    last_inproc: Option<usize>,
    /// The kvm guest sampler's results over the run's points.
    guest: Option<GuestPoint>,
}

impl Session {
    /// Claim the output directory, calibrate the probes, start the
    /// collector and make the runners, reporting to `observer`. From here
    /// on Ctrl-C stops the run between trials.
    ///
    /// Errors: the output path is not usable (nothing is written then).
    pub fn prepare(plan: Plan, observer: &mut dyn Observer) -> Result<Session, RunError> {
        // Ctrl-C from here on stops between trials, and the unfinished
        // bundle writer removes its staging directory.
        interrupt::install();
        // Refuse an output path that is not ours before any work.
        let writer = BundleWriter::create(&plan.out)?;
        let started = Instant::now();
        let calibration = Calibration::get();
        let run = run_json(&plan, &calibration);
        observer.run_started(&plan, &calibration);
        let mut session = Session {
            plan,
            writer,
            started,
            run,
            collector: None,
            runners: Vec::new(),
            last_inproc: None,
            guest: None,
        };
        let notes = [session.writer.stale_note(), session.writer.replace_note()];
        for n in notes.into_iter().flatten() {
            observer.output_note(&n);
            session.run.notes.push(n);
        }
        session.start_collector(observer);
        session.make_runners(observer);
        Ok(session)
    }

    /// The plan being run.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Record and report a note.
    fn note(&mut self, note: String, observer: &mut dyn Observer) {
        observer.note(&note);
        self.run.notes.push(note);
    }

    /// The sampling collector (the perf seam), or a note saying why not.
    fn start_collector(&mut self, observer: &mut dyn Observer) {
        if !self.plan.perf {
            return;
        }
        let options = collect::PerfOptions {
            frequency_hz: self.plan.perf_freq,
            boundary_everywhere: self.plan.boundary_everywhere,
        };
        match collect::make_perf_collector(&options) {
            Ok(mut c) => {
                observer.collector_started(&c.start_notes());
                for n in c.take_notes() {
                    self.note(n, observer);
                }
                self.collector = Some(c);
            }
            Err(why) => self.note(
                format!("--collect perf: {why}; the run continues with probes alone"),
                observer,
            ),
        }
    }

    /// One runner per platform choice (the platform seam).
    fn make_runners(&mut self, observer: &mut dyn Observer) {
        let options = platforms::SentryOptions {
            probes: self.plan.probes,
            subtract_probe_cost: self.plan.subtract_probe_cost,
            probe_every: self.plan.probe_every,
            keep_memory: self.plan.keep_memory,
            guest_hz: self.plan.guest_hz,
        };
        let pmu = crate::guest_sampling::vcpu_pmu(self.plan.perf, self.plan.guest_hz)
            .unwrap_or_else(|note| {
                self.note(note, observer);
                None
            });
        let mut refused: Vec<String> = Vec::new();
        for choice in self.plan.platforms.clone() {
            let mut r = platforms::make_runner(choice, options);
            if let (Ok(runner), Some(p)) = (r.as_mut(), &pmu) {
                runner.set_vcpu_pmu(std::sync::Arc::clone(p));
            }
            // One line per refused platform, not per search.
            if let Err(why) = &r {
                if !refused.contains(why) {
                    refused.push(why.clone());
                    let name = choice.platform.name();
                    self.note(format!("--platform {name}: {why}"), observer);
                }
            }
            self.runners.push(r);
        }
    }

    /// Measure every point, then write the bundle; returns its directory.
    ///
    /// Errors: no point measured, or the bundle could not be written; the
    /// staging directory is removed then. Interrupted (Ctrl-C, SIGTERM):
    /// the points measured so far are written as the bundle, with a note,
    /// and [`RunError::Interrupted`] says where. A replay of which every
    /// call failed is an error too, after its bundle is written.
    pub fn execute(mut self, observer: &mut dyn Observer) -> Result<PathBuf, RunError> {
        let done = self.measure_all(observer)?;
        let total = self.plan.point_count();
        let interrupted = done < total;
        if self.run.points.is_empty() {
            if interrupted {
                return Err(RunError::Interrupted {
                    saved: None,
                    measured: done,
                    total,
                });
            }
            return Err(RunError::NothingMeasured {
                failed: self.run.failures.len(),
                first: self
                    .run
                    .failures
                    .first()
                    .map(|f| f.error.clone())
                    .unwrap_or_else(|| "none".to_string()),
            });
        }
        if interrupted {
            let note = format!(
                "interrupted after {done} of {total} point(s): the bundle holds the points done, the rest were not run"
            );
            self.note(note, observer);
        }
        self.finish_collector(observer)?;
        self.keep_memory(observer)?;
        observer.run_measured(&self.run);
        self.render_into_staging(observer)?;
        let dir = self.writer.finish(&self.run)?;
        observer.bundle_written(&dir, &self.run, self.started.elapsed());
        if interrupted {
            return Err(RunError::Interrupted {
                saved: Some(dir),
                measured: done,
                total,
            });
        }
        match crate::replay_summary::all_replays_failed(&self.run) {
            Some(e) => Err(RunError::ReplayFailed(e)),
            None => Ok(dir),
        }
    }

    /// Every point in run order: specs × platform choices. Returns how
    /// many were done (measured or failed) before an interruption, all of
    /// them when there was none.
    fn measure_all(&mut self, observer: &mut dyn Observer) -> Result<usize, RunError> {
        let plan = TrialPlan {
            trials: self.plan.trials,
            warmup_trials: self.plan.warmup_trials,
        };
        let mut index = 0usize;
        for si in 0..self.plan.specs.len() {
            for ci in 0..self.plan.platforms.len() {
                if !self.measure_one(index, si, ci, plan, observer)? {
                    return Ok(index);
                }
                index += 1;
            }
        }
        Ok(index)
    }

    /// Point `index`: spec `si` on platform choice `ci`; false when it
    /// was interrupted.
    fn measure_one(
        &mut self,
        index: usize,
        si: usize,
        ci: usize,
        plan: TrialPlan,
        observer: &mut dyn Observer,
    ) -> Result<bool, RunError> {
        let spec = &self.plan.specs[si];
        let choice = self.plan.platforms[ci];
        let skeleton = measure::point_skeleton(
            spec,
            choice.platform.name(),
            choice.search.map(|s| s.name()),
        );
        let label = skeleton.label();
        observer.point_started(index, &label);
        let result = match &mut self.runners[ci] {
            Err(why) => Err(MeasureError::Point(PointError::Unsupported(why.clone()))),
            Ok(runner) => measure::measure_point(
                spec,
                runner.as_mut(),
                plan,
                self.collector.as_deref_mut(),
                index,
                observer,
            ),
        };
        if let Ok(runner) = &mut self.runners[ci] {
            for n in runner.take_notes() {
                self.note(n, observer);
            }
        }
        match result {
            Ok(m) => {
                self.record_point(index, &label, m, observer)?;
                if choice.platform == PlatformKind::Inproc {
                    self.last_inproc = Some(ci);
                }
            }
            Err(MeasureError::Interrupted) => {
                observer.point_interrupted(index, &label);
                return Ok(false);
            }
            Err(MeasureError::Point(e)) => {
                let error = e.to_string();
                observer.point_failed(index, &label, &error);
                self.run.failures.push(PointFailure {
                    platform: skeleton.platform,
                    search: skeleton.search,
                    mapping: skeleton.mapping,
                    iterations: skeleton.iterations,
                    size: skeleton.size,
                    error,
                });
            }
        }
        Ok(true)
    }

    /// A measured point into `run.json`, its folded stacks beside it.
    fn record_point(
        &mut self,
        index: usize,
        label: &str,
        m: Measured,
        observer: &mut dyn Observer,
    ) -> Result<(), RunError> {
        observer.point_measured(index, label, &m.point);
        if let Some(note) = m.collector_note {
            self.note(note, observer);
        }
        let mut point = m.point;
        if let Some(g) = &m.guest {
            match &mut self.guest {
                Some(run) => run.absorb(g),
                None => self.guest = Some(g.clone()),
            }
        }
        if let Some(stacks) = m.folded {
            let rel = format!("points/{index:03}.folded");
            self.writer.write_file(&rel, stacks.to_text().as_bytes())?;
            point.folded = Some(rel.clone());
            self.run.files.push(rel);
        }
        for (k, stacks) in m.trial_folded.iter().enumerate() {
            let rel = format!("points/{index:03}/trial-{k}.folded");
            self.writer.write_file(&rel, stacks.to_text().as_bytes())?;
            point.trial_folded.push(rel.clone());
            self.run.files.push(rel);
        }
        self.run.points.push(point);
        Ok(())
    }

    /// The collector's run profile and the guest sampler's stacks as
    /// `stacks.folded`, and the collector's notes.
    fn finish_collector(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        let (mut profile, notes) = match self.collector.take() {
            Some(mut c) => c.finish(),
            None => (None, Vec::new()),
        };
        for n in notes {
            self.note(n, observer);
        }
        if let Some(g) = self.guest.take() {
            let p = profile.get_or_insert_with(collect::RunProfile::default);
            p.folded.merge(&g.folded);
            let perf = (!p.info.event.is_empty()).then(|| p.info.clone());
            p.info = profile_with_guest(perf, &g);
        }
        if let Some(p) = profile {
            self.writer
                .write_file(STACKS_FOLDED, p.folded.to_text().as_bytes())?;
            self.run.files.push(STACKS_FOLDED.to_string());
            self.run.profile = Some(ProfileInfo {
                folded: STACKS_FOLDED.to_string(),
                ..p.info
            });
        }
        Ok(())
    }

    /// `--keep-memory`: the sentry's memory file of the last inproc point,
    /// for the sharing analysis.
    fn keep_memory(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        if !self.plan.keep_memory {
            return Ok(());
        }
        let runner = self
            .last_inproc
            .and_then(|ci| self.runners[ci].as_mut().ok());
        let Some(runner) = runner else {
            self.run
                .notes
                .push("--keep-memory: no inproc point was measured".to_string());
            return Ok(());
        };
        let path = self.writer.staging_dir().join(MEMORY_IMAGE);
        match runner.save_memory(&path) {
            Ok(Some(bytes)) => {
                observer.memory_kept(bytes);
                self.run.files.push(MEMORY_IMAGE.to_string());
            }
            Ok(None) => self
                .run
                .notes
                .push("--keep-memory: the inproc runner kept no memory file".to_string()),
            Err(source) => {
                return Err(RunError::KeepMemory {
                    name: MEMORY_IMAGE,
                    source,
                })
            }
        }
        Ok(())
    }

    /// Render the bundle's default outputs (flamegraphs, charts,
    /// report.txt, report.html) into the staging directory, so the bundle
    /// appears with its SVGs or not at all. A part that cannot be drawn is
    /// a note in `run.json`, not a lost run.
    fn render_into_staging(&mut self, observer: &mut dyn Observer) -> Result<(), RunError> {
        let staged = LoadedBundle::staged(
            self.writer.final_dir(),
            self.writer.staging_dir(),
            self.run.clone(),
        );
        match flamegraph::default_outputs::default_outputs(&staged) {
            Ok(out) => {
                for f in &out.files {
                    self.writer.write_file(&f.name, &f.bytes)?;
                    self.run.files.push(f.name.clone());
                }
                let svgs = out
                    .files
                    .iter()
                    .filter(|f| f.name.ends_with(".svg"))
                    .count();
                observer.rendered(svgs);
                self.run.notes.extend(out.notes);
            }
            Err(e) => self.note(
                format!("rendering skipped: {e} (re-render with `sentryprof report`)"),
                observer,
            ),
        }
        Ok(())
    }
}

/// `run.json` before any point: what the plan and this machine say.
fn run_json(plan: &Plan, calibration: &Calibration) -> RunJson {
    let mut run = RunJson::new(BundleKind::Run);
    run.command = plan.command.clone();
    run.created_unix = plan.created_unix;
    run.machine = bundle::Machine::current();
    run.workload = WorkloadInfo {
        name: plan.workload.name().to_string(),
        params: plan.params.clone(),
    };
    run.tsc_hz = calibration.tsc_hz;
    run.probe_overhead_cycles = calibration.pair_cost_cycles as f64;
    run.probe_overhead_subtracted = plan.subtract_probe_cost;
    run.probes_enabled = plan.probes;
    run.probe_sample_every = plan.probe_every;
    run.capabilities = collectors::capabilities::check_capabilities();
    run.trials = plan.trials;
    run.warmup_trials = plan.warmup_trials;
    run.notes.extend(crate::summary::boundary_line(plan));
    run.notes
        .extend(crate::summary::boundary_stacks_off_line(plan));
    run
}
