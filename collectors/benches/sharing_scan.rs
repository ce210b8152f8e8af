//! Scan speed and memory use of the sharing analysis over a live process.
//!
//! A forked child maps and fills `--gib` GiB (default 2) of anonymous memory
//! with a mix of repeated and unique pages, then sleeps; the bench scans it
//! (`collectors::sharing::analyze` on its pid) `--trials` times (default 5)
//! and prints the median bytes/s, and the scanner's peak RSS growth (VmHWM,
//! reset through /proc/self/clear_refs before each trial). Two mixes:
//! mostly duplicate (90% copies of 16 patterns) and mostly unique (90%
//! distinct pages), to show memory grows with distinct pages, not bytes;
//! and a pair of processes holding the same mostly-unique GiB (a child and
//! its fork), where every page of the second is confirmed against the first
//! through batched re-reads.
//!
//! Run: `cargo bench -p collectors --bench sharing_scan [-- --gib 2 --trials 5 --mix duplicate|unique|cross --batch-kib 1024]`

use std::io::Read;
use std::os::fd::FromRawFd;

use collectors::sharing::{analyze, ScanOptions, SourceSpec};

const PAGE: usize = 4096;
const PATTERNS: u64 = 16;

/// Mix of a filled region.
#[derive(Clone, Copy)]
enum Mix {
    MostlyDuplicate,
    MostlyUnique,
    /// Mostly unique, held by two processes (a child and its fork): the
    /// second is all cross sharing, each copy confirmed against the first.
    CrossPair,
}

impl Mix {
    fn name(self) -> &'static str {
        match self {
            Mix::MostlyDuplicate => "mostly duplicate (90% copies of 16 patterns)",
            Mix::MostlyUnique => "mostly unique (90% distinct pages)",
            Mix::CrossPair => "two processes, same mostly-unique contents (half the size each)",
        }
    }

    /// Whether page `i` is unique (else a copy of pattern `i % 16`).
    fn unique(self, i: u64) -> bool {
        match self {
            Mix::MostlyDuplicate => i % 10 == 0,
            Mix::MostlyUnique | Mix::CrossPair => i % 10 != 0,
        }
    }
}

/// Fill one page with xorshift output from `seed`.
fn fill_page(page: &mut [u8], seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for chunk in page.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
}

/// The child: map and fill `bytes`, tell the parent on `ready_fd`, sleep.
fn child_main(bytes: usize, mix: Mix, ready_fd: i32) -> ! {
    // SAFETY: a fresh anonymous mapping in this (single-threaded) child.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            bytes,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        // SAFETY: leaving the child without running the parent's destructors.
        unsafe { libc::_exit(1) };
    }
    // SAFETY: `addr` is a writable mapping of `bytes` bytes made above and
    // nothing else refers to it.
    let mem = unsafe { std::slice::from_raw_parts_mut(addr.cast::<u8>(), bytes) };
    let mut patterns = vec![0u8; PAGE * PATTERNS as usize];
    for (p, page) in patterns.chunks_exact_mut(PAGE).enumerate() {
        fill_page(page, 1_000_000_007 + p as u64);
    }
    for (i, page) in mem.chunks_exact_mut(PAGE).enumerate() {
        let i = i as u64;
        if mix.unique(i) {
            fill_page(page, i + 1);
        } else {
            let p = (i % PATTERNS) as usize;
            page.copy_from_slice(&patterns[p * PAGE..(p + 1) * PAGE]);
        }
    }
    let mut twin: i32 = 0;
    if let Mix::CrossPair = mix {
        // SAFETY: this child is single-threaded; the twin only pauses.
        twin = unsafe { libc::fork() };
        if twin == 0 {
            loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
        }
    }
    let msg = twin.to_ne_bytes();
    // SAFETY: writing 4 bytes from a local to the pipe we were given.
    unsafe { libc::write(ready_fd, msg.as_ptr().cast(), msg.len()) };
    loop {
        // SAFETY: pause has no preconditions.
        unsafe { libc::pause() };
    }
}

