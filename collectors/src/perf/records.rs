//! Parsing of the records the kernel writes into a perf ring buffer, for
//! events opened with [`super::sys::SAMPLE_TYPE`] and `sample_id_all`
//! (so every non-sample record ends with pid, tid and time).

use perf_event_open_sys::bindings as b;

/// Where the CPU was when a sample was taken (`misc & CPUMODE_MASK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CpuMode {
    Unknown,
    Kernel,
    User,
    Hypervisor,
    GuestKernel,
    GuestUser,
}

impl CpuMode {
    /// Decode the cpumode bits of a record's `misc` field.
    pub fn from_misc(misc: u16) -> Self {
        match u32::from(misc) & b::PERF_RECORD_MISC_CPUMODE_MASK {
            b::PERF_RECORD_MISC_KERNEL => CpuMode::Kernel,
            b::PERF_RECORD_MISC_USER => CpuMode::User,
            b::PERF_RECORD_MISC_HYPERVISOR => CpuMode::Hypervisor,
            b::PERF_RECORD_MISC_GUEST_KERNEL => CpuMode::GuestKernel,
            b::PERF_RECORD_MISC_GUEST_USER => CpuMode::GuestUser,
            _ => CpuMode::Unknown,
        }
    }

    /// Taken while a vCPU ran guest code.
    pub fn is_guest(self) -> bool {
        matches!(self, CpuMode::GuestKernel | CpuMode::GuestUser)
    }
}

/// One sample, as read from the ring buffer (addresses not symbolized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub mode: CpuMode,
    pub ip: u64,
    pub pid: u32,
    pub tid: u32,
    pub time: u64,
    /// Weight: events (cycles, or ns of cpu-clock) this sample stands for.
    pub period: u64,
    /// Call chain, leaf first, with the kernel's `PERF_CONTEXT_*` markers.
    pub callchain: Vec<u64>,
    /// User registers and stack copy, where the task had a user context
    /// (taken out once the chain is unwound: see `crate::symbolize::unwind`).
    pub user_stack: Option<Box<UserStack>>,
}

/// The user registers and the copy of the user stack a sample carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStack {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
    /// The stack from `sp` up (only the part the kernel filled).
    pub bytes: Vec<u8>,
}

/// A new mapping of a task (PERF_RECORD_MMAP2 or MMAP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mmap {
    pub pid: u32,
    pub tid: u32,
    pub start: u64,
    pub len: u64,
    pub pgoff: u64,
    /// `PROT_*` bits (MMAP2 only; MMAP records get PROT_EXEC when not data).
    pub prot: u32,
    pub filename: String,
    /// Time stamp from the `sample_id_all` trailer (0 when absent).
    pub time: u64,
}

/// A task changed its name (PERF_RECORD_COMM); `exec` when due to execve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comm {
    pub pid: u32,
    pub tid: u32,
    pub name: String,
    pub exec: bool,
    /// Time stamp from the `sample_id_all` trailer (0 when absent).
    pub time: u64,
}

/// A task was created (PERF_RECORD_FORK).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fork {
    pub pid: u32,
    pub ppid: u32,
    pub tid: u32,
    pub ptid: u32,
    /// Time of the fork.
    pub time: u64,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Sample(Sample),
    Mmap(Mmap),
    Comm(Comm),
    Fork(Fork),
    /// A task ended (PERF_RECORD_EXIT, laid out as a fork record).
    Exit(Fork),
    /// PERF_RECORD_LOST: records dropped because the buffer was full.
    Lost(u64),
    /// PERF_RECORD_LOST_SAMPLES: samples dropped (e.g. by the PMU driver).
    LostSamples(u64),
    /// A record of another type, or one too short to decode.
    Other(u32),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u32(&mut self) -> Option<u32> {
        let b = self.buf.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_ne_bytes(b.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.buf.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_ne_bytes(b.try_into().ok()?))
    }
    fn skip(&mut self, n: usize) -> Option<()> {
        if self.pos + n > self.buf.len() {
            return None;
        }
        self.pos += n;
        Some(())
    }
    fn cstr(&mut self) -> String {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        String::from_utf8_lossy(&rest[..end]).into_owned()
    }
}

/// The body of a FORK or EXIT record.
fn parse_task(c: &mut Cursor<'_>) -> Option<Fork> {
    Some(Fork {
        pid: c.u32()?,
        ppid: c.u32()?,
        tid: c.u32()?,
        ptid: c.u32()?,
        time: c.u64()?,
    })
}

