//! Mach-O `__LLGO` compaction and signature regeneration (issue 9, LLGO-TODAY.md 3) with the real
//! tools: generation-2 fixtures (no stub section, `__LLGO,__llgo_fie` alone in its segment, a
//! zero tail appended by `gen.py --entry-pad`) cross-linked by ld64.lld-19; a table of `need`
//! bytes is simulated (the bytes past `need` zeroed), then `compact::macho::plan` +
//! `codesign::regen` are applied and the result is checked by means that are not llgo-ld's code:
//! llvm-objdump-19's load commands, dyld info and chained fixups before and after, every page
//! hash recomputed here with sha2 over goblin's reading of the signature, and llvm-objcopy-19
//! re-signing the same bytes. A missing tool fails (naming scripts/setup.sh); nothing is skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::mach::load_command::CommandVariant;
use goblin::mach::MachO;
use llgo_ld::codesign::regen;
use llgo_ld::compact::macho::{self as compact, Outcome};
use sha2::Digest;

use support::{checked, fixtures_dir, require_tool, scratch_dir};

const PAD: &str = "40000";

struct Fx {
    bin: PathBuf,
    /// 16 KiB for arm64, 4 KiB for x86_64 (independent of the code under test).
    page: u64,
}

/// Generates a generation-2 program with its entry section in `segment`, links it with
/// ld64.lld-19 for `arch` and `flags`.
fn build(tag: &str, arch: &str, segment: &str, pad: &str, flags: &[&str]) -> Fx {
    build_with(tag, arch, &["--segment", segment, "--entry-pad", pad], flags)
}

fn build_with(tag: &str, arch: &str, gen_args: &[&str], flags: &[&str]) -> Fx {
    let dir = scratch_dir(&format!("compact_macho/{tag}"));
    let src = dir.join(format!("{tag}.c"));
    let gen = fixtures_dir().join("macho/gen.py");
    checked(
        Command::new(require_tool("python3"))
            .arg(gen)
            .arg(&src)
            .arg(dir.join("manifest.tsv"))
            .arg("--no-stub-section")
            .args(gen_args),
        "gen.py",
    );
    let bin = dir.join(tag);
    checked(
        Command::new(require_tool("clang-19"))
            .arg("-target")
            .arg(format!("{arch}-apple-macos13"))
            .args(["-ffreestanding", "-fuse-ld=lld"])
            .arg(format!("--ld-path={}", require_tool("ld64.lld-19").display()))
            .arg("-isysroot")
            .arg(fixtures_dir().join("macho/sdk"))
            .args(flags)
            .arg(&src)
            .arg("-o")
            .arg(&bin),
        "clang-19 + ld64.lld-19",
    );
    Fx { bin, page: if arch == "arm64" { 0x4000 } else { 0x1000 } }
}

fn objdump(args: &[&str], path: &Path) -> String {
    let out =
        checked(Command::new(require_tool("llvm-objdump-19")).args(args).arg(path), "objdump");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn u32le(d: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(d[at..at + 4].try_into().unwrap()))
}

fn u32be(d: &[u8], at: usize) -> u64 {
    u64::from(u32::from_be_bytes(d[at..at + 4].try_into().unwrap()))
}

/// `(segment fileoff, filesize, vmsize)` and `(section offset, size)` of `__llgo_fie`, by goblin.
fn entry(m: &MachO<'_>) -> ((u64, u64, u64), (u64, u64)) {
    for seg in m.segments.iter() {
        for (s, _) in seg.sections().unwrap() {
            if s.name().unwrap() == "__llgo_fie" {
                return ((seg.fileoff, seg.filesize, seg.vmsize), (u64::from(s.offset), s.size));
            }
        }
    }
    panic!("no __llgo_fie");
}

fn signature(m: &MachO<'_>) -> Option<(u64, u64)> {
    m.load_commands.iter().find_map(|lc| match lc.command {
        CommandVariant::CodeSignature(c) => Some((u64::from(c.dataoff), u64::from(c.datasize))),
        _ => None,
    })
}

/// What the table writer would leave: `need` = the records' end (the last non-zero byte of the
/// section, rounded up to 8), the tail zero.
fn simulate_table(data: &mut [u8]) -> u64 {
    let m = MachO::parse(data, 0).unwrap();
    let (_, (off, size)) = entry(&m);
    let sec = &data[off as usize..(off + size) as usize];
    let last = sec.iter().rposition(|&b| b != 0).expect("records in the entry section");
    let need = (last as u64 + 1).div_ceil(8) * 8;
    assert!(need < size, "the fixture needs a tail past the records");
    data[(off + need) as usize..(off + size) as usize].fill(0);
    need
}

