//! The ELF loader's part (docs/design.md, "Loaders"): a non-PIE executable is mapped as linked,
//! so the table's live slots need no loader data and the sections are read at slide 0. A PIE
//! whose dynamic relocations write into the sections is refused: the loader would overwrite
//! the table. ELF executables carry no signature.

use std::borrow::Cow;

use crate::binary::elf::ElfImage;
use crate::bytes;
use crate::edit::Edit;
use crate::error::Result;
use crate::image::{Image, SectionBytes, SectionInfo};
use crate::loader::Loader;
use crate::table::encode::Layout;

impl<'data> Loader<'data> for ElfImage<'data> {
    fn image(&self) -> &dyn Image<'data> {
        self
    }

    fn precheck(&self) -> Result<()> {
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

    fn relayout(&self, _plan: &[Edit]) -> Result<Vec<Edit>> {
        // No compaction planned for ELF yet: the output keeps the input's layout.
        Ok(Vec::new())
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
        Ok((read(s.entry)?, read(s.stub)?))
    }

    fn verify_slides(&self) -> Vec<u64> {
        // A non-PIE executable is loaded at its link address only.
        vec![0]
    }

    fn loader_problems(&self, _live_slots: &[u64]) -> Result<Vec<String>> {
        let hits = self.relocations_into_sections()?;
        Ok(if hits > 0 {
            vec![format!(
                "{hits} dynamic relocations target the LLGo sections: the loader would \
                 overwrite the table"
            )]
        } else {
            Vec::new()
        })
    }
}
