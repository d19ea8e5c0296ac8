//! `LC_DYLD_CHAINED_FIXUPS` (docs/format.md, "Loader data"): the imports table, the per-segment
//! chain starts and every chain, walked once into a map from file offset to decoded node.
//!
//! The walk is a fused, bounded state machine per page: each step moves strictly forward inside
//! its page, and a page holds at most `page_size / 4` nodes, so a damaged chain ends in an error
//! that names the segment, the page and the file offset, never in a loop. A node reached twice
//! (overlapping starts: the one way two chains can form a cycle) is an error too.

use std::collections::BTreeMap;

use object::endian::{LittleEndian as LE, I32, U16, U32, U64};
use object::macho::{
    DyldChainedFixupsHeader, DyldChainedImport32, DyldChainedImport64, DyldChainedStartsInImage,
    DyldChainedStartsInSegment,
};
use object::pod::Pod;

use crate::bytes;
use crate::error::Result;
use crate::{malformed, unsupported};

/// `DYLD_CHAINED_PTR_64`: rebase targets are vmaddrs.
pub const PTR_64: u16 = 2;
/// `DYLD_CHAINED_PTR_64_OFFSET`: rebase targets are offsets from the image base.
pub const PTR_64_OFFSET: u16 = 6;
/// `page_start` of a page without fixups.
pub const PAGE_START_NONE: u16 = 0xFFFF;
/// `page_start` flag of a page with several chains (32-bit formats only).
pub const PAGE_START_MULTI: u16 = 0x8000;
/// The `next` field: 12 bits at bit 51, in 4-byte units.
pub const NEXT_SHIFT: u32 = 51;
pub const NEXT_MASK: u64 = 0xFFF;
pub const STRIDE: u64 = 4;
/// Size of `dyld_chained_starts_in_segment` before `page_start[]` (22 bytes).
const STARTS_IN_SEGMENT_HEADER: u64 = std::mem::size_of::<DyldChainedStartsInSegment<LE>>() as u64;

/// A segment as `LC_SEGMENT_64` describes it; `index` is its position among the segment
/// commands, which is what `seg_info_offset[]` is indexed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub index: usize,
    pub name: String,
    pub vmaddr: u64,
    pub vmsize: u64,
    /// Offset of the segment's bytes in the image.
    pub fileoff: u64,
    pub filesize: u64,
}

impl Segment {
    pub fn contains_offset(&self, offset: u64) -> bool {
        offset >= self.fileoff && offset - self.fileoff < self.filesize
    }
}

/// Where a bind resolves, by the import's library ordinal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Library {
    /// 0 (this image), -1 (main executable), -3 (weak lookup): resolved in this image.
    ThisImage,
    /// -2 (flat lookup) or a dylib ordinal: not this image.
    Elsewhere,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Import<'data> {
    pub lib_ordinal: i32,
    pub library: Library,
    pub weak: bool,
    /// Import formats 2 and 3 carry an addend; 0 for format 1.
    pub addend: i64,
    /// With the C underscore, as in the symbol table.
    pub name: &'data [u8],
}

/// A decoded 64-bit chain node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixupKind {
    /// The loader writes `target + slide`; `target` is a vmaddr (high8 restored in bits 56..).
    Rebase { target: u64 },
    /// The loader writes the import's address plus `addend` (the node's 8-bit addend).
    Bind { ordinal: u32, addend: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Node {
    /// The raw word as it is in the file.
    pub raw: u64,
    pub kind: FixupKind,
    /// Index into [`ChainedFixups::segments`] and the page within that segment.
    pub segment: usize,
    pub page: usize,
}

/// One segment's `dyld_chained_starts_in_segment`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentStarts {
    /// The segment, as given by [`Segment::index`].
    pub segment: usize,
    /// File offset (in the image) of the `dyld_chained_starts_in_segment` struct.
    pub struct_offset: u64,
    pub page_size: u64,
    pub pointer_format: u16,
    pub page_count: u16,
    /// `page_start[i]` as read.
    pub page_starts: Vec<u16>,
    /// Node offsets (in the image), in chain order, per page. Empty for a format that is not
    /// walked (`walked == false`).
    pub pages: Vec<Vec<u64>>,
    /// False for pointer formats other than 2 and 6: nothing in the segment was decoded.
    pub walked: bool,
    /// The segment's file range, for messages and the page geometry.
    pub fileoff: u64,
    pub filesize: u64,
    pub name: String,
}

