//! A bundle opened for browsing: `run.json`, the flame tree of its profile
//! and the tables derived from it, all computed once at load time (on the
//! loader thread) so drawing only reads.

use std::path::{Path, PathBuf};

use bundle::folded::FoldedStacks;
use bundle::sites::{probe_cost_note, site_rows, SiteRow};
use bundle::{read_bundle, RunJson, STACKS_FOLDED};
use flamegraph::boundary_split::{point_splits, split_stacks, PointSplit, SideWeights};
use flamegraph::functions::{function_table, FunctionTable};
use flamegraph::probe_flame::probe_folded_run;

use crate::error::TuiError;
use crate::flame::FlameTree;

/// Where the flame view's stacks came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileSource {
    /// Sampled stacks from a folded file of the bundle.
    Samples {
        /// File relative to the bundle.
        file: String,
        /// Event sampled ("cycles:HG", "cpu-clock", ...), when recorded.
        event: Option<String>,
    },
    /// No samples in the bundle: a flame of the rdtsc probe cycles per site
    /// (mmap → create_vma → find_available ...).
    ProbeCycles,
    /// Neither samples nor probe figures.
    Empty,
}

impl ProfileSource {
    /// One line for the status bar and overview.
    pub fn describe(&self) -> String {
        match self {
            ProfileSource::Samples { file, event } => match event {
                Some(e) => format!("samples of {e} from {file}"),
                None => format!("samples from {file}"),
            },
            ProfileSource::ProbeCycles => "probe cycles per site (no samples in bundle)".into(),
            ProfileSource::Empty => "no profile in bundle".into(),
        }
    }
}

/// Everything the browser shows about one bundle.
#[derive(Debug, Clone)]
pub struct BundleModel {
    /// Bundle directory.
    pub dir: PathBuf,
    /// Short name for tab titles (the directory's file name).
    pub name: String,
    /// The parsed `run.json`.
    pub run: RunJson,
    /// Where the flame came from.
    pub source: ProfileSource,
    /// The flame tree of the profile.
    pub tree: FlameTree,
    /// Per-function table of the profile (flamegraph crate).
    pub functions: FunctionTable,
    /// Per-site rows of every point (`bundle::sites`).
    pub sites: Vec<SiteRow>,
    /// Probe cost and whether it was subtracted, one line.
    pub probe_note: String,
    /// Guest / exit / sentry weight of the whole profile (all zero but
    /// `outside` when no stack crosses the guest boundary).
    pub crossing: SideWeights,
    /// Guest / exit / sentry per point whose stacks cross the boundary
    /// (`flamegraph::boundary_split`, as `sentryprof report` prints it);
    /// filled by [`BundleModel::load`] from the points' folded files.
    pub splits: Vec<PointSplit>,
}

impl BundleModel {
    /// Read the bundle at `path` and derive everything the views need.
    ///
    /// The profile is, in order of preference: the folded file named by
    /// `profile.folded` in `run.json`, `stacks.folded` if present, the probe
    /// cycles of the points, else empty.
    pub fn load(path: &Path) -> Result<BundleModel, TuiError> {
        let bundle = read_bundle(path)?;
        let named = bundle.run.profile.as_ref().map(|p| p.folded.clone());
        let file = match named {
            Some(f) => Some(f),
            None if bundle.path_of(STACKS_FOLDED).is_file() => Some(STACKS_FOLDED.to_string()),
            None => None,
        };
        let (stacks, source) = match file {
            Some(file) => {
                let text = bundle.read_text(&file)?;
                let full = bundle.path_of(&file);
                let stacks = FoldedStacks::parse(&text, &full.display().to_string())
                    .map_err(|source| TuiError::Folded { path: full, source })?;
                let event = bundle.run.profile.as_ref().map(|p| p.event.clone());
                (stacks, ProfileSource::Samples { file, event })
            }
            None => {
                let stacks = probe_folded_run(&bundle.run);
                let source = if stacks.is_empty() {
                    ProfileSource::Empty
                } else {
                    ProfileSource::ProbeCycles
                };
                (stacks, source)
            }
        };
        let splits = point_splits(&bundle)?;
        let mut model = BundleModel::from_parts(bundle.dir, bundle.run, stacks, source);
        model.splits = splits;
        Ok(model)
    }

    /// The split of point `index`, when its stacks cross the boundary.
    pub fn point_split(&self, index: usize) -> Option<&PointSplit> {
        self.splits.iter().find(|s| s.index == index)
    }

    /// Derive the model from a run and its stacks (no file access; no
    /// per-point splits: those come from the points' files).
    pub fn from_parts(
        dir: PathBuf,
        run: RunJson,
        stacks: FoldedStacks,
        source: ProfileSource,
    ) -> BundleModel {
        let profile = match source {
            ProfileSource::Samples { .. } => run.profile.as_ref(),
            _ => None,
        };
        // The tree and the function table are independent: build them on
        // two threads (large profiles take a good part of a second each).
        let (tree, (mut functions, crossing)) = std::thread::scope(|scope| {
            let table = scope.spawn(|| (function_table(&stacks, profile), split_stacks(&stacks)));
            let tree = FlameTree::from_folded(&stacks);
            let table = match table.join() {
                Ok(t) => t,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            (tree, table)
        });
        if source == ProfileSource::ProbeCycles {
            functions.weight_unit = "cycles".into();
        }
        let sites = site_rows(&run);
        let probe_note = probe_cost_note(&run);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        BundleModel {
            dir,
            name,
            run,
            source,
            tree,
            functions,
            sites,
            probe_note,
            crossing,
            splits: Vec::new(),
        }
    }
}
