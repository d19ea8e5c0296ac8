//! What the loader does with an image, one module per format: which slots the loader fills,
//! the loader-data edits that make it fill the table's live slots, the slides to simulate, the
//! signature, and the loader-level defects of a rewritten image. Every format states each
//! answer: the trait has no default methods, so a new backend (a PIE, a shared library) cannot
//! inherit a non-PIE ELF's "nothing to do" by forgetting an override.
//!
//! Pure planning over the readers of `binary/`: no file is read or written here.

#![deny(clippy::indexing_slicing)]

pub mod elf;
pub mod macho;
pub mod macho_chains;

use crate::binary::{self, Format};
use crate::edit::Edit;
use crate::error::Result;
use crate::image::{Image, SectionBytes};
use crate::table::encode::Layout;

/// An image together with its format's loader knowledge.
pub trait Loader<'data>: Image<'data> {
    /// The read-only view (for the format-independent readers of `extract` and `table`).
    fn image(&self) -> &dyn Image<'data>;

    /// Refuses images the rewrite cannot handle exactly, before any work (a PIE whose loader
    /// would overwrite the sections, a certificate signature, classic dyld info).
    fn precheck(&self) -> Result<()>;

    /// Makes the loader fill the layout's live slots: rewrites the slot words in `layout`'s
    /// section bytes as the format needs (a chained rebase node on Mach-O; the plain link-time
    /// address, already there, on non-PIE ELF) and returns the edits outside the two sections
    /// (fixup chain starts, predecessors' `next` fields).
    fn encode_live_slots(&self, layout: &mut Layout) -> Result<Vec<Edit>>;

    /// The relayout step (compaction, generation 2 only): adds to `plan` (sorted, offsets in
    /// [`Image::data`]) the edits that change the file's length (cut the entry section's tail
    /// past the table's `need` bytes, shift what follows, fix every header that points past it)
    /// and clips the table's zero tail out of the plan's overwrite. A layout that forbids
    /// compaction is not an error: [`Compaction::Kept`], the plan unchanged. See
    /// docs/design.md, "Compaction".
    fn relayout(&self, plan: &mut Vec<Edit>, need: u64) -> Result<Compaction>;

    /// Edits that re-sign the image once `changed` (every other edit, relayout included, sorted
    /// and non-overlapping, offsets in [`Image::data`]) is applied. The signer is given the
    /// whole plan, so it knows the new layout; it may replace the signature by one of another
    /// size. Empty for formats without signatures and for unsigned images.
    fn sign(&self, changed: &[Edit]) -> Result<Vec<Edit>>;

    /// The two sections as the runtime sees them once the loader ran at `slide`, for `verify`:
    /// `(entry, stub)`.
    fn load_sections(&self, slide: u64) -> Result<(SectionBytes<'data>, SectionBytes<'data>)>;

    /// The slides `verify` loads the image at.
    fn verify_slides(&self) -> Vec<u64>;

    /// Loader-level defects of a rewritten image for `verify`: fixups or relocations touching
    /// the sections other than the live slots (given as offsets in [`Image::data`]), a stale
    /// signature.
    fn loader_problems(&self, live_slots: &[u64]) -> Result<Vec<String>>;
}

/// The images of one file that may carry LLGo tables, each with its loader.
/// What the relayout step did with a table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compaction {
    /// Generation 1: the layout never changes.
    NotApplicable,
    /// The section's size became `need`; `removed` bytes (maybe 0: the table and the cut
    /// alignment leave nothing) were cut out of the file.
    Compacted { removed: u64 },
    /// The layout does not allow compaction (the reason, naming the structure): the table is
    /// in place at the section's full size.
    Kept(String),
}

impl std::fmt::Display for Compaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compaction::NotApplicable => f.write_str("not applicable (generation 1)"),
            Compaction::Compacted { removed } => write!(f, "compacted: {removed} bytes cut"),
            Compaction::Kept(why) => {
                write!(f, "not compacted ({why}): table in place at full section size")
            }
        }
    }
}

pub enum Images<'data> {
    /// Nothing to do with this file, and why.
    Skip(String),
    /// `(offset of the image in the file, image)`: one for a thin file, one per slice of a
    /// universal binary.
    List(Vec<(u64, Box<dyn Loader<'data> + 'data>)>),
}

/// Opens every image of `data` ([`binary::images`]) with its format's loader.
pub fn images<'data>(data: &'data [u8]) -> Result<Images<'data>> {
    Ok(match binary::images(data)? {
        binary::Images::Skip(why) => Images::Skip(why),
        binary::Images::List(list) => Images::List(
            list.into_iter()
                .map(|(offset, format)| -> (u64, Box<dyn Loader<'data> + 'data>) {
                    match format {
                        Format::Elf(image) => (offset, Box::new(image)),
                        Format::MachO(image) => (offset, Box::new(image)),
                    }
                })
                .collect(),
        ),
    })
}
