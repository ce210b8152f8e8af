//! Write the sample bundles of `bundle::synthetic` to try the browser without a
//! run: `cargo run -p tui --release --example sample_bundle -- DIR [STACKS]`
//! writes `DIR/a` (reference), `DIR/b` (search 30% slower) and, with STACKS,
//! `DIR/big` holding a synthetic profile of that many distinct stacks.

use std::path::PathBuf;
use std::process::ExitCode;

use bundle::synthetic::{sample_folded, sample_run, synthetic_folded, write_bundle};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: sample_bundle DIR [STACKS]");
        return ExitCode::from(2);
    };
    let stacks: Option<usize> = match args.next().map(|s| s.parse()) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            eprintln!("sample_bundle: STACKS: {e}");
            return ExitCode::from(2);
        }
    };
    let folded = sample_folded();
    let mut jobs = vec![
        (dir.join("a"), sample_run(1.0), folded.clone()),
        (dir.join("b"), sample_run(1.3), folded),
    ];
    if let Some(n) = stacks {
        jobs.push((dir.join("big"), sample_run(1.0), synthetic_folded(n, 7)));
    }
    for (path, run, stacks) in jobs {
        match write_bundle(&path, &run, Some(&stacks)) {
            Ok(p) => println!("wrote {}", p.display()),
            Err(e) => {
                eprintln!("sample_bundle: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