/// VmHWM of this process in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn current_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the rusage we pass, zero-initialised above.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn bench_mix(bytes: usize, mix: Mix, trials: usize, batch_bytes: usize) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!("SKIP: pipe failed");
        return;
    }
    // SAFETY: this bench is single-threaded here, so the child may allocate
    // and run ordinary code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("SKIP: fork failed");
        return;
    }
    if pid == 0 {
        child_main(bytes, mix, fds[1]);
    }
    // SAFETY: closing our copy of the write end, which we own.
    unsafe { libc::close(fds[1]) };
    // SAFETY: the read end is ours and owned by the File from now on.
    let mut ready = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut b = [0u8; 4];
    if ready.read_exact(&mut b).is_err() {
        eprintln!("SKIP: the child could not map {} MiB", bytes >> 20);
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        return;
    }
    let twin = i32::from_ne_bytes(b);
    let mut specs = vec![SourceSpec::process(pid)];
    if twin > 0 {
        specs.push(SourceSpec::process(twin));
    }
    let opts = ScanOptions {
        read_ksm: false,
        batch_bytes,
        ..ScanOptions::default()
    };
    let mut rates = Vec::new();
    let mut peaks = Vec::new();
    let mut cpu_rates = Vec::new();
    let mut first_peak = 0.0;
    let mut last = None;
    for trial in 0..=trials {
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let base = current_rss();
        let cpu0 = cpu_seconds();
        let r = analyze(&specs, &opts, &mut |_| {});
        let peak = peak_rss();
        let cpu = cpu_seconds() - cpu0;
        match r {
            Ok(r) => {
                if trial == 0 {
                    // The first scan of a fresh process: its growth is not
                    // hidden by memory the allocator kept from earlier scans.
                    first_peak = peak.saturating_sub(base) as f64;
                } else {
                    // Trial 0 is a warm-up.
                    rates.push(r.scan.bytes_per_second);
                    if cpu > 0.0 {
                        cpu_rates.push(r.scan.bytes_scanned as f64 / cpu);
                    }
                    peaks.push(peak.saturating_sub(base) as f64);
                }
                last = Some(r);
            }
            Err(e) => {
                eprintln!("scan failed: {e}");
                break;
            }
        }
    }
    // SAFETY: killing the twin (reaped by init once its parent dies), then
    // killing and reaping our own child.
    unsafe {
        if twin > 0 {
            libc::kill(twin, libc::SIGKILL);
        }
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    let Some(r) = last else { return };
    let gib = (1u64 << 30) as f64;
    let mib = (1u64 << 20) as f64;
    let all_rates = rates.clone();
    println!("{}:", mix.name());
    println!(
        "  scanned {:.2} GiB per trial ({} pages: zero {}, unique {}, sharable {}; {} distinct contents)",
        r.scan.bytes_scanned as f64 / gib,
        r.totals.pages_scanned,
        r.totals.zero_pages,
        r.totals.unique_pages,
        r.totals.sharable_pages,
        r.totals.distinct_contents
    );
    println!(
        "  cross sharing {} pages; re-reads {} in {} batches",
        r.totals.cross_sharing_pages, r.confirmation.rereads, r.confirmation.reread_batches
    );
    println!(
        "  scan rate median {:.2} GiB/s over {} trials (after 1 warm-up): {:?}",
        median(&mut rates) / gib,
        all_rates.len(),
        all_rates
            .iter()
            .map(|x| format!("{:.2}", x / gib))
            .collect::<Vec<_>>()
    );
    println!(
        "  per CPU second (user+sys of the scanner, immune to other jobs' load): median {:.2} GiB/s",
        median(&mut cpu_rates) / gib
    );
    println!(
        "  scanner peak RSS growth {:.1} MiB on the first scan of a fresh process, median {:.1} MiB on later ones (table: {} entries, {:.1} MiB; cache {:.1} MiB; re-reads {})",
        first_peak / mib,
        median(&mut peaks) / mib,
        r.confirmation.table_entries,
        r.confirmation.table_bytes as f64 / mib,
        r.confirmation.cache_bytes as f64 / mib,
        r.confirmation.rereads
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let gib = value("--gib", 2);
    let trials = value("--trials", 5).max(1);
    let bytes = gib << 30;
    let batch = value("--batch-kib", ScanOptions::default().batch_bytes >> 10) << 10;
    if args.iter().all(|a| a != "--mix") {
        println!(
            "sharing scan bench: {gib} GiB child, {trials} trials per mix, batch {} KiB (2 shared cores: expect noise)",
            batch >> 10
        );
    }
    let only = args
        .iter()
        .position(|a| a == "--mix")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let Some(only) = only else {
        // Each mix in a fresh process, so its peak RSS is its own.
        for mix in ["duplicate", "unique", "cross"] {
            let status = std::env::current_exe().and_then(|exe| {
                std::process::Command::new(exe)
                    .args(["--mix", mix, "--gib", &gib.to_string()])
                    .args(["--trials", &trials.to_string()])
                    .args(["--batch-kib", &(batch >> 10).to_string()])
                    .status()
            });
            if let Err(e) = status {
                eprintln!("SKIP: cannot re-run the bench for {mix}: {e}");
            }
        }
        return;
    };
    let (mix, size) = match only.as_str() {
        "duplicate" => (Mix::MostlyDuplicate, bytes),
        "unique" => (Mix::MostlyUnique, bytes),
        "cross" => (Mix::CrossPair, bytes / 2),
        other => {
            eprintln!("--mix {other:?}: expected duplicate, unique or cross");
            std::process::exit(2);
        }
    };
    bench_mix(size, mix, trials, batch);
}
