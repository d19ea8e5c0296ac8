//! Edit planning that needs a format's write-side knowledge: the chained-fixup surgery of
//! Mach-O ([`macho_fixups`]). The edit type itself is [`crate::edit`].

pub mod macho_fixups;
