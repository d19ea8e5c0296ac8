//! PIE executables and shared libraries (issue 10, FORMAT.md 1.2 and 3.3): a fixture matrix over
//! lld, ld.bfd, gold and mold, x86_64 and aarch64 (qemu), RELA and RELR
//! (`-z pack-relative-relocs`) where the linker writes it. Each cell: link, rewrite, `verify`
//! (which loads the image at several non-zero biases), the run-time check, a second rewrite that
//! changes nothing, and `llvm-readelf-19 -r` before and after: inside the two sections exactly
//! one RELATIVE relocation per live slot, every other relocation as it was, `DT_RELACOUNT`
//! exact. Also: a non-PIE file with a relocation into the entry section is refused untouched,
//! and the shim rewrites a `-shared` link that carries LLGo records while a plain one is only
//! forwarded.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pie,
    /// `-static-pie`: glibc's own start-up code applies the relocations.
    StaticPie,
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relocs {
    Rela,
    Relr,
}

/// One dynamic relocation as `llvm-readelf-19 -r` lists it: the table's section, the target
/// and the rest of the line (type, symbol, addend; RELR: the type RELATIVE).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Listed {
    table: String,
    offset: u64,
    line: String,
}

impl Listed {
    fn relative(&self) -> bool {
        self.table.starts_with(".relr") || self.line.contains("_RELATIVE ")
    }
}

fn readelf(args: &[&str], file: &Path) -> String {
    let out =
        checked(Command::new(require_tool("llvm-readelf-19")).args(args).arg(file), "readelf");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every dynamic relocation of `file`, RELR decoded, by `llvm-readelf-19 -r`.
fn relocations(file: &Path) -> Vec<Listed> {
    let text = readelf(&["-r"], file);
    let mut out = Vec::new();
    let mut table = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            table = rest.split('\'').next().unwrap_or("").to_string();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let hex = |w: &str| u64::from_str_radix(w, 16).ok();
        if table.starts_with(".relr") {
            // "0001:  ENTRY ADDR SYMBOL" or a continuation "ADDR SYMBOL".
            let addr = match words.as_slice() {
                [idx, _, addr, ..] if idx.ends_with(':') => hex(addr),
                [addr, ..] if addr.len() == 16 => hex(addr),
                _ => None,
            };
            if let Some(offset) = addr {
                out.push(Listed { table: table.clone(), offset, line: "RELATIVE".into() });
            }
        } else if let [off, info, kind, ..] = words.as_slice() {
            if let (Some(offset), Some(_)) = (hex(off), hex(info)) {
                let rest = line.splitn(3, char::is_whitespace).nth(2).unwrap_or("");
                let _ = kind;
                out.push(Listed { table: table.clone(), offset, line: rest.trim().into() });
            }
        }
    }
    out
}

/// `DT_<tag>` of `file` by `llvm-readelf-19 -d`, when present.
fn dynamic_tag(file: &Path, tag: &str) -> Option<u64> {
    readelf(&["-d"], file).lines().find_map(|l| {
        let rest = l.split_once(&format!("({tag})"))?.1.trim();
        let value = rest.split_whitespace().next()?;
        match value.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => value.parse().ok(),
        }
    })
}

/// `(address, size)` of a section by `llvm-readelf-19 -S`.
fn section(file: &Path, name: &str) -> (u64, u64) {
    let text = readelf(&["-SW"], file);
    for line in text.lines() {
        let Some(rest) = line.split_once(']').map(|(_, r)| r) else { continue };
        let w: Vec<&str> = rest.split_whitespace().collect();
        if w.first() == Some(&name) {
            let addr = u64::from_str_radix(w[2], 16).expect("address");
            let size = u64::from_str_radix(w[4], 16).expect("size");
            return (addr, size);
        }
    }
    panic!("{}: no section {name}\n{text}", file.display());
}

fn inside(offset: u64, ranges: &[(u64, u64)]) -> bool {
    ranges.iter().any(|&(a, s)| offset + 8 > a && offset < a + s)
}

