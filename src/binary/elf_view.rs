//! The loader's view of an ELF executable, checked against the section headers before anything
//! is read or written (issue 11). `ld.so` maps `PT_LOAD` program headers and never looks at a
//! section header; the rewrite finds its sections through section headers. A file whose two
//! descriptions disagree (a section header moved into `.text`, a section in no segment, a
//! `PT_LOAD` whose file size no longer covers what the section headers place in it) would make
//! the rewrite read or write bytes the loader does not put where the runtime looks, so it is a
//! failure naming the two structures that disagree.
//!
//! What holds after [`check`]:
//! - every `PT_LOAD` lies in the file, has `p_filesz <= p_memsz`, `p_offset` congruent to
//!   `p_vaddr` modulo a power-of-two `p_align`, and the `PT_LOAD`s ascend without overlapping
//!   in memory (so an address has at most one mapping);
//! - every section with file bytes that is allocated, and every section the rewrite uses,
//!   lies inside the file bytes (`p_filesz`) of one `PT_LOAD` whose mapping sends its `sh_addr`
//!   to its `sh_offset`; so a value read through an address (meta rows, index pointer, count,
//!   array: [`crate::image::Image::addr_to_offset`] maps through the `PT_LOAD`s) is the value
//!   the loader maps, and a section's bytes read at `sh_offset` are the bytes the loader maps at
//!   `sh_addr`;
//! - a section the rewrite writes overlaps no other section's file bytes and none of the ELF
//!   header, the program header table or the section header table;
//! - the linker's boundary symbols `__start_<name>` / `__stop_<name>`, when the symbol table has
//!   them, bound exactly the section the runtime reads (`__stop_` may lie beyond the end of a
//!   rewritten section: compaction cuts the file bytes and keeps the link-time symbol).
//!
//! [`runtime_ranges`] is the other half: where the runtime finds a section from the loader's
//! view alone (boundary symbols mapped through the `PT_LOAD`s), for `verify`.

#![deny(clippy::indexing_slicing)]

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, SectionTable, Sym};
use object::LittleEndian;

use crate::error::Result;
use crate::image::SectionInfo;
use crate::malformed;

type Header = elf::FileHeader64<LittleEndian>;
type Shdr = elf::SectionHeader64<LittleEndian>;
type Phdr = elf::ProgramHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

/// `LLGOFTB` in the low 7 bytes of the first word: a rewritten entry section (the table magic,
/// as `extract` reads it; `binary/` does not import `extract`).
const TABLE_MAGIC_PREFIX: u64 = 0x0042_5446_4F47_4C4C;

/// A section the rewrite reads or writes.
#[derive(Clone, Copy)]
pub struct Used<'data> {
    pub name: &'data [u8],
    pub header: &'data Shdr,
    /// The rewrite writes it (the entry and stub sections), so it must overlap nothing.
    pub written: bool,
    /// The section the runtime reads through `__start_<name>` / `__stop_<name>` (not a
    /// fragment of the same name).
    pub bounded: bool,
    /// Holds code (`.text`): its `PT_LOAD` must be executable, or no row's pc ever runs.
    pub code: bool,
}

/// One `PT_LOAD`, with its index in the program header table.
#[derive(Clone, Copy, Debug)]
struct Load {
    index: usize,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    executable: bool,
}

impl Load {
    fn describe(&self) -> String {
        format!(
            "program header [{}] PT_LOAD (p_offset {:#x}, p_vaddr {:#x}, p_filesz {:#x}, p_memsz \
             {:#x})",
            self.index, self.offset, self.vaddr, self.filesz, self.memsz
        )
    }

    fn contains_vaddr(&self, addr: u64, len: u64) -> bool {
        addr.checked_sub(self.vaddr)
            .and_then(|d| d.checked_add(len))
            .is_some_and(|end| end <= self.memsz && addr >= self.vaddr)
    }
}

