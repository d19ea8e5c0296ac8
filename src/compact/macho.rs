//! Mach-O compaction of the `__LLGO` segment (LLGO-TODAY.md 3, LLGo's `compactMachO`): once the
//! table of `need` bytes is written at the start of `__LLGO,__llgo_fie`, the unused file-backed
//! tail of the segment is cut out of the file without moving any virtual address. The segment's
//! `filesize` shrinks to the page-aligned end of the table, every file offset at or after the old
//! end of the segment moves down by the bytes removed, and the memory past the new `filesize` is
//! zero-fill.
//!
//! Pure: one thin little-endian 64-bit slice in, a plan of size-changing [`Edit`]s against the
//! original bytes out. A signed image needs a new signature afterwards (its code limit moves):
//! see `codesign::regen`. Refusals name the load command or section and its file offset.

#![deny(clippy::indexing_slicing)]

use std::mem::{offset_of, size_of};
use std::ops::Range;

use object::macho;
use object::LittleEndian as LE;

use crate::bytes;
use crate::edit::{check, Edit};
use crate::error::Result;
use crate::{malformed, unsupported};

type Header = macho::MachHeader64<LE>;
type SegmentCommand = macho::SegmentCommand64<LE>;
type Section = macho::Section64<LE>;

/// The entry section's name.
pub const ENTRY_SECTION: &[u8] = b"__llgo_fie";
/// The segment compaction applies to.
pub const LLGO_SEGMENT: &[u8] = b"__LLGO";
const DATA_SEGMENT: &[u8] = b"__DATA";
const LINKEDIT_SEGMENT: &[u8] = b"__LINKEDIT";

/// What compaction does to one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Cut `cut` (`removed` bytes, `cut.end` = the old end of `__LLGO`'s file range) out of the
    /// file; `edits` (the section's size, the segment's `filesize`, every moved offset, and the
    /// cut itself as an empty replacement) are against the original bytes.
    Compact {
        edits: Vec<Edit>,
        cut: Range<u64>,
        removed: u64,
        /// `__LLGO`'s new `filesize`.
        new_filesize: u64,
        /// The file's new length (before any re-signing).
        new_len: u64,
    },
    /// Nothing to cut (the table's page-aligned end is the segment's end): only the entry
    /// section's `size` drops to `need` (`edits` is that one field, or empty if it already is).
    SizeOnly { edits: Vec<Edit> },
    /// The entry section is in `__DATA`: the layout stays, the table is written in place only.
    NotLlgoSegment,
}

/// Page size compaction aligns `__LLGO`'s new `filesize` to: 16 KiB for arm64, 4 KiB otherwise
/// (LLGo's `machoPageSize`).
pub fn page_size(cputype: u32) -> u64 {
    if cputype == macho::CPU_TYPE_ARM64.0 {
        0x4000
    } else {
        0x1000
    }
}

