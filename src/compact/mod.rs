//! Compaction of the entry section's file-backed tail (LLGO-TODAY.md 3).

pub mod macho;