/// The `PT_LOAD`s of a file, checked (see the module documentation).
fn loads(data: &[u8], segments: &[Phdr]) -> Result<Vec<Load>> {
    let mut out: Vec<Load> = Vec::new();
    for (index, p) in segments.iter().enumerate() {
        if p.p_type(LE) != elf::PT_LOAD {
            continue;
        }
        let load = Load {
            index,
            offset: p.p_offset(LE),
            vaddr: p.p_vaddr(LE),
            filesz: p.p_filesz(LE),
            memsz: p.p_memsz(LE),
            executable: p.p_flags(LE).0 & elf::PF_X.0 != 0,
        };
        let what = load.describe();
        if load.offset.checked_add(load.filesz).is_none_or(|end| end > data.len() as u64) {
            return Err(malformed!(
                "{what}: its file bytes lie past the end of the file ({:#x} bytes)",
                data.len()
            ));
        }
        if load.filesz > load.memsz {
            return Err(malformed!("{what}: p_filesz exceeds p_memsz"));
        }
        if load.vaddr.checked_add(load.memsz).is_none() {
            return Err(malformed!("{what}: p_vaddr + p_memsz overflows"));
        }
        let align = p.p_align(LE);
        if align > 1 && align.is_power_of_two() && (load.offset ^ load.vaddr) & (align - 1) != 0 {
            return Err(malformed!(
                "{what}: p_offset and p_vaddr are not congruent modulo p_align {align:#x}: the \
                 loader cannot map it"
            ));
        }
        if let Some(prev) = out.last() {
            // `prev.vaddr + prev.memsz` was checked above.
            if load.vaddr < prev.vaddr.saturating_add(prev.memsz) {
                return Err(malformed!(
                    "{} and {what} overlap in memory or are not in ascending order",
                    prev.describe()
                ));
            }
        }
        out.push(load);
    }
    if out.is_empty() {
        return Err(malformed!("no PT_LOAD program header: the loader maps nothing"));
    }
    Ok(out)
}

fn name_of<'data>(sections: &SectionTable<'data, Header, &'data [u8]>, s: &'data Shdr) -> String {
    String::from_utf8_lossy(sections.section_name(LE, s).unwrap_or(b"?")).into_owned()
}

/// Where the loader maps the file bytes of `[addr, addr + size)`: the one `PT_LOAD` that holds
/// it in memory, and the file offset if its file bytes cover it. `what` names the structure
/// that gave the address, for the error.
fn map(loads: &[Load], addr: u64, size: u64, what: &str) -> Result<u64> {
    let Some(load) = loads.iter().find(|l| l.contains_vaddr(addr, size.max(1))) else {
        return Err(malformed!(
            "{what} (address {addr:#x}, size {size:#x}) lies in no PT_LOAD program header: the \
             loader does not map it"
        ));
    };
    let delta = addr - load.vaddr; // contains_vaddr: addr >= vaddr
    if delta.saturating_add(size) > load.filesz {
        return Err(malformed!(
            "{what} (address {addr:#x}, size {size:#x}) and {}: the section lies past p_filesz, \
             the loader fills it with zeros",
            load.describe()
        ));
    }
    // offset + filesz was checked against the file length, and delta < filesz.
    Ok(load.offset + delta)
}

