//! The one decision and the one pipeline (docs/design.md, "The decision", "The edit model"):
//! every subcommand reports the same class of outcome for the same input; an unknown table
//! version is its own outcome; a relaid (shorter) output goes through the self-check.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use llgo_ld::edit::Edit;
use llgo_ld::loader::{self, Images};
use llgo_ld::plan::{self, Class};
use llgo_ld::postlink::{self, Outcome, Produced};
use support::*;

/// The class `rewrite` reports (exit code and its first words), on a copy of `file`.
fn rewrite_class(file: &Path) -> Class {
    let out = llgo_ld([Path::new("rewrite"), file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) if stdout.contains(": rewritten:") => Class::Write,
        Some(0) if stdout.contains("skipped: already rewritten") => Class::AlreadyRewritten,
        Some(0) if stdout.contains("skipped: unknown table version") => Class::UnknownTable,
        Some(0) if stdout.contains("skipped:") => Class::Skip,
        Some(1) if stderr.contains("does not fit by") => Class::DoesNotFit,
        Some(1) if stderr.contains("llgo-ld: error:") => Class::Refused,
        _ => panic!("rewrite of {}: unexpected\n{}", file.display(), show(&out)),
    }
}

/// The class `verify` reports: for an image still holding records, the reason it gives.
fn verify_class(file: &Path) -> Class {
    let out = llgo_ld([Path::new("verify"), file]);
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("unknown table version") {
        Class::UnknownTable
    } else if text.contains("nothing to write") || text.contains("nothing to verify") {
        Class::Skip
    } else if text.contains("not rewritten (a table of") {
        Class::Write
    } else if text.contains("not rewritten: table does not fit by") {
        Class::DoesNotFit
    } else if text.contains("not rewritten:") {
        Class::Refused
    } else if text.contains("every row resolves") && out.status.success() {
        Class::AlreadyRewritten
    } else {
        panic!("verify of {}: unexpected\n{}", file.display(), show(&out))
    }
}

/// The class `inspect --json` reports (its `outcome` field).
fn inspect_class(file: &Path) -> Class {
    let out = llgo_ld([Path::new("inspect"), Path::new("--json"), file]);
    assert!(out.status.success(), "inspect\n{}", show(&out));
    let json = String::from_utf8_lossy(&out.stdout);
    if json.contains("\"llgo\":false") || json.contains("\"outcome\":\"skip\"") {
        Class::Skip
    } else if json.contains("\"outcome\":\"fits in place\"")
        || json.contains("\"outcome\":\"spills\"")
    {
        Class::Write
    } else if json.contains("\"outcome\":\"does not fit\"") {
        Class::DoesNotFit
    } else if json.contains("\"outcome\":\"failure\"") {
        Class::Refused
    } else if json.contains("\"outcome\":\"rewritten\"") {
        Class::AlreadyRewritten
    } else if json.contains("\"outcome\":\"unknown table version\"") {
        Class::UnknownTable
    } else {
        panic!("inspect of {}: unexpected\n{json}", file.display())
    }
}

/// The class of the pipeline the driver shim and the relink for room use.
fn shim_class(file: &Path) -> Class {
    match postlink::rewrite_path(file, None).outcome {
        Outcome::Rewritten(_) => Class::Write,
        Outcome::Skipped(why) if why.contains("already rewritten") => Class::AlreadyRewritten,
        Outcome::Skipped(why) if why.contains("unknown table version") => Class::UnknownTable,
        Outcome::Skipped(_) => Class::Skip,
        // The driver relinks exactly when the error carries a shortfall.
        Outcome::Failed(e) if e.shortfall().is_some() => Class::DoesNotFit,
        Outcome::Failed(_) => Class::Refused,
    }
}

/// The planner's own class for the file's (single) image; a file that is no LLGo executable at
/// all is a skip.
fn decided_class(data: &[u8]) -> Class {
    match loader::images(data).expect("images") {
        Images::Skip(_) => Class::Skip,
        Images::List(list) => {
            assert_eq!(list.len(), 1);
            plan::decide(list[0].1.as_ref()).class()
        }
    }
}

/// Copies `bytes` to `dir/<name>/prog` (each subcommand gets a fresh copy).
fn copy(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join("prog");
    write_executable(&p, bytes);
    p
}

/// `(offset, size)` of an ELF section, by goblin.
fn section(data: &[u8], name: &str) -> (usize, usize) {
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let sh = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))
        .unwrap_or_else(|| panic!("no section {name}"));
    (sh.sh_offset as usize, sh.sh_size as usize)
}

