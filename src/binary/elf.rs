//! ELF64 little-endian executables (x86_64, aarch64): the sections, symbols and pointer slots
//! the rewrite needs, through `object`'s checked raw structs.

use std::ops::Range;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, SectionTable, Sym, SymbolTable};
use object::LittleEndian;

use crate::binary::elf_view::{self, Used};
use crate::binary::NotOurs;
use crate::bytes;
use crate::error::{Error, Result};
use crate::image::{Image, LlgoSections, NameStyle, Pointer, SectionInfo, TextSymbol};
use crate::malformed;
// PT_DYNAMIC and the dynamic relocations (issue 10).
use crate::binary::elf_dynamic::{self, DynReloc, Dynamic, Source};

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
    /// `PT_DYNAMIC` and the dynamic relocations, read through `PT_LOAD` (binary/elf_dynamic.rs).
    dynamic: Dynamic,
    /// `ET_DYN`: the RELA/REL/RELR relocation writing each slot, by the slot's file offset.
    slot_relocs: std::collections::HashMap<u64, DynReloc>,
    /// `e_shoff`: where the section headers are (for the relocation surgery's size fix).
    shoff: u64,
    /// Per symbol table (`.symtab`, `.dynsym`): `(st_name, st_value)` of its defined symbols
    /// whose names start with `__`, in table order, made by the first [`Image::symbol_address`]
    /// that asks for such a name: the names it is asked for (`__llgo_funcinfo_*`) then cost a
    /// look at a few symbols instead of a pass over 100k+.
    underscored: [std::sync::OnceLock<Vec<(u32, u64)>>; 2],
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
        for f in &fragments {
            entry_fragments.push(info(f, ENTRY_SECTION)?);
        }
        // The loader's view first: nothing is read through a section header it contradicts.
        let mut used = vec![
            Used { name: ENTRY_SECTION, header: entry, written: true, bounded: true, code: false },
            Used { name: b".text", header: text, written: false, bounded: false, code: true },
        ];
        used.extend(stub.map(|header| Used {
            name: STUB_SECTION,
            header,
            written: true,
            bounded: true,
            code: false,
        }));
        used.extend(fragments.iter().map(|f| Used {
            name: ENTRY_SECTION,
            header: f,
            written: false,
            bounded: false,
            code: false,
        }));
        let absent: &[&[u8]] = if stub.is_none() { &[STUB_SECTION] } else { &[] };
        elf_view::check(data, header, &sections, segments, &used, absent)?;
        let text_start = text.sh_addr(LE);
        let text_end = text_start
            .checked_add(text.sh_size(LE))
            .ok_or_else(|| malformed!(".text: address + size overflows"))?;
        let dynamic = Dynamic::parse(data, segments, machine.0)?;
        let is_dyn = kind == elf::ET_DYN;
        let mut slot_relocs = std::collections::HashMap::new();
        if is_dyn {
            for r in dynamic.relocs.iter().filter(|r| r.source != Source::Jmprel) {
                if let Some(off) = elf_dynamic::addr_to_offset(segments, r.target, 8) {
                    slot_relocs.entry(off).or_insert(*r);
                }
            }
        }
        Ok(ElfImage {
            data,
            machine,
            is_dyn,
            dynamic,
            slot_relocs,
            shoff: header.e_shoff(LE),
            underscored: Default::default(),
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

    /// The dynamic section and every dynamic relocation (binary/elf_dynamic.rs).
    pub fn dynamic(&self) -> &Dynamic {
        &self.dynamic
    }

    /// `e_machine`.
    pub fn machine(&self) -> u16 {
        self.machine.0
    }

    pub fn segments(&self) -> &'data [elf::ProgramHeader64<LittleEndian>] {
        self.segments
    }

    /// The file offset of the section header of type `kind` that starts at `addr` (the tools'
    /// view of a dynamic table), with its `sh_size`.
    pub fn section_header_at(&self, addr: u64, kind: u32) -> Option<(u64, u64)> {
        let size = std::mem::size_of::<elf::SectionHeader64<LittleEndian>>() as u64;
        self.sections.iter().enumerate().find_map(|(i, s)| {
            (s.sh_addr(LE) == addr
                && s.sh_type(LE).0 == kind
                && s.sh_flags(LE).0 & elf::SHF_ALLOC.0 != 0)
                .then(|| {
                    Some((self.shoff.checked_add(size.checked_mul(i as u64)?)?, s.sh_size(LE)))
                })
                .flatten()
        })
    }

    /// `st_value` of a defined `.dynsym` symbol by index.
    pub fn dynsym_value(&self, index: u32) -> Option<u64> {
        let table = self.symtab(elf::SHT_DYNSYM).ok()?;
        let sym = table.symbol(object::SymbolIndex(index as usize)).ok()?;
        (!sym.is_undefined(LE)).then(|| sym.st_value(LE))
    }

    /// The pointer a dynamic relocation makes the loader write (link-time view), for
    /// [`Image::pointer_at`] on `ET_DYN`.
    fn relocated_pointer(&self, r: &DynReloc, slot: u64) -> Result<Pointer> {
        let t = elf_dynamic::types(self.machine.0);
        let implicit = || bytes::u64_le(self.data, slot, "pointer slot");
        if r.kind == t.relative {
            return Ok(Pointer::Addr(match r.addend {
                Some(a) => a as u64,
                None => implicit()?,
            }));
        }
        if r.kind == t.abs64 {
            let addend = match r.addend {
                Some(a) => a as u64,
                None => implicit()?,
            };
            return Ok(match self.dynsym_value(r.sym) {
                Some(v) if r.sym != 0 => Pointer::Addr(v.wrapping_add(addend)),
                _ => Pointer::Outside,
            });
        }
        Err(malformed!(
            "pointer slot at file offset {slot:#x}: written by {} #{} ({}), not a pointer \
             relocation",
            r.source.name(),
            r.index,
            elf_dynamic::type_name(self.machine.0, r.kind)
        ))
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
        // The raw string table: one pass over each name finds its end and hashes it (100k+
        // names). A name this pass cannot end goes through `object`, which reports it.
        let strings: &[u8] = self
            .sections
            .section(symtab.string_section())
            .ok()
            .and_then(|s| s.data(LE, self.data).ok())
            .unwrap_or_default();
        let text = self.text.clone();
        // One pass. Scanning two halves on two threads and joining them was slower (110k rows,
        // interleaved medians: inspect 1.2 ms): the second half's vector was fresh memory,
        // faulted in page by page, then copied onto the end of the first's; and the scan runs
        // beside the record decoding already (extract::input).
        let syms = symtab.symbols();
        let mut out = Vec::with_capacity(syms.len());
        for sym in syms {
            let kind = sym.st_type();
            if kind != elf::STT_FUNC && kind != elf::STT_GNU_IFUNC {
                continue;
            }
            let addr = sym.st_value(LE);
            if sym.is_undefined(LE) || !text.contains(&addr) {
                continue;
            }
            let at = sym.st_name(LE) as usize;
            let size = sym.st_size(LE);
            out.push(match strings.get(at..).and_then(crate::fnv::fnv1a_to_nul) {
                Some((name, hash)) => TextSymbol { addr, size, name, hash },
                None => {
                    let name = symtab.symbol_name(LE, sym).map_err(obj_err("ELF symbol name"))?;
                    TextSymbol::new(addr, size, name)
                }
            });
        }
        Ok(out)
    }

    fn pointer_at(&self, offset: u64) -> Result<Pointer> {
        // ET_DYN: RELA addend, or the slot's value for RELR/REL (FORMAT.md 1.2).
        if let Some(r) = self.slot_relocs.get(&offset) {
            return self.relocated_pointer(r, offset);
        }
        Ok(Pointer::Addr(bytes::u64_le(self.data, offset, "pointer slot")?))
    }

    fn plain_pointers(&self, offset: u64, len: u64) -> bool {
        // Only ET_DYN has slot relocations; a PIE's records all have one, so the scan below
        // rarely runs to the end without a hit.
        !self.slot_relocs.keys().any(|&slot| slot >= offset && slot - offset < len)
    }

    fn symbol_address(&self, name: &[u8]) -> Option<u64> {
        [elf::SHT_SYMTAB, elf::SHT_DYNSYM].into_iter().zip(&self.underscored).find_map(
            |(kind, underscored)| {
                let table = self.symtab(kind).ok()?;
                // Compare in the raw string table: a name is a match when it starts at st_name
                // and a NUL follows, so no other name needs its length measured (100k+ symbols).
                let strings = self.sections.section(table.string_section()).ok()?;
                let strings = strings.data(LE, self.data).ok()?;
                let matches = |at: u32| {
                    let at = at as usize;
                    at.checked_add(name.len() + 1)
                        .and_then(|end| strings.get(at..end))
                        .is_some_and(|c| c.last() == Some(&0) && c.starts_with(name))
                };
                if name.starts_with(b"__") {
                    let list = underscored.get_or_init(|| {
                        let list = table.symbols().iter().filter(|sym| {
                            let at = sym.st_name(LE) as usize;
                            strings.get(at..at.saturating_add(2)) == Some(b"__")
                                && !sym.is_undefined(LE)
                        });
                        list.map(|sym| (sym.st_name(LE), sym.st_value(LE))).collect()
                    });
                    return list.iter().find(|&&(at, _)| matches(at)).map(|&(_, v)| v);
                }
                let first = name.first();
                table.symbols().iter().find_map(|sym| {
                    let at = sym.st_name(LE);
                    // One byte first: nearly every name differs there.
                    if first.is_some() && strings.get(at as usize) != first {
                        return None;
                    }
                    (matches(at) && !sym.is_undefined(LE)).then(|| sym.st_value(LE))
                })
            },
        )
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