/// Decode one whole record (header included).
pub fn parse_record(rec: &[u8]) -> Record {
    let mut c = Cursor { buf: rec, pos: 0 };
    let (Some(ty), Some(misc_size)) = (c.u32(), c.u32()) else {
        return Record::Other(0);
    };
    let misc = (misc_size & 0xffff) as u16;
    let parsed = match ty {
        b::PERF_RECORD_SAMPLE => parse_sample(&mut c, misc).map(Record::Sample),
        b::PERF_RECORD_MMAP2 => parse_mmap2(&mut c, trailer_time(rec)),
        b::PERF_RECORD_MMAP => parse_mmap(&mut c, misc, trailer_time(rec)),
        b::PERF_RECORD_COMM => (|| {
            let pid = c.u32()?;
            let tid = c.u32()?;
            Some(Record::Comm(Comm {
                pid,
                tid,
                name: c.cstr(),
                exec: u32::from(misc) & b::PERF_RECORD_MISC_COMM_EXEC != 0,
                time: trailer_time(rec),
            }))
        })(),
        b::PERF_RECORD_FORK => parse_task(&mut c).map(Record::Fork),
        b::PERF_RECORD_EXIT => parse_task(&mut c).map(Record::Exit),
        b::PERF_RECORD_LOST => (|| {
            c.u64()?;
            Some(Record::Lost(c.u64()?))
        })(),
        b::PERF_RECORD_LOST_SAMPLES => c.u64().map(Record::LostSamples),
        other => Some(Record::Other(other)),
    };
    parsed.unwrap_or(Record::Other(ty))
}

/// The time stamp of the `sample_id_all` trailer (the record's last 8
/// bytes, as TID and TIME are the only sample_id fields asked for).
fn trailer_time(rec: &[u8]) -> u64 {
    rec.len()
        .checked_sub(8)
        .and_then(|i| rec.get(i..))
        .and_then(|b| b.try_into().ok())
        .map(u64::from_ne_bytes)
        .unwrap_or(0)
}

fn parse_sample(c: &mut Cursor<'_>, misc: u16) -> Option<Sample> {
    let ip = c.u64()?;
    let pid = c.u32()?;
    let tid = c.u32()?;
    let time = c.u64()?;
    let period = c.u64()?;
    let nr = c.u64()? as usize;
    if nr > (c.buf.len() - c.pos) / 8 {
        return None;
    }
    let mut callchain = Vec::with_capacity(nr);
    for _ in 0..nr {
        callchain.push(c.u64()?);
    }
    let user_stack = parse_user_stack(c)?;
    Some(Sample {
        mode: CpuMode::from_misc(misc),
        ip,
        pid,
        tid,
        time,
        period,
        callchain,
        user_stack,
    })
}

/// The REGS_USER and STACK_USER fields, when the record has them (records
/// written without them end after the call chain).
fn parse_user_stack(c: &mut Cursor<'_>) -> Option<Option<Box<UserStack>>> {
    if c.pos >= c.buf.len() {
        return Some(None);
    }
    let abi = c.u64()?;
    // Registers in bit order of `USER_REGS`: bp, sp, ip.
    let regs = if abi != 0 {
        Some((c.u64()?, c.u64()?, c.u64()?))
    } else {
        None
    };
    let size = c.u64()? as usize;
    if size > c.buf.len() - c.pos {
        return None;
    }
    let start = c.pos;
    c.skip(size)?;
    let dyn_size = if size != 0 { c.u64()? as usize } else { 0 };
    let Some((bp, sp, ip)) = regs else {
        return Some(None);
    };
    let bytes = c.buf[start..start + dyn_size.min(size)].to_vec();
    Some(Some(Box::new(UserStack { ip, sp, bp, bytes })))
}

fn parse_mmap2(c: &mut Cursor<'_>, time: u64) -> Option<Record> {
    let pid = c.u32()?;
    let tid = c.u32()?;
    let start = c.u64()?;
    let len = c.u64()?;
    let pgoff = c.u64()?;
    c.skip(24)?; // maj, min, ino, ino_generation (or build id)
    let prot = c.u32()?;
    let _flags = c.u32()?;
    Some(Record::Mmap(Mmap {
        pid,
        tid,
        start,
        len,
        pgoff,
        prot,
        filename: c.cstr(),
        time,
    }))
}

fn parse_mmap(c: &mut Cursor<'_>, misc: u16, time: u64) -> Option<Record> {
    let pid = c.u32()?;
    let tid = c.u32()?;
    let start = c.u64()?;
    let len = c.u64()?;
    let pgoff = c.u64()?;
    let data = u32::from(misc) & b::PERF_RECORD_MISC_MMAP_DATA != 0;
    Some(Record::Mmap(Mmap {
        pid,
        tid,
        start,
        len,
        pgoff,
        prot: if data {
            libc::PROT_READ as u32
        } else {
            libc::PROT_EXEC as u32
        },
        filename: c.cstr(),
        time,
    }))
}

/// Context markers in a call chain (`PERF_CONTEXT_*`): every value at or
/// above this one is a marker, not an address.
pub const CONTEXT_MAX: u64 = b::PERF_CONTEXT_MAX;