/// One input per outcome, from the fixtures, through every consumer of the decision.
#[test]
fn all_subcommands_agree_on_the_class() {
    let dir = scratch_dir("plan/agreement");
    let mut cases: Vec<(&str, Vec<u8>, Class)> = Vec::new();

    let fresh =
        build_fixture(&dir.join("o1"), &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    let original = std::fs::read(&fresh.exe).unwrap();
    cases.push(("write", original.clone(), Class::Write));

    let Produced::Rewritten { output: rewritten, .. } = postlink::produce(&original).unwrap()
    else {
        panic!("fixture not rewritable")
    };
    cases.push(("already rewritten", rewritten.clone(), Class::AlreadyRewritten));

    let mut unknown = rewritten.clone();
    let (entry_off, entry_size) = section(&original, "llgo_funcinfo_entry");
    assert_eq!(&unknown[entry_off..entry_off + 8], b"LLGOFTB1");
    unknown[entry_off + 7] = b'9';
    cases.push(("unknown table version", unknown, Class::UnknownTable));

    // An LLGo image with nothing to write: both site sections emptied of records.
    let mut empty = original.clone();
    empty[entry_off..entry_off + entry_size].fill(0);
    let (stub_off, stub_size) = section(&original, "llgo_funcinfo_stubsite");
    empty[stub_off..stub_off + stub_size].fill(0);
    cases.push(("skip (no records)", empty, Class::Skip));

    // A program without LLGo sections.
    std::fs::write(dir.join("hello.c"), "int main(void){return 0;}\n").unwrap();
    let hello = dir.join("hello");
    checked(
        Command::new(require_tool("clang-19")).arg(dir.join("hello.c")).arg("-o").arg(&hello),
        "plain link",
    );
    cases.push(("skip (not LLGo)", std::fs::read(&hello).unwrap(), Class::Skip));

    // A dynamic relocation into the entry section that the plan does not own (a non-PIE
    // GLOB_DAT, patched in): the loader would overwrite the table. (A PIE is rewritten now,
    // with the relocation surgery of docs/pie.md.)
    let bfd =
        build_fixture(&dir.join("bfd"), &FixtureSpec::MATRIX, Toolchain::GccBfd, Opt::O1, false);
    let mut glob_dat = std::fs::read(&bfd.exe).unwrap();
    let (rela_off, _) = section(&glob_dat, ".rela.dyn");
    let entry_addr = {
        let elf = goblin::elf::Elf::parse(&glob_dat).unwrap();
        elf.section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("llgo_funcinfo_entry"))
            .unwrap()
            .sh_addr
    };
    assert_eq!(glob_dat[rela_off + 8], 6, "the first .rela.dyn entry is R_X86_64_GLOB_DAT");
    glob_dat[rela_off..rela_off + 8].copy_from_slice(&(entry_addr + 32).to_le_bytes());
    cases.push(("refused (GLOB_DAT into the entry section)", glob_dat, Class::Refused));

    let no_fit = build_fixture(
        &dir.join("nofit"),
        &FixtureSpec::NO_FIT,
        Toolchain::ClangLld,
        Opt::O1,
        false,
    );
    cases.push(("does not fit", std::fs::read(&no_fit.exe).unwrap(), Class::DoesNotFit));

    let mut seen = Vec::new();
    for (n, (name, bytes, want)) in cases.iter().enumerate() {
        let tag = format!("case{n}");
        let got = [
            ("plan::decide", decided_class(bytes)),
            ("inspect", inspect_class(&copy(&dir, &format!("{tag}-inspect"), bytes))),
            ("verify", verify_class(&copy(&dir, &format!("{tag}-verify"), bytes))),
            ("rewrite", rewrite_class(&copy(&dir, &format!("{tag}-rewrite"), bytes))),
            ("shim pipeline", shim_class(&copy(&dir, &format!("{tag}-shim"), bytes))),
        ];
        for (who, class) in got {
            assert_eq!(class, *want, "{name}: {who} reports {class:?}, expected {want:?}");
        }
        seen.push(*want);
    }
    for class in [
        Class::Write,
        Class::AlreadyRewritten,
        Class::UnknownTable,
        Class::Skip,
        Class::Refused,
        Class::DoesNotFit,
    ] {
        assert!(seen.contains(&class), "no input for {class:?}");
    }
}

