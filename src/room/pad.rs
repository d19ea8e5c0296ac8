//! The padding object and its size (pure: numbers and bytes in, bytes out).
//!
//! The object contributes `size` zero bytes to the entry section of the next link and nothing
//! else a program could see. Zero rows are skipped by the LLGo runtime's fallback scans, so the
//! padded program is correct whether or not its table is written afterwards.
//!
//! ELF: a section `llgo_funcinfo_entry`, flags `"ao"` (`SHF_ALLOC | SHF_LINK_ORDER`) linked to
//! a one-byte `.text.llgo_pad` with flags `"axR"` (`SHF_GNU_RETAIN`), plus an empty
//! `.note.GNU-stack`. Why this form (docs/room.md): lld, ld.bfd and
//! gold merge any `llgo_funcinfo_entry` input into one output section, but mold keeps inputs
//! whose flags differ in separate output sections of the same name, and LLGo's records are
//! `"ao"`; an `"ao"` section is kept by `--gc-sections` exactly when the section it is linked to
//! is kept, hence the retained one-byte text section. The note keeps ld.bfd from warning about
//! an executable stack.
//!
//! Mach-O: a section `__DATA,__llgo_fie` (`regular, live_support`, like LLGo's records) holding
//! one atom, a local symbol with `N_NO_DEAD_STRIP`, so `-dead_strip` keeps it.

use object::elf;
use object::macho;
use object::write::elf::{FileHeader, SectionHeader, Sym, Writer};
use object::write::{self as owrite, SymbolSection};
use object::{Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind};

use crate::error::{Error, ErrorKind, Result};
use crate::table::encode::BUCKET_SIZE_BYTES;

/// The reservation is a multiple of this: whole 16-byte rows, and the section's 8-byte
/// alignment is kept whatever the linker puts after it.
pub const PAD_ALIGN: u64 = 16;

/// Bytes to reserve for a table that lacks `shortfall` bytes in the entry section.
///
/// The padding itself moves whatever the linker places after the entry section. When that
/// includes `.text` (lld and mold put read-only data before text), the functions keep their
/// distances but their offset within a 4 KiB page changes, which can add one bucket (36 bytes)
/// to the find index: `need' <= need + 36`. The entry section grows by exactly the reservation,
/// so `reservation >= shortfall + 36` fits in every case, and the growth stays below
/// `shortfall + 36 + 15` (one bucket plus the alignment). `None` on overflow.
pub fn reservation(shortfall: u64) -> Option<u64> {
    shortfall.checked_add(BUCKET_SIZE_BYTES)?.checked_next_multiple_of(PAD_ALIGN)
}

/// What a padding object is built for: the output's format and architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    ElfX86_64,
    ElfAarch64,
    MachOX86_64,
    MachOArm64,
}

