//! ELF64 little-endian executables (x86_64, aarch64): the sections, symbols and pointer slots
//! the rewrite needs, through `object`'s checked raw structs.

use std::ops::Range;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, SectionTable, Sym, SymbolTable};
use object::LittleEndian;

use crate::binary::NotOurs;
use crate::bytes;
use crate::error::{Error, Result};
use crate::image::{Image, LlgoSections, NameStyle, Pointer, SectionInfo, TextSymbol};
use crate::malformed;

pub const ENTRY_SECTION: &[u8] = b"llgo_funcinfo_entry";
pub const STUB_SECTION: &[u8] = b"llgo_funcinfo_stubsite";
/// The 32-byte identity section of external table mode (docs/format.md, "External mode").
pub const IDENTITY_SECTION: &[u8] = b"llgo_pclntab_id";
/// The skip reason for an executable in external table mode.
pub const EXTERNAL_MODE: &str = "external table mode (-pclntab=external): the identity section \
     ties a sidecar table to these exact bytes, the executable must stay as linked";

type Header = elf::FileHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

fn obj_err(what: &str) -> impl Fn(object::read::Error) -> Error + '_ {
    move |e| malformed!("{what}: {e}")
}

/// A parsed ELF64 LE executable that carries both LLGo sections.
pub struct ElfImage<'data> {
    data: &'data [u8],
    machine: elf::Machine,
    is_dyn: bool,
    sections: SectionTable<'data, Header, &'data [u8]>,
    segments: &'data [elf::ProgramHeader64<LittleEndian>],
    llgo: LlgoSections,
    /// Every output section named like the entry section, the runtime's one first (see
    /// [`runtime_section`]).
    entry_fragments: Vec<SectionInfo>,
    text: Range<u64>,
}

/// The section the runtime reads among those of one name. Usually there is one; mold puts inputs
/// with different flags (LLGo's `"aR"` zero and meta rows next to the `"ao"` records) into
/// separate output sections of the same name. The runtime sees only the one that
/// `__start_<name>` points at, so that is the one to rewrite.
fn runtime_section<'data>(
    sections: &SectionTable<'data, Header, &'data [u8]>,
    data: &'data [u8],
    candidates: &[&'data elf::SectionHeader64<LittleEndian>],
    name: &[u8],
) -> Result<&'data elf::SectionHeader64<LittleEndian>> {
    if let [only] = candidates {
        return Ok(only);
    }
    let name = String::from_utf8_lossy(name);
    let start_symbol = format!("__start_{name}");
    let symtab =
        sections.symbols(LE, data, elf::SHT_SYMTAB).map_err(obj_err("ELF symbol table"))?;
    let start = symtab
        .iter()
        .find(|s| !s.is_undefined(LE) && symtab.symbol_name(LE, s).is_ok_and(|n| n == start_symbol.as_bytes()))
        .map(|s| s.st_value(LE))
        .ok_or_else(|| {
            malformed!("{} sections named {name} and no {start_symbol} symbol to tell which one the runtime reads", candidates.len())
        })?;
    candidates
        .iter()
        .find(|s| s.sh_addr(LE) == start && s.sh_size(LE) > 0)
        .or_else(|| candidates.iter().find(|s| s.sh_addr(LE) == start))
        .copied()
        .ok_or_else(|| {
            malformed!(
                "{start_symbol} = {start:#x} starts none of the {} sections named {name}",
                candidates.len()
            )
        })
}