impl SegmentStarts {
    /// Image offset of `page_start[page]`.
    pub fn page_start_offset(&self, page: usize) -> u64 {
        self.struct_offset + STARTS_IN_SEGMENT_HEADER + 2 * page as u64
    }

    /// Image offset where page `page` begins.
    pub fn page_offset(&self, page: usize) -> u64 {
        self.fileoff + self.page_size * page as u64
    }

    pub fn contains_offset(&self, offset: u64) -> bool {
        offset >= self.fileoff && offset - self.fileoff < self.filesize
    }
}

/// The whole of an image's chained fixups, decoded.
#[derive(Clone, Debug)]
pub struct ChainedFixups<'data> {
    pub imports: Vec<Import<'data>>,
    pub segments: Vec<SegmentStarts>,
    /// Every node of every walked chain, by image offset.
    pub nodes: BTreeMap<u64, Node>,
    /// vmaddr of the segment that maps file offset 0 (format 6 targets are relative to it).
    pub image_base: u64,
}

/// The `LC_DYLD_CHAINED_FIXUPS` data with its place in the file: reads inside it are checked
/// against its end, and errors name the absolute file offset.
#[derive(Clone, Copy)]
struct Blob<'data> {
    bytes: &'data [u8],
    /// File offset of `bytes[0]` in the image.
    at: u64,
}

impl<'data> Blob<'data> {
    fn slice(&self, off: u64, len: u64, what: &str) -> Result<&'data [u8]> {
        bytes::slice(self.bytes, off, len, what).map_err(|_| {
            malformed!(
                "{what} at file offset {:#x} (+{len:#x}) lies past the end of the \
                 LC_DYLD_CHAINED_FIXUPS data (file offset {:#x}, {:#x} bytes)",
                self.at.saturating_add(off),
                self.at,
                self.bytes.len()
            )
        })
    }

    /// A view of `T` (one of `object`'s Mach-O structs, or an endian integer) at `off`.
    fn pod<T: Pod>(&self, off: u64, what: &str) -> Result<&'data T> {
        let raw = self.slice(off, std::mem::size_of::<T>() as u64, what)?;
        bytes::pod(raw, 0, what)
    }

    /// `count` `T`s at `off`.
    fn pod_slice<T: Pod>(&self, off: u64, count: u64, what: &str) -> Result<&'data [T]> {
        let len = count.saturating_mul(std::mem::size_of::<T>() as u64);
        let raw = self.slice(off, len, what)?;
        bytes::pod_slice(raw, 0, count, what)
    }
}

type Header = DyldChainedFixupsHeader<LE>;

impl<'data> ChainedFixups<'data> {
    /// Parses the fixups blob at `dataoff..dataoff + datasize` of `data` and walks every chain of
    /// every segment in `segments` (the image's `LC_SEGMENT_64`s in load-command order).
    pub fn parse(
        data: &'data [u8],
        dataoff: u64,
        datasize: u64,
        segments: &[Segment],
        image_base: u64,
    ) -> Result<Self> {
        let bytes = bytes::slice(data, dataoff, datasize, "LC_DYLD_CHAINED_FIXUPS data")?;
        let blob = Blob { bytes, at: dataoff };
        let what = "dyld_chained_fixups_header";
        let header: &Header = blob.pod(0, what)?;
        let version = header.fixups_version.get(LE);
        if version != 0 {
            return Err(unsupported!(
                "{what} at file offset {dataoff:#x}: fixups_version {version} is not 0"
            ));
        }
        let imports = parse_imports(blob, header)?;
        let mut fixups =
            ChainedFixups { imports, segments: Vec::new(), nodes: BTreeMap::new(), image_base };
        fixups.parse_starts(data, blob, header, segments)?;
        Ok(fixups)
    }