/// A table magic of a future version is "unknown table version", not records (before: "no
/// record survived the owner test"), and the file is left alone.
#[test]
fn unknown_table_magic_is_its_own_outcome() {
    let dir = scratch_dir("plan/unknown_magic");
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    let original = std::fs::read(&built.exe).unwrap();
    let Produced::Rewritten { output: mut data, .. } = postlink::produce(&original).unwrap() else {
        panic!("fixture not rewritable")
    };
    let (entry_off, _) = section(&original, "llgo_funcinfo_entry");
    data[entry_off..entry_off + 8].copy_from_slice(b"LLGOFTB7");
    let file = copy(&dir, "work", &data);

    let rewrite = llgo_ld([Path::new("rewrite"), &file]);
    let text = String::from_utf8_lossy(&rewrite.stdout);
    assert_eq!(rewrite.status.code(), Some(0), "{}", show(&rewrite));
    assert!(text.contains("skipped: unknown table version"), "{text}");
    assert!(text.contains("LLGOFTB7"), "{text}");
    assert_eq!(std::fs::read(&file).unwrap(), data, "file changed");

    let verify = llgo_ld([Path::new("verify"), &file]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(text.contains("unknown table version"), "{text}");
    assert!(!text.contains("owner test"), "{text}");

    let inspect = llgo_ld([Path::new("inspect"), Path::new("--json"), &file]);
    let json = String::from_utf8_lossy(&inspect.stdout);
    assert!(json.contains("\"state\":\"unknown\""), "{json}");
    assert!(json.contains("\"outcome\":\"unknown table version\""), "{json}");
}

/// A relaid output: the rewrite's plan plus a hand-made compaction that cuts most of the
/// non-loaded `.comment` section out of the file and moves everything after it (the following
/// sections and the section header table) down. The shorter file goes through the pipeline's
/// apply and self-check, is read by llvm-readelf and goblin, and the program still adopts its
/// table.
#[test]
fn relaid_shorter_output_passes_the_self_check() {
    let dir = scratch_dir("plan/relaid");
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    let original = std::fs::read(&built.exe).unwrap();
    let plan::Plan::Rewrite { mut edits, .. } = plan::plan(&original).unwrap() else {
        panic!("fixture not rewritable")
    };

    let elf = goblin::elf::Elf::parse(&original).unwrap();
    let (comment_off, comment_size) = section(&original, ".comment");
    // Keep 8-byte alignment of everything that moves.
    let cut = (comment_size & !7) as u64;
    assert!(cut >= 8, ".comment too small to cut: {comment_size}");
    let cut_end = comment_off as u64 + cut;
    let shoff = elf.header.e_shoff;
    assert!(shoff >= cut_end, "section headers before .comment");
    let le = |v: u64| v.to_le_bytes().to_vec();
    edits.push(Edit::cut(comment_off as u64, cut));
    edits.push(Edit::overwrite(0x28, le(shoff - cut)));
    for (i, sh) in elf.section_headers.iter().enumerate() {
        let hdr = shoff + 64 * i as u64;
        if sh.sh_offset == comment_off as u64 && sh.sh_size == comment_size as u64 {
            edits.push(Edit::overwrite(hdr + 0x20, le(comment_size as u64 - cut)));
        } else if sh.sh_offset >= cut_end && sh.sh_type != goblin::elf::section_header::SHT_NOBITS {
            assert!(sh.sh_flags & u64::from(goblin::elf::section_header::SHF_ALLOC) == 0);
            edits.push(Edit::overwrite(hdr + 0x18, le(sh.sh_offset - cut)));
        }
    }
    llgo_ld::edit::normalize(&mut edits, original.len() as u64).unwrap();
    assert_eq!(llgo_ld::edit::new_len(original.len() as u64, &edits), original.len() as u64 - cut);

    // The production steps after planning: apply (any size) and the self-check.
    let relaid = postlink::apply_checked(&original, &edits).unwrap();
    assert_eq!(relaid.len() as u64, original.len() as u64 - cut);

    // A wrong header (the section headers left where they were) fails the self-check.
    let mut broken = edits.clone();
    broken.retain(|e| e.offset != 0x28);
    assert!(postlink::apply_checked(&original, &broken).is_err(), "stale e_shoff passed");

    let exe = dir.join("relaid");
    write_executable(&exe, &relaid);
    let readelf = checked(
        Command::new(require_tool("llvm-readelf-19")).args(["-S", "-s"]).arg(&exe),
        "llvm-readelf",
    );
    let err = String::from_utf8_lossy(&readelf.stderr);
    assert!(!err.contains("warning"), "{err}");
    let out = String::from_utf8_lossy(&readelf.stdout);
    assert!(out.contains("llgo_funcinfo_entry") && out.contains(".symtab"), "{out}");
    let g = goblin::elf::Elf::parse(&relaid).unwrap();
    assert_eq!(g.header.e_shoff, shoff - cut);
    assert_eq!(g.syms.len(), elf.syms.len());
    let verify = llgo_ld([Path::new("verify"), &exe]);
    assert!(verify.status.success(), "verify\n{}", show(&verify));
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
}
