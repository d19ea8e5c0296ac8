//! The LLGOFTB1 blob, the LLGOFTB2 redirect header, and where they go (docs/format.md, "The table",
//! 3.2).
//!
//! [`layout`] plans the new contents of both sections and the live pointer slots; the format
//! writers then make the loader fill those slots. [`Blob::parse`] reads a blob back for `verify`.

use object::endian::{LittleEndian as LE, U16, U32, U64};
use object::pod::{bytes_of, bytes_of_slice};

use super::disk::{self, BucketRecord, RedirectHeader, TableHeader};
use super::findfunc::{self, Bucket, Lookup};
use super::Rows;
use crate::bytes;
use crate::error::{Error, Result};
use crate::malformed;

/// "LLGOFTB1": a prebuilt table.
pub const MAGIC_TABLE: u64 = 0x3142_5446_4F47_4C4C;
/// "LLGOFTB2": the entry section redirects to a table in the stub section.
pub const MAGIC_REDIRECT: u64 = 0x3242_5446_4F47_4C4C;
/// "LLGOMET1": the meta record's id word.
pub const MAGIC_META: u64 = 0x3154_454D_4F47_4C4C;

pub const HEADER_SIZE: u64 = std::mem::size_of::<TableHeader>() as u64;
pub const ROW_SIZE: u64 = std::mem::size_of::<disk::Row>() as u64;
pub const BUCKET_SIZE_BYTES: u64 = std::mem::size_of::<BucketRecord>() as u64;
pub const REDIRECT_SIZE: u64 = std::mem::size_of::<RedirectHeader>() as u64;
/// Offset of the live pointer slot in both the blob (`base`) and the redirect (target).
pub const LIVE_SLOT_OFFSET: u64 = 16;

/// A section's link-time address and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub addr: u64,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The blob is at the start of the entry section.
    InPlace,
    /// The blob is in the stub section; the entry section holds the redirect.
    Spilled,
}

/// Which of the two rewritten sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Entry,
    Stub,
}

/// A word the loader must make hold a runtime address: `value` at link time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSlot {
    pub section: Which,
    pub offset: u64,
    pub value: u64,
}

/// The planned new contents of both sections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub placement: Placement,
    /// New bytes of the entry section (its full size).
    pub entry: Vec<u8>,
    /// New bytes of the stub section (its full size).
    pub stub: Vec<u8>,
    /// In address order.
    pub live: Vec<LiveSlot>,
    /// Rows + sentinel.
    pub count: u32,
    pub bucket_count: u32,
    /// Bytes the blob needs.
    pub need: u64,
}

/// Bytes a blob of `rows` real rows and `buckets` buckets takes.
pub fn blob_size(rows: u64, buckets: u64) -> u64 {
    HEADER_SIZE + ROW_SIZE * (rows + 1) + BUCKET_SIZE_BYTES * buckets
}

