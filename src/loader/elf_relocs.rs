//! The dynamic-relocation rule and the relocation surgery for ELF (FORMAT.md 1.2, 3.3).
//!
//! The rule, for every ELF: a dynamic relocation of any kind (RELA, REL, RELR, JMPREL) whose
//! target lies in the rewritten ranges (the entry and the stub section) stops the rewrite unless
//! the plan owns it. The plan owns, in an `ET_DYN` image only, the pointer relocations of the
//! records and meta rows (`R_*_RELATIVE` and the 64-bit absolute type, not from JMPREL).
//!
//! The surgery: afterwards no dynamic relocation targets the rewritten ranges except exactly one
//! `R_*_RELATIVE` per live slot. RELA and REL entries are removed and the table shrinks
//! (`DT_RELASZ`/`DT_RELSZ`, `DT_RELACOUNT`/`DT_RELCOUNT` exact, the section header's `sh_size`;
//! relative entries stay first and in order, IRELATIVE and the rest stay last and in order;
//! the freed tail becomes zeros); RELR is decoded, edited and re-encoded into no more words
//! (`DT_RELRSZ`, `sh_size`). The live slots go into RELR when the image has it (the slot then
//! holds its link-time address, the implicit addend), else into RELA, else into REL. Why
//! removing rather than retargeting: docs/pie.md.

#![deny(clippy::indexing_slicing)]

use std::borrow::Cow;

use object::elf;

use crate::binary::elf::ElfImage;
use crate::binary::elf_dynamic::{
    self, encode_relr, overlaps, read_words, Count, DynReloc, Source, Table, RELA_SIZE, RELR_SIZE,
    REL_SIZE,
};
use crate::bytes;
use crate::edit::Edit;
use crate::error::{Error, Result};
use crate::image::{Image, SectionBytes, SectionInfo};
use crate::{internal, malformed};

/// `sh_size` lies 32 bytes into an `Elf64_Shdr`.
const SH_SIZE_AT: u64 = 32;
/// A word the loader leaves for a relocation it cannot resolve inside the image (`verify`).
const OUTSIDE: u64 = 0xdead_0000_0000_0000;

/// The rewritten ranges, with names for messages (generation 2 has no stub section: an empty
/// range).
fn ranges(image: &ElfImage<'_>) -> [(SectionInfo, &'static str); 2] {
    let s = image.sections();
    let none = SectionInfo { addr: 0, offset: 0, size: 0 };
    [(s.entry, "llgo_funcinfo_entry"), (s.stub.unwrap_or(none), "llgo_funcinfo_stubsite")]
}

fn section_of(image: &ElfImage<'_>, target: u64) -> Option<&'static str> {
    ranges(image).into_iter().find(|(s, _)| overlaps(target, s.addr, s.size)).map(|(_, n)| n)
}

fn describe(image: &ElfImage<'_>, r: &DynReloc) -> String {
    format!(
        "{} ({} entry {}, r_offset {:#x})",
        elf_dynamic::type_name(image.machine(), r.kind),
        r.source.name(),
        r.index,
        r.target
    )
}

/// Whether the plan owns `r` (it targets the rewritten ranges and the surgery removes it).
fn owned(image: &ElfImage<'_>, r: &DynReloc) -> bool {
    let t = elf_dynamic::types(image.machine());
    image.is_dyn() && r.source != Source::Jmprel && (r.kind == t.relative || r.kind == t.abs64)
}

/// The relocations into the rewritten ranges.
fn into_sections<'a>(image: &'a ElfImage<'_>) -> impl Iterator<Item = &'a DynReloc> + 'a {
    image.dynamic().relocs.iter().filter(move |r| section_of(image, r.target).is_some())
}

/// The rule: refuses any relocation into the rewritten ranges that the plan does not own.
pub fn precheck(image: &ElfImage<'_>) -> Result<()> {
    for r in into_sections(image) {
        if owned(image, r) {
            continue;
        }
        let section = section_of(image, r.target).unwrap_or("an LLGo section");
        let why = if image.is_dyn() {
            "which the relocation surgery does not handle"
        } else {
            "in an executable that is not position-independent"
        };
        return Err(Error::unsupported(format!(
            "dynamic relocation {} writes into {section}, {why}: the loader would overwrite \
             the table",
            describe(image, r)
        )));
    }
    Ok(())
}

