//! The two kinds of line of `perf script` text, read into their fields:
//! event lines (`COMM [PID/]TID [CPU] [TIME:] [PERIOD] EVENT: [FRAME]`)
//! and stack lines (`ADDR SYMBOL (MODULE)`). Folding them is
//! `perf_script`'s concern.

/// The comm and where the fields after the pid/tid word start.
pub(crate) struct EventParts<'a> {
    pub(crate) comm: &'a str,
    /// Byte index just after the pid/tid word and its space.
    pub(crate) rest: usize,
}

/// Find the comm: everything before the first all-digit word (or
/// `digits/digits`) that is followed by a space. This is inferno's rule,
/// so the same lines are event lines for both tools.
pub(crate) fn event_line_parts(line: &str) -> Option<EventParts<'_>> {
    let bytes = line.as_bytes();
    let mut word_start = 0usize;
    let mut all_digits = false;
    let mut last_was_space = false;
    for (idx, &c) in bytes.iter().enumerate() {
        if c == b' ' {
            if all_digits && !last_was_space {
                if word_start == 0 {
                    return None;
                }
                let comm = line[..word_start - 1].trim();
                return Some(EventParts {
                    comm,
                    rest: idx + 1,
                });
            }
            word_start = idx + 1;
            all_digits = true;
        } else if c == b'/' || c.is_ascii_digit() {
            // Still a candidate pid/tid word ('/' separates pid and tid).
        } else {
            all_digits = false;
        }
        last_was_space = c == b' ';
    }
    None
}

/// The fields of an event line after its pid/tid word.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventFields<'a> {
    /// The event name: `cpu-clock` of `cpu-clock:ppp:`, `sched` of
    /// `sched:sched_switch:`; `None` when the line has no `EVENT:` field.
    pub(crate) event: Option<&'a str>,
    /// The period, when the line carries one.
    pub(crate) period: Option<u64>,
    /// What follows the event field, trimmed (a one-frame stack, or a
    /// tracepoint's arguments); empty when nothing does.
    pub(crate) tail: &'a str,
}

/// Read the fields after the pid/tid word. perf writes `[CPU] TIME:
/// PERIOD EVENT:`, each optional. inferno takes the event for the last
/// word between the first two `:` and the period for the word before it,
/// which is right whenever the first `:` ends a timestamp; that reading is
/// kept there, and for every line this function cannot read otherwise, so
/// both tools fold and skip the same events. When the first `:` ends the
/// event word itself (no timestamp: `ls 1 cpu-clock:ppp:`, `ls 1 5
/// cycles:`), the event is that word and the period the integer before it.
/// A period that is negative or does not fit u64 is an error (the problem,
/// to be named with the line).
pub(crate) fn event_fields(after_tid: &str) -> Result<EventFields<'_>, String> {
    let mut words = words_with_ends(after_tid).peekable();
    if words
        .peek()
        .is_some_and(|(_, w)| w.starts_with('[') && w.ends_with(']'))
    {
        words.next();
    }
    let mut period_word = None;
    if words.peek().is_some_and(|(_, w)| is_integer(w)) {
        period_word = words.next().map(|(_, w)| w);
    }
    let event_word = words.next().filter(|(_, w)| {
        w.ends_with(':') && w.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
    });
    if let Some((end, word)) = event_word {
        let colon = word.find(':').unwrap_or(word.len());
        // The word holding the line's first ':' is the event word.
        if after_tid.find(':') == Some(end - word.len() + colon) {
            return Ok(EventFields {
                event: Some(&word[..colon]),
                period: period_word.map(parse_period).transpose()?,
                tail: after_tid[end..].trim(),
            });
        }
    }
    inferno_event_fields(after_tid)
}

/// A period: an error when negative or past u64.
fn parse_period(word: &str) -> Result<u64, String> {
    if word.starts_with('-') {
        return Err(format!("negative period {word}"));
    }
    word.parse::<u64>()
        .map_err(|_| format!("period {word} does not fit in 64 bits"))
}

/// inferno's reading: the event is the last word between the first two
/// `:`, the period the word before it; a one-frame stack follows the third
/// `:` (after the rest of the event's modifiers).
/// The period word is checked as [`parse_period`] does, where it is an
/// integer (inferno weighs an absurd one 1).
fn inferno_event_fields(after_tid: &str) -> Result<EventFields<'_>, String> {
    let mut by_colons = after_tid.splitn(3, ':').skip(1);
    let Some(field) = by_colons.next() else {
        return Ok(EventFields {
            event: None,
            period: None,
            tail: "",
        });
    };
    let mut words = field.rsplit(' ');
    let event = words.next();
    let period = match words.next() {
        Some(w) if is_integer(w) => Some(parse_period(w)?),
        _ => None,
    };
    let tail = by_colons.next().map_or("", |post| {
        let start = post.find([':', ' ']).map(|i| i + 1).unwrap_or(0);
        post[start..].trim()
    });
    Ok(EventFields {
        event,
        period,
        tail,
    })
}

