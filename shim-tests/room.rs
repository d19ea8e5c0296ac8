//! Room for the table (issue 5): real programs whose table does not fit, linked again with the
//! padding object, rewritten, verified and run.
//!
//! Two fixture families reproduce the shortfall of real non-LTO LLGo builds (entry records only
//! for functions, stub rows for 40-100% of them, a C library between the packages):
//!
//! - `gen.py` programs (the shared generator, C with inline asm, `rtcheck` in `main`), compiled
//!   once per family and linked in a chosen order with a generated C library of 150 to 500
//!   functions (up to ~130 KB of text at -O1) between the packages, `--gc-sections` always,
//!   `--icf=safe` where the linker has it (not ld.bfd);
//! - assembly programs from [`asm_program`] (tiny functions, built in a second even at 100k
//!   rows), for the size range and for the layout-shift case whose place on the page is set to
//!   the byte.
//!
//! Mach-O: the padding object with ld64.lld-19 directly, and one program from the Mach-O
//! generator relinked end to end (verified; it cannot run here).
//!
//! Every number asserted here is computed from the generator's manifest and independent readers
//! (llvm-readelf, goblin via `support`), never taken from llgo-ld's own report alone.

mod support;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use llgo_ld::output::Identity;
use llgo_ld::room::pad;
use support::*;

// ---- linkers ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ld {
    Lld,
    Bfd,
    Gold,
    Mold,
}

impl Ld {
    fn program(self) -> PathBuf {
        require_tool(match self {
            Ld::Lld => "ld.lld-19",
            Ld::Bfd => "ld.bfd",
            Ld::Gold => "ld.gold",
            Ld::Mold => "mold",
        })
    }

    /// `--icf=safe` where the linker has it (ld.bfd has no ICF).
    fn link_flags(self) -> Vec<String> {
        let mut flags = vec!["-Wl,--gc-sections".to_string()];
        if self != Ld::Bfd {
            flags.push("-Wl,--icf=safe".into());
        }
        flags
    }
}

fn clang() -> PathBuf {
    require_tool("clang-19")
}

/// The driver arguments of a link of `objs` into `out` with `ld`, through `--ld-path=ld_path`.
fn link_line(ld: Ld, ld_path: &Path, objs: &[PathBuf], out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-no-pie".into()];
    args.push(format!("--ld-path={}", ld_path.display()).into());
    args.extend(ld.link_flags().into_iter().map(OsString::from));
    args.extend(objs.iter().map(OsString::from));
    args.push("-o".into());
    args.push(out.into());
    args
}

// ---- fixtures --------------------------------------------------------------------------------

/// Compiled objects in link order, plus the manifest for the independent checks.
struct Objects {
    objs: Vec<PathBuf>,
    manifest: Vec<ManifestEntry>,
}

fn compile(src: &Path, obj: &Path, extra: &[&str]) {
    checked(
        Command::new(clang())
            .args(["-c", "-O1", "-fno-pie", "-ffunction-sections", "-fdata-sections", "-Wall"])
            .arg("-I")
            .arg(fixtures_dir())
            .args(extra)
            .arg(src)
            .arg("-o")
            .arg(obj),
        "compile",
    );
}

/// A C library of `funcs` distinct, realistic functions (hash loops with tables and switches:
/// no two alike, so `--icf=safe` folds none), kept alive through a constructor, as a C runtime
/// or a bundled library is in a real LLGo program.
fn c_library(funcs: u32) -> String {
    let mut s = String::from("#include <stddef.h>\n#include <stdint.h>\n");
    for i in 0..funcs {
        let tab: Vec<String> = (0..16).map(|k| ((i * 131 + k * 977) % 65521).to_string()).collect();
        let _ = write!(
            s,
            "uint32_t clib_f{i}(const uint8_t *p, size_t n) {{\n\
             \x20   static const uint32_t tab[16] = {{{tab}}};\n\
             \x20   uint32_t h = {seed}u;\n\
             \x20   for (size_t i = 0; i < n; i++) {{\n\
             \x20       h = (h ^ p[i]) * 16777619u + tab[p[i] & 15];\n\
             \x20       if (h & {bit}u) h = (h >> 3) | (h << 29); else h += {a}u;\n\
             \x20       switch (p[i] % 7) {{\n\
             \x20       case 0: h ^= {b}u; break;\n\
             \x20       case 1: h += i * {c}u; break;\n\
             \x20       case 2: h -= {d}u; break;\n\
             \x20       case 3: h = h * 3 + {e}u; break;\n\
             \x20       default: h ^= h >> {f};\n\
             \x20       }}\n\
             \x20   }}\n\
             \x20   return h;\n\
             }}\n",
            tab = tab.join(","),
            seed = 2_166_136_261u32.wrapping_add(i),
            bit = 1u32 << (i % 31),
            a = i * 7 + 1,
            b = i * 13 + 5,
            c = i + 3,
            d = i * 17 + 11,
            e = i % 97,
            f = 1 + i % 13,
        );
    }
    let all: Vec<String> = (0..funcs).map(|i| format!("clib_f{i}")).collect();
    let _ = write!(
        s,
        "uint32_t (*const clib_all[])(const uint8_t *, size_t) = {{{}, 0}};\n\
         __attribute__((constructor)) static void clib_keep(void) {{\n\
         \x20   void *volatile p = (void *)clib_all;\n\
         \x20   (void)p;\n\
         }}\n",
        all.join(", ")
    );
    s
}

/// A `gen.py` program (`packages` x `funcs`, `stubs` closure stubs per package, no inline
/// copies) with a C library of `clib_funcs` functions linked between its packages.
fn family(dir: &Path, packages: u32, funcs: u32, stubs: u32, clib_funcs: u32) -> Objects {
    let spec = FixtureSpec {
        packages,
        funcs,
        stubs,
        stub_records: 1,
        helpers: 0,
        inline_calls: 0,
        aliases: 0,
        unused: 0,
        filler: 0,
        cross_calls: false,
        noinline: true,
        retain_meta: false,
    };
    let manifest = generate(&spec, dir);
    let src = dir.join("src");
    std::fs::write(src.join("clib.c"), c_library(clib_funcs)).expect("writing clib.c");
    let obj = |name: &str| dir.join(format!("{name}.o"));
    let mut objs = Vec::new();
    for k in 0..packages {
        let name = format!("pkg{k}");
        compile(&src.join(format!("{name}.c")), &obj(&name), &[]);
        objs.push(obj(&name));
        if k + 1 == packages.div_ceil(2) {
            compile(&src.join("clib.c"), &obj("clib"), &[]);
            objs.push(obj("clib"));
        }
    }
    compile(&src.join("main.c"), &obj("main"), &[]);
    compile(&fixtures_dir().join("rtcheck.c"), &obj("rtcheck"), &[]);
    objs.extend([obj("main"), obj("rtcheck")]);
    Objects { objs, manifest }
}

