//! Drawing tests: each view of the sample bundle drawn into a ratatui
//! `TestBackend` and compared with a text snapshot in `tests/snapshots/`.
//! Set `SENTRYPROF_BLESS=1` to (re)write the snapshots after a deliberate
//! change, then review the diff.

mod common;

use common::{apply, check_snapshot, loaded, model, render, text_of};
use std::path::PathBuf;

use ratatui::style::Color;
use tui::action::Action;
use tui::state::{AppState, Tab};

#[test]
fn overview() {
    let s = loaded(vec![model(1.0)], 120, 40);
    check_snapshot("overview", &render(&s, 120, 40));
}

#[test]
fn function_table_sorted_by_total() {
    let mut s = loaded(vec![model(1.0)], 100, 24);
    apply(
        &mut s,
        vec![
            Action::GoTab(Tab::Table),
            Action::SortNext,
            Action::SortNext,
        ],
    );
    check_snapshot("table_functions_by_total", &render(&s, 100, 24));
}

#[test]
fn site_table_of_a_maxgap_point() {
    let mut s = loaded(vec![model(1.0)], 110, 16);
    apply(
        &mut s,
        vec![
            Action::GoTab(Tab::Table),
            Action::ToggleTableKind,
            Action::NextPoint,
        ],
    );
    check_snapshot("table_sites_maxgap", &render(&s, 110, 16));
}

#[test]
fn flame_zoomed_with_search() {
    let mut s = loaded(vec![model(1.0)], 100, 20);
    apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
    apply(&mut s, (0..4).map(|_| Action::Down).collect());
    apply(&mut s, vec![Action::Activate, Action::StartInput]);
    apply(&mut s, "Gap".chars().map(Action::InputChar).collect());
    apply(&mut s, vec![Action::InputSubmit]);
    let buf = render(&s, 100, 20);
    check_snapshot("flame_zoom_search", &buf);
}

#[test]
fn flame_orientation_puts_the_root_at_the_bottom() {
    let mut s = loaded(vec![model(1.0)], 100, 20);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Flame), Action::ToggleOrientation],
    );
    check_snapshot("flame_bottom_up", &render(&s, 100, 20));
}

#[test]
fn guest_and_host_frames_are_coloured_apart() {
    let mut s = loaded(vec![model(1.0)], 200, 30);
    apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
    let buf = render(&s, 200, 30);
    let text = text_of(&buf);
    let find = |needle: &str| -> Color {
        for (y, line) in text.lines().enumerate() {
            if let Some(x) = line.find(needle) {
                let x = line[..x].chars().count() as u16;
                return buf[(x, y as u16)].bg;
            }
        }
        panic!("{needle} not drawn:\n{text}");
    };
    let blue = |c: Color| matches!(c, Color::Rgb(r, _, b) if b > r);
    let warm = |c: Color| matches!(c, Color::Rgb(r, _, b) if r > b);
    assert!(blue(find("guest_")), "guest frames are blue");
    assert!(warm(find("createVMA")), "host frames are warm");
    let green = |c: Color| matches!(c, Color::Rgb(r, g, b) if g > r && g > b);
    assert!(green(find("KVM_RUN_[k]")), "kernel frames are green");
}

#[test]
fn charts_log_axes_legend_and_verdicts() {
    let mut s = loaded(vec![model(1.0)], 120, 36);
    apply(&mut s, vec![Action::GoTab(Tab::Charts)]);
    let buf = render(&s, 120, 36);
    let text = text_of(&buf);
    assert!(text.contains("inproc/linear private 4K"), "{text}");
    assert!(
        text.contains("linear,"),
        "the linear search is called linear:\n{text}"
    );
    check_snapshot("charts_mappings", &buf);
    apply(&mut s, vec![Action::ToggleChartAxis]);
    let text = text_of(&render(&s, 120, 36));
    assert!(text.contains("bytes per mapping"), "{text}");
}

#[test]
fn compare_two_bundles() {
    let mut s = loaded(vec![model(1.0), model(1.3)], 140, 20);
    let cmp =
        flamegraph::compare::compare_runs(&s.model(0).unwrap().run, &s.model(1).unwrap().run, 5.0);
    apply(
        &mut s,
        vec![Action::Compared(Box::new(cmp)), Action::GoTab(Tab::Compare)],
    );
    check_snapshot("compare", &render(&s, 140, 20));
}

