//! Generation 2 (today's LLGo) end to end through the `llgo-ld` binary: a fixture linked with
//! LLGo's own linker script (`INSERT BEFORE .bss`, no stub section) is rewritten in place and
//! compacted, by `llgo-ld rewrite` and through the shim; a section after the entry section
//! keeps the layout (table in place at full size); external mode (the identity section) is a
//! skip, strict mode included; damaged layouts are refused with the structure named and the
//! file untouched. Sizes and offsets are read with goblin and llvm-readelf-19, the run-time
//! check is the fixture's own (`rtcheck.c`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

const ENTRY: &str = "llgo_funcinfo_entry";

/// (sh_offset, sh_size) of the named section, with goblin.
fn section(data: &[u8], name: &str) -> Option<(u64, u64)> {
    let elf = goblin::elf::Elf::parse(data).expect("goblin parses the ELF file");
    elf.section_headers
        .iter()
        .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
        .map(|s| (s.sh_offset, s.sh_size))
}

/// `__stop_llgo_funcinfo_entry - __start_llgo_funcinfo_entry`, with goblin.
fn memory_size(data: &[u8]) -> u64 {
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let sym = |name: &str| {
        elf.syms
            .iter()
            .find(|s| elf.strtab.get_at(s.st_name) == Some(name))
            .map(|s| s.st_value)
            .unwrap_or_else(|| panic!("no symbol {name}"))
    };
    sym("__stop_llgo_funcinfo_entry") - sym("__start_llgo_funcinfo_entry")
}