impl<'data> ElfImage<'data> {
    /// Cheap: the header, section headers and section names only. Skips files that are not
    /// x86_64/aarch64 executables with both LLGo sections.
    pub fn parse(data: &'data [u8]) -> Result<Self, NotOurs> {
        let header = Header::parse(data).map_err(obj_err("ELF header"))?;
        let machine = header.e_machine(LE);
        if machine != elf::EM_X86_64 && machine != elf::EM_AARCH64 {
            return Err(NotOurs::Skip(format!("ELF machine {machine:?} carries no LLGo tables")));
        }
        let kind = header.e_type(LE);
        if kind != elf::ET_EXEC && kind != elf::ET_DYN {
            return Err(NotOurs::Skip(format!("ELF type {kind:?} is not an executable")));
        }
        let sections = header.sections(LE, data).map_err(obj_err("ELF section headers"))?;
        let segments = header.program_headers(LE, data).map_err(obj_err("ELF program headers"))?;
        let named = |name: &[u8]| -> Vec<&'data elf::SectionHeader64<LittleEndian>> {
            sections
                .iter()
                .filter(|s| sections.section_name(LE, s).is_ok_and(|n| n == name))
                .collect()
        };
        if !named(IDENTITY_SECTION).is_empty() {
            return Err(NotOurs::Skip(format!(
                "{EXTERNAL_MODE} ({})",
                String::from_utf8_lossy(IDENTITY_SECTION)
            )));
        }
        let (entries, stubs) = (named(ENTRY_SECTION), named(STUB_SECTION));
        if entries.is_empty() {
            return Err(NotOurs::Skip("no LLGo sections".into()));
        }
        let entry = runtime_section(&sections, data, &entries, ENTRY_SECTION)?;
        // Generation 1 has the stub section, generation 2 does not (docs/format.md).
        let stub = if stubs.is_empty() {
            None
        } else {
            Some(runtime_section(&sections, data, &stubs, STUB_SECTION)?)
        };
        let fragments: Vec<_> = entries.iter().filter(|s| !std::ptr::eq(**s, entry)).collect();
        let Some(text) = named(b".text").first().copied() else {
            return Err(NotOurs::Malformed(malformed!("LLGo sections but no .text section")));
        };
        let info = |s: &elf::SectionHeader64<LittleEndian>, name: &[u8]| -> Result<SectionInfo> {
            if s.sh_type(LE) == elf::SHT_NOBITS {
                return Err(malformed!("{} is SHT_NOBITS", String::from_utf8_lossy(name)));
            }
            let (offset, size) = (s.sh_offset(LE), s.sh_size(LE));
            bytes::slice(data, offset, size, &String::from_utf8_lossy(name))?;
            Ok(SectionInfo { addr: s.sh_addr(LE), offset, size })
        };
        let llgo = LlgoSections {
            entry: info(entry, ENTRY_SECTION)?,
            stub: stub.map(|s| info(s, STUB_SECTION)).transpose()?,
        };
        let mut entry_fragments = vec![llgo.entry];
        for f in fragments {
            entry_fragments.push(info(f, ENTRY_SECTION)?);
        }
        let text_start = text.sh_addr(LE);
        let text_end = text_start
            .checked_add(text.sh_size(LE))
            .ok_or_else(|| malformed!(".text: address + size overflows"))?;
        Ok(ElfImage {
            data,
            machine,
            is_dyn: kind == elf::ET_DYN,
            sections,
            segments,
            llgo,
            entry_fragments,
            text: text_start..text_end,
        })
    }

    /// `ET_DYN`: a PIE (or shared object) whose loader relocates pointer slots.
    pub fn is_dyn(&self) -> bool {
        self.is_dyn
    }

    fn symtab(&self, kind: elf::SectionType) -> Result<SymbolTable<'data, Header, &'data [u8]>> {
        self.sections.symbols(LE, self.data, kind).map_err(obj_err("ELF symbol table"))
    }

    /// Offsets (link-time addresses) that the dynamic relocations write: every allocated
    /// REL/RELA/RELR section. Used to refuse PIE files whose loader would overwrite the table.
    pub fn dynamic_relocation_targets(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for s in self.sections.iter() {
            if s.sh_flags(LE).0 & elf::SHF_ALLOC.0 == 0 {
                continue;
            }
            let what = "dynamic relocation section";
            match s.sh_type(LE) {
                elf::SHT_RELA => {
                    let relas: &[elf::Rela64<LittleEndian>] =
                        s.data_as_array(LE, self.data).map_err(obj_err(what))?;
                    out.extend(relas.iter().map(|r| r.r_offset.get(LE)));
                }
                elf::SHT_REL => {
                    let rels: &[elf::Rel64<LittleEndian>] =
                        s.data_as_array(LE, self.data).map_err(obj_err(what))?;
                    out.extend(rels.iter().map(|r| r.r_offset.get(LE)));
                }
                elf::SHT_RELR => {
                    let words: &[elf::Relr64<LittleEndian>] =
                        s.data_as_array(LE, self.data).map_err(obj_err(what))?;
                    decode_relr(words.iter().map(|w| w.0.get(LE)), &mut out);
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// How many dynamic relocations write into either LLGo section (0 for non-PIE links).
    pub fn relocations_into_sections(&self) -> Result<usize> {
        if !self.is_dyn {
            return Ok(0);
        }
        let s = self.llgo;
        Ok(self
            .dynamic_relocation_targets()?
            .into_iter()
            .filter(|&a| s.entry.contains_addr(a) || s.stub.is_some_and(|s| s.contains_addr(a)))
            .count())
    }

    /// Whether a `PT_LOAD`'s memory (`p_vaddr .. p_vaddr + p_memsz`) holds `addr .. addr + len`.
    pub fn loaded(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else { return false };
        self.segments.iter().any(|p| {
            p.p_type(LE) == elf::PT_LOAD
                && p.p_vaddr(LE) <= addr
                && p.p_vaddr(LE).checked_add(p.p_memsz(LE)).is_some_and(|e| end <= e)
        })
    }

    /// The index in the section header table of the entry section the runtime reads.
    pub fn entry_section_index(&self) -> Result<usize> {
        let e = self.llgo.entry;
        self.sections
            .iter()
            .position(|s| {
                s.sh_offset(LE) == e.offset
                    && s.sh_addr(LE) == e.addr
                    && s.sh_size(LE) == e.size
                    && self.sections.section_name(LE, s).is_ok_and(|n| n == ENTRY_SECTION)
            })
            .ok_or_else(|| crate::internal!("the entry section is not in the section headers"))
    }

    pub fn machine_name(&self) -> &'static str {
        if self.machine == elf::EM_AARCH64 {
            "aarch64"
        } else {
            "x86_64"
        }
    }
}

/// RELR: an address word starts a run; a word with bit 0 set is a bitmap of the next 63 words.
fn decode_relr(words: impl Iterator<Item = u64>, out: &mut Vec<u64>) {
    let mut next = 0u64;
    for w in words {
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
    }
}

impl<'data> Image<'data> for ElfImage<'data> {
    fn data(&self) -> &'data [u8] {
        self.data
    }

    fn style(&self) -> NameStyle {
        NameStyle::Elf
    }

    fn describe(&self) -> String {
        format!("ELF {}", self.machine_name())
    }

    fn sections(&self) -> LlgoSections {
        self.llgo
    }

    fn text(&self) -> Range<u64> {
        self.text.clone()
    }

    fn entry_fragments(&self) -> Vec<SectionInfo> {
        self.entry_fragments.clone()
    }

    fn text_symbols(&self) -> Result<Vec<TextSymbol<'data>>> {
        let symtab = self.symtab(elf::SHT_SYMTAB)?;
        if symtab.is_empty() {
            return Err(Error::unsupported("no symbol table (stripped link): cannot find owners"));
        }
        let mut out = Vec::new();
        for sym in symtab.iter() {
            let kind = sym.st_type();
            if kind != elf::STT_FUNC && kind != elf::STT_GNU_IFUNC {
                continue;
            }
            let addr = sym.st_value(LE);
            if sym.is_undefined(LE) || !self.text.contains(&addr) {
                continue;
            }
            let name = symtab.symbol_name(LE, sym).map_err(obj_err("ELF symbol name"))?;
            out.push(TextSymbol { addr, size: sym.st_size(LE), name });
        }
        Ok(out)
    }

    fn pointer_at(&self, offset: u64) -> Result<Pointer> {
        Ok(Pointer::Addr(bytes::u64_le(self.data, offset, "pointer slot")?))
    }

    fn symbol_address(&self, name: &[u8]) -> Option<u64> {
        [elf::SHT_SYMTAB, elf::SHT_DYNSYM].into_iter().find_map(|kind| {
            let table = self.symtab(kind).ok()?;
            // Compare in the raw string table: a name is a match when it starts at st_name and a
            // NUL follows, so no other name needs its length measured (100k+ symbols).
            let strings = self.sections.section(table.string_section()).ok()?;
            let strings = strings.data(LE, self.data).ok()?;
            table.iter().find_map(|sym| {
                let at = sym.st_name(LE) as usize;
                let candidate = strings.get(at..at.checked_add(name.len() + 1)?)?;
                let hit = candidate.last() == Some(&0)
                    && candidate.starts_with(name)
                    && !sym.is_undefined(LE);
                hit.then(|| sym.st_value(LE))
            })
        })
    }

    fn addr_to_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.segments.iter().find_map(|seg| {
            if seg.p_type(LE) != elf::PT_LOAD {
                return None;
            }
            let delta = addr.checked_sub(seg.p_vaddr(LE))?;
            let end = delta.checked_add(len)?;
            if end > seg.p_filesz(LE) {
                return None;
            }
            seg.p_offset(LE).checked_add(delta)
        })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    #[test]
    fn relr_runs_and_bitmaps() {
        // One address, then a bitmap marking the 1st and 3rd words after it.
        let mut out = Vec::new();
        decode_relr([0x1000u64, 0b1011].into_iter(), &mut out);
        assert_eq!(out, vec![0x1000, 0x1008, 0x1018]);
    }
}
