//! Guest / exit / sentry side by side (`g`, issue 13), on the synthetic kvm
//! bundle whose stacks cross the boundary (`bundle::synthetic::guest`),
//! written to disk and opened as `sentryprof tui` opens it: the figures are
//! the report's, the key toggles the box in the cycle table and the flame
//! view, and a bundle without guest data says so in one line.

mod common;

use bundle::read_bundle;
use bundle::synthetic::write_guest_bundle;
use common::{apply, check_snapshot, loaded, model, render, text_of};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use flamegraph::boundary_split::{pct, split_stacks};
use flamegraph::report::build_report;
use tui::action::Action;
use tui::flame::{path_split, ROOT};
use tui::keys::action_for;
use tui::model::BundleModel;
use tui::state::{AppState, Tab};

fn guest_model() -> (tempfile::TempDir, BundleModel) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_guest_bundle(&dir.path().join("kvm")).unwrap();
    let m = BundleModel::load(&path).unwrap();
    (dir, m)
}

fn press(state: &mut AppState, c: char) {
    let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
    let action = action_for(key, state).unwrap_or_else(|| panic!("{c:?} does nothing"));
    assert!(state.update(action).is_none());
}

/// Move the site table to the first kvm point.
fn to_kvm_point(state: &mut AppState) {
    for _ in 0..state.primary().unwrap().run.points.len() {
        let m = state.primary().unwrap();
        if m.run.points[state.table.point].platform == "kvm" {
            return;
        }
        apply(state, vec![Action::NextPoint]);
    }
    panic!("no kvm point reached");
}

#[test]
fn the_model_holds_the_reports_split_of_every_kvm_point() {
    let (dir, m) = guest_model();
    let report = build_report(&read_bundle(&dir.path().join("kvm")).unwrap()).unwrap();
    assert_eq!(m.splits.len(), 2, "both kvm points");
    assert_eq!(m.splits, report.splits, "TUI and report share one split");
    for s in &m.splits {
        assert_eq!(m.run.points[s.index].platform, "kvm");
        let [g, e, sen, k] = s.samples.shares().unwrap();
        assert!((g + e + sen - 1.0).abs() < 1e-9, "{g} {e} {sen}");
        assert!(k > 0.0 && k < sen);
        let [ce, cs, cr] = s.call.unwrap().shares();
        assert!((ce + cs + cr - 1.0).abs() < 1e-9);
    }
    // linear: guest 140 (100 of them the VMM sampler's, left out beside
    // perf's 40), exit 12, sentry 60 (15 in the host kernel), in samples.
    let w = m.splits[0].samples;
    assert_eq!(
        [w.guest, w.exit, w.sentry, w.sentry_kernel, w.guest_sampler].map(|v| v / 1_000_000),
        [140, 12, 60, 15, 100]
    );
    assert_eq!(w.guest_counted() / 1_000_000, 40);
    assert_eq!(w.outside / 1_000_000, 230);
    // The flame's root path is the whole profile: the same as the stacks'.
    let whole = path_split(&m.tree, ROOT);
    assert_eq!(whole, m.crossing);
    // The flame path counts one sampler's guest time as the points do
    // (perf's guest-mode samples, marked), not both samplers' of it.
    let counted: u64 = m.splits.iter().map(|s| s.samples.guest_counted()).sum();
    assert_eq!(whole.guest_counted(), counted);
    assert_eq!(whole.guest_counted(), whole.guest_perf);
    assert!(whole.guest_counted() < whole.guest);
    let text = std::fs::read_to_string(dir.path().join("kvm/stacks.folded")).unwrap();
    let stacks = bundle::folded::FoldedStacks::parse(&text, "stacks.folded").unwrap();
    assert_eq!(whole, split_stacks(&stacks));
}

#[test]
fn g_shows_the_points_split_beside_the_site_table() {
    let (_dir, m) = guest_model();
    let mut s = loaded(vec![m], 140, 30);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    to_kvm_point(&mut s);
    let before = text_of(&render(&s, 140, 30));
    assert!(
        !before.contains("guest / exit / sentry (g hides)"),
        "{before}"
    );
    press(&mut s, 'g');
    assert!(s.split);
    let buf = render(&s, 140, 30);
    let text = text_of(&buf);
    let split = s.primary().unwrap().point_split(s.table.point).unwrap();
    let [g, e, sen, k] = split.samples.shares().unwrap();
    for share in [g, e, sen, k] {
        assert!(
            text.contains(&pct(share)),
            "{} missing:\n{text}",
            pct(share)
        );
    }
    assert!(text.contains("one call by rdtsc"), "{text}");
    check_snapshot("table_guest_split", &buf);
    press(&mut s, 'g');
    assert!(!s.split);
    assert_eq!(text_of(&render(&s, 140, 30)), before);
}

#[test]
fn g_in_the_flame_view_splits_the_selected_path() {
    let (_dir, m) = guest_model();
    let guest = *m
        .tree
        .children(ROOT)
        .iter()
        .find(|&&n| m.tree.name(n) == "[guest]")
        .unwrap();
    let mut s = loaded(vec![m], 140, 30);
    apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
    s.flame.selected = guest;
    press(&mut s, 'g');
    let buf = render(&s, 140, 30);
    let text = text_of(&buf);
    assert!(
        text.contains("through [guest], all points of the bundle"),
        "{text}"
    );
    // [guest] is all of the crossing: no outside weight on this path.
    assert!(!text.contains("outside the boundary"), "{text}");
    check_snapshot("flame_guest_split", &buf);
    // A host path: nothing of it crosses.
    let host = *s
        .primary()
        .unwrap()
        .tree
        .children(ROOT)
        .iter()
        .find(|&&n| s.primary().unwrap().tree.name(n) == "sentryprof")
        .unwrap();
    s.flame.selected = host;
    let text = text_of(&render(&s, 140, 30));
    assert!(
        text.contains("no stack through this path crosses the boundary"),
        "{text}"
    );
}

#[test]
fn a_bundle_without_guest_data_says_so_in_one_line() {
    let mut s = loaded(vec![model(1.0)], 200, 30);
    for tab in [Tab::Table, Tab::Flame] {
        apply(&mut s, vec![Action::GoTab(tab)]);
        if !s.split {
            press(&mut s, 'g');
        }
        let text = text_of(&render(&s, 200, 30));
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("no guest data in this bundle"))
            .collect();
        assert_eq!(lines.len(), 1, "{tab:?}:\n{text}");
    }
}