/// Digits, or `-` and digits.
fn is_integer(word: &str) -> bool {
    let digits = word.strip_prefix('-').unwrap_or(word);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The words of `s` split on whitespace, each with the byte index just
/// after it.
fn words_with_ends(s: &str) -> impl Iterator<Item = (usize, &str)> {
    let start = s.as_ptr() as usize;
    s.split_ascii_whitespace()
        .map(move |w| (w.as_ptr() as usize - start + w.len(), w))
}

/// `ADDR SYMBOL (MODULE)` → (addr, symbol, module).
pub(crate) fn stack_line_parts(line: &str) -> Option<(&str, &str, &str)> {
    let mut first = line.trim_start().splitn(2, ' ');
    let pc = first.next()?.trim_end();
    let mut rest = first.next()?.rsplitn(2, ' ');
    let module = rest.next()?;
    if module.len() < 2 || !module.starts_with('(') || !module.ends_with(')') {
        return None;
    }
    let module = &module[1..module.len() - 1];
    let sym = match rest.next()?.trim() {
        "" => " ",
        s => s,
    };
    Some((pc, sym, module))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields of a whole event line.
    fn fields(line: &str) -> Result<EventFields<'_>, String> {
        let parts = event_line_parts(line).expect("an event line");
        event_fields(&line[parts.rest..])
    }

    fn event_and_period(line: &str) -> (Option<&str>, Option<u64>) {
        let f = fields(line).unwrap();
        (f.event, f.period)
    }

    #[test]
    fn event_with_timestamp_and_period() {
        let l = "ls 16032   791.044650:    1001001 cpu-clock:ppp: ";
        assert_eq!(event_and_period(l), (Some("cpu-clock"), Some(1001001)));
    }

    #[test]
    fn event_with_timestamp_without_period() {
        let l = "ls 16032/16032 [000]   791.044650: cpu-clock:ppp: ";
        assert_eq!(event_and_period(l), (Some("cpu-clock"), None));
    }

    #[test]
    fn event_without_timestamp() {
        assert_eq!(
            event_and_period("ls 16032 cpu-clock:ppp: "),
            (Some("cpu-clock"), None)
        );
        assert_eq!(
            event_and_period("ls 16032 [003] cpu-clock: "),
            (Some("cpu-clock"), None)
        );
    }

    #[test]
    fn event_without_timestamp_with_period() {
        assert_eq!(
            event_and_period("ls 16032   1001001 cycles:u: "),
            (Some("cycles"), Some(1001001))
        );
    }

    #[test]
    fn event_with_modifiers_and_tracepoints() {
        assert_eq!(
            event_and_period("vote   913    72.176760:     257597 cycles:uppp:"),
            (Some("cycles"), Some(257597))
        );
        let f = fields("perf 7 [001] 5.5: 1 sched:sched_switch: prev_comm=perf").unwrap();
        assert_eq!((f.event, f.tail), (Some("sched"), "prev_comm=perf"));
    }

    #[test]
    fn one_frame_on_the_event_line_is_the_tail() {
        let l = "false 64414 20110.539270:      34467 cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])";
        assert_eq!(
            fields(l).unwrap().tail,
            "ffffffff9aa3c8de [unknown] ([unknown])"
        );
        let l = "false 64414 cycles:  400000 main+0x4 (/bin/false)";
        let f = fields(l).unwrap();
        assert_eq!(
            (f.event, f.tail),
            (Some("cycles"), "400000 main+0x4 (/bin/false)")
        );
    }

    #[test]
    fn absurd_periods_are_errors() {
        let l = "ls 1 1.0: 18446744073709551616 cpu-clock: ";
        assert_eq!(
            fields(l).unwrap_err(),
            "period 18446744073709551616 does not fit in 64 bits"
        );
        assert_eq!(
            fields("ls 1 1.0: -5 cpu-clock: ").unwrap_err(),
            "negative period -5"
        );
        // u64::MAX itself fits.
        let l = "ls 1 1.0: 18446744073709551615 cpu-clock: ";
        assert_eq!(fields(l).unwrap().period, Some(u64::MAX));
    }

    #[test]
    fn without_an_event_word_the_line_is_read_as_inferno_reads_it() {
        assert_eq!(
            event_and_period("ls 1 [unknown] (/usr/bin/ls)"),
            (None, None)
        );
        // A stack line after a blank line, its address all digits and its
        // symbol holding `::`: inferno's event is the empty text between
        // the first two colons (an event other than the one folded).
        let f = fields("           19740 std::rt::lang_start (/usr/bin/x)").unwrap();
        assert_eq!(f.event, Some(""));
        // Not an event word: no error for what looks like a negative period.
        assert_eq!(event_and_period("    1234 -5 (x)"), (None, None));
        // A word other than a timestamp before the event's ':' (a garbled
        // line): inferno's reading, the event between the first two ':'.
        let l = "bash 1   .ka792.36:    888 cpu-clock:  ffffffff8 f (m)";
        assert_eq!(event_and_period(l), (Some("cpu-clock"), Some(888)));
    }
}
