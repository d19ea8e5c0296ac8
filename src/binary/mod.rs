//! Read-only views of linked executables. No I/O and no panics: `&[u8]` in, typed views or
//! errors that name the structure and its file offset out.

#![deny(clippy::indexing_slicing)]

pub mod elf;
pub mod elf_dynamic;
pub mod elf_view;
pub mod fat;
pub mod macho;
pub mod macho_fixups;
pub mod macho_view;
pub mod probe;

use crate::bytes;
use crate::error::Result;

pub const OTHER_ELF: &str = "32-bit or big-endian ELF carries no LLGo tables";
pub const OTHER_MACHO: &str = "32-bit or big-endian Mach-O carries no LLGo tables";
pub const UNKNOWN: &str = "not an ELF or Mach-O file";

/// Why a file is not rewritten by a reader: a skip (not ours) or damage (a failure).
pub enum NotOurs {
    Skip(String),
    Malformed(crate::error::Error),
}

impl From<crate::error::Error> for NotOurs {
    fn from(e: crate::error::Error) -> Self {
        NotOurs::Malformed(e)
    }
}

/// One image, by format.
pub enum Format<'data> {
    Elf(elf::ElfImage<'data>),
    MachO(macho::MachOImage<'data>),
}

/// The images of one file that may carry LLGo tables.
pub enum Images<'data> {
    /// Nothing to do with this file, and why.
    Skip(String),
    /// `(offset of the image in the file, image)`: one for a thin file, one per slice of a
    /// universal binary.
    List(Vec<(u64, Format<'data>)>),
}

/// Opens every image of `data`. Files without LLGo sections are a skip, decided from headers.
pub fn images<'data>(data: &'data [u8]) -> Result<Images<'data>> {
    Ok(match sniff(data) {
        Kind::Elf64Le => match elf::ElfImage::parse(data) {
            Ok(image) => Images::List(vec![(0, Format::Elf(image))]),
            Err(NotOurs::Skip(why)) => Images::Skip(why),
            Err(NotOurs::Malformed(e)) => return Err(e),
        },
        Kind::OtherElf => Images::Skip(OTHER_ELF.into()),
        Kind::MachO64 => match macho::MachOImage::parse(data) {
            Ok(image) => Images::List(vec![(0, Format::MachO(image))]),
            Err(NotOurs::Skip(why)) => Images::Skip(why),
            Err(NotOurs::Malformed(e)) => return Err(e),
        },
        Kind::Fat => universal(data)?,
        Kind::OtherMachO => {
            Images::Skip("32-bit or big-endian Mach-O carries no LLGo tables".into())
        }
        Kind::Unknown => Images::Skip("not an ELF or Mach-O file".into()),
    })
}

/// Every slice of a universal binary that carries LLGo sections; a damaged slice that does
/// is an error for the whole file (all slices or nothing).
fn universal<'data>(data: &'data [u8]) -> Result<Images<'data>> {
    let Some(slices) = fat::slices(data)? else {
        return Ok(Images::Skip(
            "0xCAFEBABE but not a universal binary (a Java class file?)".into(),
        ));
    };
    let mut list: Vec<(u64, Format<'data>)> = Vec::new();
    let mut skips = Vec::new();
    for (i, s) in slices.iter().enumerate() {
        let bytes = bytes::slice(data, s.offset, s.size, "fat slice")?;
        if sniff(bytes) != Kind::MachO64 {
            skips.push(format!("slice {i}: not a 64-bit little-endian Mach-O"));
            continue;
        }
        match macho::MachOImage::parse(bytes) {
            Ok(image) => list.push((s.offset, Format::MachO(image))),
            Err(NotOurs::Skip(why)) => skips.push(format!("slice {i}: {why}")),
            Err(NotOurs::Malformed(e)) => {
                return Err(e.context(format!("slice {i} at file offset {:#x}", s.offset)))
            }
        }
    }
    Ok(if list.is_empty() { Images::Skip(skips.join("; ")) } else { Images::List(list) })
}

/// What the first bytes of a file say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// ELF64 little-endian: the one ELF flavour that carries LLGo tables.
    Elf64Le,
    /// Any other ELF class or byte order: skipped.
    OtherElf,
    /// A 64-bit little-endian Mach-O image.
    MachO64,
    /// A universal (fat) Mach-O.
    Fat,
    /// A 32-bit or big-endian Mach-O: skipped.
    OtherMachO,
    Unknown,
}

/// Classifies a file from its first bytes (at least 16 needed for ELF).
pub fn sniff(head: &[u8]) -> Kind {
    match head {
        [0x7f, b'E', b'L', b'F', 2, 1, ..] => Kind::Elf64Le,
        [0x7f, b'E', b'L', b'F', ..] => Kind::OtherElf,
        [0xcf, 0xfa, 0xed, 0xfe, ..] => Kind::MachO64,
        [0xca, 0xfe, 0xba, 0xbe, ..] | [0xca, 0xfe, 0xba, 0xbf, ..] => Kind::Fat,
        [0xce, 0xfa, 0xed, 0xfe, ..]
        | [0xfe, 0xed, 0xfa, 0xce, ..]
        | [0xfe, 0xed, 0xfa, 0xcf, ..] => Kind::OtherMachO,
        _ => Kind::Unknown,
    }
}
