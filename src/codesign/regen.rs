//! Regenerating an ad-hoc signature for a new layout (LLGO-TODAY.md 3, FORMAT.md 3.5): after
//! compaction the signature sits lower in the file, so the code limit (= the signature's
//! offset), the number of code slots and every page hash change, and with them the signature's
//! size, `LC_CODE_SIGNATURE`'s `datasize` and `__LINKEDIT`'s sizes.
//!
//! The new signature keeps the original's structure: the same blobs in the same index order,
//! every CodeDirectory with its own hash type, page size, flags, identifier, team id, exec-segment
//! fields and special slots (their blobs do not change), other blobs (requirements, entitlements,
//! the empty CMS wrapper of `codesign -s -`) copied verbatim. Only `length`, `nCodeSlots`,
//! `codeLimit` and the code slots of each CodeDirectory, and the SuperBlob's offsets and length,
//! are new. For an lld- or llvm-objcopy-signed image this is what those tools write for the
//! same bytes. Pure: the relaid image in, [`Edit`]s against it out.

#![deny(clippy::indexing_slicing)]

use std::mem::{offset_of, size_of};

use object::macho;
use object::read::macho::{CodeSignature, MachHeader};
use object::{BigEndian as BE, LittleEndian as LE};

use crate::bytes;
use crate::codesign::{HashType, CS_ADHOC};
use crate::compact::macho::page_size;
use crate::edit::Edit;
use crate::error::Result;
use crate::{malformed, unsupported};

type Header = macho::MachHeader64<LE>;
type SegmentCommand = macho::SegmentCommand64<LE>;
type Cd = macho::CsCodeDirectoryV0;

const CSSLOT_SIGNATURESLOT: u32 = 0x10000;

/// A regenerated signature: `edits` against the image given to [`regenerate`] (the
/// `LC_CODE_SIGNATURE` `datasize`, `__LINKEDIT`'s `filesize`/`vmsize` where they change, and
/// the old signature bytes up to the end of the file replaced by `blob`), and the file's new
/// length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resigned {
    pub edits: Vec<Edit>,
    /// The new signature data (`datasize` bytes: the SuperBlob plus the original's slack).
    pub blob: Vec<u8>,
    pub new_len: u64,
    /// Image offset of the signature (= the new code limit).
    pub offset: u64,
}

