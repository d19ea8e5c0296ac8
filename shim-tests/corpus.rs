//! The real-LLGo corpus (shim-tests/corpus, see its README): executables built by LLGo
//! 066a72125 (generation 1) and 3e0fdda00 (generation 2), each as the linker wrote it and as
//! LLGo's own post-link step left it. Every case drives the `llgo-ld` binary from the command
//! line and judges its output with means of its own: goblin for section offsets, a table reader
//! written here from FORMAT.md 3.1, byte comparisons with LLGo's output, and the programs' own
//! run-time check (`PASS`, and the runtime's `entries= prebuilt` line under
//! `LLGO_FUNCINFO_DEBUG=1`).
//!
//! Each compressed sample is decompressed once per test process (with the `xz` binary) into
//! `target/shim-tests/corpus-samples/`; every case works on its own copy.

mod support;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::sync::OnceLock;

use support::*;

const ENTRY: &str = "llgo_funcinfo_entry";
const GEN1: &str = "llgo-066a72125";
const GEN2: &str = "llgo-3e0fdda00";

// ---- Samples --------------------------------------------------------------------------------

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/corpus")
}

/// The decompressed `corpus/<generation>/<name>.xz`, made once per test process.
fn sample(generation: &str, name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    static DONE: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let dir = DIR.get_or_init(|| scratch_dir("corpus-samples"));
    let key = format!("{generation}/{name}");
    // Held while decompressing: two cases wanting the same sample wait for one `xz`.
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = done.get(&key) {
        return path.clone();
    }
    let src = corpus_dir().join(generation).join(format!("{name}.xz"));
    assert!(src.is_file(), "{} is missing from the repository", src.display());
    let out = Command::new(require_tool("xz"))
        .arg("-dc")
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("running xz on {}: {e}", src.display()));
    assert!(out.status.success(), "xz -dc {}\n{}", src.display(), show(&out));
    let path = dir.join(format!("{generation}-{name}"));
    write_executable(&path, &out.stdout);
    done.insert(key, path.clone());
    path
}

/// A private, writable copy of a sample in the case's scratch directory.
fn copy_of(generation: &str, name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(sample(generation, name), &to).expect("copying a sample");
    to
}

// ---- Helpers --------------------------------------------------------------------------------

/// Runs a corpus program with `LLGO_FUNCINFO_DEBUG=1` and requires its own check to pass
/// (`PASS` as the last stdout line) with the runtime having adopted the prebuilt table.
fn run_passes_with_prebuilt_table(exe: &Path) {
    let out =
        output_retrying(Command::new(exe).env("LLGO_FUNCINFO_DEBUG", "1")).unwrap_or_else(|e| {
            panic!("running {}: {e} (run-time libraries: scripts/setup.sh)", exe.display())
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} exited badly\n{}", exe.display(), show(&out));
    assert_eq!(
        stdout.lines().last(),
        Some("PASS"),
        "{}: last stdout line is not PASS\n{}",
        exe.display(),
        show(&out)
    );
    assert!(
        stdout.contains("entries= prebuilt") || stderr.contains("entries= prebuilt"),
        "{}: the runtime did not adopt the prebuilt table\n{}",
        exe.display(),
        show(&out)
    );
}

/// The maximal ranges of byte offsets where `a` and `b` differ (over the shorter length).
fn differing_ranges(a: &[u8], b: &[u8]) -> Vec<Range<usize>> {
    let mut ranges: Vec<Range<usize>> = vec![];
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x == y {
            continue;
        }
        match ranges.last_mut() {
            Some(r) if r.end == i => r.end = i + 1,
            _ => ranges.push(i..i + 1),
        }
    }
    ranges
}

/// A section's link-time address, file offset and size, read with goblin.
#[derive(Clone, Copy, Debug)]
struct Sect {
    addr: u64,
    offset: usize,
    size: usize,
}