/// Plans the compaction of `data` (one thin Mach-O) after a table of `need` bytes was written at
/// the start of `__llgo_fie`.
pub fn plan(data: &[u8], need: u64) -> Result<Outcome> {
    let layout = Layout::parse(data)?;
    let (si, ei) = layout.entry()?;
    let seg = layout.segments.get(si).ok_or_else(|| malformed!("internal: segment index"))?;
    let entry = seg.sections.get(ei).ok_or_else(|| malformed!("internal: section index"))?;
    let seg_what = format!("LC_SEGMENT_64 {} at file offset {:#x}", name(&seg.name), seg.header);
    let entry_what = format!("section {} at file offset {:#x}", entry.label(), entry.header);

    if seg.filesize == 0 {
        return Err(malformed!("{seg_what}: the entry section's segment has no file bytes"));
    }
    let old_end =
        seg.fileoff.checked_add(seg.filesize).filter(|&e| e <= data.len() as u64).ok_or_else(
            || {
                malformed!(
                "{seg_what}: file range {:#x}+{:#x} lies past the end of the file ({:#x} bytes)",
                seg.fileoff,
                seg.filesize,
                data.len()
            )
            },
        )?;
    let entry_end = entry.offset.checked_add(entry.size);
    if entry.offset < seg.fileoff || entry_end.is_none_or(|e| e > old_end) {
        return Err(malformed!(
            "{entry_what}: file range {:#x}+{:#x} is outside its segment's [{:#x}, {old_end:#x})",
            entry.offset,
            entry.size,
            seg.fileoff
        ));
    }
    if seg.name_is(DATA_SEGMENT) {
        return Ok(Outcome::NotLlgoSegment);
    }
    if !seg.name_is(LLGO_SEGMENT) {
        return Err(unsupported!(
            "{seg_what}: the entry section is in segment {}, neither __LLGO nor __DATA",
            name(&seg.name)
        ));
    }
    if need > entry.size {
        return Err(malformed!(
            "{entry_what}: the table ({need:#x} bytes) is larger than the section ({:#x})",
            entry.size
        ));
    }
    for (j, s) in seg.sections.iter().enumerate() {
        if j != ei && s.size != 0 {
            return Err(unsupported!(
                "section {} at file offset {:#x}: __LLGO holds another non-empty section \
                 ({:#x} bytes); only __llgo_fie may be cut",
                s.label(),
                s.header,
                s.size
            ));
        }
    }
    for (i, other) in layout.segments.iter().enumerate() {
        if i != si
            && other.filesize != 0
            && other.fileoff >= old_end
            && !other.name_is(LINKEDIT_SEGMENT)
        {
            return Err(unsupported!(
                "LC_SEGMENT_64 {} at file offset {:#x}: a segment other than __LINKEDIT follows \
                 __LLGO in the file (fileoff {:#x})",
                name(&other.name),
                other.header,
                other.fileoff
            ));
        }
    }

    let last_used = entry.offset + need; // entry.offset + size <= old_end, need <= size
    let page = page_size(layout.cputype);
    let new_filesize = align_up(last_used - seg.fileoff, page)
        .ok_or_else(|| malformed!("{seg_what}: page alignment overflows"))?
        .min(seg.filesize);
    let cut_start = seg.fileoff + new_filesize;
    let removed = old_end - cut_start;

    let mut edits = Vec::new();
    if entry.size != need {
        edits.push(Edit::overwrite(entry.header + offset_of!(Section, size) as u64, le64(need)));
    }
    if removed == 0 {
        return Ok(Outcome::SizeOnly { edits });
    }
    let cut = cut_start..old_end;

    // Anything else with file bytes in the cut range is a refusal.
    for (i, other) in layout.segments.iter().enumerate() {
        if i != si && other.filesize != 0 && overlaps(other.fileoff, other.filesize, &cut) {
            return Err(unsupported!(
                "LC_SEGMENT_64 {} at file offset {:#x}: its file range {:#x}+{:#x} overlaps the \
                 cut range [{:#x}, {:#x})",
                name(&other.name),
                other.header,
                other.fileoff,
                other.filesize,
                cut.start,
                cut.end
            ));
        }
        for (j, s) in other.sections.iter().enumerate() {
            if (i, j) != (si, ei) && s.has_file_bytes() && overlaps(s.offset, s.size, &cut) {
                return Err(unsupported!(
                    "section {} at file offset {:#x}: its file range {:#x}+{:#x} overlaps the \
                     cut range [{:#x}, {:#x})",
                    s.label(),
                    s.header,
                    s.offset,
                    s.size,
                    cut.start,
                    cut.end
                ));
            }
        }
    }
    layout.check_chained_starts(data, si, new_filesize, &cut)?;

    edits.push(Edit::overwrite(
        seg.header + offset_of!(SegmentCommand, filesize) as u64,
        le64(new_filesize),
    ));
    let mut fields: Vec<Field> = Vec::new();
    for (i, other) in layout.segments.iter().enumerate() {
        if i != si {
            fields.push(Field {
                pos: other.header + offset_of!(SegmentCommand, fileoff) as u64,
                width: 8,
                value: other.fileoff,
                what: format!("LC_SEGMENT_64 {} fileoff", name(&other.name)),
            });
        }
        for (j, s) in other.sections.iter().enumerate() {
            if (i, j) != (si, ei) {
                fields.push(Field {
                    pos: s.header + offset_of!(Section, offset) as u64,
                    width: 4,
                    value: s.offset,
                    what: format!("section {} offset", s.label()),
                });
            }
            if s.nreloc != 0 {
                fields.push(Field {
                    pos: s.header + offset_of!(Section, reloff) as u64,
                    width: 4,
                    value: s.reloff,
                    what: format!("section {} reloff", s.label()),
                });
            }
        }
    }
    fields.extend(layout.fields.iter().cloned());
    for f in &fields {
        if f.value == 0 || f.value < cut.start {
            continue;
        }
        if f.value < cut.end {
            return Err(unsupported!(
                "{} (field at file offset {:#x}) = {:#x} falls inside the cut range [{:#x}, {:#x})",
                f.what,
                f.pos,
                f.value,
                cut.start,
                cut.end
            ));
        }
        let moved = f.value - removed;
        edits.push(Edit::overwrite(f.pos, if f.width == 8 { le64(moved) } else { le32(moved)? }));
    }
    edits.push(Edit { offset: cut.start, len: removed, bytes: Vec::new() });
    edits.sort_by_key(|e| e.offset);
    check(&edits, data.len() as u64)?;
    Ok(Outcome::Compact { edits, cut, removed, new_filesize, new_len: data.len() as u64 - removed })
}

