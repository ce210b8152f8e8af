//! Tests of the flame tree, layout, navigation and search against plain
//! recomputation from the folded text.

use std::collections::BTreeMap;

use bundle::folded::FoldedStacks;
use regex::Regex;

use super::layout::{columns_of, layout, FlameCell, LayoutParams};
use super::nav;
use super::search::SearchMatches;
use super::tree::{FlameTree, FrameKind, NodeId, ROOT};

fn sample() -> FoldedStacks {
    FoldedStacks::parse(
        "main;mmap;create_vma;find_available 60\n\
         main;mmap;create_vma;insert 10\n\
         main;mmap;get_pmas 20\n\
         main;mmap 5\n\
         main;touch;fault;map_as 4\n\
         main;vcpu_run;guest_mmap_[g];guest_fault_[g] 1\n\
         worker;memcpy_[k] 3\n",
        "sample",
    )
    .unwrap()
}

/// Recompute every cached figure and compare (the module's invariants).
fn check_invariants(tree: &FlameTree) {
    assert_eq!(tree.name(ROOT), "all");
    assert_eq!(tree.node(ROOT).depth, 0);
    for id in 0..tree.len() as NodeId {
        let node = tree.node(id);
        let kids = tree.children(id);
        let kid_sum: u64 = kids.iter().map(|&k| tree.node(k).total).sum();
        assert_eq!(node.total, node.self_weight + kid_sum, "node {id}");
        let mut end = id + 1;
        for w in kids.windows(2) {
            assert!(tree.name(w[0]) < tree.name(w[1]), "children in name order");
        }
        for &k in kids {
            assert_eq!(
                k, end,
                "pre-order: child starts where the previous subtree ended"
            );
            assert_eq!(tree.node(k).parent, id);
            assert_eq!(tree.node(k).depth, node.depth + 1);
            end = tree.node(k).end;
        }
        assert_eq!(node.end, end, "subtree range of {id}");
    }
}

/// Stack text from the tree, to compare with the input.
fn stacks_of(tree: &FlameTree) -> BTreeMap<String, u64> {
    tree.subtree_folded(ROOT)
        .iter()
        .map(|(s, w)| (s.to_string(), w))
        .collect()
}

#[test]
fn tree_keeps_every_stack_and_its_weight() {
    let folded = sample();
    let tree = FlameTree::from_folded(&folded);
    check_invariants(&tree);
    assert_eq!(tree.total(), 103);
    let expected: BTreeMap<String, u64> = folded.iter().map(|(s, w)| (s.to_string(), w)).collect();
    assert_eq!(stacks_of(&tree), expected);
    assert_eq!(tree.max_depth(), 4);
}

#[test]
fn frames_are_interned_and_kinds_follow_suffixes() {
    let folded = FoldedStacks::parse("a;x 1\nb;x 1\nc;x_[g] 1\nd;x_[k] 2\n", "t").unwrap();
    let tree = FlameTree::from_folded(&folded);
    check_invariants(&tree);
    // all, a, x, b, c, x_[g], d, x_[k]
    assert_eq!(tree.names().len(), 8);
    let kinds: Vec<FrameKind> = (1..tree.len() as NodeId).map(|i| tree.kind(i)).collect();
    assert!(kinds.contains(&FrameKind::Guest));
    assert!(kinds.contains(&FrameKind::Kernel));
    assert_eq!(tree.kind(ROOT), FrameKind::Host);
}

#[test]
fn empty_profile_is_a_bare_root() {
    let tree = FlameTree::from_folded(&FoldedStacks::new());
    assert!(tree.is_empty());
    assert_eq!(tree.total(), 0);
    let mut cells = Vec::new();
    layout(
        &tree,
        LayoutParams {
            zoom: ROOT,
            width: 80,
            first_level: 0,
            rows: 10,
        },
        &mut cells,
    );
    assert!(cells.is_empty());
}

fn find(tree: &FlameTree, path: &[&str]) -> NodeId {
    let mut at = ROOT;
    for name in path {
        at = *tree
            .children(at)
            .iter()
            .find(|&&k| tree.name(k) == *name)
            .unwrap_or_else(|| panic!("no frame {name}"));
    }
    at
}

#[test]
fn layout_places_children_left_to_right_within_parent() {
    let tree = FlameTree::from_folded(&sample());
    let mut cells: Vec<FlameCell> = Vec::new();
    let params = LayoutParams {
        zoom: ROOT,
        width: 103,
        first_level: 0,
        rows: 10,
    };
    layout(&tree, params, &mut cells);
    // One column per sample: widths equal weights.
    for c in &cells {
        assert_eq!(
            u64::from(c.width),
            tree.node(c.node).total,
            "{}",
            tree.name(c.node)
        );
        assert_eq!(
            Some((c.x, c.x + c.width)),
            columns_of(&tree, ROOT, 103, c.node)
        );
    }
    let main = find(&tree, &["main"]);
    let worker = find(&tree, &["worker"]);
    let cm = cells.iter().find(|c| c.node == main).unwrap();
    let cw = cells.iter().find(|c| c.node == worker).unwrap();
    assert_eq!((cm.x, cm.width, cm.row), (0, 100, 1));
    assert_eq!((cw.x, cw.width), (100, 3));
    // No overlap within a row.
    for a in &cells {
        for b in &cells {
            if a.node != b.node && a.row == b.row {
                assert!(a.x + a.width <= b.x || b.x + b.width <= a.x);
            }
        }
    }
}

