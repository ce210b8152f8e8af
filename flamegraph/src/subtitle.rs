//! Long flamegraph subtitles wrapped onto several lines instead of being
//! clipped at the SVG's edges. inferno draws one subtitle line; the lines
//! after the first are added below it, and everything under the subtitle
//! (the frames, the details and match lines) is moved down by their height.

use crate::escape::escape;

/// inferno's font size and average glyph width (as a share of the size)
/// with its default options; and its left and right padding.
const FONT_SIZE: usize = 12;
const FONT_WIDTH: f64 = 0.59;
const XPAD: usize = 10;
/// Distance between two subtitle lines, in pixels.
const LINE_HEIGHT: usize = FONT_SIZE + 4;

/// How many characters of the subtitle fit on one line of a graph
/// `width_px` wide.
pub fn chars_per_line(width_px: usize) -> usize {
    let usable = width_px.saturating_sub(4 * XPAD) as f64;
    ((usable / (FONT_SIZE as f64 * FONT_WIDTH)) as usize).max(20)
}

/// `text` cut into lines of at most `max` characters: at " | " between
/// parts where possible, else at a space, else mid-word.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for (i, part) in text.split(" | ").enumerate() {
        let sep = if i == 0 { "" } else { " | " };
        if current.chars().count() + sep.len() + part.chars().count() <= max {
            current.push_str(sep);
            current.push_str(part);
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for word in part.split(' ') {
            let need = usize::from(!current.is_empty()) + word.chars().count();
            if !current.is_empty() && current.chars().count() + need > max {
                lines.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(word);
            while current.chars().count() > max {
                let cut: String = current.chars().take(max).collect();
                let rest: String = current.chars().skip(max).collect();
                lines.push(cut);
                current = rest;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// Add `more` subtitle lines under inferno's one in `svg`, moving what is
/// below down. `svg` must be inferno's output with a subtitle.
pub fn add_lines(svg: Vec<u8>, more: &[String]) -> Vec<u8> {
    if more.is_empty() {
        return svg;
    }
    let text = match String::from_utf8(svg) {
        Ok(t) => t,
        Err(e) => return e.into_bytes(),
    };
    let extra = more.len() * LINE_HEIGHT;
    let mut out = String::with_capacity(text.len() + 256);
    let mut rest = text.as_str();
    // The root element's height and viewBox, the background's height.
    rest = shift_attr(&mut out, rest, "<svg ", "height=\"", extra);
    rest = shift_viewbox(&mut out, rest, extra);
    rest = shift_attr(&mut out, rest, "<rect ", "height=\"", extra);
    // The subtitle line: the new lines go right after it.
    if let Some(at) = rest.find("id=\"subtitle\"") {
        let end = rest[at..]
            .find("</text>")
            .map(|e| at + e + "</text>".len())
            .unwrap_or(at);
        out.push_str(&rest[..end]);
        rest = &rest[end..];
        for (i, line) in more.iter().enumerate() {
            let y = FONT_SIZE * 4 + (i + 1) * LINE_HEIGHT;
            out.push_str(&format!(
                "<text x=\"50%\" y=\"{y}\" text-anchor=\"middle\">{}</text>",
                escape(line)
            ));
        }
    }
    // Details (at the top of an icicle, at the bottom of a flame) and the
    // match line move down; so do the frames.
    rest = shift_attr(&mut out, rest, "id=\"details\"", "y=\"", extra);
    rest = shift_attr(&mut out, rest, "id=\"matched\"", "y=\"", extra);
    if let Some(at) = rest.find("<svg id=\"frames\"") {
        let tag = at + "<svg".len();
        out.push_str(&rest[..tag]);
        out.push_str(&format!(" y=\"{extra}\""));
        rest = &rest[tag..];
    }
    out.push_str(rest);
    out.into_bytes()
}

/// Copy `rest` up to the first `attr` number after `marker`, add `extra`
/// to that number; returns what is left after it.
fn shift_attr<'a>(
    out: &mut String,
    rest: &'a str,
    marker: &str,
    attr: &str,
    extra: usize,
) -> &'a str {
    let Some(m) = rest.find(marker) else {
        return rest;
    };
    // The attribute may come before the marker inside the same tag.
    let tag_start = rest[..m].rfind('<').unwrap_or(m);
    let Some(a) = rest[tag_start..]
        .find(attr)
        .map(|a| tag_start + a + attr.len())
    else {
        return rest;
    };
    let Some(len) = rest[a..].find('"') else {
        return rest;
    };
    let Ok(v) = rest[a..a + len].parse::<f64>() else {
        return rest;
    };
    out.push_str(&rest[..a]);
    out.push_str(&format!("{}", v + extra as f64));
    &rest[a + len..]
}

fn shift_viewbox<'a>(out: &mut String, rest: &'a str, extra: usize) -> &'a str {
    let key = "viewBox=\"";
    let Some(a) = rest.find(key).map(|a| a + key.len()) else {
        return rest;
    };
    let Some(len) = rest[a..].find('"') else {
        return rest;
    };
    let nums: Vec<&str> = rest[a..a + len].split(' ').collect();
    let Some(h) = nums.get(3).and_then(|h| h.parse::<f64>().ok()) else {
        return rest;
    };
    out.push_str(&rest[..a]);
    out.push_str(&format!(
        "{} {} {} {}",
        nums[0],
        nums[1],
        nums[2],
        h + extra as f64
    ));
    &rest[a + len..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_part_separators_then_spaces() {
        let t = "workload exp1 | platform inproc,kvm | search linear,maxgap";
        assert_eq!(wrap(t, 200), vec![t.to_string()]);
        assert_eq!(
            wrap(t, 40),
            vec![
                "workload exp1 | platform inproc,kvm",
                "search linear,maxgap"
            ]
        );
        let long = "a".repeat(50);
        assert_eq!(wrap(&long, 20).len(), 3);
        assert!(wrap("one two three four five six", 10)
            .iter()
            .all(|l| l.chars().count() <= 10));
        assert_eq!(wrap("", 10), vec![String::new()]);
    }
}
