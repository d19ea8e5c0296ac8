//! The planner: the one place that decides what happens to an image ([`decide`]) and to a file
//! ([`plan`]). `rewrite` (through [`crate::postlink`]), `verify`, `inspect`, the driver shim and
//! the relink for room all read the same [`Decision`], so they agree by construction
//! (docs/design.md, "The decision").
//!
//! Pure: bytes in, a decision or a list of [`Edit`]s out; nothing here writes.

use std::fmt;

use crate::edit::{self, Edit};
use crate::error::{Error, ErrorKind, Result};
use crate::extract::{self, EntryState, IndexSource};
use crate::image::{Generation, SectionInfo};
use crate::loader::{self, Compaction, Images, Loader};
use crate::table::encode::{self, Placement, Span};
use crate::table::{self, Stats};

/// What the rewrite did (or would do) to one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `"ELF x86_64"`, `"Mach-O arm64"`.
    pub image: String,
    pub stats: Stats,
    pub rows: usize,
    pub buckets: u32,
    pub placement: Placement,
    /// Bytes of the blob.
    pub need: u64,
    pub entry_size: u64,
    /// `None`: generation 2 (no stub section).
    pub stub_size: Option<u64>,
    /// What the relayout step did (set by [`plan`]; `decide` leaves `NotApplicable` for
    /// generation 1 and the planned outcome is only known once relayout ran).
    pub compaction: Compaction,
    pub index_source: IndexSource,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let (place, room) = match self.placement {
            Placement::InPlace => ("in place", self.entry_size),
            Placement::Spilled => ("spilled to the stub section", self.stub_size.unwrap_or(0)),
        };
        write!(
            f,
            "{}: {} rows, {} buckets, {place} ({} of {room} bytes); records: {} entry, {} stub, \
             {} inline copies, {} no owner",
            self.image,
            self.rows,
            self.buckets,
            self.need,
            s.entry_records,
            s.stub_records,
            s.inline_copies,
            s.no_owner,
        )?;
        match &self.compaction {
            Compaction::NotApplicable => Ok(()),
            c => write!(f, "; {c}"),
        }
    }
}

/// The one decision about one image. Every consumer maps it to its own words; none decides
/// again.
#[derive(Debug)]
pub enum Decision {
    /// The entry section already holds a table (`placement` says where the blob is).
    AlreadyRewritten { placement: Placement },
    /// The entry section starts with a table magic of a version this llgo-ld does not know.
    UnknownTable { magic: u64 },
    /// Nothing to write, and why (no records, no symbol index, no survivor).
    Skip(String),
    /// The rewrite cannot be done exactly, or the image is damaged; the error's kind says which.
    Refused(Error),
    /// The blob fits neither section. The one outcome a relink with padding can cure.
    DoesNotFit { stats: Stats, rows: usize, need: u64, shortfall: u64, error: Error },
    /// Write this plan.
    Write(ImagePlan),
}

/// The class of a [`Decision`], without its data: what the agreement test compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    AlreadyRewritten,
    UnknownTable,
    Skip,
    Refused,
    DoesNotFit,
    Write,
}

impl Decision {
    pub fn class(&self) -> Class {
        match self {
            Decision::AlreadyRewritten { .. } => Class::AlreadyRewritten,
            Decision::UnknownTable { .. } => Class::UnknownTable,
            Decision::Skip(_) => Class::Skip,
            Decision::Refused(_) => Class::Refused,
            Decision::DoesNotFit { .. } => Class::DoesNotFit,
            Decision::Write(_) => Class::Write,
        }
    }
}

/// "unknown table version" and the magic's version byte, the words every consumer prints.
pub fn unknown_table_message(magic: u64) -> String {
    let version = (magic >> 56) as u8;
    format!(
        "unknown table version: the entry section starts with LLGOFTB{} (magic {magic:#018x}), \
         which this llgo-ld cannot read",
        char::from(version).escape_default()
    )
}

/// Everything to write for one image, before signing (offsets relative to the image).
#[derive(Debug)]
pub struct ImagePlan {
    /// The two sections' new contents and the loader edits (fixup chains), sorted.
    pub edits: Vec<Edit>,
    pub summary: Summary,
}

