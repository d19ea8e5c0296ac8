//! The name hash of LLGo's symbol index: FNV-1a-64 with 0 mapped to 1 (docs/format.md,
//! "Input"). Below both the readers (`binary/`, which hash each name in the pass that finds
//! it) and the table builder (`table`, which compares the hashes with the records' ids).

#![deny(clippy::indexing_slicing)]

/// FNV-1a-64 of a symbol name; 0 becomes 1 (docs/format.md, "Input").
pub fn fnv1a(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// The name at the start of `bytes` (up to its NUL) and its [`fnv1a`], in one pass; `None` when
/// no NUL ends it. Whole words without a zero byte are hashed eight bytes at a time; the word
/// holding the NUL (or flagged by the zero test) is finished byte by byte.
#[inline]
pub fn fnv1a_to_nul(bytes: &[u8]) -> Option<(&[u8], u64)> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut len = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = <[u8; 8]>::try_from(chunk).ok()?;
        let w = u64::from_le_bytes(word);
        // Nonzero when some byte is zero (it may also flag a byte above a zero, never a word
        // without one).
        if w.wrapping_sub(LOW) & !w & HIGH != 0 {
            break;
        }
        for b in word {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
        len += 8;
    }
    for (i, &b) in bytes.get(len..)?.iter().enumerate() {
        if b == 0 {
            return Some((bytes.get(..len + i)?, if h == 0 { 1 } else { h }));
        }
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    None
}