/// Every page hash of every CodeDirectory recomputed here; also returns the first
/// CodeDirectory's `(codeLimit, nCodeSlots, identifier, flags)`.
fn check_page_hashes(data: &[u8]) -> (u64, u64, Vec<u8>, u64) {
    let m = MachO::parse(data, 0).unwrap();
    let (off, size) = signature(&m).expect("signed");
    assert_eq!(off + size, data.len() as u64, "the signature ends the file");
    let sb = &data[off as usize..(off + size) as usize];
    assert_eq!(u32be(sb, 0), 0xfade_0cc0);
    let mut first = None;
    for i in 0..u32be(sb, 8) as usize {
        let blob = u32be(sb, 16 + 8 * i) as usize;
        if u32be(sb, blob) != 0xfade_0c02 {
            continue;
        }
        let cd = &sb[blob..];
        let hash_offset = u32be(cd, 16) as usize;
        let n = u32be(cd, 28);
        let limit = u32be(cd, 32);
        let (hash_size, hash_type, page_log2) = (cd[36] as usize, cd[37], cd[39]);
        assert_eq!((hash_size, hash_type), (32, 2), "SHA-256 CodeDirectories");
        assert_eq!(limit, off, "codeLimit is the signature's offset");
        let page = 1u64 << page_log2;
        assert_eq!(n, limit.div_ceil(page), "nCodeSlots");
        for p in 0..n {
            let (s, e) = (p * page, ((p + 1) * page).min(limit));
            let want = sha2::Sha256::digest(&data[s as usize..e as usize]);
            let slot = &cd[hash_offset + hash_size * p as usize..][..hash_size];
            assert_eq!(slot, want.as_slice(), "page {p} hash");
        }
        let ident_off = u32be(cd, 20) as usize;
        let ident: Vec<u8> = cd[ident_off..].iter().take_while(|&&b| b != 0).copied().collect();
        first.get_or_insert((limit, n, ident, u32be(cd, 12)));
    }
    first.expect("a CodeDirectory")
}

/// Numeric fields of `llvm-objdump --macho --private-headers`, in order: `(key, value)`.
fn header_fields(path: &Path) -> Vec<(String, u64)> {
    let text = objdump(&["--macho", "--private-headers"], path);
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 2 {
            let v = if let Some(h) = f[1].strip_prefix("0x") {
                u64::from_str_radix(h, 16).ok()
            } else {
                f[1].parse().ok()
            };
            if let Some(v) = v {
                out.push((f[0].to_string(), v));
            }
        }
    }
    out
}

const OFFSET_KEYS: &[&str] = &[
    "fileoff",
    "offset",
    "dataoff",
    "symoff",
    "stroff",
    "tocoff",
    "modtaboff",
    "extrefsymoff",
    "indirectsymoff",
    "extreloff",
    "locreloff",
];

/// Result of one fixture's compaction.
struct Done {
    before: u64,
    after: u64,
    removed: u64,
    signed: bool,
}

