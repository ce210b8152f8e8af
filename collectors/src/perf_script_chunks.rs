//! `perf script` text cut into chunks of whole events, and those chunks
//! folded on several threads. A chunk ends just after a blank line (only
//! ASCII white space), where every event has ended, so each chunk folds
//! the same whatever came before it; each carries the number of lines
//! before it, so errors and notes name lines of the whole input. Memory
//! holds a few chunks at a time, not the input.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Mutex;

/// Bytes read for one chunk (more when one event is longer).
pub(crate) const CHUNK_BYTES: usize = 64 << 10;

/// The chunks of a reader's text.
pub(crate) struct EventChunks<R> {
    reader: R,
    /// Text read and not yet handed out: `buf[..filled]`, starting at the
    /// beginning of a line.
    buf: Vec<u8>,
    filled: usize,
    /// Lines before `buf`.
    lines_before: usize,
    eof: bool,
    /// Buffers handed back, to be filled again.
    spare: Vec<Vec<u8>>,
}

/// A chunk: whole events (the last chunk may end in the middle of one, at
/// the end of the input) and the number of lines before it.
pub(crate) struct Chunk {
    pub(crate) text: Vec<u8>,
    pub(crate) lines_before: usize,
}

impl<R: Read> EventChunks<R> {
    pub(crate) fn new(reader: R) -> Self {
        EventChunks {
            reader,
            buf: vec![0; CHUNK_BYTES],
            filled: 0,
            lines_before: 0,
            eof: false,
            spare: Vec::new(),
        }
    }

    /// The next chunk; `None` at the end of the input.
    pub(crate) fn next_chunk(&mut self) -> std::io::Result<Option<Chunk>> {
        let mut searched = 0;
        loop {
            if !self.eof && self.filled < self.buf.len() {
                self.fill()?;
            }
            if self.eof {
                if self.filled == 0 {
                    return Ok(None);
                }
                return Ok(Some(self.hand_out(self.filled)));
            }
            if let Some(cut) = last_blank_line_end(&self.buf[searched..self.filled]) {
                return Ok(Some(self.hand_out(searched + cut)));
            }
            // One event longer than the buffer: read on.
            searched = self.filled;
            while searched > 0 && self.buf[searched - 1] != b'\n' {
                searched -= 1;
            }
            let len = self.buf.len();
            self.buf.resize(len * 2, 0);
        }
    }

    /// Give back a chunk's buffer once folded.
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 8 {
            self.spare.push(buf);
        }
    }

    /// Read until the buffer is full or the input ends.
    fn fill(&mut self) -> std::io::Result<()> {
        while self.filled < self.buf.len() {
            match self.reader.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Hand out `buf[..cut]`, keeping the rest for the next chunk.
    fn hand_out(&mut self, cut: usize) -> Chunk {
        let mut next = self.spare.pop().unwrap_or_default();
        next.clear();
        next.resize(self.buf.len().max(CHUNK_BYTES), 0);
        let rest = self.filled - cut;
        next[..rest].copy_from_slice(&self.buf[cut..self.filled]);
        let mut text = std::mem::replace(&mut self.buf, next);
        text.truncate(cut);
        self.filled = rest;
        let lines_before = self.lines_before;
        self.lines_before += text.iter().filter(|&&b| b == b'\n').count();
        Chunk { text, lines_before }
    }
}

/// Index just after the last blank line (only ASCII white space) that ends
/// in `text`, when there is one.
fn last_blank_line_end(text: &[u8]) -> Option<usize> {
    let mut end = text.len();
    while let Some(nl) = memchr::memrchr(b'\n', &text[..end]) {
        let start = memchr::memrchr(b'\n', &text[..nl]).map_or(0, |i| i + 1);
        let line = &text[start..nl];
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Some(nl + 1);
        }
        end = nl;
    }
    None
}

/// Fold every chunk of `chunks` on `workers` threads: each thread makes
/// its state with `make` and folds the chunks it takes with `fold`; the
/// states in thread order. `None` when a fold failed (`fold` returned
/// false): folding stops early and the caller says why (by folding the
/// input again in order, which meets the first failure).
pub(crate) fn fold_in_parallel<R, S, M, F>(
    chunks: &mut EventChunks<R>,
    workers: usize,
    make: M,
    fold: F,
) -> std::io::Result<Option<Vec<S>>>
where
    R: Read,
    S: Send,
    M: Fn() -> S + Sync,
    F: Fn(&mut S, &Chunk) -> bool + Sync,
{
    let failed = AtomicBool::new(false);
    // Bounded: the reader waits while every worker is busy and `workers`
    // chunks wait, so memory holds about 2 × workers + 1 chunks.
    let (to_workers, from_reader) = mpsc::sync_channel::<Chunk>(workers);
    let from_reader = Mutex::new(from_reader);
    let (give_back, given_back) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let give_back = give_back.clone();
                let (from_reader, failed, make, fold) = (&from_reader, &failed, &make, &fold);
                scope.spawn(move || {
                    let mut state = make();
                    loop {
                        let chunk = match from_reader.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(chunk) = chunk else { break };
                        // After a failure, chunks are only drained.
                        if !failed.load(Ordering::Relaxed) && !fold(&mut state, &chunk) {
                            failed.store(true, Ordering::Relaxed);
                        }
                        let _ = give_back.send(chunk.text);
                    }
                    state
                })
            })
            .collect();
        drop(give_back);
        let read = (|| -> std::io::Result<()> {
            while !failed.load(Ordering::Relaxed) {
                let Some(chunk) = chunks.next_chunk()? else {
                    break;
                };
                if to_workers.send(chunk).is_err() {
                    break;
                }
                while let Ok(buf) = given_back.try_recv() {
                    chunks.recycle(buf);
                }
            }
            Ok(())
        })();
        drop(to_workers);
        let states: Vec<S> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
        read?;
        if failed.load(Ordering::Relaxed) || states.len() != workers {
            return Ok(None);
        }
        Ok(Some(states))
    })
}