#[test]
fn help_lists_the_keys() {
    let mut s = loaded(vec![model(1.0)], 100, 45);
    apply(&mut s, vec![Action::ToggleHelp]);
    let text = text_of(&render(&s, 100, 45));
    for k in tui::keys::KEYS {
        assert!(text.contains(k.what), "help lacks {:?}:\n{text}", k.what);
    }
}

#[test]
fn too_small_terminal_says_so() {
    let s = loaded(vec![model(1.0)], 40, 10);
    let text = text_of(&render(&s, 40, 10));
    assert!(text.contains("terminal too small"), "{text}");
    assert!(text.contains("need 60x15"), "{text}");
}

#[test]
fn loading_view_names_the_bundle() {
    let s = AppState::new(vec!["/data/big-bundle".into()], 80, 20);
    let text = text_of(&render(&s, 80, 20));
    assert!(text.contains("loading /data/big-bundle"), "{text}");
}

#[test]
fn a_long_breadcrumb_keeps_the_zoom_target_and_the_match_count_visible() {
    for width in [100u16, 80, 64] {
        let mut s = loaded(vec![model(1.0)], width, 20);
        apply(&mut s, vec![Action::GoTab(Tab::Flame)]);
        // Zoom five levels deep: sentryprof > ... > createVMA.
        apply(&mut s, (0..5).map(|_| Action::Down).collect());
        apply(&mut s, vec![Action::Activate, Action::StartInput]);
        apply(&mut s, "Gap".chars().map(Action::InputChar).collect());
        apply(&mut s, vec![Action::InputSubmit]);
        let text = text_of(&render(&s, width, 20));
        let line = text
            .lines()
            .find(|l| l.starts_with("view: "))
            .unwrap_or_else(|| panic!("no breadcrumb at width {width}:\n{text}"));
        assert!(line.chars().count() <= usize::from(width));
        assert!(
            line.contains(" > createVMA   /Gap/: 1 frame, "),
            "{width}: {line:?}"
        );
        assert!(line.ends_with("   icicle"), "{width}: {line:?}");
        if width < 100 {
            assert!(line.starts_with("view: … > "), "{width}: {line:?}");
        }
    }
}

#[test]
fn breadcrumb_cuts_from_the_left() {
    use tui::ui::flame::breadcrumb;
    let path = ["sentryprof", "run_point", "Workload::exp1", "createVMA"];
    assert_eq!(breadcrumb(&[], 5), "view: all");
    assert_eq!(
        breadcrumb(&path, 80),
        "view: all > sentryprof > run_point > Workload::exp1 > createVMA"
    );
    assert_eq!(
        breadcrumb(&path, 40),
        "view: … > Workload::exp1 > createVMA"
    );
    assert_eq!(breadcrumb(&path, 20), "view: … > createVMA");
    assert_eq!(breadcrumb(&path, 12), "view: …teVMA");
}

#[test]
fn overview_leaves_out_machine_facts_the_bundle_lacks() {
    let text = |m: tui::model::BundleModel| {
        let s = loaded(vec![m], 120, 40);
        text_of(&render(&s, 120, 40))
    };
    let full = text(model(1.0));
    let machine = full.lines().find(|l| l.contains("machine")).unwrap();
    assert!(
        machine.contains("sandbox-01") && machine.contains(" cores · "),
        "{machine}"
    );
    let mut run = bundle::synthetic::sample_run(1.0);
    run.machine = bundle::Machine::default();
    let bare = text(tui::model::BundleModel::from_parts(
        PathBuf::from("/bundles/bare"),
        run,
        bundle::synthetic::sample_folded(),
        tui::model::ProfileSource::Samples {
            file: "stacks.folded".into(),
            event: None,
        },
    ));
    let machine = bare.lines().find(|l| l.contains("machine")).unwrap();
    assert!(machine.contains("not recorded in this bundle"), "{machine}");
    assert!(!bare.contains("0 cores") && !bare.contains("0B"), "{bare}");
}

#[test]
fn an_empty_site_table_says_why() {
    let mut s = loaded(vec![model(1.0)], 110, 16);
    apply(
        &mut s,
        vec![Action::GoTab(Tab::Table), Action::ToggleTableKind],
    );
    let platform = |s: &AppState| {
        s.primary().unwrap().run.points[s.table.point]
            .platform
            .clone()
    };
    for _ in 0..5 {
        if platform(&s) == "native" {
            break;
        }
        apply(&mut s, vec![Action::NextPlatform]);
    }
    assert_eq!(platform(&s), "native");
    assert!(s.table.rows.is_empty());
    let text = text_of(&render(&s, 110, 16));
    assert!(
        text.contains("native runs the workload on the host kernel"),
        "{text}"
    );
}