/// The fixture's sources with LLGo's real section flags: LLGo's site sections are writable
/// (`WALR` in its executables and libraries), and a PIE or shared object needs that, since the
/// records become dynamic relocations. The generated sources include "llgo_records.h" by quotes,
/// so a copy beside them with `"ao"`/`"aR"` made `"awo"`/`"awR"` takes precedence.
fn generate_writable(dir: &Path, spec: &FixtureSpec) -> Vec<PathBuf> {
    // Generation 2 (today's LLGo: no stub section) for a spec without closure stubs.
    let extra: &[&str] = if spec.stubs == 0 { &["--generation", "2"] } else { &[] };
    generate_with(spec, dir, extra);
    let header = std::fs::read_to_string(fixtures_dir().join("llgo_records.h")).expect("header");
    let patched = header.replace(r#"\"ao\""#, r#"\"awo\""#).replace(r#"\"aR\""#, r#"\"awR\""#);
    assert_ne!(header, patched, "llgo_records.h no longer spells the flags \"ao\"");
    std::fs::write(dir.join("src/llgo_records.h"), patched).expect("writing the header copy");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir.join("src"))
        .expect("reading generated sources")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    sources.push(fixtures_dir().join("rtcheck.c"));
    sources
}

/// Links the fixture as a PIE (`dir/prog`) or as a shared library `dir/libfix.so` with a host
/// `dir/prog` that calls its check (`main` renamed). With `shim`, the link runs through
/// `llgo-ld <driver>` (strict), which must rewrite it. Returns (artifact, program to run, arch).
fn build(
    dir: &Path,
    toolchain: Toolchain,
    kind: Kind,
    relocs: Relocs,
    shim: bool,
) -> (PathBuf, PathBuf, Arch) {
    build_spec(dir, &FixtureSpec::MATRIX, toolchain, kind, relocs, shim)
}

fn build_spec(
    dir: &Path,
    spec: &FixtureSpec,
    toolchain: Toolchain,
    kind: Kind,
    relocs: Relocs,
    shim: bool,
) -> (PathBuf, PathBuf, Arch) {
    let sources = generate_writable(dir, spec);
    let prog = dir.join("prog");
    let artifact = match kind {
        Kind::Pie | Kind::StaticPie => prog.clone(),
        Kind::Shared => dir.join("libfix.so"),
    };
    let mut cmd = if shim {
        // Explicit mode: `llgo-ld <driver> ...` with the same driver and linker.
        let plain = toolchain.driver();
        let mut c = Command::new(env!("CARGO_BIN_EXE_llgo-ld"));
        c.arg(plain.get_program()).args(plain.get_args()).env("LLGO_LD_STRICT", "1");
        c
    } else {
        toolchain.driver()
    };
    cmd.args(["-O1", "-ffunction-sections", "-fdata-sections", "-Wall", "-I"])
        .arg(fixtures_dir())
        .args(match kind {
            Kind::Pie => &["-fpie", "-pie"][..],
            Kind::StaticPie => &["-fpie", "-static-pie"][..],
            Kind::Shared => &["-fPIC", "-shared", "-Dmain=fixture_main"][..],
        })
        .args(&sources)
        .arg("-o")
        .arg(&artifact);
    if relocs == Relocs::Relr {
        cmd.arg("-Wl,-z,pack-relative-relocs");
    }
    checked(&mut cmd, "fixture link");
    if kind == Kind::Shared {
        let host = dir.join("host.c");
        std::fs::write(
            &host,
            "int fixture_main(void);\nint main(void) { return fixture_main(); }\n",
        )
        .expect("writing host.c");
        checked(
            toolchain
                .driver()
                .arg(&host)
                .arg("-o")
                .arg(&prog)
                .arg(format!("-L{}", dir.display()))
                .arg("-lfix")
                .arg("-Wl,-rpath,$ORIGIN"),
            "host link",
        );
    }
    (artifact, prog, toolchain.arch())
}

