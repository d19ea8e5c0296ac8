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

use llgo_ld::compact::apply;
use llgo_ld::compact::elf::entry_section;
use llgo_ld::compact::elf::plan;
use llgo_ld::compact::elf::Compaction;
use llgo_ld::compact::elf::Decision;
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

    let run = Command::new(&exe).env("LLGO_FUNCINFO_DEBUG", "1").output().expect("run the program");
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
