//! Planned byte edits and their application. The rewrite plans a list of [`Edit`]s against the
//! original bytes; the writer applies exactly those, so the bytes outside them stay untouched.

pub mod macho_fixups;

use crate::error::Result;
use crate::malformed;

/// Replace `bytes.len()` bytes at `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Edit {
    pub fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// Sorts the edits and checks they neither overlap nor run past `len`.
pub fn normalize(edits: &mut [Edit], len: u64) -> Result<()> {
    edits.sort_by_key(|e| e.offset);
    check(edits, len)
}

/// Checks that sorted edits neither overlap nor run past `len`.
fn check(edits: &[Edit], len: u64) -> Result<()> {
    for w in edits.windows(2) {
        if w[0].end() > w[1].offset {
            return Err(malformed!(
                "internal: edits at {:#x} and {:#x} overlap",
                w[0].offset,
                w[1].offset
            ));
        }
    }
    if let Some(last) = edits.last() {
        if last.end() > len {
            return Err(malformed!("internal: edit at {:#x} runs past the end", last.offset));
        }
    }
    Ok(())
}

/// Applies [`normalize`]d edits to an owned copy of the image.
pub fn apply(data: &mut [u8], edits: &[Edit]) -> Result<()> {
    check(edits, data.len() as u64)?;
    for e in edits {
        let start = e.offset as usize;
        data[start..start + e.bytes.len()].copy_from_slice(&e.bytes);
    }
    Ok(())
}

/// Shifts edits planned for a slice to the slice's offset in a universal binary.
pub fn shift(edits: &mut [Edit], by: u64) {
    for e in edits {
        e.offset += by;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_and_overrun_are_refused() {
        let mut d = vec![0u8; 8];
        let mut ok = [Edit { offset: 4, bytes: vec![1, 2] }, Edit { offset: 0, bytes: vec![9] }];
        assert!(apply(&mut d, &ok).is_err(), "unsorted");
        normalize(&mut ok, 8).unwrap();
        apply(&mut d, &ok).unwrap();
        assert_eq!(d, [9, 0, 0, 0, 1, 2, 0, 0]);
        let overlap = [Edit { offset: 0, bytes: vec![1, 2] }, Edit { offset: 1, bytes: vec![3] }];
        assert!(apply(&mut d, &overlap).is_err());
        assert!(apply(&mut d, &[Edit { offset: 7, bytes: vec![1, 2] }]).is_err());
    }
}