fn cell(name: &str, toolchain: Toolchain, kind: Kind, relocs: Relocs) {
    let spec = if name.contains("_gen2") { FixtureSpec::GEN2 } else { FixtureSpec::MATRIX };
    let dir = scratch_dir(&format!("pie/{name}"));
    let (artifact, prog, arch) = build_spec(&dir, &spec, toolchain, kind, relocs, false);
    let before_run = run_program(&prog, arch);
    assert_eq!(before_run.status.code(), Some(RTCHECK_NO_TABLE), "{}", show(&before_run));
    if relocs == Relocs::Relr {
        assert!(dynamic_tag(&artifact, "RELR").is_some(), "{name}: the linker wrote no DT_RELR");
    }

    let entry = section(&artifact, "llgo_funcinfo_entry");
    // Generation 2 has no stub section: an empty range.
    let stub = if spec.stubs == 0 { (0, 0) } else { section(&artifact, "llgo_funcinfo_stubsite") };
    let ranges = [entry, stub];
    let before = relocations(&artifact);
    let into_before: Vec<&Listed> = before.iter().filter(|r| inside(r.offset, &ranges)).collect();
    assert!(!into_before.is_empty(), "{name}: no relocation into the sections before");
    // Records are RELATIVE; in a shared object the meta rows point at exported (preemptible)
    // globals, so the linker writes the 64-bit absolute type against their symbols instead.
    let pointer = |r: &&Listed| {
        r.relative() || r.line.contains("R_X86_64_64 ") || r.line.contains("R_AARCH64_ABS64 ")
    };
    let odd: Vec<&&Listed> = into_before.iter().filter(|r| !pointer(r)).take(5).collect();
    assert!(odd.is_empty(), "{name}: not pointer relocations: {odd:?}");
    let relacount_before = dynamic_tag(&artifact, "RELACOUNT");

    let inspect = llgo_ld(["inspect".as_ref(), "--json".as_ref(), artifact.as_os_str()]);
    let said = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        said.contains(&format!("\"into_sections\":{}", into_before.len())),
        "{name}: inspect does not show the relocation picture\n{said}"
    );

    let rewrite = llgo_ld(["rewrite".as_ref(), artifact.as_os_str()]);
    assert!(rewrite.status.success(), "{name}: rewrite\n{}", show(&rewrite));
    assert!(String::from_utf8_lossy(&rewrite.stdout).contains("rewritten"), "{}", show(&rewrite));
    let verify = llgo_ld(["verify".as_ref(), artifact.as_os_str()]);
    let vsaid = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{name}: verify\n{}", show(&verify));
    for slide in ["0x555555550000", "0x7f1234560000", "0x100000000"] {
        assert!(vsaid.contains(&format!("at slide {slide}")), "{name}: verify\n{vsaid}");
    }

    let run = run_program(&prog, arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{name}: run-time check\n{}", show(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("table in place"), "{}", show(&run));

    // The relocation lists: inside the sections exactly the live slot (the table's base, 16
    // bytes into the entry section), RELATIVE; every other relocation as before.
    let after = relocations(&artifact);
    let into_after: Vec<&Listed> = after.iter().filter(|r| inside(r.offset, &ranges)).collect();
    assert_eq!(into_after.len(), 1, "{name}: {into_after:?}");
    assert_eq!(into_after[0].offset, entry.0 + 16, "{name}: {into_after:?}");
    assert!(into_after[0].relative(), "{name}: {into_after:?}");
    let mut rest_before: Vec<&Listed> =
        before.iter().filter(|r| !inside(r.offset, &ranges)).collect();
    let mut rest_after: Vec<&Listed> =
        after.iter().filter(|r| !inside(r.offset, &ranges)).collect();
    rest_before.sort();
    rest_after.sort();
    assert!(rest_before == rest_after, "{name}: relocations outside the sections changed");
    assert_eq!(after.len(), before.len() - into_before.len() + 1, "{name}");

    // DT_RELACOUNT: the leading RELATIVE block of .rela.dyn, less what left it, plus the live
    // slot when it went there (no RELR).
    if let Some(count) = relacount_before {
        let rela = |list: &[Listed], inside_only: bool| {
            list.iter()
                .filter(|r| r.table == ".rela.dyn" && r.relative())
                .filter(|r| !inside_only || inside(r.offset, &ranges))
                .count() as u64
        };
        let removed = rela(&before, true);
        let added = rela(&after, true);
        let count_after = dynamic_tag(&artifact, "RELACOUNT").expect("DT_RELACOUNT kept");
        assert_eq!(count_after, count - removed + added, "{name}: DT_RELACOUNT");
        let leading =
            after.iter().filter(|r| r.table == ".rela.dyn").take_while(|r| r.relative()).count()
                as u64;
        assert!(
            count_after <= leading,
            "{name}: DT_RELACOUNT {count_after} > {leading} leading RELATIVE"
        );
    }

    let once = std::fs::read(&artifact).expect("reading the rewritten file");
    let again = llgo_ld(["rewrite".as_ref(), artifact.as_os_str()]);
    assert!(again.status.success(), "second rewrite\n{}", show(&again));
    assert!(
        once == std::fs::read(&artifact).expect("reading again"),
        "{name}: second rewrite changed the file"
    );
    println!(
        "{name}: {} relocations before, {} after; {} into the sections before, 1 after; RELACOUNT {:?} -> {:?}",
        before.len(),
        after.len(),
        into_before.len(),
        relacount_before,
        dynamic_tag(&artifact, "RELACOUNT")
    );
}