/// What the relocation picture of an image is, for `inspect` and `verify`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Picture {
    /// Dynamic relocations in the image (every table).
    pub total: usize,
    /// Of them, those that target the two sections.
    pub into_sections: usize,
    /// Of those, the ones the surgery removes (the rest refuse the rewrite).
    pub owned: usize,
    /// The table the live slots' RELATIVE relocations go to (`ET_DYN`), or `None`.
    pub live_table: Option<&'static str>,
}

pub fn picture(image: &ElfImage<'_>) -> Picture {
    let into: Vec<_> = into_sections(image).collect();
    Picture {
        total: image.dynamic().relocs.len(),
        into_sections: into.len(),
        owned: into.iter().filter(|r| owned(image, r)).count(),
        live_table: if image.is_dyn() { live_home(image).ok().map(Source::name) } else { None },
    }
}

/// Where the live slots' relocations go.
fn live_home(image: &ElfImage<'_>) -> Result<Source> {
    let d = image.dynamic();
    if d.relr.is_some() {
        Ok(Source::Relr)
    } else if d.rela.is_some() {
        Ok(Source::Rela)
    } else if d.rel.is_some() {
        Ok(Source::Rel)
    } else {
        Err(Error::unsupported(
            "position-independent image without a dynamic relocation table: nothing can make \
             the loader relocate the table's base",
        ))
    }
}

/// The surgery: the edits outside the two sections that leave exactly one RELATIVE
/// relocation per live slot (`(link-time address, value)`) in the rewritten ranges.
pub fn surgery(image: &ElfImage<'_>, live: &[(u64, u64)]) -> Result<Vec<Edit>> {
    if !image.is_dyn() {
        // precheck: nothing targets the sections; the live slots hold link-time addresses.
        return Ok(Vec::new());
    }
    precheck(image)?;
    let d = image.dynamic();
    let home = live_home(image)?;
    if home == Source::Relr && live.iter().any(|(a, _)| a & 7 != 0) {
        return Err(Error::unsupported("a live slot is not 8-byte aligned: RELR cannot name it"));
    }
    if let (Some(j), Some(r)) = (d.jmprel, d.rela.or(d.rel)) {
        if j.size > 0 && overlaps(j.addr, r.addr, r.size) {
            return Err(Error::unsupported(format!(
                "DT_JMPREL ({:#x}) lies inside the DT_RELA/DT_REL table at {:#x}: shrinking \
                 that table would move the PLT relocations",
                j.addr, r.addr
            )));
        }
    }
    let mut edits = Vec::new();
    let rel_type = elf_dynamic::types(image.machine()).relative;
    if let Some(t) = d.rela {
        let new_live = if home == Source::Rela { live } else { &[] };
        shrink_explicit(image, t, d.rela_count, RELA_SIZE, new_live, rel_type, &mut edits)?;
    }
    if let Some(t) = d.rel {
        let new_live = if home == Source::Rel { live } else { &[] };
        shrink_explicit(image, t, d.rel_count, REL_SIZE, new_live, rel_type, &mut edits)?;
    }
    if let Some(t) = d.relr {
        let new_live = if home == Source::Relr { live } else { &[] };
        reencode_relr(image, t, new_live, &mut edits)?;
    }
    Ok(edits)
}