/// Plans the table for `rows` into the two sections. `rows` must not be empty.
/// `stub` is `None` for generation 2 (no stub section): the table goes in place or does not fit,
/// never the redirect (today's runtime does not follow it).
pub fn layout(rows: &Rows, entry: Span, stub: Option<Span>) -> Result<Layout> {
    let spill = stub.is_some();
    let stub = stub.unwrap_or(Span { addr: 0, size: 0 });
    let addrs: Vec<u64> = rows.rows.iter().map(|r| r.addr).collect();
    let (Some(&base), Some(&last)) = (addrs.first(), addrs.last()) else {
        return Err(malformed!("no rows to write"));
    };
    if rows.text_end < last {
        return Err(malformed!(
            "text ends at {:#x}, before the last function row at {last:#x}",
            rows.text_end
        ));
    }
    let off = |a: u64| {
        u32::try_from(a - base)
            .map_err(|_| Error::unsupported(format!("text spans more than 4 GiB from {base:#x}")))
    };
    let buckets = findfunc::buckets(&addrs).map_err(Error::unsupported)?;
    let count =
        u32::try_from(addrs.len() + 1).map_err(|_| Error::unsupported("more than 2^32 rows"))?;
    let bucket_count =
        u32::try_from(buckets.len()).map_err(|_| Error::unsupported("more than 2^32 buckets"))?;
    let need = blob_size(addrs.len() as u64, buckets.len() as u64);
    let placement = if need <= entry.size {
        Placement::InPlace
    } else if spill && need <= stub.size {
        Placement::Spilled
    } else {
        return Err(does_not_fit(need, entry.size, stub.size));
    };
    let home = match placement {
        Placement::InPlace => entry,
        Placement::Spilled => stub,
    };

    let header = TableHeader {
        magic: U64::new(LE, MAGIC_TABLE),
        link_sect_addr: U64::new(LE, home.addr),
        base: U64::new(LE, base),
        count: U32::new(LE, count),
        bucket_count: U32::new(LE, bucket_count),
    };
    // The blob, written straight into its section's bytes (zeroed by the allocation: fresh
    // pages for a big section): header, rows with the sentinel, buckets, then zeros.
    let mut blob = vec![0u8; home.size as usize];
    let rows_end = HEADER_SIZE + ROW_SIZE * (addrs.len() as u64 + 1);
    let bucket_records: Vec<BucketRecord> = buckets
        .iter()
        .map(|b| BucketRecord { idx: U32::new(LE, b.idx), delta: b.delta.map(|d| U16::new(LE, d)) })
        .collect();
    fn region(blob: &mut [u8], from: u64, to: u64) -> Result<&mut [u8]> {
        blob.get_mut(from as usize..to as usize)
            .ok_or_else(|| crate::internal!("blob bytes {from:#x}..{to:#x} outside the section"))
    }
    region(&mut blob, 0, HEADER_SIZE)?.copy_from_slice(bytes_of(&header));
    let mut slots = region(&mut blob, HEADER_SIZE, rows_end)?.chunks_exact_mut(ROW_SIZE as usize);
    let sentinel = (rows.text_end, 0);
    for ((addr, func_index), slot) in
        rows.rows.iter().map(|r| (r.addr, r.func_index)).chain([sentinel]).zip(&mut slots)
    {
        let (entry_off, func) = slot.split_at_mut(4);
        entry_off.copy_from_slice(&off(addr)?.to_le_bytes());
        func.copy_from_slice(&func_index.to_le_bytes());
    }
    region(&mut blob, rows_end, need)?.copy_from_slice(bytes_of_slice(&bucket_records));

    // The section's bytes, `v` then zeros.
    let sized = |v: Vec<u8>, span: Span| {
        let mut out = vec![0u8; span.size as usize];
        let n = v.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), v.get(..n)) {
            to.copy_from_slice(from);
        }
        out
    };
    let (entry_bytes, stub_bytes, live) = match placement {
        Placement::InPlace => (
            blob,
            vec![0; stub.size as usize],
            vec![LiveSlot { section: Which::Entry, offset: LIVE_SLOT_OFFSET, value: base }],
        ),
        Placement::Spilled => {
            let redirect = bytes_of(&RedirectHeader {
                magic: U64::new(LE, MAGIC_REDIRECT),
                entry_link: U64::new(LE, entry.addr),
                target: U64::new(LE, stub.addr),
                reserved: U64::new(LE, 0),
            })
            .to_vec();
            if REDIRECT_SIZE > entry.size {
                return Err(does_not_fit(need, entry.size, stub.size));
            }
            let mut live = vec![
                LiveSlot { section: Which::Entry, offset: LIVE_SLOT_OFFSET, value: stub.addr },
                LiveSlot { section: Which::Stub, offset: LIVE_SLOT_OFFSET, value: base },
            ];
            live.sort_by_key(|s| match s.section {
                Which::Entry => entry.addr + s.offset,
                Which::Stub => stub.addr + s.offset,
            });
            (sized(redirect, entry), blob, live)
        }
    };
    Ok(Layout { placement, entry: entry_bytes, stub: stub_bytes, live, count, bucket_count, need })
}

/// The shortfall counts against the entry section: that is the one a relink can grow.
fn does_not_fit(need: u64, entry: u64, stub: u64) -> Error {
    let short = need.saturating_sub(entry);
    Error::does_not_fit(
        short,
        format!(
            "table does not fit by {short} bytes: the blob needs {need} bytes, the entry section \
             has {entry} and the stub section {stub}"
        ),
    )
}

