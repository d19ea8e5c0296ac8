//! The Mach-O loader's part (docs/design.md, "Loaders"): dyld applies chained fixups, so the
//! table's live slots become rebase nodes spliced into the page chains ([`macho_chains`]), the
//! sections are simulated at several slides, and an ad-hoc signature is re-hashed for the
//! changed pages ([`crate::codesign`]).

use std::borrow::Cow;

use crate::binary::macho::{MachOImage, OUTSIDE_SENTINEL};
use crate::binary::macho_fixups::{FixupKind, Segment};
use crate::bytes;
use crate::codesign;
use crate::compact;
use crate::edit::{self, Edit};
use crate::error::Result;
use crate::image::{Generation, Image, Pointer, SectionBytes};
use crate::loader::macho_chains as surgery;
use crate::loader::{Compaction, Loader};
use crate::table::encode::{Layout, Which};

/// The segment at `index` (an index the reader found in the image's own segment list).
fn segment<'a>(image: &'a MachOImage<'_>, index: usize) -> Result<&'a Segment> {
    image.segments.get(index).ok_or_else(|| crate::internal!("segment index {index} out of range"))
}

/// The image's code signature, parsed (None when unsigned).
fn parsed_signature(image: &MachOImage<'_>) -> Result<Option<codesign::Signature>> {
    match image.signature {
        Some((off, size)) => codesign::parse(image.data, off, size).map(Some),
        None => Ok(None),
    }
}

