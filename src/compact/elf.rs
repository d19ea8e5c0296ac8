//! ELF compaction (LLGO-TODAY.md section 3, LLGo's `compactELF` at 3e0fdda00): after the table is
//! written into the first `need` bytes of the entry section, the file bytes of the section past
//! the table are cut out of the file. No virtual address moves: the carrier `PT_LOAD` keeps its
//! `p_memsz`, so the cut tail becomes zero-fill memory.
//!
//! The rules, in LLGo's order:
//!
//! 1. The carrier is the first `PT_LOAD` with a non-zero `p_filesz` whose file range holds the
//!    entry section. `oldEnd = p_offset + p_filesz`, `lastUsed = sh_offset + need`.
//! 2. No compaction when another allocated, non-`NOBITS`, non-empty section overlaps
//!    `[lastUsed, oldEnd)`; when the carrier's memory does not cover the section's; when
//!    another program header with a non-zero offset starts at or after `oldEnd`.
//! 3. `cutAlign` = the largest `sh_addralign` (at least 8) of the sections at or after `oldEnd`;
//!    `removed = align_down(oldEnd - lastUsed, cutAlign)`, `cutStart = oldEnd - removed`.
//! 4. The entry section's `sh_size = need` (even when nothing is removed). When `removed > 0`:
//!    no compaction when another program header's file bytes overlap `[cutStart, oldEnd)`;
//!    `p_filesz -= removed`; every section at or after `oldEnd` moves down by `removed`; a
//!    `NOBITS` section at or after `cutStart` gets `sh_offset = cutStart`; `e_shoff` moves down
//!    if it was at or after `oldEnd`; the bytes `[cutStart, oldEnd)` are removed.
//!
//! Where this differs from LLGo (only on inputs LLGo's linker script never produces): the entry
//! section is told apart from others by its header index, not its name; a program header table
//! at or after the cut start is a refusal (LLGo would leave `e_phoff` pointing at moved bytes);
//! what LLGo reports as an error after it has already decided to compact (a non-allocated
//! section or the section headers inside the cut) is an error here too.
#![deny(clippy::indexing_slicing)]

use std::mem::{offset_of, size_of};
use std::ops::Range;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::LittleEndian;

use crate::compact::Refusal;
use crate::edit::Edit;
use crate::error::Result;
use crate::malformed;

type Header = elf::FileHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

/// The section LLGo reads its table from.
pub const ENTRY_SECTION: &[u8] = b"llgo_funcinfo_entry";
/// The 32-byte identity section of external mode (LLGO-TODAY.md section 4).
pub const IDENTITY_SECTION: &[u8] = b"llgo_pclntab_id";

/// Offsets of the fields compaction edits, inside their headers (ELF64).
const E_SHOFF: u64 = offset_of!(Header, e_shoff) as u64;
const SH_OFFSET: u64 = offset_of!(elf::SectionHeader64<LittleEndian>, sh_offset) as u64;
const SH_SIZE: u64 = offset_of!(elf::SectionHeader64<LittleEndian>, sh_size) as u64;
const P_FILESZ: u64 = offset_of!(elf::ProgramHeader64<LittleEndian>, p_filesz) as u64;
const SHDR_SIZE: u64 = size_of::<elf::SectionHeader64<LittleEndian>>() as u64;
const PHDR_SIZE: u64 = size_of::<elf::ProgramHeader64<LittleEndian>>() as u64;
/// ELF64 section headers and symbol tables need 8-byte alignment where they land.
const MIN_CUT_ALIGN: u64 = 8;

/// Which section holds the table: its index in the section header table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionRef {
    pub index: usize,
}

/// A planned compaction. `edits` are sorted, do not overlap, and are relative to the original
/// file; they hold the header edits and, when `removed > 0`, the cut itself
/// (`Edit { offset: cut.start, len: removed, bytes: [] }`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compaction {
    pub edits: Vec<Edit>,
    /// Bytes removed from the file (a multiple of the cut alignment; may be 0, then only the
    /// entry section's `sh_size` changes).
    pub removed: u64,
    /// The removed range of the original file (`cut.end` is the carrier's old file end).
    pub cut: Range<u64>,
    /// The size of the file after the edits.
    pub new_len: u64,
    /// The carrier `PT_LOAD`'s index and its new `p_filesz`.
    pub carrier: usize,
    pub carrier_filesz: u64,
}

