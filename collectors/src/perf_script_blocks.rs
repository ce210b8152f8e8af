//! `perf script` text read in blocks of whole lines, into one buffer used
//! again for every block: memory holds a block, not the input.

use std::io::Read;

/// Bytes read for one block (more when one line is longer).
const BLOCK_BYTES: usize = 64 << 10;

/// The blocks of whole lines of a reader's text.
pub(crate) struct LineBlocks<R> {
    reader: R,
    /// `buf[start..filled]`: text read and not yet handed out, from the
    /// beginning of a line.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    eof: bool,
}

impl<R: Read> LineBlocks<R> {
    pub(crate) fn new(reader: R) -> Self {
        LineBlocks {
            reader,
            buf: vec![0; BLOCK_BYTES],
            start: 0,
            filled: 0,
            eof: false,
        }
    }

    /// The next block: lines each ended by a newline, except the input's
    /// last line when it has none; `None` at the end of the input.
    pub(crate) fn next_block(&mut self) -> std::io::Result<Option<&[u8]>> {
        // The line left unfinished by the last block goes to the front.
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.start = 0;
        let mut searched = 0;
        loop {
            if self.eof {
                if self.filled == 0 {
                    return Ok(None);
                }
                self.start = self.filled;
                return Ok(Some(&self.buf[..self.filled]));
            }
            if self.filled == self.buf.len() {
                // One line longer than the buffer.
                let len = self.buf.len();
                self.buf.resize(len * 2, 0);
            }
            self.fill()?;
            if let Some(i) = memchr::memrchr(b'\n', &self.buf[searched..self.filled]) {
                self.start = searched + i + 1;
                return Ok(Some(&self.buf[..self.start]));
            }
            searched = self.filled;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out at most 3 bytes per read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(3);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn blocks(text: &[u8]) -> Vec<Vec<u8>> {
        let mut b = LineBlocks::new(Trickle(text));
        let mut out = Vec::new();
        while let Some(block) = b.next_block().unwrap() {
            out.push(block.to_vec());
        }
        out
    }

    #[test]
    fn blocks_are_whole_lines_and_cover_the_input() {
        let mut text = Vec::new();
        for i in 0..20_000 {
            text.extend_from_slice(format!("line {i}\n").as_bytes());
        }
        // A line longer than the buffer, and a last line without newline.
        text.extend(std::iter::repeat_n(b'x', 3 * BLOCK_BYTES));
        text.extend_from_slice(b"\nlast");
        let got = blocks(&text);
        assert!(got.len() > 2);
        for b in &got[..got.len() - 1] {
            assert_eq!(b.last(), Some(&b'\n'));
        }
        assert_eq!(got.last().map(|b| b.as_slice()), Some(&b"last"[..]));
        assert_eq!(got.concat(), text);
        assert!(blocks(b"").is_empty());
    }
}
