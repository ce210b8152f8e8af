//! Sharing analysis over memory whose sharing is known by construction:
//! image files built here and a forked child holding a mapping filled here.
//! Every count is checked exactly.

use std::fs;
use std::path::Path;

use collectors::sharing::report::{SharingReport, SourceStatus};
use collectors::sharing::{
    analyze, Granularity, MappingKind, ScanOptions, SharingError, SourceSpec,
};

const PAGE: usize = 4096;

/// splitmix64: deterministic "random" bytes, distinct for distinct seeds.
fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Page layout: `n_pattern` copies of one pattern page, `n_zero` zero pages,
/// `n_unique` distinct random pages, interleaved.
fn layout(n_pattern: usize, n_zero: usize, n_unique: usize, seed: u64) -> Vec<u8> {
    let pattern = random_bytes(seed ^ 0xABCD, PAGE);
    let mut out = Vec::new();
    let (mut p, mut z, mut u) = (0, 0, 0);
    while p < n_pattern || z < n_zero || u < n_unique {
        if p < n_pattern {
            out.extend_from_slice(&pattern);
            p += 1;
        }
        if z < n_zero {
            out.extend(std::iter::repeat_n(0u8, PAGE));
            z += 1;
        }
        if u < n_unique {
            out.extend_from_slice(&random_bytes(seed * 1_000_003 + u as u64, PAGE));
            u += 1;
        }
    }
    out
}

fn opts(granularity: u64) -> ScanOptions {
    ScanOptions {
        granularity: Granularity::new(granularity).unwrap(),
        read_ksm: false,
        ..ScanOptions::default()
    }
}

fn run(specs: &[SourceSpec], o: &ScanOptions) -> SharingReport {
    analyze(specs, o, &mut |_| {}).unwrap()
}

fn image(dir: &Path, name: &str, bytes: &[u8]) -> SourceSpec {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    SourceSpec::Image { path }
}

/// The by-kind rows partition what was scanned.
fn check_partition(r: &SharingReport) {
    for k in &r.by_kind {
        assert_eq!(
            k.pages_scanned,
            k.zero_pages + k.unique_pages + k.first_copies + k.sharable_pages,
            "{k:?}"
        );
        assert_eq!(
            k.sharable_pages,
            k.self_sharing_pages + k.cross_sharing_pages
        );
    }
    let t = &r.totals;
    assert_eq!(
        t.sharable_pages,
        t.self_sharing_pages + t.cross_sharing_pages
    );
    assert_eq!(
        t.pages_scanned,
        t.zero_pages + t.unique_pages + t.duplicated_contents + t.sharable_pages
    );
}

#[test]
fn one_image_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let src = image(dir.path(), "a.img", &layout(7, 5, 11, 1));
    let r = run(&[src], &opts(4096));
    let t = &r.totals;
    assert_eq!(t.pages_scanned, 23);
    assert_eq!(t.zero_pages, 5);
    assert_eq!(t.unique_pages, 11);
    assert_eq!(t.sharable_pages, 6);
    assert_eq!(t.self_sharing_pages, 6);
    assert_eq!(t.cross_sharing_pages, 0);
    assert_eq!(t.duplicated_contents, 1);
    assert_eq!(t.distinct_contents, 12);
    assert_eq!(t.sharable_including_zero_pages, 6 + 4);
    assert_eq!(r.by_kind.len(), 1);
    assert_eq!(r.by_kind[0].kind, MappingKind::Image);
    assert_eq!(r.top.len(), 1);
    assert_eq!(r.top[0].copies, 7);
    assert_eq!(r.top[0].examples[0].file_offset, Some(0));
    assert_eq!(r.sources[0].status, SourceStatus::Complete);
    assert!(!r.partial);
    assert_eq!(r.confirmation.confirmed, 6);
    assert_eq!(r.confirmation.rejected, 0);
    check_partition(&r);
}

