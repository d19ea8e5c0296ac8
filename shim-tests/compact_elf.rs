//! ELF compaction (src/compact/elf.rs) against real LLGo 3e0fdda00 executables and against
//! generation-2 fixtures linked with LLGo's linker script by lld and ld.bfd.
//!
//! Corpus: for every generation-2 embedded sample, LLGo's own table is copied into the raw link
//! output, our compaction plan is applied, and the result must equal LLGo's final file byte for
//! byte except stale records inside the entry section past the table. `need` is computed here from
//! LLGo's table header (FORMAT.md 3.1), the section from goblin, never from the code under test.

mod support;

use std::ops::Range;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use llgo_ld::compact::elf::entry_section;
use llgo_ld::compact::elf::plan;
use llgo_ld::compact::elf::Compaction;
use llgo_ld::compact::elf::Decision;
use llgo_ld::edit::apply;
use support::*;

const ENTRY: &str = "llgo_funcinfo_entry";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/corpus/llgo-3e0fdda00")
}

/// `xz -dc` of a corpus file.
fn unxz(path: &Path) -> Vec<u8> {
    assert!(
        path.is_file(),
        "corpus file {} is missing: the real-LLGo corpus belongs in shim-tests/corpus/",
        path.display()
    );
    let out = checked(Command::new(require_tool("xz")).arg("-dc").arg(path), "xz -dc");
    out.stdout
}

/// (sh_offset, sh_size, sh_addr) of the named section, read with goblin.
fn goblin_section(data: &[u8], name: &str) -> Option<(u64, u64, u64)> {
    let elf = goblin::elf::Elf::parse(data).expect("goblin parses the ELF file");
    elf.section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
        .map(|s| (s.sh_offset, s.sh_size, s.sh_addr))
}

fn le32(data: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(data[at..at + 4].try_into().unwrap()))
}

/// The size of an `LLGOFTB1` blob from its header (FORMAT.md 3.1): 32 + 8*count + 36*buckets.
fn blob_size(data: &[u8], at: usize) -> u64 {
    assert_eq!(&data[at..at + 8], b"LLGOFTB1", "LLGOFTB1 magic at file offset {at:#x}");
    32 + 8 * le32(data, at + 24) + 36 * le32(data, at + 28)
}

/// Maximal ranges where `a` and `b` differ (same length).
fn differing_ranges(a: &[u8], b: &[u8]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            match out.last_mut() {
                Some(r) if r.end == i => r.end = i + 1,
                _ => out.push(i..i + 1),
            }
        }
    }
    out
}

