//! The dynamic section and the dynamic relocation tables as the loader sees them: `PT_DYNAMIC`
//! and every `DT_*` address read through the `PT_LOAD` mapping, never through the section
//! headers (FORMAT.md 1.2, 3.3). RELA, REL, RELR and JMPREL are decoded into one list.
//!
//! Sanity (a failure names the tag and the file offset of its dynamic entry): a table outside
//! the file-backed part of every `PT_LOAD`, a size that is not a multiple of the entry size, an
//! entry size other than the ELF64 one, a `DT_RELACOUNT`/`DT_RELCOUNT` above the table's count.

use object::elf;
use object::read::elf::ProgramHeader as _;
use object::LittleEndian;

use crate::bytes;
use crate::error::Result;
use crate::malformed;

const LE: LittleEndian = LittleEndian;
type Phdr = elf::ProgramHeader64<LittleEndian>;

pub const RELA_SIZE: u64 = 24;
pub const REL_SIZE: u64 = 16;
pub const RELR_SIZE: u64 = 8;
const DYN_SIZE: u64 = 16;

/// Which loader table a relocation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// `DT_RELA`/`DT_RELASZ` (`.rela.dyn`).
    Rela,
    /// `DT_REL`/`DT_RELSZ` (`.rel.dyn`).
    Rel,
    /// `DT_RELR`/`DT_RELRSZ` (`.relr.dyn`): relative relocations, implicit addend.
    Relr,
    /// `DT_JMPREL`/`DT_PLTRELSZ` (`.rela.plt`).
    Jmprel,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Rela => "DT_RELA",
            Source::Rel => "DT_REL",
            Source::Relr => "DT_RELR",
            Source::Jmprel => "DT_JMPREL",
        }
    }
}

/// One decoded dynamic relocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DynReloc {
    pub source: Source,
    /// Position in its table (RELR: position in the decoded address list).
    pub index: usize,
    /// The address the loader writes (`r_offset`).
    pub target: u64,
    /// `r_type` (RELR: the machine's RELATIVE type).
    pub kind: u32,
    pub sym: u32,
    /// RELA addend; `None` for REL and RELR (the slot holds the implicit addend).
    pub addend: Option<i64>,
}

/// A table named by a pair of dynamic tags: where it is and where its tags are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    pub addr: u64,
    /// File offset of the table (through `PT_LOAD`).
    pub offset: u64,
    pub size: u64,
    /// File offset of the dynamic entry holding the size tag (`DT_RELASZ`, ...).
    pub size_entry: u64,
}

/// A `DT_RELACOUNT`/`DT_RELCOUNT` value and the file offset of its dynamic entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count {
    pub value: u64,
    pub entry: u64,
}

/// The machine's relocation types that matter here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Types {
    pub relative: u32,
    pub irelative: u32,
    /// The plain 64-bit absolute type (`R_X86_64_64`, `R_AARCH64_ABS64`).
    pub abs64: u32,
}

pub fn types(machine: u16) -> Types {
    if machine == elf::EM_AARCH64.0 {
        Types {
            relative: elf::R_AARCH64_RELATIVE.0,
            irelative: elf::R_AARCH64_IRELATIVE.0,
            abs64: elf::R_AARCH64_ABS64.0,
        }
    } else {
        Types {
            relative: elf::R_X86_64_RELATIVE.0,
            irelative: elf::R_X86_64_IRELATIVE.0,
            abs64: elf::R_X86_64_64.0,
        }
    }
}

/// A relocation type's name for messages.
pub fn type_name(machine: u16, kind: u32) -> String {
    let names: &[(elf::RelocationType, &str)] = if machine == elf::EM_AARCH64.0 {
        &[
            (elf::R_AARCH64_RELATIVE, "R_AARCH64_RELATIVE"),
            (elf::R_AARCH64_IRELATIVE, "R_AARCH64_IRELATIVE"),
            (elf::R_AARCH64_ABS64, "R_AARCH64_ABS64"),
            (elf::R_AARCH64_GLOB_DAT, "R_AARCH64_GLOB_DAT"),
            (elf::R_AARCH64_JUMP_SLOT, "R_AARCH64_JUMP_SLOT"),
            (elf::R_AARCH64_COPY, "R_AARCH64_COPY"),
        ]
    } else {
        &[
            (elf::R_X86_64_RELATIVE, "R_X86_64_RELATIVE"),
            (elf::R_X86_64_IRELATIVE, "R_X86_64_IRELATIVE"),
            (elf::R_X86_64_64, "R_X86_64_64"),
            (elf::R_X86_64_GLOB_DAT, "R_X86_64_GLOB_DAT"),
            (elf::R_X86_64_JUMP_SLOT, "R_X86_64_JUMP_SLOT"),
            (elf::R_X86_64_COPY, "R_X86_64_COPY"),
        ]
    };
    names
        .iter()
        .find(|(t, _)| t.0 == kind)
        .map_or_else(|| format!("relocation type {kind}"), |(_, n)| n.to_string())
}