fn section(data: &[u8], name: &str) -> Option<Sect> {
    let elf = goblin::elf::Elf::parse(data).expect("goblin parses the executable");
    elf.section_headers.iter().find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name)).map(
        |sh| Sect { addr: sh.sh_addr, offset: sh.sh_offset as usize, size: sh.sh_size as usize },
    )
}

fn must_section(data: &[u8], name: &str, what: &str) -> Sect {
    section(data, name).unwrap_or_else(|| panic!("{what}: no section {name}"))
}

/// Addresses inside .text that carry more than one FUNC symbol (ICF-folded aliases), and the
/// end of .text.
fn alias_addresses(data: &[u8]) -> (BTreeSet<u64>, u64) {
    let elf = goblin::elf::Elf::parse(data).expect("goblin parses the executable");
    let text = must_section(data, ".text", "alias_addresses");
    let range = text.addr..text.addr + text.size as u64;
    let mut names: BTreeMap<u64, usize> = BTreeMap::new();
    for sym in elf.syms.iter() {
        if sym.st_type() == goblin::elf::sym::STT_FUNC && range.contains(&sym.st_value) {
            *names.entry(sym.st_value).or_default() += 1;
        }
    }
    (names.into_iter().filter(|&(_, n)| n > 1).map(|(a, _)| a).collect(), range.end)
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().expect("2 bytes"))
}

const MAGIC_TABLE: u64 = 0x3142_5446_4F47_4C4C; // "LLGOFTB1"

/// An `LLGOFTB1` blob (FORMAT.md 3.1), read from the section bytes.
#[derive(Debug)]
struct Blob {
    link_sect_addr: u64,
    base: u64,
    /// (address, funcIndex) of every real row, sentinel excluded.
    rows: Vec<(u64, u32)>,
    sentinel: (u32, u32),
    /// `(idx, delta[16])` of every bucket.
    buckets: Vec<(u32, [u16; 16])>,
    /// `32 + 8 * count + 36 * bucketCount`.
    need: usize,
}

fn read_blob(section: &[u8], what: &str) -> Blob {
    assert!(section.len() >= 32, "{what}: section of {} bytes has no blob header", section.len());
    assert_eq!(u64_at(section, 0), MAGIC_TABLE, "{what}: no LLGOFTB1 magic");
    let count = u32_at(section, 24) as usize;
    let bucket_count = u32_at(section, 28) as usize;
    let need = 32 + 8 * count + 36 * bucket_count;
    assert!(count >= 2 && need <= section.len(), "{what}: count {count}, buckets {bucket_count}");
    let base = u64_at(section, 16);
    let rows = (0..count - 1)
        .map(|i| (base + u64::from(u32_at(section, 32 + 8 * i)), u32_at(section, 36 + 8 * i)))
        .collect();
    let s = 32 + 8 * (count - 1);
    let buckets = (0..bucket_count)
        .map(|b| {
            let off = 32 + 8 * count + 36 * b;
            (u32_at(section, off), std::array::from_fn(|k| u16_at(section, off + 4 + 2 * k)))
        })
        .collect();
    Blob {
        link_sect_addr: u64_at(section, 8),
        base,
        rows,
        sentinel: (u32_at(section, s), u32_at(section, s + 4)),
        buckets,
        need,
    }
}

/// The find index FORMAT.md 3.1 defines for `rows` (Go's findfunctab geometry).
fn expected_buckets(rows: &[(u64, u32)]) -> Vec<(u32, [u16; 16])> {
    let aligned = rows[0].0 & !4095;
    let last = rows[rows.len() - 1].0;
    let last_le = |a: u64| rows.partition_point(|r| r.0 <= a).saturating_sub(1);
    (0..(last - aligned) / 4096 + 1)
        .map(|b| {
            let start = aligned + 4096 * b;
            let idx = last_le(start);
            let delta = std::array::from_fn(|s| {
                u16::try_from(last_le(start + 256 * s as u64) - idx).expect("delta fits u16")
            });
            (idx as u32, delta)
        })
        .collect()
}

