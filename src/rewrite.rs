//! The pure rewrite: bytes of a linked executable in, a list of edits (or a skip) out.
//!
//! `plan` decides; it never writes. [`crate::postlink`] turns a plan into a file.

use std::fmt;

use crate::binary::{self, Images};
use crate::error::{Error, Result};
use crate::extract::{self, EntryState, IndexSource};
use crate::image::{Image, SectionInfo};
use crate::edit::{self, Edit};
use crate::table::encode::{self, Layout, Placement, Span};
use crate::table::{self, Stats};
use crate::verify::{self, Depth};

/// What the rewrite did to one image.
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
    pub stub_size: u64,
    pub index_source: IndexSource,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        let (place, room) = match self.placement {
            Placement::InPlace => ("in place", self.entry_size),
            Placement::Spilled => ("spilled to the stub section", self.stub_size),
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
        )
    }
}

/// The decision for one file.
#[derive(Debug)]
pub enum Plan {
    /// Apply these edits (sorted, non-overlapping); one summary per image (slice).
    Rewrite { edits: Vec<Edit>, summaries: Vec<Summary> },
    /// Nothing to do, and why.
    Skip(String),
}

/// The format-independent part for one image: table and section contents.
pub struct ImagePlan {
    pub layout: Layout,
    pub summary: Summary,
}

/// Decides whether and how to rewrite one image: `Ok(Err(why))` is a skip.
pub fn plan_image(image: &dyn Image<'_>) -> Result<std::result::Result<ImagePlan, String>> {
    match extract::entry_state(image)? {
        EntryState::Table | EntryState::Redirect => {
            return Ok(Err("already rewritten".into()));
        }
        EntryState::Records => {}
    }
    let Some((input, index_source)) = extract::input(image)? else {
        return Ok(Err("no symbol index (no LLGo meta record)".into()));
    };
    let rows = table::build(input);
    if rows.rows.is_empty() {
        return Ok(Err(if rows.stats.entry_records == 0 {
            "no entry records".into()
        } else {
            "no record survived the owner test".into()
        }));
    }
    let sections = image.sections();
    let span = |s: SectionInfo| Span { addr: s.addr, size: s.size };
    let layout = encode::layout(&rows, span(sections.entry), span(sections.stub))?;
    let summary = Summary {
        image: image.describe(),
        stats: rows.stats,
        rows: rows.rows.len(),
        buckets: layout.bucket_count,
        placement: layout.placement,
        need: layout.need,
        entry_size: sections.entry.size,
        stub_size: sections.stub.size,
        index_source,
    };
    Ok(Ok(ImagePlan { layout, summary }))
}

/// Plans the rewrite of a whole file. Every image must succeed or the file is left alone.
pub fn plan(data: &[u8]) -> Result<Plan> {
    let list = match binary::images(data)? {
        Images::Skip(why) => return Ok(Plan::Skip(why)),
        Images::List(list) => list,
    };
    let mut edits = Vec::new();
    let mut summaries = Vec::new();
    let mut skips = Vec::new();
    for (offset, image) in &list {
        let context = |e: Error| if list.len() > 1 { e.context(image.describe()) } else { e };
        match plan_one(image.as_ref()).map_err(context)? {
            Ok((mut image_edits, summary)) => {
                edit::shift(&mut image_edits, *offset);
                edits.extend(image_edits);
                summaries.push(summary);
            }
            Err(why) => skips.push(why),
        }
    }
    if summaries.is_empty() {
        return Ok(Plan::Skip(skips.join("; ")));
    }
    edit::normalize(&mut edits, data.len() as u64)?;
    Ok(Plan::Rewrite { edits, summaries })
}

/// All edits for one image (offsets relative to the image), or a skip.
fn plan_one(image: &dyn Image<'_>) -> Result<std::result::Result<(Vec<Edit>, Summary), String>> {
    // Already rewritten is a skip whatever else the image holds (a signature re-made with a
    // certificate afterwards, say): the prechecks are about writing, and nothing will be written.
    if extract::entry_state(image)? != EntryState::Records {
        return Ok(Err("already rewritten".into()));
    }
    image.precheck()?;
    let mut plan = match plan_image(image)? {
        Ok(plan) => plan,
        Err(why) => return Ok(Err(why)),
    };
    let mut edits = image.encode_live_slots(&mut plan.layout)?;
    let s = image.sections();
    edits.push(Edit::overwrite(s.entry.offset, plan.layout.entry));
    edits.push(Edit::overwrite(s.stub.offset, plan.layout.stub));
    edit::normalize(&mut edits, image.data().len() as u64)?;
    if image.is_signed() {
        // The signer reads the changed pages through the edits: no copy of the whole image.
        let signing = image.sign(&edits)?;
        edits.extend(signing);
        edit::normalize(&mut edits, image.data().len() as u64)?;
    }
    Ok(Ok((edits, plan.summary)))
}

/// Plans, applies to a copy, and verifies the copy: the rewrite's self-check. Returns the plan
/// (a rewrite only if the result verifies).
pub fn plan_verified(data: &[u8]) -> Result<Plan> {
    let plan = plan(data)?;
    let Plan::Rewrite { edits, .. } = &plan else {
        return Ok(plan);
    };
    let mut out = data.to_vec();
    edit::apply_in_place(&mut out, edits)?;
    self_check(&out)?;
    Ok(plan)
}

/// The rewrite's self-check on the patched image: the `verify` of the subcommand at
/// [`Depth::SelfCheck`]. A rewrite that would not verify is a failure, never an output.
pub fn self_check(patched: &[u8]) -> Result<()> {
    let report = verify::verify_with(patched, Depth::SelfCheck)
        .map_err(|e| e.context("internal: verifying the rewritten image"))?;
    if !report.ok() {
        return Err(Error::malformed(format!(
            "internal: the rewritten image fails its own verification: {}",
            report.problems.join("; ")
        )));
    }
    Ok(())
}
