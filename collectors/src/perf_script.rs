//! Import of `perf script` text into [`FoldedStacks`].
//!
//! The folding rules are those of `inferno-collapse-perf` with its default
//! options, so both tools produce the same stacks with the same weights from
//! the same file:
//!
//! - Lines starting with `#` are comments. A blank line ends an event.
//! - An event line is `COMM [PID/]TID [CPU] TIME: [PERIOD] EVENT: [STACK]`:
//!   the first all-digit word (optionally `PID/TID`) followed by a space ends
//!   the comm, which may itself contain spaces; spaces in the comm become `_`
//!   and the comm is the root frame (pid and tid are not included).
//! - Only events of the first event name met are folded; others are skipped.
//! - The weight of an event is its period when the line carries one, else 1.
//! - A stack line is `ADDR SYMBOL (MODULE)`, leaf first; a `+0x...` offset is
//!   stripped from the symbol; a symbol starting with `(` is dropped; an
//!   `[unknown]` symbol takes the module's base name (`[libc.so.6]`) unless
//!   the module is itself `[unknown]`; Rust names left half-demangled by perf
//!   are finished; argument lists are removed and `;` becomes `:`; names
//!   split on `->` (Java inlining) give frames marked `_[i]`.
//! - A one-frame stack may sit at the end of the event line itself.
//!
//! Lines inferno logs a warning for and skips (an event line it cannot read,
//! such as a stack line after a blank line; a stack line it cannot read,
//! inside an event or at the end of an event line) are skipped the same way
//! and counted ([`ImportedProfile::odd_lines`], with the first line
//! numbers); [`OddLines::Refuse`] (`--strict`) makes the first one an error
//! naming the line instead.
//!
//! Where inferno is silently wrong, this importer says so or does better:
//!
//! - the event name and period are read from the fields of the event line
//!   (`[CPU]`, `TIME:`, `PERIOD`, `EVENT:` each optional), so lines without
//!   a timestamp keep their event name and period (inferno reads the text
//!   between the first two `:` of the line, which is empty or `ppp` there);
//! - a period past u64 or negative is an error naming the line (inferno
//!   weighs it 1), and so are periods whose sum passes u64;
//! - input cut in the middle of its last line (no newline) is an error
//!   naming the line: a cut event line, or a cut stack line;
//! - text holding no sample at all is an error.

use std::collections::HashMap;
use std::path::Path;

use thiserror::Error;

use bundle::folded::FoldedStacks;

use crate::perf_script_blocks::LineBlocks;
use crate::perf_script_line::{event_fields, event_line_parts, stack_line_parts};
use crate::perf_script_stacks::StackTable;

/// Why a `perf script` text could not be imported.
#[derive(Debug, Error)]
pub enum PerfScriptError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}:{line}: {problem}")]
    Malformed {
        source_name: String,
        line: usize,
        problem: String,
    },
    #[error("{source_name}: no samples found (empty input, or not `perf script` output){}", odd_lines_suffix(*odd_lines, *first_odd_line))]
    Empty {
        source_name: String,
        /// Lines skipped as inferno skips them.
        odd_lines: u64,
        /// The first of those (1-based; 0 when none).
        first_odd_line: usize,
    },
    #[error("{source_name}: every one of the {samples} sample(s) has period 0: nothing to weigh")]
    ZeroPeriod { source_name: String, samples: u64 },
}

fn odd_lines_suffix(odd_lines: u64, first: usize) -> String {
    if odd_lines == 0 {
        String::new()
    } else {
        format!("; {odd_lines} unreadable line(s) skipped, the first at line {first}")
    }
}

/// What to do with the lines inferno-collapse-perf skips with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OddLines {
    /// Skip them as inferno does, counting them (the default).
    #[default]
    Skip,
    /// Refuse the input at the first one (`--strict`).
    Refuse,
}

/// How many line numbers of skipped lines an import keeps.
pub const ODD_LINES_SHOWN: usize = 5;

