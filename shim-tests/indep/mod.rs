//! An independent checker of a rewrite's output, written without llgo-ld's code: goblin parses
//! the headers, and the loader's view is computed here (ELF: `PT_LOAD` program headers and the
//! boundary symbols `__start_`/`__stop_`; Mach-O: `LC_SEGMENT_64` and its sections). Shared by
//! the fuzz targets (`fuzz/`), the replay of the saved fuzz corpus (`shim-tests/fuzz_replay.rs`)
//! and the mutant test (`shim-tests/mutants.rs`).
//!
//! [`check_output`] asks of an output made from `orig`:
//! - every byte that changed lies where the loader maps the LLGo sections of the original
//!   (ELF: the file bytes the `PT_LOAD`s map at `__start_..__stop_`, or at the section headers'
//!   addresses when the symbols are missing; Mach-O: the two sections, the segment that holds
//!   them (chained-fixup `next` fields) and `__LINKEDIT` (fixup starts, code signature));
//! - the entry section, as the loader maps it in the output, starts with a table or a redirect
//!   whose framing holds (count >= 2, the blob fits its section, rows strictly ascending; ELF:
//!   every row starts a function symbol of the original inside an executable `PT_LOAD`, the
//!   sentinel's funcIndex is 0, `linkSectAddr` is the blob section's address, the bytes after
//!   the blob are zero, a redirect names both sections' addresses).

#![allow(dead_code)]

use goblin::container::{Container, Ctx};
use goblin::elf::program_header::{ProgramHeader, PF_X, PT_LOAD};
use goblin::elf::section_header::{SectionHeader, SHT_SYMTAB};
use goblin::elf::sym::{Symtab, STT_FUNC, STT_GNU_IFUNC};

pub const MAGIC_TABLE: u64 = 0x3142_5446_4F47_4C4C; // "LLGOFTB1"
pub const MAGIC_REDIRECT: u64 = 0x3242_5446_4F47_4C4C; // "LLGOFTB2"
const ENTRY: &str = "llgo_funcinfo_entry";
const STUB: &str = "llgo_funcinfo_stubsite";

type Res<T> = Result<T, String>;

fn u64_at(b: &[u8], off: usize) -> Res<u64> {
    b.get(off..off.checked_add(8).ok_or("overflow")?)
        .map(|s| u64::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("8 bytes at {off:#x} past the end ({:#x})", b.len()))
}

fn u32_at(b: &[u8], off: usize) -> Res<u32> {
    b.get(off..off.checked_add(4).ok_or("overflow")?)
        .map(|s| u32::from_le_bytes(s.try_into().unwrap()))
        .ok_or_else(|| format!("4 bytes at {off:#x} past the end ({:#x})", b.len()))
}

/// A section as the loader maps it: its address, and its file bytes' offset and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    pub addr: u64,
    pub offset: usize,
    pub len: usize,
    /// The runtime's size (`__stop_ - __start_`); at least `len`.
    pub size: u64,
}

/// The loader's view of an ELF64 LE file, read with goblin's header parsers only.
pub struct ElfView<'a> {
    data: &'a [u8],
    loads: Vec<ProgramHeader>,
    sections: Vec<SectionHeader>,
    /// Raw bytes of the section name table (goblin's Strtab refuses non-UTF-8 tables).
    shstrtab: Option<&'a [u8]>,
    symbols: Vec<(String, u64, u8)>,
}

