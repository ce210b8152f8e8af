//! Keys to actions, and the key list `?` shows. The list is the single
//! source of the help screen; a test checks that every key it names maps to
//! an action in its view.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::action::Action;
use crate::state::{AppState, Tab};

/// One line of the help screen.
#[derive(Debug, Clone, Copy)]
pub struct KeyHelp {
    /// The keys as shown.
    pub keys: &'static str,
    /// View where they work (None: everywhere).
    pub tab: Option<Tab>,
    /// What they do.
    pub what: &'static str,
    /// One of the keys, for the consistency test.
    pub sample: KeyCode,
}

const fn k(keys: &'static str, tab: Option<Tab>, what: &'static str, sample: KeyCode) -> KeyHelp {
    KeyHelp {
        keys,
        tab,
        what,
        sample,
    }
}

/// Every key of the browser.
pub const KEYS: &[KeyHelp] = &[
    k("q, Ctrl-C", None, "quit", KeyCode::Char('q')),
    k("?", None, "show / hide this key list", KeyCode::Char('?')),
    k("Tab, Shift-Tab", None, "next / previous view", KeyCode::Tab),
    k(
        "1-5",
        None,
        "overview, cycle table, flame, charts, compare",
        KeyCode::Char('3'),
    ),
    k(
        "Esc",
        None,
        "close help, cancel input, zoom out",
        KeyCode::Esc,
    ),
    k(
        "j k, Down Up",
        None,
        "move down / up (scroll in overview, compare)",
        KeyCode::Char('j'),
    ),
    k(
        "PgDn PgUp, Home End",
        None,
        "move a page, to the top / bottom",
        KeyCode::PageDown,
    ),
    k(
        "t",
        Some(Tab::Table),
        "functions (samples) / probe sites",
        KeyCode::Char('t'),
    ),
    k(
        "s >, <, l h",
        Some(Tab::Table),
        "sort by next / previous column",
        KeyCode::Char('s'),
    ),
    k(
        "S",
        Some(Tab::Table),
        "reverse sort order",
        KeyCode::Char('S'),
    ),
    k(
        "/",
        Some(Tab::Table),
        "filter rows by name (as you type)",
        KeyCode::Char('/'),
    ),
    k(
        "] [",
        Some(Tab::Table),
        "next / previous point (sites)",
        KeyCode::Char(']'),
    ),
    k(
        "m",
        Some(Tab::Table),
        "same point, other strategy (linear / maxgap)",
        KeyCode::Char('m'),
    ),
    k(
        "p",
        Some(Tab::Table),
        "same point, next platform",
        KeyCode::Char('p'),
    ),
    k(
        "g",
        Some(Tab::Table),
        "guest / exit / sentry time of the point",
        KeyCode::Char('g'),
    ),
    k(
        "Enter",
        Some(Tab::Table),
        "show this function's frames in the flame view",
        KeyCode::Enter,
    ),
    k(
        "h j k l, arrows",
        Some(Tab::Flame),
        "move: caller, callee, left, right",
        KeyCode::Char('l'),
    ),
    k(
        "Enter",
        Some(Tab::Flame),
        "zoom into the selected frame",
        KeyCode::Enter,
    ),
    k(
        "Esc",
        Some(Tab::Flame),
        "zoom back out one level",
        KeyCode::Esc,
    ),
    k(
        "r, Home",
        Some(Tab::Flame),
        "reset zoom",
        KeyCode::Char('r'),
    ),
    k(
        "/",
        Some(Tab::Flame),
        "search frames (regex), Enter to apply",
        KeyCode::Char('/'),
    ),
    k(
        "n N",
        Some(Tab::Flame),
        "next / previous match",
        KeyCode::Char('n'),
    ),
    k(
        "c",
        Some(Tab::Flame),
        "clear the search",
        KeyCode::Char('c'),
    ),
    k(
        "i",
        Some(Tab::Flame),
        "icicle / flame orientation",
        KeyCode::Char('i'),
    ),
    k(
        "e",
        Some(Tab::Flame),
        "export the current view as SVG",
        KeyCode::Char('e'),
    ),
    k(
        "g",
        Some(Tab::Flame),
        "guest / exit / sentry time of the selected path",
        KeyCode::Char('g'),
    ),
    k(
        "x",
        Some(Tab::Charts),
        "x axis: mappings / size",
        KeyCode::Char('x'),
    ),
    k(
        "m",
        Some(Tab::Charts),
        "mapping kind shown (all, anon, ...)",
        KeyCode::Char('m'),
    ),
];