#[test]
fn two_images_split_self_and_cross() {
    let dir = tempfile::tempdir().unwrap();
    let a = random_bytes(10, PAGE);
    let b = random_bytes(11, PAGE);
    let mut one = Vec::new();
    for p in [&a, &a, &a] {
        one.extend_from_slice(p);
    }
    one.extend_from_slice(&random_bytes(12, PAGE));
    let mut two = Vec::new();
    for p in [&a, &b, &a, &b] {
        two.extend_from_slice(p);
    }
    two.extend_from_slice(&random_bytes(13, PAGE));
    let srcs = [
        image(dir.path(), "1.img", &one),
        image(dir.path(), "2.img", &two),
    ];
    // Small batches: representatives must be re-read from earlier batches.
    let o = ScanOptions {
        batch_bytes: PAGE,
        cache_limit_bytes: 0,
        ..opts(4096)
    };
    let r = run(&srcs, &o);
    let t = &r.totals;
    assert_eq!(t.pages_scanned, 9);
    assert_eq!(t.unique_pages, 2);
    // a: 5 copies over 2 sources, b: 2 copies in one source.
    assert_eq!(t.sharable_pages, 4 + 1);
    assert_eq!(t.cross_sharing_pages, 1);
    assert_eq!(t.self_sharing_pages, 2 + 1 + 1);
    assert_eq!(r.sources[0].self_sharing_pages, 2);
    assert_eq!(r.sources[1].self_sharing_pages, 2);
    assert_eq!(r.sources[1].cross_sharing_pages, 1);
    assert_eq!(r.top[0].copies, 5);
    assert_eq!(r.top[0].sources, 2);
    assert!(r.confirmation.rereads > 0);
    check_partition(&r);
    // Same totals whatever the cache and batch size.
    let r2 = run(&srcs, &opts(4096));
    assert_eq!(r2.totals, r.totals);
}

#[test]
fn finer_granularity_finds_equal_halves() {
    let dir = tempfile::tempdir().unwrap();
    let half = random_bytes(20, PAGE / 2);
    let mut page = half.clone();
    page.extend_from_slice(&half);
    let src = image(dir.path(), "halves.img", &page);
    let r = run(std::slice::from_ref(&src), &opts(4096));
    assert_eq!(r.totals.pages_scanned, 1);
    assert_eq!(r.totals.sharable_pages, 0);
    assert_eq!(r.totals.unique_pages, 1);
    let r = run(std::slice::from_ref(&src), &opts(2048));
    assert_eq!(r.granularity, 2048);
    assert_eq!(r.totals.pages_scanned, 2);
    assert_eq!(r.totals.sharable_pages, 1);
    assert_eq!(r.totals.self_sharing_pages, 1);
    assert_eq!(r.totals.unique_pages, 0);
    // At 64 bytes: 64 granules, each half's 32 granules distinct (random).
    let r = run(&[src], &opts(64));
    assert_eq!(r.totals.pages_scanned, 64);
    assert_eq!(r.totals.sharable_pages, 32);
    assert_eq!(r.totals.duplicated_contents, 32);
    check_partition(&r);
}

#[test]
fn sparse_holes_and_tails_are_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.img");
    let f = fs::File::create(&path).unwrap();
    // 16 MiB file with data only in two pages, plus a 100-byte tail.
    f.set_len(16 << 20).unwrap();
    use std::os::unix::fs::FileExt;
    let p = random_bytes(30, PAGE);
    f.write_all_at(&p, 0).unwrap();
    f.write_all_at(&p, 8 << 20).unwrap();
    f.set_len((16 << 20) + 100).unwrap();
    drop(f);
    let r = run(&[SourceSpec::Image { path }], &opts(4096));
    let s = &r.sources[0];
    assert_eq!(s.tail_bytes_skipped, 100);
    // Filesystems may allocate whole blocks around the data; at least the
    // holes far from it are skipped, and both data pages are seen.
    assert!(s.not_backed_bytes >= (15 << 20), "{s:?}");
    assert!(r.totals.sharable_pages >= 1);
    assert_eq!(r.top[0].copies, 2);
}

#[test]
fn bad_inputs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.img");
    let err = analyze(
        &[SourceSpec::Image {
            path: missing.clone(),
        }],
        &opts(4096),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(err, SharingError::Image { .. }));
    assert!(err.to_string().contains("no-such.img"), "{err}");

    let err = analyze(
        &[SourceSpec::Image {
            path: dir.path().to_path_buf(),
        }],
        &opts(4096),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );

    assert!(matches!(
        analyze(&[], &opts(4096), &mut |_| {}),
        Err(SharingError::NoSources)
    ));

    // A pid that does not exist: nothing scanned, the note names it.
    let ghost = i32::MAX - 7;
    let err = analyze(&[SourceSpec::process(ghost)], &opts(4096), &mut |_| {}).unwrap_err();
    assert!(matches!(err, SharingError::NothingScanned { .. }));
    assert!(err.to_string().contains(&ghost.to_string()), "{err}");

    // With another readable source the run goes on and says so.
    let img = image(dir.path(), "ok.img", &layout(2, 0, 1, 3));
    let r = run(&[SourceSpec::process(ghost), img], &opts(4096));
    assert_eq!(r.totals.pages_scanned, 3);
    assert!(r.notes.iter().any(|n| n.contains(&ghost.to_string())));
    assert!(r
        .sources
        .iter()
        .any(|s| s.status == SourceStatus::Failed && s.pid == Some(ghost)));
}