impl<'a> ElfView<'a> {
    pub fn parse(data: &'a [u8]) -> Res<Self> {
        let header = goblin::elf::Elf::parse_header(data).map_err(|e| format!("header: {e}"))?;
        let ctx = Ctx::new(Container::Big, goblin::container::Endian::Little);
        let phdrs =
            ProgramHeader::parse(data, header.e_phoff as usize, header.e_phnum as usize, ctx)
                .map_err(|e| format!("program headers: {e}"))?;
        let loads: Vec<ProgramHeader> = phdrs.into_iter().filter(|p| p.p_type == PT_LOAD).collect();
        let sections =
            SectionHeader::parse(data, header.e_shoff as usize, header.e_shnum as usize, ctx)
                .unwrap_or_default();
        let shstrtab = sections
            .get(header.e_shstrndx as usize)
            .and_then(|s| data.get(s.sh_offset as usize..)?.get(..s.sh_size as usize));
        let mut symbols = Vec::new();
        if let Some(st) = sections.iter().find(|s| s.sh_type == SHT_SYMTAB) {
            let count = (st.sh_size / 24) as usize;
            // Names read raw (goblin's Strtab refuses a whole table over one non-UTF-8 name).
            let strings = sections
                .get(st.sh_link as usize)
                .and_then(|s| data.get(s.sh_offset as usize..)?.get(..s.sh_size as usize))
                .unwrap_or(&[]);
            if let Ok(syms) = Symtab::parse(data, st.sh_offset as usize, count, ctx) {
                for s in syms.iter() {
                    if s.st_shndx == 0 {
                        continue;
                    }
                    let raw = strings.get(s.st_name..).unwrap_or(&[]);
                    let n = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(0)];
                    symbols.push((
                        String::from_utf8_lossy(n).into_owned(),
                        s.st_value,
                        s.st_type(),
                    ));
                }
            }
        }
        Ok(ElfView { data, loads, sections, shstrtab, symbols })
    }

    fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols.iter().find(|s| s.0 == name).map(|s| s.1)
    }

    fn section_header(&self, name: &str) -> Option<&SectionHeader> {
        let strtab = self.shstrtab?;
        self.sections.iter().find(|s| {
            let raw = strtab.get(s.sh_name..).unwrap_or(&[]);
            raw.split(|&b| b == 0).next() == Some(name.as_bytes())
        })
    }

    /// `[addr, addr + size)` through the `PT_LOAD`s: the file bytes the loader maps there
    /// (cut at `p_filesz`).
    pub fn map(&self, addr: u64, size: u64) -> Option<Mapped> {
        let p = self.loads.iter().find(|p| {
            addr >= p.p_vaddr
                && addr
                    .checked_add(size)
                    .zip(p.p_vaddr.checked_add(p.p_memsz))
                    .is_some_and(|(e, end)| e <= end)
        })?;
        let delta = addr - p.p_vaddr;
        let len = size.min(p.p_filesz.saturating_sub(delta));
        let offset = p.p_offset.checked_add(delta)?;
        if offset.checked_add(len)? > self.data.len() as u64 {
            return None;
        }
        Some(Mapped { addr, offset: offset as usize, len: len as usize, size })
    }

    /// Where the runtime finds section `name`: `__start_`..`__stop_` when the symbol table has
    /// them, else the section header's address and size; mapped through the `PT_LOAD`s.
    pub fn runtime_section(&self, name: &str) -> Option<Mapped> {
        let (start, stop) =
            (self.symbol(&format!("__start_{name}")), self.symbol(&format!("__stop_{name}")));
        match (start, stop) {
            (Some(a), Some(b)) if b >= a => self.map(a, b - a),
            _ => {
                let sh = self.section_header(name)?;
                self.map(sh.sh_addr, sh.sh_size)
            }
        }
    }

    fn executable(&self, addr: u64) -> bool {
        self.loads
            .iter()
            .any(|p| p.p_flags & PF_X != 0 && addr >= p.p_vaddr && addr - p.p_vaddr < p.p_memsz)
    }

    fn function_starts(&self) -> std::collections::HashSet<u64> {
        self.symbols
            .iter()
            .filter(|s| s.2 == STT_FUNC || s.2 == STT_GNU_IFUNC)
            .map(|s| s.1)
            .collect()
    }
}