macro_rules! cells {
    ($($name:ident: $tc:ident, $kind:ident, $relocs:ident;)*) => {$(
        #[test]
        fn $name() {
            cell(stringify!($name), Toolchain::$tc, Kind::$kind, Relocs::$relocs);
        }
    )*};
}

cells! {
    x86_lld_pie_rela:     ClangLld, Pie, Rela;
    x86_lld_pie_relr:     ClangLld, Pie, Relr;
    x86_lld_so_rela:      ClangLld, Shared, Rela;
    x86_lld_so_relr:      ClangLld, Shared, Relr;
    x86_bfd_pie_rela:     GccBfd, Pie, Rela;
    x86_bfd_pie_relr:     GccBfd, Pie, Relr;
    x86_bfd_so_rela:      GccBfd, Shared, Rela;
    x86_bfd_so_relr:      GccBfd, Shared, Relr;
    x86_gold_pie_rela:    GccGold, Pie, Rela;
    x86_gold_so_rela:     GccGold, Shared, Rela;
    x86_mold_pie_rela:    Mold, Pie, Rela;
    x86_mold_so_rela:     Mold, Shared, Rela;
    a64_lld_pie_rela:     Aarch64ClangLld, Pie, Rela;
    a64_lld_pie_relr:     Aarch64ClangLld, Pie, Relr;
    a64_lld_so_rela:      Aarch64ClangLld, Shared, Rela;
    a64_lld_so_relr:      Aarch64ClangLld, Shared, Relr;
    a64_bfd_pie_rela:     Aarch64GccBfd, Pie, Rela;
    a64_bfd_so_rela:      Aarch64GccBfd, Shared, Rela;
    x86_bfd_static_pie:   GccBfd, StaticPie, Rela;
    x86_lld_pie_gen2:     ClangLld, Pie, Rela;
    x86_lld_so_relr_gen2: ClangLld, Shared, Relr;
    x86_bfd_pie_gen2:     GccBfd, Pie, Rela;
    a64_lld_pie_gen2:     Aarch64ClangLld, Pie, Relr;
    x86_lld_static_pie:   ClangLld, StaticPie, Rela;
}
// No mold RELR cells: mold 1.10.1 writes DT_RELR without the GLIBC_ABI_DT_RELR version need,
// and glibc refuses to load the result ("DT_RELR without GLIBC_ABI_DT_RELR dependency") before
// any rewrite. gold writes no RELR at all, and the aarch64 ld.bfd here (2.40) ignores
// `-z pack-relative-relocs` (RELR for aarch64 arrived in binutils 2.41).

// ---- Refusals: a relocation into the sections that the plan does not own, and dynamic-section
// entries no loader could use (issue 11). Each is built from a fixture at test time by patching
// the bytes, refused with a message naming the structure, and leaves the file byte-identical.

/// `(file offset, tag, value)` of every dynamic entry, read with goblin's program headers.
fn dynamic_entries(data: &[u8]) -> Vec<(usize, u64, u64)> {
    let elf = goblin::elf::Elf::parse(data).expect("goblin parses the fixture");
    let ph = elf
        .program_headers
        .iter()
        .find(|p| p.p_type == goblin::elf::program_header::PT_DYNAMIC)
        .expect("PT_DYNAMIC");
    let (start, size) = (ph.p_offset as usize, ph.p_filesz as usize);
    let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().expect("8 bytes"));
    (start..start + size)
        .step_by(16)
        .map(|at| (at, word(at), word(at + 8)))
        .take_while(|&(_, tag, _)| tag != 0)
        .collect()
}

