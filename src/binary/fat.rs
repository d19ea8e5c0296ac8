//! Universal (fat) Mach-O files (docs/design.md, "Decisions"): the slice table, big-endian. Each
//! slice is a complete image; the rewrite takes all of them or none.
//!
//! `0xCAFEBABE` is also the magic of Java class files, whose next word (minor and major version)
//! reads as an implausibly large slice count: such a file is not ours, a skip rather than an
//! error.

use crate::bytes;
use crate::error::Result;
use crate::malformed;

const FAT_MAGIC: u32 = 0xCAFE_BABE;
const FAT_MAGIC_64: u32 = 0xCAFE_BABF;
/// More slices than any universal binary has; Java class versions start at 45.
const MAX_SLICES: u32 = 20;

/// One slice: where its bytes are in the file, and its CPU type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slice {
    pub offset: u64,
    pub size: u64,
    pub cputype: u32,
}

/// The slice table, or `Ok(None)` when the magic is not a universal binary's after all.
pub fn slices(data: &[u8]) -> Result<Option<Vec<Slice>>> {
    let magic = bytes::u32_be(data, 0, "fat header")?;
    let wide = match magic {
        FAT_MAGIC => false,
        FAT_MAGIC_64 => true,
        _ => return Ok(None),
    };
    let n = bytes::u32_be(data, 4, "fat header")?;
    if n == 0 || n > MAX_SLICES {
        return Ok(None);
    }
    let entry = if wide { 32 } else { 20 };
    bytes::slice(data, 8, u64::from(n) * entry, "fat_arch table")?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..u64::from(n) {
        let at = 8 + i * entry;
        let what = "fat_arch";
        let cputype = bytes::u32_be(data, at, what)?;
        let (offset, size) = if wide {
            let hi = |o| -> Result<u64> {
                Ok(u64::from(bytes::u32_be(data, o, what)?) << 32
                    | u64::from(bytes::u32_be(data, o + 4, what)?))
            };
            (hi(at + 8)?, hi(at + 16)?)
        } else {
            (
                u64::from(bytes::u32_be(data, at + 8, what)?),
                u64::from(bytes::u32_be(data, at + 12, what)?),
            )
        };
        bytes::slice(data, offset, size, "fat slice").map_err(|_| {
            malformed!(
                "fat_arch {i} at file offset {at:#x}: slice {offset:#x}+{size:#x} lies past the \
                 end of the file ({:#x} bytes)",
                data.len()
            )
        })?;
        if offset < 8 + u64::from(n) * entry {
            return Err(malformed!(
                "fat_arch {i} at file offset {at:#x}: slice overlaps the header"
            ));
        }
        out.push(Slice { offset, size, cputype });
    }
    Ok(Some(out))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    #[test]
    fn java_class_files_are_not_fat() {
        // A class file: magic, minor 0, major 52.
        let class = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52, 0, 0x10, 0, 0, 0, 0, 0, 0];
        assert_eq!(slices(&class).unwrap(), None);
    }

    #[test]
    fn slices_are_bounds_checked() {
        let mut d = vec![0u8; 0x100];
        d[..8].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 1]);
        d[8..12].copy_from_slice(&0x0100_000cu32.to_be_bytes());
        d[16..20].copy_from_slice(&0x40u32.to_be_bytes());
        d[20..24].copy_from_slice(&0xc0u32.to_be_bytes());
        let s = slices(&d).unwrap().unwrap();
        assert_eq!(s, vec![Slice { offset: 0x40, size: 0xc0, cputype: 0x0100_000c }]);
        d[20..24].copy_from_slice(&0xc1u32.to_be_bytes());
        assert!(slices(&d).unwrap_err().message().contains("past the end"));
    }
}
