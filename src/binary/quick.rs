//! The header-only fast path (SHIM.md section 3.2): can this file carry LLGo sections at all?
//!
//! A plain C link is the common case; deciding it must not read the whole file. This looks at
//! the ELF header, the section header table and the section-name string table (or a Mach-O
//! header and its load commands) through a caller-supplied `read_at`, so it stays free of I/O
//! and is tested on byte slices. "Maybe" is always safe: the full reader decides then.

use super::sniff;
use super::Kind;

/// Reads `len` bytes at `offset`; `None` if the file is shorter or the read fails.
pub type ReadAt<'a> = dyn FnMut(u64, usize) -> Option<Vec<u8>> + 'a;

/// The verdict from headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Quick {
    /// Certainly no LLGo table to write, and why (same words as the full reader's skip).
    NoLlgo(&'static str),
    /// Perhaps: run the full rewrite.
    Maybe,
}

/// More section-name bytes than this and the fast path gives up (the full reader decides).
const MAX_NAMES: u64 = 1 << 24;

/// Decides from headers whether a file of `len` bytes may hold LLGo sections.
pub fn llgo_possible(len: u64, read_at: &mut ReadAt<'_>) -> Quick {
    let Some(head) = read_at(0, 64.min(len as usize)) else { return Quick::Maybe };
    match sniff(&head) {
        Kind::Elf64Le => elf64(&head, len, read_at),
        Kind::MachO64 => macho64(&head, len, read_at),
        Kind::Fat => Quick::Maybe,
        Kind::OtherElf => Quick::NoLlgo("32-bit or big-endian ELF carries no LLGo tables"),
        Kind::OtherMachO => Quick::NoLlgo("32-bit or big-endian Mach-O carries no LLGo tables"),
        Kind::Unknown => Quick::NoLlgo("not an ELF or Mach-O file"),
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?)))
}

fn u32_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?)))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn elf64(head: &[u8], len: u64, read_at: &mut ReadAt<'_>) -> Quick {
    elf64_names(head, len, read_at).map_or(Quick::Maybe, |names| {
        // A section name is a NUL-terminated string in this table (names may share tails, so
        // look for the name plus its terminator anywhere).
        if contains(&names, b"llgo_funcinfo_entry\0") {
            Quick::Maybe
        } else {
            Quick::NoLlgo("no LLGo sections")
        }
    })
}

/// The bytes of the section-name string table, or `None` if anything is odd.
fn elf64_names(head: &[u8], len: u64, read_at: &mut ReadAt<'_>) -> Option<Vec<u8>> {
    let shoff = u64_at(head, 0x28)?;
    let shentsize = u16_at(head, 0x3a)?;
    let mut shnum = u16_at(head, 0x3c)?;
    let mut shstrndx = u16_at(head, 0x3e)?;
    if shoff == 0 || shentsize != 64 {
        return None;
    }
    if shnum == 0 || shstrndx == 0xffff {
        let first = read_at(shoff, 64)?;
        if shnum == 0 {
            shnum = u64_at(&first, 0x20)?;
        }
        if shstrndx == 0xffff {
            shstrndx = u32_at(&first, 0x28)?;
        }
    }
    if shstrndx >= shnum {
        return None;
    }
    let table_len = shnum.checked_mul(64)?;
    if shoff.checked_add(table_len)? > len {
        return None;
    }
    let sh = read_at(shoff.checked_add(shstrndx * 64)?, 64)?;
    let (off, size) = (u64_at(&sh, 0x18)?, u64_at(&sh, 0x20)?);
    if size > MAX_NAMES || off.checked_add(size)? > len {
        return None;
    }
    read_at(off, size as usize)
}

fn macho64(head: &[u8], len: u64, read_at: &mut ReadAt<'_>) -> Quick {
    let Some(sizeofcmds) = u32_at(head, 0x14) else { return Quick::Maybe };
    if sizeofcmds > MAX_NAMES || 32 + sizeofcmds > len {
        return Quick::Maybe;
    }
    let Some(cmds) = read_at(32, sizeofcmds as usize) else { return Quick::Maybe };
    // Section names are 16-byte, NUL-padded fields of the segment commands.
    if contains(&cmds, b"__llgo_fie") {
        Quick::Maybe
    } else {
        Quick::NoLlgo("no LLGo sections")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(data: &[u8]) -> Quick {
        let mut reads = 0usize;
        let mut read = |off: u64, n: usize| {
            reads += n;
            let off = usize::try_from(off).ok()?;
            data.get(off..off.checked_add(n)?).map(<[u8]>::to_vec)
        };
        let q = llgo_possible(data.len() as u64, &mut read);
        assert!(reads <= data.len() + 64, "read more than the file");
        q
    }

    /// A minimal ELF64 LE: header, `names` at 0x40, three section headers (null, a section,
    /// the name table).
    fn elf(names: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; 0x40];
        d[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        let names_off = 0x40u64;
        d.extend_from_slice(names);
        while d.len() % 8 != 0 {
            d.push(0);
        }
        let shoff = d.len() as u64;
        d[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        d[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        d[0x3c..0x3e].copy_from_slice(&3u16.to_le_bytes());
        d[0x3e..0x40].copy_from_slice(&2u16.to_le_bytes());
        d.extend_from_slice(&[0u8; 128]);
        let mut strtab = [0u8; 64];
        strtab[0x18..0x20].copy_from_slice(&names_off.to_le_bytes());
        strtab[0x20..0x28].copy_from_slice(&(names.len() as u64).to_le_bytes());
        d.extend_from_slice(&strtab);
        d
    }

    #[test]
    fn elf_cases() {
        assert_eq!(run(&elf(b"\0.text\0.shstrtab\0")), Quick::NoLlgo("no LLGo sections"));
        assert_eq!(run(&elf(b"\0.text\0llgo_funcinfo_entry\0")), Quick::Maybe);
        // a longer name that merely contains ours is no match; a shared tail is
        assert_eq!(run(&elf(b"\0llgo_funcinfo_entry_x\0")), Quick::NoLlgo("no LLGo sections"));
        assert_eq!(run(&elf(b"\0.rela.llgo_funcinfo_entry\0")), Quick::Maybe);
    }

    #[test]
    fn odd_or_truncated_files_are_maybe_or_skips() {
        let good = elf(b"\0.text\0");
        for cut in [0, 4, 16, 63, 64, 100, good.len() - 1] {
            let q = run(&good[..cut]);
            assert!(matches!(q, Quick::Maybe | Quick::NoLlgo(_)), "{cut}: {q:?}");
        }
        let mut bad = good.clone();
        bad[0x3e] = 9; // shstrndx beyond shnum
        assert_eq!(run(&bad), Quick::Maybe);
        let mut huge = good;
        huge[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(run(&huge), Quick::Maybe);
        assert_eq!(run(b"#!/bin/sh\n"), Quick::NoLlgo("not an ELF or Mach-O file"));
        assert_eq!(run(b""), Quick::NoLlgo("not an ELF or Mach-O file"));
    }

    #[test]
    fn macho_cases() {
        let mut d = vec![0u8; 32];
        d[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        let mut cmds = vec![0u8; 80];
        cmds[8..14].copy_from_slice(b"__TEXT");
        d[0x14..0x18].copy_from_slice(&(cmds.len() as u32).to_le_bytes());
        let mut with = d.clone();
        d.extend_from_slice(&cmds);
        assert_eq!(run(&d), Quick::NoLlgo("no LLGo sections"));
        cmds[40..50].copy_from_slice(b"__llgo_fie");
        with.extend_from_slice(&cmds);
        assert_eq!(run(&with), Quick::Maybe);
    }
}
