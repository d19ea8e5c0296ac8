//! The self-check's lookup sweep (`findfunc::Lookup::check_every_pc`) against corrupted find
//! indexes in a real program: a fixture linked with clang-19 and ld.lld-19, rewritten by
//! `llgo-ld rewrite`, then one bucket field at a time overwritten in the file. Four judges
//! that do not share code with the sweep look at every corrupted copy:
//!
//! - this file's own transcription of the LLGo runtime's lookup (`runtimePCFindRange` and the
//!   binary search of `prebuiltFrameIndex`, runtime/internal/lib/runtime/symtab.go), asked at
//!   every single pc from the first row to the end of `.text`: the sweep's verdict and first
//!   wrong pc must be exactly its;
//! - the point checks `verify` made before the sweep (each row's first, middle and last byte):
//!   whatever they reject, the sweep rejects;
//! - the program itself: rtcheck.c adopts the table like the runtime and looks up every
//!   function at its start, one byte in and its last byte; when it finds a wrong answer, the
//!   sweep rejects;
//! - `llgo-ld verify`: it refuses every corrupted copy (the index is not the one the rows
//!   imply), including those whose every lookup is still right.

mod support;

use std::path::Path;

use llgo_ld::table::encode::Blob;
use llgo_ld::table::findfunc::SweepError;
use support::*;

