//! The free ranges of an address space read off its `/proc/PID/maps` text
//! with no allocation: what the native replay stub lists for itself after
//! the fork (the sentry's list, made before it, misses what other sentry
//! threads mapped or unmapped in between).

/// Room left free below the main thread's stack when filling holes: the
/// stack grows into it, and the kernel never places mappings above its
/// mmap base, which lies at least 128 MiB below the stack top.
pub const STACK_ROOM: u64 = 64 << 20;

/// Calls `hole(start, end)` for each free range from `low` up to the
/// mapping named `[stack]` less `stack_room`, in address order. Returns
/// false (and the holes are not to be trusted) when no `[stack]` line or an
/// unreadable line was found.
pub fn for_each_hole(
    maps: &[u8],
    low: u64,
    stack_room: u64,
    mut hole: impl FnMut(u64, u64),
) -> bool {
    let mut prev_end = low;
    for line in maps.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let Some((lo, hi)) = range_of(line) else {
            return false;
        };
        if hi <= low {
            continue;
        }
        let stack = line.ends_with(b"[stack]");
        let hole_end = if stack {
            lo.saturating_sub(stack_room)
        } else {
            lo
        };
        if hole_end > prev_end {
            hole(prev_end, hole_end);
        }
        if stack {
            return true;
        }
        prev_end = prev_end.max(hi);
    }
    false
}

/// `lo-hi` at the start of a maps line.
fn range_of(line: &[u8]) -> Option<(u64, u64)> {
    let dash = line.iter().position(|&b| b == b'-')?;
    let rest = &line[dash + 1..];
    let space = rest.iter().position(|&b| b == b' ')?;
    Some((hex(&line[..dash])?, hex(&rest[..space])?))
}

fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |v, &d| {
        let x = (d as char).to_digit(16)?;
        Some(v << 4 | u64::from(x))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &[u8] = b"1000-2000 r-xp 00000000 00:00 0 /bin/x\n\
        5000-6000 rw-p 00000000 00:00 0 \n\
        9000-a000 rw-p 00000000 00:00 0 [heap]\n\
        100000-110000 rw-p 00000000 00:00 0                          [stack]\n\
        200000-201000 r-xp 00000000 00:00 0 [vdso]\n";

    fn holes(maps: &[u8], low: u64, room: u64) -> (bool, Vec<(u64, u64)>) {
        let mut v = Vec::new();
        let ok = for_each_hole(maps, low, room, |s, e| v.push((s, e)));
        (ok, v)
    }

    #[test]
    fn holes_run_from_low_to_below_the_stack() {
        let (ok, v) = holes(MAPS, 0x1800, 0x1000);
        assert!(ok);
        assert_eq!(
            v,
            vec![(0x2000, 0x5000), (0x6000, 0x9000), (0xa000, 0xff000)]
        );
    }

    #[test]
    fn without_a_stack_line_or_with_a_bad_line_the_list_is_refused() {
        assert!(!holes(b"1000-2000 r-xp 0 00:00 0\n", 0, 0).0);
        assert!(!holes(b"zz-2000 r-xp\n100000-110000 rw-p 0 0 0 [stack]\n", 0, 0).0);
    }
}
