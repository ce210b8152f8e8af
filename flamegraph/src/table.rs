//! A plain table and its renderings: aligned text for a terminal, CSV,
//! Markdown. Numeric cells are right-aligned in text.

/// Longest cell of [`Table::to_text`], in characters.
pub const MAX_TEXT_CELL: usize = 72;

/// A table of strings with a header row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

fn is_numeric(cell: &str) -> bool {
    let t = cell.trim_end_matches('%').trim_start_matches(['+', '-']);
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == 'e' || c == ',')
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row (cells beyond the header count are kept; missing ones are empty).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    fn cols(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .chain([self.headers.len()])
            .max()
            .unwrap_or(0)
    }

    fn cell(row: &[String], i: usize) -> &str {
        row.get(i).map(String::as_str).unwrap_or("")
    }

    /// Text aligned in columns, numbers right-aligned, a rule under the
    /// header; cells longer than [`MAX_TEXT_CELL`] characters are cut with
    /// ".." (CSV, Markdown and JSON keep them whole).
    pub fn to_text(&self) -> String {
        let cut = |c: &String| -> String {
            if c.chars().count() > MAX_TEXT_CELL {
                let mut t: String = c.chars().take(MAX_TEXT_CELL - 2).collect();
                t.push_str("..");
                t
            } else {
                c.clone()
            }
        };
        let cut_table = Table {
            headers: self.headers.iter().map(cut).collect(),
            rows: self
                .rows
                .iter()
                .map(|r| r.iter().map(cut).collect())
                .collect(),
        };
        cut_table.to_text_whole()
    }

    fn to_text_whole(&self) -> String {
        let n = self.cols();
        let mut width = vec![0usize; n];
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            for (i, w) in width.iter_mut().enumerate() {
                *w = (*w).max(Self::cell(row, i).chars().count());
            }
        }
        let mut out = String::new();
        let line = |row: &[String], out: &mut String, header: bool| {
            let mut l = String::new();
            for (i, w) in width.iter().enumerate() {
                let c = Self::cell(row, i);
                let pad = w - c.chars().count();
                if i > 0 {
                    l.push_str("  ");
                }
                if !header && is_numeric(c) {
                    l.push_str(&" ".repeat(pad));
                    l.push_str(c);
                } else {
                    l.push_str(c);
                    l.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(l.trim_end());
            out.push('\n');
        };
        line(&self.headers, &mut out, true);
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule, &mut out, true);
        for r in &self.rows {
            line(r, &mut out, false);
        }
        out
    }

    /// RFC 4180 CSV (quotes where needed, CRLF-free: one `\n` per record).
    pub fn to_csv(&self) -> String {
        let q = |c: &str| {
            if c.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_string()
            }
        };
        let n = self.cols();
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let cells: Vec<String> = (0..n).map(|i| q(Self::cell(row, i))).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// GitHub-flavoured Markdown, numeric columns right-aligned.
    pub fn to_markdown(&self) -> String {
        let n = self.cols();
        let esc = |c: &str| c.replace('|', "\\|");
        let numeric: Vec<bool> = (0..n)
            .map(|i| {
                !self.rows.is_empty()
                    && self.rows.iter().all(|r| {
                        let c = Self::cell(r, i);
                        c.is_empty() || c == "-" || is_numeric(c)
                    })
            })
            .collect();
        let mut out = String::new();
        let heads: Vec<String> = (0..n).map(|i| esc(Self::cell(&self.headers, i))).collect();
        out.push_str(&format!("| {} |\n", heads.join(" | ")));
        let rules: Vec<&str> = numeric
            .iter()
            .map(|&r| if r { "---:" } else { "---" })
            .collect();
        out.push_str(&format!("| {} |\n", rules.join(" | ")));
        for r in &self.rows {
            let cells: Vec<String> = (0..n).map(|i| esc(Self::cell(r, i))).collect();
            out.push_str(&format!("| {} |\n", cells.join(" | ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renderings() {
        let mut t = Table::new(["name", "cycles"]);
        t.push(vec!["mmap".into(), "1200".into()]);
        t.push(vec!["a,\"b\"".into(), "7.5%".into()]);
        assert_eq!(
            t.to_text(),
            "name   cycles\n-----  ------\nmmap     1200\na,\"b\"    7.5%\n"
        );
        assert_eq!(t.to_csv(), "name,cycles\nmmap,1200\n\"a,\"\"b\"\"\",7.5%\n");
        assert!(t.to_markdown().contains("| --- | ---: |"));
    }
}
