//! A stub killed with SIGKILL mid-trial (an mmap loop, then a trace
//! replay): the point fails naming the
//! platform and the signal, the runner runs the next point, and no zombie
//! is left. One test in its own binary, so the killer thread finds only
//! this test's stubs among our children.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use instrumented_sentry::platform::trap::Mechanism;
use instrumented_sentry::runners::inproc::InprocOptions;
use instrumented_sentry::runners::trap::TrapRunner;
use instrumented_sentry::runners::{PlatformRunner, PointError};
use instrumented_sentry::segment::GapSearch;
use instrumented_sentry::workload::spec::Mapping;
use instrumented_sentry::workload::trace::parse_trace;
use instrumented_sentry::workload::{PointSpec, PointWork, WorkloadKind};

fn spec(iterations: u64) -> PointSpec {
    PointSpec::exp1(Mapping::Private, true, iterations, 4096)
}

/// Our children (pid, state) from /proc.
fn children() -> Vec<(i32, char)> {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut rest = stat.rsplit(')').next()?.split_whitespace();
        let state = rest.next()?.chars().next()?;
        (rest.next()? == me).then_some((pid, state))
    })
    .collect()
}

/// Kills the first child that appears, after `delay`; returns its pid.
fn kill_first_child(delay: Duration) -> std::thread::JoinHandle<Option<i32>> {
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(&(pid, _)) = children().first() {
                std::thread::sleep(delay);
                // SAFETY: kill with the pid of a child of this process.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                return Some(pid);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    })
}

#[test]
fn sigkill_mid_trial_fails_the_point_and_leaves_no_zombie() {
    for mech in [Mechanism::Ptrace, Mechanism::Systrap] {
        let mut r = TrapRunner::new(mech, GapSearch::MaxGap, InprocOptions::default());
        let big = spec(1 << 21);
        match r.check_point(&big) {
            Ok(()) => {}
            Err(PointError::Unsupported(why)) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP: {} unavailable here: {why}",
                    mech.name()
                );
                continue;
            }
            Err(e) => panic!("{e}"),
        }
        assert!(children().is_empty(), "the check's stub was reaped");
        let killer = kill_first_child(Duration::from_millis(100));
        let e = r.run_trial(&big).expect_err("killed stub");
        let pid = killer.join().expect("killer").expect("a stub to kill");
        let msg = e.to_string();
        assert!(matches!(e, PointError::Failed(_)), "{msg}");
        assert!(
            msg.starts_with(mech.name()) && msg.contains("SIGKILL"),
            "{msg}"
        );
        let _ = writeln!(std::io::stderr(), "killed mid-trial: {msg}");
        assert!(
            children().is_empty(),
            "stub {pid} left behind: {:?}",
            children()
        );
        // The runner still works.
        let out = r.run_trial(&spec(100)).expect("next point");
        assert_eq!(out.calls, 100);
        assert!(children().is_empty());

        // The same mid-replay: a trace of 100,000 mmap + munmap pairs.
        let replay = replay_spec(100_000);
        r.check_point(&replay).expect("replay check");
        assert!(children().is_empty());
        let killer = kill_first_child(Duration::from_millis(100));
        let e = r.run_trial(&replay).expect_err("killed replay stub");
        killer
            .join()
            .expect("killer")
            .expect("a replay stub to kill");
        let msg = e.to_string();
        assert!(matches!(e, PointError::Failed(_)), "{msg}");
        assert!(
            msg.starts_with(mech.name()) && msg.contains("SIGKILL"),
            "{msg}"
        );
        let _ = writeln!(std::io::stderr(), "killed mid-replay: {msg}");
        assert!(children().is_empty(), "{:?}", children());
        let out = r.run_trial(&replay_spec(10)).expect("next replay");
        assert_eq!(out.calls, 20);
        assert!(children().is_empty());
    }
}

/// A replay of `pairs` anonymous 4 KiB mmaps, each unmapped at once.
fn replay_spec(pairs: u64) -> PointSpec {
    let mut text = String::new();
    for i in 0..pairs {
        let a = 0x7f00_0000_0000u64 + i * 4096;
        text.push_str(&format!(
            "mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = {a:#x}\nmunmap({a:#x}, 4096) = 0\n"
        ));
    }
    let trace = parse_trace("kill.trace", &text).expect("parse");
    PointSpec {
        workload: WorkloadKind::Replay,
        work: PointWork::Replay {
            trace: Arc::new(trace),
        },
        touch: false,
        iterations: 1,
        size: 0,
    }
}
