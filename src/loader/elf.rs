//! The ELF loader's part (docs/design.md, "Loaders"). A non-PIE executable is mapped as linked:
//! the table's live slots need no loader data and the sections are read at slide 0. An `ET_DYN`
//! image (PIE executable, shared library) gets the relocation surgery of [`elf_relocs`]: the
//! records' RELATIVE relocations go, one RELATIVE per live slot comes, and `verify` loads it at
//! several non-zero biases. For every ELF, a dynamic relocation into the sections that the plan
//! does not own refuses the rewrite. ELF files carry no signature.

use std::borrow::Cow;

use crate::binary::elf::ElfImage;
use crate::bytes;
use crate::compact;
use crate::compact::elf::SectionRef;
use crate::edit::{self, Edit};
use crate::error::Result;
use crate::image::{Generation, Image, SectionBytes, SectionInfo};
use crate::loader::{elf_relocs, Compaction, Loader, RelocationPicture};
use crate::table::encode::{Layout, Which};

/// The load biases `verify` simulates for an `ET_DYN` image (64 KiB aligned, as a loader with
/// the largest page size would pick; one above 4 GiB so 32-bit truncation shows).
pub const DYN_SLIDES: [u64; 3] = [0x5555_5555_0000, 0x7f12_3456_0000, 0x1_0000_0000];

impl ElfImage<'_> {
    /// The runtime reads the entry section up to `__stop_` (the link-time end): after
    /// compaction the tail past the section's file bytes must still be memory, zero-filled by
    /// the carrier's `p_memsz`. `Some(problem)` when no `PT_LOAD` holds it.
    fn unmapped_entry_tail(&self) -> Option<String> {
        let entry = self.sections().entry;
        let start = self.symbol_address(b"__start_llgo_funcinfo_entry")?;
        let stop = self.symbol_address(b"__stop_llgo_funcinfo_entry")?;
        (start == entry.addr && !self.loaded(start, stop.saturating_sub(start))).then(|| {
            format!(
                "no PT_LOAD's memory holds llgo_funcinfo_entry from __start_ ({start:#x}) to \
                 __stop_ ({stop:#x}): the runtime would read unmapped memory"
            )
        })
    }
}

impl<'data> Loader<'data> for ElfImage<'data> {
    fn image(&self) -> &dyn Image<'data> {
        self
    }

    fn precheck(&self) -> Result<()> {
        if let Some(problem) = self.unmapped_entry_tail() {
            return Err(crate::malformed!("{problem}"));
        }
        elf_relocs::precheck(self)
    }

    fn encode_live_slots(&self, layout: &mut Layout) -> Result<Vec<Edit>> {
        // The live slots hold link-time addresses (the encoder wrote them): all a non-PIE
        // loader needs, and the implicit addend of RELR/REL. ET_DYN: the surgery.
        let s = self.sections();
        let live: Vec<(u64, u64)> = layout
            .live
            .iter()
            .map(|l| {
                let base = match l.section {
                    Which::Entry => Some(s.entry.addr),
                    Which::Stub => s.stub.map(|stub| stub.addr),
                };
                let base = base.ok_or_else(|| {
                    crate::internal!("a live slot in the stub section of a generation-2 image")
                })?;
                Ok((base.wrapping_add(l.offset), l.value))
            })
            .collect::<Result<_>>()?;
        elf_relocs::surgery(self, &live)
    }

    fn relayout(&self, plan: &mut Vec<Edit>, need: u64) -> Result<Compaction> {
        // Only generation 2 compacts (docs/design.md, "Compaction"): LLGo compacts only its
        // generation-2 output, and generation 1's spill needs the section's full size.
        if self.sections().generation() == Generation::One {
            return Ok(Compaction::NotApplicable);
        }
        let index = self.entry_section_index()?;
        match compact::elf::plan(self.data(), SectionRef { index }, need)? {
            compact::elf::Decision::Keep(why) => Ok(Compaction::Kept(why.to_string())),
            compact::elf::Decision::Compact(c) => {
                edit::clip_to_cut(plan, c.cut.clone())?;
                plan.extend(c.edits);
                edit::normalize(plan, self.data().len() as u64)?;
                Ok(Compaction::Compacted { removed: c.removed })
            }
        }
    }

    fn sign(&self, _changed: &[Edit]) -> Result<Vec<Edit>> {
        // ELF files carry no signature.
        Ok(Vec::new())
    }

    fn load_sections(&self, slide: u64) -> Result<(SectionBytes<'data>, SectionBytes<'data>)> {
        if self.is_dyn() {
            return elf_relocs::load_cow(self, slide);
        }
        // Mapped as linked: the file bytes at slide 0, borrowed.
        let s = self.sections();
        let read = |i: SectionInfo| {
            bytes::slice(self.data(), i.offset, i.size, "LLGo section").map(Cow::Borrowed)
        };
        let stub = match s.stub {
            Some(stub) => read(stub)?,
            None => Cow::Borrowed(&[][..]),
        };
        Ok((read(s.entry)?, stub))
    }

    fn verify_slides(&self) -> Vec<u64> {
        if self.is_dyn() {
            DYN_SLIDES.to_vec()
        } else {
            // A non-PIE executable is loaded at its link address only.
            vec![0]
        }
    }

    fn loader_problems(&self, live_slots: &[u64]) -> Result<Vec<String>> {
        let mut problems = elf_relocs::problems(self, live_slots)?;
        problems.extend(self.unmapped_entry_tail());
        Ok(problems)
    }

    fn relocation_picture(&self) -> Option<RelocationPicture> {
        let p = elf_relocs::picture(self);
        let plan = if p.into_sections == 0 && !self.is_dyn() {
            "none (not position-independent, nothing targets the sections)".to_string()
        } else if p.owned < p.into_sections {
            format!("refuse ({} not owned by the plan)", p.into_sections - p.owned)
        } else if !self.is_dyn() {
            "none".to_string()
        } else {
            format!(
                "remove {} from the sections, one R_*_RELATIVE per live slot in {}",
                p.owned,
                p.live_table.unwrap_or("no table (refuse)")
            )
        };
        Some(RelocationPicture { total: p.total, into_sections: p.into_sections, plan })
    }
}