/// What one import produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportedProfile {
    /// Folded stacks, root (comm) first, weighted by period.
    pub folded: FoldedStacks,
    /// Event name folded (the first event met), e.g. `cycles` or `cpu-clock`.
    pub event: String,
    /// Events folded (samples with at least one frame).
    pub samples: u64,
    /// Events skipped because their event name differs from [`Self::event`].
    pub skipped_other_events: u64,
    /// Lines skipped as inferno-collapse-perf skips them (with a warning).
    pub odd_lines: u64,
    /// The first of their line numbers (1-based), at most [`ODD_LINES_SHOWN`].
    pub odd_line_numbers: Vec<usize>,
}

impl ImportedProfile {
    /// One line saying how many lines were skipped and where, if any were.
    pub fn odd_lines_note(&self, source_name: &str) -> Option<String> {
        if self.odd_lines == 0 {
            return None;
        }
        let mut lines: Vec<String> = self
            .odd_line_numbers
            .iter()
            .map(|l| l.to_string())
            .collect();
        if self.odd_lines > lines.len() as u64 {
            lines.push("...".to_string());
        }
        Some(format!(
            "{source_name}: skipped {} unreadable line(s), as inferno-collapse-perf does (line {}); --strict refuses them",
            self.odd_lines,
            lines.join(", ")
        ))
    }
}

/// Read `path` and fold its `perf script` text, skipping odd lines.
pub fn import_file(path: &Path) -> Result<ImportedProfile, PerfScriptError> {
    import_file_with(path, &path.display().to_string(), OddLines::Skip)
}

/// Fold the `perf script` text of `path` (stdin when `path` is `-`) as it
/// is read, a block of whole lines at a time, on one thread: memory
/// grows with the distinct stacks, not with the input. `source_name`
/// names the input in errors; the result and errors are those of
/// [`fold_perf_script_with`] on the whole text.
pub fn import_file_with(
    path: &Path,
    source_name: &str,
    odd: OddLines,
) -> Result<ImportedProfile, PerfScriptError> {
    let read_error = |source| PerfScriptError::Read {
        path: source_display_name(path),
        source,
    };
    if path == Path::new("-") {
        let stdin = std::io::stdin();
        return fold_perf_script_reader(stdin.lock(), source_name, odd)
            .map_err(|e| e.map_read(read_error));
    }
    let file = std::fs::File::open(path).map_err(read_error)?;
    fold_perf_script_reader(file, source_name, odd).map_err(|e| e.map_read(read_error))
}

/// Why a streamed fold stopped: the reader failed, or the text is bad.
enum StreamError {
    Read(std::io::Error),
    Fold(PerfScriptError),
}

impl StreamError {
    fn map_read(self, f: impl FnOnce(std::io::Error) -> PerfScriptError) -> PerfScriptError {
        match self {
            StreamError::Read(e) => f(e),
            StreamError::Fold(e) => e,
        }
    }
}

/// Fold `perf script` text read from `reader` a block of whole lines at a
/// time ([`LineBlocks`]): memory holds one block, not the input.
fn fold_perf_script_reader(
    reader: impl std::io::Read,
    source_name: &str,
    odd: OddLines,
) -> Result<ImportedProfile, StreamError> {
    let mut blocks = LineBlocks::new(reader);
    let mut lf = LineFolder::new(None, source_name, odd);
    while let Some(block) = blocks.next_block().map_err(StreamError::Read)? {
        lf.lines(block).map_err(StreamError::Fold)?;
    }
    lf.into_profile().map_err(StreamError::Fold)
}

/// How errors and notes name `path`: `stdin` for `-`.
pub fn source_display_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// Fold `perf script` text, skipping odd lines as inferno does.
/// `source_name` names the input in errors.
pub fn fold_perf_script(
    text: &[u8],
    source_name: &str,
) -> Result<ImportedProfile, PerfScriptError> {
    fold_perf_script_with(text, source_name, OddLines::Skip)
}

