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

use std::process::Command;

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

    let rewrite = rewrite_verify_run(&built, "in place");

    let table = check_table_independently(&built);
    assert!(!table.spilled);
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_entry")[..8], b"LLGOFTB1");

    if opt == Opt::Lto {
        assert!(census.inline_copies > 0, "LTO left no inline copies: {census:?}");
        let said = String::from_utf8_lossy(&rewrite.stdout);
        let removed = number_before(&said, " inline copies")
            .unwrap_or_else(|| panic!("rewrite does not report inline copies: {said}"));
        assert!(removed > 0, "rewrite removed no inline copies: {said}");
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

    println!(
        "{name}: entry {} B, stub {} B, {} rows, {} buckets, blob {} B; {census:?}",
        table.facts.entry.bytes.len(),
        table.facts.stub.bytes.len(),
        table.rows.len(),
        table.buckets,
        table.need
    );
    assert_second_rewrite_is_noop(exe);
}

/// The record counts llgo-ld reports for the unrewritten file must equal the independent
/// census (inline copies and clone-suffixed owners may be split differently).
fn check_stats(json: &str, census: &Census) {
    let get = |key: &str| {
        json_u64(json, &["records", key])
            .unwrap_or_else(|| panic!("inspect --json lacks \"{key}\":\n{json}")) as usize
    };
    // Keys of the "records" object of `inspect --json` (schema 1).
    assert_eq!(get("entry"), census.entry_records, "entry records\n{json}");
    assert_eq!(get("stub"), census.stub_records, "stub records\n{json}");
    assert_eq!(get("no_owner"), census.no_owner, "records without owner\n{json}");
    let clones = json_u64(json, &["records", "clone_suffixed"]).unwrap_or(0) as usize;
    assert_eq!(
        get("inline_copies") + clones,
        census.inline_copies + census.clone_suffixed,
        "inline copies (+ clone-suffixed owners)\n{json}"
    );
}

/// The number just before `suffix` in `text` ("..., 145 inline copies, ...").
fn number_before(text: &str, suffix: &str) -> Option<u64> {
    let head = &text[..text.find(suffix)?];
    let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    head[head.len() - digits..].parse().ok()
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

    rewrite_verify_run(&built, "spilled");

    let table = check_table_independently(&built);
    assert!(table.spilled);
    assert!(table.need > table.facts.entry.bytes.len(), "the blob would have fit in place");
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_entry")[..8], b"LLGOFTB2");
    assert_eq!(&objdump_head(exe, "llgo_funcinfo_stubsite")[..8], b"LLGOFTB1");
    println!(
        "{name}: entry {} B, stub {} B, {} rows, {} buckets, blob {} B",
        table.facts.entry.bytes.len(),
        table.facts.stub.bytes.len(),
        table.rows.len(),
        table.buckets,
        table.need
    );
    assert_second_rewrite_is_noop(exe);
}