/// What [`plan`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Compact(Compaction),
    /// The layout does not allow compaction; write the table in place at full size.
    Keep(Refusal),
}

/// The index of the one section named [`ENTRY_SECTION`], `None` when there is none.
/// Several sections of that name (mold's fragments) are left to the caller: this returns the
/// first.
pub fn entry_section(data: &[u8]) -> Result<Option<SectionRef>> {
    find_section(data, ENTRY_SECTION)
}

/// Whether the file has the external-mode identity section (`llgo_pclntab_id`).
pub fn identity_section_present(data: &[u8]) -> Result<bool> {
    Ok(find_section(data, IDENTITY_SECTION)?.is_some())
}

fn find_section(data: &[u8], name: &[u8]) -> Result<Option<SectionRef>> {
    let header = Header::parse(data).map_err(|e| malformed!("ELF header at file offset 0: {e}"))?;
    let table = header.sections(LE, data).map_err(|e| {
        malformed!("ELF section headers at file offset {:#x}: {e}", header.e_shoff(LE))
    })?;
    Ok(table
        .iter()
        .position(|s| table.section_name(LE, s).is_ok_and(|n| n == name))
        .map(|index| SectionRef { index }))
}

/// One section header, read once, with where it lives in the file.
struct Sec {
    index: usize,
    /// File offset of the header itself.
    at: u64,
    name: String,
    kind: u32,
    flags: u64,
    addr: u64,
    offset: u64,
    size: u64,
    align: u64,
}

impl Sec {
    fn nobits(&self) -> bool {
        self.kind == elf::SHT_NOBITS.0
    }

    /// The file range of a non-`NOBITS` section (checked against the file when read).
    fn end(&self) -> u64 {
        self.offset.saturating_add(self.size)
    }

    fn describe(&self) -> String {
        format!(
            "section [{}] {} (header at file offset {:#x}, file range [{:#x}, {:#x}))",
            self.index,
            self.name,
            self.at,
            self.offset,
            self.end()
        )
    }
}

