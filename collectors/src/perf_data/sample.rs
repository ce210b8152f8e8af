//! The fields of a SAMPLE record the fold needs: read straight from the
//! record's bytes when its format holds only fixed-size fields before the
//! call chain (what `perf record -g` writes), else through the
//! `linux-perf-event-reader` parser.

use linux_perf_data::linux_perf_event_reader::{
    CpuMode, Endianness, EventRecord, RawData, RawEventRecord, SampleFormat,
};

/// What the fold reads of one sample; its call chain goes to the caller's
/// buffer.
#[derive(Debug, Clone, Copy)]
pub struct SampleFields {
    pub pid: i32,
    pub tid: i32,
    pub ip: Option<u64>,
    pub period: Option<u64>,
    pub cpu_mode: CpuMode,
    pub has_chain: bool,
}

fn eof() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "sample record cut short")
}

/// Read `record` (a SAMPLE); its call chain, if any, into `chain`.
pub fn read_sample(
    record: &RawEventRecord<'_>,
    chain: &mut Vec<u64>,
) -> Result<SampleFields, std::io::Error> {
    chain.clear();
    let fmt = record.parse_info.sample_format;
    let fixed = SampleFormat::IDENTIFIER
        | SampleFormat::IP
        | SampleFormat::TID
        | SampleFormat::TIME
        | SampleFormat::ADDR
        | SampleFormat::ID
        | SampleFormat::STREAM_ID
        | SampleFormat::CPU
        | SampleFormat::PERIOD
        | SampleFormat::CALLCHAIN;
    if let (true, Endianness::LittleEndian, RawData::Single(bytes)) =
        (fixed.contains(fmt), record.parse_info.endian, record.data)
    {
        return read_fixed(bytes, fmt, CpuMode::from_misc(record.misc), chain);
    }
    let EventRecord::Sample(s) = record.parse()? else {
        return Err(std::io::Error::other("not a sample record"));
    };
    if let Some(cc) = &s.callchain {
        chain.extend((0..cc.len()).map(|i| cc.get(i).unwrap_or(0)));
    }
    Ok(SampleFields {
        pid: s.pid.unwrap_or(-1),
        tid: s.tid.unwrap_or(-1),
        ip: s.ip,
        period: s.period,
        cpu_mode: s.cpu_mode,
        has_chain: s.callchain.is_some(),
    })
}

/// The fields in the kernel's order (`perf_event_open(2)`, SAMPLE).
fn read_fixed(
    bytes: &[u8],
    fmt: SampleFormat,
    cpu_mode: CpuMode,
    chain: &mut Vec<u64>,
) -> Result<SampleFields, std::io::Error> {
    let mut at = 0usize;
    let mut next = || -> Result<u64, std::io::Error> {
        let b = bytes.get(at..at + 8).ok_or_else(eof)?;
        at += 8;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| eof())?))
    };
    let mut f = SampleFields {
        pid: -1,
        tid: -1,
        ip: None,
        period: None,
        cpu_mode,
        has_chain: false,
    };
    if fmt.contains(SampleFormat::IDENTIFIER) {
        next()?;
    }
    if fmt.contains(SampleFormat::IP) {
        f.ip = Some(next()?);
    }
    if fmt.contains(SampleFormat::TID) {
        let w = next()?;
        f.pid = w as u32 as i32;
        f.tid = (w >> 32) as u32 as i32;
    }
    for skipped in [
        SampleFormat::TIME,
        SampleFormat::ADDR,
        SampleFormat::ID,
        SampleFormat::STREAM_ID,
        SampleFormat::CPU,
    ] {
        if fmt.contains(skipped) {
            next()?;
        }
    }
    if fmt.contains(SampleFormat::PERIOD) {
        f.period = Some(next()?);
    }
    if fmt.contains(SampleFormat::CALLCHAIN) {
        let nr = next()?;
        let len = usize::try_from(nr).map_err(|_| eof())?;
        let start = at;
        let ips = (len.checked_mul(8))
            .and_then(|n| bytes.get(start..start.checked_add(n)?))
            .ok_or_else(eof)?;
        chain.extend(ips.chunks_exact(8).map(|c| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        }));
        f.has_chain = true;
    }
    Ok(f)
}
