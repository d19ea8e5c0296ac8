//! The ELF loader's part (docs/design.md, "Loaders"): a non-PIE executable is mapped as linked,
//! so the table's live slots need no loader data and the sections are read at slide 0. A PIE
//! whose dynamic relocations write into the sections is refused: the loader would overwrite
//! the table. ELF executables carry no signature.

use std::borrow::Cow;

use crate::binary::elf::ElfImage;
use crate::bytes;
use crate::compact;
use crate::compact::elf::SectionRef;
use crate::edit::{self, Edit};
use crate::error::Result;
use crate::image::{Generation, Image, SectionBytes, SectionInfo};
use crate::loader::{Compaction, Loader};
use crate::table::encode::Layout;

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
        let hits = self.relocations_into_sections()?;
        if hits > 0 {
            return Err(crate::unsupported!(
                "position-independent executable: {hits} dynamic relocations target the LLGo \
                 sections, the loader would overwrite the table (link with -no-pie)"
            ));
        }
        Ok(())
    }

    fn encode_live_slots(&self, _layout: &mut Layout) -> Result<Vec<Edit>> {
        // Non-PIE: the live slots hold plain link-time addresses, which the encoder already
        // wrote; no loader data names them.
        Ok(Vec::new())
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
        // ELF executables carry no signature.
        Ok(Vec::new())
    }

    fn load_sections(&self, _slide: u64) -> Result<(SectionBytes<'data>, SectionBytes<'data>)> {
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
        // A non-PIE executable is loaded at its link address only.
        vec![0]
    }

    fn loader_problems(&self, _live_slots: &[u64]) -> Result<Vec<String>> {
        let hits = self.relocations_into_sections()?;
        let mut problems = Vec::new();
        if hits > 0 {
            problems.push(format!(
                "{hits} dynamic relocations target the LLGo sections: the loader would \
                 overwrite the table"
            ));
        }
        problems.extend(self.unmapped_entry_tail());
        Ok(problems)
    }
}