fn overlaps(offset: u64, size: u64, r: &Range<u64>) -> bool {
    let end = offset.saturating_add(size);
    offset < r.end && end > r.start
}

fn align_up(v: u64, a: u64) -> Option<u64> {
    v.checked_add(a - 1).map(|x| x / a * a)
}

fn le64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

fn le32(v: u64) -> Result<Vec<u8>> {
    u32::try_from(v)
        .map(|v| v.to_le_bytes().to_vec())
        .map_err(|_| malformed!("internal: offset {v:#x} does not fit 32 bits"))
}

fn name(raw: &[u8; 16]) -> String {
    let n = raw.iter().position(|&b| b == 0).unwrap_or(16);
    String::from_utf8_lossy(raw.get(..n).unwrap_or(raw)).into_owned()
}

#[derive(Clone, Debug)]
struct Field {
    pos: u64,
    width: u8,
    value: u64,
    what: String,
}

#[derive(Debug)]
struct Sect {
    sectname: [u8; 16],
    segname: [u8; 16],
    header: u64,
    size: u64,
    offset: u64,
    reloff: u64,
    nreloc: u32,
    flags: u32,
}

impl Sect {
    fn label(&self) -> String {
        format!("{},{}", name(&self.segname), name(&self.sectname))
    }

    fn has_file_bytes(&self) -> bool {
        let t = self.flags & macho::SECTION_TYPE;
        self.size != 0
            && t != u32::from(macho::S_ZEROFILL.0)
            && t != u32::from(macho::S_GB_ZEROFILL.0)
            && t != u32::from(macho::S_THREAD_LOCAL_ZEROFILL.0)
    }
}

#[derive(Debug)]
struct Seg {
    name: [u8; 16],
    header: u64,
    fileoff: u64,
    filesize: u64,
    sections: Vec<Sect>,
}

impl Seg {
    fn name_is(&self, n: &[u8]) -> bool {
        self.name.split(|&b| b == 0).next() == Some(n)
    }
}

struct Layout {
    cputype: u32,
    segments: Vec<Seg>,
    /// Every other file offset (symtab, dysymtab, dyld info, linkedit data, hints, notes,
    /// encryption info).
    fields: Vec<Field>,
    /// `(dataoff, datasize, command offset)` of `LC_DYLD_CHAINED_FIXUPS`.
    chained: Option<(u64, u64, u64)>,
}

