//! The browser's behaviour, action by action, without a terminal: every
//! test feeds actions to an `AppState` and reads the state back.

mod common;

use common::{apply, loaded, model, selected_name};
use crossterm::event::{KeyEvent, KeyModifiers};
use tui::action::{Action, Effect};
use tui::error::TuiError;
use tui::flame::ROOT;
use tui::keys::{action_for, KEYS};
use tui::state::{AppState, InputPurpose, Tab};
use tui::table::TableKind;

fn function_names(state: &AppState) -> Vec<String> {
    let m = state.primary().unwrap();
    state
        .table
        .rows
        .iter()
        .map(|&i| m.functions.rows[i].name.clone())
        .collect()
}

#[test]
fn tabs_cycle_and_compare_needs_two_bundles() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    assert_eq!(s.tabs().len(), 4);
    apply(&mut s, vec![Action::NextTab, Action::NextTab]);
    assert_eq!(s.tab, Tab::Flame);
    apply(&mut s, vec![Action::GoTab(Tab::Compare)]);
    assert_eq!(s.tab, Tab::Flame, "no compare with one bundle");
    apply(
        &mut s,
        vec![Action::PrevTab, Action::PrevTab, Action::PrevTab],
    );
    assert_eq!(s.tab, Tab::Charts, "wraps around");
    let mut two = loaded(vec![model(1.0), model(1.3)], 120, 40);
    assert_eq!(two.tabs().len(), 5);
    apply(&mut two, vec![Action::GoTab(Tab::Compare)]);
    assert_eq!(two.tab, Tab::Compare);
}

#[test]
fn table_sorts_by_any_column_and_reverses() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Table)]);
    // Default: self weight, largest first.
    assert_eq!(s.table.sort_column, 1);
    assert_eq!(function_names(&s)[0], "SegmentSet::last_large_enough_gap");
    // Next columns: self %, then total.
    apply(&mut s, vec![Action::SortNext, Action::SortNext]);
    assert_eq!(s.table.sort_column, 3);
    assert_eq!(
        function_names(&s)[0],
        "sentryprof",
        "the root caller has the largest total"
    );
    let m = s.primary().unwrap();
    let totals: Vec<u64> = s
        .table
        .rows
        .iter()
        .map(|&i| m.functions.rows[i].total_weight)
        .collect();
    assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{totals:?}");
    apply(&mut s, vec![Action::SortReverse]);
    let m = s.primary().unwrap();
    let totals: Vec<u64> = s
        .table
        .rows
        .iter()
        .map(|&i| m.functions.rows[i].total_weight)
        .collect();
    assert!(totals.windows(2).all(|w| w[0] <= w[1]), "{totals:?}");
    // Name column sorts alphabetically.
    apply(
        &mut s,
        vec![Action::SortPrev, Action::SortPrev, Action::SortPrev],
    );
    assert_eq!(s.table.sort_column, 0);
    let names = function_names(&s);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn filter_applies_as_typed_and_esc_clears_it() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Table), Action::StartInput]);
    assert_eq!(
        s.input.as_ref().map(|i| i.purpose),
        Some(InputPurpose::Filter)
    );
    apply(&mut s, "_[K]".chars().map(Action::InputChar).collect());
    let names = function_names(&s);
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(
        names.iter().all(|n| n.ends_with("_[k]")),
        "case-insensitive: {names:?}"
    );
    apply(&mut s, vec![Action::InputSubmit]);
    assert!(s.input.is_none());
    assert_eq!(s.table.filter, "_[K]");
    apply(&mut s, vec![Action::Back]);
    assert!(s.table.filter.is_empty());
    assert_eq!(
        function_names(&s).len(),
        s.primary().unwrap().functions.rows.len()
    );
}

