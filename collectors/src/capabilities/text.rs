//! The doctor table as `sentryprof doctor` prints it: a status column,
//! the check name, the verdict, and the fix indented below when there is
//! one.

use bundle::Capabilities;

/// The doctor table: a status column, the check name, the verdict, and the
/// fix indented below when there is one.
pub fn render_table(caps: &Capabilities) -> String {
    let width = caps.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in &caps.checks {
        let status = if c.ok { " ok " } else { "FAIL" };
        out.push_str(&format!("[{status}] {:<width$}  {}\n", c.name, c.verdict));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("       {:<width$}  fix: {fix}\n", ""));
        }
    }
    out
}
