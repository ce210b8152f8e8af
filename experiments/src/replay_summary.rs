//! A replay's outcome in words: how many traced calls the replay matched,
//! mismatched, failed, and which syscalls it did not know. `sentryprof run`
//! prints [`replay_line`] after each replay point and refuses a trace of
//! which no call could be replayed ([`all_replays_failed`]).

use std::collections::BTreeMap;

use bundle::{Point, RunJson};
use serde_json::Value;

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn counts_map(v: &Value, key: &str) -> BTreeMap<String, u64> {
    v.get(key)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// "name count, ..." with names cut to 40 characters (a trace may name a
/// syscall with megabytes).
fn listed(m: &BTreeMap<String, u64>) -> String {
    m.iter()
        .map(|(k, n)| match k.char_indices().nth(40) {
            Some((at, _)) => format!("{}… {n}", &k[..at]),
            None => format!("{k} {n}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Calls of a replay point that failed in the replay (any errno).
fn replay_failed(extra: &Value) -> u64 {
    counts_map(extra, "replay_errors").values().sum()
}

/// "replay: 2 call(s): 1 matched the trace, 1 mismatched (first: line 1
/// mmap traced 0x7f0000000000, replayed ENOMEM); 2 failed in the replay
/// (ENOMEM 2); 1 unknown syscall line(s) not replayed (frobnicate 1)", or
/// None for a point that is not a replay.
pub fn replay_line(point: &Point) -> Option<String> {
    let extra = &point.extra;
    extra.get("matched")?;
    let calls = count(extra, "calls");
    let mut s = format!(
        "replay: {calls} call(s): {} matched the trace, {} mismatched",
        count(extra, "matched"),
        count(extra, "mismatched")
    );
    if let Some(m) = extra
        .get("first_mismatches")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let field = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
        s.push_str(&format!(
            " (first: line {} {} traced {}, replayed {})",
            count(m, "line"),
            field("syscall"),
            field("traced"),
            field("replayed")
        ));
    }
    let errors = counts_map(extra, "replay_errors");
    s.push_str(&format!("; {} failed in the replay", replay_failed(extra)));
    if !errors.is_empty() {
        s.push_str(&format!(" ({})", listed(&errors)));
    }
    let unknown = counts_map(extra, "unknown_syscalls");
    let n_unknown: u64 = unknown.values().sum();
    s.push_str(&format!(
        "; {n_unknown} unknown syscall line(s) not replayed"
    ));
    if !unknown.is_empty() {
        s.push_str(&format!(" ({})", listed(&unknown)));
    }
    Some(s)
}

/// When a run replayed a trace and every replayed call of every point
/// failed (or the trace held no call the replay knows), the one-line error
/// `sentryprof run` exits 2 with; None otherwise.
pub fn all_replays_failed(run: &RunJson) -> Option<String> {
    let replays: Vec<&Point> = run
        .points
        .iter()
        .filter(|p| p.extra.get("matched").is_some())
        .collect();
    let first = replays.first()?;
    if !replays
        .iter()
        .all(|p| replay_failed(&p.extra) >= count(&p.extra, "calls"))
    {
        return None;
    }
    let trace = first
        .extra
        .get("trace")
        .and_then(Value::as_str)
        .unwrap_or("the trace");
    let calls = count(&first.extra, "calls");
    Some(if calls == 0 {
        format!(
            "{trace}: no call of the trace could be replayed ({} unknown syscall line(s)); counts are in run.json",
            counts_map(&first.extra, "unknown_syscalls").values().sum::<u64>()
        )
    } else {
        format!(
            "{trace}: every one of the {calls} replayed call(s) failed ({}); counts are in run.json",
            listed(&counts_map(&first.extra, "replay_errors"))
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_point(calls: u64, failed: u64) -> Point {
        Point {
            extra: serde_json::json!({
                "trace": "t.txt", "calls": calls, "matched": calls - 1, "mismatched": 1,
                "replay_errors": {"ENOMEM": failed},
                "unknown_syscalls": {"frobnicate": 1},
                "first_mismatches": [{"line": 3, "syscall": "mmap", "traced": "0x7f00", "replayed": "ENOMEM"}],
            }),
            ..Point::default()
        }
    }

    #[test]
    fn counts_are_in_words() {
        let line = replay_line(&replay_point(4, 1)).unwrap();
        assert_eq!(
            line,
            "replay: 4 call(s): 3 matched the trace, 1 mismatched (first: line 3 mmap traced 0x7f00, replayed ENOMEM); 1 failed in the replay (ENOMEM 1); 1 unknown syscall line(s) not replayed (frobnicate 1)"
        );
        assert!(replay_line(&Point::default()).is_none());
    }

    #[test]
    fn every_call_failing_is_an_error() {
        let mut run = RunJson::default();
        run.points.push(replay_point(4, 1));
        assert!(all_replays_failed(&run).is_none());
        run.points.push(replay_point(2, 2));
        assert!(all_replays_failed(&run).is_none(), "one point replayed");
        run.points.remove(0);
        let e = all_replays_failed(&run).unwrap();
        assert!(e.starts_with("t.txt: every one of the 2"), "{e}");
    }
}