/// Cross-checks the section headers against the program headers (see the module
/// documentation). `used` lists the sections the rewrite reads or writes; `absent` the LLGo
/// sections the section headers do not have, for which the symbol table must not have boundary
/// symbols either.
pub fn check<'data>(
    data: &'data [u8],
    header: &'data Header,
    sections: &SectionTable<'data, Header, &'data [u8]>,
    segments: &'data [Phdr],
    used: &[Used<'data>],
    absent: &[&[u8]],
) -> Result<()> {
    let loads = loads(data, segments)?;

    // Every allocated section with file bytes, and every used one, as the loader maps it.
    for (i, s) in sections.iter().enumerate() {
        let is_used = used.iter().any(|u| std::ptr::eq(u.header, s));
        let alloc = s.sh_flags(LE).0 & elf::SHF_ALLOC.0 != 0;
        if s.sh_type(LE) == elf::SHT_NOBITS || s.sh_size(LE) == 0 || !(alloc || is_used) {
            continue;
        }
        let what = format!("section header [{i}] {}", name_of(sections, s));
        let (addr, offset, size) = (s.sh_addr(LE), s.sh_offset(LE), s.sh_size(LE));
        let mapped = map(&loads, addr, size, &what)?;
        let load = loads.iter().find(|l| l.contains_vaddr(addr, size.max(1)));
        let code = used.iter().any(|u| u.code && std::ptr::eq(u.header, s));
        if code && !load.is_some_and(|l| l.executable) {
            return Err(malformed!(
                "{what} and {} disagree: the section holds the code the table describes, the \
                 segment is not executable (no PF_X)",
                load.map(Load::describe).unwrap_or_default()
            ));
        }
        if mapped != offset {
            return Err(malformed!(
                "{what} and {} disagree: sh_offset is {offset:#x}, but the loader maps sh_addr \
                 {addr:#x} from file offset {mapped:#x}",
                load.map(Load::describe).unwrap_or_default()
            ));
        }
    }

    // The written sections overlap nothing else in the file.
    let file_len = data.len() as u64;
    let headers = [
        ("the ELF header", 0, u64::from(header.e_ehsize(LE))),
        (
            "the program header table",
            header.e_phoff(LE),
            u64::from(header.e_phnum(LE)).saturating_mul(u64::from(header.e_phentsize(LE))),
        ),
        (
            "the section header table",
            header.e_shoff(LE),
            (sections.len() as u64).saturating_mul(u64::from(header.e_shentsize(LE))),
        ),
    ];
    let overlaps = |a: u64, alen: u64, b: u64, blen: u64| {
        alen > 0 && blen > 0 && a < b.saturating_add(blen) && b < a.saturating_add(alen)
    };
    for u in used.iter().filter(|u| u.written) {
        let (off, size) = (u.header.sh_offset(LE), u.header.sh_size(LE));
        let name = String::from_utf8_lossy(u.name);
        if off.checked_add(size).is_none_or(|end| end > file_len) {
            return Err(malformed!(
                "section header {name}: file bytes {off:#x}+{size:#x} lie past the end of the \
                 file ({file_len:#x} bytes)"
            ));
        }
        for (what, at, len) in headers {
            if overlaps(off, size, at, len) {
                return Err(malformed!(
                    "section header {name} ({off:#x}+{size:#x}) overlaps {what} ({at:#x}+{len:#x})"
                ));
            }
        }
        for (i, s) in sections.iter().enumerate() {
            if std::ptr::eq(s, u.header) || s.sh_type(LE) == elf::SHT_NOBITS {
                continue;
            }
            let (o, n) = (s.sh_offset(LE), s.sh_size(LE));
            if overlaps(off, size, o, n) {
                return Err(malformed!(
                    "section header {name} ({off:#x}+{size:#x}) and section header [{i}] {} \
                     ({o:#x}+{n:#x}) overlap in the file: writing one would overwrite the other",
                    name_of(sections, s)
                ));
            }
        }
    }

    // The boundary symbols the runtime reads bound the section exactly.
    let bounded: Vec<&Used<'data>> = used.iter().filter(|u| u.bounded).collect();
    if bounded.is_empty() && absent.is_empty() {
        return Ok(());
    }
    let Ok(symtab) = sections.symbols(LE, data, elf::SHT_SYMTAB) else {
        return Ok(()); // a damaged symbol table is reported where the symbols are read
    };
    let names: Vec<&[u8]> = bounded.iter().map(|u| u.name).chain(absent.iter().copied()).collect();
    let found = boundary_symbols(data, sections, &symtab, &names)?;
    // A section the headers lack but the symbols bound: a runtime that reads the section
    // through those symbols (generation 1 reads the stub section so) would read bytes the
    // rewrite neither knows nor writes; which runtime the file holds cannot be told.
    for (name, &bounds) in absent.iter().zip(found.iter().skip(bounded.len())) {
        let (which, at) = match bounds {
            (Some(at), _) => ("__start_", at),
            (None, Some(at)) => ("__stop_", at),
            (None, None) => continue,
        };
        let name = String::from_utf8_lossy(name);
        return Err(malformed!(
            "symbol {which}{name} ({at:#x}) bounds a section {name} that the section headers do \
             not have: a runtime reading it there would read bytes the rewrite does not write"
        ));
    }
    for (u, (start, stop)) in bounded.into_iter().zip(found) {
        let name = String::from_utf8_lossy(u.name);
        let (addr, size) = (u.header.sh_addr(LE), u.header.sh_size(LE));
        let end = addr.saturating_add(size);
        if let Some(start) = start {
            if start != addr {
                return Err(malformed!(
                    "symbol __start_{name} ({start:#x}) and section header {name} (sh_addr \
                     {addr:#x}) disagree: the runtime reads the section where the symbol points"
                ));
            }
        }
        if let Some(stop) = stop {
            // A rewritten (possibly compacted) section may end before `__stop_`: compaction cuts
            // its file bytes, the link-time symbol stays (LLGO-TODAY.md 2).
            let rewritten = u.written
                && crate::bytes::u64_le(data, u.header.sh_offset(LE), "entry section")
                    .is_ok_and(|w| w & 0x00FF_FFFF_FFFF_FFFF == TABLE_MAGIC_PREFIX);
            if stop < end || (stop != end && !rewritten) {
                return Err(malformed!(
                    "symbol __stop_{name} ({stop:#x}) and section header {name} (ends at \
                     {end:#x}) disagree: the runtime reads up to the symbol"
                ));
            }
        }
    }
    Ok(())
}