/// Simulates the table, compacts, re-signs, writes `dir/<basename>`, and checks it.
fn compact_and_check(fx: &Fx, tag: &str) -> Done {
    let orig = std::fs::read(&fx.bin).unwrap();
    let mut tabled = orig.clone();
    let need = simulate_table(&mut tabled);
    let m0 = MachO::parse(&orig, 0).unwrap();
    let ((seg_off, seg_size, seg_vm), (sec_off, _)) = entry(&m0);
    let signed = signature(&m0).is_some();

    // Independent expectation of the cut (LLGO-TODAY.md 3).
    let new_seg = (sec_off + need - seg_off).div_ceil(fx.page) * fx.page;
    let old_end = seg_off + seg_size;
    let want_removed = old_end - (seg_off + new_seg);
    assert!(want_removed > 0, "{tag}: the fixture must leave something to cut");

    let outcome = compact::plan(&tabled, need).unwrap();
    let Outcome::Compact { edits, cut, removed, new_filesize, new_len } = outcome else {
        panic!("{tag}: expected a compaction, got {outcome:?}");
    };
    assert_eq!((removed, new_filesize), (want_removed, new_seg), "{tag}");
    assert_eq!(cut, seg_off + new_seg..old_end);
    let cut_bytes = llgo_ld::edit::apply(&tabled, &edits).unwrap();
    assert_eq!(cut_bytes.len() as u64, new_len);
    let out = regen::resign(&cut_bytes).unwrap();
    // The same result as one edit list against the original (what the one planner applies).
    if let Some(r) = regen::regenerate(&cut_bytes).unwrap() {
        assert_eq!(r.new_len, out.len() as u64);
        let all = llgo_ld::edit::compose(&edits, &r.edits).unwrap();
        assert_eq!(llgo_ld::edit::apply(&tabled, &all).unwrap(), out, "{tag}: composed edits");
    }

    let dir = scratch_dir(&format!("compact_macho/{tag}-out"));
    let path = dir.join(fx.bin.file_name().unwrap());
    std::fs::write(&path, &out).unwrap();
    let tabled_path = scratch_dir(&format!("compact_macho/{tag}-tabled")).join("in");
    std::fs::write(&tabled_path, &tabled).unwrap();

    // goblin: the section's size is need, the segment's filesize shrank, vmsize did not.
    let m1 = MachO::parse(&out, 0).unwrap();
    let ((o2, s2, vm2), (sec2, size2)) = entry(&m1);
    assert_eq!((o2, s2, vm2, sec2, size2), (seg_off, new_seg, seg_vm, sec_off, need), "{tag}");
    // Bytes: everything before the cut is the tabled input apart from header fields;
    // the moved tail (up to the signature) is the original's.
    let sig0 = signature(&m0).map_or(orig.len() as u64, |s| s.0);
    let sig1 = signature(&m1).map_or(out.len() as u64, |s| s.0);
    assert_eq!(sig1, sig0 - removed, "{tag}: signature offset");
    assert_eq!(
        &out[(seg_off + 0x10) as usize..(seg_off + new_seg) as usize],
        &tabled[(seg_off + 0x10) as usize..(seg_off + new_seg) as usize]
    );
    assert_eq!(
        &out[(old_end - removed) as usize..sig1 as usize],
        &tabled[old_end as usize..sig0 as usize]
    );

    // llvm-objdump --private-headers: every offset field at or past the old end moved down by
    // `removed`, everything else as before except the fields compaction and signing own.
    let (h0, h1) = (header_fields(&tabled_path), header_fields(&path));
    assert_eq!(h0.len(), h1.len(), "{tag}: same load commands");
    for ((k0, v0), (k1, v1)) in h0.iter().zip(&h1) {
        assert_eq!(k0, k1);
        if OFFSET_KEYS.contains(&k0.as_str()) && *v0 >= old_end {
            assert_eq!(*v1, v0 - removed, "{tag}: {k0} {v0:#x}");
        } else if OFFSET_KEYS.contains(&k0.as_str()) {
            assert!(*v0 < seg_off + new_seg || *v0 == 0, "{tag}: {k0} {v0:#x} in the cut");
            assert_eq!(v1, v0, "{tag}: {k0}");
        }
    }
    for (k, v) in &h1 {
        if OFFSET_KEYS.contains(&k.as_str()) {
            assert!(*v <= out.len() as u64, "{tag}: {k} {v:#x} past the end");
        }
    }
    // dyld info and chained fixups: the same listing (virtual addresses did not move).
    for args in [["--macho", "--dyld-info"], ["--macho", "--chained-fixups"]] {
        let (a, b) = (objdump(&args, &tabled_path), objdump(&args, &path));
        let strip = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(strip(&a), strip(&b), "{tag}: {args:?}");
        assert!(a.lines().count() > 5, "{tag}: {args:?} listed nothing");
    }

    if signed {
        let (_, _, ident0, flags0) = check_page_hashes(&orig);
        let (limit, _, ident, flags) = check_page_hashes(&out);
        assert_eq!((ident, flags), (ident0, flags0), "{tag}: identifier and flags kept");
        assert_eq!(limit, sig1);
        compare_with_objcopy(&out, &path, tag);
        // Regenerating an unchanged layout reproduces lld's signature byte for byte.
        assert_eq!(regen::resign(&orig).unwrap(), orig, "{tag}: lld's own signature");
    } else {
        assert!(signature(&m1).is_none());
        assert_eq!(regen::regenerate(&cut_bytes).unwrap(), None);
    }
    eprintln!(
        "{tag}: {} -> {} bytes (need {need:#x}, __LLGO filesize {seg_size:#x} -> {new_seg:#x}, \
         {removed:#x} cut{})",
        orig.len(),
        out.len(),
        if signed { ", re-signed" } else { "" }
    );
    Done { before: orig.len() as u64, after: out.len() as u64, removed, signed }
}