/// A blob read back from a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub link_sect_addr: u64,
    pub base: u64,
    pub count: u32,
    pub bucket_count: u32,
    /// `(entryOff, funcIndex)` including the sentinel.
    pub rows: Vec<(u32, u32)>,
    pub buckets: Vec<Bucket>,
}

impl Blob {
    /// Parses a blob at the start of `section`, applying the runtime's size check.
    pub fn parse(section: &[u8]) -> Result<Blob> {
        let header: &TableHeader = disk::read(section, 0, "table header")?;
        let magic = header.magic.get(LE);
        if magic != MAGIC_TABLE {
            return Err(malformed!("table header: magic {magic:#018x} is not LLGOFTB1"));
        }
        let link_sect_addr = header.link_sect_addr.get(LE);
        let base = header.base.get(LE);
        let count = header.count.get(LE);
        let bucket_count = header.bucket_count.get(LE);
        if count < 2 {
            return Err(malformed!("table header: count {count} < 2"));
        }
        let need = blob_size(u64::from(count) - 1, u64::from(bucket_count));
        if need > section.len() as u64 {
            return Err(malformed!(
                "table header: {count} rows and {bucket_count} buckets need {need} bytes, the \
                 section has {}",
                section.len()
            ));
        }
        let rows = disk::read_slice::<disk::Row>(section, HEADER_SIZE, u64::from(count), "row")?
            .iter()
            .map(|r| (r.entry_off.get(LE), r.func_index.get(LE)))
            .collect();
        let first = HEADER_SIZE + ROW_SIZE * u64::from(count);
        let buckets =
            disk::read_slice::<BucketRecord>(section, first, u64::from(bucket_count), "bucket")?
                .iter()
                .map(|b| Bucket { idx: b.idx.get(LE), delta: b.delta.map(|d| d.get(LE)) })
                .collect();
        Ok(Blob { link_sect_addr, base, count, bucket_count, rows, buckets })
    }

    /// Bytes the blob occupies.
    pub fn size(&self) -> u64 {
        blob_size(u64::from(self.count) - 1, u64::from(self.bucket_count))
    }

    /// Row `entryOff`s without the sentinel, for [`Lookup`].
    pub fn entry_offs(&self) -> Vec<u32> {
        let real = self.rows.split_last().map_or(&[][..], |(_, real)| real);
        real.iter().map(|r| r.0).collect()
    }

    /// The runtime lookup over this blob, with `base` as the runtime sees it.
    pub fn lookup<'t>(&'t self, entry_offs: &'t [u32]) -> Lookup<'t> {
        Lookup { base: self.base, entry_offs, buckets: &self.buckets }
    }
}

