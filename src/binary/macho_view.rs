//! The loader's view of a Mach-O image, checked before anything is read or written (issue 11).
//! dyld maps `LC_SEGMENT_64` file ranges at their `vmaddr`s and reads its own data (fixups,
//! symbols, the signature) at the offsets the `__LINKEDIT` load commands name; the rewrite finds
//! its sections through the section records inside the segment commands. A file whose
//! descriptions disagree is a failure naming the two structures.
//!
//! What holds after [`check`]:
//! - every segment's file range lies in the file, its `vmaddr + vmsize` does not overflow, its
//!   `filesize <= vmsize`, and no two segments share file bytes;
//! - every section with file bytes lies inside its segment's file range and memory range, at
//!   the same distance from the segment's start in both (so a section read at its `offset` holds
//!   the bytes dyld maps at its `addr`); a zero-fill section lies inside the memory range; no
//!   two sections share bytes in the file or in memory;
//! - every offset a `__LINKEDIT` load command names (`LC_SYMTAB`, `LC_DYSYMTAB`'s tables, every
//!   `linkedit_data_command`: chained fixups, exports trie, function starts, data in code, code
//!   signature, ...) lies inside the file and inside `__LINKEDIT`'s file range.

#![deny(clippy::indexing_slicing)]

use object::macho;
use object::read::macho::{MachHeader, Section as _, Segment as _};
use object::LittleEndian;

use crate::error::Result;
use crate::image::{Image, SectionInfo};
use crate::malformed;

type Header = macho::MachHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

/// One segment's ranges.
#[derive(Clone, Debug)]
struct Seg {
    name: String,
    at: u64,
    vmaddr: u64,
    vmsize: u64,
    fileoff: u64,
    filesize: u64,
}

impl Seg {
    fn describe(&self) -> String {
        format!(
            "LC_SEGMENT_64 {} at file offset {:#x} (fileoff {:#x}, filesize {:#x}, vmaddr {:#x}, \
             vmsize {:#x})",
            self.name, self.at, self.fileoff, self.filesize, self.vmaddr, self.vmsize
        )
    }
}

/// The load commands whose payload is a `linkedit_data_command` (`dataoff`, `datasize`).
const LINKEDIT_DATA: &[(macho::LoadCommandType, &str)] = &[
    (macho::LC_CODE_SIGNATURE, "LC_CODE_SIGNATURE"),
    (macho::LC_SEGMENT_SPLIT_INFO, "LC_SEGMENT_SPLIT_INFO"),
    (macho::LC_FUNCTION_STARTS, "LC_FUNCTION_STARTS"),
    (macho::LC_DATA_IN_CODE, "LC_DATA_IN_CODE"),
    (macho::LC_DYLIB_CODE_SIGN_DRS, "LC_DYLIB_CODE_SIGN_DRS"),
    (macho::LC_LINKER_OPTIMIZATION_HINT, "LC_LINKER_OPTIMIZATION_HINT"),
    (macho::LC_DYLD_EXPORTS_TRIE, "LC_DYLD_EXPORTS_TRIE"),
    (macho::LC_DYLD_CHAINED_FIXUPS, "LC_DYLD_CHAINED_FIXUPS"),
];