/// llvm-objcopy-19 re-signs the same bytes under the same basename (the identifier). Its
/// signature must equal ours field for field and slot for slot wherever the hashed bytes agree;
/// and regenerating over objcopy's own output must reproduce objcopy's file byte for byte.
fn compare_with_objcopy(ours: &[u8], path: &Path, tag: &str) {
    let dir = scratch_dir(&format!("compact_macho/{tag}-objcopy"));
    let theirs_path = dir.join(path.file_name().unwrap());
    checked(
        Command::new(require_tool("llvm-objcopy-19")).arg(path).arg(&theirs_path),
        "llvm-objcopy-19",
    );
    let theirs = std::fs::read(&theirs_path).unwrap();
    assert_eq!(theirs.len(), ours.len(), "{tag}: objcopy's file length");
    let (ma, mb) = (MachO::parse(ours, 0).unwrap(), MachO::parse(&theirs, 0).unwrap());
    let (sa, sb) = (signature(&ma).unwrap(), signature(&mb).unwrap());
    assert_eq!(sa, sb, "{tag}: LC_CODE_SIGNATURE dataoff/datasize");
    // CodeDirectory headers and identifier (everything before the code slots), byte for byte.
    let cd = |d: &[u8]| {
        let s = sa.0 as usize;
        let blob = s + u32be(d, s + 16) as usize;
        let hash_offset = u32be(d, blob + 16) as usize;
        (d[s..blob].to_vec(), d[blob..blob + hash_offset].to_vec(), blob + hash_offset)
    };
    let (a_head, a_cd, a_slots) = cd(ours);
    let (b_head, b_cd, _) = cd(&theirs);
    assert_eq!(a_head, b_head, "{tag}: SuperBlob header and index");
    assert_eq!(a_cd, b_cd, "{tag}: CodeDirectory header and identifier");
    let page = 4096usize;
    let mut same = 0;
    let mut differing = Vec::new();
    for p in 0..(sa.0 as usize).div_ceil(page) {
        let r = p * page..((p + 1) * page).min(sa.0 as usize);
        let (ha, hb) = (&ours[a_slots + 32 * p..][..32], &theirs[a_slots + 32 * p..][..32]);
        if ours[r.clone()] == theirs[r] {
            assert_eq!(ha, hb, "{tag}: page {p}: equal bytes, different slots");
            same += 1;
        } else {
            differing.push(p);
        }
    }
    eprintln!("{tag}: objcopy: {same} pages and slots identical; pages differing in content: {differing:?}");
    // Our regeneration over objcopy's layout gives objcopy's signature exactly.
    assert_eq!(regen::resign(&theirs).unwrap(), theirs, "{tag}: regen over objcopy's output");
}

#[test]
fn arm64_signed_dead_strip() {
    let fx = build("llgo_arm64", "arm64", "__LLGO", PAD, &["-O1", "-Wl,-dead_strip"]);
    let d = compact_and_check(&fx, "arm64_signed");
    assert!(d.signed, "lld signs arm64 by default");
    assert_eq!(d.removed % 0x4000, 0);
    assert!(d.after < d.before);
}

#[test]
fn arm64_unsigned_dead_strip() {
    let flags = ["-O1", "-Wl,-dead_strip", "-Wl,-no_adhoc_codesign"];
    let fx = build("llgo_arm64_unsigned", "arm64", "__LLGO", PAD, &flags);
    let d = compact_and_check(&fx, "arm64_unsigned");
    assert!(!d.signed);
    assert_eq!(d.after, d.before - d.removed);
}

#[test]
fn arm64_lto_signed() {
    let fx = build("llgo_arm64_lto", "arm64", "__LLGO", PAD, &["-flto", "-O2", "-Wl,-dead_strip"]);
    let d = compact_and_check(&fx, "arm64_lto");
    assert!(d.signed);
}

#[test]
fn x86_64_signed_dead_strip() {
    let flags = ["-O1", "-Wl,-dead_strip", "-Wl,-adhoc_codesign"];
    let fx = build("llgo_x86", "x86_64", "__LLGO", PAD, &flags);
    let d = compact_and_check(&fx, "x86_64_signed");
    assert!(d.signed);
    assert_eq!(d.removed % 0x1000, 0);
}

#[test]
fn x86_64_unsigned_dead_strip() {
    let fx = build("llgo_x86_unsigned", "x86_64", "__LLGO", PAD, &["-O1", "-Wl,-dead_strip"]);
    let d = compact_and_check(&fx, "x86_64_unsigned");
    assert!(!d.signed, "lld does not sign x86_64 by default");
}

/// One 16 KiB page holds the whole section: only the section's size drops.
#[test]
fn small_arm64_is_size_only() {
    let fx = build("llgo_small", "arm64", "__LLGO", "0", &["-O1", "-Wl,-dead_strip"]);
    let mut d = std::fs::read(&fx.bin).unwrap();
    let need = simulate_table_or_half(&mut d);
    let Outcome::SizeOnly { edits } = compact::plan(&d, need).unwrap() else {
        panic!("expected SizeOnly");
    };
    let out = llgo_ld::edit::apply(&d, &edits).unwrap();
    assert_eq!(out.len(), d.len());
    let m = MachO::parse(&out, 0).unwrap();
    assert_eq!(entry(&m).1 .1, need);
}

/// Without the pad the records fill the section: take half of it as `need`.
fn simulate_table_or_half(d: &mut [u8]) -> u64 {
    let m = MachO::parse(d, 0).unwrap();
    let (_, (off, size)) = entry(&m);
    let need = size / 16 * 8;
    d[(off + need) as usize..(off + size) as usize].fill(0);
    need
}