/// FNV-1a-64 (docs/format.md, "Input"), computed by the test's generator, never by llgo-ld.
fn fnv(name: &str) -> u64 {
    let mut h: u64 = 14_695_981_039_346_656_037;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(1_099_511_628_211);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// An x86_64 assembly program: `packages` files of `funcs` tiny functions (an `lea` and a
/// `ret`, each with its entry record), `stubs` weak closure stubs per package (a stub record
/// and a `jmp`), and `filler` bytes of text in a separate file linked between the first and
/// the other packages. `main.c` holds the symbol index, the module rows and the run-time check;
/// the check lists are data in the assembly files. Assembles 100k functions in about a second.
fn asm_program(dir: &Path, packages: u32, funcs: u32, stubs: u32, filler: u32) -> Objects {
    asm_program_as(dir, packages, funcs, stubs, filler, false)
}

/// [`asm_program`] as generation 1 (a stub section, at least its zero row) or, with `gen2`, as
/// today's LLGo emits it: no stub section, writable entry records (`"awo"`), the module rows
/// in the entry section only.
fn asm_program_as(
    dir: &Path,
    packages: u32,
    funcs: u32,
    stubs: u32,
    filler: u32,
    gen2: bool,
) -> Objects {
    assert!(!gen2 || stubs == 0, "generation 2 has no closure stubs");
    let entry_flags = if gen2 { "awo" } else { "ao" };
    std::fs::create_dir_all(dir).expect("creating the fixture directory");
    let mut manifest = Vec::new();
    let mut index: Vec<(u64, u32)> = Vec::new();
    let mut objs = Vec::new();
    let mut next_index = 1u32;
    for k in 0..packages {
        let mut s = String::new();
        let mut checks = String::new();
        let mut names = String::new();
        for i in 0..funcs {
            let name = format!("pkg{k}.F{i}");
            let id = fnv(&name);
            let _ = write!(
                s,
                "\t.section .text.{name},\"ax\",@progbits\n\t.globl {name}\n\t.type {name},@function\n\
                 \t.p2align 4\n{name}:\n.La{k}_{i}:\n\
                 \t.pushsection llgo_funcinfo_entry,\"{entry_flags}\",@progbits,.La{k}_{i}\n\
                 \t.balign 8\n\t.quad .La{k}_{i}, {id:#x}\n\t.popsection\n\
                 \tlea {imm}(%rdi), %eax\n\tret\n\t.size {name}, .-{name}\n",
                imm = k * funcs + i + 1,
            );
            let _ = writeln!(checks, "\t.quad {name}\n\t.long {next_index}, 0\n\t.quad .Ln{k}_{i}");
            let _ = writeln!(names, ".Ln{k}_{i}:\n\t.asciz \"{name}\"");
            manifest.push(entry("func", &name, id, next_index));
            index.push((id, next_index));
            if i < stubs {
                let stub = format!("__llgo_stub.{name}");
                let _ = write!(
                    s,
                    "\t.section .text.{stub},\"ax\",@progbits\n\t.weak {stub}\n\t.type {stub},@function\n\
                     \t.p2align 4\n{stub}:\n.Ls{k}_{i}:\n\
                     \t.pushsection llgo_funcinfo_stubsite,\"ao\",@progbits,.Ls{k}_{i}\n\
                     \t.balign 8\n\t.quad .Ls{k}_{i}, {id:#x}\n\t.popsection\n\
                     \tjmp {name}\n\t.size {stub}, .-{stub}\n"
                );
                let _ =
                    writeln!(checks, "\t.quad {stub}\n\t.long {next_index}, 1\n\t.quad .Lm{k}_{i}");
                let _ = writeln!(names, ".Lm{k}_{i}:\n\t.asciz \"{stub}\"");
                manifest.push(entry("stub", &stub, id, next_index));
            }
            next_index += 1;
        }
        let checked = funcs + stubs.min(funcs);
        let _ = write!(
            s,
            "\t.section .data.rel.ro.rtcheck_pkg{k},\"aw\",@progbits\n\t.globl rtcheck_pkg{k}\n\
             \t.p2align 3\nrtcheck_pkg{k}:\n{checks}\
             \t.globl rtcheck_pkg{k}_len\nrtcheck_pkg{k}_len:\n\t.quad {checked}\n\
             \t.section .rodata.names_pkg{k},\"a\",@progbits\n{names}\
             \t.section .note.GNU-stack,\"\",@progbits\n"
        );
        let path = dir.join(format!("pkg{k}.s"));
        std::fs::write(&path, s).expect("writing a package");
        let obj = path.with_extension("o");
        checked_assemble(&path, &obj);
        objs.push(obj);
        if k == 0 && filler > 0 {
            let path = dir.join("filler.s");
            std::fs::write(
                &path,
                format!(
                    "\t.section .text.filler,\"ax\",@progbits\n\t.globl filler\n\t.type filler,@function\n\
                     filler:\n\tret\n\t.skip {}, 0xcc\n\t.size filler, .-filler\n\
                     \t.section .note.GNU-stack,\"\",@progbits\n",
                    filler - 1
                ),
            )
            .expect("writing the filler");
            let obj = path.with_extension("o");
            checked_assemble(&path, &obj);
            objs.push(obj);
        }
    }
    index.sort_unstable();
    let mut main = String::new();
    if gen2 {
        main.push_str("#define LLGO_GENERATION 2\n");
    }
    main.push_str("#include \"llgo_records.h\"\n#include \"rtcheck.h\"\n");
    main.push_str("static const struct llgo_symbol_index_entry rows[] = {\n");
    for (id, fi) in &index {
        let _ = writeln!(main, "    {{{id:#x}ULL, {fi}, 0}},");
    }
    let n = index.len();
    let _ = write!(
        main,
        "}};\n\
         LLGO_KEEP const struct llgo_symbol_index_entry *__llgo_funcinfo_symbol_index = rows;\n\
         LLGO_KEEP uint64_t __llgo_funcinfo_symbol_index_count = {n};\n\
         LLGO_KEEP uint64_t __llgo_funcinfo_count = {n};\n\
         __attribute__((noinline)) static void llgo_module_rows(void) {{ {rows}(); }}\n",
        rows = if gen2 { "LLGO_ENTRY_ROWS" } else { "LLGO_MODULE_ROWS" }
    );
    if filler > 0 {
        main.push_str(
            "extern void filler(void);\n\
             __attribute__((constructor)) static void keep_filler(void) {\n\
             \x20   void *volatile p = (void *)filler;\n    (void)p;\n}\n",
        );
    }
    for k in 0..packages {
        let _ = writeln!(
            main,
            "extern const struct rtcheck_fn rtcheck_pkg{k}[];\n\
             extern const unsigned long rtcheck_pkg{k}_len;"
        );
    }
    main.push_str("int main(void) {\n    llgo_module_rows();\n");
    let _ = writeln!(main, "    static struct rtcheck_list lists[{packages}];");
    for k in 0..packages {
        let _ = writeln!(
            main,
            "    lists[{k}] = (struct rtcheck_list){{rtcheck_pkg{k}, rtcheck_pkg{k}_len}};"
        );
    }
    let _ = write!(main, "    return rtcheck_run(lists, {packages});\n}}\n");
    let path = dir.join("main.c");
    std::fs::write(&path, main).expect("writing main.c");
    let obj = dir.join("main.o");
    compile(&path, &obj, &[]);
    let rt = dir.join("rtcheck.o");
    compile(&fixtures_dir().join("rtcheck.c"), &rt, &[]);
    objs.extend([obj, rt]);
    Objects { objs, manifest }
}

fn entry(kind: &str, name: &str, id: u64, expect: u32) -> ManifestEntry {
    ManifestEntry { kind: kind.into(), name: name.into(), id, expect, checked: true }
}

fn checked_assemble(src: &Path, obj: &Path) {
    checked(Command::new(clang()).arg("-c").arg(src).arg("-o").arg(obj), "assemble");
}

// ---- measurements ----------------------------------------------------------------------------

/// Sizes of every section named `llgo_funcinfo_entry`, read by llvm-readelf-19 (not llgo-ld).
fn entry_sections(exe: &Path) -> Vec<u64> {
    let out = checked(
        Command::new(require_tool("llvm-readelf-19")).args(["-S", "-W"]).arg(exe),
        "llvm-readelf -S",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(']').map(|(_, rest)| rest))
        .map(|rest| rest.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.first() == Some(&"llgo_funcinfo_entry"))
        .map(|f| u64::from_str_radix(f[4], 16).expect("section size"))
        .collect()
}

/// The size of the one entry section (asserting there is exactly one).
fn entry_size(exe: &Path) -> u64 {
    let sizes = entry_sections(exe);
    assert_eq!(sizes.len(), 1, "{}: exactly one llgo_funcinfo_entry: {sizes:?}", exe.display());
    sizes[0]
}

/// `llgo-ld inspect --json` of an unrewritten file: (outcome, shortfall).
fn inspect(exe: &Path) -> (String, Option<u64>) {
    let out = llgo_ld(["inspect".as_ref(), "--json".as_ref(), exe.as_os_str()]);
    assert!(out.status.success(), "inspect\n{}", show(&out));
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    let outcome = json
        .split("\"outcome\":\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    (outcome, json_u64(&json, &["shortfall"]))
}

/// The bucket count of a table for the rows the symbol table predicts (docs/format.md, "The
/// table").
fn predicted_buckets(exe: &Path, manifest: &[ManifestEntry]) -> u64 {
    let rows = expected_rows(manifest, &read_elf(exe).symbols);
    let (first, last) = (rows.keys().next().unwrap(), rows.keys().last().unwrap());
    (last - (first & !4095)) / 4096 + 1
}

/// Blob bytes for those rows (docs/format.md, "The table") minus the entry section: the shortfall,
/// computed without llgo-ld.
fn predicted_shortfall(exe: &Path, manifest: &[ManifestEntry]) -> i64 {
    let rows = expected_rows(manifest, &read_elf(exe).symbols).len() as i64;
    let need = 32 + 8 * (rows + 1) + 36 * predicted_buckets(exe, manifest) as i64;
    need - entry_size(exe) as i64
}

/// The plain link fails to take a table: `rewrite` exits 1 with "does not fit" and leaves the
/// file byte-identical (same inode, same bytes). Returns the shortfall.
fn assert_does_not_fit(exe: &Path, manifest: &[ManifestEntry]) -> u64 {
    let before = std::fs::read(exe).expect("reading the plain link");
    let id = Identity::of(exe).unwrap().unwrap();
    let (outcome, shortfall) = inspect(exe);
    assert_eq!(outcome, "does not fit", "{}", exe.display());
    let shortfall = shortfall.expect("inspect reports the shortfall");
    assert_eq!(shortfall as i64, predicted_shortfall(exe, manifest), "shortfall");
    let out = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert_eq!(out.status.code(), Some(1), "rewrite must fail\n{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not fit"), "{stderr}");
    assert_eq!(Identity::of(exe).unwrap().unwrap(), id, "the file is untouched");
    assert_eq!(std::fs::read(exe).unwrap(), before, "the file is untouched");
    shortfall
}

/// The rewritten program passes `llgo-ld verify`, the independent table check and the run-time
/// check. Returns the table's bucket count.
fn assert_rewritten_and_correct(exe: &Path, manifest: &[ManifestEntry]) -> u32 {
    let out = llgo_ld(["verify".as_ref(), exe.as_os_str()]);
    assert!(out.status.success(), "verify\n{}", show(&out));
    let built = Built { exe: exe.to_path_buf(), arch: Arch::X86_64, manifest: manifest.to_vec() };
    let table = check_table_independently(&built);
    assert!(!table.spilled, "the table is in place");
    let run = run_program(exe, Arch::X86_64);
    assert_eq!(run.status.code(), Some(RTCHECK_OK), "run-time check\n{}", show(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("table in place"), "{}", show(&run));
    table.buckets
}

/// The growth of the entry section is exactly the reservation, and the reservation is at most
/// the shortfall plus one bucket plus alignment.
fn assert_growth(first: u64, second: u64, shortfall: u64, reserved: u64) {
    assert_eq!(second - first, reserved, "the section grows by exactly the padding");
    assert!(reserved >= shortfall + 36, "room for one more bucket");
    assert!(reserved <= shortfall + 36 + 15, "growth {reserved} for shortfall {shortfall}");
}

// ---- linking through llgo-ld ------------------------------------------------------------------

/// How llgo-ld is put into the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// Explicit CC mode: `llgo-ld clang-19 ... --ld-path=<ld>`.
    Cc,
    /// Linker mode: `clang-19 --ld-path=<llgo-ld>`, the real linker in `LLGO_LD_LINKER`.
    LdPath,
}

fn llgo_ld_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llgo-ld"))
}

