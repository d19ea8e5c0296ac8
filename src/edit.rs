//! The edit model, at the bottom of the house: a plan is a list of [`Edit`]s against the
//! original bytes, applied by [`apply`] to bytes in memory or by `output` to the file itself
//! (positioned writes, the tail laid out anew when a size changes). An edit replaces a range of the original with bytes of any length, so
//! a plan can overwrite (the table), cut (compaction: a section leaves the file) or insert (a
//! larger signature) — see docs/design.md, "The edit model".
//!
//! Every offset is in the ORIGINAL image's coordinates; [`map_offset`] and [`new_len`] give the
//! output's.

#![deny(clippy::indexing_slicing)]

use crate::error::Result;
use crate::internal;

/// Replace `len` bytes of the ORIGINAL image at `offset` with `bytes` (any length).
/// `len == bytes.len()`: an overwrite; `bytes.is_empty()`: a cut; all offsets are in the
/// original image's coordinates; a plan's edits are sorted and non-overlapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    pub offset: u64,
    pub len: u64,
    pub bytes: Vec<u8>,
}

impl Edit {
    /// Same-size replacement of `bytes.len()` bytes at `offset`.
    pub fn overwrite(offset: u64, bytes: Vec<u8>) -> Edit {
        Edit { offset, len: bytes.len() as u64, bytes }
    }

    /// Removes `len` bytes at `offset`; what follows moves down by `len`.
    pub fn cut(offset: u64, len: u64) -> Edit {
        Edit { offset, len, bytes: Vec::new() }
    }

    /// End of the replaced range in the original (saturating: [`normalize`] refuses overflow).
    pub fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }

    /// Does the edit keep the file's length?
    pub fn is_same_size(&self) -> bool {
        self.len == self.bytes.len() as u64
    }

    /// How the edit changes the file's length.
    fn delta(&self) -> i128 {
        self.bytes.len() as i128 - i128::from(self.len)
    }
}

/// Sorts the edits and checks they neither overlap nor run past `len`.
pub fn normalize(edits: &mut [Edit], len: u64) -> Result<()> {
    edits.sort_by_key(|e| (e.offset, e.len));
    check(edits, len)
}

/// Checks that sorted edits neither overlap nor run past `len`. Two insertions (`len == 0`) at
/// one offset would be ambiguous and count as overlapping.
pub fn check(edits: &[Edit], len: u64) -> Result<()> {
    let mut prev: Option<&Edit> = None;
    for e in edits {
        if e.offset.checked_add(e.len).is_none_or(|end| end > len) {
            return Err(internal!(
                "edit at {:#x} of {} bytes runs past the end ({len:#x})",
                e.offset,
                e.len
            ));
        }
        if let Some(p) = prev {
            if p.end() > e.offset || (p.offset == e.offset && (p.len == 0 || e.len == 0)) {
                return Err(internal!("edits at {:#x} and {:#x} overlap", p.offset, e.offset));
            }
        }
        prev = Some(e);
    }
    Ok(())
}

/// The output's length once `edits` are applied to `original_len` bytes.
pub fn new_len(original_len: u64, edits: &[Edit]) -> u64 {
    let delta: i128 = edits.iter().map(Edit::delta).sum();
    u64::try_from(i128::from(original_len) + delta).unwrap_or(0)
}

/// Where the byte at `old_offset` of the original is in the output: `None` when an edit
/// replaces it (a cut removes it; an overwrite of another length has no byte-for-byte map).
/// Same-size overwrites keep the position.
pub fn map_offset(edits: &[Edit], old_offset: u64) -> Option<u64> {
    let mut delta: i128 = 0;
    for e in edits {
        if e.end() <= old_offset && !(e.len == 0 && e.offset == old_offset) {
            delta += e.delta();
        } else if e.offset <= old_offset && old_offset < e.end() {
            if !e.is_same_size() {
                return None;
            }
        } else {
            break;
        }
    }
    u64::try_from(i128::from(old_offset) + delta).ok()
}

/// Applies checked, same-size edits to `data` in place: for tests that patch a buffer (the
/// product writes edits into the file: `output`).
#[cfg(test)]
pub fn apply_in_place(data: &mut [u8], edits: &[Edit]) -> Result<()> {
    check(edits, data.len() as u64)?;
    for e in edits {
        if !e.is_same_size() {
            return Err(internal!(
                "edit at {:#x} changes the size ({} -> {} bytes): not applicable in place",
                e.offset,
                e.len,
                e.bytes.len()
            ));
        }
        let dst = usize::try_from(e.offset)
            .ok()
            .and_then(|start| data.get_mut(start..start.checked_add(e.bytes.len())?))
            .ok_or_else(|| internal!("edit at {:#x} runs past the end", e.offset))?;
        dst.copy_from_slice(&e.bytes);
    }
    Ok(())
}