struct Seg {
    index: usize,
    at: u64,
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

impl Seg {
    fn describe(&self) -> String {
        format!(
            "program header [{}] {} (at file offset {:#x}, file range [{:#x}, {:#x}))",
            self.index,
            segment_kind(self.kind),
            self.at,
            self.offset,
            self.offset.saturating_add(self.filesz)
        )
    }
}

fn segment_kind(kind: u32) -> String {
    match kind {
        k if k == elf::PT_LOAD.0 => "PT_LOAD".into(),
        k if k == elf::PT_DYNAMIC.0 => "PT_DYNAMIC".into(),
        k if k == elf::PT_INTERP.0 => "PT_INTERP".into(),
        k if k == elf::PT_NOTE.0 => "PT_NOTE".into(),
        k if k == elf::PT_PHDR.0 => "PT_PHDR".into(),
        k if k == elf::PT_TLS.0 => "PT_TLS".into(),
        k if k == elf::PT_GNU_EH_FRAME.0 => "PT_GNU_EH_FRAME".into(),
        k if k == elf::PT_GNU_STACK.0 => "PT_GNU_STACK".into(),
        k if k == elf::PT_GNU_RELRO.0 => "PT_GNU_RELRO".into(),
        other => format!("type {other:#x}"),
    }
}

fn header_at(table: u64, index: usize, size: u64, what: &str) -> Result<u64> {
    (index as u64)
        .checked_mul(size)
        .and_then(|o| o.checked_add(table))
        .ok_or_else(|| malformed!("{what} [{index}]: header offset overflows"))
}

fn read_layout(data: &[u8]) -> Result<(u64, u64, Vec<Sec>, Vec<Seg>)> {
    let len = data.len() as u64;
    let header = Header::parse(data).map_err(|e| malformed!("ELF header at file offset 0: {e}"))?;
    let (shoff, phoff) = (header.e_shoff(LE), header.e_phoff(LE));
    let table = header
        .sections(LE, data)
        .map_err(|e| malformed!("ELF section headers at file offset {shoff:#x}: {e}"))?;
    let segments = header
        .program_headers(LE, data)
        .map_err(|e| malformed!("ELF program headers at file offset {phoff:#x}: {e}"))?;
    let mut secs = Vec::with_capacity(table.len());
    for (index, s) in table.iter().enumerate() {
        let at = header_at(shoff, index, SHDR_SIZE, "section header")?;
        let name =
            table.section_name(LE, s).map(|n| String::from_utf8_lossy(n).into_owned()).map_err(
                |e| malformed!("section [{index}] (header at file offset {at:#x}): name: {e}"),
            )?;
        let sec = Sec {
            index,
            at,
            name,
            kind: s.sh_type(LE).0,
            flags: s.sh_flags(LE).0,
            addr: s.sh_addr(LE),
            offset: s.sh_offset(LE),
            size: s.sh_size(LE),
            align: s.sh_addralign(LE),
        };
        if !sec.nobits()
            && sec.size != 0
            && sec.offset.checked_add(sec.size).is_none_or(|e| e > len)
        {
            return Err(malformed!(
                "section [{index}] {} (header at file offset {at:#x}): file range {:#x} (+{:#x}) lies outside the file ({len:#x} bytes)",
                sec.name,
                sec.offset,
                sec.size
            ));
        }
        secs.push(sec);
    }
    let mut segs = Vec::with_capacity(segments.len());
    for (index, p) in segments.iter().enumerate() {
        let at = header_at(phoff, index, PHDR_SIZE, "program header")?;
        let seg = Seg {
            index,
            at,
            kind: p.p_type(LE).0,
            offset: p.p_offset(LE),
            vaddr: p.p_vaddr(LE),
            filesz: p.p_filesz(LE),
            memsz: p.p_memsz(LE),
        };
        if seg.filesz != 0 && seg.offset.checked_add(seg.filesz).is_none_or(|e| e > len) {
            return Err(malformed!(
                "program header [{index}] {} (at file offset {at:#x}): file range {:#x} (+{:#x}) lies outside the file ({len:#x} bytes)",
                segment_kind(seg.kind),
                seg.offset,
                seg.filesz
            ));
        }
        segs.push(seg);
    }
    Ok((shoff, phoff, secs, segs))
}

/// Plans the compaction of the entry section `entry` whose first `need` bytes hold the table.
///
/// `Ok(Decision::Keep(_))` when the layout does not allow it (the table is then written in place
/// at full size); `Err` when the file is malformed (a range outside the file, an overflow, a
/// non-power-of-two alignment, a non-allocated section or the section headers inside the range
/// that would be cut) or the arguments are inconsistent (`need` larger than the section).
pub fn plan(data: &[u8], entry: SectionRef, need: u64) -> Result<Decision> {
    let len = data.len() as u64;
    let (shoff, phoff, secs, segs) = read_layout(data)?;
    let sec = secs.get(entry.index).ok_or_else(|| {
        malformed!("entry section index {} is not below e_shnum {}", entry.index, secs.len())
    })?;
    if sec.nobits() {
        return Err(malformed!("entry {} is SHT_NOBITS", sec.describe()));
    }
    if need > sec.size {
        return Err(malformed!("table of {need:#x} bytes exceeds entry {}", sec.describe()));
    }
    let Some(carrier) = segs.iter().find(|p| {
        p.kind == elf::PT_LOAD.0
            && p.filesz != 0
            && sec.offset >= p.offset
            && sec.end() <= p.offset.saturating_add(p.filesz)
    }) else {
        return Ok(keep(format!("no PT_LOAD with file bytes holds entry {}", sec.describe())));
    };
    // Both in the file: checked when read.
    let old_end = carrier.offset.saturating_add(carrier.filesz);
    let last_used =
        sec.offset.checked_add(need).filter(|&e| e <= old_end).ok_or_else(|| {
            malformed!("table end of entry {} overflows its carrier", sec.describe())
        })?;

    // 2. Layouts LLGo does not compact.
    if let Some(other) = secs.iter().find(|s| {
        s.index != sec.index
            && !s.nobits()
            && s.size != 0
            && s.flags & elf::SHF_ALLOC.0 != 0
            && s.offset < old_end
            && s.end() > last_used
    }) {
        return Ok(keep(format!(
            "allocated {} lies in the range [{last_used:#x}, {old_end:#x}) after the table in carrier {}",
            other.describe(),
            carrier.describe()
        )));
    }
    let carrier_mem_end = carrier.vaddr.checked_add(carrier.memsz).ok_or_else(|| {
        malformed!(
            "carrier {}: p_vaddr {:#x} + p_memsz {:#x} overflows",
            carrier.describe(),
            carrier.vaddr,
            carrier.memsz
        )
    })?;
    let sec_addr = sec.addr;
    let sec_mem_end = sec_addr.checked_add(sec.size).ok_or_else(|| {
        malformed!("entry {}: sh_addr {sec_addr:#x} + sh_size overflows", sec.describe())
    })?;
    if carrier_mem_end < sec_mem_end {
        return Ok(keep(format!(
            "carrier {} memory ends at {carrier_mem_end:#x}, before entry {} ends at {sec_mem_end:#x}",
            carrier.describe(),
            sec.describe()
        )));
    }
    if let Some(after) =
        segs.iter().find(|p| p.index != carrier.index && p.offset != 0 && p.offset >= old_end)
    {
        return Ok(keep(format!(
            "{} starts at or after the end {old_end:#x} of carrier {}",
            after.describe(),
            carrier.describe()
        )));
    }

    // 3. How much to cut: keep the alignment of everything that moves.
    let mut cut_align = MIN_CUT_ALIGN;
    for s in secs.iter().filter(|s| s.offset >= old_end) {
        if s.align <= cut_align {
            continue;
        }
        if !s.align.is_power_of_two() {
            return Err(malformed!(
                "{}: sh_addralign {:#x} is not a power of two",
                s.describe(),
                s.align
            ));
        }
        cut_align = s.align;
    }
    // last_used <= old_end (checked above); cut_align is a power of two.
    let removed = (old_end - last_used) & !(cut_align - 1);
    let cut_start = old_end - removed;

    // 4. The edits.
    let mut edits = vec![Edit::overwrite(field(sec.at, SH_SIZE)?, need.to_le_bytes().to_vec())];
    let done = |edits: Vec<Edit>| {
        Ok(Decision::Compact(Compaction {
            edits,
            removed,
            cut: cut_start..old_end,
            new_len: len - removed,
            carrier: carrier.index,
            carrier_filesz: carrier.filesz - removed,
        }))
    };
    if removed == 0 {
        return done(edits);
    }
    if let Some(overlap) = segs.iter().find(|p| {
        p.index != carrier.index
            && p.filesz != 0
            && p.offset < old_end
            && p.offset.saturating_add(p.filesz) > cut_start
    }) {
        return Ok(keep(format!(
            "{} has file bytes in the range [{cut_start:#x}, {old_end:#x}) that would be cut",
            overlap.describe()
        )));
    }
    if phoff >= cut_start {
        return Ok(keep(format!(
            "the program header table at file offset {phoff:#x} lies at or after the cut start {cut_start:#x}"
        )));
    }
    edits.push(Edit::overwrite(
        field(carrier.at, P_FILESZ)?,
        (carrier.filesz - removed).to_le_bytes().to_vec(),
    ));
    for s in secs.iter().filter(|s| s.index != sec.index) {
        let moved = if s.offset >= old_end {
            s.offset - removed
        } else if s.nobits() && s.offset >= cut_start {
            cut_start
        } else if !s.nobits() && s.size != 0 && s.end() > cut_start {
            return Err(malformed!(
                "{} overlaps the range [{cut_start:#x}, {old_end:#x}) cut from carrier {}",
                s.describe(),
                carrier.describe()
            ));
        } else {
            continue;
        };
        edits.push(Edit::overwrite(field(s.at, SH_OFFSET)?, moved.to_le_bytes().to_vec()));
    }
    if shoff >= old_end {
        edits.push(Edit::overwrite(E_SHOFF, (shoff - removed).to_le_bytes().to_vec()));
    } else if shoff >= cut_start {
        return Err(malformed!(
            "the section header table at file offset {shoff:#x} lies in the range [{cut_start:#x}, {old_end:#x}) cut from carrier {}",
            carrier.describe()
        ));
    }
    edits.push(Edit::cut(cut_start, removed));
    edits.sort_by_key(|e| e.offset);
    for pair in edits.windows(2) {
        if let [a, b] = pair {
            if a.end() > b.offset {
                return Err(malformed!(
                    "a header field at file offset {:#x} lies in the range [{cut_start:#x}, {old_end:#x}) cut from carrier {}",
                    if a.len == removed && a.bytes.is_empty() { b.offset } else { a.offset },
                    carrier.describe()
                ));
            }
        }
    }
    done(edits)
}

fn keep(message: String) -> Decision {
    Decision::Keep(Refusal::new(message))
}

fn field(header: u64, at: u64) -> Result<u64> {
    header
        .checked_add(at)
        .ok_or_else(|| malformed!("header at file offset {header:#x}: field offset overflows"))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::edit::apply;

    fn put(d: &mut Vec<u8>, at: usize, bytes: &[u8]) {
        if d.len() < at + bytes.len() {
            d.resize(at + bytes.len(), 0);
        }
        d[at..at + bytes.len()].copy_from_slice(bytes);
    }

    /// A minimal ELF64 executable, laid out by hand:
    /// 0x000 header, 0x040 two program headers (carrier PT_LOAD, PT_GNU_STACK), 0x100 .data
    /// (0x20), 0x120 llgo_funcinfo_entry (0x200, ends at the carrier's file end 0x320), .bss
    /// NOBITS at 0x320 (align 32), .shstrtab at 0x320, section headers at `shoff`.
    fn synth(shoff: u64) -> Vec<u8> {
        let mut d = vec![0u8; 0x320];
        put(&mut d, 0, b"\x7fELF\x02\x01\x01");
        put(&mut d, 16, &2u16.to_le_bytes()); // ET_EXEC
        put(&mut d, 18, &62u16.to_le_bytes()); // x86_64
        put(&mut d, 20, &1u32.to_le_bytes());
        put(&mut d, 32, &0x40u64.to_le_bytes()); // e_phoff
        put(&mut d, 40, &shoff.to_le_bytes());
        put(&mut d, 52, &64u16.to_le_bytes());
        put(&mut d, 54, &56u16.to_le_bytes());
        put(&mut d, 56, &2u16.to_le_bytes());
        put(&mut d, 58, &64u16.to_le_bytes());
        put(&mut d, 60, &5u16.to_le_bytes());
        put(&mut d, 62, &4u16.to_le_bytes()); // shstrndx
        let phdr = |d: &mut Vec<u8>,
                    at: usize,
                    kind: u32,
                    off: u64,
                    vaddr: u64,
                    filesz: u64,
                    memsz: u64| {
            put(d, at, &kind.to_le_bytes());
            put(d, at + 4, &6u32.to_le_bytes());
            put(d, at + 8, &off.to_le_bytes());
            put(d, at + 16, &vaddr.to_le_bytes());
            put(d, at + 24, &vaddr.to_le_bytes());
            put(d, at + 32, &filesz.to_le_bytes());
            put(d, at + 40, &memsz.to_le_bytes());
            put(d, at + 48, &0x1000u64.to_le_bytes());
        };
        phdr(&mut d, 0x40, 1, 0x100, 0x1100, 0x220, 0x3a0);
        phdr(&mut d, 0x78, 0x6474_e551, 0, 0, 0, 0);
        for i in 0..0x200u64 / 8 {
            put(&mut d, 0x120 + 8 * i as usize, &(0xaa00 + i).to_le_bytes());
        }
        let names = b"\0.data\0llgo_funcinfo_entry\0.bss\0.shstrtab\0";
        put(&mut d, 0x320, names);
        let shdr = |d: &mut Vec<u8>,
                    i: u64,
                    name: u32,
                    kind: u32,
                    flags: u64,
                    addr: u64,
                    off: u64,
                    size: u64,
                    align: u64| {
            let at = (shoff + 64 * i) as usize;
            put(d, at, &name.to_le_bytes());
            put(d, at + 4, &kind.to_le_bytes());
            put(d, at + 8, &flags.to_le_bytes());
            put(d, at + 16, &addr.to_le_bytes());
            put(d, at + 24, &off.to_le_bytes());
            put(d, at + 32, &size.to_le_bytes());
            put(d, at + 48, &align.to_le_bytes());
        };
        shdr(&mut d, 0, 0, 0, 0, 0, 0, 0, 0);
        shdr(&mut d, 1, 1, 1, 3, 0x1100, 0x100, 0x20, 8);
        shdr(&mut d, 2, 7, 1, 3, 0x1120, 0x120, 0x200, 8);
        shdr(&mut d, 3, 27, 8, 3, 0x1320, 0x320, 0x80, 32);
        shdr(&mut d, 4, 32, 3, 0, 0, 0x320, names.len() as u64, 1);
        d.resize(d.len().max((shoff + 5 * 64) as usize), 0);
        d
    }

    const SHOFF: u64 = 0x360;

    fn u64_at(d: &[u8], at: u64) -> u64 {
        u64::from_le_bytes(d[at as usize..at as usize + 8].try_into().unwrap())
    }

    #[test]
    fn synthetic_compaction_by_hand() {
        let d = synth(SHOFF);
        let entry = entry_section(&d).unwrap().unwrap();
        assert_eq!(entry.index, 2);
        // lastUsed = 0x120 + 0x48 = 0x168; oldEnd = 0x320; cutAlign = 32 (.bss at oldEnd);
        // removed = align_down(0x1b8, 32) = 0x1a0; cutStart = 0x180.
        let Decision::Compact(c) = plan(&d, entry, 0x48).unwrap() else { panic!("refused") };
        assert_eq!(
            (c.removed, c.cut.clone(), c.new_len),
            (0x1a0, 0x180..0x320, d.len() as u64 - 0x1a0)
        );
        assert_eq!((c.carrier, c.carrier_filesz), (0, 0x80));
        let out = apply(&d, &c.edits).unwrap();
        let shoff = SHOFF - 0x1a0;
        assert_eq!(u64_at(&out, 40), shoff);
        assert_eq!(u64_at(&out, 0x40 + 32), 0x80, "p_filesz");
        assert_eq!(u64_at(&out, 0x40 + 40), 0x3a0, "p_memsz unchanged");
        assert_eq!(u64_at(&out, shoff + 64 * 2 + 32), 0x48, "entry sh_size");
        assert_eq!(u64_at(&out, shoff + 64 * 2 + 24), 0x120, "entry sh_offset");
        assert_eq!(u64_at(&out, shoff + 64 * 3 + 24), 0x180, ".bss moves down with the cut");
        assert_eq!(u64_at(&out, shoff + 64 * 4 + 24), 0x180, ".shstrtab moves down");
        assert_eq!(u64_at(&out, shoff + 64 + 24), 0x100, ".data untouched");
        assert_eq!(&out[0x180..0x180 + 5], b"\0.dat");
        assert_eq!(&out[0xb0..0x180], &d[0xb0..0x180], "bytes before the cut");
    }

    #[test]
    fn nothing_to_cut_still_sets_the_size() {
        let d = synth(SHOFF);
        let entry = entry_section(&d).unwrap().unwrap();
        // lastUsed = 0x318: 8 bytes of slack, below the 32-byte cut alignment.
        let Decision::Compact(c) = plan(&d, entry, 0x1f8).unwrap() else { panic!("refused") };
        assert_eq!(c.removed, 0);
        assert_eq!(
            c.edits,
            vec![Edit::overwrite(SHOFF + 64 * 2 + 32, 0x1f8u64.to_le_bytes().to_vec())]
        );
    }

    #[test]
    fn section_headers_inside_the_cut_are_an_error() {
        // The section header table placed inside the entry section's tail.
        let mut d = synth(0x1c0);
        d.truncate(0x320 + 42);
        let entry = entry_section(&d).unwrap().unwrap();
        let e = plan(&d, entry, 0x48).unwrap_err();
        assert!(e.message().contains("section header table at file offset 0x1c0"), "{e}");
    }

    #[test]
    fn program_headers_after_the_cut_are_a_refusal() {
        let mut d = synth(SHOFF);
        let phdrs = d[0x40..0xb0].to_vec();
        let at = d.len() as u64;
        d.extend_from_slice(&phdrs);
        put(&mut d, 32, &at.to_le_bytes());
        let entry = entry_section(&d).unwrap().unwrap();
        let Decision::Keep(r) = plan(&d, entry, 0x48).unwrap() else { panic!("compacted") };
        assert!(r.message().contains("program header table"), "{r}");
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let d = synth(SHOFF);
        let entry = SectionRef { index: 2 };
        for i in (0..0x100).chain(SHOFF as usize..d.len()) {
            for v in [0x00, 0xff, 0x80, 0x01] {
                let mut m = d.clone();
                m[i] = v;
                let _ = plan(&m, entry, 0x48);
                let _ = entry_section(&m);
            }
        }
        for len in 0..d.len() {
            let _ = plan(&d[..len], entry, 0x48);
        }
        assert!(plan(&d, SectionRef { index: 9 }, 0x48).is_err());
        assert!(plan(&d, entry, u64::MAX).is_err());
    }
}
