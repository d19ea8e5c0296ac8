//! Acceptance matrix of issue 2: real compilers and linkers, the rewrite, and the proof.
//!
//! Every cell: link the generated fixture → the unrewritten program reports "no table" (the
//! run-time check can fail) → `llgo-ld rewrite` exits 0 → `llgo-ld verify` exits 0 → the program's
//! run-time check passes (table in place) → goblin and llvm-objdump read the same table as the
//! symbol table predicts → the records classify as llgo-ld says → a second `rewrite` leaves the
//! file byte-identical. LTO cells also show inline copies removed; lld `--gc-sections` cells show
//! the unused functions gone.
//!
//! Plus: a spilling fixture goes through the LLGOFTB2 redirect; a fixture that fits neither
//! section is left untouched with "does not fit".

mod support;

use std::path::Path;

use support::*;

/// One cell of the matrix, start to end. Panics with the first failed step.
fn cell(name: &str, toolchain: Toolchain, opt: Opt, gc_sections: bool) {
    let dir = scratch_dir(&format!("elf_matrix/{name}"));
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, toolchain, opt, gc_sections);
    let exe = &built.exe;

    let before = run_program(exe, built.arch);
    assert_eq!(
        before.status.code(),
        Some(RTCHECK_NO_TABLE),
        "the unrewritten program must report no table\n{}",
        show(&before)
    );
    assert!(String::from_utf8_lossy(&before.stdout).contains("rtcheck: no table"));

    let original = read_elf(exe);
    let census = census(&original, &built.manifest);
    let inspect = llgo_ld(["inspect".as_ref(), "--json".as_ref(), exe.as_os_str()]);
    assert!(inspect.status.success(), "inspect --json\n{}", show(&inspect));
    check_stats(&String::from_utf8_lossy(&inspect.stdout), &census);

    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    let verify = llgo_ld(["verify".as_ref(), exe.as_os_str()]);
    assert!(verify.status.success(), "verify\n{}", show(&verify));

    let after = run_program(exe, built.arch);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(RTCHECK_OK), "run-time check\n{}", show(&after));
    assert!(stdout.contains("table in place"), "{stdout}");

    let table = check_table_independently(&built);
    assert!(!table.spilled);
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_entry")[..8], b"LLGOFTB1");

    if opt == Opt::Lto {
        assert!(census.inline_copies > 0, "LTO left no inline copies: {census:?}");
    }
    let lld = matches!(toolchain, Toolchain::ClangLld | Toolchain::Aarch64ClangLld);
    if gc_sections && lld {
        assert!(
            !table.facts.symbols.contains_key("pkg0.U0"),
            "lld --gc-sections kept the unused pkg0.U0"
        );
    }
    if !gc_sections && opt == Opt::O1 {
        assert!(table.facts.symbols.contains_key("pkg0.U0"), "pkg0.U0 missing without gc");
    }

    assert_second_rewrite_is_noop(exe);
}

/// The record counts llgo-ld reports for the unrewritten file must equal the independent
/// census (inline copies and clone-suffixed owners may be split differently).
fn check_stats(json: &str, census: &Census) {
    let get = |key: &str| {
        json_u64(json, key).unwrap_or_else(|| panic!("inspect --json lacks \"{key}\":\n{json}"))
            as usize
    };
    assert_eq!(get("entry_records"), census.entry_records, "entry records\n{json}");
    assert_eq!(get("stub_records"), census.stub_records, "stub records\n{json}");
    assert_eq!(get("no_owner"), census.no_owner, "records without owner\n{json}");
    let clones = json_u64(json, "clone_suffixed").unwrap_or(0) as usize;
    assert_eq!(
        get("inline_copies") + clones,
        census.inline_copies + census.clone_suffixed,
        "inline copies (+ clone-suffixed owners)\n{json}"
    );
}

fn assert_second_rewrite_is_noop(exe: &Path) {
    let once = std::fs::read(exe).expect("reading the rewritten file");
    let again = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert!(again.status.success(), "second rewrite\n{}", show(&again));
    let twice = std::fs::read(exe).expect("reading the file again");
    assert!(once == twice, "a second rewrite changed the file");
}

macro_rules! cells {
    ($($name:ident: $tc:ident, $opt:ident, $gc:expr;)*) => {$(
        #[test]
        fn $name() {
            cell(stringify!($name), Toolchain::$tc, Opt::$opt, $gc);
        }
    )*};
}

cells! {
    x86_lld_o1:         ClangLld, O1, false;
    x86_lld_o1_gc:      ClangLld, O1, true;
    x86_lld_lto:        ClangLld, Lto, false;
    x86_lld_lto_gc:     ClangLld, Lto, true;
    x86_bfd_o1:         GccBfd, O1, false;
    x86_bfd_o1_gc:      GccBfd, O1, true;
    x86_bfd_lto:        GccBfd, Lto, false;
    x86_bfd_lto_gc:     GccBfd, Lto, true;
    x86_gold_o1:        GccGold, O1, false;
    x86_gold_o1_gc:     GccGold, O1, true;
    x86_gold_lto:       GccGold, Lto, false;
    x86_gold_lto_gc:    GccGold, Lto, true;
    x86_mold_o1:        Mold, O1, false;
    x86_mold_o1_gc:     Mold, O1, true;
    x86_mold_lto:       Mold, Lto, false;
    x86_mold_lto_gc:    Mold, Lto, true;
    a64_lld_o1:         Aarch64ClangLld, O1, false;
    a64_lld_o1_gc:      Aarch64ClangLld, O1, true;
    a64_lld_lto:        Aarch64ClangLld, Lto, false;
    a64_lld_lto_gc:     Aarch64ClangLld, Lto, true;
    a64_bfd_o1:         Aarch64GccBfd, O1, false;
    a64_bfd_o1_gc:      Aarch64GccBfd, O1, true;
    a64_bfd_lto:        Aarch64GccBfd, Lto, false;
    a64_bfd_lto_gc:     Aarch64GccBfd, Lto, true;
}