/// RELA (`entsize` 24) or REL (16): remove the entries into the sections, insert one RELATIVE
/// per live slot at the end of the leading relative block, zero the freed tail, fix the size
/// tag, the count tag and the section header.
fn shrink_explicit(
    image: &ElfImage<'_>,
    t: Table,
    count: Option<Count>,
    entsize: u64,
    live: &[(u64, u64)],
    relative: u32,
    edits: &mut Vec<Edit>,
) -> Result<()> {
    let data = image.data();
    let n = t.size / entsize;
    let old = bytes::slice(data, t.offset, t.size, "dynamic relocation table")?;
    let kind_of = |e: &[u8]| -> u32 {
        e.get(8..12).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
    };
    let target_of = |e: &[u8]| -> u64 {
        e.get(0..8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
    };
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut removed_in_block = 0u64;
    let mut removed = 0u64;
    let block = count.map_or(0, |c| c.value);
    for (i, e) in old.chunks_exact(entsize as usize).enumerate() {
        if section_of(image, target_of(e)).is_some() {
            removed += 1;
            if (i as u64) < block {
                removed_in_block += 1;
            }
        } else {
            kept.push(e);
        }
    }
    if removed == 0 && live.is_empty() {
        return Ok(());
    }
    // Where the live entries go: after the relative entries that stay at the front.
    let at = match count {
        Some(c) => (c.value - removed_in_block) as usize,
        None => kept.iter().take_while(|e| kind_of(e) == relative).count(),
    };
    let mut entries: Vec<Vec<u8>> = kept.iter().map(|e| e.to_vec()).collect();
    let mut sorted = live.to_vec();
    sorted.sort_unstable();
    for (k, &(addr, value)) in sorted.iter().enumerate() {
        let mut e = Vec::with_capacity(entsize as usize);
        e.extend_from_slice(&addr.to_le_bytes());
        e.extend_from_slice(&u64::from(relative).to_le_bytes());
        if entsize == RELA_SIZE {
            e.extend_from_slice(&value.to_le_bytes());
        }
        entries.insert(at + k, e);
    }
    let new_n = entries.len() as u64;
    if new_n > n {
        return Err(Error::unsupported(format!(
            "the dynamic relocation table at file offset {:#x} would grow from {n} to {new_n} \
             entries: it cannot",
            t.offset
        )));
    }
    let mut table: Vec<u8> = entries.concat();
    table.resize(t.size as usize, 0);
    edits.extend(changed_range(t.offset, old, table));
    let new_size = new_n * entsize;
    edits.push(Edit::overwrite(t.size_entry + 8, new_size.to_le_bytes().to_vec()));
    if let Some(c) = count {
        let value = c.value - removed_in_block + live.len() as u64;
        edits.push(Edit::overwrite(c.entry + 8, value.to_le_bytes().to_vec()));
    }
    let sh_type = if entsize == RELA_SIZE { elf::SHT_RELA.0 } else { elf::SHT_REL.0 };
    fix_section_size(image, t, sh_type, new_size, edits)
}

/// The one overwrite that turns `old` (at file offset `at`) into `new` (same length): from the
/// first to the last differing byte, so an unchanged prefix of a large table is not rewritten.
fn changed_range(at: u64, old: &[u8], new: Vec<u8>) -> Option<Edit> {
    let first = old.iter().zip(&new).position(|(a, b)| a != b)?;
    let last = old.iter().zip(&new).rposition(|(a, b)| a != b)?;
    let bytes = new.get(first..=last)?.to_vec();
    Some(Edit::overwrite(at + first as u64, bytes))
}

/// The section header of a dynamic table must say its new size (readelf and objdump read it).
fn fix_section_size(
    image: &ElfImage<'_>,
    t: Table,
    sh_type: u32,
    new_size: u64,
    edits: &mut Vec<Edit>,
) -> Result<()> {
    match image.section_header_at(t.addr, sh_type) {
        None => Ok(()), // stripped section headers: the loader needs none
        Some((header, size)) if size == t.size => {
            edits.push(Edit::overwrite(header + SH_SIZE_AT, new_size.to_le_bytes().to_vec()));
            Ok(())
        }
        Some((header, size)) => Err(Error::unsupported(format!(
            "the section header at file offset {header:#x} says {size} bytes for the dynamic \
             table at {:#x}, the dynamic section {}: cannot keep both exact",
            t.addr, t.size
        ))),
    }
}

fn reencode_relr(
    image: &ElfImage<'_>,
    t: Table,
    live: &[(u64, u64)],
    edits: &mut Vec<Edit>,
) -> Result<()> {
    let words = read_words(image.data(), t)?;
    let all = elf_dynamic::decode_relr(&words);
    let mut addrs: Vec<u64> =
        all.iter().copied().filter(|&a| section_of(image, a).is_none()).collect();
    if addrs.len() == all.len() && live.is_empty() {
        return Ok(());
    }
    addrs.extend(live.iter().map(|&(a, _)| a));
    addrs.sort_unstable();
    let encoded = encode_relr(&addrs).ok_or_else(|| {
        malformed!(
            "DT_RELR at file offset {:#x}: the addresses are not distinct and 8-byte aligned",
            t.offset
        )
    })?;
    let new_size = encoded.len() as u64 * RELR_SIZE;
    if new_size > t.size {
        return Err(Error::unsupported(format!(
            "DT_RELR at file offset {:#x} would grow from {} to {new_size} bytes: it cannot",
            t.offset, t.size
        )));
    }
    let mut table: Vec<u8> = encoded.iter().flat_map(|w| w.to_le_bytes()).collect();
    table.resize(t.size as usize, 0);
    let old = bytes::slice(image.data(), t.offset, t.size, "DT_RELR")?;
    edits.extend(changed_range(t.offset, old, table));
    edits.push(Edit::overwrite(t.size_entry + 8, new_size.to_le_bytes().to_vec()));
    fix_section_size(image, t, elf::SHT_RELR.0, new_size, edits)
}

/// The two sections as the loader leaves them at `slide`: every relocation into them applied.
pub fn load(image: &ElfImage<'_>, slide: u64) -> Result<(Vec<u8>, Vec<u8>)> {
    let [(entry_info, _), (stub_info, _)] = ranges(image);
    let mut entry =
        bytes::slice(image.data(), entry_info.offset, entry_info.size, "LLGo section")?.to_vec();
    let mut stub = match image.sections().stub {
        Some(stub) => bytes::slice(image.data(), stub.offset, stub.size, "LLGo section")?.to_vec(),
        None => Vec::new(),
    };
    let t = elf_dynamic::types(image.machine());
    for r in into_sections(image) {
        let (bytes, sect) = if overlaps(r.target, entry_info.addr, entry_info.size) {
            (&mut entry, entry_info)
        } else {
            (&mut stub, stub_info)
        };
        let Some(at) = r.target.checked_sub(sect.addr).and_then(|d| usize::try_from(d).ok()) else {
            continue; // starts before the section: a problem `problems` reports
        };
        let Some(word) = at.checked_add(8).and_then(|end| bytes.get_mut(at..end)) else {
            continue;
        };
        let stored = u64::from_le_bytes(word.try_into().map_err(|_| internal!("8-byte word"))?);
        let implicit = r.addend.map_or(stored, |a| a as u64);
        let value = if r.kind == t.relative {
            implicit.wrapping_add(slide)
        } else if r.kind == t.abs64 && r.sym != 0 {
            match image.dynsym_value(r.sym) {
                Some(v) => v.wrapping_add(implicit).wrapping_add(slide),
                None => OUTSIDE,
            }
        } else {
            OUTSIDE
        };
        word.copy_from_slice(&value.to_le_bytes());
    }
    Ok((entry, stub))
}

/// [`load`] as the loader trait's pair of section bytes.
pub fn load_cow<'data>(
    image: &ElfImage<'data>,
    slide: u64,
) -> Result<(SectionBytes<'data>, SectionBytes<'data>)> {
    let (e, s) = load(image, slide)?;
    Ok((Cow::Owned(e), Cow::Owned(s)))
}