/// The redirect header read back: `(entry link address, stub runtime address)`.
pub fn parse_redirect(section: &[u8]) -> Result<Option<(u64, u64)>> {
    if bytes::u64_le(section, 0, "redirect header")? != MAGIC_REDIRECT {
        return Ok(None);
    }
    let header: &RedirectHeader = disk::read(section, 0, "redirect header")?;
    Ok(Some((header.entry_link.get(LE), header.target.get(LE))))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::table::{Row, Stats};

    fn rows(addrs: &[(u64, u32)], text_end: u64) -> Rows {
        Rows {
            rows: addrs.iter().map(|&(addr, func_index)| Row { addr, func_index }).collect(),
            text_end,
            stats: Stats::default(),
        }
    }

    #[test]
    fn one_row_needs_84_bytes() {
        // docs/format.md's example: one function never fits its own 80 bytes (zero + meta + entry).
        assert_eq!(blob_size(1, 1), 84);
        let r = rows(&[(0x401000, 1)], 0x401100);
        let e =
            layout(&r, Span { addr: 0x500000, size: 80 }, Some(Span { addr: 0x500100, size: 16 }))
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DoesNotFit);
        assert_eq!(e.shortfall(), Some(4));
    }

    #[test]
    fn in_place_bytes_hand_computed() {
        let r = rows(&[(0x401000, 3), (0x401040, 1)], 0x401080);
        let l =
            layout(&r, Span { addr: 0x4a0000, size: 128 }, Some(Span { addr: 0x4b0000, size: 32 }))
                .unwrap();
        assert_eq!(l.placement, Placement::InPlace);
        assert_eq!(l.need, 32 + 8 * 3 + 36);
        let mut want = Vec::new();
        want.extend_from_slice(b"LLGOFTB1");
        want.extend_from_slice(&0x4a0000u64.to_le_bytes());
        want.extend_from_slice(&0x401000u64.to_le_bytes());
        want.extend_from_slice(&[3, 0, 0, 0, 1, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 0, 3, 0, 0, 0]);
        want.extend_from_slice(&[0x40, 0, 0, 0, 1, 0, 0, 0]);
        want.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
        // One bucket: idx 0; sub-bucket 0 (0x401000) -> row 0, subs 1..15 -> row 1.
        want.extend_from_slice(&[0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0]);
        for _ in 1..16 {
            want.extend_from_slice(&[1, 0]);
        }
        want.resize(128, 0);
        assert_eq!(l.entry, want);
        assert_eq!(l.stub, vec![0; 32]);
        assert_eq!(l.live, vec![LiveSlot { section: Which::Entry, offset: 16, value: 0x401000 }]);
    }

    #[test]
    fn spill_threshold_exactly_at_section_size() {
        let r = rows(&[(0x401000, 1), (0x401010, 2)], 0x401020);
        let need = 32 + 8 * 3 + 36; // 92
        let entry = Span { addr: 0x600000, size: 48 };
        // Exactly the need in place: in place. One byte less: spill into a stub section of
        // exactly the need. One byte less there too: does not fit, by one byte.
        let fits = layout(&r, Span { size: need, ..entry }, Some(Span { addr: 0x700000, size: 0 }));
        assert_eq!(fits.unwrap().placement, Placement::InPlace);
        let spill =
            layout(&r, Span { size: need - 1, ..entry }, Some(Span { addr: 0x700000, size: need }))
                .unwrap();
        assert_eq!(spill.placement, Placement::Spilled);
        assert_eq!(&spill.entry[..8], b"LLGOFTB2");
        assert_eq!(&spill.entry[8..16], &0x600000u64.to_le_bytes());
        assert_eq!(&spill.entry[16..24], &0x700000u64.to_le_bytes());
        assert_eq!(&spill.entry[24..], &[0u8; 8 + 91 - 32][..]);
        assert_eq!(&spill.stub[8..16], &0x700000u64.to_le_bytes(), "linkSectAddr = stub");
        assert_eq!(spill.live.len(), 2);
        let none = layout(
            &r,
            Span { size: need - 1, ..entry },
            Some(Span { addr: 0x700000, size: need - 1 }),
        )
        .unwrap_err();
        assert_eq!(none.shortfall(), Some(1), "counted against the entry section");
        // Generation 2 (no stub section): never the redirect, the shortfall against the entry.
        let gen2 = layout(&r, Span { size: need - 1, ..entry }, None).unwrap_err();
        assert_eq!(gen2.kind(), crate::error::ErrorKind::DoesNotFit);
        assert_eq!(gen2.shortfall(), Some(1));
        let fits = layout(&r, Span { size: need, ..entry }, None).unwrap();
        assert_eq!((fits.placement, fits.stub.len()), (Placement::InPlace, 0));
    }

    #[test]
    fn parse_round_trips_and_rejects_truncation() {
        let r = rows(&[(0x401000, 7), (0x402345, 9), (0x405000, 11)], 0x405100);
        let l = layout(&r, Span { addr: 0x4a0000, size: 512 }, Some(Span { addr: 0, size: 0 }))
            .unwrap();
        let b = Blob::parse(&l.entry).unwrap();
        assert_eq!(b.rows, vec![(0, 7), (0x1345, 9), (0x4000, 11), (0x4100, 0)]);
        assert_eq!(b.bucket_count, 5);
        assert!(Blob::parse(&l.entry[..l.need as usize - 1]).is_err());
        let mut huge = l.entry.clone();
        huge[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Blob::parse(&huge).is_err());
    }
}