/// The action of a key press in the current state, if any.
pub fn action_for(key: KeyEvent, state: &AppState) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Action::Quit);
    }
    if state.input.is_some() {
        return match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::InputSubmit),
            KeyCode::Backspace => Some(Action::InputBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::InputChar(c)),
            _ => None,
        };
    }
    let global = match key.code {
        KeyCode::Char('q') => Some(Action::Quit),
        KeyCode::Char('?') => Some(Action::ToggleHelp),
        KeyCode::Tab => Some(Action::NextTab),
        KeyCode::BackTab => Some(Action::PrevTab),
        KeyCode::Char(c @ '1'..='5') => Tab::ALL
            .get(c as usize - '1' as usize)
            .map(|&t| Action::GoTab(t)),
        KeyCode::Esc => Some(Action::Back),
        KeyCode::Up => Some(Action::Up),
        KeyCode::Down => Some(Action::Down),
        KeyCode::Left => Some(Action::Left),
        KeyCode::Right => Some(Action::Right),
        KeyCode::PageUp => Some(Action::PageUp),
        KeyCode::PageDown => Some(Action::PageDown),
        KeyCode::End => Some(Action::Bottom),
        KeyCode::Enter => Some(Action::Activate),
        _ => None,
    };
    if global.is_some() {
        return global;
    }
    let KeyCode::Char(c) = key.code else {
        return match (state.tab, key.code) {
            (Tab::Flame, KeyCode::Home) => Some(Action::ResetZoom),
            (_, KeyCode::Home) => Some(Action::Top),
            _ => None,
        };
    };
    match (state.tab, c) {
        (_, 'j') => Some(Action::Down),
        (_, 'k') => Some(Action::Up),
        (Tab::Table | Tab::Flame, 'g') => Some(Action::ToggleSplit),
        (Tab::Table, 't') => Some(Action::ToggleTableKind),
        (Tab::Table, 's' | '>' | 'l') => Some(Action::SortNext),
        (Tab::Table, '<' | 'h') => Some(Action::SortPrev),
        (Tab::Table, 'S') => Some(Action::SortReverse),
        (Tab::Table | Tab::Flame, '/') => Some(Action::StartInput),
        (Tab::Table, ']') => Some(Action::NextPoint),
        (Tab::Table, '[') => Some(Action::PrevPoint),
        (Tab::Table, 'm') => Some(Action::ToggleStrategy),
        (Tab::Table, 'p') => Some(Action::NextPlatform),
        (Tab::Flame, 'h') => Some(Action::Left),
        (Tab::Flame, 'l') => Some(Action::Right),
        (Tab::Flame, 'r') => Some(Action::ResetZoom),
        (Tab::Flame, 'n') => Some(Action::NextMatch),
        (Tab::Flame, 'N') => Some(Action::PrevMatch),
        (Tab::Flame, 'c') => Some(Action::ClearSearch),
        (Tab::Flame, 'i') => Some(Action::ToggleOrientation),
        (Tab::Flame, 'e') => Some(Action::Export),
        (Tab::Charts, 'x') => Some(Action::ToggleChartAxis),
        (Tab::Charts, 'm') => Some(Action::CycleChartMapping),
        _ => None,
    }
}