/// Cross-checks the segments, their sections and the `__LINKEDIT` offsets of the image `data`
/// (see the module documentation).
pub fn check(data: &[u8]) -> Result<()> {
    let file_len = data.len() as u64;
    let header = Header::parse(data, 0).map_err(|e| malformed!("Mach-O header: {e}"))?;
    let mut commands =
        header.load_commands(LE, data, 0).map_err(|e| malformed!("Mach-O load commands: {e}"))?;
    let mut segs: Vec<Seg> = Vec::new();
    // (name, start, end) of every section with bytes: in the file and in memory.
    let mut file_ranges: Vec<(String, u64, u64)> = Vec::new();
    let mut memory_ranges: Vec<(String, u64, u64)> = Vec::new();
    // (command name, its file offset, what it names, offset, size)
    let mut linkedit: Vec<(&'static str, u64, &'static str, u64, u64)> = Vec::new();
    while let Some(cmd) = commands.next().map_err(|e| malformed!("Mach-O load command: {e}"))? {
        let at = cmd.offset();
        if let Some((seg, section_data)) =
            cmd.segment_64().map_err(|e| malformed!("LC_SEGMENT_64 at {at:#x}: {e}"))?
        {
            let s = Seg {
                name: String::from_utf8_lossy(seg.name()).into_owned(),
                at,
                vmaddr: seg.vmaddr.get(LE),
                vmsize: seg.vmsize.get(LE),
                fileoff: seg.fileoff.get(LE),
                filesize: seg.filesize.get(LE),
            };
            let what = s.describe();
            if s.fileoff.checked_add(s.filesize).is_none_or(|end| end > file_len) {
                return Err(malformed!(
                    "{what}: its file range lies past the end of the file ({file_len:#x} bytes)"
                ));
            }
            if s.vmaddr.checked_add(s.vmsize).is_none() {
                return Err(malformed!("{what}: vmaddr + vmsize overflows"));
            }
            if s.filesize > s.vmsize {
                return Err(malformed!("{what}: filesize exceeds vmsize"));
            }
            let sections = seg
                .sections(LE, section_data)
                .map_err(|e| malformed!("{what}: section records: {e}"))?;
            for sect in sections {
                let sname = format!(
                    "section {},{}",
                    String::from_utf8_lossy(sect.segment_name()),
                    String::from_utf8_lossy(sect.name())
                );
                let (addr, size) = (sect.addr(LE), sect.size(LE));
                let offset = u64::from(sect.offset(LE));
                if size == 0 {
                    continue;
                }
                let in_vm = addr
                    .checked_sub(s.vmaddr)
                    .and_then(|d| d.checked_add(size))
                    .is_some_and(|end| end <= s.vmsize);
                if !in_vm {
                    return Err(malformed!(
                        "{sname} (addr {addr:#x}, size {size:#x}) and {what} disagree: the \
                         section lies outside the segment's memory"
                    ));
                }
                // addr + size: in_vm checked it against vmaddr + vmsize, which does not overflow.
                memory_ranges.push((sname.clone(), addr, addr + size));
                let kind = sect.flags(LE).typ();
                if matches!(
                    kind,
                    macho::S_ZEROFILL | macho::S_GB_ZEROFILL | macho::S_THREAD_LOCAL_ZEROFILL
                ) {
                    continue;
                }
                let in_file = offset
                    .checked_sub(s.fileoff)
                    .and_then(|d| d.checked_add(size))
                    .is_some_and(|end| end <= s.filesize);
                if !in_file {
                    return Err(malformed!(
                        "{sname} (offset {offset:#x}, size {size:#x}) and {what} disagree: the \
                         section's bytes lie outside the segment's file range"
                    ));
                }
                file_ranges.push((sname.clone(), offset, offset + size));
                // Both differences exist: checked above.
                if offset - s.fileoff != addr - s.vmaddr {
                    return Err(malformed!(
                        "{sname} and {what} disagree: offset {offset:#x} is {:#x} into the \
                         segment's file bytes, addr {addr:#x} is {:#x} into its memory; dyld maps \
                         the section's address from file offset {:#x}",
                        offset - s.fileoff,
                        addr - s.vmaddr,
                        s.fileoff + (addr - s.vmaddr)
                    ));
                }
            }
            segs.push(s);
            continue;
        }
        let kind = cmd.cmd();
        if kind == macho::LC_SYMTAB {
            if let Some(st) = cmd.symtab().map_err(|e| malformed!("LC_SYMTAB at {at:#x}: {e}"))? {
                let nsyms = u64::from(st.nsyms.get(LE));
                linkedit.push((
                    "LC_SYMTAB",
                    at,
                    "symoff",
                    u64::from(st.symoff.get(LE)),
                    nsyms * 16,
                ));
                linkedit.push((
                    "LC_SYMTAB",
                    at,
                    "stroff",
                    u64::from(st.stroff.get(LE)),
                    u64::from(st.strsize.get(LE)),
                ));
            }
        } else if kind == macho::LC_DYSYMTAB {
            if let Some(d) =
                cmd.dysymtab().map_err(|e| malformed!("LC_DYSYMTAB at {at:#x}: {e}"))?
            {
                let table = |name,
                             off: &object::U32<LittleEndian>,
                             n: &object::U32<LittleEndian>,
                             size: u64| {
                    ("LC_DYSYMTAB", at, name, u64::from(off.get(LE)), u64::from(n.get(LE)) * size)
                };
                linkedit.push(table("tocoff", &d.tocoff, &d.ntoc, 8));
                linkedit.push(table("modtaboff", &d.modtaboff, &d.nmodtab, 56));
                linkedit.push(table("extrefsymoff", &d.extrefsymoff, &d.nextrefsyms, 4));
                linkedit.push(table("indirectsymoff", &d.indirectsymoff, &d.nindirectsyms, 4));
                linkedit.push(table("extreloff", &d.extreloff, &d.nextrel, 8));
                linkedit.push(table("locreloff", &d.locreloff, &d.nlocrel, 8));
            }
        } else if let Some(&(_, name)) = LINKEDIT_DATA.iter().find(|(k, _)| *k == kind) {
            let c: &macho::LinkeditDataCommand<LittleEndian> =
                cmd.data().map_err(|e| malformed!("{name} at {at:#x}: {e}"))?;
            linkedit.push((
                name,
                at,
                "dataoff",
                u64::from(c.dataoff.get(LE)),
                u64::from(c.datasize.get(LE)),
            ));
        }
    }

    // No two segments share file bytes.
    let mut by_offset: Vec<&Seg> = segs.iter().filter(|s| s.filesize > 0).collect();
    by_offset.sort_by_key(|s| s.fileoff);
    for pair in by_offset.windows(2) {
        if let [a, b] = pair {
            // fileoff + filesize was checked above.
            if b.fileoff < a.fileoff + a.filesize {
                return Err(malformed!(
                    "{} and {} overlap in the file",
                    a.describe(),
                    b.describe()
                ));
            }
        }
    }

    // No two sections share bytes, in the file or in memory: writing one would overwrite the
    // other (an entry section grown over the index globals in __data).
    for (ranges, place) in [(&mut file_ranges, "the file"), (&mut memory_ranges, "memory")] {
        ranges.sort_by_key(|r| r.1);
        for pair in ranges.windows(2) {
            if let [a, b] = pair {
                if b.1 < a.2 {
                    return Err(malformed!(
                        "{} ({:#x}..{:#x}) and {} ({:#x}..{:#x}) overlap in {place}",
                        a.0,
                        a.1,
                        a.2,
                        b.0,
                        b.1,
                        b.2
                    ));
                }
            }
        }
    }

    // Every __LINKEDIT offset inside the file and inside __LINKEDIT.
    let le = segs.iter().find(|s| s.name == "__LINKEDIT");
    for (cmd, at, field, off, size) in linkedit {
        if size == 0 {
            continue;
        }
        let what = format!("{cmd} at file offset {at:#x} ({field} {off:#x}, {size:#x} bytes)");
        if off.checked_add(size).is_none_or(|end| end > file_len) {
            return Err(malformed!("{what} lies past the end of the file ({file_len:#x} bytes)"));
        }
        let Some(le) = le else {
            return Err(malformed!("{what}: no __LINKEDIT segment holds it"));
        };
        if off < le.fileoff || off + size > le.fileoff + le.filesize {
            return Err(malformed!(
                "{what} and {} disagree: the data lies outside __LINKEDIT",
                le.describe()
            ));
        }
    }
    Ok(())
}

/// Where dyld maps a section that `used` says lies at `used.addr`: its address through the
/// image's segments (the loader's view), for `verify` to compare with `used.offset`.
pub fn runtime_range(image: &dyn Image<'_>, used: SectionInfo) -> Result<Option<SectionInfo>> {
    if used.size == 0 {
        return Ok(None);
    }
    let offset = image.addr_to_offset(used.addr, used.size).ok_or_else(|| {
        malformed!(
            "address {:#x} (+{:#x}) lies in no segment's file bytes: dyld does not map it",
            used.addr,
            used.size
        )
    })?;
    Ok(Some(SectionInfo { addr: used.addr, offset, size: used.size }))
}
