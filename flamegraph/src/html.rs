//! `report.html`: one self-contained page (no network, no scripts, no
//! external styles) holding the report's tables and the charts as inline
//! SVG. Written as well-formed XHTML so it also parses as XML.

use crate::charts::Chart;
use crate::report::{header_lines, tables, Report};

pub use crate::escape::escape;

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:0.5em 0 1.5em 0;font-size:0.9em}\
th,td{border:1px solid #ccc;padding:2px 8px}th{background:#f0f0f0}\
td.n{text-align:right;font-family:monospace}\
figure{margin:1em 0}figcaption{font-size:0.9em;color:#555}\
.note{color:#7a5b00}";

/// Strip an XML declaration / doctype so an SVG document can be inlined.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn is_numeric(c: &str) -> bool {
    let t = c.trim_end_matches('%').trim_start_matches(['+', '-']);
    !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// The page. `flamegraphs` are file names (beside report.html) to link to.
pub fn report_html(
    r: &Report,
    charts: &[Chart],
    chart_notes: &[String],
    flamegraphs: &[String],
) -> String {
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n<title>sentryprof report</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<h1>sentryprof report</h1>\n<ul>\n");
    for l in header_lines(r) {
        h.push_str(&format!("<li>{}</li>\n", escape(&l)));
    }
    h.push_str("</ul>\n");
    if !flamegraphs.is_empty() {
        h.push_str("<h2>Flamegraphs</h2>\n<ul>\n");
        for f in flamegraphs {
            h.push_str(&format!("<li><a href=\"{0}\">{0}</a></li>\n", escape(f)));
        }
        h.push_str("</ul>\n");
    }
    for (title, t) in tables(r, 50) {
        h.push_str(&format!("<h2>{}</h2>\n<table>\n<tr>", escape(&title)));
        for c in &t.headers {
            h.push_str(&format!("<th>{}</th>", escape(c)));
        }
        h.push_str("</tr>\n");
        for row in &t.rows {
            h.push_str("<tr>");
            for c in row {
                if is_numeric(c) {
                    h.push_str(&format!("<td class=\"n\">{}</td>", escape(c)));
                } else {
                    h.push_str(&format!("<td>{}</td>", escape(c)));
                }
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    for c in charts {
        h.push_str(&format!(
            "<figure>\n{}\n<figcaption>{} ({}.svg)</figcaption>\n</figure>\n",
            inline_svg(&c.svg),
            escape(&c.title),
            escape(&c.stem)
        ));
    }
    for n in chart_notes.iter().chain(&r.notes) {
        h.push_str(&format!("<p class=\"note\">note: {}</p>\n", escape(n)));
    }
    for f in &r.failures {
        h.push_str(&format!(
            "<p class=\"note\">failed point: {}</p>\n",
            escape(f)
        ));
    }
    h.push_str("</body>\n</html>\n");
    h
}