/// Builds a non-PIE fixture, patches it with `patch`, and checks the rewrite refuses it with a
/// message containing every one of `words`, leaving it untouched.
fn refused_after(name: &str, toolchain: Toolchain, patch: impl Fn(&mut Vec<u8>), words: &[&str]) {
    let dir = scratch_dir(&format!("pie/{name}"));
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, toolchain, Opt::O1, false);
    refused_file(name, &built.exe, patch, words);
}

fn refused_file(name: &str, exe: &Path, patch: impl Fn(&mut Vec<u8>), words: &[&str]) {
    let mut data = std::fs::read(exe).expect("reading the fixture");
    patch(&mut data);
    write_executable(exe, &data);
    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert_eq!(rewrite.status.code(), Some(1), "{name}: rewrite\n{}", show(&rewrite));
    let said = String::from_utf8_lossy(&rewrite.stderr);
    for w in words {
        assert!(said.contains(w), "{name}: the message does not name {w:?}: {said}");
    }
    assert!(std::fs::read(exe).expect("reading again") == data, "{name}: file changed");
}

/// The first entry of section `table` retargeted at 32 bytes into the entry section; returns
/// its `r_info` type.
fn retarget_first(data: &mut [u8], table: &str) -> u32 {
    let elf = goblin::elf::Elf::parse(data).expect("goblin");
    let named = |n: &str| {
        elf.section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(n))
            .unwrap_or_else(|| panic!("no {n}"))
            .clone()
    };
    let entry = named("llgo_funcinfo_entry").sh_addr;
    let at = named(table).sh_offset as usize;
    drop(elf);
    data[at..at + 8].copy_from_slice(&(entry + 32).to_le_bytes());
    u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes"))
}

/// A PLT relocation (DT_JMPREL) into the entry section of a non-PIE file: refused.
#[test]
fn jump_slot_into_the_entry_section_is_refused() {
    refused_after(
        "jump_slot_into_entry",
        Toolchain::GccBfd,
        |data| assert_eq!(retarget_first(data, ".rela.plt"), 7, "R_X86_64_JUMP_SLOT"),
        &["R_X86_64_JUMP_SLOT", "DT_JMPREL", "llgo_funcinfo_entry"],
    );
}

/// In a PIE the plan owns only the pointer relocations: a GLOB_DAT into the entry section is
/// refused there too.
#[test]
fn pie_glob_dat_into_the_entry_section_is_refused() {
    let dir = scratch_dir("pie/pie_glob_dat_into_entry");
    let (artifact, _, _) = build(&dir, Toolchain::GccBfd, Kind::Pie, Relocs::Rela, false);
    refused_file(
        "pie_glob_dat_into_entry",
        &artifact,
        |data| {
            // .rela.dyn of a bfd PIE starts with its RELATIVE block; find a GLOB_DAT.
            let elf = goblin::elf::Elf::parse(data).expect("goblin");
            let rela = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".rela.dyn"))
                .expect(".rela.dyn")
                .clone();
            let entry = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("llgo_funcinfo_entry"))
                .expect("entry")
                .sh_addr;
            drop(elf);
            let at = (0..rela.sh_size as usize / 24)
                .map(|i| rela.sh_offset as usize + 24 * i)
                .find(|&at| data[at + 8] == 6)
                .expect("a GLOB_DAT in .rela.dyn");
            data[at..at + 8].copy_from_slice(&(entry + 32).to_le_bytes());
        },
        &["R_X86_64_GLOB_DAT", "llgo_funcinfo_entry", "surgery does not handle"],
    );
}

/// Patches the first `.rela.dyn` entry (a GLOB_DAT in every glibc-linked fixture) to target the
/// entry section: the loader would overwrite a word of the table.
#[test]
fn non_pie_glob_dat_into_the_entry_section_is_refused() {
    refused_after(
        "glob_dat_into_entry",
        Toolchain::GccBfd,
        |data| {
            let elf = goblin::elf::Elf::parse(data).expect("goblin");
            let entry = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("llgo_funcinfo_entry"))
                .expect("entry section")
                .sh_addr;
            let rela = elf
                .section_headers
                .iter()
                .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".rela.dyn"))
                .expect(".rela.dyn");
            let at = rela.sh_offset as usize;
            let kind = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes"));
            assert_eq!(kind, 6, "the first .rela.dyn entry is not R_X86_64_GLOB_DAT");
            data[at..at + 8].copy_from_slice(&(entry + 32).to_le_bytes());
        },
        &["R_X86_64_GLOB_DAT", "llgo_funcinfo_entry", "not position-independent"],
    );
}