#[test]
fn data_segment_keeps_its_layout() {
    let fx = build("llgo_data", "arm64", "__DATA", PAD, &["-O1"]);
    let d = std::fs::read(&fx.bin).unwrap();
    assert_eq!(compact::plan(&d, 64).unwrap(), Outcome::NotLlgoSegment);
}

// ---------------------------------------------------------------------------------------------
// Malformed inputs: refused with a message naming the structure; nothing is planned.

fn lc_offsets(d: &[u8]) -> Vec<(u32, usize)> {
    let mut at = 32usize;
    let mut out = Vec::new();
    for _ in 0..u32le(d, 16) {
        out.push((u32le(d, at) as u32, at));
        at += u32le(d, at + 4) as usize;
    }
    out
}

fn segment_cmd(d: &[u8], name: &str) -> usize {
    lc_offsets(d)
        .into_iter()
        .find(|&(c, at)| {
            c == 0x19 && d[at + 8..at + 24].split(|&b| b == 0).next() == Some(name.as_bytes())
        })
        .map(|(_, at)| at)
        .unwrap_or_else(|| panic!("no segment {name}"))
}

fn refused(tag: &str, d: &[u8], need: u64, needles: &[&str]) {
    let before = d.to_vec();
    let e = compact::plan(d, need).expect_err(tag);
    for n in needles {
        assert!(e.message().contains(n), "{tag}: {e}");
    }
    assert_eq!(d, &before[..], "{tag}: input untouched");
    eprintln!("{tag}: {e}");
}

#[test]
fn malformed_inputs_are_refused() {
    let fx = build("llgo_bad", "arm64", "__LLGO", PAD, &["-O1", "-Wl,-dead_strip"]);
    let mut base = std::fs::read(&fx.bin).unwrap();
    let need = simulate_table(&mut base);
    let m = MachO::parse(&base, 0).unwrap();
    let ((seg_off, _, _), _) = entry(&m);
    let cut_inside = seg_off + 0x4000 + 0x100; // in the cut range [seg_off + 0x4000, old end)

    // A section of __DATA pointed into the cut range.
    let mut d = base.clone();
    let data_seg = segment_cmd(&d, "__DATA");
    let sec0 = data_seg + 72; // first section_64; its offset field at +48
    d[sec0 + 48..sec0 + 52].copy_from_slice(&(cut_inside as u32).to_le_bytes());
    refused("section-overlap", &d, need, &["section __DATA,__data", "overlaps the cut range"]);

    // An offset field inside the cut range: LC_FUNCTION_STARTS dataoff.
    let mut d = base.clone();
    let (_, fs) = lc_offsets(&d).into_iter().find(|&(c, _)| c == 0x26).unwrap();
    d[fs + 8..fs + 12].copy_from_slice(&(cut_inside as u32).to_le_bytes());
    refused(
        "offset-in-cut",
        &d,
        need,
        &["LC_FUNCTION_STARTS at file offset", "dataoff", "inside the cut range"],
    );

    // A segment after __LLGO other than __LINKEDIT.
    let mut d = base.clone();
    let le = segment_cmd(&d, "__LINKEDIT");
    d[le + 8..le + 24].copy_from_slice(b"__OTHER\0\0\0\0\0\0\0\0\0");
    refused("segment-after", &d, need, &["LC_SEGMENT_64 __OTHER", "follows __LLGO"]);

    // The entry section in a segment that is neither __LLGO nor __DATA.
    let mut d = base.clone();
    let llgo = segment_cmd(&d, "__LLGO");
    d[llgo + 8..llgo + 24].copy_from_slice(b"__FOO\0\0\0\0\0\0\0\0\0\0\0");
    refused("other-segment", &d, need, &["LC_SEGMENT_64 __FOO", "neither __LLGO nor __DATA"]);

    // A fixup chain starting in a cut page.
    let mut d = base.clone();
    let (_, cf) = lc_offsets(&d).into_iter().find(|&(c, _)| c == 0x8000_0034).unwrap();
    let off = u32le(&d, cf + 8) as usize;
    let starts = off + u32le(&d, off + 4) as usize;
    let llgo_index = 4; // __PAGEZERO __TEXT __DATA_CONST __DATA __LLGO __LINKEDIT
    let s = starts + u32le(&d, starts + 4 + 4 * llgo_index) as usize;
    assert_eq!(
        u16::from_le_bytes([d[s + 20], d[s + 21]]),
        1,
        "fixture: one __LLGO page with fixups"
    );
    d[s + 22..s + 24].copy_from_slice(&0x0u16.to_le_bytes());
    d[s + 4..s + 6].copy_from_slice(&0x8000u16.to_le_bytes()); // page 0 of 32 KiB reaches the cut
    let page0 = u16::from_le_bytes([d[s + 22], d[s + 23]]);
    assert_eq!(page0, 0);
    // a start at 0x4000 + 0x10 in that page lies in the cut
    d[s + 22..s + 24].copy_from_slice(&0x4010u16.to_le_bytes());
    refused("chain-in-cut", &d, need, &["LC_DYLD_CHAINED_FIXUPS", "inside the cut range"]);

    // An encrypted image: LC_UUID (24 bytes) turned into LC_ENCRYPTION_INFO_64 with cryptid 1.
    let mut d = base.clone();
    let (_, uuid) = lc_offsets(&d).into_iter().find(|&(c, _)| c == 0x1b).unwrap();
    d[uuid..uuid + 4].copy_from_slice(&0x2cu32.to_le_bytes());
    d[uuid + 16..uuid + 20].copy_from_slice(&1u32.to_le_bytes());
    refused("encrypted", &d, need, &["LC_ENCRYPTION_INFO_64 at file offset", "encrypted"]);

    // A fileset and the table larger than its section.
    let mut d = base.clone();
    d[12..16].copy_from_slice(&0xcu32.to_le_bytes());
    refused("fileset", &d, need, &["fileset"]);
    let size = entry(&m).1 .1;
    refused("need-too-large", &base, size + 8, &["larger than the section"]);

    // Every word of the load commands overwritten with hostile values: plan and regen return
    // (a plan or an error) without panicking (regen, which hashes the whole file, on every
    // fourth word to keep the debug build quick).
    let cmds_end = 32 + u32le(&base, 20) as usize;
    let (mut planned, mut errors) = (0, 0);
    for at in (16..cmds_end).step_by(4) {
        for v in [0xFFFF_FFFFu32, 0x8000_0000, 0x10100, 1] {
            let mut d = base.clone();
            d[at..at + 4].copy_from_slice(&v.to_le_bytes());
            match compact::plan(&d, need) {
                Ok(Outcome::Compact { edits, .. }) => {
                    planned += 1;
                    if let (0, Ok(cut)) = (at % 16, llgo_ld::edit::apply(&d, &edits)) {
                        let _ = regen::regenerate(&cut);
                    }
                }
                Ok(_) => planned += 1,
                Err(_) => errors += 1,
            }
            if at % 16 == 8 {
                let _ = regen::regenerate(&d);
            }
        }
    }
    eprintln!("load-command corruptions: {planned} planned, {errors} refused");
    assert!(errors > 50);

    // Truncations never panic.
    for len in [0, 16, 40, 200, 1000, base.len() / 2] {
        let _ = compact::plan(&base[..len], need);
        let _ = regen::regenerate(&base[..len]);
    }
}