/// Checks a blob against FORMAT.md 3.1 on its own terms: rows strictly ascending, base = first
/// row, sentinel = end of .text, find index as defined, header address = the section's.
fn check_blob_framing(blob: &Blob, sect: Sect, text_end: u64, what: &str) {
    assert!(blob.rows.windows(2).all(|w| w[0].0 < w[1].0), "{what}: rows not strictly ascending");
    assert!(blob.rows.iter().all(|r| r.1 != 0), "{what}: a row with funcIndex 0");
    assert_eq!(blob.base, blob.rows[0].0, "{what}: base is not the first row's address");
    assert_eq!(blob.link_sect_addr, sect.addr, "{what}: linkSectAddr");
    assert_eq!(blob.sentinel, ((text_end - blob.base) as u32, 0), "{what}: sentinel");
    assert!(blob.buckets == expected_buckets(&blob.rows), "{what}: find index differs from 3.1");
}

/// What a generation-2 `rewrite` must produce: exactly LLGo's final file, except that the stale
/// record bytes LLGo leaves past its table inside the entry section (the alignment slack that
/// compaction keeps) may be zero in ours. Returns the differing ranges, each named, or why the
/// output is wrong.
///
/// `raw_entry` is the entry section in the raw link output and `raw_len` that file's length:
/// compaction moves nothing below the carrier's end, so in the final file the entry section's
/// bytes end at `raw_entry.offset + raw_entry.size - (raw_len - final_len)`.
fn compare_with_llgo_final(
    ours: &[u8],
    llgo_final: &[u8],
    raw_entry: Sect,
    raw_len: usize,
) -> Result<Vec<(Range<usize>, String)>, String> {
    if ours.len() != llgo_final.len() {
        return Err(format!(
            "size {} differs from LLGo's final {} (raw {raw_len})",
            ours.len(),
            llgo_final.len()
        ));
    }
    let entry = section(llgo_final, ENTRY).ok_or("LLGo's final has no entry section")?;
    let need = read_blob(&llgo_final[entry.offset..entry.offset + entry.size], "LLGo's final").need;
    if entry.offset != raw_entry.offset {
        return Err(format!(
            "entry section at {:#x} in LLGo's final, {:#x} in the raw file",
            entry.offset, raw_entry.offset
        ));
    }
    let removed = raw_len.checked_sub(llgo_final.len()).ok_or("final is larger than raw")?;
    let slack_end = (raw_entry.offset + raw_entry.size)
        .checked_sub(removed)
        .ok_or("compaction removed more than the entry section")?;
    let slack = entry.offset + need..slack_end;
    let mut named = vec![];
    for r in differing_ranges(ours, llgo_final) {
        let name = format!(
            "[{:#x}, {:#x}) = entry section + [{:#x}, {:#x}) ({} bytes; need {need:#x})",
            r.start,
            r.end,
            r.start.wrapping_sub(entry.offset),
            r.end.wrapping_sub(entry.offset),
            r.len()
        );
        if r.start < slack.start || r.end > slack.end {
            return Err(format!(
                "{name} lies outside the entry section's stale tail [{:#x}, {:#x})",
                slack.start, slack.end
            ));
        }
        if ours[r.clone()].iter().any(|&b| b != 0) {
            return Err(format!("{name}: llgo-ld's bytes there are not zero"));
        }
        named.push((r, name));
    }
    Ok(named)
}

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// FNV-1a-64, LLGo's symbol id (FORMAT.md 1.4).
fn fnv(name: &str) -> u64 {
    let h = name.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    if h == 0 {
        1
    } else {
        h
    }
}

/// The bytes at link-time address `addr` of a non-PIE executable, through its `PT_LOAD`s.
fn at_vaddr<'a>(data: &'a [u8], elf: &goblin::elf::Elf, addr: u64, len: usize) -> &'a [u8] {
    let ph = elf
        .program_headers
        .iter()
        .find(|ph| {
            ph.p_type == goblin::elf::program_header::PT_LOAD
                && (ph.p_vaddr..ph.p_vaddr + ph.p_filesz).contains(&addr)
        })
        .unwrap_or_else(|| panic!("no PT_LOAD maps {addr:#x} from the file"));
    let off = (ph.p_offset + addr - ph.p_vaddr) as usize;
    &data[off..off + len]
}

