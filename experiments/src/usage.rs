//! The command line's text: parse errors in one line, as every other error
//! is; shell completions and the man page generated from the clap
//! definitions.

/// The shells [`completions`] writes for.
pub const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// The completion script of `cmd` for `shell` (one of [`SHELLS`]).
pub fn completions(mut cmd: clap::Command, shell: &str) -> Result<Vec<u8>, String> {
    use clap_complete::Shell;
    let sh = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        "powershell" => Shell::PowerShell,
        other => {
            return Err(format!(
                "unknown shell {other:?} (expected {})",
                SHELLS.join(", ")
            ))
        }
    };
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(sh, &mut cmd, name, &mut out);
    Ok(out)
}

/// The man page of `cmd` (roff, section 1): its options, and a
/// SUBCOMMANDS section naming every verb with its one-line description.
pub fn man_page(cmd: clap::Command) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| format!("cannot write the man page: {e}"))?;
    Ok(out)
}

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