    fn parse_starts(
        &mut self,
        data: &'data [u8],
        blob: Blob<'_>,
        header: &Header,
        segments: &[Segment],
    ) -> Result<()> {
        let starts = u64::from(header.starts_offset.get(LE));
        let what = "dyld_chained_starts_in_image";
        let dataoff = blob.at;
        let image: &DyldChainedStartsInImage<LE> = blob.pod(starts, what)?;
        let seg_count = image.seg_count.get(LE);
        // The seg_info_offset[] array follows the count; checked against the blob before use.
        let infos: &[U32<LE>] = blob.pod_slice(
            starts + std::mem::size_of::<DyldChainedStartsInImage<LE>>() as u64,
            u64::from(seg_count),
            what,
        )?;
        for (i, info) in (0u64..).zip(infos) {
            let info = info.get(LE);
            if info == 0 {
                continue;
            }
            let Some(segment) = segments.get(i as usize) else {
                return Err(malformed!(
                    "{what} at file offset {:#x}: segment {i} has chained starts but the image \
                     has only {} segments",
                    dataoff + starts,
                    segments.len()
                ));
            };
            let struct_in_blob = starts + u64::from(info);
            let s = self.parse_segment_starts(blob, struct_in_blob, segment)?;
            self.segments.push(s);
        }
        for k in 0..self.segments.len() {
            self.walk_segment(data, k)?;
        }
        Ok(())
    }

    fn parse_segment_starts(
        &self,
        blob: Blob<'_>,
        at_in_blob: u64,
        segment: &Segment,
    ) -> Result<SegmentStarts> {
        let what = format!("{} dyld_chained_starts_in_segment", segment.name);
        let file_at = blob.at + at_in_blob;
        let header: &DyldChainedStartsInSegment<LE> = blob.pod(at_in_blob, &what)?;
        let size = header.size.get(LE);
        let page_size = u64::from(header.page_size.get(LE));
        let pointer_format = header.pointer_format.get(LE).0;
        let page_count = header.page_count.get(LE);
        let array = STARTS_IN_SEGMENT_HEADER + 2 * u64::from(page_count);
        if u64::from(size) < array {
            return Err(malformed!(
                "{what} at file offset {file_at:#x}: size {size} is less than the {array} bytes \
                 of its {page_count} page starts"
            ));
        }
        let page_starts: Vec<u16> = blob
            .pod_slice::<U16<LE>>(
                at_in_blob + STARTS_IN_SEGMENT_HEADER,
                u64::from(page_count),
                &what,
            )
            .map_err(|_| {
                malformed!(
                    "{what} at file offset {file_at:#x}: {page_count} page starts run past the \
                     fixups data"
                )
            })?
            .iter()
            .map(|p| p.get(LE))
            .collect();
        if page_size == 0 || page_size % STRIDE != 0 {
            return Err(malformed!(
                "{what} at file offset {file_at:#x}: page size {page_size:#x} is not a multiple of 4"
            ));
        }
        Ok(SegmentStarts {
            segment: segment.index,
            struct_offset: file_at,
            page_size,
            pointer_format,
            page_count,
            page_starts,
            pages: vec![Vec::new(); usize::from(page_count)],
            walked: false,
            fileoff: segment.fileoff,
            filesize: segment.filesize,
            name: segment.name.clone(),
        })
    }

