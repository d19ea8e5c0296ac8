//! Ad-hoc code signatures of Mach-O images (docs/format.md, "Code signature"): read the embedded
//! SuperBlob, refuse what we cannot re-sign, and re-hash the code slots of changed pages in place.
//!
//! The circular dependency of signing (the hashes cover the load commands, which locate the
//! signature) does not arise here: the rewrite never moves or resizes anything, so the
//! signature keeps its size and place, and only code-slot hashes of pages whose bytes changed are
//! rewritten. The identifier, the special slots, the flags and every other byte stay as they
//! are. Pure: bytes in, [`Edit`]s out; deterministic.

#![deny(clippy::indexing_slicing)]

mod hash;
pub mod regen;

use object::macho;

use crate::bytes;
use crate::edit::Edit;
use crate::error::Result;
use crate::{malformed, unsupported};

pub use hash::HashType;

/// `CS_ADHOC`: the signature carries no certificate.
pub const CS_ADHOC: u32 = 0x2;
/// The CMS wrapper slot of the SuperBlob index.
const CSSLOT_SIGNATURESLOT: u32 = 0x10000;

/// One CodeDirectory's code-slot geometry, in image offsets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeDirectory {
    /// Image offset of the CodeDirectory blob.
    pub offset: u64,
    pub hash_type: HashType,
    pub hash_size: u64,
    /// Bytes per page; the whole code range as one page when the CodeDirectory says 0.
    pub page_size: u64,
    pub code_limit: u64,
    pub n_code_slots: u64,
    /// Image offset of code slot 0.
    pub slots_offset: u64,
    pub flags: u32,
}

impl CodeDirectory {
    /// The image range page `i` hashes.
    pub fn page(&self, i: u64) -> (u64, u64) {
        let start = i * self.page_size;
        (start, (start + self.page_size).min(self.code_limit))
    }
}

/// An embedded signature that [`parse`] accepted: ad hoc, hash types known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub offset: u64,
    pub size: u64,
    pub directories: Vec<CodeDirectory>,
}

/// Reads the signature at `offset..offset + size` of `data` (`LC_CODE_SIGNATURE`). A
/// certificate signature, an unknown hash type or a non-empty CMS blob is `Unsupported`;
/// anything that does not add up is `Malformed`.
pub fn parse(data: &[u8], offset: u64, size: u64) -> Result<Signature> {
    let sig = bytes::slice(data, offset, size, "LC_CODE_SIGNATURE data")?;
    let parsed = object::read::macho::CodeSignature::parse(sig)
        .map_err(|e| malformed!("code signature at file offset {offset:#x}: {e}"))?;
    let mut directories = Vec::new();
    let mut blobs = parsed.blobs();
    while let Some(blob) =
        blobs.next().map_err(|e| malformed!("code signature at file offset {offset:#x}: {e}"))?
    {
        let blob_off = offset + u64::from(blob.offset());
        if blob.slot().0 == CSSLOT_SIGNATURESLOT {
            if blob.magic() == macho::CSMAGIC_BLOBWRAPPER && blob.contents().is_empty() {
                continue; // `codesign -s -` adds an empty CMS wrapper: still ad hoc.
            }
            return Err(unsupported!(
                "code signature at file offset {offset:#x}: a certificate (CMS blob of {} bytes \
                 at {blob_off:#x}); only ad-hoc signatures can be re-signed",
                blob.data().len()
            ));
        }
        let Some(cd) = blob
            .code_directory()
            .map_err(|e| malformed!("CodeDirectory at file offset {blob_off:#x}: {e}"))?
        else {
            continue;
        };
        directories.push(code_directory(&cd, blob_off, blob.data().len() as u64, data.len())?);
    }
    if directories.is_empty() {
        return Err(malformed!("code signature at file offset {offset:#x}: no CodeDirectory"));
    }
    Ok(Signature { offset, size, directories })
}