/// `__LLGO` holding a second non-empty section: refused, naming it.
#[test]
fn llgo_segment_with_a_neighbour_is_refused() {
    let args = ["--segment", "__LLGO", "--entry-pad", PAD, "--segment-neighbour"];
    let fx = build_with("llgo_neighbour", "arm64", &args, &["-O1", "-Wl,-dead_strip"]);
    let mut d = std::fs::read(&fx.bin).unwrap();
    let need = simulate_table(&mut d);
    refused("neighbour", &d, need, &["section __LLGO,__other", "another non-empty section"]);
}

// ---------------------------------------------------------------------------------------------
// A codesign-shaped signature: several blobs, special slots, an alternate CodeDirectory, the
// empty CMS wrapper of `codesign -s -`, slack after the SuperBlob. No macOS here, so the shape is
// built by hand from lld's CodeDirectory; regeneration must keep all of it.

fn be32(v: usize) -> [u8; 4] {
    (v as u32).to_be_bytes()
}

/// Replaces the signature of an lld-signed `image` with SuperBlob {CD with special slots -1, -2
/// (-2 = hash of the requirements), requirements, alternate CD, empty CMS wrapper} + 16 bytes of
/// slack, fixing `datasize` and `__LINKEDIT`'s sizes. The code slots are left stale: only the
/// regenerated signature is checked.
fn codesign_shaped(image: &[u8]) -> Vec<u8> {
    let m = MachO::parse(image, 0).unwrap();
    let (off, size) = signature(&m).unwrap();
    let sb = &image[off as usize..(off + size) as usize];
    let cd_at = u32be(sb, 16) as usize;
    let cd = &sb[cd_at..cd_at + u32be(sb, cd_at + 4) as usize];
    let hash_offset = u32be(cd, 16) as usize;
    let requirements: Vec<u8> =
        [0xfade_0c01u32, 12, 0].iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut special = Vec::new();
    special.extend_from_slice(&sha2::Sha256::digest(&requirements)); // slot -2
    special.extend_from_slice(&[0u8; 32]); // slot -1 (no Info.plist)
    let mut cd1 = cd[..hash_offset].to_vec();
    cd1.extend_from_slice(&special);
    cd1.extend_from_slice(&cd[hash_offset..]);
    let len = cd1.len();
    cd1[4..8].copy_from_slice(&be32(len));
    cd1[16..20].copy_from_slice(&be32(hash_offset + 64));
    cd1[24..28].copy_from_slice(&be32(2));
    let alt = cd.to_vec();
    let cms: Vec<u8> = [0xfade_0b01u32, 8].iter().flat_map(|v| v.to_be_bytes()).collect();
    let blobs: [(u32, &[u8]); 4] = [(0, &cd1), (2, &requirements), (0x1000, &alt), (0x10000, &cms)];
    let header = 12 + 8 * blobs.len();
    let mut index = Vec::new();
    let mut body = Vec::new();
    for (slot, b) in blobs {
        index.extend_from_slice(&slot.to_be_bytes());
        index.extend_from_slice(&be32(header + body.len()));
        body.extend_from_slice(b);
    }
    let total = header + body.len();
    let mut new_sb = Vec::new();
    new_sb.extend_from_slice(&0xfade_0cc0u32.to_be_bytes());
    new_sb.extend_from_slice(&be32(total));
    new_sb.extend_from_slice(&be32(blobs.len()));
    new_sb.extend_from_slice(&index);
    new_sb.extend_from_slice(&body);
    new_sb.extend_from_slice(&[0u8; 16]); // slack
    let mut out = image[..off as usize].to_vec();
    out.extend_from_slice(&new_sb);
    let (_, cs) = lc_offsets(&out).into_iter().find(|&(c, _)| c == 0x1d).unwrap();
    out[cs + 12..cs + 16].copy_from_slice(&(new_sb.len() as u32).to_le_bytes());
    let le = segment_cmd(&out, "__LINKEDIT");
    let fileoff = u64::from_le_bytes(out[le + 40..le + 48].try_into().unwrap());
    let filesize = out.len() as u64 - fileoff;
    out[le + 48..le + 56].copy_from_slice(&filesize.to_le_bytes());
    out[le + 32..le + 40].copy_from_slice(&filesize.to_le_bytes());
    out
}