/// Builds the output: the original with every edit applied, of [`new_len`] bytes.
pub fn apply(data: &[u8], edits: &[Edit]) -> Result<Vec<u8>> {
    check(edits, data.len() as u64)?;
    let mut out = Vec::with_capacity(new_len(data.len() as u64, edits) as usize);
    for piece in pieces(data.len() as u64, edits) {
        match piece {
            Piece::Original { offset, len } => {
                let src = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(len).ok())
                    .and_then(|(o, l)| data.get(o..o.checked_add(l)?))
                    .ok_or_else(|| internal!("range {offset:#x}+{len:#x} outside the image"))?;
                out.extend_from_slice(src);
            }
            Piece::New(bytes) => out.extend_from_slice(bytes),
        }
    }
    Ok(out)
}

/// One run of the output, in order: a range copied from the original, or new bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Original { offset: u64, len: u64 },
    New(&'a [u8]),
}

/// The output as a sequence of pieces, for writers that copy the unchanged ranges without
/// reading them (the kernel's `copy_file_range`). `edits` must pass [`check`].
pub fn pieces(original_len: u64, edits: &[Edit]) -> Vec<Piece<'_>> {
    let mut out = Vec::with_capacity(edits.len() * 2 + 1);
    let mut at = 0u64;
    for e in edits {
        if e.offset > at {
            out.push(Piece::Original { offset: at, len: e.offset - at });
        }
        if !e.bytes.is_empty() {
            out.push(Piece::New(&e.bytes));
        }
        at = at.max(e.end());
    }
    if original_len > at {
        out.push(Piece::Original { offset: at, len: original_len - at });
    }
    out
}

/// Makes room for a cut of `cut` (in the original's coordinates): every same-size overwrite
/// that reaches into it loses the part inside, which must be zero bytes (the zeroed tail of a
/// table section: the cut makes it zero-fill memory). Anything else overlapping the cut is an
/// llgo-ld bug.
pub fn clip_to_cut(edits: &mut Vec<Edit>, cut: std::ops::Range<u64>) -> Result<()> {
    let mut out = Vec::with_capacity(edits.len() + 1);
    for e in edits.drain(..) {
        if e.end() <= cut.start || e.offset >= cut.end || cut.is_empty() {
            out.push(e);
            continue;
        }
        if !e.is_same_size() {
            return Err(internal!(
                "edit at {:#x} (+{:#x}) overlaps the cut [{:#x}, {:#x})",
                e.offset,
                e.len,
                cut.start,
                cut.end
            ));
        }
        let inside_from = cut.start.max(e.offset) - e.offset;
        let inside_to = cut.end.min(e.end()) - e.offset;
        let inside = usize::try_from(inside_from)
            .ok()
            .zip(usize::try_from(inside_to).ok())
            .and_then(|(a, b)| e.bytes.get(a..b))
            .ok_or_else(|| internal!("edit at {:#x}: clip range outside its bytes", e.offset))?;
        if inside.iter().any(|&b| b != 0) {
            return Err(internal!(
                "edit at {:#x} writes non-zero bytes into the cut [{:#x}, {:#x})",
                e.offset,
                cut.start,
                cut.end
            ));
        }
        let (head, tail) = (inside_from as usize, inside_to as usize);
        if head > 0 {
            out.push(Edit::overwrite(e.offset, e.bytes.get(..head).unwrap_or_default().to_vec()));
        }
        if let Some(rest) = e.bytes.get(tail..).filter(|r| !r.is_empty()) {
            out.push(Edit::overwrite(e.offset + inside_to, rest.to_vec()));
        }
    }
    *edits = out;
    Ok(())
}

