//! Large folded profiles for benchmarks and the demo example, the same on
//! every run.

use crate::folded::FoldedStacks;
use crate::stats::SplitMix64;

/// Folded text of `n` distinct stacks (depth 6 to 24) for benchmarks.
pub fn many_stacks(n: usize) -> String {
    let mut s = String::with_capacity(n * 120);
    for i in 0..n as u64 {
        let depth = 6 + (i % 19);
        let mut frames = Vec::with_capacity(depth as usize);
        frames.push("sentryprof".to_string());
        let mut x = i;
        for d in 1..depth {
            let kind = match d % 7 {
                5 => "_[k]",
                6 => "_[g]",
                _ => "",
            };
            frames.push(format!("fn_{}_{}{kind}", d, x % 23));
            x /= 3;
        }
        frames.push(format!("leaf_{i}"));
        s.push_str(&frames.join(";"));
        s.push(' ');
        s.push_str(&(1 + i % 97).to_string());
        s.push('\n');
    }
    s
}

/// A large profile with exactly `unique` distinct stacks: depths 4 to 40,
/// frames drawn from a vocabulary of 5,000 names with a skew towards a few
/// hot callers (as real profiles are), about 5% guest and 10% kernel frames.
pub fn synthetic_folded(unique: usize, seed: u64) -> FoldedStacks {
    let mut rng = SplitMix64::new(seed);
    let mut f = FoldedStacks::new();
    let name = |i: u64| -> String {
        match i % 20 {
            0 => format!("guest_fn_{i}_[g]"),
            1 | 2 => format!("kernel_fn_{i}_[k]"),
            _ => format!("sentry::module_{}::function_{i}", i % 37),
        }
    };
    let mut frames: Vec<String> = Vec::new();
    while f.len() < unique {
        let depth = 4 + (rng.next_u64() % 37) as usize;
        frames.clear();
        for level in 0..depth {
            // Shallow levels pick among few names, deep levels among many.
            let span = (4u64 << level.min(12)).min(5_000);
            let r = rng.next_u64();
            let pick = (r % span) * (r >> 60) / 15;
            frames.push(name(pick + level as u64 * 13));
        }
        let weight = 1 + rng.next_u64() % 50;
        f.add_joined(frames.join(";"), weight);
    }
    f
}