/// `(slot type, blob bytes)` of the SuperBlob, and its length field.
fn blobs_of(image: &[u8]) -> (Vec<(u64, Vec<u8>)>, u64, u64) {
    let m = MachO::parse(image, 0).unwrap();
    let (off, size) = signature(&m).unwrap();
    let sb = &image[off as usize..(off + size) as usize];
    let mut v = Vec::new();
    for i in 0..u32be(sb, 8) as usize {
        let at = u32be(sb, 16 + 8 * i) as usize;
        v.push((u32be(sb, 12 + 8 * i), sb[at..at + u32be(sb, at + 4) as usize].to_vec()));
    }
    (v, u32be(sb, 4), size)
}

#[test]
fn codesign_shaped_signature_keeps_its_blobs() {
    let fx = build("llgo_codesign", "arm64", "__LLGO", PAD, &["-O1", "-Wl,-dead_strip"]);
    let mut d = codesign_shaped(&std::fs::read(&fx.bin).unwrap());
    let need = simulate_table(&mut d);
    let Outcome::Compact { edits, removed, .. } = compact::plan(&d, need).unwrap() else {
        panic!("expected a compaction");
    };
    let out = regen::resign(&llgo_ld::edit::apply(&d, &edits).unwrap()).unwrap();
    let path = scratch_dir("compact_macho/codesign-out").join("llgo_codesign");
    std::fs::write(&path, &out).unwrap();
    objdump(&["--macho", "--private-headers", "--chained-fixups"], &path);

    check_page_hashes(&out); // both CodeDirectories, every page
    let (before, _, size0) = blobs_of(&d);
    let (after, sb_len, size1) = blobs_of(&out);
    assert_eq!(size1 - sb_len, 16, "slack kept");
    assert_eq!(
        before.iter().map(|b| b.0).collect::<Vec<_>>(),
        after.iter().map(|b| b.0).collect::<Vec<_>>(),
        "blob order"
    );
    assert_eq!(before[1], after[1], "requirements verbatim");
    assert_eq!(before[3], after[3], "empty CMS wrapper verbatim");
    let slots_removed = (removed / 4096) as usize;
    for i in [0, 2] {
        let (a, b) = (&before[i].1, &after[i].1);
        let ho = u32be(a, 16) as usize;
        assert_eq!(u32be(b, 16) as usize, ho);
        // Header up to length, and from version to nCodeSlots, identifier, special slots.
        assert_eq!(a[8..28], b[8..28]);
        assert_eq!(a[36..ho], b[36..ho], "CodeDirectory {i}: fields after codeLimit");
        assert_eq!(u32be(a, 28) as usize - slots_removed, u32be(b, 28) as usize);
        assert_eq!(b.len(), ho + 32 * u32be(b, 28) as usize);
    }
    // Special slot -2 still hashes the requirements blob.
    let ho = u32be(&after[0].1, 16) as usize;
    assert_eq!(&after[0].1[ho - 64..ho - 32], sha2::Sha256::digest(&after[1].1).as_slice());
    eprintln!(
        "codesign-shaped: signature {size0} -> {size1} bytes, file {} -> {} bytes",
        d.len(),
        out.len()
    );
}

