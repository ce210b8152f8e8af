//! The structure of a perf.data file, checked before any record is read so
//! that a bad file is refused with the byte offset of its first fault: the
//! header (magic, size, sections inside the file), the feature section
//! table, then every record header of the data section (a size smaller
//! than a header, or a record running past the section).

use super::error::PerfDataError;

/// Bytes of `struct perf_file_header`.
pub const HEADER_LEN: usize = 104;
const RECORD_HEADER_LEN: u64 = 8;

/// Where the data section is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub data_offset: u64,
    pub data_size: u64,
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Check `bytes` (the whole file) and return its data section.
pub fn check(bytes: &[u8], path: &str) -> Result<Layout, PerfDataError> {
    let bad = |offset: u64, problem: String| PerfDataError::Corrupt {
        path: path.to_string(),
        offset,
        problem,
    };
    let len = bytes.len() as u64;
    match bytes.get(..8) {
        Some(b"PERFILE2") => {}
        Some(b"2ELIFREP") => return Err(bad(0, "big-endian perf.data is not supported".into())),
        Some(m) => {
            return Err(bad(
                0,
                format!(
                    "not a perf.data file: bad magic {:?}",
                    String::from_utf8_lossy(m)
                ),
            ))
        }
        None => {
            return Err(bad(
                0,
                format!("not a perf.data file: {len} bytes, too short for the magic"),
            ))
        }
    }
    if bytes.len() < 16 {
        return Err(bad(
            len,
            format!("header cut short: {len} of {HEADER_LEN} bytes"),
        ));
    }
    let header_size = u64_at(bytes, 8);
    if header_size == 16 {
        return Err(bad(
            8,
            "a pipe-mode perf.data (perf record -o -) is not supported; record to a file".into(),
        ));
    }
    if bytes.len() < HEADER_LEN {
        return Err(bad(
            len,
            format!("header cut short: {len} of {HEADER_LEN} bytes"),
        ));
    }
    if header_size != HEADER_LEN as u64 {
        return Err(bad(
            8,
            format!("header size {header_size}, expected {HEADER_LEN}"),
        ));
    }
    let section = |at: usize, what: &str| -> Result<(u64, u64), PerfDataError> {
        let (off, size) = (u64_at(bytes, at), u64_at(bytes, at + 8));
        match off.checked_add(size) {
            Some(end) if end <= len => Ok((off, size)),
            _ => Err(bad(
                off.min(len),
                format!(
                    "the {what} section (bytes {off}..{}) runs past the end of the file ({len} bytes): truncated",
                    off.saturating_add(size)
                ),
            )),
        }
    };
    section(24, "attributes")?;
    let (data_offset, data_size) = section(40, "data")?;
    let data_end = data_offset + data_size;
    let features: u32 = (0..4).map(|i| u64_at(bytes, 72 + 8 * i).count_ones()).sum();
    let table_end = data_end + 16 * u64::from(features);
    if table_end > len {
        return Err(bad(
            data_end,
            format!(
                "the feature section table ({features} entries) runs past the end of the file ({len} bytes): truncated"
            ),
        ));
    }
    for i in 0..features as usize {
        let at = data_end as usize + 16 * i;
        let (off, size) = (u64_at(bytes, at), u64_at(bytes, at + 8));
        if off.checked_add(size).is_none_or(|e| e > len) {
            return Err(bad(
                at as u64,
                format!(
                    "feature section {i} (bytes {off}..{}) runs past the end of the file ({len} bytes): truncated",
                    off.saturating_add(size)
                ),
            ));
        }
    }
    check_records(bytes, data_offset, data_end, &bad)?;
    Ok(Layout {
        data_offset,
        data_size,
    })
}