#[test]
fn layout_skips_frames_narrower_than_a_column_and_scrolls() {
    let tree = FlameTree::from_folded(&sample());
    let mut cells = Vec::new();
    // 10 columns: the 1-sample guest stack (0.1 column) is not visited.
    layout(
        &tree,
        LayoutParams {
            zoom: ROOT,
            width: 10,
            first_level: 0,
            rows: 10,
        },
        &mut cells,
    );
    let guest = find(&tree, &["main", "vcpu_run"]);
    assert!(cells.iter().all(|c| c.node != guest));
    assert!(cells.iter().all(|c| c.x + c.width <= 10));
    // Zoomed into mmap with two levels scrolled away.
    let mmap = find(&tree, &["main", "mmap"]);
    layout(
        &tree,
        LayoutParams {
            zoom: mmap,
            width: 95,
            first_level: 2,
            rows: 5,
        },
        &mut cells,
    );
    let names: Vec<&str> = cells.iter().map(|c| tree.name(c.node)).collect();
    assert_eq!(names, vec!["find_available", "insert"]);
    assert!(cells.iter().all(|c| c.row == 0));
    // Only one row: deeper levels are not emitted.
    layout(
        &tree,
        LayoutParams {
            zoom: ROOT,
            width: 103,
            first_level: 0,
            rows: 1,
        },
        &mut cells,
    );
    assert_eq!(cells.len(), 1);
}

#[test]
fn navigation_moves_between_callers_callees_and_neighbours() {
    let tree = FlameTree::from_folded(&sample());
    let main = find(&tree, &["main"]);
    let mmap = find(&tree, &["main", "mmap"]);
    let create = find(&tree, &["main", "mmap", "create_vma"]);
    let get_pmas = find(&tree, &["main", "mmap", "get_pmas"]);
    let fault = find(&tree, &["main", "touch", "fault"]);
    assert_eq!(nav::down(&tree, ROOT, 1), main);
    assert_eq!(nav::down(&tree, main, 1), mmap);
    assert_eq!(nav::down(&tree, mmap, 1), create);
    assert_eq!(nav::up(&tree, ROOT, create), mmap);
    assert_eq!(nav::up(&tree, mmap, mmap), mmap, "never above the zoom");
    assert_eq!(nav::right(&tree, ROOT, create, 1), get_pmas);
    // Across parents: the next frame at depth 3 after get_pmas is fault.
    assert_eq!(nav::right(&tree, ROOT, get_pmas, 1), fault);
    assert_eq!(nav::left(&tree, ROOT, fault, 1), get_pmas);
    assert_eq!(nav::left(&tree, ROOT, get_pmas, 1), create);
    assert_eq!(nav::left(&tree, ROOT, create, 1), create, "leftmost stays");
    // Frames lighter than min_weight are stepped over.
    let guest = find(&tree, &["main", "vcpu_run", "guest_mmap_[g]"]);
    assert_eq!(nav::right(&tree, ROOT, fault, 1), guest);
    assert_eq!(nav::right(&tree, ROOT, fault, 2), fault);
    // Inside a zoom, neighbours outside it are not reached.
    assert_eq!(nav::right(&tree, mmap, get_pmas, 1), get_pmas);
}

#[test]
fn search_counts_nested_matches_once_and_cycles() {
    let tree = FlameTree::from_folded(&sample());
    let re = Regex::new("mmap").unwrap();
    let m = SearchMatches::find(&tree, "mmap", &re);
    // main;mmap (95) and guest_mmap_[g] (1).
    assert_eq!(m.nodes.len(), 2);
    assert_eq!(m.matched_weight(&tree, ROOT), (96, 103));
    let main = find(&tree, &["main"]);
    assert_eq!(m.matched_weight(&tree, main), (96, 100));
    // Nested: "a" matches main;mmap;create_vma;find_available and its callers.
    let re = Regex::new("a").unwrap();
    let m = SearchMatches::find(&tree, "a", &re);
    assert_eq!(
        m.matched_weight(&tree, ROOT).0,
        100,
        "main covers its callees"
    );
    let first = m.nodes[0];
    let last = *m.nodes.last().unwrap();
    assert_eq!(m.next_after(last), Some(first), "wraps forward");
    assert_eq!(m.prev_before(first), Some(last), "wraps backward");
    assert_eq!(m.next_after(first), Some(m.nodes[1]));
}

#[test]
fn subtree_export_keeps_the_path_from_the_root() {
    let tree = FlameTree::from_folded(&sample());
    let create = find(&tree, &["main", "mmap", "create_vma"]);
    let sub = tree.subtree_folded(create);
    assert_eq!(
        sub.to_text(),
        "main;mmap;create_vma;find_available 60\nmain;mmap;create_vma;insert 10\n"
    );
}

#[test]
fn wide_nodes_and_non_adjacent_stacks_share_paths() {
    // Generated stacks: wide fan-outs (more children than a scan covers)
    // and the same path reached from stacks far apart in sorted order.
    let folded = bundle::synthetic::synthetic_folded(3_000, 11);
    let tree = FlameTree::from_folded(&folded);
    check_invariants(&tree);
    let expected: BTreeMap<String, u64> = folded.iter().map(|(s, w)| (s.to_string(), w)).collect();
    assert_eq!(stacks_of(&tree), expected);
    assert!(
        (0..tree.len() as NodeId).any(|id| tree.children(id).len() > 8),
        "some node is wide"
    );
    // Frames that sort between a stack and its prefix ("a", "a-x", "a;b").
    let tricky =
        FoldedStacks::parse("a 1\na-x;q 2\na;b 3\na;b;c 4\na-x 5\na;b-y 6\n", "t").unwrap();
    let tree = FlameTree::from_folded(&tricky);
    check_invariants(&tree);
    let expected: BTreeMap<String, u64> = tricky.iter().map(|(s, w)| (s.to_string(), w)).collect();
    assert_eq!(stacks_of(&tree), expected);
    assert_eq!(tree.children(ROOT).len(), 2, "a and a-x once each");
}
