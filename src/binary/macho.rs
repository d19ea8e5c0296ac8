//! Thin Mach-O 64 little-endian executables (arm64, x86_64): segments and sections, `__text`,
//! the nlist symbol table, the LLGo sections (found by section name in whichever segment the
//! linker put them), `LC_DYLD_CHAINED_FIXUPS` and `LC_CODE_SIGNATURE`, through `object`'s raw
//! structs. One slice of a universal binary is one of these.

use std::collections::HashMap;
use std::ops::Range;

use object::macho;
use object::read::macho::{MachHeader, Nlist, Section as _, Segment as _};
use object::LittleEndian;

use crate::binary::macho_fixups::{
    ChainedFixups, FixupKind, Library, Segment, PTR_64, PTR_64_OFFSET,
};
use crate::binary::NotOurs;
use crate::bytes;
use crate::error::{Error, Result};
use crate::image::{Image, LlgoSections, NameStyle, Pointer, SectionInfo, TextSymbol};
use crate::{malformed, unsupported};

pub const ENTRY_SECTION: &[u8] = b"__llgo_fie";
pub const STUB_SECTION: &[u8] = b"__llgo_stub";
/// The identity section of external table mode (in `__DATA`).
pub const IDENTITY_SECTION: &[u8] = b"__llgo_pid";
/// What the loader simulation writes for a bind that resolves outside this image.
pub const OUTSIDE_SENTINEL: u64 = 0xDEAD_0000_0000_0000;

type Header = macho::MachHeader64<LittleEndian>;
const LE: LittleEndian = LittleEndian;

fn obj_err(what: &str) -> impl Fn(object::read::Error) -> Error + '_ {
    move |e| malformed!("{what}: {e}")
}

/// One nlist entry: `(n_type, n_sect, n_value, name)`.
type NlistEntry<'data> = (macho::SymbolFlags, u8, u64, &'data [u8]);

/// A section found by name: its info plus the segment that holds it.
#[derive(Clone, Copy, Debug)]
struct Found {
    info: SectionInfo,
    segment: usize,
}

/// A parsed Mach-O 64 executable that carries both LLGo sections.
pub struct MachOImage<'data> {
    pub(crate) data: &'data [u8],
    arch: &'static str,
    pub(crate) segments: Vec<Segment>,
    pub(crate) llgo: LlgoSections,
    /// The segments of the entry section and (generation 1) of the stub section.
    pub(crate) llgo_segments: (usize, Option<usize>),
    pub(crate) text: Range<u64>,
    /// 1-based section number of `__TEXT,__text` (nlist `n_sect`).
    text_sect: u8,
    /// `(symoff, nsyms, stroff, strsize)` of `LC_SYMTAB`.
    symtab: Option<(u64, u64, u64, u64)>,
    /// Defined (`N_SECT`, not `N_STAB`) symbols by name, with the underscore.
    defined: HashMap<&'data [u8], u64>,
    pub(crate) fixups: Option<ChainedFixups<'data>>,
    /// Classic `LC_DYLD_INFO(_ONLY)` rebase or bind opcodes are present.
    pub(crate) dyld_info: bool,
    /// `LC_CODE_SIGNATURE` `(dataoff, datasize)`.
    pub(crate) signature: Option<(u64, u64)>,
}