#[test]
fn point_toggles_switch_strategy_and_platform() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    assert_eq!(s.table.kind, TableKind::Sites);
    let label = |s: &AppState| s.primary().unwrap().run.points[s.table.point].label();
    assert_eq!(label(&s), "exp1 inproc/linear private 4096B x1000 notouch");
    let sites: Vec<String> = s
        .table
        .rows
        .iter()
        .map(|&i| s.primary().unwrap().sites[i].site.clone())
        .collect();
    assert_eq!(
        sites,
        ["mmap", "create_vma", "find_available", "get_pmas", "map_as"]
    );
    apply(&mut s, vec![Action::ToggleStrategy]);
    assert_eq!(label(&s), "exp1 inproc/maxgap private 4096B x1000 notouch");
    apply(&mut s, vec![Action::NextPlatform]);
    assert_eq!(label(&s), "exp1 native/- private 4096B x1000 notouch");
    assert!(s.table.rows.is_empty(), "native has no probe sites");
    apply(&mut s, vec![Action::ToggleStrategy]);
    assert!(
        s.message.as_deref().unwrap_or("").contains("no point"),
        "{:?}",
        s.message
    );
    apply(
        &mut s,
        vec![
            Action::NextPlatform,
            Action::NextPoint,
            Action::NextPoint,
            Action::NextPoint,
        ],
    );
    assert_eq!(label(&s), "exp1 inproc/linear private 4096B x4000 notouch");
    apply(&mut s, vec![Action::PrevPoint]);
    assert_eq!(label(&s), "exp1 native/- private 4096B x1000 notouch");
    // Sort sites by median cycles, largest first.
    apply(
        &mut s,
        vec![Action::NextPoint, Action::SortNext, Action::SortNext],
    );
    let m = s.primary().unwrap();
    let medians: Vec<f64> = s
        .table
        .rows
        .iter()
        .map(|&i| m.sites[i].median_cycles)
        .collect();
    assert!(medians.windows(2).all(|w| w[0] >= w[1]), "{medians:?}");
}

#[test]
fn enter_on_a_function_shows_it_in_the_flame() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Table), Action::StartInput]);
    apply(&mut s, "findavail".chars().map(Action::InputChar).collect());
    apply(&mut s, vec![Action::InputSubmit, Action::Activate]);
    assert_eq!(s.tab, Tab::Flame);
    assert_eq!(selected_name(&s), "findAvailable");
    let search = s.flame.search.as_ref().unwrap();
    assert_eq!(search.pattern, "^findAvailable$");
    assert_eq!(search.nodes.len(), 1);
    // A probe site finds the sentry's frame of the same step.
    apply(
        &mut s,
        vec![
            Action::GoTab(Tab::Table),
            Action::Back,
            Action::ToggleTableKind,
        ],
    );
    apply(&mut s, vec![Action::Down, Action::Activate]);
    assert_eq!(s.tab, Tab::Flame);
    assert_eq!(selected_name(&s), "createVMA");
}

#[test]
fn flame_moves_zooms_and_resets() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
    assert_eq!(s.flame.selected, ROOT);
    apply(
        &mut s,
        vec![Action::Down, Action::Down, Action::Down, Action::Down],
    );
    assert_eq!(selected_name(&s), "MemoryManager::mmap");
    apply(&mut s, vec![Action::Down]);
    assert_eq!(selected_name(&s), "createVMA", "heaviest callee");
    apply(&mut s, vec![Action::Right]);
    assert_eq!(selected_name(&s), "getPMAs");
    apply(&mut s, vec![Action::Left, Action::Activate]);
    assert_eq!(s.flame.zoom.len(), 1);
    assert_eq!(
        s.primary().unwrap().tree.name(s.flame.zoom_root()),
        "createVMA"
    );
    apply(
        &mut s,
        vec![Action::Down, Action::Activate, Action::Up, Action::Up],
    );
    assert_eq!(s.flame.zoom.len(), 2);
    assert_eq!(
        selected_name(&s),
        "findAvailable",
        "never above the zoomed frame"
    );
    apply(&mut s, vec![Action::Back]);
    assert_eq!(s.flame.zoom.len(), 1);
    apply(&mut s, vec![Action::ResetZoom]);
    assert!(s.flame.zoom.is_empty());
    // In flame orientation (root at the bottom) up goes to callees.
    apply(&mut s, vec![Action::ToggleOrientation, Action::Up]);
    assert!(!s.flame.icicle);
    assert_eq!(selected_name(&s), "SegmentSet::last_large_enough_gap");
}

