//! The read-only view of one executable image, whatever the object format: an ELF file or one
//! Mach-O slice. The readers in `binary/` implement it; `extract`, `plan` and `verify` are
//! written once against it. What the loader does with an image (live slots, loader edits,
//! slides, signing) is [`crate::loader::Loader`], one module per format.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::Result;

/// How the object format spells the compiler's symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameStyle {
    /// Names as the compiler wrote them.
    Elf,
    /// C names carry a leading `_`; the owner test also tries one and two stripped underscores.
    MachO,
}

/// A function symbol inside the text section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSymbol<'a> {
    pub addr: u64,
    /// ELF `st_size`; 0 when unknown (always on Mach-O).
    pub size: u64,
    pub name: &'a [u8],
    /// [`crate::fnv::fnv1a`] of `name`: a reader computes it in the pass that finds the name's
    /// end, so the owner test never walks the name again.
    pub hash: u64,
}

impl<'a> TextSymbol<'a> {
    /// A symbol whose name's hash is computed here.
    pub fn new(addr: u64, size: u64, name: &'a [u8]) -> Self {
        TextSymbol { addr, size, name, hash: crate::fnv::fnv1a(name) }
    }
}

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
    /// The closure-stub section: present in generation 1, absent in generation 2.
    pub stub: Option<SectionInfo>,
}

/// Which LLGo wrote the executable, told by structure (docs/format.md, "Generation 2").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// LLGo PR #2016: the stub section exists; in place, spill or redirect.
    One,
    /// Today's LLGo: no stub section; in place only, then compaction.
    Two,
}

impl LlgoSections {
    pub fn generation(&self) -> Generation {
        if self.stub.is_some() {
            Generation::One
        } else {
            Generation::Two
        }
    }
}

pub trait Image<'data>: Sync {
    /// The image's bytes (one slice of a universal binary).
    fn data(&self) -> &'data [u8];

    fn style(&self) -> NameStyle;

    /// Short description for messages: `"ELF x86_64"`, `"Mach-O arm64"`.
    fn describe(&self) -> String;

    fn sections(&self) -> LlgoSections;

    /// Every section holding entry rows, the runtime's ([`Image::sections`]) first. More than
    /// one when a linker split the entry section by input flags (mold): the meta record may be
    /// in another fragment, which the runtime never reads and the rewrite leaves alone.
    fn entry_fragments(&self) -> Vec<SectionInfo>;

    /// The text section's address range.
    fn text(&self) -> Range<u64>;

    /// Function symbols inside text (docs/format.md, "Which records survive"). Fails when there is
    /// no symbol table.
    fn text_symbols(&self) -> Result<Vec<TextSymbol<'data>>>;

    /// Decodes the pointer stored in the 8 bytes at `offset` (plain word, relocation or
    /// chained-fixup node).
    fn pointer_at(&self, offset: u64) -> Result<Pointer>;

    /// Whether every 8-byte slot in `offset .. offset + len` holds its pointer as the plain
    /// little-endian word, as [`Image::pointer_at`] would decode it: no relocation or chained
    /// fixup writes any of them. Lets a reader decode a whole section from its bytes; `false`
    /// (always correct) sends it through [`Image::pointer_at`] slot by slot.
    fn plain_pointers(&self, _offset: u64, _len: u64) -> bool {
        false
    }

    /// Address of a defined symbol by its compiler name (the reader adds Mach-O's `_`).
    fn symbol_address(&self, name: &[u8]) -> Option<u64>;

    /// Offset in [`Image::data`] of `len` file-backed bytes at `addr`.
    fn addr_to_offset(&self, addr: u64, len: u64) -> Option<u64>;
}