    /// Walks every page chain of `self.segments[k]`.
    // `k` is an index into `self.segments`, given by the loop over them in `parse`
    #[allow(clippy::indexing_slicing)]
    fn walk_segment(&mut self, data: &[u8], k: usize) -> Result<()> {
        let seg = &self.segments[k];
        if seg.pointer_format != PTR_64 && seg.pointer_format != PTR_64_OFFSET {
            // Not decoded: the surgery and the loader simulation refuse to touch it.
            return Ok(());
        }
        let seg_end = seg.fileoff.saturating_add(seg.filesize);
        let name = seg.name.clone();
        let (format, page_size) = (seg.pointer_format, seg.page_size);
        let mut pages = Vec::with_capacity(seg.page_starts.len());
        for (page, &start) in seg.page_starts.clone().iter().enumerate() {
            let mut chain = Vec::new();
            if start == PAGE_START_NONE {
                pages.push(chain);
                continue;
            }
            let page_off = seg.fileoff.saturating_add(page_size.saturating_mul(page as u64));
            if start & PAGE_START_MULTI != 0 {
                return Err(unsupported!(
                    "{name} chained starts at file offset {:#x}: page {page} has several chains \
                     (multi-start {start:#06x}), which 64-bit pointer formats do not use",
                    seg.page_start_offset(page)
                ));
            }
            let page_end = page_off.saturating_add(page_size).min(seg_end);
            let mut off = page_off.saturating_add(u64::from(start));
            if off.saturating_add(8) > seg_end || u64::from(start) >= page_size {
                return Err(malformed!(
                    "{name} chained starts at file offset {:#x}: page {page} start {start:#x} \
                     lies past the segment (file {:#x}..{seg_end:#x})",
                    seg.page_start_offset(page),
                    seg.fileoff
                ));
            }
            // A page holds at most page_size / 4 nodes: the hard step bound.
            let mut steps = page_size / STRIDE + 1;
            loop {
                if steps == 0 {
                    return Err(malformed!(
                        "{name} chain at file offset {off:#x}: more nodes than page {page} can hold"
                    ));
                }
                steps -= 1;
                let raw = bytes::u64_le(data, off, &format!("{name} chain node"))?;
                let kind = self.decode(raw, format, off, &name)?;
                let node = Node { raw, kind, segment: k, page };
                if self.nodes.insert(off, node).is_some() {
                    return Err(malformed!(
                        "{name} chain at file offset {off:#x}: node reached twice (chains overlap \
                         or loop)"
                    ));
                }
                chain.push(off);
                let next = (raw >> NEXT_SHIFT) & NEXT_MASK;
                if next == 0 {
                    break;
                }
                let to = off + next * STRIDE;
                if to >= page_end {
                    return Err(malformed!(
                        "{name} chain at {off:#x}: next stride {:#x} overruns page {page} (ends \
                         at file offset {page_end:#x})",
                        next * STRIDE
                    ));
                }
                if to.saturating_add(8) > seg_end {
                    return Err(malformed!(
                        "{name} chain at {off:#x}: next node at {to:#x} lies past the segment"
                    ));
                }
                off = to;
            }
            pages.push(chain);
        }
        let seg = &mut self.segments[k];
        seg.pages = pages;
        seg.walked = true;
        Ok(())
    }

    /// Decodes a format 2/6 word.
    fn decode(&self, raw: u64, format: u16, off: u64, seg: &str) -> Result<FixupKind> {
        if raw >> 63 == 1 {
            let ordinal = (raw & 0xFF_FFFF) as u32;
            if ordinal as usize >= self.imports.len() {
                return Err(malformed!(
                    "{seg} chain at file offset {off:#x}: bind import ordinal {ordinal} out of \
                     range ({} imports)",
                    self.imports.len()
                ));
            }
            Ok(FixupKind::Bind { ordinal, addend: (raw >> 24) & 0xFF })
        } else {
            let target = raw & 0xF_FFFF_FFFF;
            let high8 = (raw >> 36) & 0xFF;
            let target = match format {
                PTR_64_OFFSET => self.image_base.wrapping_add(target),
                _ => target,
            };
            Ok(FixupKind::Rebase { target: target | (high8 << 56) })
        }
    }