fn readelf_ls(path: &Path) -> String {
    let out = checked(
        Command::new(require_tool("llvm-readelf-19")).arg("-lS").arg(path),
        "llvm-readelf-19 -lS",
    );
    assert!(
        out.stderr.is_empty(),
        "llvm-readelf-19 warns about {}:\n{}",
        path.display(),
        show(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn corpus_sample(name: &str) {
    let dir = scratch_dir(&format!("compact_elf_{name}"));
    let raw = unxz(&corpus_dir().join(format!("{name}.raw.xz")));
    let fin = unxz(&corpus_dir().join(format!("{name}.final.xz")));
    let (off, raw_size, addr) = goblin_section(&raw, ENTRY).expect("raw has the entry section");
    let (fin_off, fin_size, fin_addr) =
        goblin_section(&fin, ENTRY).expect("final has the entry section");
    assert_eq!((off, addr), (fin_off, fin_addr), "{name}: the entry section does not move");
    let need = blob_size(&fin, off as usize);
    assert_eq!(fin_size, need, "{name}: LLGo sets sh_size to the blob size");

    let mut staged = raw.clone();
    staged[off as usize..(off + need) as usize]
        .copy_from_slice(&fin[off as usize..(off + need) as usize]);
    let entry = entry_section(&staged).unwrap().expect("entry section found");
    let c: Compaction = match plan(&staged, entry, need).unwrap() {
        Decision::Compact(c) => c,
        Decision::Keep(r) => panic!("{name}: LLGo compacted this layout, we refused: {r}"),
    };
    let out = apply(&staged, &c.edits).unwrap();
    assert_eq!(out.len() as u64, c.new_len);
    eprintln!(
        "{name}: raw {} bytes, LLGo final {} bytes, ours {} bytes; entry section {raw_size:#x} -> need {need:#x}; cut [{:#x}, {:#x}) = {} bytes",
        raw.len(),
        fin.len(),
        out.len(),
        c.cut.start,
        c.cut.end,
        c.removed
    );
    assert_eq!(out.len(), fin.len(), "{name}: our compacted size differs from LLGo's");
    // Stale records LLGo leaves past the table inside the section (the kept alignment slack).
    let stale = (off + need) as usize..c.cut.start as usize;
    for r in differing_ranges(&out, &fin) {
        eprintln!("{name}: differs at [{:#x}, {:#x}) ({} bytes)", r.start, r.end, r.len());
        assert!(
            r.start >= stale.start && r.end <= stale.end,
            "{name}: bytes [{:#x}, {:#x}) differ outside the stale tail [{:#x}, {:#x}) of the entry section",
            r.start,
            r.end,
            stale.start,
            stale.end
        );
    }

    let exe = dir.join(name);
    write_executable(&exe, &out);
    let final_path = dir.join(format!("{name}.llgo-final"));
    std::fs::write(&final_path, &fin).unwrap();
    assert_eq!(readelf_ls(&exe), readelf_ls(&final_path), "{name}: headers differ from LLGo's");
    let (_, size_now, _) = goblin_section(&out, ENTRY).unwrap();
    assert_eq!(size_now, need);

    run_corpus_program(name, &exe);

    // FORMAT.md asks the rewrite to zero the section past the table; LLGo leaves stale records.
    // Zeroed, the result differs from LLGo's only there, and runs the same.
    let mut zeroed = staged.clone();
    zeroed[(off + need) as usize..(off + raw_size) as usize].fill(0);
    let Decision::Compact(z) = plan(&zeroed, entry, need).unwrap() else {
        panic!("{name}: refused once zeroed")
    };
    assert_eq!(z, c, "{name}: the plan does not depend on the section's stale bytes");
    let out = apply(&zeroed, &z.edits).unwrap();
    assert_eq!(out.len(), fin.len());
    let ranges = differing_ranges(&out, &fin);
    let total: usize = ranges.iter().map(|r| r.len()).sum();
    eprintln!(
        "{name} (tail zeroed): {total} bytes differ in {} ranges, first {:x?}, last {:x?}; stale tail [{:#x}, {:#x})",
        ranges.len(),
        ranges.first(),
        ranges.last(),
        stale.start,
        stale.end
    );
    for r in &ranges {
        assert!(
            r.start >= stale.start && r.end <= stale.end,
            "{name}: [{:#x}, {:#x}) differs outside the stale tail",
            r.start,
            r.end
        );
        assert!(out[r.clone()].iter().all(|&b| b == 0), "{name}: ours is zero there");
    }
    let exe = dir.join(format!("{name}.zeroed"));
    write_executable(&exe, &out);
    run_corpus_program(name, &exe);
}

/// Runs a corpus program: it must print `PASS` last and report that it adopted the table.
fn run_corpus_program(name: &str, exe: &Path) {
    let run = output_retrying(Command::new(exe).env("LLGO_FUNCINFO_DEBUG", "1"))
        .expect("run the program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{name} failed:\n{}", show(&run));
    assert_eq!(stdout.lines().last(), Some("PASS"), "{name}:\n{}", show(&run));
    assert!(
        stdout.lines().chain(stderr.lines()).any(|l| l.ends_with("entries= prebuilt")),
        "{name} did not adopt the table:\n{}",
        show(&run)
    );
}

#[test]
fn corpus_probe_default() {
    corpus_sample("probe-default");
}

#[test]
fn corpus_probe_fulllto() {
    corpus_sample("probe-fulllto");
}

#[test]
fn corpus_probe_thinlto() {
    corpus_sample("probe-thinlto");
}

#[test]
fn corpus_big_default() {
    corpus_sample("big-default");
}

#[test]
fn corpus_big_fulllto() {
    corpus_sample("big-fulllto");
}

#[test]
fn corpus_big_thinlto() {
    corpus_sample("big-thinlto");
}

// ---------------------------------------------------------------------------------------------
// Generation-2 fixtures (gen.py --generation 2) linked with LLGo's script by lld and ld.bfd.

/// The table for a generation-2 fixture, from `llgo-ld rewrite` of a copy (which also
/// compacts it; only the first `need` bytes of its entry section are taken, the compaction
/// under test here is planned again on the raw fixture). Returns (table bytes, need).
fn table_for(exe: &Path, dir: &Path) -> (Vec<u8>, u64) {
    let copy = dir.join("rewritten-copy");
    std::fs::copy(exe, &copy).unwrap();
    checked(
        Command::new(env!("CARGO_BIN_EXE_llgo-ld")).arg("rewrite").arg(&copy),
        "llgo-ld rewrite",
    );
    let data = std::fs::read(&copy).unwrap();
    let (off, _, _) = goblin_section(&data, ENTRY).unwrap();
    let need = blob_size(&data, off as usize);
    (data[off as usize..(off + need) as usize].to_vec(), need)
}

/// The fixture with the table written into the first `need` bytes of its entry section.
fn staged(exe: &Path, dir: &Path) -> (Vec<u8>, u64, u64) {
    let raw = std::fs::read(exe).unwrap();
    let (table, need) = table_for(exe, dir);
    let (off, _, _) = goblin_section(&raw, ENTRY).unwrap();
    let mut staged = raw;
    staged[off as usize..(off + need) as usize].copy_from_slice(&table);
    (staged, off, need)
}

fn segment_mapping(path: &Path) -> String {
    let text = readelf_ls(path);
    let at = text.find("Section to Segment mapping").expect("readelf prints the mapping");
    text[at..].to_string()
}

/// Every header of `out` agrees with `before` compacted by `c`, checked with goblin, and the cut
/// never overlaps another section's file bytes.
fn check_compacted(before: &[u8], out: &[u8], c: &Compaction, need: u64) {
    let a = goblin::elf::Elf::parse(before).unwrap();
    let b = goblin::elf::Elf::parse(out).unwrap();
    assert_eq!(out.len() as u64, before.len() as u64 - c.removed);
    assert_eq!(a.section_headers.len(), b.section_headers.len());
    let name =
        |s: &goblin::elf::SectionHeader| a.shdr_strtab.get_at(s.sh_name).unwrap_or("?").to_string();
    for (s, t) in a.section_headers.iter().zip(&b.section_headers) {
        let n = name(s);
        assert_eq!(
            (s.sh_type, s.sh_flags, s.sh_addr, s.sh_addralign),
            (t.sh_type, t.sh_flags, t.sh_addr, t.sh_addralign),
            "{n}"
        );
        let nobits = s.sh_type == goblin::elf::section_header::SHT_NOBITS;
        if n == ENTRY {
            assert_eq!((t.sh_offset, t.sh_size), (s.sh_offset, need), "{n}");
            assert!(
                c.cut.start >= s.sh_offset + need && c.cut.end <= s.sh_offset + s.sh_size,
                "cut inside {n}"
            );
            assert_eq!(
                &out[t.sh_offset as usize..][..need as usize],
                &before[s.sh_offset as usize..][..need as usize]
            );
            continue;
        }
        assert_eq!(s.sh_size, t.sh_size, "{n}");
        if !nobits && s.sh_size != 0 && s.sh_type != goblin::elf::section_header::SHT_NULL {
            let end = s.sh_offset + s.sh_size;
            assert!(
                end <= c.cut.start || s.sh_offset >= c.cut.end,
                "{n} [{:#x}, {end:#x}) overlaps the cut {:?}",
                s.sh_offset,
                c.cut
            );
            assert_eq!(
                &out[t.sh_offset as usize..][..t.sh_size as usize],
                &before[s.sh_offset as usize..][..s.sh_size as usize],
                "{n}: contents moved intact"
            );
        }
        let expect = if s.sh_offset >= c.cut.end {
            s.sh_offset - c.removed
        } else if nobits && s.sh_offset >= c.cut.start {
            c.cut.start
        } else {
            s.sh_offset
        };
        assert_eq!(t.sh_offset, expect, "{n} sh_offset");
    }
    assert_eq!(a.program_headers.len(), b.program_headers.len());
    for (i, (p, q)) in a.program_headers.iter().zip(&b.program_headers).enumerate() {
        assert_eq!(
            (p.p_type, p.p_offset, p.p_vaddr, p.p_memsz, p.p_align),
            (q.p_type, q.p_offset, q.p_vaddr, q.p_memsz, q.p_align),
            "phdr {i}"
        );
        let filesz = if i == c.carrier { p.p_filesz - c.removed } else { p.p_filesz };
        assert_eq!(q.p_filesz, filesz, "phdr {i} p_filesz");
    }
    assert_eq!(a.header.e_shoff - c.removed, b.header.e_shoff, "e_shoff");
}

fn gen2_compacts(toolchain: Toolchain, opt: Opt) {
    let dir = scratch_dir(&format!("compact_elf_gen2_{toolchain:?}_{opt:?}"));
    let built = build_gen2_fixture(&dir, &FixtureSpec::GEN2, toolchain, opt, Gen2Script::Llgo);
    let raw = std::fs::read(&built.exe).unwrap();
    assert!(
        goblin_section(&raw, "llgo_funcinfo_stubsite").is_none(),
        "generation 2 has no stub section"
    );
    let elf = goblin::elf::Elf::parse(&raw).unwrap();
    assert!(!elf
        .syms
        .iter()
        .any(|s| elf.strtab.get_at(s.st_name).is_some_and(|n| n.starts_with("__llgo_stub."))));
    let (off, size, _) = goblin_section(&raw, ENTRY).unwrap();
    let meta = (off + size - 48) as usize;
    assert_eq!(&raw[meta + 8..meta + 16], b"LLGOMET1", "the meta record is the last three rows");
    let before = run_program(&built.exe, built.arch);
    assert_eq!(before.status.code(), Some(RTCHECK_NO_TABLE), "{}", show(&before));

    let (staged, _, need) = staged(&built.exe, &dir);
    let entry = entry_section(&staged).unwrap().unwrap();
    let c = match plan(&staged, entry, need).unwrap() {
        Decision::Compact(c) => c,
        Decision::Keep(r) => panic!("LLGo's layout must compact: {r}"),
    };
    assert!(c.removed > 0, "the fixture's entry section has slack past the table");
    let out = apply(&staged, &c.edits).unwrap();
    check_compacted(&staged, &out, &c, need);
    let staged_path = dir.join("staged");
    write_executable(&staged_path, &staged);
    let exe = dir.join("compacted");
    write_executable(&exe, &out);
    assert_eq!(
        segment_mapping(&exe),
        segment_mapping(&staged_path),
        "llvm-readelf-19: same section to segment mapping"
    );
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("table in place"), "{}", show(&run));
}

#[test]
fn gen2_lld_compacts() {
    gen2_compacts(Toolchain::ClangLld, Opt::O1);
}

#[test]
fn gen2_lld_lto_compacts() {
    gen2_compacts(Toolchain::ClangLld, Opt::Lto);
}

#[test]
fn gen2_bfd_compacts() {
    gen2_compacts(Toolchain::GccBfd, Opt::O1);
}

#[test]
fn gen2_aarch64_lld_compacts() {
    gen2_compacts(Toolchain::Aarch64ClangLld, Opt::O1);
}

#[test]
fn gen2_aarch64_bfd_compacts() {
    gen2_compacts(Toolchain::Aarch64GccBfd, Opt::O1);
}

/// A writable section after the entry section in its PT_LOAD: no compaction, the table stays in
/// place at full size and the program still adopts it.
fn gen2_section_after_entry(toolchain: Toolchain) {
    let dir = scratch_dir(&format!("compact_elf_after_{toolchain:?}"));
    let built =
        build_gen2_fixture(&dir, &FixtureSpec::GEN2, toolchain, Opt::O1, Gen2Script::AfterEntry);
    let (staged, _, need) = staged(&built.exe, &dir);
    let entry = entry_section(&staged).unwrap().unwrap();
    match plan(&staged, entry, need).unwrap() {
        Decision::Keep(r) => assert!(r.message().contains("llgo_after"), "{r}"),
        Decision::Compact(c) => panic!("compacted over llgo_after: {c:?}"),
    }
    let exe = dir.join("in-place");
    write_executable(&exe, &staged);
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}

#[test]
fn gen2_lld_section_after_entry_keeps_layout() {
    gen2_section_after_entry(Toolchain::ClangLld);
}

#[test]
fn gen2_bfd_section_after_entry_keeps_layout() {
    gen2_section_after_entry(Toolchain::GccBfd);
}

fn put64(data: &mut [u8], at: u64, v: u64) {
    data[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
}

/// Damaged or hostile layouts: each is refused (no compaction, or an error), with a message
/// naming the structure. Header fields are located here from the ELF64 layout, with goblin.
#[test]
fn gen2_refusals_name_the_structure() {
    let dir = scratch_dir("compact_elf_refusals");
    let built = build_gen2_llgo(&dir);
    let (staged, off, need) = staged(&built.exe, &dir);
    let elf = goblin::elf::Elf::parse(&staged).unwrap();
    let (shoff, phoff) = (elf.header.e_shoff, elf.header.e_phoff);
    let sec = |name: &str| {
        let i = elf
            .section_headers
            .iter()
            .position(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
            .unwrap();
        (shoff + 64 * i as u64, &elf.section_headers[i])
    };
    let phdr = |kind: u32| {
        let i = elf.program_headers.iter().position(|p| p.p_type == kind).unwrap();
        (phoff + 56 * i as u64, &elf.program_headers[i])
    };
    let (entry_at, entry_sh) = sec(ENTRY);
    let carrier_i = elf
        .program_headers
        .iter()
        .position(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD
                && p.p_offset <= off
                && off < p.p_offset + p.p_filesz
        })
        .unwrap();
    let carrier = &elf.program_headers[carrier_i];
    let carrier_at = phoff + 56 * carrier_i as u64;
    let old_end = carrier.p_offset + carrier.p_filesz;
    let inside_cut = (off + need + 64) & !15;
    assert!(inside_cut + 32 < old_end);
    let entry = entry_section(&staged).unwrap().unwrap();

    enum Want {
        Keep(&'static str),
        Error(&'static str),
    }
    let (data_at, _) = sec(".data");
    let (comment_at, comment) = sec(".comment");
    let (symtab_at, _) = sec(".symtab");
    let (stack_at, _) = phdr(goblin::elf::program_header::PT_GNU_STACK);
    let (note_at, _) = phdr(goblin::elf::program_header::PT_NOTE);
    // (what, file offset of a u64 header field, its new value, expected outcome)
    let cases: Vec<(&str, u64, u64, Want)> = vec![
        (
            "allocated section moved into the cut range",
            data_at + 24,
            inside_cut,
            Want::Keep(".data"),
        ),
        (
            "non-allocated section's sh_offset inside the cut range",
            comment_at + 24,
            inside_cut,
            Want::Error(".comment"),
        ),
        (
            "program header after the carrier",
            stack_at + 8,
            old_end + 16,
            Want::Keep("PT_GNU_STACK"),
        ),
        (
            "program header with file bytes in the cut range",
            note_at + 8,
            inside_cut,
            Want::Keep("PT_NOTE"),
        ),
        (
            "carrier memory does not cover the section",
            carrier_at + 40,
            entry_sh.sh_addr + entry_sh.sh_size - 8 - carrier.p_vaddr,
            Want::Keep("PT_LOAD"),
        ),
        (
            "section file range past the end of the file",
            comment_at + 32,
            comment.sh_size + (1 << 40),
            Want::Error(".comment"),
        ),
        ("alignment that is not a power of two", symtab_at + 48, 24, Want::Error(".symtab")),
        ("table larger than the section", entry_at + 32, need - 8, Want::Error(ENTRY)),
    ];
    for (what, at, value, want) in cases {
        let mut d = staged.clone();
        put64(&mut d, at, value);
        let copy = d.clone();
        let got = plan(&d, entry, need);
        eprintln!("{what}: {got:?}");
        assert_eq!(d, copy, "{what}: plan does not touch its input");
        match (got, want) {
            (Ok(Decision::Keep(r)), Want::Keep(n)) => {
                assert!(r.message().contains(n), "{what}: {r}")
            }
            (Err(e), Want::Error(n)) => assert!(e.message().contains(n), "{what}: {e}"),
            (got, _) => panic!("{what}: unexpected {got:?}"),
        }
    }
}