/// A link of `objs` into `out` through llgo-ld with `linker` as the real linker (the linker
/// itself or a wrapper script). The system temporary directory is `tmp` (its scratch
/// directories are checked afterwards); the info log goes to `log`.
fn llgo_ld_link(
    via: Via,
    ld: Ld,
    linker: &Path,
    objs: &[PathBuf],
    out: &Path,
    tmp: &Path,
    log: &Path,
) -> Command {
    std::fs::create_dir_all(tmp).expect("creating TMPDIR");
    let mut cmd = match via {
        Via::Cc => {
            let mut c = Command::new(llgo_ld_exe());
            c.arg(clang()).args(link_line(ld, linker, objs, out));
            c
        }
        Via::LdPath => {
            let mut c = Command::new(clang());
            c.args(link_line(ld, &llgo_ld_exe(), objs, out)).env("LLGO_LD_LINKER", linker);
            c
        }
    };
    cmd.env("TMPDIR", tmp).env("LLGO_LD_LOG_FILE", log).env_remove("LLGO_LD_LOG");
    cmd.env_remove("LLGO_LD_RESERVE").env_remove("LLGO_LD_STRICT").env_remove("LLGO_PCLNPOST");
    cmd
}

/// Writes an executable shell script.
fn script(path: &Path, text: &str) {
    std::fs::write(path, text).expect("writing a script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A wrapper that counts its runs in `<path>.count` and then runs `ld`; from run `fail_from` on
/// (0: never) it fails instead, saying so on stderr.
fn counting_linker(path: &Path, ld: Ld, fail_from: u32) -> PathBuf {
    let count = path.with_extension("count");
    let _ = std::fs::remove_file(&count);
    script(
        path,
        &format!(
            "#!/bin/sh\necho run >> '{c}'\nn=$(wc -l < '{c}')\n\
             if [ {fail_from} -gt 0 ] && [ \"$n\" -ge {fail_from} ]; then\n\
             \x20 echo 'counting-ld: failing on purpose' >&2; exit 1\nfi\n\
             exec '{ld}' \"$@\"\n",
            c = count.display(),
            ld = ld.program().display()
        ),
    );
    count
}

fn runs(count: &Path) -> usize {
    std::fs::read_to_string(count).map(|s| s.lines().count()).unwrap_or(0)
}

/// The one info line of the link, from the log file.
fn log_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("llgo-ld: info:")).collect();
    assert_eq!(lines.len(), 1, "exactly one info line:\n{text}");
    lines[0].to_string()
}