impl<'data> MachOImage<'data> {
    /// Headers and load commands first; a file without both LLGo sections is a skip decided
    /// from them alone. Then the symbol table and every fixup chain.
    pub fn parse(data: &'data [u8]) -> Result<Self, NotOurs> {
        let header = Header::parse(data, 0).map_err(obj_err("Mach-O header"))?;
        if !header.is_little_endian() {
            return Err(NotOurs::Skip("big-endian Mach-O carries no LLGo tables".into()));
        }
        let arch = match header.cputype(LE) {
            macho::CPU_TYPE_ARM64 => "arm64",
            macho::CPU_TYPE_X86_64 => "x86_64",
            other => {
                return Err(NotOurs::Skip(format!("Mach-O CPU type {other:#x} carries no tables")))
            }
        };
        if header.filetype(LE) != macho::MH_EXECUTE {
            return Err(NotOurs::Skip(format!(
                "Mach-O file type {} is not an executable",
                header.filetype(LE)
            )));
        }
        let mut commands =
            header.load_commands(LE, data, 0).map_err(obj_err("Mach-O load commands"))?;
        let mut segments = Vec::new();
        let mut sect_no: u32 = 0;
        let (mut entry, mut stub, mut text) = (None, None, None);
        let mut symtab = None;
        let mut identity = false;
        let mut chained = None;
        let mut signature = None;
        let mut dyld_info = false;
        while let Some(cmd) = commands.next().map_err(obj_err("Mach-O load command"))? {
            let lc_at = cmd.offset();
            if let Some((seg, section_data)) = cmd.segment_64().map_err(obj_err("LC_SEGMENT_64"))? {
                let index = segments.len();
                let name = String::from_utf8_lossy(seg.name()).into_owned();
                let (fileoff, filesize) = (seg.fileoff.get(LE), seg.filesize.get(LE));
                // Every later offset computation inside a segment relies on this bound.
                if fileoff.checked_add(filesize).is_none_or(|end| end > data.len() as u64) {
                    return Err(NotOurs::Malformed(malformed!(
                        "LC_SEGMENT_64 {name} at file offset {lc_at:#x}: file range \
                         {fileoff:#x}+{filesize:#x} lies past the end of the file ({:#x} bytes)",
                        data.len()
                    )));
                }
                segments.push(Segment {
                    index,
                    name: name.clone(),
                    vmaddr: seg.vmaddr.get(LE),
                    vmsize: seg.vmsize.get(LE),
                    fileoff,
                    filesize,
                });
                let sections =
                    seg.sections(LE, section_data).map_err(obj_err("LC_SEGMENT_64 sections"))?;
                for s in sections {
                    sect_no += 1;
                    let sname = s.name();
                    if sname == IDENTITY_SECTION && seg.name() == b"__DATA" {
                        identity = true;
                    }
                    let slot = match sname {
                        ENTRY_SECTION => &mut entry,
                        STUB_SECTION => &mut stub,
                        b"__text" if seg.name() == b"__TEXT" => &mut text,
                        _ => continue,
                    };
                    if slot.is_some() {
                        continue; // the first one by load-command order
                    }
                    let what = format!("{name},{}", String::from_utf8_lossy(sname));
                    let kind = s.flags(LE).typ();
                    if kind == macho::S_ZEROFILL || kind == macho::S_GB_ZEROFILL {
                        return Err(NotOurs::Malformed(malformed!("{what} is zero-fill")));
                    }
                    let info = SectionInfo {
                        addr: s.addr(LE),
                        offset: u64::from(s.offset(LE)),
                        size: s.size(LE),
                    };
                    bytes::slice(data, info.offset, info.size, &what)?;
                    let n = u8::try_from(sect_no).unwrap_or(0);
                    *slot = Some((Found { info, segment: index }, n));
                }
                continue;
            }
            match cmd.cmd() {
                macho::LC_SYMTAB => {
                    let st = cmd.symtab().map_err(obj_err("LC_SYMTAB"))?;
                    symtab = st.map(|st| {
                        (
                            u64::from(st.symoff.get(LE)),
                            u64::from(st.nsyms.get(LE)),
                            u64::from(st.stroff.get(LE)),
                            u64::from(st.strsize.get(LE)),
                        )
                    });
                }
                macho::LC_DYLD_CHAINED_FIXUPS => {
                    let c: &macho::LinkeditDataCommand<LittleEndian> =
                        cmd.data().map_err(obj_err("LC_DYLD_CHAINED_FIXUPS"))?;
                    chained = Some((u64::from(c.dataoff.get(LE)), u64::from(c.datasize.get(LE))));
                }
                macho::LC_CODE_SIGNATURE => {
                    let c: &macho::LinkeditDataCommand<LittleEndian> =
                        cmd.data().map_err(obj_err("LC_CODE_SIGNATURE"))?;
                    signature = Some((u64::from(c.dataoff.get(LE)), u64::from(c.datasize.get(LE))));
                }
                macho::LC_DYLD_INFO | macho::LC_DYLD_INFO_ONLY => {
                    let c = cmd
                        .dyld_info()
                        .map_err(obj_err("LC_DYLD_INFO"))?
                        .ok_or_else(|| malformed!("LC_DYLD_INFO at {lc_at:#x}: unreadable"))?;
                    dyld_info |= c.rebase_size.get(LE) != 0
                        || c.bind_size.get(LE) != 0
                        || c.weak_bind_size.get(LE) != 0
                        || c.lazy_bind_size.get(LE) != 0;
                }
                _ => {}
            }
        }
        if identity {
            return Err(NotOurs::Skip(format!(
                "{} (__DATA,__llgo_pid)",
                super::elf::EXTERNAL_MODE
            )));
        }
        let Some((entry, _)) = entry else {
            return Err(NotOurs::Skip("no LLGo sections".into()));
        };
        let stub = stub.map(|(s, _)| s);
        let Some((text, text_sect)) = text else {
            return Err(NotOurs::Malformed(malformed!("LLGo sections but no __TEXT,__text")));
        };
        let text_end = text
            .info
            .addr
            .checked_add(text.info.size)
            .ok_or_else(|| malformed!("__TEXT,__text: address + size overflows"))?;
        // The loader's view first: nothing is read through a header it contradicts.
        crate::binary::macho_view::check(data)?;
        let image_base = segments
            .iter()
            .find(|s| s.fileoff == 0 && s.filesize != 0)
            .map(|s| s.vmaddr)
            .ok_or_else(|| malformed!("no segment maps the Mach header (file offset 0)"))?;
        let fixups = match chained {
            Some((off, size)) => {
                Some(ChainedFixups::parse(data, off, size, &segments, image_base)?)
            }
            None => None,
        };
        let mut image = MachOImage {
            data,
            arch,
            segments,
            llgo: LlgoSections { entry: entry.info, stub: stub.as_ref().map(|s| s.info) },
            llgo_segments: (entry.segment, stub.as_ref().map(|s| s.segment)),
            text: text.info.addr..text_end,
            text_sect,
            symtab,
            defined: HashMap::new(),
            fixups,
            dyld_info,
            signature,
        };
        image.defined = image.defined_symbols()?;
        Ok(image)
    }

