//! Gzipped pprof protobuf export (`profile.proto` of github.com/google/pprof),
//! readable by `go tool pprof`, Pyroscope and Parca. The messages are written
//! by hand with prost's derive (no build script, no protoc); field numbers
//! follow profile.proto.

use std::collections::HashMap;
use std::io::Write;

use bundle::folded::FoldedStacks;
use flate2::write::GzEncoder;
use flate2::Compression;
use prost::Message;

use crate::error::{RenderError, Result};

/// `perftools.profiles.Profile`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

/// `perftools.profiles.ValueType`: indices into the string table.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

/// `perftools.profiles.Sample`: location ids leaf first.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
}

/// `perftools.profiles.Mapping`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mapping {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    #[prost(int64, tag = "5")]
    pub filename: i64,
    #[prost(int64, tag = "6")]
    pub build_id: i64,
    #[prost(bool, tag = "7")]
    pub has_functions: bool,
    #[prost(bool, tag = "8")]
    pub has_filenames: bool,
    #[prost(bool, tag = "9")]
    pub has_line_numbers: bool,
    #[prost(bool, tag = "10")]
    pub has_inline_frames: bool,
}

/// `perftools.profiles.Location`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

/// `perftools.profiles.Line`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

/// `perftools.profiles.Function`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// What the exported values mean.
#[derive(Debug, Clone, PartialEq)]
pub struct PprofMeta {
    /// Sample type name, e.g. "cycles" or "samples".
    pub value_type: String,
    /// Its unit, e.g. "count".
    pub unit: String,
    /// Seconds since the epoch when the profile was taken (0: unknown).
    pub time_unix: u64,
    /// Free text kept as the profile's comment.
    pub comment: String,
}

struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings {
            table: Vec::new(),
            index: HashMap::new(),
        };
        s.id("");
        s
    }
    fn id(&mut self, v: &str) -> i64 {
        if let Some(i) = self.index.get(v) {
            return *i;
        }
        let i = self.table.len() as i64;
        self.table.push(v.to_string());
        self.index.insert(v.to_string(), i);
        i
    }
}

/// Build the pprof message of folded stacks: one function and one location
/// per distinct frame name, one sample per stack.
pub fn to_profile(stacks: &FoldedStacks, meta: &PprofMeta) -> Profile {
    let mut strings = Strings::new();
    let vt = ValueType {
        r#type: strings.id(&meta.value_type),
        unit: strings.id(&meta.unit),
    };
    let mapping_name = strings.id("[sentryprof]");
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut functions = Vec::new();
    let mut locations = Vec::new();
    let mut samples = Vec::with_capacity(stacks.len());
    for (stack, weight) in stacks.iter() {
        let mut loc_ids: Vec<u64> = Vec::new();
        for frame in stack.split(';') {
            let id = match ids.get(frame) {
                Some(id) => *id,
                None => {
                    let id = functions.len() as u64 + 1;
                    let name = strings.id(frame);
                    functions.push(Function {
                        id,
                        name,
                        system_name: name,
                        filename: 0,
                        start_line: 0,
                    });
                    locations.push(Location {
                        id,
                        mapping_id: 1,
                        address: 0,
                        line: vec![Line {
                            function_id: id,
                            line: 0,
                        }],
                        is_folded: false,
                    });
                    ids.insert(frame.to_string(), id);
                    id
                }
            };
            loc_ids.push(id);
        }
        loc_ids.reverse();
        samples.push(Sample {
            location_id: loc_ids,
            value: vec![i64::try_from(weight).unwrap_or(i64::MAX)],
        });
    }
    let comment = if meta.comment.is_empty() {
        vec![]
    } else {
        vec![strings.id(&meta.comment)]
    };
    let default_sample_type = vt.r#type;
    Profile {
        sample_type: vec![vt.clone()],
        sample: samples,
        mapping: vec![Mapping {
            id: 1,
            filename: mapping_name,
            has_functions: true,
            ..Mapping::default()
        }],
        location: locations,
        function: functions,
        string_table: strings.table,
        time_nanos: i64::try_from(meta.time_unix.saturating_mul(1_000_000_000)).unwrap_or(0),
        period_type: Some(vt),
        period: 1,
        comment,
        default_sample_type,
        ..Profile::default()
    }
}

/// Folded stacks as a gzipped pprof protobuf.
pub fn to_pprof_gz(stacks: &FoldedStacks, meta: &PprofMeta) -> Result<Vec<u8>> {
    let bytes = to_profile(stacks, meta).encode_to_vec();
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    let io = |e| RenderError::Svg {
        what: "pprof export".into(),
        source: e,
    };
    gz.write_all(&bytes).map_err(io)?;
    gz.finish().map_err(io)
}

/// Decode a gzipped pprof profile (used by tests and by `--export` checks).
pub fn decode_pprof_gz(bytes: &[u8]) -> std::result::Result<Profile, String> {
    use std::io::Read;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut raw)
        .map_err(|e| format!("gzip: {e}"))?;
    Profile::decode(raw.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_stacks() {
        let f = FoldedStacks::parse("main;mmap;find_available 70\nmain;mmap 30\n", "t").unwrap();
        let meta = PprofMeta {
            value_type: "cycles".into(),
            unit: "count".into(),
            time_unix: 1,
            comment: "test".into(),
        };
        let gz = to_pprof_gz(&f, &meta).unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let p = decode_pprof_gz(&gz).unwrap();
        assert_eq!(p.string_table[0], "");
        assert_eq!(p.function.len(), 3);
        assert_eq!(p.sample.len(), 2);
        // Rebuild folded text from the decoded profile: leaf first in pprof.
        let name = |loc: u64| {
            let l = p.location.iter().find(|l| l.id == loc).unwrap();
            let f = p
                .function
                .iter()
                .find(|f| f.id == l.line[0].function_id)
                .unwrap();
            p.string_table[f.name as usize].clone()
        };
        let mut back = FoldedStacks::new();
        for s in &p.sample {
            let frames: Vec<String> = s.location_id.iter().rev().map(|l| name(*l)).collect();
            back.add_frames(&frames, s.value[0] as u64);
        }
        assert_eq!(back, f);
        assert_eq!(p.string_table[p.sample_type[0].r#type as usize], "cycles");
    }
}
