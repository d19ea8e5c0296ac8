//! Checked reads from file bytes. Every offset and length that comes from a file goes through
//! here, so a damaged file yields an error naming the structure instead of a panic.

#![deny(clippy::indexing_slicing)]

use crate::error::Result;
use crate::malformed;

/// `data[offset..offset + len]`, or an error naming `what` and the offset.
///
/// These readers run once per record and per symbol (hundreds of thousands of times in a large
/// program): they are inlined, and the error, built only for a damaged file, is not.
#[inline]
pub fn slice<'a>(data: &'a [u8], offset: u64, len: u64, what: &str) -> Result<&'a [u8]> {
    let start = usize::try_from(offset).ok();
    let end = offset.checked_add(len).and_then(|e| usize::try_from(e).ok());
    match start.zip(end).and_then(|(s, e)| data.get(s..e)) {
        Some(b) => Ok(b),
        None => Err(past_the_end(what, offset, len, data.len())),
    }
}

#[cold]
#[inline(never)]
fn past_the_end(what: &str, offset: u64, len: u64, file_len: usize) -> crate::error::Error {
    malformed!(
        "{what} at file offset {offset:#x} (+{len:#x}) lies past the end of the file ({file_len:#x} \
         bytes)"
    )
}

/// `N` bytes at `offset` as an array.
#[inline]
pub fn array<const N: usize>(data: &[u8], offset: u64, what: &str) -> Result<[u8; N]> {
    let b = slice(data, offset, N as u64, what)?;
    // `slice` returned exactly N bytes.
    Ok(b.try_into().unwrap_or([0; N]))
}

#[inline]
pub fn u16_le(data: &[u8], offset: u64, what: &str) -> Result<u16> {
    Ok(u16::from_le_bytes(array(data, offset, what)?))
}

#[inline]
pub fn u32_le(data: &[u8], offset: u64, what: &str) -> Result<u32> {
    Ok(u32::from_le_bytes(array(data, offset, what)?))
}

#[inline]
pub fn u64_le(data: &[u8], offset: u64, what: &str) -> Result<u64> {
    Ok(u64::from_le_bytes(array(data, offset, what)?))
}

#[inline]
pub fn u32_be(data: &[u8], offset: u64, what: &str) -> Result<u32> {
    Ok(u32::from_be_bytes(array(data, offset, what)?))
}

/// A NUL-terminated string starting at `offset` (without the NUL).
pub fn c_str<'a>(data: &'a [u8], offset: u64, what: &str) -> Result<&'a [u8]> {
    let rest = slice(data, offset, (data.len() as u64).saturating_sub(offset), what)?;
    match rest.iter().position(|&b| b == 0) {
        Some(n) => Ok(rest.get(..n).unwrap_or_default()),
        None => Err(malformed!("{what} at file offset {offset:#x}: string is not terminated")),
    }
}

/// A plain-old-data view (`#[repr(C)]`, unaligned fields) of `T` at `offset`.
#[inline]
pub fn pod<'a, T: object::pod::Pod>(data: &'a [u8], offset: u64, what: &str) -> Result<&'a T> {
    let raw = slice(data, offset, std::mem::size_of::<T>() as u64, what)?;
    object::pod::from_bytes::<T>(raw)
        .map(|(t, _)| t)
        .map_err(|()| crate::internal!("{what} at file offset {offset:#x}: unaligned view"))
}

/// `count` plain-old-data `T`s at `offset`.
pub fn pod_slice<'a, T: object::pod::Pod>(
    data: &'a [u8],
    offset: u64,
    count: u64,
    what: &str,
) -> Result<&'a [T]> {
    let len = count
        .checked_mul(std::mem::size_of::<T>() as u64)
        .ok_or_else(|| malformed!("{what} at file offset {offset:#x}: {count} entries overflow"))?;
    let raw = slice(data, offset, len, what)?;
    let n = usize::try_from(count)
        .map_err(|_| malformed!("{what} at file offset {offset:#x}: {count} entries"))?;
    object::pod::slice_from_bytes::<T>(raw, n)
        .map(|(t, _)| t)
        .map_err(|()| crate::internal!("{what} at file offset {offset:#x}: unaligned view"))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
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
