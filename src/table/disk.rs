//! The on-disk layouts of docs/format.md as `#[repr(C)]` plain-old-data types, read and written
//! through `object::pod`: the table header, a row, a bucket, the redirect header, a site record
//! and a symbol-index entry. Every field is an unaligned little-endian integer, so a view can
//! sit at any offset of a section (object 0.40's `U16`/`U32`/`U64` are unaligned) and no layout
//! is spelled as literal offsets.

use object::endian::{LittleEndian as LE, U16, U32, U64};
use object::pod::Pod;

/// The 32-byte header of an LLGOFTB1 blob.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TableHeader {
    pub magic: U64<LE>,
    /// The link-time address of the section holding the blob.
    pub link_sect_addr: U64<LE>,
    /// The live slot: the first row's function address, slid by the loader.
    pub base: U64<LE>,
    /// Rows including the sentinel.
    pub count: U32<LE>,
    pub bucket_count: U32<LE>,
}

/// One row: `(entryOff from base, funcIndex)`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Row {
    pub entry_off: U32<LE>,
    pub func_index: U32<LE>,
}

/// One 4 KiB bucket of the find index: the first row's index and 16 sub-bucket deltas.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct BucketRecord {
    pub idx: U32<LE>,
    pub delta: [U16<LE>; 16],
}

/// The 32-byte LLGOFTB2 header left in the entry section when the blob spills.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct RedirectHeader {
    pub magic: U64<LE>,
    /// The entry section's link-time address.
    pub entry_link: U64<LE>,
    /// The live slot: the stub section's address, slid by the loader.
    pub target: U64<LE>,
    pub reserved: U64<LE>,
}

/// A 16-byte site record: a pointer word (a plain address, a relocation target or a chained
/// fixup node, decoded by the format's reader) and the symbol id.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct SiteRecord {
    pub pc: U64<LE>,
    pub id: U64<LE>,
}

/// A 16-byte entry of the symbol index: `(id, funcIndex)` and padding.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct IndexEntry {
    pub id: U64<LE>,
    pub func_index: U32<LE>,
    pub pad: U32<LE>,
}

// SAFETY: `#[repr(C)]` structs of byte arrays (alignment 1, no padding, every bit pattern
// valid), as `object::pod::Pod` requires.
unsafe impl Pod for TableHeader {}
// SAFETY: as above.
unsafe impl Pod for Row {}
// SAFETY: as above.
unsafe impl Pod for BucketRecord {}
// SAFETY: as above.
unsafe impl Pod for RedirectHeader {}
// SAFETY: as above.
unsafe impl Pod for SiteRecord {}
// SAFETY: as above.
unsafe impl Pod for IndexEntry {}

pub use crate::bytes::{pod as read, pod_slice as read_slice};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docs_format() {
        use std::mem::size_of;
        assert_eq!(size_of::<TableHeader>(), 32);
        assert_eq!(size_of::<Row>(), 8);
        assert_eq!(size_of::<BucketRecord>(), 36);
        assert_eq!(size_of::<RedirectHeader>(), 32);
        assert_eq!(size_of::<SiteRecord>(), 16);
        assert_eq!(size_of::<IndexEntry>(), 16);
    }
}