/// Regenerates the ad-hoc signature of `image`, a thin Mach-O whose layout changed, with its
/// old signature blob at `LC_CODE_SIGNATURE`'s (already moved) `dataoff`, the last bytes of
/// `__LINKEDIT` and of the file. `Ok(None)` for an unsigned image. A certificate signature, a
/// non-empty CMS blob, SHA-1, scatter vectors, 64-bit code limits or data after the code slots
/// are `Unsupported`.
pub fn regenerate(image: &[u8]) -> Result<Option<Resigned>> {
    let lc = commands(image)?;
    let Some((cs_cmd, sig_off, old_size)) = lc.code_signature else { return Ok(None) };
    let what = format!("LC_CODE_SIGNATURE at file offset {cs_cmd:#x}");
    let sig_end = sig_off.checked_add(old_size);
    if sig_end != Some(image.len() as u64) {
        return Err(unsupported!(
            "{what}: the signature {sig_off:#x}+{old_size:#x} does not end the file ({:#x} \
             bytes); only a trailing signature is regenerated",
            image.len()
        ));
    }
    let (le_hdr, le_off, le_size, le_vmsize) = lc
        .linkedit
        .ok_or_else(|| malformed!("{what}: no __LINKEDIT segment holds the signature"))?;
    if le_off.checked_add(le_size) != sig_end || sig_off < le_off {
        return Err(unsupported!(
            "{what}: the signature is not the end of __LINKEDIT ({le_off:#x}+{le_size:#x})"
        ));
    }
    let new_limit = sig_off;
    if u32::try_from(new_limit).is_err() {
        return Err(unsupported!("{what}: a code limit past 4 GiB is not handled"));
    }

    // Blobs of the old signature, in index order.
    let old = bytes::slice(image, sig_off, old_size, &what)?;
    let parsed =
        CodeSignature::parse(old).map_err(|e| malformed!("code signature at {sig_off:#x}: {e}"))?;
    let old_sb_len = u64::from(parsed.header().length.get(BE));
    let slack = old_size.checked_sub(old_sb_len).ok_or_else(|| {
        malformed!("{what}: SuperBlob length {old_sb_len:#x} exceeds datasize {old_size:#x}")
    })?;
    // (slot, bytes, CodeDirectory shape, gap before the blob in the original layout)
    let mut blobs: Vec<(u32, Vec<u8>, Option<CdShape>, u64)> = Vec::new();
    let mut prev_end = 12 + 8 * u64::from(parsed.header().count.get(BE));
    let mut it = parsed.blobs();
    while let Some(blob) =
        it.next().map_err(|e| malformed!("code signature at {sig_off:#x}: {e}"))?
    {
        let at = sig_off + u64::from(blob.offset());
        let slot = blob.slot().0;
        if slot == CSSLOT_SIGNATURESLOT
            && !(blob.magic() == macho::CSMAGIC_BLOBWRAPPER && blob.contents().is_empty())
        {
            return Err(unsupported!(
                "code signature blob at file offset {at:#x}: a certificate (CMS, {} bytes); \
                 only ad-hoc signatures are regenerated",
                blob.data().len()
            ));
        }
        let shape = match blob
            .code_directory()
            .map_err(|e| malformed!("CodeDirectory at file offset {at:#x}: {e}"))?
        {
            Some(cd) => Some(CdShape::read(&cd, blob.data(), at)?),
            None => None,
        };
        let start = u64::from(blob.offset());
        let gap = start.checked_sub(prev_end).ok_or_else(|| {
            unsupported!(
                "code signature blob at file offset {at:#x}: blobs out of index order or \
                 overlapping are not handled"
            )
        })?;
        prev_end = start + blob.data().len() as u64;
        blobs.push((slot, blob.data().to_vec(), shape, gap));
    }
    if !blobs.iter().any(|b| b.2.is_some()) {
        return Err(malformed!("code signature at {sig_off:#x}: no CodeDirectory"));
    }

    // Sizes first: the hashed header must carry the final datasize and __LINKEDIT sizes. Each
    // blob keeps the gap before it (lld and llvm-objcopy start the CodeDirectory 8-aligned).
    let header_len = 12 + 8 * blobs.len() as u64;
    let mut sb_len = header_len;
    for (_, data, shape, gap) in &blobs {
        sb_len += gap;
        sb_len += match shape {
            Some(s) => s.new_len(new_limit)?,
            None => data.len() as u64,
        };
    }
    let new_size = sb_len + slack;
    let new_len = sig_off + new_size;
    let new_le_size = new_len - le_off;
    let new_le_vmsize = if le_vmsize == le_size {
        new_le_size
    } else {
        let page = page_size(lc.cputype);
        new_le_size.div_ceil(page) * page
    };
    let mut header_edits = Vec::new();
    if new_size != old_size {
        header_edits.push(Edit::overwrite(cs_cmd + 12, u32_le(new_size, &what)?));
    }
    if new_le_vmsize != le_vmsize {
        let pos = le_hdr + offset_of!(SegmentCommand, vmsize) as u64;
        header_edits.push(Edit::overwrite(pos, new_le_vmsize.to_le_bytes().to_vec()));
    }
    if new_le_size != le_size {
        let pos = le_hdr + offset_of!(SegmentCommand, filesize) as u64;
        header_edits.push(Edit::overwrite(pos, new_le_size.to_le_bytes().to_vec()));
    }
    header_edits.sort_by_key(|e| e.offset);

    // The SuperBlob.
    let mut sb = Vec::with_capacity(new_size as usize);
    sb.extend_from_slice(&macho::CSMAGIC_EMBEDDED_SIGNATURE.to_be_bytes());
    sb.extend_from_slice(&u32_be(sb_len, &what)?);
    sb.extend_from_slice(&u32_be(blobs.len() as u64, &what)?);
    let mut index = Vec::new();
    let mut body = Vec::new();
    for (slot, data, shape, gap) in &blobs {
        body.resize(body.len() + *gap as usize, 0);
        index.extend_from_slice(&slot.to_be_bytes());
        index.extend_from_slice(&u32_be(header_len + body.len() as u64, &what)?);
        match shape {
            Some(s) => s.write(&mut body, image, new_limit, &header_edits)?,
            None => body.extend_from_slice(data),
        }
    }
    sb.extend_from_slice(&index);
    sb.extend_from_slice(&body);
    sb.resize(new_size as usize, 0);

    let mut edits = header_edits;
    edits.push(Edit { offset: sig_off, len: old_size, bytes: sb.clone() });
    Ok(Some(Resigned { edits, blob: sb, new_len, offset: sig_off }))
}

