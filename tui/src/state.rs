//! The browser's whole state and the one function that changes it,
//! [`AppState::update`]. No terminal, no threads, no clock: every behaviour
//! of the browser can be tested by feeding actions and reading the state.

use std::path::PathBuf;

use flamegraph::compare::Comparison;
use regex::Regex;

use crate::action::{Action, Effect};
use crate::charts::{mappings_of, ChartAxis};
use crate::error::TuiError;
use crate::flame::{columns_of, nav, NodeId, SearchMatches, ROOT};
use crate::model::BundleModel;
pub use crate::tab::Tab;
use crate::table::{next_platform, other_strategy, TableKind, TableView};

/// A bundle being loaded or ready.
#[derive(Debug)]
pub enum Slot {
    Loading(PathBuf),
    Ready(Box<BundleModel>),
}

/// State of the flame view.
#[derive(Debug, Clone, Default)]
pub struct FlameView {
    /// Zoomed frames, outermost first; the view spans the last (or the
    /// root when empty).
    pub zoom: Vec<NodeId>,
    /// The selected frame.
    pub selected: NodeId,
    /// Root on top (icicle) rather than at the bottom (flame).
    pub icicle: bool,
    /// The current search and its matches.
    pub search: Option<SearchMatches>,
}

impl FlameView {
    /// The frame spanning the whole width.
    pub fn zoom_root(&self) -> NodeId {
        self.zoom.last().copied().unwrap_or(ROOT)
    }
}

/// What the input line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPurpose {
    /// A regex over frame names (flame view).
    Search,
    /// A substring of row names (cycle table), applied as typed.
    Filter,
}

/// The line being typed at the bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputLine {
    pub purpose: InputPurpose,
    pub text: String,
}

/// Everything the browser shows.
#[derive(Debug)]
pub struct AppState {
    pub tab: Tab,
    /// One or two bundles (the second only for Compare).
    pub bundles: Vec<Slot>,
    pub table: TableView,
    pub flame: FlameView,
    pub chart_axis: ChartAxis,
    /// Mapping kind the charts show (None: all).
    pub chart_mapping: Option<String>,
    /// First line shown in the overview and compare views.
    pub scroll: usize,
    /// The input line, while typing.
    pub input: Option<InputLine>,
    /// The key list is shown.
    pub help: bool,
    /// One line for the status bar (export written, bad regex, ...).
    pub message: Option<String>,
    /// Leave the event loop.
    pub quit: bool,
    /// Why the browser must stop with an error (a bundle failed to load).
    pub fatal: Option<TuiError>,
    /// Terminal size in cells.
    pub width: u16,
    pub height: u16,
    /// Where exports go (None: beside the bundle's run.json).
    pub export_dir: Option<PathBuf>,
    /// An export is being written.
    pub exporting: bool,
    /// Bundle A against bundle B, once both are loaded and compared.
    pub comparison: Option<Comparison>,
    /// Guest / exit / sentry of the selected point (cycle table) and the
    /// selected path (flame) shown side by side (`g`).
    pub split: bool,
}

/// The first bundle of `bundles`, once loaded (a free function so the
/// borrow covers only the bundles, not the rest of the state).
fn first_model(bundles: &[Slot]) -> Option<&BundleModel> {
    match bundles.first() {
        Some(Slot::Ready(m)) => Some(m),
        _ => None,
    }
}

/// Rows a page-up / page-down moves.
const PAGE: usize = 10;

impl AppState {
    /// A browser for `paths`, all still loading, in a terminal of the given size.
    pub fn new(paths: Vec<PathBuf>, width: u16, height: u16) -> AppState {
        AppState {
            tab: Tab::Overview,
            bundles: paths.into_iter().map(Slot::Loading).collect(),
            table: TableView::default(),
            flame: FlameView {
                icicle: true,
                ..FlameView::default()
            },
            chart_axis: ChartAxis::Mappings,
            chart_mapping: None,
            scroll: 0,
            input: None,
            help: false,
            message: None,
            quit: false,
            fatal: None,
            width,
            height,
            export_dir: None,
            exporting: false,
            comparison: None,
            split: false,
        }
    }