/// The context a call chain marker switches to, if `v` is one.
pub fn context_marker(v: u64) -> Option<CpuMode> {
    if v < CONTEXT_MAX {
        return None;
    }
    Some(match v {
        b::PERF_CONTEXT_KERNEL => CpuMode::Kernel,
        b::PERF_CONTEXT_USER => CpuMode::User,
        b::PERF_CONTEXT_HV => CpuMode::Hypervisor,
        b::PERF_CONTEXT_GUEST_KERNEL => CpuMode::GuestKernel,
        b::PERF_CONTEXT_GUEST_USER => CpuMode::GuestUser,
        _ => CpuMode::Unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ty: u32, misc: u16, body: &[u8]) -> Vec<u8> {
        let size = (8 + body.len()) as u32;
        let mut v = ty.to_ne_bytes().to_vec();
        v.extend_from_slice(&(u32::from(misc) | (size << 16)).to_ne_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn sample_with_callchain_decodes() {
        let mut body = 0x1000u64.to_ne_bytes().to_vec();
        body.extend_from_slice(&7u32.to_ne_bytes());
        body.extend_from_slice(&8u32.to_ne_bytes());
        for v in [99u64, 250, 3, CONTEXT_MAX + 100, 0x1000, 0x2000] {
            body.extend_from_slice(&v.to_ne_bytes());
        }
        let rec = header(
            b::PERF_RECORD_SAMPLE,
            b::PERF_RECORD_MISC_GUEST_USER as u16,
            &body,
        );
        match parse_record(&rec) {
            Record::Sample(s) => {
                assert_eq!(s.mode, CpuMode::GuestUser);
                assert!(s.mode.is_guest());
                assert_eq!((s.pid, s.tid, s.time, s.period), (7, 8, 99, 250));
                assert_eq!(s.callchain.len(), 3);
            }
            other => panic!("{other:?}"),
        }
        // A callchain count larger than the record is rejected, not read.
        let mut bad = body.clone();
        bad[32..40].copy_from_slice(&1000u64.to_ne_bytes());
        assert_eq!(
            parse_record(&header(b::PERF_RECORD_SAMPLE, 0, &bad)),
            Record::Other(b::PERF_RECORD_SAMPLE)
        );
    }

    #[test]
    fn user_registers_and_stack_copy_decode() {
        let mut body = 0x1000u64.to_ne_bytes().to_vec();
        body.extend_from_slice(&7u32.to_ne_bytes());
        body.extend_from_slice(&8u32.to_ne_bytes());
        // time, period, one-entry chain; abi 2, bp, sp, ip; 16 bytes of
        // stack of which the kernel filled 8.
        for v in [99u64, 250, 1, 0x1000, 2, 0x7f10, 0x7f00, 0x1000, 16] {
            body.extend_from_slice(&v.to_ne_bytes());
        }
        body.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&8u64.to_ne_bytes());
        let Record::Sample(s) = parse_record(&header(b::PERF_RECORD_SAMPLE, 0, &body)) else {
            panic!("not a sample");
        };
        let u = s.user_stack.expect("user stack");
        assert_eq!((u.ip, u.sp, u.bp), (0x1000, 0x7f00, 0x7f10));
        assert_eq!(u.bytes, vec![1, 2, 3, 4, 5, 6, 7, 8]);
        // A stack size past the record's end is rejected.
        let at = body.len() - 8 - 16 - 8;
        body[at..at + 8].copy_from_slice(&4096u64.to_ne_bytes());
        assert_eq!(
            parse_record(&header(b::PERF_RECORD_SAMPLE, 0, &body)),
            Record::Other(b::PERF_RECORD_SAMPLE)
        );
    }

    #[test]
    fn comm_and_lost_decode() {
        let mut body = 5u32.to_ne_bytes().to_vec();
        body.extend_from_slice(&6u32.to_ne_bytes());
        body.extend_from_slice(b"my worker\0\0\0\0\0\0\0");
        body.extend_from_slice(&5u32.to_ne_bytes());
        body.extend_from_slice(&6u32.to_ne_bytes());
        body.extend_from_slice(&1234u64.to_ne_bytes());
        let rec = header(
            b::PERF_RECORD_COMM,
            b::PERF_RECORD_MISC_COMM_EXEC as u16,
            &body,
        );
        assert_eq!(
            parse_record(&rec),
            Record::Comm(Comm {
                pid: 5,
                tid: 6,
                name: "my worker".into(),
                exec: true,
                time: 1234,
            })
        );
        let mut body = 1u64.to_ne_bytes().to_vec();
        body.extend_from_slice(&42u64.to_ne_bytes());
        assert_eq!(
            parse_record(&header(b::PERF_RECORD_LOST, 0, &body)),
            Record::Lost(42)
        );
    }
}