/// Decides what happens to one image. Order: the entry state (already rewritten is a skip
/// whatever else the image holds: the prechecks are about writing, and nothing will be
/// written), the format's loader prechecks (a PIE, a certificate signature), then the table.
pub fn decide(image: &dyn Loader<'_>) -> Decision {
    match extract::entry_state(image.image()) {
        Err(e) => return Decision::Refused(e),
        Ok(EntryState::Table) => {
            return Decision::AlreadyRewritten { placement: Placement::InPlace };
        }
        Ok(EntryState::Redirect) => {
            return Decision::AlreadyRewritten { placement: Placement::Spilled };
        }
        Ok(EntryState::Unknown(magic)) => return Decision::UnknownTable { magic },
        Ok(EntryState::Records) => {}
    }
    if let Err(e) = image.precheck() {
        return Decision::Refused(e);
    }
    let (input, index_source) = match extract::input(image.image()) {
        Err(e) => return Decision::Refused(e),
        Ok(None) => return Decision::Skip("no symbol index (no LLGo meta record)".into()),
        Ok(Some(x)) => x,
    };
    let rows = table::build(input);
    if rows.rows.is_empty() {
        return Decision::Skip(if rows.stats.entry_records == 0 {
            "no entry records".into()
        } else {
            "no record survived the owner test".into()
        });
    }
    let sections = image.sections();
    let span = |s: SectionInfo| Span { addr: s.addr, size: s.size };
    let mut layout = match encode::layout(&rows, span(sections.entry), sections.stub.map(span)) {
        Ok(layout) => layout,
        Err(error) if error.kind() == ErrorKind::DoesNotFit => {
            let shortfall = error.shortfall().unwrap_or(0);
            return Decision::DoesNotFit {
                stats: rows.stats,
                rows: rows.rows.len(),
                need: shortfall.saturating_add(sections.entry.size),
                shortfall,
                error,
            };
        }
        Err(e) => return Decision::Refused(e),
    };
    let summary = Summary {
        image: image.describe(),
        stats: rows.stats,
        rows: rows.rows.len(),
        buckets: layout.bucket_count,
        placement: layout.placement,
        need: layout.need,
        entry_size: sections.entry.size,
        stub_size: sections.stub.map(|s| s.size),
        compaction: Compaction::NotApplicable,
        index_source,
    };
    let mut edits = match image.encode_live_slots(&mut layout) {
        Ok(edits) => edits,
        Err(e) => return Decision::Refused(e),
    };
    edits.push(Edit::overwrite(sections.entry.offset, layout.entry));
    if let Some(stub) = sections.stub {
        edits.push(Edit::overwrite(stub.offset, layout.stub));
    }
    if let Err(e) = edit::normalize(&mut edits, image.data().len() as u64) {
        return Decision::Refused(e);
    }
    Decision::Write(ImagePlan { edits, summary })
}

/// The decision for one file.
#[derive(Debug)]
pub enum Plan {
    /// Apply these edits (sorted, non-overlapping, offsets in the file); one summary per image
    /// (slice).
    Rewrite { edits: Vec<Edit>, summaries: Vec<Summary> },
    /// Nothing to do, and why.
    Skip(String),
}

/// Plans the rewrite of a whole file: [`decide`] per image, then each format's relayout step and
/// its signing for the relaid image. Every image must succeed or the file is left alone.
pub fn plan(data: &[u8]) -> Result<Plan> {
    let list = match loader::images(data)? {
        Images::Skip(why) => return Ok(Plan::Skip(why)),
        Images::List(list) => list,
    };
    let mut edits = Vec::new();
    let mut summaries = Vec::new();
    let mut skips = Vec::new();
    for (offset, image) in &list {
        let context = |e: Error| if list.len() > 1 { e.context(image.describe()) } else { e };
        let image = image.as_ref();
        match decide(image) {
            Decision::Write(plan) => {
                let mut summary = plan.summary;
                // In a universal binary a slice that changed size would move the slices after
                // it: the fat header is not relaid, so slices keep their layout.
                let thin = list.len() == 1 && *offset == 0;
                let (mut image_edits, compaction) =
                    finish(image, plan.edits, summary.need, thin).map_err(context)?;
                summary.compaction = compaction;
                edit::shift(&mut image_edits, *offset);
                edits.extend(image_edits);
                summaries.push(summary);
            }
            Decision::AlreadyRewritten { .. } => skips.push("already rewritten".to_string()),
            Decision::UnknownTable { magic } => skips.push(unknown_table_message(magic)),
            Decision::Skip(why) => skips.push(why),
            Decision::Refused(e) | Decision::DoesNotFit { error: e, .. } => return Err(context(e)),
        }
    }
    if summaries.is_empty() {
        return Ok(Plan::Skip(skips.join("; ")));
    }
    edit::normalize(&mut edits, data.len() as u64)?;
    Ok(Plan::Rewrite { edits, summaries })
}

/// The steps after the decision, for one image: the format's relayout (compaction: none yet),
/// then the signature for the relaid image.
fn finish(
    image: &dyn Loader<'_>,
    mut edits: Vec<Edit>,
    need: u64,
    thin: bool,
) -> Result<(Vec<Edit>, Compaction)> {
    let compaction = if thin || image.sections().generation() == Generation::One {
        image.relayout(&mut edits, need)?
    } else {
        Compaction::Kept("a slice of a universal binary (the fat header is not relaid)".into())
    };
    // The signer reads the changed pages through the edits: no copy of the whole image.
    let signing = image.sign(&edits)?;
    if !signing.is_empty() {
        edits.extend(signing);
        edit::normalize(&mut edits, image.data().len() as u64)?;
    }
    Ok((edits, compaction))
}
