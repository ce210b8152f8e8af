//! Parser for `strace -e trace=memory` logs, with or without `-f`.
//!
//! Accepted line shapes (each optionally prefixed by a pid, `[pid N]`, and a
//! `-t`/`-tt`/`-ttt` timestamp):
//!
//! - `mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f..`
//! - `munmap(0x7f.., 4096) = 0`, `mprotect(..) = 0`, `brk(NULL) = 0x55..`,
//!   `mremap(old, old_len, new_len, MREMAP_MAYMOVE[, new]) = 0x7f..`
//! - failures: `= -1 ENOMEM (Cannot allocate memory)`; `= ?` when the
//!   process went away mid-call; a trailing `<0.000012>` (`-T`) is ignored
//! - split calls: `mmap(NULL, 8192 <unfinished ...>` then, later on the same
//!   pid, `<... mmap resumed>, PROT_READ, ...) = 0x7f..`
//! - fds decorated by `-y` (`3</usr/lib/libc.so.6>`)
//! - signal (`--- SIGCHLD {...} ---`) and exit (`+++ exited with 0 +++`)
//!   lines, counted and skipped
//!
//! Other syscalls of the `memory` class (madvise, mincore, ...) are counted
//! by name and not replayed. Anything else is malformed: the parse fails
//! with the line number.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use thiserror::Error;

use super::model::{Trace, TraceCall, TraceOp, TraceResult};
use crate::workload::target::*;

/// Why a trace could not be read.
#[derive(Debug, Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("{path}: cannot read trace: {source}")]
    Io {
        /// The trace file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A line is not something strace prints.
    #[error("{source_name}:{line}: malformed strace line: {problem}")]
    Malformed {
        /// The trace (file path).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// The trace holds no memory call that can be replayed.
    #[error("{source_name}: no mmap/munmap/mprotect/brk/mremap calls to replay (was it recorded with `strace -e trace=memory`?)")]
    Empty {
        /// The trace (file path).
        source_name: String,
    },
}

/// Read and parse a trace file.
pub fn parse_trace_file(path: &Path) -> Result<Trace, TraceError> {
    let bytes = std::fs::read(path).map_err(|source| TraceError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_trace_bytes(&path.display().to_string(), &bytes)
}

/// Parse trace text given as bytes (lines must be UTF-8).
pub fn parse_trace_bytes(source_name: &str, bytes: &[u8]) -> Result<Trace, TraceError> {
    let mut lines = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        match std::str::from_utf8(raw) {
            Ok(s) => lines.push(s),
            Err(_) => {
                return Err(TraceError::Malformed {
                    source_name: source_name.to_string(),
                    line: i + 1,
                    problem: "not UTF-8 text".to_string(),
                })
            }
        }
    }
    // A final newline yields one empty trailing piece; it is not a line.
    if lines.last() == Some(&"") {
        lines.pop();
    }
    parse_lines(source_name, lines.into_iter())
}

/// Parse trace text.
///
/// Postconditions: on success the trace holds at least one call, in trace
/// order, each with the line number where it completed.
pub fn parse_trace(source_name: &str, text: &str) -> Result<Trace, TraceError> {
    parse_lines(source_name, text.lines())
}

fn parse_lines<'a>(
    source_name: &str,
    lines: impl Iterator<Item = &'a str>,
) -> Result<Trace, TraceError> {
    let mut trace = Trace {
        source: source_name.to_string(),
        ..Trace::default()
    };
    // Unfinished call text per pid (key None without -f), with its line.
    let mut pending: HashMap<Option<u32>, (String, usize)> = HashMap::new();
    for (idx, raw) in lines.enumerate() {
        let line_no = idx + 1;
        let bad = |problem: String| TraceError::Malformed {
            source_name: source_name.to_string(),
            line: line_no,
            problem: capped(problem),
        };
        let line = raw.trim_end_matches(['\r', '\n']).trim();
        if line.is_empty() {
            trace.other_lines += 1;
            continue;
        }
        let (pid, rest) = split_prefix(line).map_err(bad)?;
        if let Some(p) = pid {
            trace.pids.insert(p);
        }
        if (rest.starts_with("---") && rest.ends_with("---"))
            || (rest.starts_with("+++") && rest.ends_with("+++"))
        {
            trace.other_lines += 1;
            continue;
        }
        let text: String = if let Some(after) = rest.strip_prefix("<... ") {
            let Some((name, remainder)) = after.split_once(" resumed>") else {
                return Err(bad(format!("expected `<... NAME resumed>` in {rest:?}")));
            };
            match pending.remove(&pid) {
                Some((prefix, _)) => {
                    if !prefix.starts_with(name) {
                        return Err(bad(format!(
                            "`{name}` resumed, but the unfinished call of this process was {prefix:?}"
                        )));
                    }
                    format!("{prefix}{}", remainder.trim_start())
                }
                None => {
                    trace.orphan_resumed += 1;
                    continue;
                }
            }
        } else if let Some(start) = rest.strip_suffix("<unfinished ...>") {
            if let Some((_, first)) = pending.get(&pid) {
                return Err(bad(format!(
                    "a second call starts unfinished before the one of line {first} resumed"
                )));
            }
            pending.insert(pid, (start.trim_end().to_string(), line_no));
            continue;
        } else {
            rest.to_string()
        };
        match parse_call(&text).map_err(bad)? {
            Parsed::Known(op, result) => trace.calls.push(TraceCall {
                line: line_no,
                pid,
                op,
                result,
            }),
            Parsed::Unknown(name) => *trace.unknown_syscalls.entry(name).or_insert(0) += 1,
        }
    }
    trace.unfinished_at_end = pending.len() as u64;
    if trace.calls.is_empty() {
        return Err(TraceError::Empty {
            source_name: source_name.to_string(),
        });
    }
    Ok(trace)
}