/// One edit list against the original from two steps: `first` against the original, `second`
/// against the result of applying `first` (e.g. a compaction's edits, then the regenerated
/// signature's). An edit of `second` may not touch bytes that `first` wrote or straddle a
/// replaced range; such a conflict is an error, never a guess.
pub fn compose(first: &[Edit], second: &[Edit]) -> Result<Vec<Edit>> {
    let mut out: Vec<Edit> = first.to_vec();
    for e in second {
        // Map e.offset (new coordinates) back to the original: walk `first`.
        let mut delta: i128 = 0; // original = new - delta
        for f in first {
            let new_start = i128::from(f.offset) + delta;
            let new_end = new_start + f.bytes.len() as i128;
            let e_start = i128::from(e.offset);
            let e_end = e_start + i128::from(e.len);
            if e_end <= new_start {
                break; // e lies wholly before f
            }
            let touches_written = e_start < new_end && e_end > new_start;
            let straddles_cut = f.bytes.is_empty() && e_start < new_start;
            if touches_written || straddles_cut {
                return Err(internal!(
                    "an edit at {:#x} touches bytes an earlier edit wrote or cut at \
                     {:#x}",
                    e.offset,
                    f.offset
                ));
            }
            delta += f.bytes.len() as i128 - i128::from(f.len);
        }
        let orig = u64::try_from(i128::from(e.offset) - delta)
            .map_err(|_| internal!("edit at {:#x} maps before the file", e.offset))?;
        out.push(Edit { offset: orig, len: e.len, bytes: e.bytes.clone() });
    }
    out.sort_by_key(|e| e.offset);
    for w in out.windows(2) {
        if let [a, b] = w {
            if a.offset + a.len > b.offset {
                return Err(internal!(
                    "composed edits at {:#x} and {:#x} overlap",
                    a.offset,
                    b.offset
                ));
            }
        }
    }
    Ok(out)
}

/// Shifts edits planned for a slice to the slice's offset in a universal binary.
pub fn shift(edits: &mut [Edit], by: u64) {
    for e in edits {
        e.offset += by;
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index their own literals
mod tests {
    use super::*;

    #[test]
    fn overlap_and_overrun_are_refused() {
        let mut d = vec![0u8; 8];
        let mut ok = [Edit::overwrite(4, vec![1, 2]), Edit::overwrite(0, vec![9])];
        assert!(apply_in_place(&mut d, &ok).is_err(), "unsorted");
        normalize(&mut ok, 8).unwrap();
        apply_in_place(&mut d, &ok).unwrap();
        assert_eq!(d, [9, 0, 0, 0, 1, 2, 0, 0]);
        let overlap = [Edit::overwrite(0, vec![1, 2]), Edit::overwrite(1, vec![3])];
        let e = apply_in_place(&mut d, &overlap).unwrap_err();
        assert_eq!(e.kind(), crate::error::ErrorKind::Internal);
        assert!(apply_in_place(&mut d, &[Edit::overwrite(7, vec![1, 2])]).is_err());
        assert!(apply_in_place(&mut d, &[Edit::cut(1, 2)]).is_err(), "a cut is not in place");
        assert!(check(&[Edit::cut(2, 0), Edit::overwrite(2, vec![])], 8).is_err());
    }

    #[test]
    fn clip_keeps_what_lies_outside_the_cut() {
        let mut e = vec![Edit::overwrite(0, vec![1, 2, 0, 0, 0, 3]), Edit::overwrite(8, vec![4])];
        clip_to_cut(&mut e, 2..5).unwrap();
        assert_eq!(
            e,
            [
                Edit::overwrite(0, vec![1, 2]),
                Edit::overwrite(5, vec![3]),
                Edit::overwrite(8, vec![4])
            ]
        );
        let mut bad = vec![Edit::overwrite(0, vec![1, 2, 9])];
        assert!(clip_to_cut(&mut bad, 2..5).is_err(), "non-zero bytes inside the cut");
        let mut cut = vec![Edit::cut(3, 1)];
        assert!(clip_to_cut(&mut cut, 2..5).is_err());
    }

    #[test]
    fn size_changing_edits() {
        let d: Vec<u8> = (0..10).collect();
        let edits = [
            Edit::overwrite(0, vec![0xA]),
            Edit::cut(2, 3),
            Edit { offset: 7, len: 1, bytes: vec![0xB, 0xC, 0xD] },
        ];
        check(&edits, 10).unwrap();
        let out = apply(&d, &edits).unwrap();
        assert_eq!(out, [0xA, 1, 5, 6, 0xB, 0xC, 0xD, 8, 9]);
        assert_eq!(new_len(10, &edits), out.len() as u64);
        assert_eq!(map_offset(&edits, 1), Some(1));
        assert_eq!(map_offset(&edits, 0), Some(0), "same-size overwrite keeps its place");
        assert_eq!(map_offset(&edits, 3), None, "cut");
        assert_eq!(map_offset(&edits, 5), Some(2));
        assert_eq!(map_offset(&edits, 7), None, "replaced by bytes of another length");
        assert_eq!(map_offset(&edits, 8), Some(7));
        for old in [1u64, 5, 6, 8, 9] {
            let new = map_offset(&edits, old).unwrap();
            assert_eq!(out[new as usize], d[old as usize], "byte {old}");
        }
        // An insertion at the very end.
        let grow = [Edit { offset: 10, len: 0, bytes: vec![7, 7] }];
        assert_eq!(apply(&d, &grow).unwrap().len(), 12);
        assert_eq!(map_offset(&grow, 9), Some(9));
    }
}
