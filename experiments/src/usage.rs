//! Command-line parse errors in one line, as every other error is.

/// One line from the rendered text of an argument parser's error: its
/// message up to the usage dump, without tips, e.g. "invalid value 'x' for
/// '--trials <N>': invalid digit found in string (see --help)".
pub fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:"))
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("tip:") && !l.starts_with("For more"))
        .collect();
    let msg = parts.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    format!("{msg} (see --help)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_dumps_become_one_line() {
        let text = "error: the following required arguments were not provided:\n  <BUNDLE>\n\nUsage: sentryprof flamegraph <BUNDLE>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(text),
            "the following required arguments were not provided: <BUNDLE> (see --help)"
        );
    }
}
