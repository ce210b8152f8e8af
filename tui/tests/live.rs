//! The live view of `sentryprof run --tui`: its state under the run's
//! events, its drawing into a `TestBackend`, and its loop driven by a
//! scripted run and scripted keys (no terminal).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::Duration;

use bundle::synthetic::sample_point;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use tui::app::EventSource;
use tui::live::{run_live, LiveCommand, LiveEvent, LiveState, PointStatus};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

/// The run of three points: one measured, one failed, one running.
fn events() -> Vec<LiveEvent> {
    let p0 = sample_point("inproc", Some("linear"), 4000, 1.0);
    vec![
        LiveEvent::RunStarted {
            total_points: 3,
            trials: 3,
            warmup_trials: 1,
        },
        LiveEvent::PointStarted {
            index: 0,
            label: p0.label(),
        },
        LiveEvent::Trial {
            index: 0,
            warmup: true,
            trial: 0,
            of: 1,
        },
        LiveEvent::TrialDone {
            index: 0,
            warmup: true,
            trial: 0,
            latency_ns: Some(50_000.0),
        },
        LiveEvent::TrialDone {
            index: 0,
            warmup: false,
            trial: 0,
            latency_ns: Some(9_000.0),
        },
        LiveEvent::TrialDone {
            index: 0,
            warmup: false,
            trial: 1,
            latency_ns: Some(9_400.0),
        },
        LiveEvent::PointFinished {
            index: 0,
            point: Box::new(p0),
        },
        LiveEvent::PointStarted {
            index: 1,
            label: "exp1 kvm/linear private 4096B x4000 notouch".into(),
        },
        LiveEvent::PointFailed {
            index: 1,
            error: "no /dev/kvm".into(),
        },
        LiveEvent::PointStarted {
            index: 2,
            label: "exp1 native/- private 4096B x4000 notouch".into(),
        },
        LiveEvent::Trial {
            index: 2,
            warmup: false,
            trial: 1,
            of: 3,
        },
    ]
}

#[test]
fn state_follows_the_run() {
    let mut s = LiveState::new();
    for e in events() {
        s.apply(e);
    }
    assert_eq!(s.points.len(), 3);
    assert_eq!(s.done_count(), 2);
    assert_eq!(s.points[0].status, PointStatus::Done);
    assert_eq!(
        s.points[0].trial_latencies,
        vec![9_000.0, 9_400.0],
        "warm-up left out"
    );
    assert!(matches!(s.points[1].status, PointStatus::Failed(_)));
    assert_eq!(
        s.points[2].status,
        PointStatus::Running {
            warmup: false,
            trial: 1,
            of: 3
        }
    );
    assert_eq!(
        s.selected,
        Some(0),
        "the table shows the newest measured point"
    );
    // q during the run asks it to stop, once; after the run, q quits and
    // Enter browses the bundle.
    assert_eq!(s.key(key('q')), Some(LiveCommand::StopRun));
    assert_eq!(s.key(key('q')), None);
    s.apply(LiveEvent::Finished {
        bundle: Some("/tmp/b".into()),
        summary: "interrupted".into(),
    });
    assert_eq!(
        s.key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        Some(LiveCommand::Browse("/tmp/b".into()))
    );
    assert_eq!(s.key(key('q')), Some(LiveCommand::Quit));
}

#[test]
fn drawing_shows_points_trials_and_the_cycle_table() {
    let mut s = LiveState::new();
    for e in events() {
        s.apply(e);
    }
    let mut terminal = Terminal::new(TestBackend::new(160, 20)).unwrap();
    terminal.draw(|f| tui::live::draw(f, &s)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let text: String = (0..buf.area.height)
        .map(|y| {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
            line.trim_end().to_string() + "\n"
        })
        .collect();
    assert!(text.contains("2/3 points"), "{text}");
    assert!(
        text.contains("✓ exp1 inproc/linear private 4096B x4000 notouch"),
        "{text}"
    );
    assert!(text.contains("median so far 9.2µs"), "{text}");
    assert!(text.contains("✗ exp1 kvm/linear"), "{text}");
    assert!(text.contains("no /dev/kvm"), "{text}");
    assert!(text.contains("trial 2/3"), "{text}");
    assert!(
        text.contains("find_available"),
        "cycle table of the measured point: {text}"
    );
}

/// Keys from a script; an error once the script is long over, so a loop
/// that never ends fails the test instead of hanging it.
struct Script {
    keys: VecDeque<Event>,
    idle: usize,
}

impl EventSource for Script {
    fn next(&mut self, _timeout: Duration) -> io::Result<Option<Event>> {
        match self.keys.pop_front() {
            Some(e) => Ok(Some(e)),
            None => {
                self.idle += 1;
                if self.idle > 1000 {
                    Err(io::Error::other("script exhausted"))
                } else {
                    Ok(None)
                }
            }
        }
    }
}

#[test]
fn loop_stops_the_run_on_q_and_quits_after_it() {
    let (tx, rx) = channel();
    for e in events() {
        tx.send(e).unwrap();
    }
    let stops = Arc::new(AtomicUsize::new(0));
    let stop = {
        let stops = stops.clone();
        let tx = tx.clone();
        move || {
            stops.fetch_add(1, Ordering::SeqCst);
            // The run notices and ends without a bundle.
            let _ = tx.send(LiveEvent::Finished {
                bundle: None,
                summary: "interrupted; no bundle written".into(),
            });
        }
    };
    let mut script = Script {
        keys: [key('q'), key('j'), key('q')]
            .into_iter()
            .map(Event::Key)
            .collect(),
        idle: 0,
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    run_live(
        &mut terminal,
        &mut script,
        &rx,
        &stop,
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(stops.load(Ordering::SeqCst), 1);
    drop(tx);
}

#[test]
fn loop_ends_when_the_run_goes_away() {
    let (tx, rx) = channel();
    for e in events() {
        tx.send(e).unwrap();
    }
    drop(tx);
    let mut script = Script {
        keys: VecDeque::new(),
        idle: 0,
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    run_live(
        &mut terminal,
        &mut script,
        &rx,
        &|| {},
        &AtomicBool::new(false),
    )
    .unwrap();
}

#[test]
fn loop_closes_at_once_when_told() {
    let (tx, rx) = channel::<LiveEvent>();
    let mut script = Script {
        keys: VecDeque::new(),
        idle: 0,
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    // The run is still connected (tx alive) but failed: close wins.
    run_live(
        &mut terminal,
        &mut script,
        &rx,
        &|| {},
        &AtomicBool::new(true),
    )
    .unwrap();
    drop(tx);
}