#[test]
fn relasz_not_a_multiple_of_24_is_refused() {
    refused_after(
        "relasz_odd",
        Toolchain::GccBfd,
        |data| {
            let (at, _, v) =
                dynamic_entries(data).into_iter().find(|e| e.1 == 8).expect("DT_RELASZ");
            data[at + 8..at + 16].copy_from_slice(&(v + 8).to_le_bytes());
        },
        &["DT_RELASZ", "not a multiple of 24"],
    );
}

#[test]
fn rela_outside_the_file_is_refused() {
    refused_after(
        "rela_outside",
        Toolchain::ClangLld,
        |data| {
            let (at, _, _) = dynamic_entries(data).into_iter().find(|e| e.1 == 7).expect("DT_RELA");
            data[at + 8..at + 16].copy_from_slice(&0x7000_0000_0000u64.to_le_bytes());
        },
        &["DT_RELA", "lies in no PT_LOAD"],
    );
}

#[test]
fn relacount_above_the_table_is_refused() {
    refused_after(
        "relacount_high",
        Toolchain::GccBfd,
        |data| {
            let entries = dynamic_entries(data);
            let relasz = entries.iter().find(|e| e.1 == 8).expect("DT_RELASZ").2;
            let (at, _, _) = match entries.iter().find(|e| e.1 == 0x6fff_fff9) {
                Some(e) => *e,
                // No DT_RELACOUNT: turn the (unused) DT_DEBUG entry into one.
                None => *entries.iter().find(|e| e.1 == 21).expect("DT_DEBUG"),
            };
            data[at..at + 8].copy_from_slice(&0x6fff_fff9u64.to_le_bytes());
            data[at + 8..at + 16].copy_from_slice(&(relasz / 24 + 1).to_le_bytes());
        },
        &["DT_RELACOUNT", "above the table"],
    );
}

// ---- The shim and `-shared` -------------------------------------------------------------------

/// A `-shared` link through the shim whose output carries LLGo records is rewritten like an
/// executable (strict mode: a failure would fail the link); the library then passes its check
/// through a host.
#[test]
fn shim_rewrites_a_shared_link_with_llgo_records() {
    for (name, toolchain) in
        [("shim_so_lld", Toolchain::ClangLld), ("shim_so_bfd", Toolchain::GccBfd)]
    {
        let dir = scratch_dir(&format!("pie/{name}"));
        let (lib, prog, arch) = build(&dir, toolchain, Kind::Shared, Relocs::Rela, true);
        let head = objdump_head(&lib, "llgo_funcinfo_entry");
        assert_eq!(&head[..8], b"LLGOFTB1", "{name}: the shim did not rewrite the library");
        let verify = llgo_ld(["verify".as_ref(), lib.as_os_str()]);
        assert!(verify.status.success(), "{name}: verify\n{}", show(&verify));
        let run = run_program(&prog, arch);
        assert_eq!(run.status.code(), Some(RTCHECK_OK), "{name}: {}", show(&run));
    }
}

/// A plain `-shared` link (no LLGo sections) through the shim is forwarded: the output is the
/// byte-identical library the driver makes directly, and the header probe skips it.
#[test]
fn shim_forwards_a_plain_shared_link() {
    let dir = scratch_dir("pie/shim_so_plain");
    let src = dir.join("plain.c");
    std::fs::write(&src, "int twice(int x) { return 2 * x; }\n").expect("writing plain.c");
    let plain = Toolchain::ClangLld.driver();
    let direct = dir.join("libdirect.so");
    let shimmed = dir.join("libshim.so");
    let mut cmd = Toolchain::ClangLld.driver();
    checked(cmd.args(["-fPIC", "-shared", "-O1"]).arg(&src).arg("-o").arg(&direct), "direct");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llgo-ld"));
    cmd.arg(plain.get_program())
        .args(plain.get_args())
        .args(["-fPIC", "-shared", "-O1"])
        .arg(&src)
        .arg("-o")
        .arg(&shimmed)
        .env("LLGO_LD_STRICT", "1");
    checked(&mut cmd, "through the shim");
    let (a, b) = (std::fs::read(&direct).expect("direct"), std::fs::read(&shimmed).expect("shim"));
    assert!(a == b, "the shim changed a plain shared library");
}