#[test]
fn search_highlights_cycles_and_reports_bad_regex() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Flame), Action::StartInput]);
    apply(&mut s, "_\\[g\\]$".chars().map(Action::InputChar).collect());
    apply(&mut s, vec![Action::InputSubmit]);
    let m = s.primary().unwrap();
    let search = s.flame.search.as_ref().unwrap();
    assert_eq!(search.nodes.len(), 3);
    assert_eq!(search.matched_weight(&m.tree, ROOT), (640, m.tree.total()));
    assert_eq!(selected_name(&s), "guest_syscall_[g]");
    apply(&mut s, vec![Action::NextMatch]);
    assert_eq!(selected_name(&s), "guest_mmap_[g]");
    apply(&mut s, vec![Action::NextMatch, Action::NextMatch]);
    assert_eq!(selected_name(&s), "guest_syscall_[g]", "wraps");
    apply(&mut s, vec![Action::PrevMatch]);
    assert_eq!(selected_name(&s), "guest_fault_[g]");
    // A bad regex keeps the old search and says why.
    apply(&mut s, vec![Action::StartInput, Action::InputChar('(')]);
    apply(&mut s, vec![Action::InputSubmit]);
    assert!(
        s.message.as_deref().unwrap().starts_with("bad regex"),
        "{:?}",
        s.message
    );
    assert!(s.flame.search.is_some());
    apply(&mut s, vec![Action::ClearSearch]);
    assert!(s.flame.search.is_none());
}

#[test]
fn narrow_match_zooms_its_caller_into_view() {
    // 12 of 12217 samples: narrower than a column at 120 columns.
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Flame), Action::StartInput]);
    apply(&mut s, "memfd".chars().map(Action::InputChar).collect());
    apply(&mut s, vec![Action::InputSubmit]);
    assert_eq!(selected_name(&s), "memfd_create_[k]");
    let m = s.primary().unwrap();
    assert_eq!(m.tree.name(s.flame.zoom_root()), "open_backing_file");
}

#[test]
fn export_asks_for_the_zoomed_subtree() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
    apply(
        &mut s,
        vec![
            Action::Down,
            Action::Down,
            Action::Down,
            Action::Down,
            Action::Down,
        ],
    );
    apply(&mut s, vec![Action::Activate]);
    let effect = s.update(Action::Export).expect("an export");
    let Effect::ExportSvg {
        stacks,
        path,
        icicle,
        count_name,
        ..
    } = effect;
    assert!(icicle);
    assert_eq!(count_name, "samples");
    assert_eq!(path.file_name().unwrap(), "tui-flame-createVMA.svg");
    assert!(path.starts_with("/bundles/sample-1"));
    assert_eq!(stacks.total_weight(), 5200 + 2400 + 610 + 90);
    assert!(stacks.iter().all(|(st, _)| st.contains(";createVMA")));
    assert!(s.exporting);
    assert!(s.update(Action::Export).is_none(), "one export at a time");
    apply(&mut s, vec![Action::Exported(Ok(path.clone()))]);
    assert!(!s.exporting);
    assert!(s
        .message
        .as_deref()
        .unwrap()
        .contains("tui-flame-createVMA.svg"));
}

#[test]
fn help_esc_quit_and_load_failure() {
    let mut s = loaded(vec![model(1.0)], 120, 40);
    apply(&mut s, vec![Action::ToggleHelp]);
    assert!(s.help);
    apply(&mut s, vec![Action::NextTab]);
    assert_eq!(
        s.tab,
        Tab::Overview,
        "keys other than Esc/?/q are ignored under help"
    );
    apply(&mut s, vec![Action::Back]);
    assert!(!s.help);
    apply(&mut s, vec![Action::Quit]);
    assert!(s.quit && s.fatal.is_none());

    let mut s = AppState::new(vec!["/nope".into()], 80, 24);
    let err = bundle::read_bundle(std::path::Path::new("/nope/bundle")).unwrap_err();
    apply(
        &mut s,
        vec![Action::Loaded {
            index: 0,
            result: Err(TuiError::Bundle(err)),
        }],
    );
    assert!(s.quit);
    assert!(s
        .fatal
        .as_ref()
        .unwrap()
        .to_string()
        .contains("/nope/bundle"));
}