/// The dynamic section of an image, with its relocation tables decoded.
#[derive(Clone, Debug, Default)]
pub struct Dynamic {
    pub rela: Option<Table>,
    pub rela_count: Option<Count>,
    pub rel: Option<Table>,
    pub rel_count: Option<Count>,
    pub relr: Option<Table>,
    pub jmprel: Option<Table>,
    /// `DT_PLTREL` says JMPREL holds REL entries (else RELA).
    pub jmprel_is_rel: bool,
    /// Every relocation of every table, in table order (RELA, REL, RELR, JMPREL).
    pub relocs: Vec<DynReloc>,
}

/// File offset of `len` file-backed bytes at `addr`, through the `PT_LOAD` mapping.
pub fn addr_to_offset(segments: &[Phdr], addr: u64, len: u64) -> Option<u64> {
    segments.iter().find_map(|seg| {
        if seg.p_type(LE) != elf::PT_LOAD {
            return None;
        }
        let delta = addr.checked_sub(seg.p_vaddr(LE))?;
        if delta.checked_add(len)? > seg.p_filesz(LE) {
            return None;
        }
        seg.p_offset(LE).checked_add(delta)
    })
}

/// The address the loader maps file offset `offset` at (first `PT_LOAD` whose file part holds it).
pub fn offset_to_addr(segments: &[Phdr], offset: u64) -> Option<u64> {
    segments.iter().find_map(|seg| {
        if seg.p_type(LE) != elf::PT_LOAD {
            return None;
        }
        let delta = offset.checked_sub(seg.p_offset(LE))?;
        (delta < seg.p_filesz(LE)).then(|| seg.p_vaddr(LE).checked_add(delta)).flatten()
    })
}