/// Walk the record headers of the data section.
fn check_records(
    bytes: &[u8],
    start: u64,
    end: u64,
    bad: &dyn Fn(u64, String) -> PerfDataError,
) -> Result<(), PerfDataError> {
    let mut at = start;
    while at < end {
        if end - at < RECORD_HEADER_LEN {
            return Err(bad(
                at,
                format!(
                    "record header cut short: {} of 8 bytes before the data section ends",
                    end - at
                ),
            ));
        }
        let i = at as usize;
        let size = u64::from(u16::from_le_bytes([bytes[i + 6], bytes[i + 7]]));
        let ty = u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        if size < RECORD_HEADER_LEN {
            return Err(bad(
                at,
                format!(
                    "corrupt record (type {ty}): size {size} is smaller than its 8-byte header"
                ),
            ));
        }
        if at + size > end {
            return Err(bad(
                at,
                format!(
                    "record (type {ty}, {size} bytes) runs past the end of the data section (byte {end}): truncated"
                ),
            ));
        }
        at += size;
    }
    Ok(())
}

/// The byte offset of the record whose body is `body`: searched in the
/// data section (only when a record failed to parse, to name where).
pub fn locate_body(bytes: &[u8], layout: Layout, body: &[u8]) -> Option<u64> {
    let mut at = layout.data_offset;
    let end = layout.data_offset + layout.data_size;
    while at + RECORD_HEADER_LEN <= end {
        let i = at as usize;
        let size = u64::from(u16::from_le_bytes([bytes[i + 6], bytes[i + 7]]));
        if size < RECORD_HEADER_LEN {
            return None;
        }
        let b = bytes.get(i + 8..(at + size) as usize)?;
        if b == body {
            return Some(at);
        }
        at += size;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data_offset: u64, data_size: u64) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN];
        h[..8].copy_from_slice(b"PERFILE2");
        h[8..16].copy_from_slice(&(HEADER_LEN as u64).to_le_bytes());
        h[40..48].copy_from_slice(&data_offset.to_le_bytes());
        h[48..56].copy_from_slice(&data_size.to_le_bytes());
        h
    }

    fn record(ty: u32, size: u16) -> Vec<u8> {
        let mut r = ty.to_le_bytes().to_vec();
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&size.to_le_bytes());
        r.resize(usize::from(size.max(8)), 0);
        r
    }

    fn problem(b: &[u8]) -> (u64, String) {
        match check(b, "f") {
            Err(PerfDataError::Corrupt {
                offset, problem, ..
            }) => (offset, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn good_file_passes() {
        let mut b = header(104, 24);
        b.extend(record(9, 16));
        b.extend(record(3, 8));
        assert_eq!(
            check(&b, "f").unwrap(),
            Layout {
                data_offset: 104,
                data_size: 24
            }
        );
    }

    #[test]
    fn bad_magic_and_short_header() {
        assert!(problem(b"PERFILE1xxxxxxxxxxxxx").1.contains("bad magic"));
        assert!(problem(b"PER").1.contains("too short"));
        let h = header(104, 0);
        let (off, p) = problem(&h[..60]);
        assert_eq!(off, 60);
        assert!(p.contains("header cut short: 60 of 104"), "{p}");
    }

    #[test]
    fn truncated_data_and_corrupt_records_name_their_offset() {
        let mut b = header(104, 24);
        b.extend(record(9, 16));
        let (off, p) = problem(&b);
        assert_eq!(off, 104);
        assert!(p.contains("data section") && p.contains("truncated"), "{p}");
        b.extend(record(3, 4)); // a record of size 4 < its header
        b.truncate(104 + 24);
        let (off, p) = problem(&b);
        assert_eq!(off, 120);
        assert!(p.contains("smaller than its 8-byte header"), "{p}");
        let mut c = header(104, 24);
        c.extend(record(9, 16));
        c.extend(record(3, 16)); // runs past the data section's 24 bytes
        let (off, p) = problem(&c);
        assert_eq!(off, 120);
        assert!(p.contains("runs past the end of the data section"), "{p}");
    }
}