/// [`regenerate`] applied: the re-signed image (a copy of `image` when it is unsigned),
/// self-checked with the signature reader of `codesign` (every page hash of every
/// CodeDirectory).
pub fn resign(image: &[u8]) -> Result<Vec<u8>> {
    let Some(r) = regenerate(image)? else { return Ok(image.to_vec()) };
    let out = crate::edit::apply(image, &r.edits)?;
    let sig = crate::codesign::parse(&out, r.offset, r.blob.len() as u64)?;
    let stale = crate::codesign::stale_pages(&sig, &out)?;
    if let Some((cd, page)) = stale.first() {
        return Err(malformed!(
            "internal: regenerated CodeDirectory at {cd:#x}: page {page} does not match"
        ));
    }
    Ok(out)
}

/// What one CodeDirectory keeps and what it re-hashes.
struct CdShape {
    /// The blob up to code slot 0: header, identifier, team id, special slots.
    prefix: Vec<u8>,
    hash_type: HashType,
    hash_size: u64,
    /// 0 = the whole code range is one page.
    page_log2: u8,
}

impl CdShape {
    fn read(cd: &object::read::macho::CodeDirectory<'_>, data: &[u8], at: u64) -> Result<Self> {
        let h = cd.header();
        let what = format!("CodeDirectory at file offset {at:#x}");
        let flags = h.flags.get(BE).0;
        if flags & CS_ADHOC == 0 {
            return Err(unsupported!(
                "{what}: not ad hoc (flags {flags:#x}): a certificate signature is not \
                 regenerated"
            ));
        }
        if cd.scatter_offset().unwrap_or(0) != 0 {
            return Err(unsupported!("{what}: scatter vectors are not handled"));
        }
        if cd.code_limit64().unwrap_or(0) != 0 {
            return Err(unsupported!("{what}: a 64-bit code limit is not handled"));
        }
        let hash_type = HashType::from_cs(h.hash_type.0)
            .ok_or_else(|| unsupported!("{what}: hash type {} is not handled", h.hash_type.0))?;
        let hash_size = u64::from(h.hash_size);
        if hash_size != hash_type.digest_len() {
            return Err(malformed!("{what}: hash size {hash_size} does not fit {hash_type:?}"));
        }
        let hash_offset = u64::from(h.hash_offset.get(BE));
        let n = u64::from(h.n_code_slots.get(BE));
        let len = u64::from(h.length.get(BE));
        let slots_end = n
            .checked_mul(hash_size)
            .and_then(|s| s.checked_add(hash_offset))
            .ok_or_else(|| malformed!("{what}: code slots overflow"))?;
        if slots_end != len || len != data.len() as u64 {
            return Err(unsupported!(
                "{what}: length {len:#x} is not hashOffset {hash_offset:#x} + {n} slots of \
                 {hash_size}: data after the code slots is not handled"
            ));
        }
        let special_end = u64::from(h.n_special_slots.get(BE)) * hash_size;
        if hash_offset < size_of::<Cd>() as u64 + special_end {
            return Err(malformed!("{what}: hashOffset {hash_offset:#x} inside the header"));
        }
        if h.page_size >= 32 {
            return Err(malformed!("{what}: page size 2^{} is not plausible", h.page_size));
        }
        Ok(CdShape {
            prefix: bytes::slice(data, 0, hash_offset, &what)?.to_vec(),
            hash_type,
            hash_size,
            page_log2: h.page_size,
        })
    }

    fn page(&self, limit: u64) -> u64 {
        if self.page_log2 == 0 {
            limit.max(1)
        } else {
            1u64 << self.page_log2
        }
    }

    fn slots(&self, limit: u64) -> u64 {
        limit.div_ceil(self.page(limit))
    }

    fn new_len(&self, limit: u64) -> Result<u64> {
        self.slots(limit)
            .checked_mul(self.hash_size)
            .and_then(|s| s.checked_add(self.prefix.len() as u64))
            .ok_or_else(|| malformed!("internal: CodeDirectory size overflows"))
    }

