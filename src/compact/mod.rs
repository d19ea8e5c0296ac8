//! Compaction: cutting the unused tail of the entry section out of the file after the table is
//! written, without moving any virtual address (LLGO-TODAY.md section 3).
//!
//! Planning is a pure function over the original bytes. It returns [`crate::edit::Edit`]s:
//! offsets in the ORIGINAL file, `len` bytes replaced by `bytes` (any length; empty = cut). The
//! loaders call it from `Loader::relayout` (docs/design.md, "Compaction").

pub mod elf;
pub mod macho;

use std::fmt;

/// Why a layout cannot be compacted. Not a failure: the table is then written in place at the
/// section's full size. The message names the structure and its file offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    message: String,
}

impl Refusal {
    pub fn new(message: impl Into<String>) -> Self {
        Refusal { message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