/// Longest problem text an error shows, in characters; longer ones (a
/// quoted line of megabytes) are cut and end in "…".
pub const MAX_PROBLEM_CHARS: usize = 200;

fn capped(problem: String) -> String {
    match problem.char_indices().nth(MAX_PROBLEM_CHARS) {
        Some((at, _)) => format!("{}…", &problem[..at]),
        None => problem,
    }
}

/// Split `[pid N] `, `N ` and timestamp prefixes off a line.
fn split_prefix(line: &str) -> Result<(Option<u32>, &str), String> {
    let mut rest = line;
    let mut pid = None;
    if let Some(after) = rest.strip_prefix("[pid") {
        let (num, tail) = after
            .trim_start()
            .split_once(']')
            .ok_or_else(|| "unterminated `[pid N]` prefix".to_string())?;
        pid = Some(
            num.trim()
                .parse::<u32>()
                .map_err(|_| format!("bad pid {:?} in `[pid N]` prefix", num.trim()))?,
        );
        rest = tail.trim_start();
    } else if let Some((tok, tail)) = rest.split_once(char::is_whitespace) {
        if !tok.is_empty() && tok.bytes().all(|b| b.is_ascii_digit()) {
            pid = Some(tok.parse::<u32>().map_err(|_| format!("bad pid {tok:?}"))?);
            rest = tail.trim_start();
        }
    }
    if let Some((tok, tail)) = rest.split_once(char::is_whitespace) {
        if is_timestamp(tok) {
            rest = tail.trim_start();
        }
    }
    Ok((pid, rest))
}

/// `12:34:56`, `12:34:56.123456`, `1700000000.123456`, `0.000123`.
fn is_timestamp(tok: &str) -> bool {
    !tok.is_empty()
        && tok.bytes().any(|b| b == b':' || b == b'.')
        && tok
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        && tok.as_bytes()[0].is_ascii_digit()
}

enum Parsed {
    Known(TraceOp, TraceResult),
    Unknown(String),
}