/// Checks an ELF output against its original (see the module documentation).
fn check_elf(orig: &[u8], out: &[u8]) -> Res<()> {
    let before = ElfView::parse(orig).map_err(|e| format!("original: {e}"))?;
    let after = ElfView::parse(out).map_err(|e| format!("output: {e}"))?;
    let entry0 = before.runtime_section(ENTRY).ok_or("original: entry section not mapped")?;
    let stub0 = before.runtime_section(STUB);
    if orig.len() == out.len() {
        let allowed: Vec<Mapped> = [Some(entry0), stub0].into_iter().flatten().collect();
        changed_inside(orig, out, &allowed.iter().map(|m| (m.offset, m.len)).collect::<Vec<_>>())?;
    } else {
        // A relaid (compacted) output: before the entry section only the ELF header and the
        // program headers may change, and the symbol and string tables move unchanged.
        let header = goblin::elf::Elf::parse_header(orig).map_err(|e| format!("header: {e}"))?;
        let phdrs =
            (header.e_phoff as usize, header.e_phnum as usize * header.e_phentsize as usize);
        let prefix = entry0.offset.min(out.len());
        changed_inside(&orig[..prefix], &out[..prefix], &[(0, 64), phdrs])?;
        for name in [".symtab", ".strtab"] {
            let (Some(a), Some(b)) = (before.section_header(name), after.section_header(name))
            else {
                continue;
            };
            let bytes = |d: &'_ [u8], s: &SectionHeader| -> Option<Vec<u8>> {
                Some(d.get(s.sh_offset as usize..)?.get(..s.sh_size as usize)?.to_vec())
            };
            if bytes(orig, a) != bytes(out, b) {
                return Err(format!("{name} changed in the relaid output"));
            }
        }
    }
    let entry = after.runtime_section(ENTRY).ok_or("output: entry section not mapped")?;
    let entry_bytes = &out[entry.offset..entry.offset + entry.len];
    let (blob_sect, spilled) = match u64_at(entry_bytes, 0)? {
        MAGIC_TABLE => (entry, false),
        MAGIC_REDIRECT => {
            let stub = after.runtime_section(STUB).ok_or("output: redirect but no stub section")?;
            if u64_at(entry_bytes, 8)? != entry.addr || u64_at(entry_bytes, 16)? != stub.addr {
                return Err("redirect does not name the entry and stub sections".into());
            }
            if entry_bytes.iter().skip(24).any(|&b| b != 0) {
                return Err("entry section not zero after the redirect".into());
            }
            (stub, true)
        }
        other => return Err(format!("entry section starts with {other:#x}, no table")),
    };
    let blob = &out[blob_sect.offset..blob_sect.offset + blob_sect.len];
    if u64_at(blob, 0)? != MAGIC_TABLE {
        return Err("blob magic".into());
    }
    let link_sect_addr = u64_at(blob, 8)?;
    if link_sect_addr != blob_sect.addr {
        return Err(format!(
            "linkSectAddr {link_sect_addr:#x} is not the blob section's address {:#x}",
            blob_sect.addr
        ));
    }
    let base = u64_at(blob, 16)?;
    let count = u32_at(blob, 24)? as usize;
    let buckets = u32_at(blob, 28)? as usize;
    let need = 32 + 8 * count + 36 * buckets;
    if count < 2 || need > blob.len() || need as u64 > blob_sect.size {
        return Err(format!(
            "count {count}, buckets {buckets}: {need} bytes, section {}",
            blob.len()
        ));
    }
    if blob[need..].iter().any(|&b| b != 0) {
        return Err("bytes after the blob are not zero".into());
    }
    if !spilled {
        if let Some(stub) = after.runtime_section(STUB) {
            if out[stub.offset..stub.offset + stub.len].iter().any(|&b| b != 0) {
                return Err("stub section not zero beside an in-place table".into());
            }
        }
    }
    let starts = before.function_starts();
    let mut prev = None;
    for i in 0..count - 1 {
        let off = u32_at(blob, 32 + 8 * i)?;
        let addr = base.wrapping_add(u64::from(off));
        if prev.is_some_and(|p| p >= off) {
            return Err(format!("row {i} not above its predecessor"));
        }
        prev = Some(off);
        if !after.executable(addr) {
            return Err(format!("row {i} at {addr:#x} lies in no executable PT_LOAD"));
        }
        if !starts.contains(&addr) {
            return Err(format!("row {i} at {addr:#x} starts no function symbol of the original"));
        }
    }
    if u32_at(blob, 32 + 8 * (count - 1) + 4)? != 0 {
        return Err("sentinel funcIndex is not 0".into());
    }
    Ok(())
}

/// Every byte that differs lies in one of `ranges` (`(offset, len)`).
fn changed_inside(orig: &[u8], out: &[u8], ranges: &[(usize, usize)]) -> Res<()> {
    let mut i = 0;
    while i < orig.len() {
        if orig[i] != out[i] && !ranges.iter().any(|&(o, n)| i >= o && i - o < n) {
            return Err(format!(
                "byte at file offset {i:#x} changed outside the loader's view of the sections \
                 ({ranges:x?})"
            ));
        }
        i += 1;
    }
    Ok(())
}