/// A child process (forked) that holds a copy of a mapping and sleeps until
/// killed; killed and reaped on drop, whatever the test's outcome.
struct Child {
    pid: i32,
    reaped: bool,
}

impl Child {
    fn fork_pausing() -> Child {
        // SAFETY: the child only calls async-signal-safe functions (pause,
        // _exit) before it is killed, so forking from a threaded test
        // process is sound.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            loop {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
        }
        Child { pid, reaped: false }
    }

    fn kill_and_reap(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: signalling and reaping our own child by its pid.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
        self.reaped = true;
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// An anonymous private mapping of ours, filled with `bytes`.
struct Mapping {
    addr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn filled(bytes: &[u8]) -> Mapping {
        let len = bytes.len();
        // SAFETY: a fresh anonymous mapping; no existing memory is affected.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(addr, libc::MAP_FAILED);
        // SAFETY: `addr` is a writable mapping of `len` bytes made above.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr.cast::<u8>(), len) };
        Mapping { addr, len }
    }

    fn range(&self) -> (u64, u64) {
        let a = self.addr as u64;
        (a, a + self.len as u64)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in `filled`.
        unsafe { libc::munmap(self.addr, self.len) };
    }
}

#[test]
fn live_child_exact_counts_then_cross_with_parent() {
    let m = Mapping::filled(&layout(9, 4, 6, 40));
    let mut child = Child::fork_pausing();
    let range = Some(m.range());
    let child_src = SourceSpec::Process {
        pid: child.pid,
        range,
    };
    let r = run(std::slice::from_ref(&child_src), &opts(4096));
    let t = &r.totals;
    assert_eq!(t.pages_scanned, 19, "{}", r.render_text());
    assert_eq!(t.zero_pages, 4);
    assert_eq!(t.unique_pages, 6);
    assert_eq!(t.sharable_pages, 8);
    assert_eq!(t.self_sharing_pages, 8);
    assert_eq!(t.cross_sharing_pages, 0);
    assert_eq!(r.by_kind.len(), 1);
    assert_eq!(r.by_kind[0].kind, MappingKind::Anonymous);
    assert_eq!(r.sources[0].status, SourceStatus::Complete);
    assert!(r.top[0].examples[0].address.is_some());

    // The child and this process hold the same contents: each content of
    // the second source is a cross copy once, then self copies.
    let me = SourceSpec::Process {
        pid: std::process::id() as i32,
        range,
    };
    let r = run(&[child_src, me], &opts(4096));
    let t = &r.totals;
    assert_eq!(t.pages_scanned, 38);
    assert_eq!(t.zero_pages, 8);
    assert_eq!(t.unique_pages, 0);
    assert_eq!(t.cross_sharing_pages, 1 + 6);
    assert_eq!(t.self_sharing_pages, 8 + 8);
    assert_eq!(t.sharable_pages, 8 + 1 + 6 + 8);
    check_partition(&r);
    child.kill_and_reap();
}

#[test]
fn process_exiting_mid_scan_gives_partial_counts() {
    // 8 MiB of distinct pages: several 1 MiB batches.
    let m = Mapping::filled(&layout(0, 0, 2048, 50));
    let mut child = Child::fork_pausing();
    let src = SourceSpec::Process {
        pid: child.pid,
        range: Some(m.range()),
    };
    let mut batches = 0;
    let r = analyze(std::slice::from_ref(&src), &opts(4096), &mut |_| {
        batches += 1;
        if batches == 2 {
            child.kill_and_reap();
        }
    })
    .unwrap();
    assert!(r.partial);
    assert_eq!(r.sources[0].status, SourceStatus::Partial);
    let scanned = r.totals.pages_scanned;
    assert!((256..2048).contains(&scanned), "{scanned}");
    assert_eq!(r.totals.unique_pages, scanned);
    assert!(r.notes.iter().any(|n| n.contains("exited")));
    // Once it is gone, scanning it is "nothing scanned".
    assert!(matches!(
        analyze(&[src], &opts(4096), &mut |_| {}),
        Err(SharingError::NothingScanned { .. })
    ));
}
