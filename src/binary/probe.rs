//! The fast "is this an LLGo executable at all?" check, from headers only: a plain C link (the
//! common case) must cost next to nothing. The caller supplies the reads, so this stays pure.

use object::LittleEndian;

use super::{sniff, Kind};
use crate::binary::elf::ENTRY_SECTION;

/// Reads `len` bytes at `offset` (fewer at the end of the file); `None` on an I/O error.
pub type ReadAt<'a> = dyn FnMut(u64, usize) -> Option<Vec<u8>> + 'a;

const LE: LittleEndian = LittleEndian;

/// Section names in Mach-O `section_64` headers.
const MACHO_ENTRY: &[u8] = b"__llgo_fie";

/// `Err(why)`: certainly no LLGo table to write, skip without reading the file. `Ok(())`: read
/// the whole file and decide there (it may carry tables, or the headers were too odd to tell).
pub fn may_carry_tables(read_at: &mut ReadAt<'_>) -> Result<(), &'static str> {
    let Some(head) = read_at(0, 64) else { return Ok(()) };
    let found = match sniff(&head) {
        Kind::Elf64Le => elf(&head, read_at),
        Kind::MachO64 => macho(&head, read_at),
        Kind::Fat => None,
        Kind::OtherElf => return Err(super::OTHER_ELF),
        Kind::OtherMachO => return Err(super::OTHER_MACHO),
        Kind::Unknown => return Err(super::UNKNOWN),
    };
    match found {
        Some(false) => Err("no LLGo sections"),
        _ => Ok(()),
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

type ElfHeader = object::elf::FileHeader64<LittleEndian>;
type ElfSection = object::elf::SectionHeader64<LittleEndian>;
const SHDR: usize = std::mem::size_of::<ElfSection>();

fn elf(head: &[u8], read_at: &mut ReadAt<'_>) -> Option<bool> {
    let (h, _) = object::pod::from_bytes::<ElfHeader>(head).ok()?;
    let shoff = h.e_shoff.get(LE);
    let shentsize = usize::from(h.e_shentsize.get(LE));
    let shnum = usize::from(h.e_shnum.get(LE));
    let shstrndx = usize::from(h.e_shstrndx.get(LE).0);
    if shentsize != SHDR || shnum == 0 || shstrndx >= shnum {
        return None;
    }
    let raw = read_at(shoff, shnum * SHDR)?;
    let (headers, _) = object::pod::slice_from_bytes::<ElfSection>(&raw, shnum).ok()?;
    let strtab = headers.get(shstrndx)?;
    let names = read_at(strtab.sh_offset.get(LE), usize::try_from(strtab.sh_size.get(LE)).ok()?)?;
    let named = |want: &[u8]| {
        headers.iter().any(|h| {
            names
                .get(h.sh_name.get(LE) as usize..)
                .is_some_and(|rest| rest.starts_with(want) && rest.get(want.len()) == Some(&0))
        })
    };
    // The stub section is generation 1 only (docs/format.md): the entry section decides.
    Some(named(ENTRY_SECTION))
}

fn macho(head: &[u8], read_at: &mut ReadAt<'_>) -> Option<bool> {
    let sizeofcmds = usize::try_from(u32_at(head, 20)?).ok()?;
    let cmds = read_at(32, sizeofcmds)?;
    // A section_64 header starts with its 16-byte name; an exact name match within the load
    // commands is enough to decide "maybe" (the full reader decides for real).
    Some(
        cmds.windows(16)
            .any(|w| w.strip_prefix(MACHO_ENTRY).is_some_and(|rest| rest.iter().all(|&b| b == 0))),
    )
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    fn reader(data: &[u8]) -> impl FnMut(u64, usize) -> Option<Vec<u8>> + '_ {
        move |off, len| {
            let start = usize::try_from(off).ok()?.min(data.len());
            let end = start.saturating_add(len).min(data.len());
            Some(data[start..end].to_vec())
        }
    }

    #[test]
    fn non_executables_are_decided_from_the_first_bytes() {
        for data in [&b"#!/bin/sh\n"[..], b"", b"\x7fELF\x01\x01", b"\xfe\xed\xfa\xcf...."] {
            assert!(may_carry_tables(&mut reader(data)).is_err(), "{data:?}");
        }
        assert_eq!(
            may_carry_tables(&mut reader(b"\x7fELF\x01\x01")),
            Err(crate::binary::OTHER_ELF)
        );
        assert_eq!(may_carry_tables(&mut reader(b"\xca\xfe\xba\xbe\0\0\0\x02")), Ok(()));
    }

    #[test]
    fn garbage_elf_headers_are_undecided_not_errors() {
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.resize(64, 0xff);
        assert_eq!(may_carry_tables(&mut reader(&elf)), Ok(()));
    }
}