impl<'data> Loader<'data> for MachOImage<'data> {
    fn image(&self) -> &dyn Image<'data> {
        self
    }

    fn precheck(&self) -> Result<()> {
        let fixups = self.chained()?;
        self.check_section_segments(fixups)?;
        let s = self.llgo;
        let stub = s.stub.zip(self.llgo_segments.1);
        for (info, seg) in std::iter::once((s.entry, self.llgo_segments.0)).chain(stub) {
            // The live slot sits 16 bytes into the section (blob base or redirect target).
            let slot = info.offset + crate::table::encode::LIVE_SLOT_OFFSET;
            if info.size < 24 {
                continue;
            }
            surgery::slot_page(fixups, segment(self, seg)?, slot)?;
        }
        parsed_signature(self)?;
        Ok(())
    }

    fn encode_live_slots(&self, layout: &mut Layout) -> Result<Vec<Edit>> {
        let fixups = self.chained()?;
        self.check_section_segments(fixups)?;
        let s = self.llgo;
        let slots: Vec<surgery::LiveSlot> = layout
            .live
            .iter()
            .map(|l| {
                let (info, seg) = match l.section {
                    Which::Entry => (s.entry, self.llgo_segments.0),
                    Which::Stub => s.stub.zip(self.llgo_segments.1).ok_or_else(|| {
                        crate::internal!("a live slot in the stub section of a generation-2 image")
                    })?,
                };
                Ok(surgery::LiveSlot {
                    offset: info.offset + l.offset,
                    segment: segment(self, seg)?,
                    target: l.value,
                })
            })
            .collect::<Result<_>>()?;
        let plan = surgery::splice(fixups, &self.section_ranges(), &slots)?;
        for (live, word) in layout.live.iter().zip(&plan.live_words) {
            let bytes = match live.section {
                Which::Entry => &mut layout.entry,
                Which::Stub => &mut layout.stub,
            };
            let at = live.offset as usize;
            let dst = bytes
                .get_mut(at..at + 8)
                .ok_or_else(|| crate::internal!("live slot {at:#x} outside its section"))?;
            dst.copy_from_slice(&word.to_le_bytes());
        }
        Ok(plan.edits)
    }

    fn relayout(&self, plan: &mut Vec<Edit>, need: u64) -> Result<Compaction> {
        if self.llgo.generation() == Generation::One {
            return Ok(Compaction::NotApplicable);
        }
        // The table writer's chain surgery has already taken every fixup out of the entry
        // section except the live slot at offset 16, which lies inside the table: no fixup is
        // left in the range compaction cuts.
        match compact::macho::plan(self.data, need)? {
            compact::macho::Outcome::NotLlgoSegment => Ok(Compaction::Kept(
                "the entry section is in __DATA: only a __LLGO segment is compacted".into(),
            )),
            compact::macho::Outcome::SizeOnly { edits } => {
                plan.extend(edits);
                edit::normalize(plan, self.data.len() as u64)?;
                Ok(Compaction::Compacted { removed: 0 })
            }
            compact::macho::Outcome::Compact { edits, cut, removed, .. } => {
                edit::clip_to_cut(plan, cut)?;
                plan.extend(edits);
                edit::normalize(plan, self.data.len() as u64)?;
                Ok(Compaction::Compacted { removed })
            }
        }
    }

    fn sign(&self, changed: &[Edit]) -> Result<Vec<Edit>> {
        let Some(sig) = parsed_signature(self)? else {
            return Ok(Vec::new());
        };
        if changed.iter().all(Edit::is_same_size) {
            return codesign::rehash(&sig, self.data, changed);
        }
        // A relaid image: the code limit moved, so the signature is regenerated for the new
        // layout (its size changes) and its edits are mapped back to the original.
        let relaid = edit::apply(self.data, changed)?;
        let Some(resigned) = codesign::regen::regenerate(&relaid)? else {
            return Err(crate::internal!("the relaid image lost its code signature"));
        };
        let all = edit::compose(changed, &resigned.edits)?;
        Ok(all.into_iter().filter(|e| !changed.contains(e)).collect())
    }

    fn load_sections(&self, slide: u64) -> Result<(SectionBytes<'data>, SectionBytes<'data>)> {
        let s = self.llgo;
        let mut out = Vec::with_capacity(2);
        for info in [Some(s.entry), s.stub] {
            let Some(info) = info else {
                out.push(Vec::new());
                continue;
            };
            let mut bytes =
                bytes::slice(self.data, info.offset, info.size, "LLGo section")?.to_vec();
            if let Some(fixups) = &self.fixups {
                if fixups.starts_for(info.offset).is_some_and(|st| !st.walked) {
                    self.check_section_segments(fixups)?;
                }
                for (&off, node) in fixups.nodes.range(info.offset..info.offset + info.size) {
                    let value = match node.kind {
                        FixupKind::Rebase { target } => target.wrapping_add(slide),
                        FixupKind::Bind { ordinal, addend } => {
                            match self.resolve_bind(fixups, ordinal, addend) {
                                Pointer::Addr(a) => a.wrapping_add(slide),
                                Pointer::Outside => OUTSIDE_SENTINEL,
                            }
                        }
                    };
                    let at = (off - info.offset) as usize;
                    if let Some(dst) = bytes.get_mut(at..at + 8) {
                        dst.copy_from_slice(&value.to_le_bytes());
                    }
                }
            }
            out.push(bytes);
        }
        let stub = out.pop().unwrap_or_default();
        let entry = out.pop().unwrap_or_default();
        Ok((Cow::Owned(entry), Cow::Owned(stub)))
    }

    fn verify_slides(&self) -> Vec<u64> {
        // Non-zero, multiples of the largest page size (16 KiB), small and beyond 4 GiB.
        vec![0x4000, 0x1_0000_0000, 0x2_3456_8000]
    }

    fn loader_problems(&self, live_slots: &[u64]) -> Result<Vec<String>> {
        let mut problems = Vec::new();
        let fixups = match self.chained() {
            Ok(f) => f,
            Err(e) => return Ok(vec![e.to_string()]),
        };
        let s = self.llgo;
        for range in self.section_ranges() {
            for (&off, node) in fixups.nodes.range(range) {
                if !live_slots.contains(&off) {
                    problems.push(format!(
                        "fixup at file offset {off:#x} inside an LLGo section is not a live slot: \
                         the loader would overwrite the table ({:?})",
                        node.kind
                    ));
                }
            }
        }
        for &slot in live_slots {
            match fixups.nodes.get(&slot).map(|n| n.kind) {
                None => problems.push(format!(
                    "live slot at file offset {slot:#x} is not a chained fixup: the runtime would \
                     read a link-time address (or a raw word) at every slide"
                )),
                Some(FixupKind::Bind { .. }) => problems
                    .push(format!("live slot at file offset {slot:#x} is a bind, not a rebase")),
                Some(FixupKind::Rebase { target }) => {
                    let redirect = s.stub.filter(|stub| {
                        slot == s.entry.offset + 16 && live_slots.contains(&(stub.offset + 16))
                    });
                    let ok = match redirect {
                        Some(stub) => target == stub.addr,
                        None => self.text.contains(&target),
                    };
                    if !ok {
                        problems.push(format!(
                            "live slot at file offset {slot:#x} rebases to {target:#x}, which is \
                             not {}",
                            if redirect.is_some() { "the stub section" } else { "inside __text" }
                        ));
                    }
                }
            }
        }
        if let Some(sig) = parsed_signature(self)? {
            let stale = codesign::stale_pages(&sig, self.data)?;
            if !stale.is_empty() {
                let shown: Vec<String> =
                    stale.iter().take(8).map(|(cd, p)| format!("{p} (CD at {cd:#x})")).collect();
                problems.push(format!(
                    "code signature: {} page hashes do not match the file: pages {}{}",
                    stale.len(),
                    shown.join(", "),
                    if stale.len() > 8 { ", ..." } else { "" }
                ));
            }
        }
        Ok(problems)
    }
}