/// `reserved=N` of an info line.
fn reserved_of(line: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("reserved="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no reserved= in {line}"))
}

fn assert_empty_dir(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "scratch left behind: {left:?}");
}

// ---- tests -----------------------------------------------------------------------------------

/// The padding object's form, with all four ELF linkers, with and without `--gc-sections`, on
/// x86_64 and aarch64 (lld, bfd): the entry section grows by exactly the padding, and there is
/// still exactly one section of that name (mold splits inputs whose flags differ).
#[test]
fn padding_object_grows_the_one_entry_section_with_every_linker() {
    let dir = scratch_dir("room/pad_form");
    let x86 = family(&dir.join("x86"), 2, 20, 10, 40);
    let size = 4096 + 16 * 7;
    let pad_x86 = dir.join("pad-x86.o");
    std::fs::write(&pad_x86, pad::object(pad::Target::ElfX86_64, size).unwrap()).unwrap();
    for ld in [Ld::Lld, Ld::Bfd, Ld::Gold, Ld::Mold] {
        for gc in [true, false] {
            let mut args =
                vec!["-no-pie".to_string(), format!("--ld-path={}", ld.program().display())];
            if gc {
                args.push("-Wl,--gc-sections".into());
            }
            let link = |out: &Path, pad: Option<&Path>| {
                let mut cmd = Command::new(clang());
                cmd.args(&args).args(&x86.objs).arg("-o").arg(out);
                if let Some(p) = pad {
                    cmd.arg(format!("-Wl,{}", p.display()));
                }
                let o = checked(&mut cmd, "link");
                assert!(o.stderr.is_empty(), "{ld:?}: no warnings\n{}", show(&o));
            };
            let (plain, padded) =
                (dir.join(format!("{ld:?}-{gc}")), dir.join(format!("{ld:?}-{gc}-pad")));
            link(&plain, None);
            link(&padded, Some(&pad_x86));
            assert_eq!(entry_size(&padded), entry_size(&plain) + size, "{ld:?} gc={gc}");
            assert_rewrites_after(&padded, &x86.manifest);
        }
    }

    // aarch64: clang + lld and gcc + bfd, under qemu.
    let a64 = dir.join("a64");
    let manifest = generate(
        &FixtureSpec {
            packages: 2,
            funcs: 20,
            stubs: 10,
            stub_records: 1,
            helpers: 0,
            inline_calls: 0,
            aliases: 0,
            unused: 0,
            filler: 0,
            cross_calls: false,
            noinline: true,
            retain_meta: false,
        },
        &a64,
    );
    let mut objs = Vec::new();
    for name in ["pkg0", "pkg1", "main"] {
        let obj = a64.join(format!("{name}.o"));
        compile(&a64.join("src").join(format!("{name}.c")), &obj, &["--target=aarch64-linux-gnu"]);
        objs.push(obj);
    }
    let rt = a64.join("rtcheck.o");
    compile(&fixtures_dir().join("rtcheck.c"), &rt, &["--target=aarch64-linux-gnu"]);
    objs.push(rt);
    let pad_a64 = dir.join("pad-a64.o");
    std::fs::write(&pad_a64, pad::object(pad::Target::ElfAarch64, size).unwrap()).unwrap();
    for (driver, first) in [
        (
            "clang-19",
            vec![
                "--target=aarch64-linux-gnu".to_string(),
                format!("--ld-path={}", Ld::Lld.program().display()),
            ],
        ),
        ("aarch64-linux-gnu-gcc", vec!["-fuse-ld=bfd".to_string()]),
    ] {
        let link = |out: &Path, pad: Option<&Path>| {
            let mut cmd = Command::new(require_tool(driver));
            cmd.args(&first).args(["-no-pie", "-Wl,--gc-sections"]).args(&objs).arg("-o").arg(out);
            if let Some(p) = pad {
                cmd.arg(format!("-Wl,{}", p.display()));
            }
            let o = checked(&mut cmd, "aarch64 link");
            assert!(o.stderr.is_empty(), "{driver}: no warnings\n{}", show(&o));
        };
        let (plain, padded) =
            (dir.join(format!("a64-{driver}")), dir.join(format!("a64-{driver}-pad")));
        link(&plain, None);
        link(&padded, Some(&pad_a64));
        assert_eq!(entry_size(&padded), entry_size(&plain) + size, "aarch64 {driver}");
        let out = llgo_ld(["rewrite".as_ref(), padded.as_os_str()]);
        assert!(out.status.success(), "{}", show(&out));
        let built = Built { exe: padded.clone(), arch: Arch::Aarch64, manifest: manifest.clone() };
        check_table_independently(&built);
        let run = run_program(&padded, Arch::Aarch64);
        assert_eq!(run.status.code(), Some(RTCHECK_OK), "{}", show(&run));
    }
}

