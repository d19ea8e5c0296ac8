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

/// Rows are `u32` offsets from the base, so a table spans at most 4 GiB: 2^20 buckets.
pub const MAX_BUCKETS: u64 = 1 << 20;

/// How many buckets rows from `base` to `last` need, if the span is representable.
pub fn bucket_count(base: u64, last: u64) -> Option<u64> {
    let aligned = base & !(BUCKET_SIZE - 1);
    let count = last.checked_sub(aligned)? / BUCKET_SIZE + 1;
    (count <= MAX_BUCKETS).then_some(count)
}

/// The buckets over sorted row addresses, one at a time in address order, handed to `emit`
/// with their number; `emit` returning `false` stops early. One forward pass: the row cursor
/// only moves up, as the bucket and sub-bucket starts do, so the whole index costs
/// `O(rows + 16 * buckets)`. `Err` names the bucket whose delta or index does not fit its
/// field, or the span that no bucket count can cover.
fn each_bucket(addrs: &[u64], mut emit: impl FnMut(u64, Bucket) -> bool) -> Result<(), String> {
    let (Some(&base), Some(&last)) = (addrs.first(), addrs.last()) else {
        return Ok(());
    };
    if addrs.iter().zip(addrs.iter().skip(1)).any(|(a, b)| a > b) {
        return Err("row addresses are not sorted".into());
    }
    let aligned = base & !(BUCKET_SIZE - 1);
    let count = bucket_count(base, last)
        .ok_or_else(|| format!("rows from {base:#x} to {last:#x} span more than 4 GiB"))?;
    // `after`: how many rows start at or before the last point asked; the row the runtime's
    // builder takes for that point is `after - 1`, clamped to 0 (no row starts at or before it).
    let mut after = 0usize;
    let mut last_le = |a: u64| {
        while addrs.get(after).is_some_and(|&x| x <= a) {
            after += 1;
        }
        after.saturating_sub(1)
    };
    for b in 0..count {
        let start = aligned + BUCKET_SIZE * b;
        let idx = last_le(start);
        let mut delta = [0u16; 16];
        for (s, d) in delta.iter_mut().enumerate() {
            let diff = last_le(start + SUB_BUCKET_SIZE * s as u64) - idx;
            *d = u16::try_from(diff).map_err(|_| {
                format!("bucket {b} sub-bucket {s}: {diff} rows do not fit a 16-bit delta")
            })?;
        }
        let idx = u32::try_from(idx).map_err(|_| format!("bucket {b}: row index overflows u32"))?;
        if !emit(b, Bucket { idx, delta }) {
            break;
        }
    }
    Ok(())
}

/// Builds the buckets over sorted row addresses. `Err` names the bucket whose delta or index
/// does not fit its field, or the span that no bucket count can cover.
pub fn buckets(addrs: &[u64]) -> Result<Vec<Bucket>, String> {
    let mut out = Vec::new();
    each_bucket(addrs, |_, b| {
        out.push(b);
        true
    })?;
    Ok(out)
}

/// Where a stored find index departs from the one [`buckets`] builds over the same rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexDifference {
    /// `stored` buckets where the rows imply `expected`.
    Count { stored: usize, expected: usize },
    /// The first bucket whose contents differ.
    Bucket { index: u64, stored: Bucket, expected: Bucket },
}

/// Compares `stored` with the index [`buckets`] would build over `addrs`, without building it:
/// `Ok(None)` when they are equal. `Err` as for [`buckets`].
pub fn index_difference(
    addrs: &[u64],
    stored: &[Bucket],
) -> Result<Option<IndexDifference>, String> {
    let expected = match (addrs.first(), addrs.last()) {
        (Some(&base), Some(&last)) => bucket_count(base, last).map_or(0, |n| n as usize),
        _ => 0,
    };
    let mut found = None;
    each_bucket(addrs, |b, bucket| match stored.get(b as usize) {
        Some(s) if *s == bucket => true,
        Some(s) => {
            found = Some(IndexDifference::Bucket { index: b, stored: *s, expected: bucket });
            false
        }
        None => false,
    })?;
    if stored.len() != expected {
        return Ok(Some(IndexDifference::Count { stored: stored.len(), expected }));
    }
    Ok(found)
}