/// The table rows of an unrewritten executable, computed from FORMAT.md 1 and 2 with goblin
/// and this file's own FNV (none of llgo-ld's code): owner test against the text symbols,
/// funcIndex from the symbol index the meta record points at, one row per owner start address,
/// first record in file order wins (entry section, then the stub section if there is one:
/// generation 2 has none).
fn independent_rows(exe: &Path) -> Vec<(u64, u32)> {
    let data = std::fs::read(exe).unwrap();
    let elf = goblin::elf::Elf::parse(&data).expect("goblin parses the executable");
    let bytes = |name: &str| -> &[u8] {
        section(&data, name).map_or(&[][..], |s| &data[s.offset..s.offset + s.size])
    };
    let rows16 = |b: &[u8]| -> Vec<(u64, u64)> {
        b.chunks_exact(16).map(|r| (u64_at(r, 0), u64_at(r, 8))).collect()
    };
    let entry = rows16(bytes(ENTRY));
    let stub = rows16(bytes("llgo_funcinfo_stubsite"));
    let meta = entry
        .iter()
        .position(|&(pc, id)| pc == 0 && id == 0x3154_454D_4F47_4C4C)
        .expect("an LLGOMET1 meta record");
    let index_at = u64_at(at_vaddr(&data, &elf, entry[meta + 1].0, 8), 0);
    let count = u64_at(at_vaddr(&data, &elf, entry[meta + 2].0, 8), 0) as usize;
    let array = at_vaddr(&data, &elf, index_at, 16 * count);
    let index: BTreeMap<u64, u32> =
        array.chunks_exact(16).map(|e| (u64_at(e, 0), u32_at(e, 8))).collect();

    // Text symbols by address; an alias set's extent is its largest size, else up to the next.
    let text = must_section(&data, ".text", "independent_rows");
    let text_range = text.addr..text.addr + text.size as u64;
    let mut by_addr: BTreeMap<u64, (u64, Vec<String>)> = BTreeMap::new();
    for sym in elf.syms.iter() {
        use goblin::elf::sym::{STT_FUNC, STT_GNU_IFUNC};
        if !matches!(sym.st_type(), STT_FUNC | STT_GNU_IFUNC) || !text_range.contains(&sym.st_value)
        {
            continue;
        }
        if let Some(name) = elf.strtab.get_at(sym.st_name) {
            let set = by_addr.entry(sym.st_value).or_default();
            set.0 = set.0.max(sym.st_size);
            set.1.push(name.to_string());
        }
    }
    let starts: Vec<u64> = by_addr.keys().copied().collect();
    let sets: Vec<(u64, u64, Vec<String>)> = by_addr
        .into_iter()
        .enumerate()
        .map(|(i, (start, (size, names)))| {
            let next = starts.get(i + 1).copied().unwrap_or(text_range.end);
            (start, if size == 0 { next } else { start + size }, names)
        })
        .collect();

    let mut rows: BTreeMap<u64, u32> = BTreeMap::new();
    for (pc, id) in entry.into_iter().chain(stub) {
        if pc == 0 || id == 0 {
            continue;
        }
        let i = sets.partition_point(|set| set.0 <= pc);
        let Some((start, end, names)) = i.checked_sub(1).map(|i| &sets[i]) else { continue };
        if pc >= *end {
            continue;
        }
        let canonical = names
            .iter()
            .any(|n| fnv(n) == id || n.strip_prefix("__llgo_stub.").is_some_and(|t| fnv(t) == id));
        match index.get(&id) {
            Some(&f) if canonical && f != 0 => {
                rows.entry(*start).or_insert(f);
            }
            _ => {}
        }
    }
    rows.into_iter().collect()
}

