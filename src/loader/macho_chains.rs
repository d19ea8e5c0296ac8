//! Chained-fixup surgery (docs/format.md, "Loader data"): unlink every node inside the two
//! rewritten sections from its page chain and splice the live slots in as rebases, in address
//! order, with `next` deltas and `page_start` values recomputed on the segment's own page size.
//!
//! Pure: the decoded chains in, edits out. The edits touch only `next` fields of surviving nodes
//! (which may lie outside the sections, in the same page) and `page_start` entries; the live
//! slots' words are returned separately because they lie inside the sections, whose new bytes
//! the caller owns. Anything not exactly expressible is an error and nothing is written.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::binary::macho_fixups::{
    ChainedFixups, Segment, NEXT_MASK, NEXT_SHIFT, PAGE_START_NONE, STRIDE,
};
use crate::edit::Edit;
use crate::error::Result;
use crate::unsupported;

/// A word the loader must fill with `target + slide`.
#[derive(Clone, Copy, Debug)]
pub struct LiveSlot<'a> {
    /// Image offset of the slot.
    pub offset: u64,
    /// The segment that holds it.
    pub segment: &'a Segment,
    /// Link-time vmaddr.
    pub target: u64,
}

/// The result of [`splice`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spliced {
    /// Edits outside the sections' new contents: surviving nodes' `next` fields, `page_start`s.
    pub edits: Vec<Edit>,
    /// The rebase word of each live slot, in the order given.
    pub live_words: Vec<u64>,
}

/// `(index into fixups.segments, page)` of a live slot, or why it cannot be a fixup there.
#[allow(clippy::indexing_slicing)] // `k` comes from `starts_for`, an index into `fixups.segments`
pub fn slot_page(
    fixups: &ChainedFixups<'_>,
    segment: &Segment,
    slot: u64,
) -> Result<(usize, usize)> {
    let Some(k) = fixups.segments.iter().position(|s| s.segment == segment.index) else {
        return Err(unsupported!(
            "live slot at file offset {slot:#x} lies in segment {} which has no chained starts \
             (seg_info_offset 0)",
            segment.name
        ));
    };
    let starts = &fixups.segments[k];
    if !starts.walked {
        return Err(unsupported!(
            "live slot at file offset {slot:#x}: segment {} uses chained pointer format {}, only \
             2 and 6 are handled",
            starts.name,
            starts.pointer_format
        ));
    }
    if slot % STRIDE != 0 {
        return Err(unsupported!("live slot at file offset {slot:#x} is not 4-byte aligned"));
    }
    let page = slot
        .checked_sub(starts.fileoff)
        .map(|d| d / starts.page_size)
        .filter(|_| starts.contains_offset(slot))
        .ok_or_else(|| {
            unsupported!("live slot at file offset {slot:#x} lies outside segment {}", starts.name)
        })?;
    if page >= u64::from(starts.page_count) {
        return Err(unsupported!(
            "live slot at file offset {slot:#x} lies in page {page} of segment {}, beyond its \
             page_count {}",
            starts.name,
            starts.page_count
        ));
    }
    Ok((k, page as usize))
}