/// The runtime's lookup over the blob bytes (`blob` starts at the LLGOFTB1 header), at the
/// runtime pc `pc`: the row index, or `None` (-1). Read straight from the bytes.
fn runtime_find(blob: &[u8], pc: u64) -> Option<usize> {
    let u32_at = |off: usize| u32::from_le_bytes(blob[off..off + 4].try_into().unwrap());
    let u16_at = |off: usize| u16::from_le_bytes(blob[off..off + 2].try_into().unwrap());
    let base = u64::from_le_bytes(blob[16..24].try_into().unwrap());
    let count = u32_at(24) as usize;
    let nbuckets = u32_at(28) as u64;
    let n = count - 1; // prebuiltFrameCount: the sentinel is not searched
    let entry_off = |i: usize| u32_at(32 + 8 * i);
    let bucket_at = 32 + 8 * count;
    if n == 0 || pc < base {
        return None;
    }
    let off = (pc - base) as u32;
    let (mut lo, mut hi) = (0usize, n);
    // runtimePCFindRange
    let index_base = base & !4095;
    let bucket = (pc - index_base) / 4096;
    if nbuckets != 0 && bucket < nbuckets {
        let sub = ((pc - index_base) % 4096 / 256) as usize;
        let b = bucket_at + 36 * bucket as usize;
        let idx = u32_at(b) as usize;
        let mut l = idx + u16_at(b + 4 + 2 * sub) as usize;
        let mut h = n;
        if sub + 1 < 16 {
            h = idx + u16_at(b + 4 + 2 * (sub + 1)) as usize;
        } else if bucket + 1 < nbuckets {
            h = u32_at(b + 36) as usize;
        }
        l = l.saturating_sub(1); // if lo > 0 { lo-- }
        if h < l {
            h = l;
        }
        h += 2;
        if h > n {
            h = n;
        }
        if l > n {
            l = n;
        }
        (lo, hi) = (l, h);
    }
    // prebuiltFrameIndex's binary search
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry_off(mid) > off {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let idx = lo.checked_sub(1)?;
    (entry_off(idx) <= off).then_some(idx)
}

/// `(pc, answer, owner)` of the first pc from the first row up to `text_end` that the runtime
/// answers with another row than the one owning it.
fn first_wrong(blob: &[u8], rows: &[u64], text_end: u64) -> Option<(u64, Option<usize>, usize)> {
    let mut owner = 0;
    (rows[0]..text_end).find_map(|pc| {
        while rows.get(owner + 1).is_some_and(|&r| r <= pc) {
            owner += 1;
        }
        let got = runtime_find(blob, pc);
        (got != Some(owner)).then_some((pc, got, owner))
    })
}

/// Whether the former point checks (three lookups per row) find a wrong answer.
fn point_checks_reject(blob: &[u8], rows: &[u64], text_end: u64) -> bool {
    rows.iter().enumerate().any(|(i, &addr)| {
        let next = rows.get(i + 1).copied().unwrap_or(text_end);
        [addr, addr + (next - addr) / 2, next - 1]
            .iter()
            .any(|&pc| runtime_find(blob, pc) != Some(i))
    })
}

/// One corruption: which bucket field gets which value, computed from the stored index.
struct Case {
    what: &'static str,
    /// Bucket number and `None` for its idx, `Some(s)` for sub-bucket delta `s`.
    field: (usize, Option<usize>),
    /// The new value from the stored `(idx, deltas)` of the bucket.
    value: fn(u32, [u16; 16]) -> u32,
    /// What the runtime does with it: some pc answered wrongly (by the reasoning in each case).
    wrong: bool,
}

#[test]
fn sweep_agrees_with_the_runtime_on_corrupted_indexes() {
    let dir = scratch_dir("lookup_sweep");
    // About one function every 300 bytes: a row or two per sub-bucket, six buckets.
    let spec = FixtureSpec { filler: 200, funcs: 24, noinline: true, ..FixtureSpec::MATRIX };
    let built = build_fixture(&dir, &spec, Toolchain::ClangLld, Opt::O1, false);
    let out = llgo_ld(["rewrite".as_ref(), built.exe.as_os_str()]);
    assert!(out.status.success(), "rewrite: {}", show(&out));
    let run = run_program(&built.exe, built.arch);
    assert!(run.status.success(), "rtcheck on the rewritten program: {}", show(&run));

    let table = read_table(&built.exe);
    let home = if table.spilled { &table.facts.stub } else { &table.facts.entry };
    let rows: Vec<u64> = table.rows.iter().map(|r| r.0).collect();
    let text_end = table.facts.text_end;
    let n = rows.len();
    let nb = table.buckets as usize;
    let bucket_at = 32 + 8 * (n + 1);
    let stored = |blob: &[u8], b: usize| {
        let at = bucket_at + 36 * b;
        let idx = u32::from_le_bytes(blob[at..at + 4].try_into().unwrap());
        let d: [u16; 16] = std::array::from_fn(|s| {
            u16::from_le_bytes(blob[at + 4 + 2 * s..at + 6 + 2 * s].try_into().unwrap())
        });
        (idx, d)
    };
    assert!(nb >= 6, "the fixture needs several buckets, has {nb}");
    assert_eq!(first_wrong(&home.bytes, &rows, text_end), None, "the rewritten index");
    // The cases' reasoning needs a middle bucket well inside the rows.
    let mid = nb / 2;
    let (mid_idx, mid_delta) = stored(&home.bytes, mid);
    assert!(mid_idx as usize >= 2 + mid_delta[1] as usize && (mid_idx as usize) + 20 < n);
    assert!(mid_delta[8] >= 3, "sub-bucket 8 of bucket {mid}: {mid_delta:?}");
    let (last_idx, last_delta) = stored(&home.bytes, nb - 1);
    assert!(last_idx as usize >= 2 + last_delta[1] as usize);

    let cases = [
        // Bucket `mid` sub-bucket 0 searches [0, delta[1] + 2), below the rows it holds.
        Case { what: "idx 0", field: (mid, None), value: |_, _| 0, wrong: true },
        // Sub-bucket 0's window starts at idx + 2, above its first pc's owner idx.
        Case { what: "idx + 3", field: (mid, None), value: |i, _| i + 3, wrong: true },
        // Within the runtime's slack: the window is [lo - 1, hi + 2).
        Case { what: "idx + 2", field: (mid, None), value: |i, _| i + 2, wrong: false },
        // The previous bucket's last sub-bucket ends its window at this idx + 2 - 1, still
        // past the last row before this bucket.
        Case {
            what: "idx - 1 at the bucket boundary",
            field: (mid, None),
            value: |i, _| i - 1,
            wrong: false,
        },
        // Sub-bucket 8's window starts two rows past its first pc's owner.
        Case {
            what: "delta + 3",
            field: (mid, Some(8)),
            value: |_, d| u32::from(d[8]) + 3,
            wrong: true,
        },
        Case {
            what: "delta + 2",
            field: (mid, Some(8)),
            value: |_, d| u32::from(d[8]) + 2,
            wrong: false,
        },
        // Sub-bucket 7's window ends at delta[8] - 1, below its last pc's owner.
        Case {
            what: "delta - 3",
            field: (mid, Some(8)),
            value: |_, d| u32::from(d[8]) - 3,
            wrong: true,
        },
        // The last bucket's sub-bucket 0 searches [0, delta[1] + 2).
        Case { what: "last bucket idx 0", field: (nb - 1, None), value: |_, _| 0, wrong: true },
        Case {
            what: "last bucket's last delta 0",
            field: (nb - 1, Some(15)),
            value: |_, _| 0,
            wrong: false,
        },
    ];
    let original = std::fs::read(&built.exe).unwrap();
    for (k, case) in cases.iter().enumerate() {
        let (b, field) = case.field;
        let (idx, delta) = stored(&home.bytes, b);
        let value = (case.value)(idx, delta);
        let mut blob = home.bytes.clone();
        let at = bucket_at + 36 * b;
        match field {
            None => blob[at..at + 4].copy_from_slice(&value.to_le_bytes()),
            Some(s) => blob[at + 4 + 2 * s..at + 6 + 2 * s]
                .copy_from_slice(&u16::try_from(value).unwrap().to_le_bytes()),
        }
        let what = format!(
            "bucket {b} {} ({} -> {value})",
            case.what,
            match field {
                None => idx,
                Some(s) => u32::from(delta[s]),
            }
        );

        // The runtime at every pc, and the sweep.
        let every = first_wrong(&blob, &rows, text_end);
        assert_eq!(every.is_some(), case.wrong, "{what}: the runtime at every pc: {every:x?}");
        let parsed = Blob::parse(&blob).unwrap();
        let offs = parsed.entry_offs();
        let sweep = parsed.lookup(&offs).check_every_pc(u64::from(table.sentinel_off));
        match (sweep, every) {
            (Ok(()), None) => {}
            (Err(SweepError::Wrong { pc, got, want, .. }), Some(e)) => {
                assert_eq!((pc, got, want), e, "{what}: first wrong pc")
            }
            (s, e) => panic!("{what}: sweep {s:?}, the runtime at every pc {e:x?}"),
        }
        let points = point_checks_reject(&blob, &rows, text_end);
        if points {
            assert!(sweep.is_err(), "{what}: the point checks reject, the sweep does not");
        }

        // The corrupted file: the program's own lookups, and `llgo-ld verify`.
        let mut data = original.clone();
        data[home.offset..home.offset + blob.len()].copy_from_slice(&blob);
        let exe = dir.join(format!("corrupt{k}"));
        write_executable(&exe, &data);
        let run = run_program(&exe, built.arch);
        if !run.status.success() {
            assert!(sweep.is_err(), "{what}: rtcheck fails, the sweep passes: {}", show(&run));
        }
        eprintln!(
            "{what}: sweep {}, point checks {}, rtcheck {}",
            if sweep.is_err() { "rejects" } else { "accepts" },
            if points { "reject" } else { "accept" },
            if run.status.success() { "ok" } else { "fails" }
        );
        let v = llgo_ld(["verify".as_ref(), exe.as_os_str()]);
        let text = show(&v);
        assert!(!v.status.success(), "{what}: verify accepts: {text}");
        assert!(text.contains("find index differs"), "{what}: {text}");
        assert!(text.contains(&format!("bucket {b} is")), "{what}: names the bucket: {text}");
        let _ = std::fs::remove_file(Path::new(&exe));
    }
}