/// A padded program is a correct program: it rewrites, verifies and passes the run-time check.
fn assert_rewrites_after(exe: &Path, manifest: &[ManifestEntry]) {
    let out = llgo_ld(["rewrite".as_ref(), exe.as_os_str()]);
    assert!(out.status.success(), "rewrite\n{}", show(&out));
    assert_rewritten_and_correct(exe, manifest);
}

/// What one relink did, for the assertions and the test's report.
struct Round {
    shortfall: u64,
    reserved: u64,
    first_size: u64,
    second_size: u64,
    first_buckets: u64,
    buckets: u32,
}

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "shortfall {}, reserved {}, entry section {} -> {}, buckets {} -> {}",
            self.shortfall,
            self.reserved,
            self.first_size,
            self.second_size,
            self.first_buckets,
            self.buckets
        )
    }
}

/// The plain link takes no table ([`assert_does_not_fit`]); the same link through llgo-ld
/// (`via`, with `ld`) exits 0 with the plain link's (empty) stdout and stderr, runs the real
/// linker exactly twice, logs the relink and the reservation, leaves no scratch files, and
/// produces a rewritten program that verifies and passes the run-time check; the entry
/// section grew by exactly the reservation, at most shortfall + one bucket + alignment.
fn relink_round(dir: &Path, o: &Objects, ld: Ld, via: Via) -> Round {
    std::fs::create_dir_all(dir).unwrap();
    let plain = dir.join("plain");
    let line = link_line(ld, &ld.program(), &o.objs, &plain);
    let plain_run = checked(Command::new(clang()).args(line), "plain link");
    let shortfall = assert_does_not_fit(&plain, &o.manifest);
    let first_size = entry_size(&plain);
    let first_buckets = predicted_buckets(&plain, &o.manifest);

    let out = dir.join("prog");
    let (tmp, log) = (dir.join("tmp"), dir.join("llgo-ld.log"));
    let count = counting_linker(&dir.join("counting-ld"), ld, 0);
    let run = llgo_ld_link(via, ld, &dir.join("counting-ld"), &o.objs, &out, &tmp, &log)
        .output()
        .expect("running the link");
    assert!(run.status.success(), "{ld:?} {via:?}\n{}", show(&run));
    assert_eq!(
        (&run.stdout, &run.stderr),
        (&plain_run.stdout, &plain_run.stderr),
        "{}",
        show(&run)
    );
    assert_eq!(runs(&count), 2, "the real linker runs twice");
    let line = log_line(&log);
    assert!(line.contains("relink=yes") && line.contains("outcome=\"rewritten\""), "{line}");
    let reserved = reserved_of(&line);
    assert_empty_dir(&tmp);

    let second_size = entry_size(&out);
    assert_growth(first_size, second_size, shortfall, reserved);
    let buckets = assert_rewritten_and_correct(&out, &o.manifest);
    Round { shortfall, reserved, first_size, second_size, first_buckets, buckets }
}

/// The fixture family through llgo-ld, explicit CC mode and `--ld-path` linker mode: stub rows
/// at 40%, 70% and 100% of the functions, lld, bfd and mold.
#[test]
fn family_relinks_with_room_lld_bfd_mold() {
    let dir = scratch_dir("room/family");
    let mut report = String::new();
    // (name, functions per package, stubs per package, C library functions)
    for (name, funcs, stubs, clib) in
        [("s40", 30, 12, 500), ("s70", 60, 42, 400), ("s100", 60, 60, 150)]
    {
        let o = family(&dir.join(name), 4, funcs, stubs, clib);
        for ld in [Ld::Lld, Ld::Bfd, Ld::Mold] {
            for via in [Via::Cc, Via::LdPath] {
                let r = relink_round(&dir.join(format!("{name}-{ld:?}-{via:?}")), &o, ld, via);
                let _ = writeln!(report, "{name} {ld:?} {via:?}: {r}");
            }
        }
    }
    std::fs::write(dir.join("report.txt"), &report).unwrap();
    eprint!("{report}");
}

/// Sizes from one row to 100k rows (tiny assembly functions, lld, driver lines).
#[test]
fn sizes_from_one_row_to_100k_rows() {
    let dir = scratch_dir("room/sizes");
    let mut report = String::new();
    for (packages, funcs, stubs) in [(1, 1, 0), (1, 40, 40), (4, 1000, 1000), (10, 5000, 5000)] {
        let name = format!("{packages}x{funcs}+{stubs}");
        let o = asm_program(&dir.join(&name).join("src"), packages, funcs, stubs, 0);
        let r = relink_round(&dir.join(&name), &o, Ld::Lld, Via::Cc);
        let rows = packages * (funcs + stubs);
        if rows == 1 {
            // One function: 80 bytes of entry section (its record, the zero row, three meta
            // rows), 84 bytes of blob (header 32, one row and the sentinel 16, one bucket 36).
            assert_eq!((r.first_size, r.shortfall, r.reserved), (80, 4, 48));
        }
        let _ = writeln!(report, "{rows} rows: {r}");
    }
    std::fs::write(dir.join("report.txt"), &report).unwrap();
    eprint!("{report}");
}