/// `32 + 8 * count + 36 * bucketCount` of a table holding `rows` (FORMAT.md 3.1).
fn blob_size(rows: &[(u64, u32)]) -> usize {
    32 + 8 * (rows.len() + 1) + 36 * expected_buckets(rows).len()
}

// ---- Harness self-test (runs against what exists today) -------------------------------------

/// The generation-2 comparison judged on LLGo's own files: the final file against itself,
/// against copies with the stale tail zeroed, and against copies with one byte changed inside
/// the table, outside the entry section, or non-zero in the tail.
#[test]
fn harness_compare_with_llgo_final() {
    let raw = std::fs::read(sample(GEN2, "probe-fulllto.raw")).unwrap();
    let fin = std::fs::read(sample(GEN2, "probe-fulllto.final")).unwrap();
    let raw_entry = must_section(&raw, ENTRY, "raw");
    let entry = must_section(&fin, ENTRY, "final");
    let need = read_blob(&fin[entry.offset..entry.offset + entry.size], "final").need;
    assert_eq!(entry.size, need, "LLGo's compaction sets sh_size to need");
    let slack_end = raw_entry.offset + raw_entry.size - (raw.len() - fin.len());
    assert!(entry.offset + need < slack_end, "this sample keeps a stale tail");

    assert_eq!(compare_with_llgo_final(&fin, &fin, raw_entry, raw.len()), Ok(vec![]));

    // Zeroing the stale tail is allowed, and each zeroed run is named.
    let mut zeroed = fin.clone();
    zeroed[entry.offset + need..slack_end].fill(0);
    let diffs = compare_with_llgo_final(&zeroed, &fin, raw_entry, raw.len()).unwrap();
    let want = differing_ranges(&zeroed, &fin);
    assert!(!want.is_empty(), "LLGo left non-zero stale bytes in the tail of this sample");
    assert_eq!(diffs.iter().map(|d| d.0.clone()).collect::<Vec<_>>(), want);
    assert!(diffs.iter().all(|d| d.1.contains("entry section +")), "{diffs:?}");

    let flipped = |off: usize| {
        let mut b = fin.clone();
        b[off] ^= 0x40;
        b
    };
    let in_table = compare_with_llgo_final(&flipped(entry.offset + 40), &fin, raw_entry, raw.len());
    assert!(in_table.as_ref().is_err_and(|e| e.contains("outside")), "{in_table:?}");
    let before = compare_with_llgo_final(&flipped(entry.offset - 1), &fin, raw_entry, raw.len());
    assert!(before.as_ref().is_err_and(|e| e.contains("outside")), "{before:?}");
    let after = compare_with_llgo_final(&flipped(slack_end), &fin, raw_entry, raw.len());
    assert!(after.as_ref().is_err_and(|e| e.contains("outside")), "{after:?}");
    let mut nonzero = zeroed.clone();
    nonzero[slack_end - 1] = 0xAA;
    let dirty = compare_with_llgo_final(&nonzero, &fin, raw_entry, raw.len());
    if fin[slack_end - 1] != 0xAA {
        assert!(dirty.as_ref().is_err_and(|e| e.contains("not zero")), "{dirty:?}");
    }
    let short = compare_with_llgo_final(&fin[..fin.len() - 1], &fin, raw_entry, raw.len());
    assert!(short.as_ref().is_err_and(|e| e.contains("size")), "{short:?}");
    // The raw file itself is not LLGo's output: its size differs.
    assert!(compare_with_llgo_final(&raw, &fin, raw_entry, raw.len()).is_err());
}

#[test]
fn harness_differing_ranges() {
    assert_eq!(differing_ranges(b"abcdef", b"abcdef"), Vec::<Range<usize>>::new());
    assert_eq!(differing_ranges(b"abcdef", b"xbcyzf"), vec![0..1, 3..5]);
    assert_eq!(differing_ranges(b"abc", b"abd"), vec![2..3]);
}

// ---- Generation 1: LLGo 066a72125 -----------------------------------------------------------