impl Layout {
    fn parse(data: &[u8]) -> Result<Layout> {
        let hdr = bytes::slice(data, 0, size_of::<Header>() as u64, "Mach-O header")?;
        let (h, _) = object::pod::from_bytes::<Header>(hdr)
            .map_err(|_| malformed!("Mach-O header at file offset 0x0: truncated"))?;
        let magic = h.magic.get(object::BigEndian);
        if magic != macho::MH_CIGAM_64 {
            return Err(unsupported!(
                "Mach-O header at file offset 0x0: magic {magic:#x}: compaction needs a \
                 little-endian 64-bit image"
            ));
        }
        let filetype = bytes::u32_le(data, offset_of!(Header, filetype) as u64, "filetype")?;
        if filetype == macho::MH_FILESET.0 {
            return Err(unsupported!(
                "Mach-O header at file offset 0x0: a fileset is not compacted"
            ));
        }
        let cputype = bytes::u32_le(data, offset_of!(Header, cputype) as u64, "cputype")?;
        let ncmds = bytes::u32_le(data, offset_of!(Header, ncmds) as u64, "ncmds")?;
        let sizeofcmds = bytes::u32_le(data, offset_of!(Header, sizeofcmds) as u64, "sizeofcmds")?;
        let cmds_end = (size_of::<Header>() as u64) + u64::from(sizeofcmds);
        bytes::slice(data, 0, cmds_end, "load commands")?;
        let mut layout =
            Layout { cputype, segments: Vec::new(), fields: Vec::new(), chained: None };
        let mut off = size_of::<Header>() as u64;
        for i in 0..ncmds {
            let cmd = bytes::u32_le(data, off, "load command")?;
            let cmdsize = u64::from(bytes::u32_le(data, off + 4, "load command size")?);
            if cmdsize < 8 || off + cmdsize > cmds_end {
                return Err(malformed!(
                    "load command {i} ({cmd:#x}) at file offset {off:#x}: size {cmdsize:#x} \
                     runs past the load commands"
                ));
            }
            let body = bytes::slice(data, off, cmdsize, "load command")?;
            layout.command(data, cmd, off, body)?;
            off += cmdsize;
        }
        Ok(layout)
    }

    fn need(cmd_name: &str, off: u64, body: &[u8], size: usize) -> Result<()> {
        if body.len() < size {
            return Err(malformed!(
                "{cmd_name} at file offset {off:#x}: {} bytes, needs {size}",
                body.len()
            ));
        }
        Ok(())
    }

    fn field32(&mut self, data: &[u8], pos: u64, what: String) -> Result<()> {
        let value = u64::from(bytes::u32_le(data, pos, &what)?);
        self.fields.push(Field { pos, width: 4, value, what });
        Ok(())
    }

