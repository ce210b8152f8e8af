//! Text escaped for HTML and XML (SVG): one rule for report.html, the
//! gated diff's SVG and flamegraph subtitles.

/// Escape text for HTML/XML (SVG) content and attribute values; control
/// characters XML does not allow become spaces.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            // Not allowed in XML 1.0 (SVG): blanked.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}