/// `rewrite` of an LTO sample gives LLGo's own table, except for the rows LLGo loses at
/// ICF-folded addresses (FORMAT.md 2, step 4: it keeps one arbitrary alias name, so when the
/// surviving record names another alias the address gets no row), and, at a few folded
/// addresses, LLGo's row names another of the aliases than ours (LLGo keeps the record of its
/// arbitrary alias, llgo-ld the first record in file order). Those are the only differences:
/// each sits at an address with several FUNC names, and their numbers are pinned.
fn gen1_lto_case(name: &str, want: (usize, usize)) {
    let dir = scratch_dir(&format!("corpus_gen1_{name}"));
    let raw_path = sample(GEN1, &format!("{name}.raw"));
    let raw = std::fs::read(&raw_path).unwrap();
    let llgo = std::fs::read(sample(GEN1, &format!("{name}.gorewritten"))).unwrap();
    let exe = copy_of(GEN1, &format!("{name}.raw"), &dir);

    let out = llgo_ld([Path::new("rewrite"), &exe]);
    assert!(out.status.success(), "{name}: rewrite\n{}", show(&out));
    assert!(stdout_of(&out).contains("rewritten"), "{name}\n{}", show(&out));
    let ours = std::fs::read(&exe).unwrap();
    assert_eq!(ours.len(), raw.len(), "{name}: generation 1 keeps the file size");

    // Only the two site sections changed, in our file and in LLGo's (both in place: FORMAT.md
    // 3.2 writes the blob into the entry section and zeroes the whole stub section).
    let entry = must_section(&raw, ENTRY, name);
    let stub = must_section(&raw, "llgo_funcinfo_stubsite", name);
    let inside = entry.offset..entry.offset + entry.size;
    let stubs = stub.offset..stub.offset + stub.size;
    for (who, file) in [("llgo-ld", &ours), ("LLGo", &llgo)] {
        for r in differing_ranges(&raw, file) {
            let within = |s: &Range<usize>| s.start <= r.start && r.end <= s.end;
            assert!(
                within(&inside) || within(&stubs),
                "{name}: {who} changed [{:#x}, {:#x}) outside the site sections {inside:#x?} {stubs:#x?}",
                r.start,
                r.end
            );
        }
        assert!(
            file[stubs.clone()].iter().all(|&b| b == 0),
            "{name}: {who}: stub section not zero"
        );
    }

    let (aliases, text_end) = alias_addresses(&raw);
    let mine = read_blob(&ours[inside.clone()], "llgo-ld");
    let theirs = read_blob(&llgo[inside.clone()], "LLGo");
    check_blob_framing(&mine, entry, text_end, "llgo-ld");
    check_blob_framing(&theirs, entry, text_end, "LLGo");
    for (who, file, blob) in [("llgo-ld", &ours, &mine), ("LLGo", &llgo, &theirs)] {
        assert!(
            file[entry.offset + blob.need..inside.end].iter().all(|&b| b == 0),
            "{name}: {who} left non-zero bytes after its blob"
        );
    }
    assert_eq!(mine.base, theirs.base, "{name}: base");
    let want_rows = independent_rows(&raw_path);
    assert!(mine.rows == want_rows, "{name}: llgo-ld's rows differ from FORMAT.md 2 computed here");
    assert_eq!(mine.buckets.len(), theirs.buckets.len(), "{name}: bucket count");

    // By address: LLGo has no row that we lack; we have rows where LLGo has none, and at some
    // addresses both have a row naming different functions. All of them are ICF alias addresses.
    let m: BTreeMap<u64, u32> = mine.rows.iter().copied().collect();
    let t: BTreeMap<u64, u32> = theirs.rows.iter().copied().collect();
    let missing: Vec<_> = t.keys().filter(|a| !m.contains_key(a)).collect();
    assert!(missing.is_empty(), "{name}: LLGo rows llgo-ld lacks: {missing:x?}");
    let extra: Vec<u64> = m.keys().filter(|a| !t.contains_key(a)).copied().collect();
    let renamed: Vec<u64> = t.iter().filter(|(a, i)| m[a] != **i).map(|(a, _)| *a).collect();
    for (what, addrs) in [("extra rows", &extra), ("rows naming another function", &renamed)] {
        let stray: Vec<_> = addrs.iter().filter(|a| !aliases.contains(a)).collect();
        assert!(stray.is_empty(), "{name}: {what} at addresses with one name: {stray:x?}");
    }
    assert_eq!(
        (extra.len(), renamed.len()),
        want,
        "{name}: (rows LLGo lacks, rows where LLGo kept another alias) at ICF alias addresses \
         (of {} alias addresses)",
        aliases.len()
    );

    let verify = llgo_ld([Path::new("verify"), &exe]);
    assert!(verify.status.success(), "{name}: verify\n{}", show(&verify));
    assert!(stdout_of(&verify).contains(": ok"), "{name}: verify\n{}", show(&verify));
    run_passes_with_prebuilt_table(&exe);
}