impl Target {
    /// The target of a linked executable, from its first bytes (ELF: 20, Mach-O: 8). `None` for
    /// anything else, a universal binary included: its slices would need one reservation each.
    pub fn of(head: &[u8]) -> Option<Target> {
        match head {
            [0x7f, b'E', b'L', b'F', 2, 1, _, _, _, _, _, _, _, _, _, _, _, _, lo, hi, ..] => {
                match u16::from_le_bytes([*lo, *hi]) {
                    m if m == elf::EM_X86_64.0 => Some(Target::ElfX86_64),
                    m if m == elf::EM_AARCH64.0 => Some(Target::ElfAarch64),
                    _ => None,
                }
            }
            [0xcf, 0xfa, 0xed, 0xfe, a, b, c, d, ..] => {
                match macho::CpuType(u32::from_le_bytes([*a, *b, *c, *d])) {
                    macho::CPU_TYPE_X86_64 => Some(Target::MachOX86_64),
                    macho::CPU_TYPE_ARM64 => Some(Target::MachOArm64),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

/// Name of the section every padding byte goes to (ELF).
pub const ELF_ENTRY_SECTION: &[u8] = b"llgo_funcinfo_entry";
/// The retained one-byte text section the ELF entry padding is linked to.
pub const ELF_ANCHOR_SECTION: &[u8] = b".text.llgo_pad";
/// Segment and section of the Mach-O entry records.
pub const MACHO_SEGMENT: &[u8] = b"__DATA";
pub const MACHO_SECTION: &[u8] = b"__llgo_fie";
/// The atom's symbol (a local symbol; Mach-O names carry the leading underscore).
pub const MACHO_SYMBOL: &[u8] = b"_llgo_ld_pad";

/// A relocatable object contributing `size` zero bytes to the entry section of `target`.
/// `size` must be a positive multiple of [`PAD_ALIGN`].
pub fn object(target: Target, size: u64) -> Result<Vec<u8>> {
    if size == 0 || size % PAD_ALIGN != 0 {
        return Err(Error::internal(format!(
            "padding of {size} bytes is not a positive multiple of {PAD_ALIGN}"
        )));
    }
    match target {
        Target::ElfX86_64 => elf_object(elf::EM_X86_64, 0xcc, size),
        Target::ElfAarch64 => elf_object(elf::EM_AARCH64, 0, size),
        Target::MachOX86_64 => macho_object(Architecture::X86_64, size),
        Target::MachOArm64 => macho_object(Architecture::Aarch64, size),
    }
}

fn write_err(e: owrite::Error) -> Error {
    Error::new(ErrorKind::Io, format!("writing the padding object: {e}"))
}

/// The ELF form, written with the two-phase writer because the high-level one cannot set
/// `sh_link`. Sections: null, `.text.llgo_pad`, `llgo_funcinfo_entry`, `.note.GNU-stack`,
/// `.symtab` (the null symbol and two section symbols, as assemblers write), `.strtab`,
/// `.shstrtab`.
fn elf_object(machine: elf::Machine, text_byte: u8, size: u64) -> Result<Vec<u8>> {
    let zeros = vec![0u8; usize::try_from(size).map_err(|_| Error::unsupported("padding size"))?];
    let mut buf = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut buf);

    // Phase 1: reserve, in file order.
    w.reserve_file_header();
    let text_name = w.add_section_name(ELF_ANCHOR_SECTION);
    let text_index = w.reserve_section_index();
    let text_offset = w.reserve(1, 1);
    let entry_name = w.add_section_name(ELF_ENTRY_SECTION);
    let entry_index = w.reserve_section_index();
    let entry_offset = w.reserve(size, 8);
    let note_name = w.add_section_name(b".note.GNU-stack");
    let _note_index = w.reserve_section_index();
    let note_offset = w.reserve(0, 1);
    w.reserve_null_symbol_index();
    let _text_sym = w.reserve_symbol_index(Some(text_index));
    let _entry_sym = w.reserve_symbol_index(Some(entry_index));
    w.reserve_symtab_section_index();
    w.reserve_symtab();
    w.reserve_strtab_section_index();
    w.reserve_strtab().map_err(write_err)?;
    w.reserve_shstrtab_section_index();
    w.reserve_shstrtab().map_err(write_err)?;
    w.reserve_section_headers();

    // Phase 2: write in the same order.
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_GNU,
        abi_version: 0,
        e_type: elf::ET_REL,
        e_machine: machine,
        e_entry: 0,
        e_flags: elf::FileFlags(0),
    })
    .map_err(write_err)?;
    w.write_align(1);
    debug_assert_eq!(w.len(), text_offset);
    w.write(&[text_byte]);
    w.write_align(8);
    debug_assert_eq!(w.len(), entry_offset);
    w.write(&zeros);
    debug_assert_eq!(w.len(), note_offset);
    w.write_null_symbol();
    for index in [text_index, entry_index] {
        w.write_symbol(&Sym {
            section: Some(index.0),
            st_name: 0,
            st_info: elf::SymbolInfo::new(elf::STB_LOCAL, elf::STT_SECTION),
            st_other: elf::SymbolOther(0),
            st_shndx: elf::SymbolSection(0),
            st_value: 0,
            st_size: 0,
        });
    }
    w.write_strtab();
    w.write_shstrtab();
    w.write_null_section_header();
    let progbits = |name, flags: u64, offset, size, link: u32, align| SectionHeader {
        sh_name: name,
        sh_type: elf::SHT_PROGBITS,
        sh_flags: elf::SectionFlags(flags),
        sh_addr: 0,
        sh_offset: offset,
        sh_size: size,
        sh_link: link,
        sh_info: 0,
        sh_addralign: align,
        sh_entsize: 0,
    };
    let text_flags = elf::SHF_ALLOC.0 | elf::SHF_EXECINSTR.0 | elf::SHF_GNU_RETAIN.0;
    let header = progbits(w.section_name_offset(Some(text_name)), text_flags, text_offset, 1, 0, 1);
    w.write_section_header(&header);
    let entry_flags = elf::SHF_ALLOC.0 | elf::SHF_LINK_ORDER.0;
    let name = w.section_name_offset(Some(entry_name));
    w.write_section_header(&progbits(name, entry_flags, entry_offset, size, text_index.0, 8));
    let name = w.section_name_offset(Some(note_name));
    w.write_section_header(&progbits(name, 0, note_offset, 0, 0, 1));
    // All three symbols are local.
    w.write_symtab_section_header(3);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    debug_assert_eq!(w.reserved_len(), w.len());
    Ok(buf)
}

/// The Mach-O form: the high-level writer handles everything Mach-O needs here.
fn macho_object(arch: Architecture, size: u64) -> Result<Vec<u8>> {
    let mut obj = owrite::Object::new(BinaryFormat::MachO, arch, Endianness::Little);
    obj.set_mangling(object::write::Mangling::None);
    obj.set_subsections_via_symbols();
    let section =
        obj.add_section(MACHO_SEGMENT.to_vec(), MACHO_SECTION.to_vec(), SectionKind::Data);
    obj.section_mut(section).flags = object::SectionFlags::MachO {
        flags: macho::S_REGULAR | macho::S_ATTR_LIVE_SUPPORT,
        reserved2: 0,
    };
    let zeros = vec![0u8; usize::try_from(size).map_err(|_| Error::unsupported("padding size"))?];
    obj.set_section_data(section, zeros, 8);
    let symbol = obj.add_symbol(owrite::Symbol {
        name: MACHO_SYMBOL.to_vec(),
        value: 0,
        size,
        kind: SymbolKind::Data,
        scope: object::SymbolScope::Compilation,
        weak: false,
        section: SymbolSection::Section(section),
        flags: SymbolFlags::None,
    });
    if let SymbolFlags::MachO { n_desc, .. } = obj.symbol_flags_mut(symbol) {
        n_desc.0 |= macho::N_NO_DEAD_STRIP.0;
    }
    obj.write().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use object::read::elf::{FileHeader as _, SectionHeader as _};
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

    use super::*;

    #[test]
    fn reservation_is_shortfall_plus_one_bucket_rounded_to_rows() {
        for (short, want) in [(1, 48), (4, 48), (12, 48), (13, 64), (532, 576), (28, 64)] {
            assert_eq!(reservation(short), Some(want), "shortfall {short}");
        }
        for short in 1..5000u64 {
            let r = reservation(short).unwrap();
            assert_eq!(r % PAD_ALIGN, 0);
            assert!(r >= short + BUCKET_SIZE_BYTES, "one more bucket must fit");
            assert!(r < short + BUCKET_SIZE_BYTES + PAD_ALIGN, "growth bound");
        }
        assert_eq!(reservation(u64::MAX - 8), None);
    }

    #[test]
    fn target_from_headers() {
        let mut elf = [0u8; 64];
        elf[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        elf[18..20].copy_from_slice(&62u16.to_le_bytes());
        assert_eq!(Target::of(&elf), Some(Target::ElfX86_64));
        elf[18..20].copy_from_slice(&183u16.to_le_bytes());
        assert_eq!(Target::of(&elf), Some(Target::ElfAarch64));
        elf[18..20].copy_from_slice(&3u16.to_le_bytes());
        assert_eq!(Target::of(&elf), None, "i386");
        elf[4] = 1;
        assert_eq!(Target::of(&elf), None, "ELF32");
        let mut macho = [0u8; 32];
        macho[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        macho[4..8].copy_from_slice(&0x0100_000cu32.to_le_bytes());
        assert_eq!(Target::of(&macho), Some(Target::MachOArm64));
        macho[4..8].copy_from_slice(&0x0100_0007u32.to_le_bytes());
        assert_eq!(Target::of(&macho), Some(Target::MachOX86_64));
        assert_eq!(Target::of(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]), None, "fat");
        assert_eq!(Target::of(b"\x7fELF"), None, "truncated");
    }

    #[test]
    fn refuses_sizes_that_are_not_whole_rows() {
        for size in [0, 8, 17] {
            assert!(object(Target::ElfX86_64, size).is_err(), "{size}");
        }
    }

    /// Read back with the `object` reader's raw headers: flags, link, sizes, alignment.
    #[test]
    fn elf_object_has_the_linked_retained_form() {
        for (target, machine) in [(Target::ElfX86_64, 62u16), (Target::ElfAarch64, 183)] {
            let bytes = object(target, 96).unwrap();
            let header = elf::FileHeader64::<Endianness>::parse(&*bytes).unwrap();
            let e = header.endian().unwrap();
            assert_eq!(header.e_type(e), elf::ET_REL);
            assert_eq!(header.e_machine(e).0, machine);
            let sections = header.sections(e, &*bytes).unwrap();
            let by_name = |n: &[u8]| {
                sections
                    .iter()
                    .enumerate()
                    .find(|(_, s)| sections.section_name(e, s).unwrap() == n)
                    .unwrap_or_else(|| panic!("no {}", String::from_utf8_lossy(n)))
            };
            let (text_index, text) = by_name(ELF_ANCHOR_SECTION);
            assert_eq!(text.sh_size(e), 1);
            let flags = elf::SHF_ALLOC.0 | elf::SHF_EXECINSTR.0 | elf::SHF_GNU_RETAIN.0;
            assert_eq!(text.sh_flags(e).0, flags);
            let (_, entry) = by_name(ELF_ENTRY_SECTION);
            assert_eq!(entry.sh_type(e), elf::SHT_PROGBITS);
            assert_eq!(entry.sh_flags(e).0, elf::SHF_ALLOC.0 | elf::SHF_LINK_ORDER.0);
            assert_eq!(entry.sh_link(e) as usize, text_index);
            assert_eq!(entry.sh_size(e), 96);
            assert_eq!(entry.sh_addralign(e), 8);
            assert_eq!(entry.sh_offset(e) % 8, 0);
            assert!(entry.data(e, &*bytes).unwrap().iter().all(|&b| b == 0));
            let (_, note) = by_name(b".note.GNU-stack");
            assert_eq!((note.sh_size(e), note.sh_flags(e).0), (0, 0));
            // The generic reader accepts the file as a whole, too.
            let file = object::File::parse(&*bytes).unwrap();
            assert_eq!(file.section_by_name("llgo_funcinfo_entry").unwrap().size(), 96);
        }
    }

    #[test]
    fn macho_object_has_one_pinned_atom() {
        for target in [Target::MachOArm64, Target::MachOX86_64] {
            let bytes = object(target, 4096).unwrap();
            let file = object::File::parse(&*bytes).unwrap();
            let section = file.section_by_name("__llgo_fie").unwrap();
            assert_eq!(section.segment_name().unwrap(), Some("__DATA"));
            assert_eq!(section.size(), 4096);
            let object::SectionFlags::MachO { flags, .. } = section.flags() else { panic!() };
            assert_eq!(flags, macho::S_REGULAR | macho::S_ATTR_LIVE_SUPPORT);
            let syms: Vec<_> = file.symbols().filter(|s| s.name() == Ok("_llgo_ld_pad")).collect();
            assert_eq!(syms.len(), 1);
            let object::SymbolFlags::MachO { n_desc, .. } = syms[0].flags() else { panic!() };
            assert_eq!(n_desc.0 & macho::N_NO_DEAD_STRIP.0, macho::N_NO_DEAD_STRIP.0);
            assert!(syms[0].is_local());
        }
    }
}