/// A case where the layout shift of the first relink needs the margin. lld puts the entry
/// section in the read-only segment before `.text`, so padding it by `d` bytes moves every
/// function by `d`; with the last row just below a page boundary that adds a bucket. The test
/// tunes the text between the first and the last row until a reservation of the bare shortfall
/// (rounded to rows) demonstrably fails with the real linker, then shows that llgo-ld's
/// reservation (one bucket more) succeeds with the bucket count one higher than before.
#[test]
fn layout_shift_needs_the_margin() {
    let dir = scratch_dir("room/margin");
    let mut filler: u64 = 40 * 1024;
    for attempt in 0..8 {
        let tried = dir.join(format!("try{attempt}"));
        let o = asm_program(&tried.join("src"), 2, 100, 100, filler as u32);
        let exe = tried.join("prog");
        checked(
            Command::new(clang()).args(link_line(Ld::Lld, &Ld::Lld.program(), &o.objs, &exe)),
            "plain link",
        );
        let shortfall =
            u64::try_from(predicted_shortfall(&exe, &o.manifest)).expect("does not fit");
        let bare = shortfall.next_multiple_of(16);
        let pad_path = tried.join("bare-pad.o");
        std::fs::write(&pad_path, pad::object(pad::Target::ElfX86_64, bare).unwrap()).unwrap();
        let padded = tried.join("prog-bare");
        let mut args = link_line(Ld::Lld, &Ld::Lld.program(), &o.objs, &padded);
        args.push(format!("-Wl,{}", pad_path.display()).into());
        checked(Command::new(clang()).args(&args), "link with the bare reservation");
        assert_eq!(entry_size(&padded), entry_size(&exe) + bare);
        let (outcome, short_again) = inspect(&padded);
        if outcome == "does not fit" {
            // The bare reservation left exactly the new bucket (less what rounding added).
            assert_eq!(short_again, Some(36 - (bare - shortfall)), "{}", padded.display());
            assert_eq!(
                predicted_buckets(&padded, &o.manifest),
                predicted_buckets(&exe, &o.manifest) + 1
            );
            let r = relink_round(&dir.join("relink"), &o, Ld::Lld, Via::LdPath);
            assert_eq!(r.shortfall, shortfall);
            assert_eq!(r.buckets as u64, r.first_buckets + 1, "the relink added a bucket");
            eprintln!(
                "margin case: filler {filler}, shortfall {shortfall}, bare reservation {bare} fails \
                 short by {short_again:?}, llgo-ld reserved {}, buckets {} -> {}",
                r.reserved, r.first_buckets, r.buckets
            );
            return;
        }
        // Move the last row to `bare / 2` below a page boundary: a shift by `bare` crosses it.
        let rows = expected_rows(&o.manifest, &read_elf(&exe).symbols);
        let last = *rows.keys().last().unwrap();
        let want = 4096 - (bare / 2).max(16);
        filler += ((want + 4096 - last % 4096) % 4096).next_multiple_of(16);
    }
    panic!("no filler size made the bare reservation fail");
}

/// A link whose table fits the first time is linked exactly once (the real linker is a
/// counting wrapper), and so is one that does not fit under `LLGO_LD_RESERVE=0`, which stays
/// exactly as linked.
#[test]
fn fitting_link_runs_the_linker_once() {
    let dir = scratch_dir("room/once");
    // No stubs: 16 bytes of entry section per function against 8 bytes of blob.
    let fits = asm_program(&dir.join("fits/src"), 2, 100, 0, 0);
    let short = asm_program(&dir.join("short/src"), 2, 100, 100, 0);
    for via in [Via::Cc, Via::LdPath] {
        let case = dir.join(format!("{via:?}"));
        std::fs::create_dir_all(&case).unwrap();
        let (tmp, log) = (case.join("tmp"), case.join("fits.log"));
        let count = counting_linker(&case.join("counting-ld"), Ld::Lld, 0);
        let out = case.join("fits");
        let run =
            llgo_ld_link(via, Ld::Lld, &case.join("counting-ld"), &fits.objs, &out, &tmp, &log)
                .output()
                .unwrap();
        assert!(run.status.success(), "{}", show(&run));
        assert_eq!(runs(&count), 1, "{via:?}: a table that fits needs one link");
        let line = log_line(&log);
        assert!(line.contains("relink=no") && line.contains("outcome=\"rewritten\""), "{line}");
        assert_rewritten_and_correct(&out, &fits.manifest);

        let plain = case.join("plain");
        checked(
            Command::new(clang()).args(link_line(Ld::Lld, &Ld::Lld.program(), &short.objs, &plain)),
            "plain",
        );
        assert_does_not_fit(&plain, &short.manifest);
        let count = counting_linker(&case.join("counting-ld"), Ld::Lld, 0);
        let (out, log) = (case.join("short"), case.join("short.log"));
        let run =
            llgo_ld_link(via, Ld::Lld, &case.join("counting-ld"), &short.objs, &out, &tmp, &log)
                .env("LLGO_LD_RESERVE", "0")
                .output()
                .unwrap();
        assert!(run.status.success(), "{}", show(&run));
        assert_eq!(runs(&count), 1, "{via:?}: LLGO_LD_RESERVE=0 never relinks");
        let line = log_line(&log);
        assert!(line.contains("does not fit") && line.contains("relink=no"), "{line}");
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap(), "left as linked");
        assert_empty_dir(&tmp);
    }
}

/// When the second link fails, the output is exactly the first link's, the second link's
/// stderr is not shown (it is in the log), the status is the first link's, and the scratch
/// directory is gone.
#[test]
fn failed_second_link_leaves_the_first_output() {
    let dir = scratch_dir("room/second_fails");
    let o = asm_program(&dir.join("src"), 2, 100, 100, 0);
    let plain = dir.join("plain");
    checked(
        Command::new(clang()).args(link_line(Ld::Lld, &Ld::Lld.program(), &o.objs, &plain)),
        "plain",
    );
    assert_does_not_fit(&plain, &o.manifest);
    for via in [Via::Cc, Via::LdPath] {
        let case = dir.join(format!("{via:?}"));
        std::fs::create_dir_all(&case).unwrap();
        let (tmp, log, out) = (case.join("tmp"), case.join("llgo-ld.log"), case.join("prog"));
        let count = counting_linker(&case.join("counting-ld"), Ld::Lld, 2);
        let run = llgo_ld_link(via, Ld::Lld, &case.join("counting-ld"), &o.objs, &out, &tmp, &log)
            .env("LLGO_LD_LOG", "debug")
            .output()
            .unwrap();
        assert!(run.status.success(), "{}", show(&run));
        assert_eq!(runs(&count), 2);
        assert!(
            run.stderr.is_empty() && run.stdout.is_empty(),
            "nothing of the second link shows\n{}",
            show(&run)
        );
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("failing on purpose"), "its stderr is logged:\n{text}");
        let line = log_line(&log);
        assert!(line.contains("relink=yes") && line.contains("failed"), "{line}");
        assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&plain).unwrap(), "left as linked");
        assert_eq!(run_program(&out, Arch::X86_64).status.code(), Some(RTCHECK_NO_TABLE));
        assert_empty_dir(&tmp);
    }
}