    /// The segment starts covering image offset `offset`, if any.
    pub fn starts_for(&self, offset: u64) -> Option<&SegmentStarts> {
        self.segments.iter().find(|s| s.contains_offset(offset))
    }

    /// Encodes a rebase node for `target` (a vmaddr) in `format`, with `next` in 4-byte units.
    pub fn encode_rebase(&self, target: u64, format: u16, next: u64) -> Result<u64> {
        let high8 = target >> 56;
        let low = target & 0x00FF_FFFF_FFFF_FFFF;
        let low = match format {
            PTR_64 => low,
            PTR_64_OFFSET => low.checked_sub(self.image_base).ok_or_else(|| {
                unsupported!("rebase target {target:#x} lies below the image base")
            })?,
            other => return Err(unsupported!("pointer format {other} is not handled")),
        };
        if low >> 36 != 0 {
            return Err(unsupported!("rebase target {target:#x} does not fit 36 bits"));
        }
        if next > NEXT_MASK {
            return Err(unsupported!("chain next {next} does not fit 12 bits"));
        }
        Ok(low | (high8 << 36) | (next << NEXT_SHIFT))
    }
}

/// Reads the imports table: count checked against the bytes available before allocating.
fn parse_imports<'data>(blob: Blob<'data>, h: &Header) -> Result<Vec<Import<'data>>> {
    let dataoff = blob.at;
    let imports_count = h.imports_count.get(LE);
    let symbols_format = h.symbols_format.get(LE);
    let imports_format = h.imports_format.get(LE).0;
    if imports_count == 0 {
        return Ok(Vec::new());
    }
    if symbols_format != 0 {
        return Err(unsupported!(
            "dyld_chained_fixups_header at file offset {dataoff:#x}: symbols_format {symbols_format} \
             (compressed import names) is not handled"
        ));
    }
    let entry: u64 = match imports_format {
        1 => 4,
        2 => 8,
        3 => 16,
        f => {
            return Err(unsupported!(
                "dyld_chained_fixups_header at file offset {dataoff:#x}: imports_format {f} is \
                 not 1, 2 or 3"
            ))
        }
    };
    let table = u64::from(h.imports_offset.get(LE));
    let len = u64::from(imports_count) * entry;
    blob.slice(table, len, "chained imports table").map_err(|_| {
        malformed!(
            "chained imports table at file offset {:#x}: {} imports of {entry} bytes run past the \
             fixups data",
            dataoff + table,
            imports_count
        )
    })?;
    let pool = u64::from(h.symbols_offset.get(LE));
    let pool_len = (blob.bytes.len() as u64).saturating_sub(pool);
    let mut out = Vec::with_capacity(imports_count as usize);
    for i in 0..u64::from(imports_count) {
        let at = table + i * entry;
        let what = "chained import";
        let (lib_ordinal, weak, name_offset, addend) = match imports_format {
            3 => {
                let import = blob.pod::<U64<LE, DyldChainedImport64>>(at, what)?.get(LE);
                let addend = blob.pod::<U64<LE>>(at + 8, what)?.get(LE) as i64;
                let lib = import.lib_ordinal();
                let lib = if lib >= 0xFFF0 { i32::from(lib as i16) } else { i32::from(lib) };
                (lib, import.weak_import(), u64::from(import.name_offset()), addend)
            }
            f => {
                let import = blob.pod::<U32<LE, DyldChainedImport32>>(at, what)?.get(LE);
                let addend =
                    if f == 2 { i64::from(blob.pod::<I32<LE>>(at + 4, what)?.get(LE)) } else { 0 };
                let lib = import.lib_ordinal();
                let lib = if lib >= 0xF0 { i32::from(lib as i8) } else { i32::from(lib) };
                (lib, import.weak_import(), u64::from(import.name_offset()), addend)
            }
        };
        if name_offset >= pool_len {
            return Err(malformed!(
                "chained import {i} at file offset {:#x}: name offset {name_offset:#x} lies past \
                 the string pool ({pool_len:#x} bytes at file offset {:#x})",
                dataoff + at,
                dataoff + pool
            ));
        }
        let name =
            bytes::c_str(blob.bytes, pool + name_offset, "chained import name").map_err(|_| {
                malformed!(
                "chained import {i} at file offset {:#x}: name at pool offset {name_offset:#x} is \
                 not terminated",
                dataoff + at
            )
            })?;
        let library = match lib_ordinal {
            0 | -1 | -3 => Library::ThisImage,
            _ => Library::Elsewhere,
        };
        out.push(Import { lib_ordinal, library, weak, addend, name });
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    fn seg(fileoff: u64, filesize: u64) -> Segment {
        Segment {
            index: 0,
            name: "__DATA".into(),
            vmaddr: 0x1_0000_0000 + fileoff,
            vmsize: filesize,
            fileoff,
            filesize,
        }
    }

    /// A file with one 0x1000-byte data segment at 0x1000 and a fixups blob at 0x2000.
    fn image(page_start: u16, words: &[(u64, u64)], imports: &[u32], names: &[u8]) -> Vec<u8> {
        let raw: Vec<u8> = imports.iter().flat_map(|i| i.to_le_bytes()).collect();
        image_fmt(page_start, words, 1, &raw, imports.len() as u32, names)
    }

    fn image_fmt(
        page_start: u16,
        words: &[(u64, u64)],
        format: u32,
        imports: &[u8],
        count: u32,
        names: &[u8],
    ) -> Vec<u8> {
        let mut d = vec![0u8; 0x3000];
        for &(off, w) in words {
            d[off as usize..off as usize + 8].copy_from_slice(&w.to_le_bytes());
        }
        let mut blob = Vec::new();
        let starts = 28u32;
        let seg_starts = 8u32; // relative to starts
        let starts_len = 8 + 24;
        let imports_off = starts + starts_len;
        let symbols_off = imports_off + imports.len() as u32;
        for v in [0, starts, imports_off, symbols_off, count, format, 0] {
            blob.extend_from_slice(&u32::to_le_bytes(v));
        }
        blob.extend_from_slice(&1u32.to_le_bytes());
        blob.extend_from_slice(&seg_starts.to_le_bytes());
        blob.extend_from_slice(&24u32.to_le_bytes());
        blob.extend_from_slice(&0x1000u16.to_le_bytes());
        blob.extend_from_slice(&PTR_64.to_le_bytes());
        blob.extend_from_slice(&0x1000u64.to_le_bytes());
        blob.extend_from_slice(&0u32.to_le_bytes());
        blob.extend_from_slice(&1u16.to_le_bytes());
        blob.extend_from_slice(&page_start.to_le_bytes());
        blob.extend_from_slice(imports);
        blob.extend_from_slice(names);
        d[0x2000..0x2000 + blob.len()].copy_from_slice(&blob);
        d
    }

    fn parse(d: &[u8]) -> Result<ChainedFixups<'_>> {
        ChainedFixups::parse(d, 0x2000, 0x1000, &[seg(0x1000, 0x1000)], 0x1_0000_0000)
    }

    #[test]
    fn walks_rebases_and_binds() {
        let rebase = 0x1_0000_0638u64 | (2 << NEXT_SHIFT);
        // lib ordinal -3 (0xfd), name offset 1
        let bind = (1u64 << 63) | (6 << 24);
        let d = image(0x10, &[(0x1010, rebase), (0x1018, bind)], &[0xfd | (1 << 9)], b"\0_f\0");
        let f = parse(&d).unwrap();
        assert_eq!(f.nodes.len(), 2);
        assert_eq!(f.nodes[&0x1010].kind, FixupKind::Rebase { target: 0x1_0000_0638 });
        assert_eq!(f.nodes[&0x1018].kind, FixupKind::Bind { ordinal: 0, addend: 6 });
        assert_eq!(f.imports[0].lib_ordinal, -3);
        assert_eq!(f.imports[0].name, b"_f");
        assert_eq!(f.segments[0].pages, vec![vec![0x1010, 0x1018]]);
    }

    #[test]
    fn import_formats_2_and_3_carry_addends_and_wide_ordinals() {
        // Format 2: {lib -1 (0xff), weak, name 1} + i32 addend -8.
        let mut raw = (0xffu32 | (1 << 8) | (1 << 9)).to_le_bytes().to_vec();
        raw.extend_from_slice(&(-8i32).to_le_bytes());
        let d = image_fmt(0xFFFF, &[], 2, &raw, 1, b"\0_g\0");
        let f = parse(&d).unwrap();
        let i = f.imports[0];
        assert_eq!((i.lib_ordinal, i.weak, i.addend, i.name), (-1, true, -8, &b"_g"[..]));
        assert_eq!(i.library, Library::ThisImage);
        // Format 3: {lib -2 (0xfffe, flat: elsewhere), name 1} + u64 addend 0x1234.
        let mut raw = (0xfffeu64 | (1 << 32)).to_le_bytes().to_vec();
        raw.extend_from_slice(&0x1234u64.to_le_bytes());
        let d = image_fmt(0xFFFF, &[], 3, &raw, 1, b"\0_g\0");
        let f = parse(&d).unwrap();
        let i = f.imports[0];
        assert_eq!((i.lib_ordinal, i.addend, i.library), (-2, 0x1234, Library::Elsewhere));
        // A dylib ordinal is elsewhere too; compressed names and unknown formats are refused.
        let d = image(0xFFFF, &[], &[1 | (1 << 9)], b"\0_g\0");
        assert_eq!(parse(&d).unwrap().imports[0].library, Library::Elsewhere);
        let d = image_fmt(0xFFFF, &[], 4, &[0; 4], 1, b"\0");
        assert!(parse(&d).unwrap_err().message().contains("imports_format 4"));
        let mut d = image(0xFFFF, &[], &[0xfd], b"\0");
        d[0x2000 + 24] = 1; // symbols_format
        assert!(parse(&d).unwrap_err().message().contains("symbols_format 1"));
    }

    #[test]
    fn damaged_chains_are_errors() {
        // next past the page
        let d = image(0xff8, &[(0x1ff8, 3 << NEXT_SHIFT)], &[], b"\0");
        let e = parse(&d).unwrap_err();
        assert!(e.message().contains("overruns page"), "{e}");
        // page start past the segment
        let d = image(0x1000 - 4, &[], &[], b"\0");
        let e = parse(&d).unwrap_err();
        assert!(e.message().contains("past the segment"), "{e}");
        // bind ordinal out of range
        let d = image(0, &[(0x1000, (1u64 << 63) | 5)], &[0xfd], b"\0");
        let e = parse(&d).unwrap_err();
        assert!(e.message().contains("ordinal 5 out of range"), "{e}");
        // name offset past the pool
        let d = image(0xFFFF, &[], &[0xfd | (0x7000 << 9)], b"\0");
        let e = parse(&d).unwrap_err();
        assert!(e.message().contains("past the string pool"), "{e}");
        // multi-start
        let d = image(0x8001, &[], &[], b"\0");
        assert!(parse(&d).unwrap_err().message().contains("multi-start"));
    }

    #[test]
    fn rebase_encoding_round_trips() {
        let d = image(0xFFFF, &[], &[], b"\0");
        let f = parse(&d).unwrap();
        let w = f.encode_rebase(0x1_0000_0638, PTR_64, 4).unwrap();
        assert_eq!(w, 0x0020_0001_0000_0638);
        assert!(f.encode_rebase(1 << 40, PTR_64, 0).is_err());
        assert!(f.encode_rebase(0x1000, PTR_64, 0x1000).is_err());
        let w = f.encode_rebase(0x1_0000_4000, PTR_64_OFFSET, 0).unwrap();
        assert_eq!(w, 0x4000);
    }
}
