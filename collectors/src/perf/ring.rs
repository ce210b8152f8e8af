//! Draining a perf ring buffer: whole records are copied out (records that
//! wrap around the end of the data area are reassembled), then the tail is
//! handed back to the kernel.

use super::records::{parse_record, Record};
use super::sys::RingBuffer;

/// Reads records from one [`RingBuffer`].
#[derive(Debug)]
pub struct RingReader {
    ring: RingBuffer,
    scratch: Vec<u8>,
    /// Records found malformed (size field too small or too large); the
    /// rest of the buffer was skipped when that happened.
    pub corrupt: u64,
}

impl RingReader {
    pub fn new(ring: RingBuffer) -> Self {
        RingReader {
            ring,
            scratch: Vec::with_capacity(4096),
            corrupt: 0,
        }
    }

    /// Decode every record the kernel has written since the last call and
    /// pass each to `sink`, in order.
    ///
    /// Postconditions: the tail equals the head read at the start, so the
    /// kernel may reuse all the space read.
    pub fn drain(&mut self, sink: impl FnMut(Record)) {
        self.drain_keeping(true, sink)
    }

    /// [`Self::drain`], but with `samples` false the SAMPLE records are
    /// skipped without being copied out or decoded (their stack copies are
    /// the bulk of the buffer); the other records are passed on.
    pub fn drain_keeping(&mut self, samples: bool, mut sink: impl FnMut(Record)) {
        let head = self.ring.head();
        let mut tail = self.ring.tail();
        let mut header = [0u8; 8];
        while tail < head {
            if head - tail < 8 {
                self.corrupt += 1;
                break;
            }
            self.ring.copy_out(tail, &mut header);
            let size = u16::from_ne_bytes([header[6], header[7]]) as u64;
            if size < 8 || size > head - tail || size as usize > self.ring.data_size() {
                self.corrupt += 1;
                break;
            }
            let ty = u32::from_ne_bytes([header[0], header[1], header[2], header[3]]);
            if !samples && ty == perf_event_open_sys::bindings::PERF_RECORD_SAMPLE {
                tail += size;
                continue;
            }
            self.scratch.resize(size as usize, 0);
            self.ring.copy_out(tail, &mut self.scratch);
            sink(parse_record(&self.scratch));
            tail += size;
        }
        self.ring.set_tail(head);
    }
}