/// Plans the surgery: every node inside `remove` (image offset ranges) leaves its chain, every
/// live slot joins its page's chain as a rebase.
// `k` comes from `starts_for`, an index into `fixups.segments`; `i` from `position` in `live`,
// which `live_words` has the length of
#[allow(clippy::indexing_slicing)]
pub fn splice(
    fixups: &ChainedFixups<'_>,
    remove: &[Range<u64>],
    live: &[LiveSlot<'_>],
) -> Result<Spliced> {
    let removed = |off: u64| remove.iter().any(|r| r.contains(&off));
    // Pages whose chain changes, with the live slots they gain.
    let mut pages: BTreeMap<(usize, usize), Vec<(u64, usize)>> = BTreeMap::new();
    for (&off, node) in fixups.nodes.iter() {
        if removed(off) {
            pages.entry((node.segment, node.page)).or_default();
        }
    }
    for (i, slot) in live.iter().enumerate() {
        if !removed(slot.offset) {
            return Err(crate::internal!(
                "live slot at file offset {:#x} lies outside the rewritten sections",
                slot.offset
            ));
        }
        let key = slot_page(fixups, slot.segment, slot.offset)?;
        pages.entry(key).or_default().push((slot.offset, i));
    }
    // Any segment touching the sections must be one we decoded.
    for starts in &fixups.segments {
        let touches = remove.iter().any(|r| {
            r.start < starts.fileoff.saturating_add(starts.filesize) && starts.fileoff < r.end
        });
        if touches && !starts.walked {
            return Err(unsupported!(
                "segment {} holds an LLGo section but uses chained pointer format {}: only 2 and \
                 6 are handled",
                starts.name,
                starts.pointer_format
            ));
        }
    }

    let mut edits = Vec::new();
    let mut live_words = vec![0u64; live.len()];
    for ((k, page), gained) in pages {
        let starts = &fixups.segments[k];
        let format = starts.pointer_format;
        let page_off = starts.page_offset(page);
        // The new chain: survivors plus live slots, by address. `None` marks a live slot.
        let mut chain: Vec<(u64, Option<usize>)> = starts
            .pages
            .get(page)
            .map(|p| p.iter().filter(|&&o| !removed(o)).map(|&o| (o, None)).collect())
            .unwrap_or_default();
        chain.extend(gained.iter().map(|&(o, i)| (o, Some(i))));
        chain.sort_by_key(|c| c.0);
        if chain.windows(2).any(|w| matches!(w, [a, b] if a.0 == b.0)) {
            return Err(unsupported!(
                "{} page {page}: a live slot coincides with a surviving fixup",
                starts.name
            ));
        }
        for (n, &(off, slot)) in chain.iter().enumerate() {
            let next = match chain.get(n + 1) {
                Some(&(to, _)) => {
                    let delta = to - off;
                    if delta % STRIDE != 0 || delta / STRIDE > NEXT_MASK {
                        return Err(unsupported!(
                            "{} chain at file offset {off:#x}: next node {delta:#x} bytes on is \
                             not expressible in 12 bits of 4-byte strides",
                            starts.name
                        ));
                    }
                    delta / STRIDE
                }
                None => 0,
            };
            match slot {
                Some(i) => live_words[i] = fixups.encode_rebase(live[i].target, format, next)?,
                None => {
                    let old = fixups.nodes.get(&off).map(|n| n.raw).unwrap_or_default();
                    let new = (old & !(NEXT_MASK << NEXT_SHIFT)) | (next << NEXT_SHIFT);
                    if new != old {
                        edits.push(Edit::overwrite(off, new.to_le_bytes().to_vec()));
                    }
                }
            }
        }
        let new_start = match chain.first() {
            Some(&(off, _)) => u16::try_from(off - page_off)
                .ok()
                .filter(|&s| s != PAGE_START_NONE && s & 0x8000 == 0)
                .ok_or_else(|| {
                    unsupported!(
                        "{} page {page}: first fixup offset does not fit page_start",
                        starts.name
                    )
                })?,
            None => PAGE_START_NONE,
        };
        let old_start = starts.page_starts.get(page).copied().unwrap_or(PAGE_START_NONE);
        if new_start != old_start {
            edits.push(Edit::overwrite(
                starts.page_start_offset(page),
                new_start.to_le_bytes().to_vec(),
            ));
        }
    }
    Ok(Spliced { edits, live_words })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
// tests index data they built themselves
// `splice` takes a list of ranges: a list of one is what these tests mean.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use crate::binary::macho_fixups::{FixupKind, Node, SegmentStarts, PTR_64};

    fn segment(index: usize, fileoff: u64) -> Segment {
        Segment {
            index,
            name: "__DATA".into(),
            vmaddr: 0x1_0000_0000 + fileoff,
            vmsize: 0x2000,
            fileoff,
            filesize: 0x2000,
        }
    }

    /// `__DATA` at file 0x4000, two 4 KiB pages; page 0 chain 0x4000 -> 0x4010 -> 0x4020 ->
    /// 0x4100, page 1 chain 0x5000. Starts struct at 0x9000.
    fn fixups() -> ChainedFixups<'static> {
        let chain = [(0x4000u64, 4u64, 0), (0x4010, 4, 0), (0x4020, 0x38, 0), (0x4100, 0, 0)];
        let mut nodes = BTreeMap::new();
        for (off, next, page) in chain.into_iter().chain([(0x5000, 0, 1)]) {
            let raw = 0x1_0000_0700 | (next << NEXT_SHIFT);
            let kind = FixupKind::Rebase { target: 0x1_0000_0700 };
            nodes.insert(off, Node { raw, kind, segment: 0, page });
        }
        ChainedFixups {
            imports: Vec::new(),
            segments: vec![SegmentStarts {
                segment: 1,
                struct_offset: 0x9000,
                page_size: 0x1000,
                pointer_format: PTR_64,
                page_count: 2,
                page_starts: vec![0, 0],
                pages: vec![vec![0x4000, 0x4010, 0x4020, 0x4100], vec![0x5000]],
                walked: true,
                fileoff: 0x4000,
                filesize: 0x2000,
                name: "__DATA".into(),
            }],
            nodes,
            image_base: 0x1_0000_0000,
        }
    }

    #[test]
    fn unlink_and_splice_hand_computed() {
        let f = fixups();
        let seg = segment(1, 0x4000);
        let remove = [0x4008..0x4030, 0x5000..0x5010];
        let live = [LiveSlot { offset: 0x4018, segment: &seg, target: 0x1_0000_0800 }];
        let s = splice(&f, &remove, &live).unwrap();
        // 0x4000 now points 0x18 bytes on (6 strides) to the live slot; the live slot points
        // 0xe8 bytes on (0x3a strides) to 0x4100, which is unchanged; page 1 lost its only node.
        let n0 = 0x1_0000_0700u64 | (6 << NEXT_SHIFT);
        assert_eq!(
            s.edits,
            vec![
                Edit::overwrite(0x4000, n0.to_le_bytes().to_vec()),
                Edit::overwrite(0x9000 + 22 + 2, vec![0xFF, 0xFF]),
            ]
        );
        assert_eq!(s.live_words, vec![0x1_0000_0800 | (0x3a << NEXT_SHIFT)]);
    }

    #[test]
    fn live_slot_in_an_empty_page_gets_a_page_start() {
        let f = fixups();
        let seg = segment(1, 0x4000);
        let remove = [0x5000..0x5020];
        let live = [LiveSlot { offset: 0x5010, segment: &seg, target: 0x1_0000_0800 }];
        let s = splice(&f, &remove, &live).unwrap();
        assert_eq!(s.edits, vec![Edit::overwrite(0x9000 + 24, vec![0x10, 0])]);
        assert_eq!(s.live_words, vec![0x1_0000_0800]);
    }

    #[test]
    fn inexpressible_slots_are_refused() {
        let f = fixups();
        // Beyond page_count: the segment is bigger than its starts say.
        let big = Segment { filesize: 0x3000, ..segment(1, 0x4000) };
        let mut f3 = f.clone();
        f3.segments[0].filesize = 0x3000;
        let live = [LiveSlot { offset: 0x6010, segment: &big, target: 0x1_0000_0800 }];
        let e = splice(&f3, &[0x6000..0x6020], &live).unwrap_err();
        assert!(e.message().contains("beyond its page_count 2"), "{e}");
        // A segment without starts.
        let other = segment(2, 0x8000);
        let live = [LiveSlot { offset: 0x8010, segment: &other, target: 0x1_0000_0800 }];
        let e = splice(&f, &[0x8000..0x8020], &live).unwrap_err();
        assert!(e.message().contains("no chained starts"), "{e}");
        // A format we do not decode touching the sections.
        let mut f6 = f.clone();
        f6.segments[0].walked = false;
        f6.segments[0].pointer_format = 1;
        let seg = segment(1, 0x4000);
        let live = [LiveSlot { offset: 0x4018, segment: &seg, target: 0x1_0000_0800 }];
        assert!(splice(&f6, &[0x4008..0x4030], &live).is_err());
        // A target that does not fit 36 bits.
        let live = [LiveSlot { offset: 0x4018, segment: &seg, target: 1 << 40 }];
        assert!(splice(&f, &[0x4008..0x4030], &live).is_err());
    }
}