/// The second link overrides the output by appending an output option (`room::args`): every
/// tool takes the last one. Drivers with `-o` and with `-Wl,-o,` after the driver's `-o`;
/// linkers with `-o` after `-o` and after `--output=`.
#[test]
fn last_output_option_wins_for_every_tool() {
    let dir = scratch_dir("room/last_output");
    let o = asm_program(&dir.join("src"), 1, 2, 0, 0);
    let objs: Vec<OsString> = o.objs.iter().map(OsString::from).collect();
    let check = |what: &str, cmd: &mut Command, first: &Path, last: &Path| {
        let _ = std::fs::remove_file(first);
        let _ = std::fs::remove_file(last);
        checked(cmd, what);
        assert!(last.exists() && !first.exists(), "{what}: the last output option wins");
    };
    let (a, b) = (dir.join("first"), dir.join("last"));
    for (driver, ld) in [
        ("clang-19", format!("--ld-path={}", Ld::Lld.program().display())),
        ("gcc", "-fuse-ld=bfd".into()),
    ] {
        let base = || {
            let mut c = Command::new(require_tool(driver));
            c.args(["-no-pie", &ld]).args(&objs);
            c
        };
        check(driver, base().arg("-o").arg(&a).arg("-o").arg(&b), &a, &b);
        let wl = |p: &Path| format!("-Wl,-o,{}", p.display());
        check(driver, base().arg("-o").arg(&a).arg(wl(&a)).arg(wl(&b)), &a, &b);
    }
    // Linkers: a relocatable link (-r) needs no C library and writes the same way.
    for ld in [Ld::Lld, Ld::Bfd, Ld::Gold, Ld::Mold] {
        let base = || {
            let mut c = Command::new(ld.program());
            c.arg("-r").args(&objs);
            c
        };
        let what = format!("{ld:?}");
        check(&what, base().arg("-o").arg(&a).arg("-o").arg(&b), &a, &b);
        check(&what, base().arg(format!("--output={}", a.display())).arg("-o").arg(&b), &a, &b);
    }
    let (sdk, obj) = macho_inputs(&dir, "arm64");
    let ld64 = || {
        let mut c = Command::new(require_tool("ld64.lld-19"));
        c.args(["-arch", "arm64", "-platform_version", "macos", "13.0", "13.0", "-syslibroot"])
            .arg(&sdk)
            .arg("-lSystem")
            .arg(&obj);
        c
    };
    check("ld64.lld", ld64().arg("-o").arg(&a).arg("-o").arg(&b), &a, &b);
}

/// A minimal Mach-O program in assembly (a used and an unused function, each with an entry
/// record in `__DATA,__llgo_fie` as LLGo emits them, plus a pinned zero record) and an SDK
/// holding only a hand-written `libSystem.tbd` (docs/design.md, "Dependencies": no SDK is needed).
fn macho_inputs(dir: &Path, arch: &str) -> (PathBuf, PathBuf) {
    let sdk = dir.join("SDK");
    std::fs::create_dir_all(sdk.join("usr/lib")).unwrap();
    std::fs::write(
        sdk.join("usr/lib/libSystem.tbd"),
        "--- !tapi-tbd\ntbd-version: 4\ntargets: [ x86_64-macos, arm64-macos ]\n\
         install-name: '/usr/lib/libSystem.B.dylib'\ncurrent-version: 1319\nexports:\n\
         \x20 - targets: [ x86_64-macos, arm64-macos ]\n\
         \x20   symbols: [ _printf, _exit, dyld_stub_binder ]\n...\n",
    )
    .unwrap();
    let (body0, body1) = match arch {
        "arm64" => ("mov w0, #0\n\tret", "mov w0, #1\n\tret"),
        _ => ("xorl %eax, %eax\n\tretq", "movl $1, %eax\n\tretq"),
    };
    let src = dir.join(format!("macho-{arch}.s"));
    std::fs::write(
        &src,
        format!(
            "\t.section __TEXT,__text,regular,pure_instructions\n\
             \t.globl _main\n\t.p2align 2\n_main:\nLanchor0:\n\t{body0}\n\
             \t.globl _unused\n\t.p2align 2\n_unused:\nLanchor1:\n\t{body1}\n\
             \t.section __DATA,__llgo_fie,regular,live_support\n\t.p2align 3\n\
             l_rec0:\n\t.quad Lanchor0, 0x1234\nl_rec1:\n\t.quad Lanchor1, 0x5678\n\
             l_zero:\n\t.quad 0, 0\n\t.no_dead_strip l_zero\n.subsections_via_symbols\n"
        ),
    )
    .unwrap();
    let obj = src.with_extension("o");
    checked(
        Command::new(clang())
            .arg(format!("--target={arch}-apple-macos13"))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj),
        "assemble Mach-O",
    );
    (sdk, obj)
}

/// Sizes of every `__llgo_fie` section, read by llvm-objdump-19.
fn macho_entry_sections(exe: &Path) -> Vec<u64> {
    let out = checked(
        Command::new(require_tool("llvm-objdump-19")).arg("-h").arg(exe),
        "llvm-objdump -h",
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.get(1) == Some(&"__llgo_fie"))
        .map(|f| u64::from_str_radix(f[2], 16).expect("section size"))
        .collect()
}

/// The Mach-O padding object with ld64.lld-19 directly: arm64 and x86_64, with and without
/// `-dead_strip`, the one `__llgo_fie` section grows by exactly the padding, and `-dead_strip`
/// still drops the unused function's record.
#[test]
fn macho_padding_object_with_ld64_lld() {
    let dir = scratch_dir("room/macho_pad");
    let size = 4096 + 16 * 3;
    for (arch, target) in [("arm64", pad::Target::MachOArm64), ("x86_64", pad::Target::MachOX86_64)]
    {
        let (sdk, obj) = macho_inputs(&dir, arch);
        let pad_path = dir.join(format!("pad-{arch}.o"));
        std::fs::write(&pad_path, pad::object(target, size).unwrap()).unwrap();
        for dead_strip in [false, true] {
            let link = |out: &Path, pad: Option<&Path>| {
                let mut c = Command::new(require_tool("ld64.lld-19"));
                c.args([
                    "-arch",
                    arch,
                    "-platform_version",
                    "macos",
                    "13.0",
                    "13.0",
                    "-syslibroot",
                ])
                .arg(&sdk)
                .arg("-lSystem")
                .arg(&obj);
                if dead_strip {
                    c.arg("-dead_strip");
                }
                if let Some(p) = pad {
                    c.arg(p);
                }
                let o = checked(c.arg("-o").arg(out), "ld64.lld");
                assert!(o.stderr.is_empty(), "{arch}: no warnings\n{}", show(&o));
            };
            let (plain, padded) = (
                dir.join(format!("{arch}-{dead_strip}")),
                dir.join(format!("{arch}-{dead_strip}-pad")),
            );
            link(&plain, None);
            link(&padded, Some(&pad_path));
            let (p, q) = (macho_entry_sections(&plain), macho_entry_sections(&padded));
            assert_eq!(p.len(), 1, "{arch}: one __llgo_fie");
            assert_eq!(q, vec![p[0] + size], "{arch} dead_strip={dead_strip}");
            // Three 16-byte records, or two when -dead_strip dropped the unused function's.
            assert_eq!(p[0], if dead_strip { 32 } else { 48 }, "{arch} dead_strip={dead_strip}");
        }
    }
}