/// `rewrite` then `verify` on `built`, both must succeed; then the program's run-time check must
/// pass and name `placement` ("in place" or "spilled"). Returns `rewrite`'s output.
fn rewrite_verify_run(built: &Built, placement: &str) -> std::process::Output {
    let exe = &built.exe;
    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    assert!(String::from_utf8_lossy(&rewrite.stdout).contains("rewritten"), "{}", show(&rewrite));
    let verify = llgo_ld(["verify".as_ref(), exe.as_os_str()]);
    assert!(verify.status.success(), "verify\n{}", show(&verify));
    let after = run_program(exe, built.arch);
    let stdout = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(RTCHECK_OK), "run-time check\n{}", show(&after));
    assert!(stdout.contains(&format!("table {placement}")), "{stdout}");
    rewrite
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

    // The shortfall, independently: rows from the generator's manifest at goblin's symbol
    // addresses, buckets by docs/format.md's formula, against goblin's entry section size.
    let facts = read_elf(exe);
    let rows: Vec<u64> = expected_rows(&built.manifest, &facts.symbols).into_keys().collect();
    let (first, last) = (rows[0], rows[rows.len() - 1]);
    let buckets = (last - (first & !4095)) / 4096 + 1;
    let need = 32 + 8 * (rows.len() as u64 + 1) + 36 * buckets;
    let short = need - facts.entry.bytes.len() as u64;
    let inspect = llgo_ld(["inspect".as_ref(), exe.as_os_str()]);
    let text = String::from_utf8_lossy(&inspect.stdout);
    assert!(inspect.status.success(), "inspect\n{}", show(&inspect));
    assert!(text.contains(&format!("does not fit by {short} bytes")), "want {short}:\n{text}");
    assert!(text.contains(&format!("blob needs {need} bytes")), "want {need}:\n{text}");

    let rewrite = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert_eq!(rewrite.status.code(), Some(1), "rewrite\n{}", show(&rewrite));
    let stderr = String::from_utf8_lossy(&rewrite.stderr);
    assert!(stderr.contains(&format!("does not fit by {short} bytes")), "{stderr}");
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
/// `__start_`/`__stop_` cover only one of them. llgo-ld rewrites the one the runtime reads (the
/// meta record is found in the other) and the program adopts the table.
#[test]
fn retain_meta_mold_splits_the_entry_section_and_still_rewrites() {
    let spec = FixtureSpec { retain_meta: true, ..FixtureSpec::MATRIX };
    let dir = scratch_dir("elf_matrix/retain_meta_mold");
    let built = build_fixture(&dir, &spec, Toolchain::Mold, Opt::O1, false);
    // mold really does split the section (otherwise this test proves nothing).
    let readelf =
        checked(Command::new(require_tool("llvm-readelf-19")).arg("-S").arg(&built.exe), "readelf");
    let count = String::from_utf8_lossy(&readelf.stdout).matches(" llgo_funcinfo_entry ").count();
    assert_eq!(count, 2, "mold kept one llgo_funcinfo_entry section");
    rewrite_verify_run(&built, "in place");
}

/// The run-time check proves something only if it can fail: corrupt correct tables and watch it
/// name the function (wrong funcIndex) or refuse the table (count bound, redirect target).
#[test]
fn rtcheck_catches_wrong_tables() {
    let dir = scratch_dir("elf_matrix/rtcheck_catches_wrong_tables");
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    let rewrite = llgo_ld(["rewrite".as_ref(), built.exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    let t = read_table(&built.exe);
    let good = std::fs::read(&built.exe).expect("reading the rewritten file");
    let blob = t.facts.entry.offset;

    // Row 10 gets row 11's funcIndex: rtcheck names a function at row 10's address.
    let mut bad = good.clone();
    let slot = blob + 32 + 8 * 10 + 4;
    bad[slot..slot + 4].copy_from_slice(&t.rows[11].1.to_le_bytes());
    let exe = dir.join("wrong_index");
    write_executable(&exe, &bad);
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_WRONG), "{}", show(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    let names: Vec<&String> =
        t.facts.symbols.iter().filter(|(_, &a)| a == t.rows[10].0).map(|(n, _)| n).collect();
    assert!(names.iter().any(|n| stdout.contains(&format!("FAIL {n} "))), "{names:?}\n{stdout}");

    // A count beyond 16 x __llgo_funcinfo_count + 1 is refused before any lookup.
    let mut bad = good.clone();
    bad[blob + 24..blob + 28].copy_from_slice(&u32::MAX.to_le_bytes());
    let exe = dir.join("huge_count");
    write_executable(&exe, &bad);
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_REJECTED), "{}", show(&run));

    // A redirect whose target is not the stub section is refused.
    let dir = scratch_dir("elf_matrix/rtcheck_catches_wrong_redirect");
    let built = build_fixture(&dir, &FixtureSpec::SPILL, Toolchain::ClangLld, Opt::O1, false);
    let rewrite = llgo_ld(["rewrite".as_ref(), built.exe.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    let t = read_table(&built.exe);
    assert!(t.spilled);
    let mut bad = std::fs::read(&built.exe).expect("reading the rewritten file");
    let slot = t.facts.entry.offset + 16;
    bad[slot..slot + 8].copy_from_slice(&(t.facts.stub.addr + 16).to_le_bytes());
    let exe = dir.join("wrong_redirect");
    write_executable(&exe, &bad);
    let run = run_program(&exe, built.arch);
    assert_eq!(run.status.code(), Some(RTCHECK_REJECTED), "{}", show(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("redirect target"), "{}", show(&run));
}