impl Dynamic {
    /// Reads `PT_DYNAMIC` (none: an empty [`Dynamic`]) and decodes every relocation table.
    pub fn parse(data: &[u8], segments: &[Phdr], machine: u16) -> Result<Dynamic> {
        let Some(ph) = segments.iter().find(|p| p.p_type(LE) == elf::PT_DYNAMIC) else {
            return Ok(Dynamic::default());
        };
        let (start, filesz) = (ph.p_offset(LE), ph.p_filesz(LE));
        bytes::slice(data, start, filesz, "PT_DYNAMIC")?;
        // tag -> (value, file offset of the entry); the first of each tag counts.
        let mut tags: Vec<(i64, u64, u64)> = Vec::new();
        let mut at = start;
        while at.checked_add(DYN_SIZE).is_some_and(|end| end <= start + filesz) {
            let tag = bytes::u64_le(data, at, "dynamic entry")? as i64;
            let val = bytes::u64_le(data, at + 8, "dynamic entry")?;
            if tag == elf::DT_NULL.0 {
                break;
            }
            if !tags.iter().any(|t| t.0 == tag) {
                tags.push((tag, val, at));
            }
            at += DYN_SIZE;
        }
        let get = |tag: i64| tags.iter().find(|t| t.0 == tag).map(|t| (t.1, t.2));
        let table = |addr_tag: i64,
                     size_tag: i64,
                     ent_tag: Option<i64>,
                     entsize: u64,
                     names: (&str, &str)|
         -> Result<Option<Table>> {
            let (addr, size) = match (get(addr_tag), get(size_tag)) {
                (None, None) => return Ok(None),
                (Some((addr, _)), Some(size)) => (addr, size),
                (Some((_, at)), None) => {
                    return Err(malformed!(
                        "{} at file offset {at:#x} without {}",
                        names.0,
                        names.1
                    ))
                }
                (None, Some((_, at))) => {
                    return Err(malformed!(
                        "{} at file offset {at:#x} without {}",
                        names.1,
                        names.0
                    ))
                }
            };
            if let Some((ent, at)) = ent_tag.and_then(get) {
                if ent != entsize {
                    return Err(malformed!(
                        "entry size tag for {} at file offset {at:#x} is {ent}, not {entsize}",
                        names.0
                    ));
                }
            }
            let (size, size_entry) = size;
            if size % entsize != 0 {
                return Err(malformed!(
                    "{} at file offset {size_entry:#x} is {size}, not a multiple of {entsize}",
                    names.1
                ));
            }
            let offset = if size == 0 {
                addr_to_offset(segments, addr, 0).unwrap_or(0)
            } else {
                let at = get(addr_tag).map_or(0, |t| t.1);
                addr_to_offset(segments, addr, size).ok_or_else(|| {
                    malformed!(
                        "{} at file offset {at:#x} = {addr:#x} ({size} bytes) lies in no \
                         PT_LOAD's file-backed part",
                        names.0
                    )
                })?
            };
            bytes::slice(data, offset, size, names.0)?;
            Ok(Some(Table { addr, offset, size, size_entry }))
        };
        let rela = table(
            elf::DT_RELA.0,
            elf::DT_RELASZ.0,
            Some(elf::DT_RELAENT.0),
            RELA_SIZE,
            ("DT_RELA", "DT_RELASZ"),
        )?;
        let rel = table(
            elf::DT_REL.0,
            elf::DT_RELSZ.0,
            Some(elf::DT_RELENT.0),
            REL_SIZE,
            ("DT_REL", "DT_RELSZ"),
        )?;
        let relr = table(
            elf::DT_RELR.0,
            elf::DT_RELRSZ.0,
            Some(elf::DT_RELRENT.0),
            RELR_SIZE,
            ("DT_RELR", "DT_RELRSZ"),
        )?;
        let jmprel_is_rel = get(elf::DT_PLTREL.0).is_some_and(|(v, _)| v == elf::DT_REL.0 as u64);
        let jmprel = table(
            elf::DT_JMPREL.0,
            elf::DT_PLTRELSZ.0,
            None,
            if jmprel_is_rel { REL_SIZE } else { RELA_SIZE },
            ("DT_JMPREL", "DT_PLTRELSZ"),
        )?;
        let count = |tag: i64, t: Option<Table>, ent: u64, name: &str| -> Result<Option<Count>> {
            let Some((value, entry)) = get(tag) else { return Ok(None) };
            let n = t.map_or(0, |t| t.size / ent);
            if value > n {
                return Err(malformed!(
                    "{name} at file offset {entry:#x} is {value}, above the table's {n} entries"
                ));
            }
            Ok(Some(Count { value, entry }))
        };
        let rela_count = count(elf::DT_RELACOUNT.0, rela, RELA_SIZE, "DT_RELACOUNT")?;
        let rel_count = count(elf::DT_RELCOUNT.0, rel, REL_SIZE, "DT_RELCOUNT")?;

        let relative = types(machine).relative;
        let mut relocs = Vec::new();
        if let Some(t) = rela {
            decode_rela(data, t, Source::Rela, &mut relocs)?;
        }
        if let Some(t) = rel {
            decode_rel(data, t, Source::Rel, &mut relocs)?;
        }
        if let Some(t) = relr {
            let words = read_words(data, t)?;
            // A bitmap word names up to 63 words: bound what a hostile table can make us hold
            // by what the file could back (relocated words are file-backed).
            let targets = decode_relr_bounded(&words, data.len() / 8).ok_or_else(|| {
                malformed!(
                    "DT_RELR at file offset {:#x} encodes more relocations than the file has words",
                    t.offset
                )
            })?;
            for (index, target) in targets.into_iter().enumerate() {
                relocs.push(DynReloc {
                    source: Source::Relr,
                    index,
                    target,
                    kind: relative,
                    sym: 0,
                    addend: None,
                });
            }
        }
        if let Some(t) = jmprel {
            if jmprel_is_rel {
                decode_rel(data, t, Source::Jmprel, &mut relocs)?;
            } else {
                decode_rela(data, t, Source::Jmprel, &mut relocs)?;
            }
        }
        Ok(Dynamic { rela, rela_count, rel, rel_count, relr, jmprel, jmprel_is_rel, relocs })
    }

    /// The relocations whose 8-byte target overlaps `[addr, addr + size)`.
    pub fn into_range(&self, addr: u64, size: u64) -> impl Iterator<Item = &DynReloc> + '_ {
        self.relocs.iter().filter(move |r| overlaps(r.target, addr, size))
    }
}

