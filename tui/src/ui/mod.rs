//! Drawing: the state into a ratatui frame, nothing else. Every function
//! here reads the state; none changes it, so a draw can be tested into a
//! `TestBackend` buffer.

mod charts;
mod compare;
pub mod flame;
mod help;
mod overview;
pub(crate) mod sites;
mod split;
mod style;
mod table;

use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};
use ratatui::Frame;

use crate::state::{AppState, InputPurpose, Slot, Tab};

/// Smallest terminal the browser draws in.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 15;

/// Draw the whole browser.
pub fn draw(frame: &mut Frame, state: &AppState) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        draw_too_small(frame, area);
        return;
    }
    let [tabs, main, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, tabs, state);
    match state.primary() {
        None => draw_loading(frame, main, state),
        Some(model) => match state.tab {
            Tab::Overview => overview::draw(frame, main, state, model),
            Tab::Table => table::draw(frame, main, state, model),
            Tab::Flame => flame::draw(frame, main, state, model),
            Tab::Charts => charts::draw(frame, main, state, model),
            Tab::Compare => compare::draw(frame, main, state),
        },
    }
    draw_status(frame, status, state);
    if state.help {
        help::draw(frame, main);
    }
}

fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small: need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{} (resize, or q to quit)",
        area.width, area.height
    );
    let p = Paragraph::new(text)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    frame.render_widget(p, area);
}

fn draw_tabs(frame: &mut Frame, area: Rect, state: &AppState) {
    let tabs = state.tabs();
    let titles: Vec<Line> = tabs
        .iter()
        .enumerate()
        .map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title())))
        .collect();
    let selected = tabs.iter().position(|t| *t == state.tab).unwrap_or(0);
    let name = state
        .primary()
        .map(|m| m.name.clone())
        .unwrap_or_else(|| "loading".into());
    let [left, right] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(name.len() as u16 + 14),
    ])
    .areas(area);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .style(style::bar())
            .highlight_style(style::bar().add_modifier(Modifier::REVERSED | Modifier::BOLD)),
        left,
    );
    frame.render_widget(
        Paragraph::new(format!("sentryprof · {name} "))
            .alignment(Alignment::Right)
            .style(style::bar()),
        right,
    );
}

fn draw_loading(frame: &mut Frame, area: Rect, state: &AppState) {
    let lines: Vec<Line> = state
        .bundles
        .iter()
        .map(|s| match s {
            Slot::Loading(p) => Line::from(format!("loading {} ...", p.display())),
            Slot::Ready(m) => Line::from(format!("loaded {}", m.dir.display())),
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn draw_status(frame: &mut Frame, area: Rect, state: &AppState) {
    let line = if let Some(input) = &state.input {
        let prompt = match input.purpose {
            InputPurpose::Search => "search (regex): /",
            InputPurpose::Filter => "filter: ",
        };
        Line::from(vec![
            Span::styled(prompt, Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(input.text.clone()),
            Span::styled("_", Style::default().add_modifier(Modifier::SLOW_BLINK)),
            Span::raw("   Enter apply · Esc cancel"),
        ])
    } else if let Some(msg) = &state.message {
        Line::from(msg.clone())
    } else {
        Line::from(hint(state.tab))
    };
    frame.render_widget(Paragraph::new(line).style(style::bar()), area);
}

/// The keys of a view, shortest form, for the status bar.
fn hint(tab: Tab) -> &'static str {
    match tab {
        Tab::Overview => "? keys · Tab next view · j/k scroll · q quit",
        Tab::Table => "? keys · t functions/sites · s/S sort · / filter · [ ] m p point · g split · Enter flame · q quit",
        Tab::Flame => "? keys · hjkl move · Enter zoom · Esc back · r reset · / search · n/N · g split · e export · q quit",
        Tab::Charts => "? keys · x axis mappings/size · m mapping kind · q quit",
        Tab::Compare => "? keys · j/k scroll · q quit",
    }
}