/// Parse `NAME(ARGS) = RESULT ...`.
fn parse_call(text: &str) -> Result<Parsed, String> {
    let open = text
        .find('(')
        .ok_or_else(|| format!("not a system call line: {text:?}"))?;
    let name = &text[..open];
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("not a system call line: {text:?}"));
    }
    let close = matching_paren(text, open)
        .ok_or_else(|| format!("unbalanced parentheses in {name} call"))?;
    let args_text = &text[open + 1..close];
    let after = text[close + 1..].trim_start();
    let result_text = after
        .strip_prefix('=')
        .ok_or_else(|| format!("{name} call has no `= RESULT`"))?
        .trim();
    let result = parse_result(name, result_text)?;
    let args = split_args(args_text);
    let op = match name {
        "mmap" => {
            expect_args(name, &args, 6)?;
            TraceOp::Mmap {
                addr: parse_number(args[0]).map_err(|e| format!("mmap addr: {e}"))?,
                len: parse_number(args[1]).map_err(|e| format!("mmap length: {e}"))?,
                prot: parse_flags(args[2], PROT_NAMES).map_err(|e| format!("mmap prot: {e}"))?,
                flags: parse_flags(args[3], MAP_NAMES).map_err(|e| format!("mmap flags: {e}"))?,
                fd: parse_fd(args[4]).map_err(|e| format!("mmap fd: {e}"))?,
                offset: parse_number(args[5]).map_err(|e| format!("mmap offset: {e}"))?,
            }
        }
        "munmap" => {
            expect_args(name, &args, 2)?;
            TraceOp::Munmap {
                addr: parse_number(args[0]).map_err(|e| format!("munmap addr: {e}"))?,
                len: parse_number(args[1]).map_err(|e| format!("munmap length: {e}"))?,
            }
        }
        "mprotect" => {
            expect_args(name, &args, 3)?;
            TraceOp::Mprotect {
                addr: parse_number(args[0]).map_err(|e| format!("mprotect addr: {e}"))?,
                len: parse_number(args[1]).map_err(|e| format!("mprotect length: {e}"))?,
                prot: parse_flags(args[2], PROT_NAMES)
                    .map_err(|e| format!("mprotect prot: {e}"))?,
            }
        }
        "brk" => {
            expect_args(name, &args, 1)?;
            TraceOp::Brk {
                addr: parse_number(args[0]).map_err(|e| format!("brk addr: {e}"))?,
            }
        }
        "mremap" => {
            if args.len() != 4 && args.len() != 5 {
                return Err(format!(
                    "mremap takes 4 or 5 arguments, the line has {}",
                    args.len()
                ));
            }
            TraceOp::Mremap {
                old_addr: parse_number(args[0]).map_err(|e| format!("mremap old addr: {e}"))?,
                old_len: parse_number(args[1]).map_err(|e| format!("mremap old length: {e}"))?,
                new_len: parse_number(args[2]).map_err(|e| format!("mremap new length: {e}"))?,
                flags: parse_flags(args[3], MREMAP_NAMES)
                    .map_err(|e| format!("mremap flags: {e}"))?,
                new_addr: match args.get(4) {
                    Some(a) => parse_number(a).map_err(|e| format!("mremap new addr: {e}"))?,
                    None => 0,
                },
            }
        }
        other => return Ok(Parsed::Unknown(other.to_string())),
    };
    Ok(Parsed::Known(op, result))
}

fn expect_args(name: &str, args: &[&str], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "{name} takes {n} arguments, the line has {}",
            args.len()
        ));
    }
    Ok(())
}

/// Index of the `)` closing the `(` at `open`, skipping nested brackets
/// and quoted strings.
/// An fd decorated by `-y` (`3</path/with, commas (and parens)>`) whose
/// `<` is at `at`: the index of its closing `>`, so the scanners skip the
/// path's commas and brackets.
fn fd_path_end(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'<') || bytes.get(at + 1) != Some(&b'/') {
        return None;
    }
    text[at..].find('>').map(|end| at + end)
}

fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_str = false;
    let mut i = open;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_str = false;
            }
        } else if let Some(end) = fd_path_end(text, i) {
            i = end;
        } else {
            match b {
                b'"' => in_str = true,
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return (b == b')').then_some(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

/// Split an argument list at top-level commas.
fn split_args(args: &str) -> Vec<&str> {
    let trimmed = args.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    let bytes = trimmed.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut in_str = false;
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_str = false;
            }
        } else if let Some(end) = fd_path_end(trimmed, i) {
            i = end;
        } else {
            match b {
                b'"' => in_str = true,
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth -= 1,
                b',' if depth == 0 => {
                    out.push(trimmed[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push(trimmed[start..].trim());
    out
}

fn parse_result(name: &str, text: &str) -> Result<TraceResult, String> {
    // Drop a `-T` duration suffix: `0 <0.000012>`.
    let text = match text.rfind(" <") {
        Some(i) if text.ends_with('>') => text[..i].trim_end(),
        _ => text,
    };
    let mut words = text.split_whitespace();
    let first = words
        .next()
        .ok_or_else(|| format!("{name} call has an empty result"))?;
    if first == "?" {
        return Ok(TraceResult::Unknown);
    }
    if let Some(neg) = first.strip_prefix('-') {
        neg.parse::<u64>()
            .map_err(|_| format!("{name} result {first:?} is not a number"))?;
        let errno = words
            .next()
            .filter(|w| w.starts_with('E') && w.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| format!("{name} failed without an errno name: {text:?}"))?;
        return Ok(TraceResult::Error(errno.to_string()));
    }
    let v = parse_number(first).map_err(|e| format!("{name} result: {e}"))?;
    Ok(TraceResult::Value(v))
}

/// `NULL`, decimal, or `0x` hex.
fn parse_number(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if s == "NULL" {
        return Ok(0);
    }
    let parsed = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16)
    } else {
        s.parse::<u64>()
    };
    parsed.map_err(|_| format!("{s:?} is not a number"))
}

/// `-1` → None; `3` or `3</path>` (strace -y) → Some(3).
fn parse_fd(s: &str) -> Result<Option<i32>, String> {
    let s = s.trim();
    let num = s.split_once('<').map(|(n, _)| n).unwrap_or(s);
    let fd: i32 = num.parse().map_err(|_| format!("{s:?} is not an fd"))?;
    if fd < 0 {
        Ok(None)
    } else {
        Ok(Some(fd))
    }
}

const PROT_NAMES: &[(&str, u32)] = &[
    ("PROT_NONE", 0),
    ("PROT_READ", PROT_READ),
    ("PROT_WRITE", PROT_WRITE),
    ("PROT_EXEC", PROT_EXEC),
    ("PROT_SEM", 0x8),
    ("PROT_BTI", 0x10),
    ("PROT_MTE", 0x20),
    ("PROT_GROWSDOWN", 0x0100_0000),
    ("PROT_GROWSUP", 0x0200_0000),
];

const MAP_NAMES: &[(&str, u32)] = &[
    ("MAP_FILE", 0),
    ("MAP_SHARED", MAP_SHARED),
    ("MAP_PRIVATE", MAP_PRIVATE),
    ("MAP_SHARED_VALIDATE", MAP_SHARED_VALIDATE),
    ("MAP_FIXED", MAP_FIXED),
    ("MAP_ANONYMOUS", MAP_ANONYMOUS),
    ("MAP_ANON", MAP_ANONYMOUS),
    ("MAP_32BIT", 0x40),
    ("MAP_GROWSDOWN", MAP_GROWSDOWN),
    ("MAP_DENYWRITE", MAP_DENYWRITE),
    ("MAP_EXECUTABLE", MAP_EXECUTABLE),
    ("MAP_LOCKED", MAP_LOCKED),
    ("MAP_NORESERVE", MAP_NORESERVE),
    ("MAP_POPULATE", MAP_POPULATE),
    ("MAP_NONBLOCK", MAP_NONBLOCK),
    ("MAP_STACK", MAP_STACK),
    ("MAP_HUGETLB", MAP_HUGETLB),
    ("MAP_SYNC", MAP_SYNC),
    ("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE),
    ("MAP_UNINITIALIZED", 0x400_0000),
];

const MREMAP_NAMES: &[(&str, u32)] = &[
    ("MREMAP_MAYMOVE", MREMAP_MAYMOVE),
    ("MREMAP_FIXED", MREMAP_FIXED),
    ("MREMAP_DONTUNMAP", MREMAP_DONTUNMAP),
];

/// `PROT_READ|PROT_WRITE`, `0x3`, `MAP_PRIVATE|0x40000000`,
/// `21<<MAP_HUGE_SHIFT`.
fn parse_flags(s: &str, names: &[(&str, u32)]) -> Result<u32, String> {
    let mut v: u32 = 0;
    for term in s.split('|') {
        let term = term.trim();
        if let Some((n, shift)) = term.split_once("<<") {
            let n: u32 = n
                .trim()
                .parse()
                .map_err(|_| format!("bad shifted flag {term:?}"))?;
            let bits = match shift.trim() {
                "MAP_HUGE_SHIFT" => 26,
                other => return Err(format!("unknown shift {other:?} in {term:?}")),
            };
            v |= n
                .checked_shl(bits)
                .ok_or_else(|| format!("flag {term:?} overflows"))?;
        } else if term.starts_with(|c: char| c.is_ascii_digit()) {
            let n = parse_number(term)?;
            v |= u32::try_from(n).map_err(|_| format!("flag value {term:?} overflows"))?;
        } else {
            let bits = names
                .iter()
                .find(|(n, _)| *n == term)
                .map(|(_, b)| *b)
                .ok_or_else(|| format!("unknown flag {term:?}"))?;
            v |= bits;
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_fd_path_with_parens_and_commas_is_skipped() {
        let line = "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3</tmp/a (b), c)/f.so>, 4096) = 0x7f0000000000";
        let Ok(Parsed::Known(op, _)) = parse_call(line) else {
            panic!("{line} did not parse as a known call");
        };
        assert_eq!(
            op,
            TraceOp::Mmap {
                addr: 0,
                len: 8192,
                prot: 1,
                flags: 2,
                fd: Some(3),
                offset: 4096,
            }
        );
        let unbalanced = "mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, 3</tmp/a(>, 0 = 0x7f0000000000";
        assert!(parse_call(unbalanced).is_err());
    }

    #[test]
    fn a_huge_bad_line_is_excerpted() {
        let line = "x".repeat(20 << 20);
        let e = parse_trace("t.txt", &line).unwrap_err().to_string();
        assert!(e.starts_with("t.txt:1: "), "{}", &e[..100]);
        assert!(
            e.chars().count() < 300 && e.ends_with('…'),
            "{} chars",
            e.len()
        );
    }

    #[test]
    fn flags_and_numbers() {
        assert_eq!(parse_flags("PROT_READ|PROT_WRITE", PROT_NAMES), Ok(3));
        assert_eq!(parse_flags("PROT_NONE", PROT_NAMES), Ok(0));
        assert_eq!(
            parse_flags("MAP_PRIVATE|0x40000000", MAP_NAMES),
            Ok(0x4000_0002)
        );
        assert_eq!(
            parse_flags("MAP_PRIVATE|MAP_ANONYMOUS|21<<MAP_HUGE_SHIFT", MAP_NAMES),
            Ok(0x22 | (21 << 26))
        );
        assert!(parse_flags("MAP_BOGUS", MAP_NAMES).is_err());
        assert_eq!(parse_number("NULL"), Ok(0));
        assert_eq!(parse_number("0x1000"), Ok(4096));
        assert!(parse_number("12a").is_err());
        assert_eq!(parse_fd("3</usr/lib/libc.so.6>"), Ok(Some(3)));
        assert_eq!(parse_fd("-1"), Ok(None));
    }

    #[test]
    fn prefixes() {
        assert_eq!(split_prefix("123 mmap(").unwrap(), (Some(123), "mmap("));
        assert_eq!(
            split_prefix("[pid  77] brk(NULL) = 0").unwrap(),
            (Some(77), "brk(NULL) = 0")
        );
        assert_eq!(
            split_prefix("12:00:01.123456 brk(NULL) = 0").unwrap(),
            (None, "brk(NULL) = 0")
        );
        assert_eq!(
            split_prefix("9 1700000000.5 brk(NULL) = 0").unwrap(),
            (Some(9), "brk(NULL) = 0")
        );
    }
}