    /// Appends the regenerated CodeDirectory: pages of `image` up to `limit`, with the header
    /// edits laid over them.
    fn write(&self, out: &mut Vec<u8>, image: &[u8], limit: u64, edits: &[Edit]) -> Result<()> {
        let what = "CodeDirectory";
        let mut prefix = self.prefix.clone();
        put_be(&mut prefix, offset_of!(Cd, length), &u32_be(self.new_len(limit)?, what)?)?;
        put_be(&mut prefix, offset_of!(Cd, n_code_slots), &u32_be(self.slots(limit), what)?)?;
        put_be(&mut prefix, offset_of!(Cd, code_limit), &u32_be(limit, what)?)?;
        out.extend_from_slice(&prefix);
        let page = self.page(limit);
        for i in 0..self.slots(limit) {
            let start = i * page;
            let end = (start + page).min(limit);
            let bytes = bytes::slice(image, start, end - start, "signed page")?;
            if edits.iter().any(|e| e.offset < end && e.offset + e.len > start) {
                let mut copy = bytes.to_vec();
                for e in edits {
                    for (k, b) in e.bytes.iter().enumerate() {
                        let pos = e.offset + k as u64;
                        if (start..end).contains(&pos) {
                            if let Some(slot) = copy.get_mut((pos - start) as usize) {
                                *slot = *b;
                            }
                        }
                    }
                }
                out.extend_from_slice(&self.hash_type.digest(&copy));
            } else {
                out.extend_from_slice(&self.hash_type.digest(bytes));
            }
        }
        Ok(())
    }
}

fn put_be(buf: &mut [u8], at: usize, v: &[u8]) -> Result<()> {
    buf.get_mut(at..at + v.len())
        .ok_or_else(|| malformed!("internal: CodeDirectory header shorter than its fields"))?
        .copy_from_slice(v);
    Ok(())
}

fn u32_be(v: u64, what: &str) -> Result<[u8; 4]> {
    u32::try_from(v).map(u32::to_be_bytes).map_err(|_| malformed!("{what}: {v:#x} exceeds 32 bits"))
}

fn u32_le(v: u64, what: &str) -> Result<Vec<u8>> {
    u32::try_from(v)
        .map(|v| v.to_le_bytes().to_vec())
        .map_err(|_| malformed!("{what}: {v:#x} exceeds 32 bits"))
}

struct Commands {
    cputype: u32,
    /// `(command offset, dataoff, datasize)`.
    code_signature: Option<(u64, u64, u64)>,
    /// `(command offset, fileoff, filesize, vmsize)` of `__LINKEDIT`.
    linkedit: Option<(u64, u64, u64, u64)>,
}

fn commands(image: &[u8]) -> Result<Commands> {
    let h = Header::parse(image, 0).map_err(|e| malformed!("Mach-O header at 0x0: {e}"))?;
    if !h.is_little_endian() {
        return Err(unsupported!("Mach-O header at 0x0: big-endian images are not re-signed"));
    }
    let mut out = Commands { cputype: h.cputype(LE).0, code_signature: None, linkedit: None };
    let mut cmds =
        h.load_commands(LE, image, 0).map_err(|e| malformed!("Mach-O load commands: {e}"))?;
    let mut off = size_of::<Header>() as u64;
    while let Some(c) = cmds.next().map_err(|e| malformed!("load command at {off:#x}: {e}"))? {
        let cmd = c.cmd();
        if cmd == macho::LC_CODE_SIGNATURE {
            let l: &macho::LinkeditDataCommand<LE> =
                c.data().map_err(|e| malformed!("LC_CODE_SIGNATURE at {off:#x}: {e}"))?;
            if out.code_signature.is_some() {
                return Err(malformed!("LC_CODE_SIGNATURE at {off:#x}: a second one"));
            }
            out.code_signature =
                Some((off, u64::from(l.dataoff.get(LE)), u64::from(l.datasize.get(LE))));
        } else if cmd == macho::LC_SEGMENT_64 {
            let s: &SegmentCommand =
                c.data().map_err(|e| malformed!("LC_SEGMENT_64 at {off:#x}: {e}"))?;
            if s.segname.split(|&b| b == 0).next() == Some(b"__LINKEDIT".as_slice()) {
                out.linkedit = Some((off, s.fileoff.get(LE), s.filesize.get(LE), s.vmsize.get(LE)));
            }
        }
        off += u64::from(c.cmdsize());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_or_garbage_never_panics() {
        assert!(regenerate(&[]).is_err());
        assert!(regenerate(&[0xcf, 0xfa, 0xed, 0xfe]).is_err());
        let mut d = vec![0u8; 64];
        d[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        assert_eq!(regenerate(&d).unwrap(), None, "no load commands: unsigned");
    }
}
