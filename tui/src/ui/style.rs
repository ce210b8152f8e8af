//! Colours: host frames warm, guest frames blue, kernel frames green;
//! deterministic per name, the same as in the SVG flamegraphs.

use ratatui::style::{Color, Style};

use flamegraph::flame::{frame_color, FrameKind};

/// Tab and status bars.
pub fn bar() -> Style {
    Style::default()
        .bg(Color::Rgb(40, 44, 52))
        .fg(Color::Rgb(220, 220, 220))
}

/// Table headers.
pub fn header() -> Style {
    Style::default()
        .fg(Color::Yellow)
        .add_modifier(ratatui::style::Modifier::BOLD)
}

/// Background of a frame: the flamegraph crate's colour of that frame
/// (guest blue, host kernel green, host user red-yellow), so the terminal
/// and the SVG export agree.
pub fn frame_bg(name: &str) -> Color {
    let c = frame_color(name);
    Color::Rgb(c.r, c.g, c.b)
}

/// Text colour of a frame name in tables.
pub fn frame_fg(kind: FrameKind) -> Color {
    match kind {
        FrameKind::Host => Color::Reset,
        FrameKind::Kernel => Color::Rgb(80, 200, 130),
        FrameKind::Guest => Color::Rgb(90, 170, 240),
    }
}

/// Background of frames matching the search.
pub const MATCH_BG: Color = Color::Rgb(230, 60, 200);

/// Colours of chart series, in order.
pub const SERIES: [Color; 10] = [
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::LightRed,
    Color::LightBlue,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightMagenta,
    Color::White,
];