#[test]
fn gen1_mp24x24_ltofull() {
    gen1_lto_case("mp24x24_ltofull", (53, 0));
}

#[test]
fn gen1_mp24x24_ltothin() {
    gen1_lto_case("mp24x24_ltothin", (70, 4));
}

/// The default (non-LTO) build has too few inline copies to make room: LLGo refuses it ("does
/// not fit"), and so does `llgo-ld rewrite`, naming the shortfall and leaving the file as it
/// was. The blob size is computed here from the records and symbols (FORMAT.md 2 and 3.1). (The shim's relink path would make room, but it needs the link's objects, which the
/// corpus does not have: the relink path is covered by the fixture tests in room.rs.)
#[test]
fn gen1_mp24x24_default_does_not_fit() {
    let dir = scratch_dir("corpus_gen1_mp24x24_default");
    let raw = std::fs::read(sample(GEN1, "mp24x24.raw")).unwrap();
    let exe = copy_of(GEN1, "mp24x24.raw", &dir);
    let out = llgo_ld([Path::new("rewrite"), &exe]);
    assert_eq!(std::fs::read(&exe).unwrap(), raw, "file changed\n{}", show(&out));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let entry = must_section(&raw, ENTRY, "mp24x24").size;
    let stub = must_section(&raw, "llgo_funcinfo_stubsite", "mp24x24").size;
    // "table does not fit by N bytes: the blob needs B bytes, the entry section has E and the
    // stub section S": E and S are goblin's, and N is the blob's excess over the larger one.
    let number_after = |key: &str| -> usize {
        let rest = &stderr
            [stderr.find(key).unwrap_or_else(|| panic!("no `{key}` in {stderr}")) + key.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap_or_else(|_| panic!("no number after `{key}` in {stderr}"))
    };
    assert_eq!(number_after("the entry section has "), entry, "{stderr}");
    assert_eq!(number_after("the stub section "), stub, "{stderr}");
    let need = number_after("the blob needs ");
    assert_eq!(need, blob_size(&independent_rows(&exe)), "blob size computed here\n{stderr}");
    assert_eq!(number_after("does not fit by "), need - entry.max(stub), "{stderr}");
}

// ---- Generation 2: LLGo 3e0fdda00, embedded table --------------------------------------------

/// `rewrite` of the raw link output must give LLGo's final file (compacted, same size), up to
/// stale tail bytes that llgo-ld zeroes, and the program must pass with the table adopted.
fn gen2_embedded_case(name: &str) {
    let dir = scratch_dir(&format!("corpus_gen2_{name}"));
    let raw = std::fs::read(sample(GEN2, &format!("{name}.raw"))).unwrap();
    let llgo_final = std::fs::read(sample(GEN2, &format!("{name}.final"))).unwrap();
    let exe = copy_of(GEN2, &format!("{name}.raw"), &dir);
    let out = llgo_ld([Path::new("rewrite"), &exe]);
    assert!(out.status.success(), "{name}: rewrite\n{}", show(&out));
    let ours = std::fs::read(&exe).unwrap();
    let raw_entry = must_section(&raw, ENTRY, name);
    match compare_with_llgo_final(&ours, &llgo_final, raw_entry, raw.len()) {
        Ok(diffs) => {
            for (_, d) in &diffs {
                eprintln!("{name}: differs from LLGo's final at {d} (stale tail, zero in ours)");
            }
        }
        Err(e) => panic!("{name}: llgo-ld's output is not LLGo's final: {e}\n{}", show(&out)),
    }
    let verify = llgo_ld([Path::new("verify"), &exe]);
    assert!(verify.status.success(), "{name}: verify\n{}", show(&verify));
    run_passes_with_prebuilt_table(&exe);
}

#[test]
fn gen2_probe_default() {
    gen2_embedded_case("probe-default");
}

#[test]
fn gen2_probe_fulllto() {
    gen2_embedded_case("probe-fulllto");
}

#[test]
fn gen2_probe_thinlto() {
    gen2_embedded_case("probe-thinlto");
}

#[test]
fn gen2_big_default() {
    gen2_embedded_case("big-default");
}

#[test]
fn gen2_big_fulllto() {
    gen2_embedded_case("big-fulllto");
}

#[test]
fn gen2_big_thinlto() {
    gen2_embedded_case("big-thinlto");
}

/// LLGo's own final files are what the comparison above expects: they pass with the table.
#[test]
fn gen2_llgo_finals_pass() {
    for name in ["probe-default", "probe-fulllto", "probe-thinlto"] {
        run_passes_with_prebuilt_table(&sample(GEN2, &format!("{name}.final")));
    }
}

/// What the generation-2 comparison expects, checked today on LLGo's own output: the table in
/// LLGo's final file has exactly the rows FORMAT.md 2 gives for the raw file (computed here),
/// the find index of 3.1, and the compacted entry section ends at `need`.
#[test]
fn gen2_llgo_final_tables_are_format_tables() {
    let names = [
        "probe-default",
        "probe-fulllto",
        "probe-thinlto",
        "big-default",
        "big-fulllto",
        "big-thinlto",
    ];
    for name in names {
        let raw = sample(GEN2, &format!("{name}.raw"));
        let fin = std::fs::read(sample(GEN2, &format!("{name}.final"))).unwrap();
        let entry = must_section(&fin, ENTRY, name);
        let blob = read_blob(&fin[entry.offset..entry.offset + entry.size], name);
        let (_, text_end) = alias_addresses(&fin);
        check_blob_framing(&blob, entry, text_end, name);
        assert_eq!(entry.size, blob.need, "{name}: sh_size of the compacted section");
        assert!(blob.rows == independent_rows(&raw), "{name}: LLGo's rows are not FORMAT.md 2's");
    }
}

// ---- Generation 2: external table mode -------------------------------------------------------

/// `-pclntab=external` executables (raw and LLGo's final) must be left byte-identical by
/// `rewrite` (a skip, exit 0), and `inspect` and `verify` accept them.
#[test]
fn gen2_external_left_alone() {
    let dir = scratch_dir("corpus_gen2_external");
    let cases =
        ["probe-external.raw", "probe-external.final", "big-external.raw", "big-external.final"];
    for name in cases {
        let original = std::fs::read(sample(GEN2, name)).unwrap();
        let exe = copy_of(GEN2, name, &dir);
        let out = llgo_ld([Path::new("rewrite"), &exe]);
        assert_eq!(std::fs::read(&exe).unwrap(), original, "{name}: changed\n{}", show(&out));
        assert!(out.status.success(), "{name}: rewrite\n{}", show(&out));
        assert!(stdout_of(&out).contains("skipped"), "{name}: not a skip\n{}", show(&out));
        for cmd in ["inspect", "verify"] {
            let out = llgo_ld([Path::new(cmd), &exe]);
            assert!(out.status.success(), "{name}: {cmd}\n{}", show(&out));
        }
        assert_eq!(std::fs::read(&exe).unwrap(), original, "{name}: changed by inspect/verify");
    }
}