    fn command(&mut self, data: &[u8], cmd: u32, off: u64, body: &[u8]) -> Result<()> {
        let at = |what: &str| format!("{what} at file offset {off:#x}");
        match cmd & !macho::LC_REQ_DYLD {
            0x19 => self.segment(off, body),
            0x1 => Err(unsupported!("{}: 32-bit segment", at("LC_SEGMENT"))),
            0x2 => {
                Self::need("LC_SYMTAB", off, body, 24)?;
                self.field32(data, off + 8, format!("{} symoff", at("LC_SYMTAB")))?;
                self.field32(data, off + 16, format!("{} stroff", at("LC_SYMTAB")))
            }
            0xb => {
                Self::need("LC_DYSYMTAB", off, body, 80)?;
                for (p, n) in [
                    (32, "tocoff"),
                    (40, "modtaboff"),
                    (48, "extrefsymoff"),
                    (56, "indirectsymoff"),
                    (64, "extreloff"),
                    (72, "locreloff"),
                ] {
                    self.field32(data, off + p, format!("{} {n}", at("LC_DYSYMTAB")))?;
                }
                Ok(())
            }
            0x22 => {
                Self::need("LC_DYLD_INFO", off, body, 48)?;
                for (p, n) in [
                    (8, "rebase_off"),
                    (16, "bind_off"),
                    (24, "weak_bind_off"),
                    (32, "lazy_bind_off"),
                    (40, "export_off"),
                ] {
                    self.field32(data, off + p, format!("{} {n}", at("LC_DYLD_INFO")))?;
                }
                Ok(())
            }
            c @ (0x1d | 0x1e | 0x26 | 0x29 | 0x2b | 0x2e | 0x33 | 0x34 | 0x36 | 0x37 | 0x38) => {
                let n = match c {
                    0x1d => "LC_CODE_SIGNATURE",
                    0x1e => "LC_SEGMENT_SPLIT_INFO",
                    0x26 => "LC_FUNCTION_STARTS",
                    0x29 => "LC_DATA_IN_CODE",
                    0x2b => "LC_DYLIB_CODE_SIGN_DRS",
                    0x2e => "LC_LINKER_OPTIMIZATION_HINT",
                    0x33 => "LC_DYLD_EXPORTS_TRIE",
                    0x34 => "LC_DYLD_CHAINED_FIXUPS",
                    0x36 => "LC_ATOM_INFO",
                    0x37 => "LC_FUNCTION_VARIANTS",
                    _ => "LC_FUNCTION_VARIANT_FIXUPS",
                };
                Self::need(n, off, body, size_of::<macho::LinkeditDataCommand<LE>>())?;
                if c == 0x34 {
                    let dataoff = u64::from(bytes::u32_le(data, off + 8, n)?);
                    let datasize = u64::from(bytes::u32_le(data, off + 12, n)?);
                    self.chained = Some((dataoff, datasize, off));
                }
                self.field32(data, off + 8, format!("{} dataoff", at(n)))
            }
            0x16 => {
                Self::need("LC_TWOLEVEL_HINTS", off, body, 16)?;
                self.field32(data, off + 8, format!("{} offset", at("LC_TWOLEVEL_HINTS")))
            }
            0x3 => {
                Self::need("LC_SYMSEG", off, body, 16)?;
                self.field32(data, off + 8, format!("{} offset", at("LC_SYMSEG")))
            }
            0x31 => {
                Self::need("LC_NOTE", off, body, 40)?;
                let what = format!("{} offset", at("LC_NOTE"));
                let value = bytes::u64_le(data, off + 24, &what)?;
                self.fields.push(Field { pos: off + 24, width: 8, value, what });
                Ok(())
            }
            c @ (0x21 | 0x2c) => {
                let n = if c == 0x21 { "LC_ENCRYPTION_INFO" } else { "LC_ENCRYPTION_INFO_64" };
                Self::need(n, off, body, 20)?;
                let cryptid = bytes::u32_le(data, off + 16, n)?;
                if cryptid != 0 {
                    return Err(unsupported!(
                        "{}: cryptid {cryptid}: an encrypted image is not compacted",
                        at(n)
                    ));
                }
                self.field32(data, off + 8, format!("{} cryptoff", at(n)))
            }
            0x35 => Err(unsupported!("{}: a fileset is not compacted", at("LC_FILESET_ENTRY"))),
            0x4..=0xa
            | 0xc..=0x15
            | 0x17
            | 0x18
            | 0x1a..=0x1c
            | 0x1f
            | 0x20
            | 0x23..=0x25
            | 0x27
            | 0x28
            | 0x2a
            | 0x2d
            | 0x2f
            | 0x30
            | 0x32
            | 0x39 => Ok(()),
            _ => Err(unsupported!(
                "load command {cmd:#x} at file offset {off:#x}: unknown, so its file offsets \
                 cannot be moved"
            )),
        }
    }

    fn segment(&mut self, off: u64, body: &[u8]) -> Result<()> {
        let (seg, rest) = object::pod::from_bytes::<SegmentCommand>(body).map_err(|_| {
            malformed!("LC_SEGMENT_64 at file offset {off:#x}: shorter than its header")
        })?;
        let nsects = seg.nsects.get(LE);
        let (secs, _) =
            object::pod::slice_from_bytes::<Section>(rest, nsects as usize).map_err(|_| {
                malformed!(
                    "LC_SEGMENT_64 {} at file offset {off:#x}: {nsects} sections do not fit its \
                     cmdsize",
                    name(&seg.segname)
                )
            })?;
        let first = off + size_of::<SegmentCommand>() as u64;
        let sections = secs
            .iter()
            .enumerate()
            .map(|(j, s)| Sect {
                sectname: s.sectname,
                segname: s.segname,
                header: first + (j * size_of::<Section>()) as u64,
                size: s.size.get(LE),
                offset: u64::from(s.offset.get(LE)),
                reloff: u64::from(s.reloff.get(LE)),
                nreloc: s.nreloc.get(LE),
                flags: s.flags.get(LE).0,
            })
            .collect();
        self.segments.push(Seg {
            name: seg.segname,
            header: off,
            fileoff: seg.fileoff.get(LE),
            filesize: seg.filesize.get(LE),
            sections,
        });
        Ok(())
    }

