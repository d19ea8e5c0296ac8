//! `llgo-ld rewrite` on files it must leave alone: non-LLGo programs, 32-bit and
//! big-endian ELF, and malformed LLGo executables (targeted damage located with goblin, and
//! thousands of random mutations through the library). Each must keep the file byte-identical,
//! say why, and never panic or hang.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn matrix_fixture(test: &str) -> (PathBuf, Built) {
    let dir = scratch_dir(test);
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    (dir, built)
}

/// Runs `rewrite` on a copy of `original` and returns (exit code, stdout, stderr), asserting
/// the copy is byte-identical afterwards and that no temporary file was left beside it.
fn rewrite_leaves_alone(original: &[u8], dir: &Path, name: &str) -> (i32, String, String) {
    let work = dir.join(format!("work-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("prog");
    std::fs::write(&file, original).unwrap();
    let out = llgo_ld([Path::new("rewrite"), &file]);
    assert_eq!(std::fs::read(&file).unwrap(), original, "{name}: file changed\n{}", show(&out));
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{name}: temporary files left: {left:?}");
    let code = out.status.code().expect("llgo-ld exited normally");
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn plain_c_program_is_skipped() {
    let dir = scratch_dir("plain_c_program_is_skipped");
    std::fs::write(dir.join("hello.c"), "#include <stdio.h>\nint main(void){puts(\"hi\");}\n")
        .unwrap();
    let exe = dir.join("hello");
    checked(
        Command::new(require_tool("clang-19")).arg(dir.join("hello.c")).arg("-o").arg(&exe),
        "plain link",
    );
    let data = std::fs::read(&exe).unwrap();
    let (code, stdout, _) = rewrite_leaves_alone(&data, &dir, "plain");
    assert_eq!(code, 0);
    assert!(stdout.contains("skipped: no LLGo sections"), "{stdout}");
}

/// A PIE link of an LLGo fixture with read-only record sections (ld.bfd then writes text
/// relocations): rewritten with the relocation surgery (docs/pie.md), it verifies at several
/// biases and the program adopts the table. (Before issue 10 this was a failure.)
#[test]
fn pie_fixture_with_text_relocations_is_rewritten() {
    let dir = scratch_dir("pie_fixture_with_text_relocations_is_rewritten");
    let manifest_dir = dir.join("gen");
    generate(&FixtureSpec::MATRIX, &manifest_dir);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(manifest_dir.join("src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    sources.sort();
    sources.push(fixtures_dir().join("rtcheck.c"));
    let exe = dir.join("prog-pie");
    // gcc + bfd links the read-only "ao" record sections into a PIE with text relocations.
    checked(
        Command::new(require_tool("gcc"))
            .args(["-fPIE", "-pie", "-O1", "-I"])
            .arg(fixtures_dir())
            .args(&sources)
            .arg("-o")
            .arg(&exe),
        "PIE link",
    );
    let data = std::fs::read(&exe).unwrap();
    assert_eq!(u16::from_le_bytes([data[16], data[17]]), 3, "ET_DYN");
    let rewrite = llgo_ld([Path::new("rewrite"), &exe]);
    assert!(rewrite.status.success(), "{}", show(&rewrite));
    assert!(String::from_utf8_lossy(&rewrite.stdout).contains("rewritten"), "{}", show(&rewrite));
    let verify = llgo_ld([Path::new("verify"), &exe]);
    let out = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{out}");
    assert!(out.contains("at slide 0x7f1234560000"), "{out}");
    let run = run_program(&exe, Arch::X86_64);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}

/// 32-bit and big-endian ELF files carrying sections with LLGo's names are still skipped: no
/// LLGo runtime reads tables there.
#[test]
fn other_classes_and_byte_orders_are_skipped() {
    let dir = scratch_dir("other_classes_and_byte_orders_are_skipped");
    let src = dir.join("start.s");
    std::fs::write(
        &src,
        ".globl _start\n.text\n_start: nop\n\
         .section llgo_funcinfo_entry,\"a\"\n.quad 0, 0\n\
         .section llgo_funcinfo_stubsite,\"a\"\n.quad 0, 0\n",
    )
    .unwrap();
    for (target, emulation, what) in [
        ("i686-linux-gnu", "elf_i386", "32-bit"),
        ("aarch64_be-linux-gnu", "aarch64linuxb", "big-endian"),
    ] {
        let obj = dir.join(format!("{what}.o"));
        let exe = dir.join(format!("{what}.exe"));
        checked(
            Command::new(require_tool("clang-19"))
                .args(["-c", &format!("--target={target}")])
                .arg(&src)
                .arg("-o")
                .arg(&obj),
            "assemble",
        );
        checked(
            Command::new(require_tool("ld.lld-19"))
                .args(["-m", emulation])
                .arg(&obj)
                .arg("-o")
                .arg(&exe),
            "link",
        );
        let data = std::fs::read(&exe).unwrap();
        let (code, stdout, stderr) = rewrite_leaves_alone(&data, &dir, what);
        assert_eq!(code, 0, "{what}: {stderr}");
        assert!(stdout.contains("32-bit or big-endian ELF"), "{what}: {stdout}");
    }
}

/// Where things are in the fixture, found with goblin (not with llgo-ld's reader).
struct Layout {
    data: Vec<u8>,
    /// File offset of the section header of `llgo_funcinfo_entry`.
    entry_shdr: usize,
    /// File offset of the entry section's contents.
    entry_off: usize,
    entry_size: usize,
    /// File offsets of the symbol-index count global and of the index array.
    count_off: usize,
    array_off: usize,
    /// File offset of the meta record (row 0).
    meta_off: usize,
    /// File offset of the program header of the PT_LOAD that holds the index count.
    count_phdr: usize,
}

fn locate(exe: &Path) -> Layout {
    let data = std::fs::read(exe).unwrap();
    let elf = goblin::elf::Elf::parse(&data).unwrap();
    let (i, sh) = elf
        .section_headers
        .iter()
        .enumerate()
        .find(|(_, sh)| elf.shdr_strtab.get_at(sh.sh_name) == Some("llgo_funcinfo_entry"))
        .expect("entry section");
    let entry_shdr = elf.header.e_shoff as usize + i * elf.header.e_shentsize as usize;
    let (entry_off, entry_size) = (sh.sh_offset as usize, sh.sh_size as usize);
    let to_off = |addr: u64| {
        elf.program_headers
            .iter()
            .find(|p| {
                p.p_type == goblin::elf::program_header::PT_LOAD
                    && p.vm_range().contains(&(addr as usize))
            })
            .map(|p| (addr - p.p_vaddr + p.p_offset) as usize)
            .expect("address in a segment")
    };
    let u64_at = |off: usize| u64::from_le_bytes(data[off..off + 8].try_into().unwrap());
    let meta_off = (entry_off..entry_off + entry_size)
        .step_by(16)
        .find(|&o| u64_at(o) == 0 && u64_at(o + 8) == 0x3154_454D_4F47_4C4C)
        .expect("meta record");
    let index_ptr_global = to_off(u64_at(meta_off + 16));
    let count_off = to_off(u64_at(meta_off + 32));
    let array_off = to_off(u64_at(index_ptr_global));
    let count_addr = u64_at(meta_off + 32) as usize;
    let count_phdr = elf
        .program_headers
        .iter()
        .position(|p| {
            p.p_type == goblin::elf::program_header::PT_LOAD && p.vm_range().contains(&count_addr)
        })
        .map(|i| elf.header.e_phoff as usize + i * elf.header.e_phentsize as usize)
        .expect("a PT_LOAD holds the count");
    Layout {
        data: data.clone(),
        entry_shdr,
        entry_off,
        entry_size,
        count_off,
        array_off,
        meta_off,
        count_phdr,
    }
}

#[test]
fn malformed_inputs_fail_cleanly_naming_the_structure() {
    let (dir, built) = matrix_fixture("malformed_inputs_fail_cleanly");
    let l = locate(&built.exe);
    let count = u64::from_le_bytes(l.data[l.count_off..l.count_off + 8].try_into().unwrap());
    assert!(count >= 2, "fixture index has {count} entries");
    let put =
        |d: &mut Vec<u8>, off: usize, v: u64| d[off..off + 8].copy_from_slice(&v.to_le_bytes());
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage, &str)> = vec![
        ("truncated to half", Box::new(|d: &mut Vec<u8>| d.truncate(d.len() / 2)), "ELF"),
        (
            "truncated before the entry section ends",
            {
                let end = l.entry_off + l.entry_size / 2;
                Box::new(move |d: &mut Vec<u8>| {
                    // Keep the section headers (moved to the end by lld) readable: cut inside the
                    // section by zero-filling is not a truncation, so shrink the file and re-append
                    // nothing: the headers go too, which is the point of this case.
                    d.truncate(end)
                })
            },
            "ELF",
        ),
        (
            "entry section offset past the end",
            {
                let at = l.entry_shdr + 0x18;
                Box::new(move |d: &mut Vec<u8>| {
                    let len = d.len() as u64;
                    put(d, at, len + 0x1000)
                })
            },
            "llgo_funcinfo_entry",
        ),
        (
            "entry section size overflows",
            {
                let at = l.entry_shdr + 0x20;
                Box::new(move |d: &mut Vec<u8>| put(d, at, u64::MAX - 8))
            },
            "llgo_funcinfo_entry",
        ),
        (
            "meta record points outside the file",
            {
                let at = l.meta_off + 16;
                Box::new(move |d: &mut Vec<u8>| put(d, at, 0x7fff_dead_0000))
            },
            "symbol index pointer",
        ),
        (
            "index count overflows",
            {
                let at = l.count_off;
                Box::new(move |d: &mut Vec<u8>| put(d, at, u64::MAX))
            },
            "symbol index count",
        ),
        (
            "index count one past the runtime's bound",
            {
                let at = l.count_off;
                Box::new(move |d: &mut Vec<u8>| put(d, at, (1 << 20) + 1))
            },
            "symbol index count",
        ),
        (
            "index array reaches past the file",
            {
                let at = l.count_off;
                Box::new(move |d: &mut Vec<u8>| put(d, at, 1 << 20))
            },
            "symbol index array",
        ),
        (
            // p_offset of the PT_LOAD holding the index (found by review: an unchecked add).
            "segment file offset overflows",
            {
                let at = l.count_phdr + 8;
                Box::new(move |d: &mut Vec<u8>| put(d, at, u64::MAX))
            },
            // The loader's view is checked before the index is read (issue 11).
            "PT_LOAD (p_offset 0xffffffffffffffff",
        ),
        (
            "index ids not ascending",
            {
                let at = l.array_off;
                Box::new(move |d: &mut Vec<u8>| {
                    let (a, b) = d[at..at + 32].split_at_mut(16);
                    a.swap_with_slice(b);
                })
            },
            "ids must ascend strictly",
        ),
    ];
    for (name, damage, names_structure) in cases {
        let mut data = l.data.clone();
        damage(&mut data);
        let (code, stdout, stderr) = rewrite_leaves_alone(&data, &dir, &name.replace(' ', "-"));
        assert_eq!(code, 1, "{name}: expected a failure\nstdout: {stdout}\nstderr: {stderr}");
        assert!(stderr.starts_with("llgo-ld: error: "), "{name}: {stderr}");
        assert!(
            stderr.contains(names_structure),
            "{name}: error does not name {names_structure:?}: {stderr}"
        );
    }
}

/// `rewrite` starts copying the file beside it while it plans, as soon as the entry section
/// shows site records; a plan that then fails (here: the symbol index's ids do not ascend,
/// found while the table is built) or is skipped drops that copy: no temporary file stays and
/// the file is untouched. An already rewritten file is not copied at all.
#[test]
fn a_plan_that_ends_in_no_rewrite_leaves_no_temporary_file() {
    let (dir, built) = matrix_fixture("a_plan_that_ends_in_no_rewrite");
    let l = locate(&built.exe);
    let mut damaged = l.data.clone();
    let (a, b) = damaged[l.array_off..l.array_off + 32].split_at_mut(16);
    a.swap_with_slice(b);
    // The precondition, not the expectation: this file gets the early copy.
    assert!(llgo_ld::postlink::holds_records(&damaged), "the damage must leave the records");
    let (code, _, stderr) = rewrite_leaves_alone(&damaged, &dir, "late-failure");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("ids must ascend strictly"), "{stderr}");

    let work = dir.join("work-rewritten");
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("prog");
    std::fs::write(&file, &l.data).unwrap();
    let first = llgo_ld([Path::new("rewrite"), &file]);
    assert!(first.status.success(), "{}", show(&first));
    let rewritten = std::fs::read(&file).unwrap();
    assert!(!llgo_ld::postlink::holds_records(&rewritten));
    let (code, stdout, _) = rewrite_leaves_alone(&rewritten, &dir, "rewritten");
    assert_eq!(code, 0);
    assert!(stdout.contains("skipped: already rewritten"), "{stdout}");
}

/// A rewritten file whose symbol index was damaged afterwards: `verify` reports the damage as a
/// defect instead of calling the index "not checkable" (found by review).
#[test]
fn verify_reports_a_damaged_index_after_the_rewrite() {
    let (dir, built) = matrix_fixture("verify_reports_a_damaged_index");
    let l = locate(&built.exe);
    let out = llgo_ld([Path::new("rewrite"), &built.exe]);
    assert!(out.status.success(), "{}", show(&out));
    let mut data = std::fs::read(&built.exe).unwrap();
    let (a, b) = data[l.array_off..l.array_off + 32].split_at_mut(16);
    a.swap_with_slice(b);
    let damaged = dir.join("damaged");
    std::fs::write(&damaged, &data).unwrap();
    let verify = llgo_ld([Path::new("verify"), &damaged]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(text.contains("defect") && text.contains("ids must ascend strictly"), "{text}");
}

#[test]
fn stripped_fixture_fails_for_want_of_symbols() {
    let (dir, built) = matrix_fixture("stripped_fixture_fails");
    let stripped = dir.join("stripped");
    checked(
        Command::new(require_tool("llvm-objcopy-19"))
            .arg("--strip-all")
            .arg(&built.exe)
            .arg(&stripped),
        "strip",
    );
    let data = std::fs::read(&stripped).unwrap();
    let (code, _, stderr) = rewrite_leaves_alone(&data, &dir, "stripped");
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no symbol table"), "{stderr}");
}

/// Thousands of deterministic random mutations through the library entry points: any panic
/// fails the test (and a hang would time it out). The fixture itself must verify after the
/// rewrite, so the loop starts from a file that exercises every code path.
#[test]
fn random_mutations_never_panic() {
    let (_dir, built) = matrix_fixture("random_mutations_never_panic");
    let original = std::fs::read(&built.exe).unwrap();
    let rewritten = match llgo_ld::postlink::produce(&original).unwrap() {
        llgo_ld::postlink::Produced::Rewritten { output, .. } => output,
        other => panic!("fixture not rewritable: {other:?}"),
    };
    assert!(llgo_ld::verify::verify(&rewritten).unwrap().ok());
    let l = locate(&built.exe);
    // Hot spots: the headers, the section header table, the LLGo sections, the index.
    let elf = goblin::elf::Elf::parse(&original).unwrap();
    let shoff = elf.header.e_shoff as usize;
    let phoff = elf.header.e_phoff as usize;
    let phsize = elf.header.e_phnum as usize * elf.header.e_phentsize as usize;
    let spots = [
        (0, 64),
        (phoff, phsize),
        (shoff, original.len() - shoff),
        (l.entry_off, l.entry_size),
        (l.array_off, 64),
        (l.count_off, 8),
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut failures = 0;
    for round in 0..3000 {
        let base = if round % 2 == 0 { &original } else { &rewritten };
        let mut d = base.clone();
        let (start, len) = spots[(next() % spots.len() as u64) as usize];
        for _ in 0..1 + next() % 4 {
            let at = start + (next() % len.max(1) as u64) as usize;
            if at < d.len() {
                d[at] = next() as u8;
            }
        }
        if next() % 10 == 0 {
            d.truncate((next() % d.len() as u64) as usize);
        }
        let _ = llgo_ld::inspect::inspect(&d);
        let _ = llgo_ld::verify::verify(&d);
        if llgo_ld::postlink::produce(&d).is_err() {
            failures += 1;
        }
    }
    // Most mutations must be caught as errors or skips; some hit padding and still rewrite.
    assert!(failures > 0, "no mutation was detected as malformed");
}
