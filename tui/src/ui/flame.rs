//! The flame view: two info lines and the frames laid out by
//! [`crate::flame::layout`], written straight into the frame buffer.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::style;
use crate::flame::{layout, FlameCell, LayoutParams, ROOT};
use crate::model::BundleModel;
use crate::state::{AppState, FlameView};

/// Draw the flame view of `model` into `area`.
pub fn draw(frame: &mut Frame, area: Rect, state: &AppState, model: &BundleModel) {
    let split = if state.split && !model.tree.is_empty() {
        super::split::path_lines(model, state.flame.selected, area.width)
    } else {
        Vec::new()
    };
    let split_height = if split.is_empty() {
        0
    } else {
        super::split::height(&split)
    };
    let [info, split_area, body] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(split_height),
        Constraint::Min(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(info_lines(state, model, info.width)), info);
    if !split.is_empty() {
        super::split::draw(frame, split_area, split);
    }
    let mut cells = Vec::new();
    draw_frames(frame.buffer_mut(), body, &state.flame, model, &mut cells);
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// The two info lines for a view `width` columns wide. The second holds the
/// breadcrumb, the search's matches and the orientation; the breadcrumb
/// gets what the other two leave and is cut from the left, so the zoom
/// target (its end) and the match count stay visible.
fn info_lines(state: &AppState, model: &BundleModel, width: u16) -> Vec<Line<'static>> {
    let tree = &model.tree;
    let view = &state.flame;
    let zoom = view.zoom_root();
    let sel = view.selected;
    let unit = &model.functions.weight_unit;
    if tree.is_empty() {
        return vec![Line::from(format!(
            "{} — nothing to draw",
            model.source.describe()
        ))];
    }
    let node = tree.node(sel);
    let first = Line::from(vec![
        Span::styled(
            tree.name(sel).to_string(),
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {} {unit} ({:.2}% of all, {:.2}% of view), self {}",
            node.total,
            percent(node.total, tree.total()),
            percent(node.total, tree.node(zoom).total),
            node.self_weight
        )),
    ]);
    let path: Vec<&str> = if zoom == ROOT {
        Vec::new()
    } else {
        tree.path(zoom).iter().map(|&n| tree.name(n)).collect()
    };
    let mode = format!("   {}", if view.icicle { "icicle" } else { "flame" });
    // The shortest breadcrumb that still names the zoom target.
    let least = match path.last() {
        Some(target) => format!("view: … > {target}").chars().count(),
        None => "view: all".len(),
    };
    let width = usize::from(width);
    let mut second = Vec::new();
    let mut used = mode.chars().count();
    if let Some(search) = &view.search {
        let (all, total) = search.matched_weight(tree, ROOT);
        let (in_view, view_total) = search.matched_weight(tree, zoom);
        let count = format!(
            "   /{}/: {} frame{}, {:.2}% of samples",
            search.pattern,
            search.nodes.len(),
            if search.nodes.len() == 1 { "" } else { "s" },
            percent(all, total),
        );
        let in_view = format!(" ({:.2}% of view)", percent(in_view, view_total));
        // The share of the view is the first thing left out when narrow.
        let text = if least + used + count.chars().count() + in_view.chars().count() <= width {
            count + &in_view
        } else {
            count
        };
        used += text.chars().count();
        second.push(Span::styled(text, Style::default().fg(style::MATCH_BG)));
    }
    second.push(Span::raw(mode));
    second.insert(0, Span::raw(breadcrumb(&path, width.saturating_sub(used))));
    vec![first, Line::from(second)]
}

/// `view: all > a > b > c` for the zoom path `[a, b, c]`, in at most `room`
/// columns: frames are dropped from the left (`view: … > b > c`) until it
/// fits; the last frame, the zoom target, is kept (cut from its left too
/// when even it alone does not fit).
pub fn breadcrumb(path: &[&str], room: usize) -> String {
    let full = std::iter::once("all")
        .chain(path.iter().copied())
        .collect::<Vec<_>>()
        .join(" > ");
    let full = format!("view: {full}");
    if full.chars().count() <= room || path.is_empty() {
        return full;
    }
    for skip in 1..path.len() {
        let cut = format!("view: … > {}", path[skip..].join(" > "));
        if cut.chars().count() <= room {
            return cut;
        }
    }
    let target = path[path.len() - 1];
    let keep = room.saturating_sub("view: …".chars().count());
    let n = target.chars().count();
    let tail: String = target.chars().skip(n.saturating_sub(keep)).collect();
    format!("view: …{tail}")
}

/// Lay out and paint the frames. `cells` is scratch space reused by callers
/// that draw repeatedly (benchmarks).
pub fn draw_frames(
    buf: &mut Buffer,
    area: Rect,
    view: &FlameView,
    model: &BundleModel,
    cells: &mut Vec<FlameCell>,
) {
    let tree = &model.tree;
    if area.height == 0 || area.width == 0 || tree.is_empty() {
        return;
    }
    let zoom = view.zoom_root();
    let sel = view.selected;
    let sel_level = if tree.is_within(sel, zoom) {
        tree.node(sel).depth - tree.node(zoom).depth
    } else {
        0
    };
    let first_level = sel_level.saturating_sub(u32::from(area.height) - 1);
    layout(
        tree,
        LayoutParams {
            zoom,
            width: area.width,
            first_level,
            rows: area.height,
        },
        cells,
    );
    for cell in cells.iter() {
        let y = if view.icicle {
            area.y + cell.row
        } else {
            area.bottom() - 1 - cell.row
        };
        let x = area.x + cell.x;
        let name = tree.name(cell.node);
        let matched = view
            .search
            .as_ref()
            .is_some_and(|s| s.is_match(tree, cell.node));
        let bg = if matched {
            style::MATCH_BG
        } else {
            style::frame_bg(name)
        };
        let mut st = Style::default().bg(bg).fg(Color::Black);
        if cell.node == sel {
            st = st.add_modifier(Modifier::REVERSED | Modifier::BOLD);
        }
        let rect = Rect::new(x, y, cell.width, 1);
        buf.set_style(rect, st);
        for cx in x..x + cell.width {
            if let Some(c) = buf.cell_mut((cx, y)) {
                c.set_char(' ');
            }
        }
        // A one-column gap on the right separates neighbours.
        let text_width = usize::from(cell.width.saturating_sub(1));
        if text_width > 0 {
            let label = if name.chars().count() > text_width && text_width > 2 {
                let cut: String = name.chars().take(text_width - 2).collect();
                format!("{cut}..")
            } else {
                name.to_string()
            };
            buf.set_stringn(x, y, label, text_width, st);
        }
    }
}