#[test]
fn every_listed_key_does_something_in_its_view() {
    let mut s = loaded(vec![model(1.0), model(1.3)], 120, 40);
    for k in KEYS {
        s.tab = k.tab.unwrap_or(Tab::Flame);
        let action = action_for(KeyEvent::new(k.sample, KeyModifiers::NONE), &s);
        assert!(
            action.is_some(),
            "{} in {:?} maps to nothing",
            k.keys,
            k.tab
        );
    }
    let ctrl_c = KeyEvent::new(crossterm::event::KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(matches!(action_for(ctrl_c, &s), Some(Action::Quit)));
    // While typing, letters are text, not commands.
    apply(&mut s, vec![Action::GoTab(Tab::Flame), Action::StartInput]);
    let q = KeyEvent::new(crossterm::event::KeyCode::Char('q'), KeyModifiers::NONE);
    assert!(matches!(action_for(q, &s), Some(Action::InputChar('q'))));
}

/// The sample bundle with its native points first, as `run`'s default
/// platform order (native, then the sentry's) gives them.
fn native_first_model() -> tui::model::BundleModel {
    let mut run = bundle::synthetic::sample_run(1.0);
    run.points.sort_by_key(|p| p.platform != "native");
    assert_eq!(run.points[0].platform, "native");
    tui::model::BundleModel::from_parts(
        "/bundles/native-first".into(),
        run,
        bundle::synthetic::sample_folded(),
        tui::model::ProfileSource::Samples {
            file: "stacks.folded".into(),
            event: None,
        },
    )
}

#[test]
fn the_site_table_opens_on_a_point_with_sites_and_says_why() {
    let mut s = loaded(vec![native_first_model()], 120, 40);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    let m = s.primary().unwrap();
    let shown = &m.run.points[s.table.point];
    assert_ne!(shown.platform, "native", "opened on {}", shown.label());
    assert!(!s.table.rows.is_empty(), "the opened point has site rows");
    let msg = s.message.clone().unwrap_or_default();
    assert!(
        msg.contains("native") && msg.contains("no probe sites") && msg.contains("showing point"),
        "{msg:?}"
    );
    // A bundle where no point has sites says so, and stays where it was.
    let mut run = bundle::synthetic::sample_run(1.0);
    run.points.retain(|p| p.platform == "native");
    let only_native = tui::model::BundleModel::from_parts(
        "/bundles/native".into(),
        run,
        bundle::synthetic::sample_folded(),
        tui::model::ProfileSource::Samples {
            file: "stacks.folded".into(),
            event: None,
        },
    );
    let mut s = loaded(vec![only_native], 120, 40);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    assert_eq!(s.table.point, 0);
    assert!(s.table.rows.is_empty());
    let msg = s.message.clone().unwrap_or_default();
    assert!(
        msg.starts_with("no point of this bundle has probe sites (native"),
        "{msg:?}"
    );
}

#[test]
fn enter_on_a_site_matches_whole_frame_names() {
    // run_mmap_trial (heavier) contains "mmap" but is not the mmap site.
    let mut folded = bundle::folded::FoldedStacks::new();
    folded.add_joined("sentryprof;run_mmap_trial;mmap;createVMA".into(), 100);
    folded.add_joined("sentryprof;run_mmap_trial;mmap64_[k]".into(), 500);
    folded.add_joined("sentryprof;run_mmap_trial;MemoryManager::mmap".into(), 40);
    let m = tui::model::BundleModel::from_parts(
        "/bundles/names".into(),
        bundle::synthetic::sample_run(1.0),
        folded,
        tui::model::ProfileSource::Samples {
            file: "stacks.folded".into(),
            event: None,
        },
    );
    let mut s = loaded(vec![m], 120, 40);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    let m = s.primary().unwrap();
    assert_eq!(m.sites[s.table.rows[s.table.selected]].site, "mmap");
    apply(&mut s, vec![Action::Activate]);
    assert_eq!(s.tab, Tab::Flame);
    assert_eq!(selected_name(&s), "mmap");
    let m = s.primary().unwrap();
    let search = s.flame.search.as_ref().unwrap();
    let mut names: Vec<&str> = search.nodes.iter().map(|&n| m.tree.name(n)).collect();
    names.sort();
    assert_eq!(names, ["MemoryManager::mmap", "mmap"]);
    let pattern = regex::Regex::new(&tui::state::site_frame_pattern("find_available")).unwrap();
    for name in [
        "findAvailable",
        "find_available",
        "MemoryManager::find_available",
    ] {
        assert!(pattern.is_match(name), "{name}");
    }
    for name in [
        "findAvailableLocked",
        "run_find_available",
        "xfind_available",
    ] {
        assert!(!pattern.is_match(name), "{name}");
    }
}