/// `(__start_<name>, __stop_<name>)` for each of `names`, among the defined symbols of
/// `symtab`, in one pass. A name is measured only when its first bytes in the string table
/// read `__start_` or `__stop_`, so the 100k+ function and object symbols cost one short compare
/// each. Two definitions of one boundary symbol that disagree are a lie of the symbol table
/// (the runtime's references were resolved to one of them at link time): a failure naming both
/// (the first such pair in table order, over all names).
fn boundary_symbols<'data>(
    data: &'data [u8],
    sections: &SectionTable<'data, Header, &'data [u8]>,
    symtab: &object::read::elf::SymbolTable<'data, Header, &'data [u8]>,
    names: &[&[u8]],
) -> Result<Vec<(Option<u64>, Option<u64>)>> {
    let found = scan_boundaries(data, sections, symtab, names);
    if let Some((_, e)) = found.iter().filter_map(|f| f.clash.as_ref()).min_by_key(|c| c.0) {
        return Err(e.clone());
    }
    Ok(found.into_iter().map(|f| (f.start.map(|(_, v)| v), f.stop.map(|(_, v)| v))).collect())
}

/// What [`scan_boundaries`] found for one name: the first definition of each boundary symbol
/// (symbol index, value), or the first disagreement in table order (symbol index, failure),
/// after which the name's later symbols are not looked at.
#[derive(Default)]
struct Boundaries {
    start: Option<(usize, u64)>,
    stop: Option<(usize, u64)>,
    clash: Option<(usize, crate::error::Error)>,
}

/// The pass of [`boundary_symbols`], with a result per name (one name's disagreement does not
/// hide another name's symbols).
fn scan_boundaries<'data>(
    data: &'data [u8],
    sections: &SectionTable<'data, Header, &'data [u8]>,
    symtab: &object::read::elf::SymbolTable<'data, Header, &'data [u8]>,
    names: &[&[u8]],
) -> Vec<Boundaries> {
    // The raw string table, for the prefix test; without it every name is read.
    let strings: Option<&[u8]> =
        sections.section(symtab.string_section()).ok().and_then(|s| s.data(LE, data).ok());
    let mut out: Vec<Boundaries> = names.iter().map(|_| Boundaries::default()).collect();
    let mut visit = |index: usize, sym: &elf::Sym64<LittleEndian>| {
        if sym.is_undefined(LE) {
            return;
        }
        let Ok(n) = symtab.symbol_name(LE, sym) else { return };
        let (rest, is_start) = match (n.strip_prefix(b"__start_"), n.strip_prefix(b"__stop_")) {
            (Some(rest), _) => (rest, true),
            (_, Some(rest)) => (rest, false),
            _ => return,
        };
        for (name, found) in names.iter().zip(out.iter_mut()) {
            if rest != *name || found.clash.is_some() {
                continue;
            }
            let slot = if is_start { &mut found.start } else { &mut found.stop };
            let value = sym.st_value(LE);
            match *slot {
                Some((first_index, first)) if first != value => {
                    found.clash = Some((
                        index,
                        malformed!(
                            "symbol table: two definitions of {} disagree (symbol [{first_index}] at {first:#x}, \
                             symbol [{index}] at {value:#x}): the runtime reads only one of them",
                            String::from_utf8_lossy(n)
                        ),
                    ));
                }
                Some(_) => {}
                None => *slot = Some((index, value)),
            }
        }
    };
    let symbols = symtab.symbols();
    match strings {
        // The hot loop: one byte of the name rules out nearly every symbol (100k+ of them).
        Some(strings) => {
            let prefix =
                |at: usize, p: &[u8]| strings.get(at..at.saturating_add(p.len())) == Some(p);
            for (index, sym) in symbols.iter().enumerate() {
                let at = sym.st_name(LE) as usize;
                if strings.get(at) == Some(&b'_')
                    && (prefix(at, b"__start_") || prefix(at, b"__stop_"))
                {
                    visit(index, sym);
                }
            }
        }
        None => {
            for (index, sym) in symbols.iter().enumerate() {
                visit(index, sym);
            }
        }
    }
    out
}