/// Through the one pipeline: `llgo-ld rewrite` writes the table into `__LLGO,__llgo_fie`,
/// compacts the segment and (signed images) regenerates the signature; `llgo-ld verify` (dyld
/// simulated at several slides) passes; the section is `need` bytes and the segment's file size
/// the page-aligned table end, its vmsize unchanged; llvm-objdump-19 lists the dyld info and
/// chained fixups without a complaint; every page hash is recomputed here and the signature is
/// compared with llvm-objcopy-19's for the same bytes.
fn rewrite_and_check(fx: &Fx, tag: &str, want_signed: bool) {
    let orig = std::fs::read(&fx.bin).unwrap();
    let m0 = MachO::parse(&orig, 0).unwrap();
    let ((seg_off, seg_size, seg_vm), (sec_off, _)) = entry(&m0);
    assert_eq!(signature(&m0).is_some(), want_signed, "{tag}");
    let dir = scratch_dir(&format!("compact_macho/{tag}"));
    let path = dir.join(fx.bin.file_name().unwrap());
    std::fs::write(&path, &orig).unwrap();
    let out = support::llgo_ld([Path::new("rewrite"), &path]);
    let text = support::show(&out);
    assert!(out.status.success(), "{tag}: {text}");
    let removed: u64 = String::from_utf8_lossy(&out.stdout)
        .split("compacted: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{tag}: no 'compacted: N bytes cut' in {text}"));
    let data = std::fs::read(&path).unwrap();
    let m1 = MachO::parse(&data, 0).unwrap();
    let ((o1, s1, vm1), (sec1, size1)) = entry(&m1);
    let at = sec1 as usize;
    assert_eq!(&data[at..at + 8], b"LLGOFTB1", "{tag}");
    let need = 32 + 8 * u32le(&data, at + 24) + 36 * u32le(&data, at + 28);
    let new_seg = (sec_off + need - seg_off).div_ceil(fx.page) * fx.page;
    assert_eq!((o1, s1, vm1, sec1, size1), (seg_off, new_seg, seg_vm, sec_off, need), "{tag}");
    assert_eq!(removed, seg_size - new_seg, "{tag}: bytes cut");
    assert!(removed > 0 && removed % fx.page == 0, "{tag}: {removed:#x}");
    if !want_signed {
        assert_eq!(data.len() as u64, orig.len() as u64 - removed, "{tag}");
    }
    let verify = support::llgo_ld([Path::new("verify"), &path]);
    let vtext = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(verify.status.success(), "{tag}: {}", support::show(&verify));
    assert!(vtext.contains("at slide 0x4000") && vtext.contains("at slide 0x234568000"), "{vtext}");
    for args in [["--macho", "--dyld-info"], ["--macho", "--chained-fixups"]] {
        let out = checked(
            Command::new(require_tool("llvm-objdump-19")).args(args).arg(&path),
            "llvm-objdump-19",
        );
        assert!(out.stderr.is_empty(), "{tag}: {args:?}: {}", support::show(&out));
        assert!(String::from_utf8_lossy(&out.stdout).lines().count() > 5, "{tag}: {args:?}");
    }
    if want_signed {
        let (limit, _, _, _) = check_page_hashes(&data);
        assert_eq!(limit, signature(&m1).unwrap().0, "{tag}");
        compare_with_objcopy(&data, &path, tag);
    } else {
        assert!(signature(&m1).is_none(), "{tag}");
    }
    eprintln!("{tag}: {} -> {} bytes, {removed:#x} cut, need {need:#x}", orig.len(), data.len());
}

#[test]
fn rewrite_compacts_llgo_segment_arm64_and_x86_64_signed_and_unsigned() {
    let cases: [(&str, &str, &[&str], bool); 4] = [
        ("cli_arm64_signed", "arm64", &["-O1", "-Wl,-dead_strip"], true),
        (
            "cli_arm64_unsigned",
            "arm64",
            &["-O1", "-Wl,-dead_strip", "-Wl,-no_adhoc_codesign"],
            false,
        ),
        ("cli_x86_64_signed", "x86_64", &["-O1", "-Wl,-dead_strip", "-Wl,-adhoc_codesign"], true),
        ("cli_x86_64_unsigned", "x86_64", &["-O1", "-Wl,-dead_strip"], false),
    ];
    for (tag, arch, flags, signed) in cases {
        let fx = build(&format!("{tag}_fx"), arch, "__LLGO", PAD, flags);
        rewrite_and_check(&fx, tag, signed);
    }
}