/// The `LLGOFTB1` blob size from its header (FORMAT.md 3.1): 32 + 8*count + 36*buckets.
fn need_of(data: &[u8], at: u64) -> u64 {
    let at = at as usize;
    assert_eq!(&data[at..at + 8], b"LLGOFTB1", "table magic at {at:#x}");
    let u32_at = |o: usize| u64::from(u32::from_le_bytes(data[o..o + 4].try_into().unwrap()));
    32 + 8 * u32_at(at + 24) + 36 * u32_at(at + 28)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gen2(test: &str, script: Gen2Script) -> (PathBuf, Built) {
    let dir = scratch_dir(test);
    let built = build_gen2_fixture(&dir, &FixtureSpec::GEN2, Toolchain::ClangLld, Opt::O1, script);
    (dir, built)
}

/// Checks a compacted generation-2 output against the raw link output: the entry section's
/// file size is exactly the table, its memory size unchanged, the file shorter, llvm-readelf
/// reads it without a warning, `llgo-ld verify` passes and the program adopts the table.
fn assert_compacted(raw: &[u8], built: &Built) {
    let out = std::fs::read(&built.exe).unwrap();
    let (raw_off, raw_size) = section(raw, ENTRY).unwrap();
    let (off, size) = section(&out, ENTRY).unwrap();
    assert_eq!(off, raw_off, "the entry section does not move");
    let need = need_of(&out, off);
    assert_eq!(size, need, "sh_size becomes need");
    assert!(out.len() < raw.len(), "compacted: {} -> {} bytes", raw.len(), out.len());
    assert!(raw.len() - out.len() <= (raw_size - need) as usize);
    assert_eq!(memory_size(&out), raw_size, "__stop_ - __start_ is the link-time size");
    let readelf = checked(
        Command::new(require_tool("llvm-readelf-19")).arg("-lSW").arg(&built.exe),
        "readelf",
    );
    assert!(readelf.stderr.is_empty(), "{}", show(&readelf));
    let verify = llgo_ld([Path::new("verify"), &built.exe]);
    assert!(verify.status.success(), "{}", show(&verify));
    let inspect = llgo_ld([Path::new("inspect"), &built.exe]);
    let text = stdout(&inspect);
    assert!(text.contains("generation      2"), "{text}");
    assert!(text.contains(&format!("{size} bytes in the file, {raw_size} in memory")), "{text}");
    let run = run_program(&built.exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}

#[test]
fn gen2_fits_rewrite_compacts() {
    let (_, built) = gen2("gen2_fits_rewrite", Gen2Script::Llgo);
    let raw = std::fs::read(&built.exe).unwrap();
    let inspect = stdout(&llgo_ld([Path::new("inspect"), &built.exe]));
    assert!(inspect.contains("would be compacted: "), "{inspect}");
    let out = llgo_ld([Path::new("rewrite"), &built.exe]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("compacted: "), "{}", show(&out));
    assert_compacted(&raw, &built);

    // verify checks adoption the way the runtime reads: up to __stop_, which after the cut
    // must be zero-fill memory of the carrier. A carrier whose p_memsz ends at its file bytes
    // is a defect.
    let mut data = std::fs::read(&built.exe).unwrap();
    let elf = goblin::elf::Elf::parse(&data).unwrap();
    let (off, _) = section(&data, ENTRY).unwrap();
    let i = elf
        .program_headers
        .iter()
        .position(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD
                && p.p_offset <= off
                && off < p.p_offset + p.p_filesz
        })
        .unwrap();
    let (at, filesz) = (elf.header.e_phoff as usize + 56 * i + 40, elf.program_headers[i].p_filesz);
    data[at..at + 8].copy_from_slice(&filesz.to_le_bytes());
    let bad = built.exe.with_file_name("memsz-cut");
    write_executable(&bad, &data);
    let verify = llgo_ld([Path::new("verify"), &bad]);
    assert_eq!(verify.status.code(), Some(1), "{}", show(&verify));
    assert!(
        show(&verify).contains("no PT_LOAD's memory holds llgo_funcinfo_entry"),
        "{}",
        show(&verify)
    );
}

/// The shim, explicit mode and as `--ld-path`, on exactly LLGo's link line shape
/// (`-T script`, `--gc-sections`, `--icf=none`, `-no-pie`), strict mode on.
#[test]
fn gen2_fits_through_the_shim() {
    let (dir, built) = gen2("gen2_fits_shim", Gen2Script::Llgo);
    let raw = std::fs::read(&built.exe).unwrap();
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir.join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    sources.push(fixtures_dir().join("rtcheck.c"));
    let script = dir.join("src/llgo.ld");
    let lld = require_tool("ld.lld-19");
    for how in ["explicit", "ld-path"] {
        let exe = dir.join(format!("prog-{how}"));
        let log = dir.join(format!("{how}.log"));
        let mut cmd = match how {
            "explicit" => {
                let mut c = Command::new(env!("CARGO_BIN_EXE_llgo-ld"));
                c.arg("clang-19").arg(format!("--ld-path={}", lld.display()));
                c
            }
            _ => {
                let mut c = Command::new(require_tool("clang-19"));
                c.arg(format!("--ld-path={}", env!("CARGO_BIN_EXE_llgo-ld")))
                    .env("LLGO_LD_LINKER", &lld);
                c
            }
        };
        cmd.args(["-fno-pie", "-no-pie", "-ffunction-sections", "-fdata-sections", "-O1"])
            .arg("-I")
            .arg(fixtures_dir())
            .args(&sources)
            .arg("-o")
            .arg(&exe)
            .arg("-Wl,--gc-sections")
            .arg(format!("-Wl,-T,{}", script.display()))
            .arg("-Wl,--icf=none")
            .env("LLGO_LD_STRICT", "1")
            .env("LLGO_LD_LOG", "info")
            .env("LLGO_LD_LOG_FILE", &log);
        checked(&mut cmd, &format!("shim link ({how})"));
        let line = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(line.contains("outcome=\"rewritten; compacted: "), "{how}: {line}");
        let b = Built { exe, arch: built.arch, manifest: built.manifest.clone() };
        // The same sources and flags give the same raw layout as the direct link.
        assert_eq!(
            section(&std::fs::read(&b.exe).unwrap(), ENTRY).unwrap().0,
            section(&raw, ENTRY).unwrap().0
        );
        assert_compacted(&raw, &b);
    }
}

/// A writable section after the entry section in its segment: no compaction, the table in
/// place at the section's full size, said by `inspect` and `rewrite`.
#[test]
fn gen2_section_after_entry_keeps_full_size() {
    let (_, built) = gen2("gen2_after_entry", Gen2Script::AfterEntry);
    let raw = std::fs::read(&built.exe).unwrap();
    let inspect = stdout(&llgo_ld([Path::new("inspect"), &built.exe]));
    assert!(inspect.contains("would be not compacted ("), "{inspect}");
    let out = llgo_ld([Path::new("rewrite"), &built.exe]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout(&out).contains("not compacted ("), "{}", show(&out));
    assert!(stdout(&out).contains("table in place at full section size"), "{}", show(&out));
    let data = std::fs::read(&built.exe).unwrap();
    assert_eq!(data.len(), raw.len(), "size unchanged");
    assert_eq!(section(&data, ENTRY), section(&raw, ENTRY), "section header unchanged");
    let (off, size) = section(&data, ENTRY).unwrap();
    let need = need_of(&data, off);
    assert!(
        data[(off + need) as usize..(off + size) as usize].iter().all(|&b| b == 0),
        "stale records past need are zeroed"
    );
    let verify = llgo_ld([Path::new("verify"), &built.exe]);
    assert!(verify.status.success(), "{}", show(&verify));
    let run = run_program(&built.exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}

/// External mode: the identity section makes every subcommand and the shim (strict mode
/// too) skip with that reason, the file byte-identical.
#[test]
fn gen2_external_mode_is_a_skip_everywhere() {
    let (dir, built) = gen2("gen2_external", Gen2Script::Llgo);
    let id = dir.join("id.bin");
    std::fs::write(&id, [0x5a; 32]).unwrap();
    let exe = dir.join("prog-external");
    checked(
        Command::new(require_tool("llvm-objcopy-19"))
            .arg(format!("--add-section=llgo_pclntab_id={}", id.display()))
            .arg("--set-section-flags=llgo_pclntab_id=alloc,contents,data")
            .arg(&built.exe)
            .arg(&exe),
        "llvm-objcopy-19 --add-section",
    );
    let before = std::fs::read(&exe).unwrap();
    for (sub, env) in
        [("inspect", None), ("verify", None), ("rewrite", None), ("rewrite", Some("1"))]
    {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_llgo-ld"));
        cmd.arg(sub).arg(&exe);
        if let Some(v) = env {
            cmd.env("LLGO_LD_STRICT", v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{sub}: {}", show(&out));
        assert!(
            stdout(&out).contains("external table mode (-pclntab=external)"),
            "{sub}: {}",
            show(&out)
        );
        assert_eq!(std::fs::read(&exe).unwrap(), before, "{sub}: file untouched");
    }
}

/// The malformed-input table, through `llgo-ld rewrite`. Layouts LLGo would not
/// compact are written in place at full size (docs/format.md, "Compaction": not a failure);
/// what cannot be expressed (a header or an offset field inside the cut range) is refused with
/// the structure named and the file untouched.
#[test]
fn gen2_malformed_layouts() {
    let (dir, built) = gen2("gen2_malformed", Gen2Script::Llgo);
    let raw = std::fs::read(&built.exe).unwrap();
    let elf = goblin::elf::Elf::parse(&raw).unwrap();
    let (shoff, phoff) = (elf.header.e_shoff, elf.header.e_phoff);
    let sec = |name: &str| {
        let i = elf
            .section_headers
            .iter()
            .position(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(name))
            .unwrap();
        (shoff + 64 * i as u64, elf.section_headers[i].clone())
    };
    let (_, entry) = sec(ENTRY);
    let carrier_i = elf
        .program_headers
        .iter()
        .position(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD
                && p.p_offset <= entry.sh_offset
                && entry.sh_offset < p.p_offset + p.p_filesz
        })
        .unwrap();
    let carrier = elf.program_headers[carrier_i].clone();
    let carrier_at = phoff + 56 * carrier_i as u64;
    let old_end = carrier.p_offset + carrier.p_filesz;
    // Well past any table of this fixture, inside the entry section.
    let inside_cut = (entry.sh_offset + entry.sh_size - 64) & !15;
    let stack = elf
        .program_headers
        .iter()
        .position(|p| p.p_type == goblin::elf::program_header::PT_GNU_STACK)
        .unwrap();
    let (data_at, _) = sec(".data");
    let (comment_at, _) = sec(".comment");
    enum Want {
        InPlace(&'static str),
        Refused(&'static str),
    }
    let cases: Vec<(&str, u64, u64, Want)> = vec![
        ("an allocated section in the cut range", data_at + 24, inside_cut, Want::InPlace(".data")),
        (
            "an offset field inside the cut range",
            comment_at + 24,
            inside_cut,
            Want::Refused(".comment"),
        ),
        (
            "a program header after the carrier",
            phoff + 56 * stack as u64 + 8,
            old_end + 16,
            Want::InPlace("PT_GNU_STACK"),
        ),
        (
            "a carrier not covering the section's memory",
            carrier_at + 40,
            entry.sh_addr + entry.sh_size - 8 - carrier.p_vaddr,
            Want::Refused("no PT_LOAD's memory holds llgo_funcinfo_entry"),
        ),
    ];
    for (what, at, value, want) in cases {
        let exe = dir.join("damaged");
        let mut data = raw.clone();
        data[at as usize..at as usize + 8].copy_from_slice(&value.to_le_bytes());
        write_executable(&exe, &data);
        let out = llgo_ld([Path::new("rewrite"), &exe]);
        let text = show(&out);
        let after = std::fs::read(&exe).unwrap();
        match want {
            Want::InPlace(name) => {
                assert!(out.status.success(), "{what}: {text}");
                assert!(stdout(&out).contains("not compacted ("), "{what}: {text}");
                assert!(stdout(&out).contains(name), "{what}: names {name}: {text}");
                assert_eq!(after.len(), data.len(), "{what}: full size");
                assert_eq!(section(&after, ENTRY), section(&data, ENTRY), "{what}");
            }
            Want::Refused(name) => {
                assert_eq!(out.status.code(), Some(1), "{what}: {text}");
                assert!(text.contains(name), "{what}: names {name}: {text}");
                assert_eq!(after, data, "{what}: file untouched");
            }
        }
    }
}