/// Where the runtime finds each section of `names` from the loader's view alone:
/// `__start_<name>` up to `__stop_<name>` (from the symbol table), mapped to file offsets through
/// the `PT_LOAD`s; the file range is cut at the `PT_LOAD`'s file bytes (a compacted section's
/// tail is zero-fill). `Ok(None)` for a name the file has no such symbols for. Independent of the
/// section headers of the LLGo sections: `verify` compares it with what the rewrite used. One
/// parse of the headers and one pass over the symbol table serve all the names.
pub fn runtime_ranges(data: &[u8], names: &[&[u8]]) -> Vec<Result<Option<SectionInfo>>> {
    let parsed = (|| -> Result<_> {
        let header = Header::parse(data).map_err(|e| malformed!("ELF header: {e}"))?;
        let segments =
            header.program_headers(LE, data).map_err(|e| malformed!("ELF program headers: {e}"))?;
        let sections =
            header.sections(LE, data).map_err(|e| malformed!("ELF section headers: {e}"))?;
        let symtab = sections
            .symbols(LE, data, elf::SHT_SYMTAB)
            .map_err(|e| malformed!("ELF symbol table: {e}"))?;
        Ok((segments, sections, symtab))
    })();
    let (segments, sections, symtab) = match parsed {
        Ok(p) => p,
        Err(e) => return names.iter().map(|_| Err(e.clone())).collect(),
    };
    let found = scan_boundaries(data, &sections, &symtab, names);
    names
        .iter()
        .zip(found)
        .map(|(name, found)| {
            if let Some((_, e)) = found.clash {
                return Err(e);
            }
            let (Some((_, start)), Some((_, stop))) = (found.start, found.stop) else {
                return Ok(None);
            };
            range_of(data, segments, name, start, stop).map(Some)
        })
        .collect()
}

/// The file range of `__start_<name>`..`__stop_<name>` (see [`runtime_ranges`]).
fn range_of(
    data: &[u8],
    segments: &[Phdr],
    name: &[u8],
    start: u64,
    stop: u64,
) -> Result<SectionInfo> {
    let label = String::from_utf8_lossy(name);
    let Some(size) = stop.checked_sub(start) else {
        return Err(malformed!(
            "__stop_{label} ({stop:#x}) lies before __start_{label} ({start:#x})"
        ));
    };
    let loads = loads(data, segments)?;
    let Some(load) = loads.iter().find(|l| l.contains_vaddr(start, size.max(1))) else {
        return Err(malformed!(
            "__start_{label}..__stop_{label} ({start:#x}..{stop:#x}) lies in no PT_LOAD program \
             header"
        ));
    };
    let delta = start - load.vaddr;
    if delta > load.filesz {
        return Err(malformed!(
            "__start_{label} ({start:#x}) lies past the file bytes of {}",
            load.describe()
        ));
    }
    let file_size = size.min(load.filesz - delta);
    Ok(SectionInfo { addr: start, offset: load.offset + delta, size: file_size })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    fn load(offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Load {
        Load { index: 0, offset, vaddr, filesz, memsz, executable: false }
    }

    #[test]
    fn map_names_both_structures() {
        let loads = [load(0x1000, 0x40_1000, 0x100, 0x200)];
        assert_eq!(map(&loads, 0x40_1010, 0x10, "s").unwrap(), 0x1010);
        let e = map(&loads, 0, 0x10, "section header [3] x").unwrap_err();
        assert!(e.message().contains("section header [3] x") && e.message().contains("no PT_LOAD"));
        let e = map(&loads, 0x40_10f8, 0x10, "section header [3] x").unwrap_err();
        assert!(e.message().contains("PT_LOAD") && e.message().contains("p_filesz"), "{e}");
        // Wrapping sizes never panic.
        assert!(map(&loads, u64::MAX, u64::MAX, "s").is_err());
    }
}
