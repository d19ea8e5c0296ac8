//! The view of one executable image that the rewrite and `verify` need, whatever the object
//! format: an ELF file or one Mach-O slice. The readers in `binary/` implement it; `extract`,
//! `rewrite` and `verify` are written once against it.

use std::borrow::Cow;
use std::ops::Range;

use crate::edit::Edit;
use crate::error::Result;
use crate::table::encode::Layout;
use crate::table::{NameStyle, TextSymbol};

/// A section's place in memory and in the image's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SectionInfo {
    pub addr: u64,
    /// Offset in [`Image::data`].
    pub offset: u64,
    pub size: u64,
}

impl SectionInfo {
    pub fn contains_addr(&self, addr: u64) -> bool {
        addr >= self.addr && addr - self.addr < self.size
    }

    pub fn contains_offset(&self, offset: u64) -> bool {
        offset >= self.offset && offset - self.offset < self.size
    }
}

/// A section's bytes as the loader leaves them: borrowed from the image when the loader changes
/// nothing in them (non-PIE ELF), a patched copy otherwise.
pub type SectionBytes<'data> = Cow<'data, [u8]>;

/// A decoded pointer slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointer {
    /// A link-time address in this image (0 for a null slot).
    Addr(u64),
    /// A bind to a symbol outside this image: no owner.
    Outside,
}

impl Pointer {
    pub fn addr(self) -> Option<u64> {
        match self {
            Pointer::Addr(a) => Some(a),
            Pointer::Outside => None,
        }
    }
}

/// The two LLGo site sections of an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LlgoSections {
    pub entry: SectionInfo,
    pub stub: SectionInfo,
}

pub trait Image<'data> {
    /// The image's bytes (one slice of a universal binary).
    fn data(&self) -> &'data [u8];

    fn style(&self) -> NameStyle;

    /// Short description for messages: `"ELF x86_64"`, `"Mach-O arm64"`.
    fn describe(&self) -> String;

    fn sections(&self) -> LlgoSections;

    /// Every section holding entry rows, the runtime's ([`Image::sections`]) first. More than
    /// one when a linker split the entry section by input flags (mold): the meta record may be
    /// in another fragment, which the runtime never reads and the rewrite leaves alone.
    fn entry_fragments(&self) -> Vec<SectionInfo> {
        vec![self.sections().entry]
    }

    /// The text section's address range.
    fn text(&self) -> Range<u64>;

    /// Function symbols inside text (FORMAT.md 2.1). Fails when there is no symbol table.
    fn text_symbols(&self) -> Result<Vec<TextSymbol<'data>>>;

    /// Decodes the pointer stored in the 8 bytes at `offset` (plain word, relocation or
    /// chained-fixup node).
    fn pointer_at(&self, offset: u64) -> Result<Pointer>;

    /// Address of a defined symbol by its compiler name (the reader adds Mach-O's `_`).
    fn symbol_address(&self, name: &[u8]) -> Option<u64>;

    /// Offset in [`Image::data`] of `len` file-backed bytes at `addr`.
    fn addr_to_offset(&self, addr: u64, len: u64) -> Option<u64>;

    /// Refuses images the rewrite cannot handle exactly, before any work (a PIE whose loader
    /// would overwrite the sections, a certificate signature, classic dyld info).
    fn precheck(&self) -> Result<()> {
        Ok(())
    }

    /// Makes the loader fill the layout's live slots: rewrites the slot words in `layout`'s
    /// section bytes as the format needs (a chained rebase node on Mach-O; the plain link-time
    /// address, already there, on non-PIE ELF) and returns the edits outside the two sections
    /// (fixup chain starts, predecessors' `next` fields).
    fn encode_live_slots(&self, layout: &mut Layout) -> Result<Vec<Edit>> {
        let _ = layout;
        Ok(Vec::new())
    }

    /// The format's relayout step for a planned image: the edits that change the file's length
    /// (compaction: cut a range, shift what follows, fix every header that points past it),
    /// given the plan's other edits. The seam for docs/design.md, "The edit model"; no format
    /// relays out yet, and each says so.
    fn relayout(&self, plan: &[Edit]) -> Result<Vec<Edit>>;

    /// Does [`Image::sign`] have anything to do? (Saves copying the image when not.)
    fn is_signed(&self) -> bool {
        false
    }

    /// Edits that re-sign the image once `changed` (every other edit, sorted and non-overlapping,
    /// offsets in [`Image::data`]) is applied to it. Only the pages `changed` touches are
    /// re-hashed, read through the edits, so the caller need not build the patched image. None
    /// for formats without signatures or unsigned images.
    fn sign(&self, changed: &[Edit]) -> Result<Vec<Edit>> {
        let _ = changed;
        Ok(Vec::new())
    }

    /// The two sections as the runtime sees them once the loader ran at `slide`, for `verify`:
    /// `(entry, stub)`. Default: the file bytes at slide 0 (non-PIE ELF), borrowed.
    fn load_sections(&self, slide: u64) -> Result<(SectionBytes<'data>, SectionBytes<'data>)> {
        let _ = slide;
        let s = self.sections();
        let read = |i: SectionInfo| {
            crate::bytes::slice(self.data(), i.offset, i.size, "LLGo section").map(Cow::Borrowed)
        };
        Ok((read(s.entry)?, read(s.stub)?))
    }

    /// The slides `verify` loads the image at.
    fn verify_slides(&self) -> Vec<u64> {
        vec![0]
    }

    /// Loader-level defects of a rewritten image for `verify`: fixups or relocations touching
    /// the sections other than the live slots (given as offsets in [`Image::data`]), a stale
    /// signature.
    fn loader_problems(&self, live_slots: &[u64]) -> Result<Vec<String>> {
        let _ = live_slots;
        Ok(Vec::new())
    }
}