/// The blob does not fit the entry section but fits the stub section: the rewrite spills behind
/// an LLGOFTB2 redirect, and the program adopts the table through it.
fn spill(name: &str, toolchain: Toolchain) {
    let dir = scratch_dir(&format!("elf_matrix/{name}"));
    let built = build_fixture(&dir, &FixtureSpec::SPILL, toolchain, Opt::O1, false);
    let exe = &built.exe;
    let before = run_program(exe, built.arch);
    assert_eq!(before.status.code(), Some(RTCHECK_NO_TABLE), "{}", show(&before));

    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    let verify = llgo_ld(["verify".as_ref(), exe.as_os_str()]);
    assert!(verify.status.success(), "verify\n{}", show(&verify));
    let after = run_program(exe, built.arch);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(RTCHECK_OK), "run-time check\n{}", show(&after));
    assert!(stdout.contains("table spilled"), "{stdout}");

    let table = check_table_independently(&built);
    assert!(table.spilled);
    assert!(table.need > table.facts.entry.bytes.len(), "the blob would have fit in place");
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_entry")[..8], b"LLGOFTB2");
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_stubsite")[..8], b"LLGOFTB1");
    assert_second_rewrite_is_noop(exe);
}

#[test]
fn spill_x86_lld() {
    spill("spill_x86_lld", Toolchain::ClangLld);
}

#[test]
fn spill_x86_bfd() {
    spill("spill_x86_bfd", Toolchain::GccBfd);
}

#[test]
fn spill_a64_lld() {
    spill("spill_a64_lld", Toolchain::Aarch64ClangLld);
}

/// The blob fits neither section: `rewrite` fails with "does not fit", exit 1, file untouched.
#[test]
fn fits_neither_is_left_untouched() {
    let dir = scratch_dir("elf_matrix/fits_neither");
    let built = build_fixture(&dir, &FixtureSpec::NO_FIT, Toolchain::ClangLld, Opt::O1, false);
    let exe = &built.exe;
    let original = std::fs::read(exe).expect("reading the link output");
    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert_eq!(rewrite.status.code(), Some(1), "rewrite\n{}", show(&rewrite));
    let stderr = String::from_utf8_lossy(&rewrite.stderr);
    assert!(stderr.contains("does not fit"), "{stderr}");
    assert!(std::fs::read(exe).expect("reading again") == original, "file changed");
    let run = run_program(exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_NO_TABLE), "{}", show(&run));
}

/// LLGo's own module-level "aR" zero/meta rows: lld keeps one output section, so the exact LLGo
/// emission rewrites and passes like the anchored form.
#[test]
fn retain_meta_x86_lld() {
    let spec = FixtureSpec { retain_meta: true, ..FixtureSpec::MATRIX };
    let dir = scratch_dir("elf_matrix/retain_meta_x86_lld");
    let built = build_fixture(&dir, &spec, Toolchain::ClangLld, Opt::O1, true);
    let rewrite = llgo_ld(["rewrite".as_ref(), built.exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    let run = run_program(&built.exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
    check_table_independently(&built);
}

/// mold puts LLGo's "aR" meta rows and the "ao" records into two output sections of one name;
/// `__start_`/`__stop_` cover only one of them. Whatever llgo-ld makes of that, it must never
/// leave a table that the runtime adopts and then misreads: either it writes a table that the
/// run-time check accepts, or it leaves the program without a table.
#[test]
fn retain_meta_mold_is_never_wrong() {
    let spec = FixtureSpec { retain_meta: true, ..FixtureSpec::MATRIX };
    let dir = scratch_dir("elf_matrix/retain_meta_mold");
    let built = build_fixture(&dir, &spec, Toolchain::Mold, Opt::O1, false);
    let original = std::fs::read(&built.exe).expect("reading the link output");
    let rewrite = llgo_ld(["rewrite".as_ref(), built.exe.as_os_str()]);
    let run = run_program(&built.exe, built.arch);
    match run.status.code() {
        Some(RTCHECK_OK) => assert!(rewrite.status.success(), "{}", show(&rewrite)),
        Some(RTCHECK_NO_TABLE) => assert!(
            std::fs::read(&built.exe).expect("reading again") == original,
            "no table adopted, but the file changed\n{}",
            show(&rewrite)
        ),
        _ => panic!(
            "the runtime rejects or misreads the table\nrewrite: {}\nprogram: {}",
            show(&rewrite),
            show(&run)
        ),
    }
}
