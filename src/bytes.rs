//! Checked reads from file bytes. Every offset and length that comes from a file goes through
//! here, so a damaged file yields an error naming the structure instead of a panic.

use crate::error::Result;
use crate::malformed;

/// `data[offset..offset + len]`, or an error naming `what` and the offset.
pub fn slice<'a>(data: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    let start = usize::try_from(offset).ok();
    let end = offset.checked_add(len).and_then(|e| usize::try_from(e).ok());
    match (start, end) {
        (Some(s), Some(e)) if e <= data.len() => Ok(&data[s..e]),
        _ => Err(malformed!(
            "{what} at file offset {offset:#x} (+{len:#x}) lies past the end of the file ({:#x} bytes)",
            data.len()
        )),
    }
}

pub fn u16_le(data: &[u8], offset: u64, what: &str) -> Result<u16> {
    let b = slice(data, offset, 2, what)?;
    Ok(u16::from_le_bytes([b[0], b[1]]))
}

pub fn u32_le(data: &[u8], offset: u64, what: &str) -> Result<u32> {
    let b = slice(data, offset, 4, what)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub fn u64_le(data: &[u8], offset: u64, what: &str) -> Result<u64> {
    let b = slice(data, offset, 8, what)?;
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    Ok(u64::from_le_bytes(w))
}

pub fn u32_be(data: &[u8], offset: u64, what: &str) -> Result<u32> {
    let b = slice(data, offset, 4, what)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// A NUL-terminated string starting at `offset` (without the NUL).
pub fn c_str<'a>(data: &'a [u8], offset: u64, what: &str) -> Result<&'a [u8]> {
    let rest = slice(data, offset, (data.len() as u64).saturating_sub(offset), what)?;
    match rest.iter().position(|&b| b == 0) {
        Some(n) => Ok(&rest[..n]),
        None => Err(malformed!("{what} at file offset {offset:#x}: string is not terminated")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounds_checked() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8, 0];
        assert_eq!(u32_le(&data, 0, "x").unwrap(), 0x0403_0201);
        assert_eq!(u64_le(&data, 1, "x").unwrap(), 0x0008_0706_0504_0302);
        assert!(u64_le(&data, 2, "x").is_err());
        assert!(slice(&data, u64::MAX, 2, "x").is_err());
        assert!(slice(&data, 4, u64::MAX, "x").is_err());
        assert_eq!(c_str(&data, 5, "s").unwrap(), &[6, 7, 8]);
        assert!(c_str(&data[..8], 5, "s").is_err());
        let e = u32_le(&data, 7, "symbol index").unwrap_err();
        assert!(e.message().contains("symbol index at file offset 0x7"), "{e}");
    }
}
