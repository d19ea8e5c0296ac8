//! Go's findfunctab geometry with 16-bit deltas, and the runtime's exact lookup over it
//! (docs/format.md, "The table"). The builder and the lookup live together so that `verify` checks
//! a table with the very algorithm the LLGo runtime runs.

pub const BUCKET_SIZE: u64 = 4096;
pub const SUB_BUCKETS: u64 = 16;
pub const SUB_BUCKET_SIZE: u64 = BUCKET_SIZE / SUB_BUCKETS;

/// One bucket: the row index at its start and the offsets of its 16 sub-buckets from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    pub idx: u32,
    pub delta: [u16; 16],
}

/// Index of the last address `<= a`, clamped to 0. `addrs` is sorted.
fn last_le(addrs: &[u64], a: u64) -> usize {
    addrs.partition_point(|&x| x <= a).saturating_sub(1)
}

/// Rows are `u32` offsets from the base, so a table spans at most 4 GiB: 2^20 buckets.
pub const MAX_BUCKETS: u64 = 1 << 20;

/// How many buckets rows from `base` to `last` need, if the span is representable.
pub fn bucket_count(base: u64, last: u64) -> Option<u64> {
    let aligned = base & !(BUCKET_SIZE - 1);
    let count = last.checked_sub(aligned)? / BUCKET_SIZE + 1;
    (count <= MAX_BUCKETS).then_some(count)
}

/// Builds the buckets over sorted row addresses. `Err` names the bucket whose delta or index
/// does not fit its field, or the span that no bucket count can cover.
pub fn buckets(addrs: &[u64]) -> Result<Vec<Bucket>, String> {
    let (Some(&base), Some(&last)) = (addrs.first(), addrs.last()) else {
        return Ok(Vec::new());
    };
    if addrs.windows(2).any(|w| matches!(w, [a, b] if a > b)) {
        return Err("row addresses are not sorted".into());
    }
    let aligned = base & !(BUCKET_SIZE - 1);
    let count = bucket_count(base, last)
        .ok_or_else(|| format!("rows from {base:#x} to {last:#x} span more than 4 GiB"))?;
    let mut out = Vec::with_capacity(count as usize);
    for b in 0..count {
        let start = aligned + BUCKET_SIZE * b;
        let idx = last_le(addrs, start);
        let mut delta = [0u16; 16];
        for (s, d) in delta.iter_mut().enumerate() {
            let diff = last_le(addrs, start + SUB_BUCKET_SIZE * s as u64) - idx;
            *d = u16::try_from(diff).map_err(|_| {
                format!("bucket {b} sub-bucket {s}: {diff} rows do not fit a 16-bit delta")
            })?;
        }
        let idx = u32::try_from(idx).map_err(|_| format!("bucket {b}: row index overflows u32"))?;
        out.push(Bucket { idx, delta });
    }
    Ok(out)
}

/// A table as the runtime sees it: rows as `(entryOff, funcIndex)` without the sentinel.
pub struct Lookup<'t> {
    pub base: u64,
    pub entry_offs: &'t [u32],
    pub buckets: &'t [Bucket],
}

impl Lookup<'_> {
    /// The runtime's lookup, step for step: returns the row index for `pc`, if any.
    // `b` and `sub` are bounded against `buckets` and the 16 deltas, `lo..hi` against `entry_offs`,
    // before indexing (checks just above each use)
    #[allow(clippy::indexing_slicing)]
    pub fn find(&self, pc: u64) -> Option<usize> {
        let n = self.entry_offs.len();
        if pc < self.base {
            return None;
        }
        let aligned = self.base & !(BUCKET_SIZE - 1);
        let (mut lo, mut hi) = (0usize, n);
        if pc >= aligned {
            let bucket = (pc - aligned) / BUCKET_SIZE;
            if bucket < self.buckets.len() as u64 {
                let b = bucket as usize;
                let sub = (((pc - aligned) % BUCKET_SIZE) / SUB_BUCKET_SIZE) as usize;
                let bk = &self.buckets[b];
                lo = bk.idx as usize + bk.delta[sub] as usize;
                hi = if sub == 15 {
                    self.buckets.get(b + 1).map_or(n, |next| next.idx as usize)
                } else {
                    bk.idx as usize + bk.delta[sub + 1] as usize
                };
                lo = lo.saturating_sub(1);
                hi = hi.max(lo);
                hi += 2;
                lo = lo.min(n);
                hi = hi.min(n);
            }
        }
        let off = (pc - self.base) as u32;
        let window = &self.entry_offs[lo..hi.max(lo)];
        let p = lo + window.partition_point(|&e| e <= off);
        let row = p.checked_sub(1)?;
        (self.entry_offs[row] <= off).then_some(row)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests {
    use super::*;

    fn offs(addrs: &[u64]) -> Vec<u32> {
        addrs.iter().map(|a| (a - addrs[0]) as u32).collect()
    }

    #[test]
    fn bucket_boundaries_hand_computed() {
        // Rows at the very start of a bucket, exactly on a sub-bucket edge, one byte before the
        // next bucket, and two buckets later.
        let addrs = [0x40_1010, 0x40_1100, 0x40_1fff, 0x40_3000];
        let b = buckets(&addrs).unwrap();
        // aligned base 0x401000; last row 0x403000 -> (0x2000 / 4096) + 1 = 3 buckets.
        assert_eq!(b.len(), 3);
        // Bucket 0 starts at 0x401000: no row <= it, clamped to 0. Sub 0 (0x401000) -> 0,
        // sub 1 (0x401100) -> row 1, subs 2..15 -> row 1 (0x401fff is after 0x401f00).
        assert_eq!(b[0].idx, 0);
        assert_eq!(b[0].delta, [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        // Bucket 1 at 0x402000: last row <= is row 2 (0x401fff); all subs stay at row 2.
        assert_eq!(b[1].idx, 2);
        assert_eq!(b[1].delta, [0; 16]);
        // Bucket 2 at 0x403000: row 3 exactly at its start.
        assert_eq!(b[2].idx, 3);
        assert_eq!(b[2].delta, [0; 16]);
    }

    #[test]
    fn single_row_is_one_bucket() {
        let b = buckets(&[0x1234]).unwrap();
        assert_eq!(b, vec![Bucket { idx: 0, delta: [0; 16] }]);
    }

    #[test]
    fn delta_overflow_is_an_error() {
        // Distinct addresses cannot overflow (at most 4096 rows per bucket); repeated ones can,
        // and `build` never produces them, but the encoder must still refuse rather than wrap.
        let mut addrs = vec![0x1000u64];
        addrs.extend(std::iter::repeat_n(0x1001u64, 70_000));
        let err = buckets(&addrs).unwrap_err();
        assert!(err.contains("bucket 0 sub-bucket 1"), "{err}");
    }

    #[test]
    fn lookup_matches_linear_scan_everywhere() {
        let addrs =
            [0x40_1010u64, 0x40_1020, 0x40_1100, 0x40_10ff, 0x40_1fff, 0x40_3000, 0x40_5008];
        let mut addrs = addrs.to_vec();
        addrs.sort();
        let b = buckets(&addrs).unwrap();
        let o = offs(&addrs);
        let l = Lookup { base: addrs[0], entry_offs: &o, buckets: &b };
        for pc in 0x40_0f00..0x40_6000u64 {
            let expect = addrs.iter().rposition(|&a| a <= pc);
            assert_eq!(l.find(pc), expect, "pc {pc:#x}");
        }
    }
}