    /// Every nlist entry: `(n_type, n_sect, n_value, name)`. N_STAB entries included; callers
    /// filter.
    fn nlists(&self) -> Result<Vec<NlistEntry<'data>>> {
        let Some((symoff, nsyms, stroff, strsize)) = self.symtab else {
            return Ok(Vec::new());
        };
        let entry = std::mem::size_of::<macho::Nlist64<LittleEndian>>() as u64;
        let table =
            bytes::slice(self.data, symoff, nsyms.saturating_mul(entry), "LC_SYMTAB symbols")?;
        let strings = bytes::slice(self.data, stroff, strsize, "LC_SYMTAB string table")?;
        let syms: &[macho::Nlist64<LittleEndian>] = object::pod::slice_from_all_bytes(table)
            .map_err(|()| malformed!("LC_SYMTAB symbols"))?;
        let mut out = Vec::with_capacity(syms.len());
        for (i, s) in syms.iter().enumerate() {
            let strx = u64::from(s.n_strx(LE));
            let name = bytes::c_str(strings, strx, "symbol name").map_err(|_| {
                malformed!(
                    "symbol {i} at file offset {:#x}: name offset {strx:#x} lies past the string \
                     table ({strsize:#x} bytes at {stroff:#x})",
                    symoff + i as u64 * entry
                )
            })?;
            out.push((s.n_type(), s.n_sect(), s.n_value(LE), name));
        }
        Ok(out)
    }

    fn defined_symbols(&self) -> Result<HashMap<&'data [u8], u64>> {
        let mut map = HashMap::new();
        for (n_type, _, value, name) in self.nlists()? {
            if !n_type.is_stab() && n_type.typ() == macho::N_SECT {
                map.entry(name).or_insert(value);
            }
        }
        Ok(map)
    }

    pub fn arch(&self) -> &'static str {
        self.arch
    }

    pub fn fixups(&self) -> Option<&ChainedFixups<'data>> {
        self.fixups.as_ref()
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Where a bind node points: the import's symbol in this image + both addends.
    pub(crate) fn resolve_bind(
        &self,
        fixups: &ChainedFixups<'_>,
        ordinal: u32,
        addend: u64,
    ) -> Pointer {
        let Some(import) = fixups.imports.get(ordinal as usize) else {
            return Pointer::Outside;
        };
        if import.library == Library::Elsewhere {
            return Pointer::Outside;
        }
        match self.defined.get(import.name) {
            Some(&addr) => {
                Pointer::Addr(addr.wrapping_add(addend).wrapping_add(import.addend as u64))
            }
            None => Pointer::Outside,
        }
    }

    /// The fixups, or the reason the image has none we can work with.
    pub(crate) fn chained(&self) -> Result<&ChainedFixups<'data>> {
        match &self.fixups {
            Some(f) => Ok(f),
            None if self.dyld_info => Err(unsupported!(
                "classic LC_DYLD_INFO rebase/bind opcodes (deployment target before macOS 13): \
                 only chained fixups can be rewritten"
            )),
            None => Err(unsupported!(
                "no LC_DYLD_CHAINED_FIXUPS: the loader could not slide the table's base"
            )),
        }
    }

    /// The two sections must lie in segments whose chains we decode.
    pub(crate) fn check_section_segments(&self, fixups: &ChainedFixups<'_>) -> Result<()> {
        let s = self.llgo;
        let stub = s.stub.map(|i| (i, "__llgo_stub"));
        for (info, name) in std::iter::once((s.entry, "__llgo_fie")).chain(stub) {
            if let Some(starts) = fixups.starts_for(info.offset) {
                if starts.pointer_format != PTR_64 && starts.pointer_format != PTR_64_OFFSET {
                    return Err(unsupported!(
                        "{name} lies in segment {} with chained pointer format {}: only formats 2 \
                         and 6 are handled",
                        starts.name,
                        starts.pointer_format
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn section_ranges(&self) -> Vec<Range<u64>> {
        let s = self.llgo;
        let range = |i: SectionInfo| i.offset..i.offset + i.size;
        std::iter::once(range(s.entry)).chain(s.stub.map(range)).collect()
    }
}

impl<'data> Image<'data> for MachOImage<'data> {
    fn data(&self) -> &'data [u8] {
        self.data
    }

    fn style(&self) -> NameStyle {
        NameStyle::MachO
    }

    fn describe(&self) -> String {
        format!("Mach-O {}", self.arch)
    }

    fn sections(&self) -> LlgoSections {
        self.llgo
    }

    fn entry_fragments(&self) -> Vec<SectionInfo> {
        // ld64 merges input sections of one name into one output section.
        vec![self.llgo.entry]
    }

    fn text(&self) -> Range<u64> {
        self.text.clone()
    }

    fn text_symbols(&self) -> Result<Vec<TextSymbol<'data>>> {
        if self.symtab.is_none() {
            return Err(Error::unsupported("no symbol table (stripped link): cannot find owners"));
        }
        let mut out = Vec::new();
        for (n_type, n_sect, addr, name) in self.nlists()? {
            if n_type.is_stab()
                || n_type.typ() != macho::N_SECT
                || n_sect != self.text_sect
                || !self.text.contains(&addr)
            {
                continue;
            }
            out.push(TextSymbol::new(addr, 0, name));
        }
        if out.is_empty() {
            return Err(Error::unsupported(
                "no symbols in __TEXT,__text (stripped link): cannot find owners",
            ));
        }
        Ok(out)
    }

    fn pointer_at(&self, offset: u64) -> Result<Pointer> {
        let raw = bytes::u64_le(self.data, offset, "pointer slot")?;
        let Some(fixups) = &self.fixups else {
            return Ok(Pointer::Addr(raw));
        };
        if let Some(starts) = fixups.starts_for(offset) {
            if !starts.walked {
                return Err(unsupported!(
                    "pointer slot at file offset {offset:#x} lies in segment {} with chained \
                     pointer format {}: only formats 2 and 6 are handled",
                    starts.name,
                    starts.pointer_format
                ));
            }
        }
        Ok(match fixups.nodes.get(&offset) {
            None => Pointer::Addr(raw),
            Some(node) => match node.kind {
                FixupKind::Rebase { target } => Pointer::Addr(target),
                FixupKind::Bind { ordinal, addend } => self.resolve_bind(fixups, ordinal, addend),
            },
        })
    }

    fn plain_pointers(&self, _offset: u64, _len: u64) -> bool {
        // Without chained fixups every slot is the plain word (see `pointer_at`).
        self.fixups.is_none()
    }

    fn symbol_address(&self, name: &[u8]) -> Option<u64> {
        let mut full = Vec::with_capacity(name.len() + 1);
        full.push(b'_');
        full.extend_from_slice(name);
        self.defined.get(full.as_slice()).copied()
    }

    fn addr_to_offset(&self, addr: u64, len: u64) -> Option<u64> {
        self.segments.iter().find_map(|seg| {
            let delta = addr.checked_sub(seg.vmaddr)?;
            let end = delta.checked_add(len)?;
            if end > seg.filesize {
                return None;
            }
            seg.fileoff.checked_add(delta)
        })
    }
}
