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
    let out = checked(Command::new(require_tool("llvm-readelf-19")).args(args).arg(file), "readelf");
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
fn generate_writable(dir: &Path) -> Vec<PathBuf> {
    generate(&FixtureSpec::MATRIX, dir);
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
    let sources = generate_writable(dir);
    let prog = dir.join("prog");
    let artifact = match kind {
        Kind::Pie => prog.clone(),
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
        std::fs::write(&host, "int fixture_main(void);\nint main(void) { return fixture_main(); }\n")
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
    let dir = scratch_dir(&format!("pie/{name}"));
    let (artifact, prog, arch) = build(&dir, toolchain, kind, relocs, false);
    let before_run = run_program(&prog, arch);
    assert_eq!(before_run.status.code(), Some(RTCHECK_NO_TABLE), "{}", show(&before_run));
    if relocs == Relocs::Relr {
        assert!(dynamic_tag(&artifact, "RELR").is_some(), "{name}: the linker wrote no DT_RELR");
    }

    let entry = section(&artifact, "llgo_funcinfo_entry");
    let stub = section(&artifact, "llgo_funcinfo_stubsite");
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
    let mut rest_before: Vec<&Listed> = before.iter().filter(|r| !inside(r.offset, &ranges)).collect();
    let mut rest_after: Vec<&Listed> = after.iter().filter(|r| !inside(r.offset, &ranges)).collect();
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
        let leading = after
            .iter()
            .filter(|r| r.table == ".rela.dyn")
            .take_while(|r| r.relative())
            .count() as u64;
        assert!(count_after <= leading, "{name}: DT_RELACOUNT {count_after} > {leading} leading RELATIVE");
    }

    let once = std::fs::read(&artifact).expect("reading the rewritten file");
    let again = llgo_ld(["rewrite".as_ref(), artifact.as_os_str()]);
    assert!(again.status.success(), "second rewrite\n{}", show(&again));
    assert!(once == std::fs::read(&artifact).expect("reading again"), "{name}: second rewrite changed the file");
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
    x86_mold_pie_relr:    Mold, Pie, Relr;
    x86_mold_so_rela:     Mold, Shared, Rela;
    x86_mold_so_relr:     Mold, Shared, Relr;
    a64_lld_pie_rela:     Aarch64ClangLld, Pie, Rela;
    a64_lld_pie_relr:     Aarch64ClangLld, Pie, Relr;
    a64_lld_so_rela:      Aarch64ClangLld, Shared, Rela;
    a64_lld_so_relr:      Aarch64ClangLld, Shared, Relr;
    a64_bfd_pie_rela:     Aarch64GccBfd, Pie, Rela;
    a64_bfd_so_rela:      Aarch64GccBfd, Shared, Rela;
}