    /// The bundle at `index`, once loaded.
    pub fn model(&self, index: usize) -> Option<&BundleModel> {
        match self.bundles.get(index) {
            Some(Slot::Ready(m)) => Some(m),
            _ => None,
        }
    }

    /// The main (first) bundle, once loaded.
    pub fn primary(&self) -> Option<&BundleModel> {
        self.model(0)
    }

    /// Whether every bundle has loaded.
    pub fn all_loaded(&self) -> bool {
        self.bundles.iter().all(|s| matches!(s, Slot::Ready(_)))
    }

    /// Tabs that can be shown (Compare needs two bundles).
    pub fn tabs(&self) -> Vec<Tab> {
        Tab::ALL
            .iter()
            .copied()
            .filter(|t| *t != Tab::Compare || self.bundles.len() > 1)
            .collect()
    }

    /// Columns of the flame view (the whole width).
    pub fn flame_width(&self) -> u16 {
        self.width.max(1)
    }

    /// Weight of one column at the current zoom: lighter frames are not drawn.
    pub fn column_weight(&self) -> u64 {
        self.primary()
            .map(|m| m.tree.node(self.flame.zoom_root()).total / u64::from(self.flame_width()))
            .unwrap_or(0)
            .max(1)
    }

    /// Apply one action. Returns work for the event loop to start, if any.
    pub fn update(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Loaded { index, result } => {
                self.loaded(index, result);
                None
            }
            Action::Compared(cmp) => {
                self.comparison = Some(*cmp);
                None
            }
            Action::Exported(result) => {
                self.exporting = false;
                self.message = Some(match result {
                    Ok(path) => format!("wrote {}", path.display()),
                    Err(e) => format!("export failed: {e}"),
                });
                None
            }
            Action::Resize { width, height } => {
                self.width = width;
                self.height = height;
                None
            }
            Action::Quit => {
                self.quit = true;
                None
            }
            _ if self.input.is_some() => {
                self.update_input(action);
                None
            }
            Action::ToggleHelp => {
                self.help = !self.help;
                None
            }
            Action::Back if self.help => {
                self.help = false;
                None
            }
            _ if self.help => None,
            Action::NextTab => {
                self.shift_tab(1);
                None
            }
            Action::PrevTab => {
                self.shift_tab(-1);
                None
            }
            Action::ToggleSplit => {
                self.split = !self.split;
                None
            }
            Action::GoTab(tab) => {
                if self.tabs().contains(&tab) {
                    self.tab = tab;
                    self.scroll = 0;
                }
                None
            }
            other => {
                self.message = None;
                match self.tab {
                    Tab::Table => self.update_table(other),
                    Tab::Flame => return self.update_flame(other),
                    Tab::Charts => self.update_charts(other),
                    Tab::Overview | Tab::Compare => self.update_scroll(other),
                }
                None
            }
        }
    }

    fn loaded(&mut self, index: usize, result: Result<Box<BundleModel>, TuiError>) {
        match result {
            Ok(model) => {
                if let Some(slot) = self.bundles.get_mut(index) {
                    *slot = Slot::Ready(model);
                }
                if index == 0 {
                    self.refresh_table();
                    self.flame = FlameView {
                        icicle: self.flame.icicle,
                        ..FlameView::default()
                    };
                }
            }
            Err(e) => {
                self.fatal = Some(e);
                self.quit = true;
            }
        }
    }

    fn shift_tab(&mut self, step: isize) {
        let tabs = self.tabs();
        let here = tabs.iter().position(|t| *t == self.tab).unwrap_or(0) as isize;
        let n = tabs.len() as isize;
        self.tab = tabs[(here + step).rem_euclid(n) as usize];
        self.scroll = 0;
    }

    fn refresh_table(&mut self) {
        if let Some(Slot::Ready(model)) = self.bundles.first() {
            self.table.refresh(model);
        }
    }

    fn update_input(&mut self, action: Action) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        match action {
            Action::InputChar(c) => input.text.push(c),
            Action::InputBackspace => {
                input.text.pop();
            }
            Action::Back => {
                if input.purpose == InputPurpose::Filter {
                    self.table.filter.clear();
                    self.refresh_table();
                }
                self.input = None;
                return;
            }
            Action::InputSubmit => {
                let line = self.input.take();
                if let Some(line) = line {
                    if line.purpose == InputPurpose::Search {
                        self.set_search(&line.text, true);
                    }
                }
                return;
            }
            _ => return,
        }
        if input.purpose == InputPurpose::Filter {
            self.table.filter = input.text.clone();
            self.table.selected = 0;
            self.refresh_table();
        }
    }

    /// Search frames for `pattern` (a regex); an empty pattern clears the
    /// search. With `jump`, select the first match after the selection.
    fn set_search(&mut self, pattern: &str, jump: bool) {
        if pattern.is_empty() {
            self.flame.search = None;
            return;
        }
        let re = match Regex::new(pattern) {
            Ok(re) => re,
            Err(e) => {
                let first = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                self.message = Some(format!("bad regex {pattern:?}: {first}"));
                return;
            }
        };
        let Some(model) = first_model(&self.bundles) else {
            return;
        };
        let matches = SearchMatches::find(&model.tree, pattern, &re);
        if matches.nodes.is_empty() {
            self.message = Some(format!("no frame matches {pattern:?}"));
        }
        self.flame.search = Some(matches);
        if jump {
            self.jump_match(true);
        }
    }

    fn jump_match(&mut self, forward: bool) {
        let Some(search) = &self.flame.search else {
            self.message = Some("no search: press / to search".into());
            return;
        };
        let sel = self.flame.selected;
        let target = if forward {
            search.next_after(sel)
        } else {
            search.prev_before(sel)
        };
        if let Some(target) = target {
            self.select_visible(target);
        }
    }

    /// Select `id`, zooming so that it is on screen: out to the root when it
    /// lies outside the zoom, into its caller when it is too narrow to see.
    fn select_visible(&mut self, id: NodeId) {
        let width = self.flame_width();
        let Some(model) = first_model(&self.bundles) else {
            return;
        };
        let tree = &model.tree;
        if !tree.is_within(id, self.flame.zoom_root()) {
            self.flame.zoom.clear();
        }
        let mut zoom_to = None;
        if columns_of(tree, self.flame.zoom_root(), width, id).is_none() {
            let parent = tree.node(id).parent;
            zoom_to = Some(if id == ROOT { ROOT } else { parent });
        }
        if let Some(z) = zoom_to {
            if z != ROOT && z != self.flame.zoom_root() {
                self.flame.zoom.push(z);
            }
        }
        self.flame.selected = id;
    }

    fn update_table(&mut self, action: Action) {
        let len = self.table.rows.len();
        let t = &mut self.table;
        match action {
            Action::Up => t.selected = t.selected.saturating_sub(1),
            Action::Down => t.selected = (t.selected + 1).min(len.saturating_sub(1)),
            Action::PageUp => t.selected = t.selected.saturating_sub(PAGE),
            Action::PageDown => t.selected = (t.selected + PAGE).min(len.saturating_sub(1)),
            Action::Top => t.selected = 0,
            Action::Bottom => t.selected = len.saturating_sub(1),
            Action::SortNext | Action::Right => {
                t.shift_sort(1);
                self.refresh_table();
            }
            Action::SortPrev | Action::Left => {
                t.shift_sort(-1);
                self.refresh_table();
            }
            Action::SortReverse => {
                t.descending = !t.descending;
                self.refresh_table();
            }
            Action::ToggleTableKind => {
                let kind = match t.kind {
                    TableKind::Functions => TableKind::Sites,
                    TableKind::Sites => TableKind::Functions,
                };
                t.set_kind(kind);
                if kind == TableKind::Sites {
                    self.open_on_a_point_with_sites();
                }
                self.refresh_table();
            }
            Action::StartInput => {
                self.input = Some(InputLine {
                    purpose: InputPurpose::Filter,
                    text: t.filter.clone(),
                });
            }
            Action::Back if !t.filter.is_empty() => {
                t.filter.clear();
                self.refresh_table();
            }
            Action::NextPoint
            | Action::PrevPoint
            | Action::ToggleStrategy
            | Action::NextPlatform => self.change_point(&action),
            Action::Activate => self.jump_to_flame(),
            _ => {}
        }
    }

    /// The site table opens on a point that has sites: when the current one
    /// has none (a native point), the first that has, and a message says why.
    fn open_on_a_point_with_sites(&mut self) {
        let Some(model) = first_model(&self.bundles) else {
            return;
        };
        let points = &model.run.points;
        let at = self.table.point;
        let Some(here) = points.get(at) else {
            return;
        };
        if crate::table::point_has_sites(model, at) {
            return;
        }
        let why = crate::table::no_sites_reason(here);
        self.message = Some(match crate::table::first_point_with_sites(model) {
            Some(j) => {
                self.table.point = j;
                format!(
                    "{}: {why}; showing point {}/{}: {}",
                    here.label(),
                    j + 1,
                    points.len(),
                    points[j].label()
                )
            }
            None => format!("no point of this bundle has probe sites ({why})"),
        });
    }

    fn change_point(&mut self, action: &Action) {
        let Some(model) = first_model(&self.bundles) else {
            return;
        };
        let points = &model.run.points;
        if points.is_empty() {
            self.message = Some("this bundle has no measured points".into());
            return;
        }
        let at = self.table.point.min(points.len() - 1);
        let target = match action {
            Action::NextPoint => Some((at + 1) % points.len()),
            Action::PrevPoint => Some((at + points.len() - 1) % points.len()),
            Action::ToggleStrategy => other_strategy(points, at),
            _ => next_platform(points, at),
        };
        match target {
            Some(j) => {
                let label = points[j].label();
                self.table.point = j;
                if self.table.kind == TableKind::Functions {
                    self.table.set_kind(TableKind::Sites);
                }
                self.message = Some(format!("point {}/{}: {label}", j + 1, points.len()));
                self.refresh_table();
            }
            None => {
                let what = if matches!(action, Action::ToggleStrategy) {
                    "another search strategy"
                } else {
                    "another platform"
                };
                self.message = Some(format!("no point with {what} and the same parameters"));
            }
        }
    }

    /// From the selected table row to its frames in the flame view: the
    /// frames named like the row are highlighted and the heaviest selected.
    fn jump_to_flame(&mut self) {
        let Some(model) = first_model(&self.bundles) else {
            return;
        };
        let Some(&row) = self.table.rows.get(self.table.selected) else {
            return;
        };
        let (name, exact) = match self.table.kind {
            TableKind::Functions => (model.functions.rows[row].name.clone(), true),
            TableKind::Sites => (model.sites[row].site.clone(), false),
        };
        // Functions match by exact frame name; a probe site matches the
        // sentry's frames of that step by their whole name, or its last
        // `::` part ("find_available" ~ "findAvailable",
        // "MemoryManager::find_available"; "mmap" is not "run_mmap_trial").
        let pattern = if exact {
            format!("^{}$", regex::escape(&name))
        } else {
            site_frame_pattern(&name)
        };
        self.tab = Tab::Flame;
        self.flame.zoom.clear();
        self.flame.selected = ROOT;
        self.set_search(&pattern, false);
        let heaviest =
            match (first_model(&self.bundles), &self.flame.search) {
                (Some(model), Some(search)) => {
                    let tree = &model.tree;
                    search.nodes.iter().copied().max_by(|&a, &b| {
                        tree.node(a).total.cmp(&tree.node(b).total).then(b.cmp(&a))
                    })
                }
                _ => None,
            };
        if let Some(id) = heaviest {
            self.select_visible(id);
        }
    }

    fn update_flame(&mut self, action: Action) -> Option<Effect> {
        let min_weight = self.column_weight();
        let icicle = self.flame.icicle;
        let model = first_model(&self.bundles)?;
        let tree = &model.tree;
        let zoom = self.flame.zoom_root();
        let sel = self.flame.selected;
        let next = match action {
            Action::Up | Action::Down => {
                // In flame orientation the root is at the bottom: up goes
                // to callees.
                let toward_root = matches!(action, Action::Up) == icicle;
                Some(if toward_root {
                    nav::up(tree, zoom, sel)
                } else {
                    nav::down(tree, sel, min_weight)
                })
            }
            Action::Left => Some(nav::left(tree, zoom, sel, min_weight)),
            Action::Right => Some(nav::right(tree, zoom, sel, min_weight)),
            Action::Top => Some(zoom),
            Action::Activate => {
                if sel != zoom && tree.is_within(sel, zoom) && tree.node(sel).total > 0 {
                    self.flame.zoom.push(sel);
                }
                None
            }
            Action::Back => {
                if let Some(z) = self.flame.zoom.pop() {
                    self.flame.selected = z;
                }
                None
            }
            Action::ResetZoom => {
                self.flame.zoom.clear();
                None
            }
            Action::StartInput => {
                let text = self
                    .flame
                    .search
                    .as_ref()
                    .map(|s| s.pattern.clone())
                    .unwrap_or_default();
                self.input = Some(InputLine {
                    purpose: InputPurpose::Search,
                    text,
                });
                None
            }
            Action::NextMatch => {
                self.jump_match(true);
                None
            }
            Action::PrevMatch => {
                self.jump_match(false);
                None
            }
            Action::ClearSearch => {
                self.flame.search = None;
                None
            }
            Action::ToggleOrientation => {
                self.flame.icicle = !self.flame.icicle;
                None
            }
            Action::Export => return self.export(),
            _ => None,
        };
        if let Some(next) = next {
            self.flame.selected = next;
        }
        None
    }

    fn export(&mut self) -> Option<Effect> {
        if self.exporting {
            self.message = Some("an export is already being written".into());
            return None;
        }
        let model = first_model(&self.bundles)?;
        let tree = &model.tree;
        if tree.is_empty() {
            self.message = Some("nothing to export: the profile is empty".into());
            return None;
        }
        let zoom = self.flame.zoom_root();
        let frame = if zoom == ROOT { "all" } else { tree.name(zoom) };
        let safe: String = frame
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        let dir = self.export_dir.clone().unwrap_or_else(|| model.dir.clone());
        let path = dir.join(format!("tui-flame-{safe}.svg"));
        let title = format!("{} — {}", model.name, frame);
        let effect = Effect::ExportSvg {
            stacks: tree.subtree_folded(zoom),
            title,
            path,
            icicle: self.flame.icicle,
            count_name: model.functions.weight_unit.clone(),
        };
        self.exporting = true;
        self.message = Some("exporting SVG...".into());
        Some(effect)
    }

    fn update_charts(&mut self, action: Action) {
        match action {
            Action::ToggleChartAxis => {
                self.chart_axis = match self.chart_axis {
                    ChartAxis::Mappings => ChartAxis::Size,
                    ChartAxis::Size => ChartAxis::Mappings,
                };
            }
            Action::CycleChartMapping => {
                let Some(model) = first_model(&self.bundles) else {
                    return;
                };
                let kinds = mappings_of(&model.run);
                self.chart_mapping = match &self.chart_mapping {
                    None => kinds.first().cloned(),
                    Some(m) => {
                        let i = kinds.iter().position(|k| k == m);
                        i.and_then(|i| kinds.get(i + 1).cloned())
                    }
                };
            }
            _ => self.update_scroll(action),
        }
    }

    fn update_scroll(&mut self, action: Action) {
        match action {
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::Down => self.scroll += 1,
            Action::PageUp => self.scroll = self.scroll.saturating_sub(PAGE),
            Action::PageDown => self.scroll += PAGE,
            Action::Top => self.scroll = 0,
            _ => {}
        }
    }
}

/// The search that finds the frames of probe site `site`: whole frame names
/// (or their last `::` part), case-insensitive, an underscore optional.
pub fn site_frame_pattern(site: &str) -> String {
    format!("(?i)(^|::){}$", regex::escape(site).replace('_', "_?"))
}
