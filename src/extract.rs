//! From an [`Image`] to the table builder's [`Input`]: site records, the meta record and the
//! symbol index (docs/format.md, "Input").

use crate::bytes;
use crate::error::Result;
use crate::image::{Image, Pointer, SectionInfo};
use crate::malformed;
use object::endian::LittleEndian as LE;

use crate::table::disk::{self, IndexEntry, SiteRecord};
use crate::table::encode::{MAGIC_META, MAGIC_REDIRECT, MAGIC_TABLE};
use crate::table::{Input, Record, Records, SymbolIndex};

pub const RECORD_SIZE: u64 = std::mem::size_of::<SiteRecord>() as u64;
pub const INDEX_SYMBOL: &[u8] = b"__llgo_funcinfo_symbol_index";
pub const INDEX_COUNT_SYMBOL: &[u8] = b"__llgo_funcinfo_symbol_index_count";
pub const FUNCINFO_COUNT_SYMBOL: &[u8] = b"__llgo_funcinfo_count";
/// The runtime's sane range for the index count.
pub const MAX_INDEX_COUNT: u64 = 1 << 20;

/// Where the symbol index was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexSource {
    /// Through the LLGOMET1 meta record's relocated pointers.
    Meta,
    /// Through the symbol names (older binaries, or after a rewrite erased the meta rows).
    ByName,
}

/// What the entry section holds before any decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryState {
    /// Site records: not rewritten yet.
    Records,
    /// Starts with LLGOFTB1.
    Table,
    /// Starts with LLGOFTB2.
    Redirect,
    /// Starts with `LLGOFTB` and a version this llgo-ld does not know (the magic word): a table
    /// of a newer format, never site records.
    Unknown(u64),
}

/// The 7 bytes every table magic starts with, `LLGOFTB` (little-endian low bytes of the word).
const TABLE_MAGIC_PREFIX: u64 = 0x0042_5446_4F47_4C4C;

pub fn entry_state(image: &dyn Image<'_>) -> Result<EntryState> {
    let entry = image.sections().entry;
    if entry.size < 8 {
        return Ok(EntryState::Records);
    }
    // The magic is a plain word (never a fixup) in a rewritten file.
    Ok(match bytes::u64_le(image.data(), entry.offset, "entry section")? {
        MAGIC_TABLE => EntryState::Table,
        MAGIC_REDIRECT => EntryState::Redirect,
        word if word & 0x00FF_FFFF_FFFF_FFFF == TABLE_MAGIC_PREFIX => EntryState::Unknown(word),
        _ => EntryState::Records,
    })
}

/// The records of a site section, in file order: the section's bytes when every pc is the plain
/// word, else decoded one by one.
pub fn records<'data>(
    image: &dyn Image<'data>,
    section: SectionInfo,
    what: &str,
) -> Result<Records<'data>> {
    if section.size % RECORD_SIZE != 0 {
        return Err(malformed!(
            "{what} at file offset {:#x}: size {:#x} is not a multiple of 16",
            section.offset,
            section.size
        ));
    }
    let data = image.data();
    let n = section.size / RECORD_SIZE;
    let raw = bytes::slice(data, section.offset, section.size, what)?;
    if image.plain_pointers(section.offset, section.size) {
        // Every pc is the plain word: the owner test decodes straight from the section's bytes.
        return Ok(Records::Raw(raw));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let at = section.offset + i * RECORD_SIZE;
        let pc = image.pointer_at(at)?.addr();
        let id = disk::read::<SiteRecord>(data, at, what)?.id.get(LE);
        out.push(Record { pc, id });
    }
    Ok(Records::Decoded(out))
}