/// Fold `perf script` text; `odd` says what to do with the lines inferno
/// skips with a warning.
///
/// Large inputs are split at event boundaries and folded on two threads;
/// the result does not depend on the split.
pub fn fold_perf_script_with(
    text: &[u8],
    source_name: &str,
    odd: OddLines,
) -> Result<ImportedProfile, PerfScriptError> {
    // The event filter is the first event name met: find it up front so that
    // every chunk applies the same one.
    let event = first_event_name(text);
    let chunks = split_chunks(text, worker_count(text.len()));
    let results: Vec<Result<ChunkResult, PerfScriptError>> = if chunks.len() == 1 {
        vec![fold_chunk(text, event.as_deref(), source_name, odd)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|&(start, end)| {
                    let ev = event.as_deref();
                    scope.spawn(move || fold_chunk(&text[start..end], ev, source_name, odd))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(r) => r,
                    Err(_) => Err(PerfScriptError::Malformed {
                        source_name: source_name.to_string(),
                        line: 0,
                        problem: "internal error: folding thread panicked".to_string(),
                    }),
                })
                .collect()
        })
    };
    let mut merged: HashMap<String, u64> = HashMap::new();
    let mut total: u64 = 0;
    let mut samples = 0;
    let mut skipped = 0;
    let mut odd_lines = 0;
    let mut odd_line_numbers = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let before = lines_before(text, chunks.get(i).map_or(0, |c| c.0));
        let r = r.map_err(|e| relocate_error(e, before))?;
        samples += r.samples;
        skipped += r.skipped;
        odd_lines += r.odd_lines;
        for line in r.odd_line_numbers {
            if odd_line_numbers.len() < ODD_LINES_SHOWN {
                odd_line_numbers.push(line + before);
            }
        }
        total = total
            .checked_add(r.total)
            .ok_or_else(|| PerfScriptError::Malformed {
                source_name: source_name.to_string(),
                line: 0,
                problem: WEIGHT_OVERFLOW.to_string(),
            })?;
        if merged.is_empty() {
            merged = r.stacks;
        } else {
            for (k, v) in r.stacks {
                *merged.entry(k).or_insert(0) += v;
            }
        }
    }
    let merged = FoldTotals {
        stacks: merged,
        samples,
        skipped,
        odd_lines,
        odd_line_numbers,
    };
    merged.into_profile(event, source_name)
}

/// What a fold met, before it becomes an [`ImportedProfile`].
struct FoldTotals {
    stacks: HashMap<String, u64>,
    samples: u64,
    skipped: u64,
    odd_lines: u64,
    odd_line_numbers: Vec<usize>,
}

impl FoldTotals {
    fn into_profile(
        self,
        event: Option<String>,
        source_name: &str,
    ) -> Result<ImportedProfile, PerfScriptError> {
        let FoldTotals {
            stacks: mut merged,
            samples,
            skipped,
            odd_lines,
            odd_line_numbers,
        } = self;
        // A stack of period 0 weighs nothing (and is left out of the folded
        // stacks): samples that all have period 0 make no profile.
        merged.retain(|_, weight| *weight > 0);
        if merged.is_empty() {
            let source_name = source_name.to_string();
            return Err(if samples > 0 {
                PerfScriptError::ZeroPeriod {
                    source_name,
                    samples,
                }
            } else {
                PerfScriptError::Empty {
                    source_name,
                    odd_lines,
                    first_odd_line: odd_line_numbers.first().copied().unwrap_or(0),
                }
            });
        }
        let mut folded = FoldedStacks::new();
        for (k, v) in merged {
            folded.add_joined(k, v);
        }
        Ok(ImportedProfile {
            folded,
            event: event.unwrap_or_default(),
            samples,
            skipped_other_events: skipped,
            odd_lines,
            odd_line_numbers,
        })
    }
}

fn worker_count(len: usize) -> usize {
    if len < 4 << 20 {
        1
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
    }
}