/// A table as the runtime sees it: rows as `(entryOff, funcIndex)` without the sentinel.
pub struct Lookup<'t> {
    pub base: u64,
    pub entry_offs: &'t [u32],
    pub buckets: &'t [Bucket],
}

/// Why [`Lookup::check_every_pc`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepError {
    /// Rows `row` and `row + 1` are not strictly ascending.
    NotAscending { row: usize },
    /// The rows run past the end of the address space from `base`.
    Wraps { last_off: u64 },
    /// The lookup of `pc` (runtime address) answers `got`, the row owning it is `want`; `wrong`
    /// sub-buckets in all hold such a pc (`pc` is in the first).
    Wrong { pc: u64, got: Option<usize>, want: usize, wrong: usize },
}

impl Lookup<'_> {
    /// The rows the runtime searches for a pc in sub-bucket `sub` of bucket `b`
    /// (`runtimePCFindRange`), or `None` when the index has no such bucket and the whole table
    /// is searched.
    // `b < buckets.len()` and `sub < 16` are checked before indexing
    #[allow(clippy::indexing_slicing)]
    fn window(&self, b: u64, sub: usize) -> Option<(usize, usize)> {
        let n = self.entry_offs.len();
        if b >= self.buckets.len() as u64 || sub >= SUB_BUCKETS as usize {
            return None;
        }
        let b = b as usize;
        let bk = &self.buckets[b];
        let mut lo = bk.idx as usize + bk.delta[sub] as usize;
        let mut hi = if sub == 15 {
            self.buckets.get(b + 1).map_or(n, |next| next.idx as usize)
        } else {
            bk.idx as usize + bk.delta[sub + 1] as usize
        };
        lo = lo.saturating_sub(1);
        hi = hi.max(lo);
        hi += 2;
        Some((lo.min(n), hi.min(n)))
    }

    /// The runtime's lookup, step for step: returns the row index for `pc`, if any.
    // `lo..hi` is bounded against `entry_offs` by `window`, `row < p <= entry_offs.len()`
    #[allow(clippy::indexing_slicing)]
    pub fn find(&self, pc: u64) -> Option<usize> {
        let n = self.entry_offs.len();
        if pc < self.base {
            return None;
        }
        let aligned = self.base & !(BUCKET_SIZE - 1);
        let bucket = (pc - aligned) / BUCKET_SIZE;
        let sub = (((pc - aligned) % BUCKET_SIZE) / SUB_BUCKET_SIZE) as usize;
        let (lo, hi) = self.window(bucket, sub).unwrap_or((0, n));
        let off = (pc - self.base) as u32;
        let window = &self.entry_offs[lo..hi.max(lo)];
        let p = lo + window.partition_point(|&e| e <= off);
        let row = p.checked_sub(1)?;
        (self.entry_offs[row] <= off).then_some(row)
    }

    /// Proves that [`find`](Self::find) answers the owning row (the last row starting at or
    /// before it) for every pc from the first row's start up to `base + end_off` (the text
    /// end: the sentinel), and for the last row's start if that is not below it: one sweep in
    /// address order instead of a lookup per pc.
    ///
    /// The rows are checked strictly ascending first. Then within one sub-bucket the runtime
    /// binary-searches one fixed window `[lo, hi)` ([`window`](Self::window)) of ascending
    /// rows, so for a pc owned by row `r` it finds the partition point `clamp(r + 1, lo, hi)`
    /// and answers `r` exactly when `lo <= r + 1 <= hi`: a row below the window answers `None`
    /// (`entry_offs[lo - 1] > pc`), a row above it answers `hi - 1`. As `r` only grows with
    /// the pc, every pc of the sub-bucket is answered right iff the owner of its first pc is
    /// `>= lo - 1` and the owner of its last pc is `< hi`: two rows per sub-bucket, found by a
    /// cursor that only moves forward. Past the index's last bucket the whole table is
    /// searched, which is right for ascending rows.
    // the cursor `r` stays below `n` (`get` guards every step), `hi < n` where it is indexed
    #[allow(clippy::indexing_slicing)]
    pub fn check_every_pc(&self, end_off: u64) -> Result<(), SweepError> {
        let e = self.entry_offs;
        let (Some(&first), Some(&last)) = (e.first(), e.last()) else {
            return Ok(());
        };
        if let Some(row) = e.iter().zip(e.iter().skip(1)).position(|(a, b)| a >= b) {
            return Err(SweepError::NotAscending { row });
        }
        let first = u64::from(first);
        let end = end_off.max(u64::from(last) + 1);
        if self.base.checked_add(end - 1).is_none() {
            return Err(SweepError::Wraps { last_off: end - 1 });
        }
        let aligned = self.base & !(BUCKET_SIZE - 1);
        let skew = self.base - aligned;
        // Sub-bucket positions counted from `aligned`; offsets from `base` are `q - skew`.
        let (mut q, q_end) = (first + skew, end + skew);
        let mut r = 0usize;
        let mut owner = |off: u64| {
            while e.get(r + 1).is_some_and(|&x| u64::from(x) <= off) {
                r += 1;
            }
            r
        };
        let mut wrong = 0usize;
        let mut first_wrong: Option<(u64, usize)> = None;
        while q < q_end {
            let k = q / SUB_BUCKET_SIZE;
            let (bucket, sub) = (k / SUB_BUCKETS, (k % SUB_BUCKETS) as usize);
            let Some((lo, hi)) = self.window(bucket, sub) else {
                break; // the whole table is searched from here on
            };
            let seg_end = ((k + 1) * SUB_BUCKET_SIZE).min(q_end);
            let (off_first, off_last) = (q - skew, seg_end - 1 - skew);
            let r_first = owner(off_first);
            let r_last = owner(off_last);
            if lo > r_first + 1 || r_last >= hi {
                wrong += 1;
                if first_wrong.is_none() {
                    // The first pc the window misses: the sub-bucket's first, or else the
                    // start of row `hi`, the first row past the window (`hi <= r_last < n`).
                    first_wrong = Some(if lo > r_first + 1 || r_first >= hi {
                        (off_first, r_first)
                    } else {
                        (u64::from(e[hi]), hi)
                    });
                }
            }
            q = seg_end;
        }
        match first_wrong {
            None => Ok(()),
            Some((off, want)) => {
                let pc = self.base + off;
                Err(SweepError::Wrong { pc, got: self.find(pc), want, wrong })
            }
        }
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

    /// The first pc in `[base + offs[0], base + end)` (and the last row's start) that `find`
    /// answers with another row than the owner, by asking `find` for every single pc.
    fn brute_first_wrong(l: &Lookup<'_>, end: u64) -> Option<(u64, Option<usize>, usize)> {
        let o = l.entry_offs;
        let end = end.max(u64::from(*o.last().unwrap()) + 1);
        let mut want = 0;
        (u64::from(o[0])..end).find_map(|off| {
            while o.get(want + 1).is_some_and(|&e| u64::from(e) <= off) {
                want += 1;
            }
            let got = l.find(l.base + off);
            (got != Some(want)).then_some((l.base + off, got, want))
        })
    }

    /// The pcs that `verify`'s former point checks found wrong: three lookups per row (its
    /// first byte, its middle, its last byte before the next row or the end).
    fn point_checks(l: &Lookup<'_>, end: u64) -> Vec<u64> {
        let o = l.entry_offs;
        let mut wrong = Vec::new();
        for (i, &e) in o.iter().enumerate() {
            let addr = u64::from(e);
            let next = o.get(i + 1).map_or(end, |&n| u64::from(n));
            for off in
                [addr, addr + next.saturating_sub(addr) / 2, next.saturating_sub(1).max(addr)]
            {
                if l.find(l.base + off) != Some(i) {
                    wrong.push(l.base + off);
                }
            }
        }
        wrong
    }

    /// The sweep says exactly what asking `find` at every pc says, and rejects whatever the
    /// former point checks rejected (which see a subset of the pcs). Returns whether the point
    /// checks missed a table the sweep rejects.
    fn assert_sweep_agrees(l: &Lookup<'_>, end: u64, what: &str) -> bool {
        let brute = brute_first_wrong(l, end);
        let sweep = l.check_every_pc(end);
        match (sweep, brute) {
            (Ok(()), None) => {}
            (Err(SweepError::Wrong { pc, got, want, .. }), Some(b)) => {
                assert_eq!((pc, got, want), b, "{what}")
            }
            (sweep, brute) => panic!("{what}: sweep {sweep:?}, every pc {brute:?}"),
        }
        let points = point_checks(l, end);
        if let Some(&first) = points.first() {
            let sweep_pc = match sweep {
                Err(SweepError::Wrong { pc, .. }) => pc,
                other => panic!("{what}: the point checks find {first:#x} wrong, sweep {other:?}"),
            };
            assert!(sweep_pc <= first, "{what}: the sweep's first wrong pc comes later");
        }
        sweep.is_err() && points.is_empty()
    }

    /// xorshift64*, seeded: the same tables on every run.
    fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move |n| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
        }
    }

    #[test]
    fn sweep_agrees_with_every_lookup_on_corrupted_indexes() {
        let (mut rejected, mut missed) = (0, 0);
        for seed in 0..300u64 {
            let mut r = rng(seed);
            // Rows: dense runs (several per sub-bucket), sparse gaps (empty buckets), a base
            // anywhere in its bucket.
            let base = 0x40_0000 + r(4096);
            let mut addrs = vec![base];
            for _ in 0..(1 + r(60)) {
                let gap = match r(4) {
                    0 => 1 + r(8),
                    1 => 1 + r(300),
                    2 => 1 + r(3000),
                    _ => 4096 + r(9000),
                };
                addrs.push(addrs.last().unwrap() + gap);
            }
            let end = addrs.last().unwrap() - base + 1 + r(600);
            let good = buckets(&addrs).unwrap();
            let o = offs(&addrs);
            let l = Lookup { base, entry_offs: &o, buckets: &good };
            assert_eq!(l.check_every_pc(end), Ok(()), "seed {seed}: the built index");
            // One corruption per seed: an idx or a delta moved up or down by a little or a lot,
            // a bucket dropped or added, the base slid inside its page.
            let mut bad = good.clone();
            let b = r(bad.len() as u64) as usize;
            let step = [1i64, -1, 2, -2, 5, -7, 40][r(7) as usize];
            let nudge = |v: u64| u64::try_from(v as i64 + step).unwrap_or(0);
            let mut l_base = base;
            match r(6) {
                0 => bad[b].idx = nudge(u64::from(bad[b].idx)) as u32,
                1 | 2 => {
                    let s = r(16) as usize;
                    bad[b].delta[s] = nudge(u64::from(bad[b].delta[s])) as u16;
                }
                3 => {
                    bad.pop();
                }
                4 => bad.push(Bucket { idx: o.len() as u32 - 1, delta: [0; 16] }),
                _ => l_base = base + r(64),
            }
            let l = Lookup { base: l_base, entry_offs: &o, buckets: &bad };
            missed += usize::from(assert_sweep_agrees(&l, end, &format!("seed {seed}")));
            rejected += usize::from(l.check_every_pc(end).is_err());
        }
        // The corruptions are not all harmless (many only widen a window), and some are wrong
        // only at pcs that no row's first, middle or last byte is.
        assert!(rejected > 50, "only {rejected} of 300 corrupted indexes are wrong anywhere");
        assert!(missed > 0, "no corruption escaped the point checks: the table is too easy");
    }

    #[test]
    fn sweep_table_of_corruptions() {
        // Rows 0-4 packed into sub-bucket 0, row 5 on the edge of sub-bucket 1, row 6 a byte
        // before bucket 1, rows 7-10 packed at the start of bucket 1, row 11 in the last bucket.
        let addrs = [
            0x40_1000u64,
            0x40_1010,
            0x40_1020,
            0x40_1030,
            0x40_1040,
            0x40_1100,
            0x40_1fff,
            0x40_2000,
            0x40_2010,
            0x40_2020,
            0x40_2030,
            0x40_4800,
        ];
        let good = buckets(&addrs).unwrap();
        let d = |first: u16, rest: u16, from: usize| {
            let mut d = [rest; 16];
            d[..from].fill(first);
            d
        };
        // By hand: the last row at or before each bucket / sub-bucket start.
        assert_eq!(
            good,
            vec![
                Bucket { idx: 0, delta: d(0, 5, 1) },
                Bucket { idx: 7, delta: d(0, 3, 1) },
                Bucket { idx: 10, delta: [0; 16] },
                Bucket { idx: 10, delta: d(0, 1, 8) },
            ]
        );
        let o = offs(&addrs);
        let end = 0x40_5000 - addrs[0];
        type Edit = fn(&mut Vec<Bucket>);
        type FirstWrong = Option<(u64, Option<usize>, usize)>;
        // (what, corruption, the first wrong pc with the row the runtime answers and the owner,
        // worked out by hand from runtimePCFindRange's window `[lo - 1, hi + 2)`).
        let table: [(&str, Edit, FirstWrong); 10] = [
            // Bucket 0's last sub-bucket ends its window at bucket 1's idx: [4, 6) misses row 6.
            (
                "bucket idx too low, seen at the bucket boundary",
                |b| b[1].idx = 4,
                Some((0x40_1fff, Some(5), 6)),
            ),
            // Bucket 1 sub-bucket 0: window [9, 12) starts above row 7.
            ("bucket idx too high", |b| b[1].idx = 10, Some((0x40_2000, None, 7))),
            // Bucket 0 sub-bucket 1: window [7, 9) starts above row 5.
            ("sub-bucket delta too high", |b| b[0].delta[1] = 8, Some((0x40_1100, None, 5))),
            // Bucket 0 sub-bucket 0: window [0, 3) ends below row 3.
            ("sub-bucket delta too low", |b| b[0].delta[1] = 1, Some((0x40_1030, Some(2), 3))),
            // The last bucket: window [12, 12) for its first half, whose pcs row 10 owns.
            ("last bucket's idx too high", |b| b[3].idx = 13, Some((0x40_4000, None, 10))),
            // Within the runtime's slack (one row below, two above): every pc still right.
            ("bucket idx one too low", |b| b[1].idx = 6, None),
            ("sub-bucket delta two too high", |b| b[0].delta[1] = 7, None),
            ("last bucket's idx one too high", |b| b[3].idx = 11, None),
            ("last sub-bucket's delta too low", |b| b[0].delta[15] = 0, None),
            // No last bucket: its pcs search the whole table.
            (
                "last bucket dropped",
                |b| {
                    b.pop();
                },
                None,
            ),
        ];
        for (what, edit, want) in table {
            let mut bad = good.clone();
            edit(&mut bad);
            let l = Lookup { base: addrs[0], entry_offs: &o, buckets: &bad };
            assert_eq!(brute_first_wrong(&l, end), want, "{what}: every pc");
            assert_sweep_agrees(&l, end, what);
            // Harmless or not, the index is not the one the rows imply: verify refuses it.
            assert!(index_difference(&addrs, &bad).unwrap().is_some(), "{what}");
        }
    }

    #[test]
    fn sweep_refuses_unsorted_rows_and_wrapping() {
        let o = [0u32, 0x10, 0x10];
        let b = [Bucket { idx: 0, delta: [0; 16] }];
        let l = Lookup { base: 0x1000, entry_offs: &o, buckets: &b };
        assert_eq!(l.check_every_pc(0x20), Err(SweepError::NotAscending { row: 1 }));
        let o = [0u32, 0x10];
        let l = Lookup { base: u64::MAX - 0x10, entry_offs: &o, buckets: &b };
        assert_eq!(l.check_every_pc(0x20), Err(SweepError::Wraps { last_off: 0x1f }));
    }

    #[test]
    fn index_difference_names_the_first_bucket() {
        let addrs = [0x40_1010u64, 0x40_1100, 0x40_1fff, 0x40_3000];
        let good = buckets(&addrs).unwrap();
        assert_eq!(index_difference(&addrs, &good), Ok(None));
        let mut bad = good.clone();
        bad[1].delta[3] = 1;
        bad[2].idx = 0;
        assert_eq!(
            index_difference(&addrs, &bad),
            Ok(Some(IndexDifference::Bucket { index: 1, stored: bad[1], expected: good[1] }))
        );
        assert_eq!(
            index_difference(&addrs, &good[..2]),
            Ok(Some(IndexDifference::Count { stored: 2, expected: 3 }))
        );
        let mut more = good.clone();
        more.push(good[2]);
        assert_eq!(
            index_difference(&addrs, &more),
            Ok(Some(IndexDifference::Count { stored: 4, expected: 3 }))
        );
    }
}
