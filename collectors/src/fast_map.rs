//! The hash map of the folding and symbolization caches: integer keys and
//! short strings, hashed fast ([`FastHasher`]); `stack_fold` re-exports
//! both names.

use std::collections::HashMap;

/// A fast non-cryptographic hasher (multiply-rotate, as in rustc's FxHash)
/// for the integer and short-string keys of folding and symbolization
/// caches.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    /// Byte strings (`str` and slice keys) longer than a word are hashed
    /// with xxh3 first: far fewer serial multiplies than word by word.
    fn write(&mut self, bytes: &[u8]) {
        if bytes.len() <= 8 {
            let mut b = [0u8; 8];
            b[..bytes.len()].copy_from_slice(bytes);
            self.write_u64(u64::from_ne_bytes(b));
        } else {
            self.write_u64(xxhash_rust::xxh3::xxh3_64(bytes));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;