/// Mach-O end to end: a program from the Mach-O generator (a closure stub for every function,
/// 2 KiB of text each, no inline copies) does not fit; through llgo-ld (explicit CC mode,
/// clang-19 + ld64.lld-19, `-dead_strip`) it is relinked with the padding object, rewritten,
/// re-signed (arm64) and verified. `__llgo_fie` grows by exactly the reservation, and the
/// signature's identifier is still the output's name (the second link wrote a file of the same
/// basename).
#[test]
fn macho_relinks_with_room() {
    let dir = scratch_dir("room/macho");
    let sdk = fixtures_dir().join("macho/sdk");
    for arch in ["arm64", "x86_64"] {
        let case = dir.join(arch);
        std::fs::create_dir_all(&case).unwrap();
        let src = case.join("prog.c");
        checked(
            Command::new(require_tool("python3"))
                .arg(fixtures_dir().join("macho/gen.py"))
                .arg(&src)
                .arg(case.join("manifest.tsv"))
                .args(["--funcs", "40", "--stubs", "40", "--helpers", "0", "--filler", "2048"])
                .args(["--exported", "1", "--unused", "1"]),
            "macho gen.py",
        );
        let line = |out: &Path| -> Vec<OsString> {
            let mut a: Vec<OsString> = vec![format!("--target={arch}-apple-macos13").into()];
            a.extend(["-ffreestanding", "-fuse-ld=lld"].map(OsString::from));
            a.push(format!("--ld-path={}", require_tool("ld64.lld-19").display()).into());
            a.extend(["-isysroot".into(), sdk.clone().into(), "-Wl,-dead_strip".into()]);
            a.extend([src.clone().into(), "-o".into(), out.into()]);
            a
        };
        let plain = case.join("plain");
        checked(Command::new(clang()).args(line(&plain)), "plain Mach-O link");
        let (outcome, shortfall) = inspect(&plain);
        assert_eq!(outcome, "does not fit");
        let shortfall = shortfall.unwrap();
        let first = macho_entry_sections(&plain);
        assert_eq!(first.len(), 1);
        // 40 functions and 1 exported one with a record each, the zero row, three meta rows;
        // -dead_strip dropped the unused function's record.
        assert_eq!(first[0], 16 * (41 + 4));

        let out = case.join(format!("room-macho-{arch}"));
        let (tmp, log) = (case.join("tmp"), case.join("llgo-ld.log"));
        std::fs::create_dir_all(&tmp).unwrap();
        let run = Command::new(llgo_ld_exe())
            .arg(clang())
            .args(line(&out))
            .env("TMPDIR", &tmp)
            .env("LLGO_LD_LOG_FILE", &log)
            .output()
            .unwrap();
        assert!(run.status.success() && run.stderr.is_empty(), "{}", show(&run));
        let info = log_line(&log);
        assert!(info.contains("relink=yes") && info.contains("outcome=\"rewritten\""), "{info}");
        let reserved = reserved_of(&info);
        let second = macho_entry_sections(&out);
        assert_growth(first[0], second[0], shortfall, reserved);
        assert_empty_dir(&tmp);
        let verify = llgo_ld(["verify".as_ref(), out.as_os_str()]);
        assert!(verify.status.success(), "{}", show(&verify));
        if arch == "arm64" {
            let data = std::fs::read(&out).unwrap();
            let name = format!("room-macho-{arch}\0");
            assert!(
                data.windows(name.len()).any(|w| w == name.as_bytes()),
                "the signature identifier is the output's basename"
            );
        }
    }
}

/// Generation 2 (no stub section), linked with LLGo's own script (`INSERT BEFORE .bss`): the
/// plain link does not fit, the relink pads the entry section (the `-T` script stays on the
/// second link, so the section is still last before .bss), and the table is then compacted:
/// the section's file size is exactly the table, its memory size the padded link-time size.
#[test]
fn generation2_relinks_with_llgo_script_then_compacts() {
    let dir = scratch_dir("room/gen2");
    // 50 functions around 1 MiB of filler text: 256 buckets outweigh 50 records.
    let objs = asm_program_as(&dir.join("src"), 2, 25, 0, 1 << 20, true);
    let ld_script = dir.join("llgo.ld");
    std::fs::write(
        &ld_script,
        "SECTIONS\n{\n  llgo_funcinfo_entry : { *(llgo_funcinfo_entry) }\n}\nINSERT BEFORE .bss;\n",
    )
    .unwrap();
    let t = format!("-Wl,-T,{}", ld_script.display());
    let plain = dir.join("plain");
    checked(
        Command::new(clang())
            .args(link_line(Ld::Lld, &Ld::Lld.program(), &objs.objs, &plain))
            .arg(&t),
        "plain link",
    );
    assert_does_not_fit(&plain, &objs.manifest);
    for via in [Via::Cc, Via::LdPath] {
        let case = dir.join(format!("{via:?}"));
        std::fs::create_dir_all(&case).unwrap();
        let (tmp, log, out) = (case.join("tmp"), case.join("log"), case.join("prog"));
        let count = counting_linker(&case.join("counting-ld"), Ld::Lld, 0);
        let run =
            llgo_ld_link(via, Ld::Lld, &case.join("counting-ld"), &objs.objs, &out, &tmp, &log)
                .arg(&t)
                .output()
                .unwrap();
        assert!(run.status.success(), "{}", show(&run));
        assert_eq!(runs(&count), 2, "{via:?}: one relink");
        let line = log_line(&log);
        assert!(line.contains("relink=yes"), "{line}");
        assert!(line.contains("outcome=\"rewritten; compacted: "), "{line}");
        let data = std::fs::read(&out).unwrap();
        let elf = goblin::elf::Elf::parse(&data).unwrap();
        let sh = elf
            .section_headers
            .iter()
            .find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some("llgo_funcinfo_entry"))
            .unwrap();
        let at = sh.sh_offset as usize;
        assert_eq!(&data[at..at + 8], b"LLGOFTB1");
        let word = |o: usize| u64::from(u32::from_le_bytes(data[o..o + 4].try_into().unwrap()));
        let need = 32 + 8 * word(at + 24) + 36 * word(at + 28);
        assert_eq!(sh.sh_size, need, "compacted to the table");
        let sym = |name: &str| {
            elf.syms.iter().find(|s| elf.strtab.get_at(s.st_name) == Some(name)).unwrap().st_value
        };
        let memory = sym("__stop_llgo_funcinfo_entry") - sym("__start_llgo_funcinfo_entry");
        assert!(memory > need, "the padded section's memory size {memory} stays");
        assert_rewritten_and_correct(&out, &objs.manifest);
        assert_empty_dir(&tmp);
    }
}