/// The file ranges a Mach-O rewrite may change in the image at `base` of `orig`: the two LLGo
/// sections, the segment(s) holding them and `__LINKEDIT`; each section must lie in its
/// segment's file range.
fn macho_allowed(orig: &[u8], base: usize) -> Res<Vec<(usize, usize)>> {
    let m =
        goblin::mach::MachO::parse_lossy(orig, base).map_err(|e| format!("goblin Mach-O: {e}"))?;
    let mut out = Vec::new();
    for seg in m.segments.iter() {
        let segname = seg.name().unwrap_or("");
        let (fo, fs) = (seg.fileoff as usize, seg.filesize as usize);
        if segname == "__LINKEDIT" {
            out.push((base.saturating_add(fo), fs));
        }
        for (s, _) in seg.sections().map_err(|e| format!("sections: {e}"))? {
            let name = s.name().unwrap_or("");
            // A section without bytes is neither read nor written.
            if (name == "__llgo_fie" || name == "__llgo_stub") && s.size > 0 {
                let (so, ss) = (s.offset as usize, s.size as usize);
                if so < fo || so.saturating_add(ss) > fo.saturating_add(fs) {
                    return Err(format!("section {name} outside its segment {segname}"));
                }
                out.push((base.saturating_add(fo), fs));
            }
        }
    }
    Ok(out)
}

/// The entry section of the Mach-O image at `base` of `out` starts with a table or redirect.
fn macho_table(out: &[u8], base: usize) -> Res<()> {
    let m =
        goblin::mach::MachO::parse_lossy(out, base).map_err(|e| format!("output Mach-O: {e}"))?;
    for seg in m.segments.iter() {
        for (s, _) in seg.sections().map_err(|e| format!("sections: {e}"))? {
            if s.name().unwrap_or("") == "__llgo_fie" {
                let magic = u64_at(out, base.saturating_add(s.offset as usize))?;
                if magic != MAGIC_TABLE && magic != MAGIC_REDIRECT {
                    return Err(format!("__llgo_fie starts with {magic:#x}"));
                }
                return Ok(());
            }
        }
    }
    Err("output has no __llgo_fie".into())
}

/// The independent check of an output `out` that llgo-ld made from `orig`.
pub fn check_output(orig: &[u8], out: &[u8]) -> Res<()> {
    match orig.get(..4) {
        Some([0x7f, b'E', b'L', b'F']) => check_elf(orig, out),
        Some([0xcf, 0xfa, 0xed, 0xfe]) => {
            if orig.len() == out.len() {
                changed_inside(orig, out, &macho_allowed(orig, 0)?)?;
            }
            macho_table(out, 0)
        }
        Some([0xca, 0xfe, 0xba, 0xbe]) => {
            let fat = goblin::mach::MultiArch::new(orig).map_err(|e| format!("fat: {e}"))?;
            let mut allowed = Vec::new();
            let mut bases = Vec::new();
            for arch in fat.iter_arches() {
                let arch = arch.map_err(|e| format!("fat arch: {e}"))?;
                let base = arch.offset as usize;
                let slice =
                    orig.get(base..base.saturating_add(arch.size as usize)).ok_or("fat slice")?;
                if let Ok(mut a) = macho_allowed(slice, 0) {
                    a.iter_mut().for_each(|r| r.0 = r.0.saturating_add(base));
                    allowed.extend(a);
                    bases.push((base, arch.size as usize));
                }
            }
            if orig.len() == out.len() {
                changed_inside(orig, out, &allowed)?;
            }
            for (base, size) in bases {
                let slice = out.get(base..base.saturating_add(size)).ok_or("fat slice")?;
                let before = orig.get(base..base.saturating_add(size));
                // A slice left as it was (not ours: another CPU type, nothing to write) is
                // fine; a changed one must hold a table.
                if before != Some(slice) {
                    macho_table(slice, 0)?;
                }
            }
            Ok(())
        }
        _ => Err("output of a file that is neither ELF nor Mach-O".into()),
    }
}

/// The property every input must have (fuzz targets and `shim-tests/fuzz_replay.rs`): the
/// pipeline refuses or skips it, or its output passes `verify` and [`check_output`]. A panic
/// propagates to the caller.
pub fn property(data: &[u8]) -> Res<bool> {
    use llgo_ld::postlink::{produce, Produced};
    match produce(data) {
        Err(_) | Ok(Produced::Skipped(_)) => Ok(false),
        Ok(Produced::Rewritten { output, .. }) => {
            let report = llgo_ld::verify::verify(&output)
                .map_err(|e| format!("verify of the output: {e}"))?;
            if !report.ok() {
                return Err(format!("verify of the output: {}", report.problems.join("; ")));
            }
            check_output(data, &output).map_err(|e| format!("independent check: {e}"))?;
            Ok(true)
        }
    }
}
