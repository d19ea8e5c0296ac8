//! Compaction: cutting the unused tail of the entry section out of the file after the table is
//! written, without moving any virtual address (LLGO-TODAY.md section 3).
//!
//! Planning is a pure function over the original bytes. It returns [`Edit`]s in the shape agreed
//! with the size-changing edit model of the planner: offsets in the ORIGINAL file, `len` bytes
//! replaced by `bytes` (any length; empty = cut). [`apply`] is the reference application of such a
//! list; the writer may use its own as long as it gives the same bytes.

pub mod elf;
pub mod macho;

use std::fmt;

use crate::error::Result;
use crate::malformed;

/// Replace `len` bytes at `offset` (in the original file) with `bytes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub offset: u64,
    pub len: u64,
    pub bytes: Vec<u8>,
}

impl Edit {
    /// Overwrite `bytes.len()` bytes at `offset` (the size of the file does not change).
    pub fn overwrite(offset: u64, bytes: Vec<u8>) -> Self {
        Edit { offset, len: bytes.len() as u64, bytes }
    }

    /// Remove `len` bytes at `offset`.
    pub fn cut(offset: u64, len: u64) -> Self {
        Edit { offset, len, bytes: Vec::new() }
    }

    /// End of the replaced range in the original file, `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.len)
    }
}

/// Why a layout cannot be compacted. Not a failure: the table is then written in place at the
/// section's full size. The message names the structure and its file offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Self {
        Refusal { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The result of [`apply`]ing edits: the new file.
///
/// Checks that the edits are sorted, do not overlap and lie inside `data`.
pub fn apply(data: &[u8], edits: &[Edit]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut pos: u64 = 0;
    for e in edits {
        let end = e.end().ok_or_else(|| {
            malformed!("internal: edit at {:#x} (+{:#x}) overflows", e.offset, e.len)
        })?;
        if e.offset < pos {
            return Err(malformed!(
                "internal: edit at {:#x} overlaps or is out of order",
                e.offset
            ));
        }
        let keep = data
            .get(pos as usize..e.offset as usize)
            .ok_or_else(|| malformed!("internal: edit at {:#x} lies past the end", e.offset))?;
        if end > data.len() as u64 {
            return Err(malformed!("internal: edit at {:#x} runs past the end", e.offset));
        }
        out.extend_from_slice(keep);
        out.extend_from_slice(&e.bytes);
        pos = end;
    }
    out.extend_from_slice(data.get(pos as usize..).unwrap_or_default());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_cuts_and_overwrites() {
        let data: Vec<u8> = (0u8..10).collect();
        let edits = [Edit::overwrite(1, vec![9, 9]), Edit::cut(4, 3), Edit::overwrite(8, vec![7])];
        assert_eq!(apply(&data, &edits).unwrap(), [0, 9, 9, 3, 7, 7, 9]);
        assert!(apply(&data, &[Edit::cut(4, 3), Edit::cut(5, 1)]).is_err(), "overlap");
        assert!(apply(&data, &[Edit::cut(9, 2)]).is_err(), "past the end");
        assert!(apply(&data, &[Edit::cut(u64::MAX, 2)]).is_err(), "overflow");
    }
}