/// Split `text` into `n` byte ranges that each start at the beginning of an
/// event (just after a blank line), covering the whole text.
fn split_chunks(text: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut bounds = vec![0];
    for i in 1..n {
        let target = text.len() * i / n;
        let last = *bounds.last().unwrap_or(&0);
        if target <= last {
            continue;
        }
        match find_blank_line_end(text, target) {
            Some(b) if b > last && b < text.len() => bounds.push(b),
            _ => {}
        }
    }
    bounds.push(text.len());
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Index just after the next "\n\n" (a blank line) at or after `from`.
fn find_blank_line_end(text: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 1 < text.len() {
        let nl = i + text[i..].iter().position(|&b| b == b'\n')?;
        // The next line blank (only whitespace up to its newline)?
        let rest = &text[nl + 1..];
        let next_nl = rest.iter().position(|&b| b == b'\n');
        if let Some(len) = next_nl {
            if rest[..len].iter().all(|b| b.is_ascii_whitespace()) {
                return Some(nl + 1 + len + 1);
            }
        }
        i = nl + 1;
    }
    None
}

/// Lines of `text` before byte `chunk_start`.
fn lines_before(text: &[u8], chunk_start: usize) -> usize {
    text[..chunk_start].iter().filter(|&&b| b == b'\n').count()
}

/// Line numbers in chunk errors count from the chunk start: make them count
/// from the start of the text (`before` lines precede the chunk).
fn relocate_error(e: PerfScriptError, before: usize) -> PerfScriptError {
    match e {
        PerfScriptError::Malformed {
            source_name,
            line,
            problem,
        } if before > 0 => PerfScriptError::Malformed {
            source_name,
            line: line + before,
            problem,
        },
        other => other,
    }
}

fn first_event_name(text: &[u8]) -> Option<String> {
    // Follow the event/stack state machine so that stack lines (whose
    // addresses may look like a pid) are never taken for event lines.
    let mut in_event = false;
    for raw in text.split(|&b| b == b'\n') {
        if raw.first() == Some(&b'#') {
            continue;
        }
        let line = String::from_utf8_lossy(raw);
        let line = line.trim_end();
        if line.is_empty() {
            in_event = false;
            continue;
        }
        if in_event {
            continue;
        }
        in_event = true;
        if let Some(parts) = event_line_parts(line) {
            let Ok(fields) = event_fields(&line[parts.rest..]) else {
                continue;
            };
            if let Some(event) = fields.event {
                return Some(event.to_string());
            }
            if !fields.tail.is_empty() {
                in_event = false;
            }
        } else {
            in_event = false;
        }
    }
    None
}

struct ChunkResult {
    stacks: HashMap<String, u64>,
    samples: u64,
    skipped: u64,
    /// The sum of every weight folded (kept within u64).
    total: u64,
    /// Lines skipped as inferno skips them, and the first of their numbers
    /// (counted from the chunk's start).
    odd_lines: u64,
    odd_line_numbers: Vec<usize>,
}

/// Why a line was not folded.
enum LineProblem {
    /// A line inferno skips with a warning: skipped and counted, or refused
    /// under [`OddLines::Refuse`].
    Odd(&'static str),
    /// A line that is an error in any case.
    Bad(String),
}

/// The problem of periods whose sum does not fit the profile's weights.
const WEIGHT_OVERFLOW: &str = "the periods add up past 2^64, more than any real profile";

/// Whether an event line carries its one-frame stack at its end.
fn ends_with_frame(line: &str) -> bool {
    event_line_parts(line)
        .and_then(|p| event_fields(&line[p.rest..]).ok())
        .is_some_and(|f| stack_line_parts(f.tail).is_some())
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Filter {
    Keep,
    Skip,
}

/// Folding state over one chunk of text (which starts at an event boundary).
struct ChunkFolder {
    /// The event name folded: the first met, when not given.
    event_filter: Option<String>,
    in_event: bool,
    filter: Filter,
    /// Whether the event's comm starts with `java` (frames named the Java way).
    is_java: bool,
    period: Option<u64>,
    /// The event's stack so far: its comm's name id, then frame ids leaf
    /// first, as they appear ([`StackTable`]).
    key: Vec<u32>,
    table: StackTable,
    out: ChunkResult,
}

fn fold_chunk(
    text: &[u8],
    event_filter: Option<&str>,
    source_name: &str,
    odd: OddLines,
) -> Result<ChunkResult, PerfScriptError> {
    let mut lf = LineFolder::new(event_filter, source_name, odd);
    lf.lines(text)?;
    lf.finish()
}

impl ChunkResult {
    fn into_totals(self) -> FoldTotals {
        FoldTotals {
            stacks: self.stacks,
            samples: self.samples,
            skipped: self.skipped,
            odd_lines: self.odd_lines,
            odd_line_numbers: self.odd_line_numbers,
        }
    }
}

/// Folds `perf script` text fed one line at a time (without its newline),
/// so that a stream is folded in memory bounded by its distinct stacks.
struct LineFolder<'s> {
    f: ChunkFolder,
    source_name: &'s str,
    odd: OddLines,
    /// Lines fed so far.
    lineno: usize,
}

impl<'s> LineFolder<'s> {
    fn new(event_filter: Option<&str>, source_name: &'s str, odd: OddLines) -> Self {
        LineFolder {
            f: ChunkFolder {
                event_filter: event_filter.map(str::to_string),
                in_event: false,
                filter: Filter::Keep,
                is_java: false,
                period: None,
                key: Vec::with_capacity(64),
                table: StackTable::default(),
                out: ChunkResult {
                    stacks: HashMap::new(),
                    samples: 0,
                    skipped: 0,
                    total: 0,
                    odd_lines: 0,
                    odd_line_numbers: Vec::new(),
                },
            },
            source_name,
            odd,
            lineno: 0,
        }
    }

    /// Fold the lines of `text`, each ended by a newline but the last,
    /// which, when it has none, is the end of the input.
    fn lines(&mut self, text: &[u8]) -> Result<(), PerfScriptError> {
        // One UTF-8 check for the whole block; the lines of a block that
        // fails it are each read with `from_utf8_lossy`.
        let valid = std::str::from_utf8(text).ok();
        let mut start = 0;
        while start < text.len() {
            let (end, next, cut) = match memchr::memchr(b'\n', &text[start..]) {
                Some(i) => (start + i, start + i + 1, false),
                None => (text.len(), text.len(), true),
            };
            match valid {
                // A newline is a whole character: `end` is a boundary.
                Some(s) => self.line(&s[start..end], cut)?,
                None => self.line(&String::from_utf8_lossy(&text[start..end]), cut)?,
            }
            start = next;
        }
        Ok(())
    }

    /// Fold one line (without its newline); `is_last_partial` when it is the
    /// last of the input and has no newline.
    fn line(&mut self, line: &str, is_last_partial: bool) -> Result<(), PerfScriptError> {
        self.lineno += 1;
        if line.starts_with('#') {
            return Ok(());
        }
        let f = &mut self.f;
        let line = trim_end(line);
        let malformed = |problem: String| PerfScriptError::Malformed {
            source_name: self.source_name.to_string(),
            line: self.lineno,
            problem,
        };
        let problem = if line.is_empty() {
            f.end_event().map_err(|p| LineProblem::Bad(p.to_string()))
        } else if f.in_event {
            if f.filter == Filter::Skip || f.on_stack_line(line) {
                Ok(())
            } else if is_last_partial {
                Err(LineProblem::Bad(
                    "truncated stack line at end of input".to_string(),
                ))
            } else {
                Err(LineProblem::Odd(
                    "not a stack line (expected 'ADDRESS SYMBOL (MODULE)')",
                ))
            }
        } else {
            match f.on_event_line(line) {
                // Cut inside an event's header: no newline, no frame follows.
                Ok(()) if is_last_partial && f.in_event && !ends_with_frame(line) => {
                    Err(LineProblem::Bad(
                        "truncated event line at end of input (no newline, no frames)".to_string(),
                    ))
                }
                Err(problem) if is_last_partial => Err(LineProblem::Bad(format!(
                    "truncated event line at end of input ({})",
                    problem.text()
                ))),
                other => other,
            }
        };
        match problem {
            Ok(()) => {}
            Err(LineProblem::Odd(_)) if self.odd == OddLines::Skip => {
                f.out.odd_lines += 1;
                if f.out.odd_line_numbers.len() < ODD_LINES_SHOWN {
                    f.out.odd_line_numbers.push(self.lineno);
                }
            }
            Err(LineProblem::Odd(what)) => {
                return Err(malformed(format!(
                    "{what}: {} (--strict refuses the lines inferno-collapse-perf skips)",
                    excerpt(line)
                )));
            }
            Err(LineProblem::Bad(what)) => {
                return Err(malformed(format!("{what}: {}", excerpt(line))));
            }
        }
        Ok(())
    }

    /// Fold the last event; the result, and the event name folded.
    fn finish_with_event(self) -> Result<(ChunkResult, Option<String>), PerfScriptError> {
        let mut f = self.f;
        f.end_event()
            .map_err(|problem| PerfScriptError::Malformed {
                source_name: self.source_name.to_string(),
                // The last line (1 for an empty input).
                line: self.lineno.max(1),
                problem: problem.to_string(),
            })?;
        f.out.stacks = f.table.into_folded();
        Ok((f.out, f.event_filter))
    }

    fn finish(self) -> Result<ChunkResult, PerfScriptError> {
        self.finish_with_event().map(|(r, _)| r)
    }

    /// Fold the last event and make the profile of what was folded.
    fn into_profile(self) -> Result<ImportedProfile, PerfScriptError> {
        let source_name = self.source_name;
        let (r, event) = self.finish_with_event()?;
        r.into_totals().into_profile(event, source_name)
    }
}

/// `line.trim_end()`, without its Unicode search when the line ends with
/// a printable ASCII character (as nearly every line does).
fn trim_end(line: &str) -> &str {
    match line.as_bytes().last() {
        Some(&b) if b.is_ascii_graphic() => line,
        _ => line.trim_end(),
    }
}

impl LineProblem {
    fn text(&self) -> &str {
        match self {
            LineProblem::Odd(what) => what,
            LineProblem::Bad(what) => what,
        }
    }
}

fn excerpt(line: &str) -> String {
    let mut s: String = line.chars().take(80).collect();
    if s.len() < line.len() {
        s.push_str("...");
    }
    format!("{s:?}")
}

impl ChunkFolder {
    /// Read an event line. An odd line (one inferno skips) leaves the
    /// folder outside any event, as inferno does.
    fn on_event_line(&mut self, line: &str) -> Result<(), LineProblem> {
        self.in_event = true;
        let Some(parts) = event_line_parts(line) else {
            self.in_event = false;
            return Err(LineProblem::Odd(if stack_line_parts(line).is_some() {
                "a stack line outside any event (after a blank line)"
            } else {
                "not a perf script event line (expected 'COMM PID ... TIME: [PERIOD] EVENT:')"
            }));
        };
        let fields = event_fields(&line[parts.rest..]).map_err(LineProblem::Bad)?;
        if let Some(event) = fields.event {
            self.period = fields.period;
            match &self.event_filter {
                None => self.event_filter = Some(event.to_string()),
                Some(filter) if event != filter => {
                    self.filter = Filter::Skip;
                    self.out.skipped += 1;
                    return Ok(());
                }
                Some(_) => {}
            }
        }
        self.key.clear();
        self.key.push(self.table.comm(parts.comm));
        self.is_java = parts.comm.starts_with("java");
        if !fields.tail.is_empty() {
            if !self.on_stack_line(fields.tail) {
                self.in_event = false;
                return Err(LineProblem::Odd(
                    "event line ends with something that is not a frame",
                ));
            }
            self.end_event()
                .map_err(|p| LineProblem::Bad(p.to_string()))?;
        }
        Ok(())
    }

    /// Returns false when the line is not a stack line.
    fn on_stack_line(&mut self, line: &str) -> bool {
        self.table.push_line(line, self.is_java, &mut self.key)
    }

    /// Fold the event read so far. Errors when the weights would pass u64.
    fn end_event(&mut self) -> Result<(), &'static str> {
        if self.key.len() > 1 && self.filter == Filter::Keep {
            let w = self.period.unwrap_or(1);
            // Every stack's weight is at most the total: one check for both.
            self.out.total = self.out.total.checked_add(w).ok_or(WEIGHT_OVERFLOW)?;
            self.table.add(&self.key, w);
            self.out.samples += 1;
        }
        self.in_event = false;
        self.filter = Filter::Keep;
        self.key.truncate(1);
        self.period = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(text: &str) -> Result<ImportedProfile, PerfScriptError> {
        fold_perf_script(text.as_bytes(), "t.txt")
    }

    #[test]
    fn event_with_period_and_callchain() {
        let text = "\
my prog 123/124 [001] 10.5:     2500 cycles:P: \n\
\tffffffff81000000 do_syscall_64+0x10 ([kernel.kallsyms])\n\
\t55d0c0001000 main+0x20 (/usr/bin/prog)\n\
\t7f0000001000 __libc_start_main+0x80 (/usr/lib/libc.so.6)\n\
\n\
my prog 123/124 [001] 10.6:     1500 cycles:P: \n\
\t7f0000002000 [unknown] (/usr/lib/libc.so.6)\n\
\n";
        let p = fold(text).unwrap();
        assert_eq!(p.event, "cycles");
        assert_eq!(p.samples, 2);
        assert_eq!(
            p.folded.to_text(),
            "my_prog;[libc.so.6] 1500\nmy_prog;__libc_start_main;main;do_syscall_64 2500\n"
        );
    }

    #[test]
    fn other_events_are_skipped_and_no_period_weighs_one() {
        let text = "a 1 1.0: cpu-clock: \n\t1 f (m)\n\na 1 1.1: page-faults: \n\t1 g (m)\n\na 1 1.2: cpu-clock: \n\t1 f (m)\n";
        let p = fold(text).unwrap();
        assert_eq!(p.folded.to_text(), "a;f 2\n");
        assert_eq!(p.skipped_other_events, 1);
    }

    #[test]
    fn one_frame_on_event_line() {
        let text = "false 64414 20110.539270:      34467 cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])\nfalse 64414 20110.6:      100 cycles:u:  400000 main+0x4 (/bin/false)\n";
        let p = fold(text).unwrap();
        assert_eq!(
            p.folded.to_text(),
            "false;[unknown] 34467\nfalse;main 100\n"
        );
    }

    #[test]
    fn garbage_empty_and_truncated_are_errors_with_lines() {
        let e = fold("").unwrap_err();
        assert!(e.to_string().contains("no samples"), "{e}");
        let e = fold("hello world\n").unwrap_err();
        assert!(
            e.to_string()
                .ends_with("1 unreadable line(s) skipped, the first at line 1"),
            "{e}"
        );
        let e = fold_perf_script_with(b"hello world\n", "t.txt", OddLines::Refuse).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.txt:1: not a perf script event line"),
            "{e}"
        );
        let e = fold("a 1 1.0: cycles: \n\t1 f (m)\n\t2 g (/usr/li").unwrap_err();
        assert!(
            e.to_string().starts_with("t.txt:3: truncated stack line"),
            "{e}"
        );
        // Cut mid-way through the header line of the last event.
        let e = fold("a 1 1.0: cycles: \n\t1 f (m)\n\na 1 2.0: cyc").unwrap_err();
        assert!(
            e.to_string().starts_with("t.txt:4: truncated event line"),
            "{e}"
        );
        let strict = |t: &str| fold_perf_script_with(t.as_bytes(), "t.txt", OddLines::Refuse);
        let e = strict("a 1 1.0: cycles: \n\t1 f (m)\nzzz\n").unwrap_err();
        assert!(e.to_string().starts_with("t.txt:3:"), "{e}");
        let p = fold("a 1 1.0: cycles: \n\t1 f (m)\nzzz\n").unwrap();
        assert_eq!((p.folded.to_text().as_str(), p.odd_lines), ("a;f 1\n", 1));
    }

    /// A reader handing out `step` bytes or fewer per read.
    struct Uneven<'a> {
        text: &'a [u8],
        step: usize,
    }

    impl std::io::Read for Uneven<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.text.len().min(out.len()).min(self.step);
            out[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    #[test]
    fn streamed_folding_of_many_blocks_equals_folding_the_whole_text() {
        // Many blocks: lines and events across block ends, a block that is
        // not UTF-8, odd lines counted across blocks, the last line cut.
        let fixture = include_bytes!("../fixtures/perf-script/ls-callchain.txt");
        let mut text = Vec::new();
        for i in 0..40 {
            text.extend_from_slice(fixture);
            if i % 7 == 3 {
                text.extend_from_slice(
                    b"zzz odd line\n\na\xff b 1 1.0: 5 cpu-clock: \n\t1 f\xfe (m)\n\n",
                );
            }
        }
        for tail in [&b""[..], b"a 1 1.0: cpu-clock: \n\t1 f (m)\n\t2 g (/usr/li"] {
            let mut text = text.clone();
            text.extend_from_slice(tail);
            for odd in [OddLines::Skip, OddLines::Refuse] {
                let whole = fold_perf_script_with(&text, "t.txt", odd);
                for step in [4093, 70_001] {
                    let streamed =
                        fold_perf_script_reader(Uneven { text: &text, step }, "t.txt", odd)
                            .map_err(|e| e.map_read(|e| panic!("{e}")));
                    match (&whole, streamed) {
                        (Ok(a), Ok(b)) => assert_eq!(a, &b),
                        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                        (a, b) => panic!("step {step}: {a:?} vs {b:?}"),
                    }
                }
            }
        }
        let p = fold_perf_script_reader(
            Uneven {
                text: &text,
                step: 4093,
            },
            "t.txt",
            OddLines::Skip,
        )
        .map_err(|e| e.map_read(|e| panic!("{e}")))
        .unwrap();
        assert_eq!(p.odd_lines, 6);
        assert!(text.len() > 4 * 64 * 1024, "{}", text.len());
    }

    #[test]
    fn streamed_folding_equals_folding_the_whole_text() {
        let fixture = include_bytes!("../fixtures/perf-script/ls-callchain.txt");
        let texts: [&[u8]; 12] = [
            b"",
            b"\n",
            b"# only a comment\n\n",
            b"hello world\nno perf here\n",
            b"a 1 1.0: cycles: \n\t1 f (m)\n\t2 g (/usr/li",
            b"a 1 1.0: cycles: \n\t1 f (m)\n\na 1 2.0: cyc",
            b"a 1 1.0: cycles: \n\t1 f (m)\nzzz\n",
            b"a 1 1.0: cpu-clock: \n\t1 f (m)\n\na 1 1.1: page-faults: \n\t1 g (m)\n",
            b"a\xff 1 1.0: 5 cycles: \n\t1 f\xfe\xff (m)\n\t2 g (m)",
            b"a 1 1.0: 18446744073709551615 cycles: \n\t1 f (m)\n\na 1 1.1: 1 cycles: \n\t1 f (m)\n",
            b"a 1 1.0: 0 cycles: \n\t1 f (m)\n",
            fixture,
        ];
        for text in texts {
            for odd in [OddLines::Skip, OddLines::Refuse] {
                let whole = fold_perf_script_with(text, "t.txt", odd);
                let streamed = fold_perf_script_reader(text, "t.txt", odd)
                    .map_err(|e| e.map_read(|e| panic!("{e}")));
                match (whole, streamed) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{:?}: {a:?} vs {b:?}", String::from_utf8_lossy(text)),
                }
            }
        }
    }

    #[test]
    fn chunked_folding_equals_single_threaded() {
        let mut text = String::new();
        for i in 0..20_000u64 {
            text.push_str(&format!(
                "p{} {} [000] 1.{}: {} cycles: \n\t10 f{} (m)\n\t20 g (m)\n\n",
                i % 3,
                i,
                i,
                i % 7 + 1,
                i % 5
            ));
        }
        let whole = fold_chunk(text.as_bytes(), Some("cycles"), "t", OddLines::Skip).unwrap();
        let mut expect = FoldedStacks::new();
        for (k, v) in whole.stacks {
            expect.add_joined(k, v);
        }
        for n in [2, 3, 7] {
            let chunks = split_chunks(text.as_bytes(), n);
            let mut got = FoldedStacks::new();
            for (s, e) in chunks {
                let r = fold_chunk(&text.as_bytes()[s..e], Some("cycles"), "t", OddLines::Skip)
                    .unwrap();
                for (k, v) in r.stacks {
                    got.add_joined(k, v);
                }
            }
            assert_eq!(got, expect);
        }
    }
}