/// The two globals the index is read from: `(&index pointer, &count)`, from the first meta
/// record in any entry fragment.
fn meta_targets(image: &dyn Image<'_>) -> Result<Option<(u64, u64)>> {
    for fragment in image.entry_fragments() {
        if let Some(t) = meta_targets_in(image, fragment)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

fn meta_targets_in(image: &dyn Image<'_>, entry: SectionInfo) -> Result<Option<(u64, u64)>> {
    let data = image.data();
    let rows = entry.size / RECORD_SIZE;
    for i in 0..rows {
        let at = entry.offset + i * RECORD_SIZE;
        if disk::read::<SiteRecord>(data, at, "entry section")?.id.get(LE) != MAGIC_META
            || image.pointer_at(at)? != Pointer::Addr(0)
        {
            continue;
        }
        if i + 2 >= rows {
            return Err(malformed!("meta record at file offset {at:#x}: rows 1 and 2 are missing"));
        }
        let ptr = |row: u64| -> Result<u64> {
            image.pointer_at(at + row * RECORD_SIZE)?.addr().ok_or_else(|| {
                malformed!("meta record at file offset {at:#x}: row {row} binds outside the image")
            })
        };
        return Ok(Some((ptr(1)?, ptr(2)?)));
    }
    Ok(None)
}

/// Finds and reads the symbol index: through the meta record, else by name. `Ok(None)` when
/// neither exists.
pub fn symbol_index(image: &dyn Image<'_>) -> Result<Option<(SymbolIndex, IndexSource)>> {
    let (targets, source) = match meta_targets(image)? {
        Some(t) => (t, IndexSource::Meta),
        None => {
            let by_name =
                (image.symbol_address(INDEX_SYMBOL), image.symbol_address(INDEX_COUNT_SYMBOL));
            match by_name {
                (Some(p), Some(c)) => ((p, c), IndexSource::ByName),
                _ => return Ok(None),
            }
        }
    };
    let (ptr_global, count_global) = targets;
    // The rewrite overwrites both LLGo sections: an index read from inside them would not be
    // there any more for `verify` (nor for a second look).
    let s = image.sections();
    let inside_sections = |what: &str, off: u64, len: u64| -> Result<()> {
        let sections = [("the entry section", Some(s.entry)), ("the stub section", s.stub)];
        for (name, sect) in sections.into_iter().filter_map(|(n, s)| Some((n, s?))) {
            if off < sect.offset.saturating_add(sect.size) && sect.offset < off.saturating_add(len)
            {
                return Err(malformed!(
                    "{what} at file offset {off:#x} (+{len:#x}) lies inside {name} (file offset \
                     {:#x}, {:#x} bytes), which the rewrite overwrites",
                    sect.offset,
                    sect.size
                ));
            }
        }
        Ok(())
    };
    if source == IndexSource::Meta {
        // The symbols, when the link kept them, name the same globals: a file where they
        // disagree is refused here rather than verified later through the other one.
        for (row, what, name, at) in [
            (1, "symbol index pointer", INDEX_SYMBOL, ptr_global),
            (2, "symbol index count", INDEX_COUNT_SYMBOL, count_global),
        ] {
            if let Some(by_name) = image.symbol_address(name).filter(|&a| a != at) {
                return Err(malformed!(
                    "meta record row {row} (the {what}, {at:#x}) and symbol {} ({by_name:#x}) \
                     disagree about where the symbol index lies",
                    String::from_utf8_lossy(name)
                ));
            }
        }
    }
    let ptr_off = image
        .addr_to_offset(ptr_global, 8)
        .ok_or_else(|| malformed!("symbol index pointer at {ptr_global:#x} is not file-backed"))?;
    let array = image.pointer_at(ptr_off)?.addr().ok_or_else(|| {
        malformed!("symbol index pointer at file offset {ptr_off:#x} binds outside the image")
    })?;
    let count_off = image
        .addr_to_offset(count_global, 8)
        .ok_or_else(|| malformed!("symbol index count at {count_global:#x} is not file-backed"))?;
    inside_sections("symbol index pointer", ptr_off, 8)?;
    inside_sections("symbol index count", count_off, 8)?;
    let count = bytes::u64_le(image.data(), count_off, "symbol index count")?;
    if !(1..=MAX_INDEX_COUNT).contains(&count) {
        return Err(malformed!(
            "symbol index count at file offset {count_off:#x} is {count}, outside 1..=2^20"
        ));
    }
    let len = count * RECORD_SIZE;
    let array_off = image.addr_to_offset(array, len).ok_or_else(|| {
        malformed!("symbol index array at {array:#x} ({count} entries) lies outside the file")
    })?;
    inside_sections("symbol index array", array_off, len)?;
    let entries =
        disk::read_slice::<IndexEntry>(image.data(), array_off, count, "symbol index array")?
            .iter()
            .map(|e| (e.id.get(LE), e.func_index.get(LE)))
            .collect();
    let index = SymbolIndex::new(entries).map_err(|i| {
        malformed!(
            "symbol index array at file offset {array_off:#x}: entry {i} is not above its \
             predecessor (ids must ascend strictly)"
        )
    })?;
    Ok(Some((index, source)))
}

/// `__llgo_funcinfo_count`, when it can be found (the runtime's adoption bound).
pub fn funcinfo_count(image: &dyn Image<'_>) -> Option<u64> {
    let addr = image.symbol_address(FUNCINFO_COUNT_SYMBOL)?;
    let off = image.addr_to_offset(addr, 8)?;
    bytes::u64_le(image.data(), off, "funcinfo count").ok()
}

/// Everything the table builder needs; `Ok(None)` when there is no symbol index.
pub fn input<'data>(image: &dyn Image<'data>) -> Result<Option<(Input<'data>, IndexSource)>> {
    let sections = image.sections();
    // For a large image the symbols are read on a second thread while the records and the
    // index are decoded here; the results are looked at in the one-thread order (records,
    // index, symbols), so the outcome and the first error are the same.
    let worth =
        sections.entry.size / RECORD_SIZE >= PARALLEL_RECORDS && crate::parallel::spare_core();
    let (records_and_index, symbols) = crate::parallel::join(
        worth,
        || -> Result<_> {
            let entry = records(image, sections.entry, "llgo_funcinfo_entry")?;
            let stub = match sections.stub {
                Some(stub) => records(image, stub, "llgo_funcinfo_stubsite")?,
                None => Records::default(),
            };
            Ok((entry, stub, symbol_index(image)?))
        },
        || worth.then(|| image.text_symbols()),
    );
    let (entry, stub, index) = records_and_index?;
    let Some((index, source)) = index else {
        return Ok(None);
    };
    let symbols = match symbols {
        Some(symbols) => symbols?,
        None => image.text_symbols()?,
    };
    let input =
        Input { style: image.style(), symbols, text_end: image.text().end, entry, stub, index };
    Ok(Some((input, source)))
}

/// Entry sections with fewer records are decoded on one thread.
const PARALLEL_RECORDS: u64 = 32 * 1024;