/// Loader-level defects of a rewritten image: any relocation into the sections other than one
/// RELATIVE per live slot (given as file offsets) whose value is the slot's link-time value; a
/// live slot of an `ET_DYN` image that no relocation names; a count tag that covers a
/// non-relative entry.
pub fn problems(image: &ElfImage<'_>, live_offsets: &[u64]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let d = image.dynamic();
    let t = elf_dynamic::types(image.machine());
    let live: Vec<(u64, u64)> = live_offsets
        .iter()
        .filter_map(|&off| {
            let addr = elf_dynamic::offset_to_addr(image.segments(), off)?;
            Some((addr, bytes::u64_le(image.data(), off, "live slot").ok()?))
        })
        .collect();
    let mut seen = vec![0usize; live.len()];
    for r in into_sections(image) {
        let slot = live.iter().position(|&(a, _)| a == r.target);
        let ok = image.is_dyn() && r.kind == t.relative && r.source != Source::Jmprel;
        match (slot, ok) {
            (Some(i), true) => {
                if let Some(n) = seen.get_mut(i) {
                    *n += 1;
                }
                let want = live.get(i).map_or(0, |l| l.1);
                if let Some(a) = r.addend.filter(|&a| a as u64 != want) {
                    out.push(format!(
                        "{} gives the live slot {a:#x}, the table says {want:#x}",
                        describe(image, r)
                    ));
                }
            }
            _ => out.push(format!(
                "dynamic relocation {} writes into {}: the loader would overwrite the table",
                describe(image, r),
                section_of(image, r.target).unwrap_or("an LLGo section")
            )),
        }
    }
    if image.is_dyn() {
        for (&(addr, _), &n) in live.iter().zip(&seen) {
            if n != 1 {
                out.push(format!(
                    "live slot at {addr:#x} is the target of {n} RELATIVE relocations, not 1"
                ));
            }
        }
    }
    for (count, source, name) in
        [(d.rela_count, Source::Rela, "DT_RELACOUNT"), (d.rel_count, Source::Rel, "DT_RELCOUNT")]
    {
        let Some(c) = count else { continue };
        let bad = d
            .relocs
            .iter()
            .filter(|r| r.source == source && (r.index as u64) < c.value)
            .find(|r| r.kind != t.relative);
        if let Some(r) = bad {
            out.push(format!(
                "{name} = {} covers {}, which is not RELATIVE",
                c.value,
                describe(image, r)
            ));
        }
    }
    Ok(out)
}