    /// `(segment index, section index)` of the one `__llgo_fie`.
    fn entry(&self) -> Result<(usize, usize)> {
        let mut found = None;
        for (i, seg) in self.segments.iter().enumerate() {
            for (j, s) in seg.sections.iter().enumerate() {
                if s.sectname.split(|&b| b == 0).next() == Some(ENTRY_SECTION) {
                    if let Some((_, _, h)) = found {
                        return Err(malformed!(
                            "section {} at file offset {:#x}: a second __llgo_fie (first at \
                             {h:#x})",
                            s.label(),
                            s.header
                        ));
                    }
                    found = Some((i, j, s.header));
                }
            }
        }
        found
            .map(|(i, j, _)| (i, j))
            .ok_or_else(|| unsupported!("no __llgo_fie section: not an LLGo image"))
    }

    /// A chained-fixup chain that starts in the cut pages of `__LLGO` would make dyld write
    /// into zero-fill memory from whatever the file holds there now: refused.
    fn check_chained_starts(
        &self,
        data: &[u8],
        seg_index: usize,
        new_filesize: u64,
        cut: &Range<u64>,
    ) -> Result<()> {
        let Some((dataoff, datasize, cmd_off)) = self.chained else { return Ok(()) };
        let what = format!("LC_DYLD_CHAINED_FIXUPS at file offset {cmd_off:#x}");
        let blob = bytes::slice(data, dataoff, datasize, &what)?;
        let starts = u64::from(bytes::u32_le(blob, 4, &what)?);
        let seg_count = bytes::u32_le(blob, starts, &what)?;
        if seg_index as u64 >= u64::from(seg_count) {
            return Ok(());
        }
        let info = u64::from(bytes::u32_le(blob, starts + 4 + 4 * seg_index as u64, &what)?);
        if info == 0 {
            return Ok(());
        }
        let s = starts + info;
        let page_size = u64::from(bytes::u16_le(blob, s + 4, &what)?);
        let page_count = bytes::u16_le(blob, s + 20, &what)?;
        for p in 0..u64::from(page_count) {
            let start = bytes::u16_le(blob, s + 22 + 2 * p, &what)?;
            if start == 0xFFFF {
                continue;
            }
            let at = p * page_size + u64::from(start & 0x7FFF);
            if at >= new_filesize {
                return Err(unsupported!(
                    "{what}: __LLGO page {p} starts a fixup chain at segment offset {at:#x}, \
                     inside the cut range [{:#x}, {:#x}); the table writer must clear it first",
                    cut.start,
                    cut.end
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::edit::{apply, compose};

    fn e(offset: u64, len: u64, bytes: &[u8]) -> Edit {
        Edit { offset, len, bytes: bytes.to_vec() }
    }

    #[test]
    fn apply_cuts_and_replaces() {
        let d: Vec<u8> = (0..10).collect();
        let out = apply(&d, &[e(1, 1, &[9]), e(3, 4, &[]), e(8, 1, &[7, 7])]).unwrap();
        assert_eq!(out, [0, 9, 2, 7, 7, 7, 9]);
        assert!(apply(&d, &[e(3, 4, &[]), e(1, 1, &[9])]).is_err(), "unsorted");
        assert!(apply(&d, &[e(3, 4, &[]), e(5, 1, &[9])]).is_err(), "overlapping");
        assert!(apply(&d, &[e(9, 2, &[])]).is_err(), "past the end");
        assert!(apply(&d, &[e(u64::MAX, 2, &[])]).is_err(), "overflow");
    }

    #[test]
    fn compose_maps_second_edits_past_a_cut() {
        let d: Vec<u8> = (0..20).collect();
        let first = [e(2, 1, &[0xaa]), e(5, 5, &[])];
        let mid = apply(&d, &first).unwrap();
        let second = [e(0, 1, &[0xbb]), e(5, 2, &[0xcc, 0xcd]), e(12, 3, &[1, 2, 3, 4])];
        let want = apply(&mid, &second).unwrap();
        let all = compose(&first, &second).unwrap();
        assert_eq!(apply(&d, &all).unwrap(), want);
        // Touching what the first step wrote, or straddling its cut, is refused.
        assert!(compose(&first, &[e(2, 1, &[0])]).is_err());
        assert!(compose(&first, &[e(4, 2, &[0, 0])]).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        for len in [0usize, 4, 31, 32, 64] {
            let mut d = vec![0u8; len];
            if len >= 4 {
                d[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
            }
            assert!(plan(&d, 0).is_err());
        }
    }
}