/// Whether the 8-byte word at `target` overlaps `[addr, addr + size)`.
pub fn overlaps(target: u64, addr: u64, size: u64) -> bool {
    target.checked_add(8).is_some_and(|end| end > addr) && target < addr.saturating_add(size)
}

fn decode_rela(data: &[u8], t: Table, source: Source, out: &mut Vec<DynReloc>) -> Result<()> {
    for index in 0..t.size / RELA_SIZE {
        let at = t.offset + index * RELA_SIZE;
        let r_offset = bytes::u64_le(data, at, source.name())?;
        let info = bytes::u64_le(data, at + 8, source.name())?;
        let addend = bytes::u64_le(data, at + 16, source.name())? as i64;
        out.push(DynReloc {
            source,
            index: index as usize,
            target: r_offset,
            kind: info as u32,
            sym: (info >> 32) as u32,
            addend: Some(addend),
        });
    }
    Ok(())
}

fn decode_rel(data: &[u8], t: Table, source: Source, out: &mut Vec<DynReloc>) -> Result<()> {
    for index in 0..t.size / REL_SIZE {
        let at = t.offset + index * REL_SIZE;
        let r_offset = bytes::u64_le(data, at, source.name())?;
        let info = bytes::u64_le(data, at + 8, source.name())?;
        out.push(DynReloc {
            source,
            index: index as usize,
            target: r_offset,
            kind: info as u32,
            sym: (info >> 32) as u32,
            addend: None,
        });
    }
    Ok(())
}

pub fn read_words(data: &[u8], t: Table) -> Result<Vec<u64>> {
    (0..t.size / RELR_SIZE)
        .map(|i| bytes::u64_le(data, t.offset + i * RELR_SIZE, "DT_RELR"))
        .collect()
}

/// RELR: an even word is an address and starts a run; an odd word is a bitmap of the next 63
/// words after the run's position.
pub fn decode_relr(words: &[u64]) -> Vec<u64> {
    decode_relr_bounded(words, usize::MAX).unwrap_or_default()
}

/// [`decode_relr`], or `None` as soon as more than `limit` addresses come out.
pub fn decode_relr_bounded(words: &[u64], limit: usize) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(words.len().min(limit));
    let mut next = 0u64;
    for &w in words {
        if w & 1 == 0 {
            out.push(w);
            next = w.wrapping_add(8);
        } else {
            for bit in 1..64 {
                if (w >> bit) & 1 == 1 {
                    out.push(next.wrapping_add(8 * (bit - 1)));
                }
            }
            next = next.wrapping_add(8 * 63);
        }
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

/// The canonical RELR encoding of sorted, 8-byte aligned, distinct addresses (what lld and
/// ld.bfd write). `None` if an address is odd or the list is not strictly ascending.
pub fn encode_relr(addrs: &[u64]) -> Option<Vec<u64>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&a) = addrs.get(i) {
        if a & 7 != 0 || (i > 0 && addrs.get(i - 1).is_some_and(|&p| p >= a)) {
            return None;
        }
        out.push(a);
        i += 1;
        let mut base = a.checked_add(8)?;
        loop {
            let mut bitmap = 0u64;
            while let Some(&b) = addrs.get(i) {
                let d = b.checked_sub(base)?;
                if d & 7 != 0 || d / 8 >= 63 {
                    break;
                }
                bitmap |= 1 << (d / 8);
                i += 1;
            }
            if bitmap == 0 {
                break;
            }
            out.push((bitmap << 1) | 1);
            base = base.checked_add(63 * 8)?;
        }
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn relr_runs_and_bitmaps() {
        assert_eq!(decode_relr(&[0x1000, 0b1011]), vec![0x1000, 0x1008, 0x1018]);
        assert_eq!(decode_relr_bounded(&[0x1000, u64::MAX], 10), None);
    }

    #[test]
    fn relr_round_trip() {
        let addrs: Vec<u64> =
            [0x1000u64, 0x1008, 0x1010, 0x1200, 0x1400, 0x1408, 0x9000].into_iter().collect();
        let words = encode_relr(&addrs).unwrap();
        assert_eq!(decode_relr(&words), addrs);
        let long: Vec<u64> = (0..200).map(|i| 0x4000 + 8 * i).collect();
        let words = encode_relr(&long).unwrap();
        assert_eq!(words.len(), 1 + 4);
        assert_eq!(decode_relr(&words), long);
        assert_eq!(encode_relr(&[0x10, 0x8]), None);
        assert_eq!(encode_relr(&[0x11]), None);
    }
}