fn code_directory(
    cd: &object::read::macho::CodeDirectory<'_>,
    blob_off: u64,
    blob_len: u64,
    image_len: usize,
) -> Result<CodeDirectory> {
    let h = cd.header();
    let be = object::BigEndian;
    let flags = h.flags.get(be).0;
    let what = format!("CodeDirectory at file offset {blob_off:#x}");
    if flags & CS_ADHOC == 0 {
        return Err(unsupported!(
            "{what}: not ad hoc (flags {flags:#x}): a certificate signature cannot be re-signed \
             here"
        ));
    }
    if cd.scatter_offset().unwrap_or(0) != 0 {
        return Err(unsupported!("{what}: scatter vectors are not handled"));
    }
    let hash_type = HashType::from_cs(h.hash_type.0)
        .ok_or_else(|| unsupported!("{what}: hash type {} is not handled", h.hash_type.0))?;
    let hash_size = u64::from(h.hash_size);
    if hash_size != hash_type.digest_len() {
        return Err(malformed!(
            "{what}: hash size {hash_size} does not match hash type {:?}",
            hash_type
        ));
    }
    let code_limit = cd.code_limit();
    if code_limit > image_len as u64 {
        return Err(malformed!("{what}: codeLimit {code_limit:#x} lies past the end of the image"));
    }
    let page_size = match h.page_size {
        0 => code_limit.max(1),
        log2 if log2 < 32 => 1u64 << log2,
        log2 => return Err(malformed!("{what}: page size 2^{log2} is not plausible")),
    };
    let n_code_slots = u64::from(h.n_code_slots.get(be));
    if n_code_slots != code_limit.div_ceil(page_size) {
        return Err(malformed!(
            "{what}: {n_code_slots} code slots, but codeLimit {code_limit:#x} has {} pages of \
             {page_size:#x}",
            code_limit.div_ceil(page_size)
        ));
    }
    let hash_offset = u64::from(h.hash_offset.get(be));
    if hash_offset.saturating_add(n_code_slots.saturating_mul(hash_size)) > blob_len {
        return Err(malformed!("{what}: code slots run past the CodeDirectory"));
    }
    Ok(CodeDirectory {
        offset: blob_off,
        hash_type,
        hash_size,
        page_size,
        code_limit,
        n_code_slots,
        slots_offset: blob_off + hash_offset,
        flags,
    })
}

/// Edits that bring every code slot of every CodeDirectory up to date for the pages that
/// `changed` (the edits already planned: sorted, non-overlapping, never inside the signature)
/// touches. `original` is the image before them; each changed page is hashed from a copy of its
/// original bytes with the overlapping edits laid over it, so the image is never copied whole.
pub fn rehash(sig: &Signature, original: &[u8], changed: &[Edit]) -> Result<Vec<Edit>> {
    let mut out = Vec::new();
    if let Some(e) = changed.iter().find(|e| !e.is_same_size()) {
        // A relaid image moves the signed pages and the signature itself: that needs a new
        // signature laid out for the new file, which no format plans yet (docs/design.md,
        // "The edit model").
        return Err(crate::unsupported!(
            "re-signing a relaid image (edit at {:#x} changes the size) is not implemented",
            e.offset
        ));
    }
    for e in changed {
        if e.end() > sig.offset && e.offset < sig.offset.saturating_add(sig.size) {
            return Err(crate::internal!("an edit at {:#x} overlaps the code signature", e.offset));
        }
    }
    for cd in &sig.directories {
        let mut pages: Vec<u64> = Vec::new();
        for e in changed {
            if e.offset >= cd.code_limit || e.bytes.is_empty() {
                continue;
            }
            let first = e.offset / cd.page_size;
            let last = (e.end().min(cd.code_limit) - 1) / cd.page_size;
            pages.extend(first..=last);
        }
        pages.sort_unstable();
        pages.dedup();
        for i in pages {
            let (start, end) = cd.page(i);
            let mut page = bytes::slice(original, start, end - start, "signed page")?.to_vec();
            overlay(&mut page, start, changed);
            let slot = cd.slots_offset + i * cd.hash_size;
            let old = bytes::slice(original, slot, cd.hash_size, "code slot")?;
            let new = cd.hash_type.digest(&page);
            if old != new.as_slice() {
                out.push(Edit::overwrite(slot, new));
            }
        }
    }
    Ok(out)
}

/// Lays the parts of `edits` (sorted by offset) that fall into `buf`, which holds the image
/// bytes from `start`, over it.
// `first` comes from a binary search of `edits`; each copied range is clamped to `buf` and to the
// edit, whose bytes span `offset..end()` (`rehash` refuses edits that change the size)
#[allow(clippy::indexing_slicing)]
fn overlay(buf: &mut [u8], start: u64, edits: &[Edit]) {
    let end = start + buf.len() as u64;
    let first = edits.partition_point(|e| e.end() <= start);
    for e in edits[first..].iter().take_while(|e| e.offset < end) {
        let from = e.offset.max(start);
        let to = e.end().min(end);
        if from >= to {
            continue;
        }
        let src = &e.bytes[(from - e.offset) as usize..(to - e.offset) as usize];
        buf[(from - start) as usize..(to - start) as usize].copy_from_slice(src);
    }
}

/// Pages whose code slot does not match `data`: `(CodeDirectory offset, page index)`.
pub fn stale_pages(sig: &Signature, data: &[u8]) -> Result<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for cd in &sig.directories {
        for i in 0..cd.n_code_slots {
            let (start, end) = cd.page(i);
            let page = bytes::slice(data, start, end - start, "signed page")?;
            let slot =
                bytes::slice(data, cd.slots_offset + i * cd.hash_size, cd.hash_size, "slot")?;
            if cd.hash_type.digest(page) != slot {
                out.push((cd.offset, i));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests;