/// A spilled table in a PIE: two live slots (the redirect's target 16 bytes into the entry
/// section, the blob's base 16 bytes into the stub section), each the target of exactly one
/// RELATIVE relocation; nothing else in either section.
#[test]
fn spilled_pie_has_one_relative_per_live_slot() {
    for (name, toolchain, relocs) in [
        ("spill_pie_x86_lld_relr", Toolchain::ClangLld, Relocs::Relr),
        ("spill_pie_x86_bfd", Toolchain::GccBfd, Relocs::Rela),
        ("spill_so_a64_lld", Toolchain::Aarch64ClangLld, Relocs::Rela),
    ] {
        let dir = scratch_dir(&format!("pie/{name}"));
        let kind = if name.contains("_so_") { Kind::Shared } else { Kind::Pie };
        let (artifact, prog, arch) =
            build_spec(&dir, &FixtureSpec::SPILL, toolchain, kind, relocs, false);
        let entry = section(&artifact, "llgo_funcinfo_entry");
        let stub = section(&artifact, "llgo_funcinfo_stubsite");
        let before = relocations(&artifact);
        let rewrite = llgo_ld(["rewrite".as_ref(), artifact.as_os_str()]);
        assert!(rewrite.status.success(), "{name}: rewrite\n{}", show(&rewrite));
        assert!(String::from_utf8_lossy(&rewrite.stdout).contains("spilled"), "{}", show(&rewrite));
        let verify = llgo_ld(["verify".as_ref(), artifact.as_os_str()]);
        assert!(verify.status.success(), "{name}: verify\n{}", show(&verify));
        let after = relocations(&artifact);
        let mut live: Vec<u64> = after
            .iter()
            .filter(|r| inside(r.offset, &[entry, stub]))
            .inspect(|r| assert!(r.relative(), "{name}: {r:?}"))
            .map(|r| r.offset)
            .collect();
        live.sort();
        let mut want = vec![entry.0 + 16, stub.0 + 16];
        want.sort();
        assert_eq!(live, want, "{name}: relocations into the sections");
        let rest = |l: &[Listed]| {
            let mut v: Vec<Listed> =
                l.iter().filter(|r| !inside(r.offset, &[entry, stub])).cloned().collect();
            v.sort();
            v
        };
        assert!(rest(&before) == rest(&after), "{name}: other relocations changed");
        let run = run_program(&prog, arch);
        assert_eq!(run.status.code(), Some(RTCHECK_OK), "{name}: {}", show(&run));
        assert!(String::from_utf8_lossy(&run.stdout).contains("table spilled"), "{}", show(&run));
    }
}

/// A PIE whose table fits neither section, linked through the shim: the relink for room (a
/// padding object) runs for PIE links too, and the second link's output gets the surgery.
#[test]
fn shim_relinks_a_pie_that_does_not_fit() {
    let dir = scratch_dir("pie/relink_pie");
    let (artifact, prog, arch) =
        build_spec(&dir, &FixtureSpec::NO_FIT, Toolchain::ClangLld, Kind::Pie, Relocs::Rela, true);
    let head = objdump_head(&artifact, "llgo_funcinfo_entry");
    assert_eq!(&head[..8], b"LLGOFTB1", "the shim did not rewrite the relinked PIE");
    let verify = llgo_ld(["verify".as_ref(), artifact.as_os_str()]);
    assert!(verify.status.success(), "verify\n{}", show(&verify));
    let entry = section(&artifact, "llgo_funcinfo_entry");
    let stub = section(&artifact, "llgo_funcinfo_stubsite");
    let into: Vec<Listed> =
        relocations(&artifact).into_iter().filter(|r| inside(r.offset, &[entry, stub])).collect();
    assert_eq!(into.len(), 1, "{into:?}");
    let run = run_program(&prog, arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}
