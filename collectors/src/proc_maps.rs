//! Parsing `/proc/PID/maps`: one [`MapEntry`] per line. The one parser of
//! that format: the page-sharing scan reads every mapping through it, the
//! symbolizer the executable ones.

use std::fmt;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    /// First address of the mapping.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// `rwxp` / `rwxs` permission string as printed by the kernel.
    pub perms: String,
    /// Offset into the mapped file (0 for anonymous memory).
    pub file_offset: u64,
    /// Inode of the mapped file (0 for anonymous memory).
    pub inode: u64,
    /// Path or pseudo-name (`[heap]`, `[stack]`, ...); empty when anonymous.
    pub path: String,
}

impl MapEntry {
    /// Whether the mapping is readable.
    pub fn readable(&self) -> bool {
        self.perms.as_bytes().first() == Some(&b'r')
    }

    /// Whether the mapping is shared (`s`) rather than private (`p`).
    pub fn shared(&self) -> bool {
        self.perms.as_bytes().get(3) == Some(&b's')
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the mapping is empty (never for kernel output).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A line of `/proc/PID/maps` that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapsParseError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub problem: String,
}

impl fmt::Display for MapsParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for MapsParseError {}

/// Parse the whole text of a `/proc/PID/maps` file.
pub fn parse_maps(text: &str) -> Result<Vec<MapEntry>, MapsParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_maps_line(l).map_err(|problem| MapsParseError {
                line: i + 1,
                problem,
            })
        })
        .collect()
}

/// Parse one line: `start-end perms offset dev inode [path]`; `Err` says
/// what is wrong with it.
pub fn parse_maps_line(line: &str) -> Result<MapEntry, String> {
    let mut rest = line;
    let mut field = |name: &str| -> Result<&str, String> {
        let t = rest.trim_start();
        let end = t.find(' ').unwrap_or(t.len());
        let (f, r) = t.split_at(end);
        if f.is_empty() {
            return Err(format!("missing {name} in {line:?}"));
        }
        rest = r;
        Ok(f)
    };
    let range = field("address range")?;
    let perms = field("permissions")?.to_string();
    let offset = field("offset")?;
    let _dev = field("device")?;
    let inode = field("inode")?;
    let path = rest.trim_start().to_string();
    let (start, end) = range
        .split_once('-')
        .ok_or_else(|| format!("address range {range:?} has no '-'"))?;
    let hex = |s: &str, what: &str| {
        u64::from_str_radix(s, 16).map_err(|_| format!("{what} {s:?} is not hexadecimal"))
    };
    let start = hex(start, "start address")?;
    let end = hex(end, "end address")?;
    if end < start {
        return Err(format!("address range {range:?} ends before it starts"));
    }
    if perms.len() != 4 {
        return Err(format!("permissions {perms:?} are not 4 characters"));
    }
    Ok(MapEntry {
        start,
        end,
        perms,
        file_offset: hex(offset, "offset")?,
        inode: inode
            .parse()
            .map_err(|_| format!("inode {inode:?} is not a number"))?,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_lines() {
        let text = "\
55d0c8a00000-55d0c8a02000 r--p 00000000 08:01 131090                     /usr/bin/cat
7ffd1b9d6000-7ffd1b9f7000 rw-p 00000000 00:00 0                          [stack]
7f0000000000-7f0000001000 rw-s 00000000 00:01 1234                       /memfd:sentry (deleted)
7f0000002000-7f0000003000 ---p 00000000 00:00 0 
";
        let maps = parse_maps(text).unwrap();
        assert_eq!(maps.len(), 4);
        assert_eq!(maps[0].start, 0x55d0c8a00000);
        assert_eq!(maps[0].len(), 0x2000);
        assert_eq!(maps[0].path, "/usr/bin/cat");
        assert_eq!(maps[0].inode, 131090);
        assert!(maps[0].readable() && !maps[0].shared());
        assert_eq!(maps[1].path, "[stack]");
        assert_eq!(maps[2].path, "/memfd:sentry (deleted)");
        assert!(maps[2].shared());
        assert_eq!(maps[3].path, "");
        assert!(!maps[3].readable());
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        let err = parse_maps("00-10 r--p 0 00:00 0\nzz-10 r--p 0 00:00 0\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("zz"), "{err}");
        assert!(parse_maps("10-00 r--p 0 00:00 0").is_err());
        assert!(parse_maps("00-10 r--p").is_err());
    }
}
