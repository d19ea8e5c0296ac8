//! Programs LLGo does not link (issue 10), with the real LLGo 3e0fdda00 libraries of
//! `shim-tests/corpus/llgo-3e0fdda00/libs/` (see its README):
//!
//! - C hosts of the c-archive `libprobe.a` (its `main.c`), linked through the shim
//!   (`llgo-ld clang-19 ...`, `llgo-ld gcc ...`, strict): clang + lld and gcc + ld.bfd, `-no-pie`
//!   and `-pie`, with and without `--gc-sections`, with and without LLGo's layout script
//!   (`layout.ld`). lld hosts use a copy of the archive with `.ctors` renamed to `.init_array`
//!   (an LLGo defect, docs/usage.md). The full-LTO archive with clang `-flto` + lld.
//! - The c-shared library `libprobe.so`, rewritten with `llgo-ld rewrite`, run through
//!   `host_link.c` (linked) and `host_dlopen.c` (dlopened).
//!
//! Each: `verify` passes (at several biases for PIE and the library), the program prints `PASS`
//! and, with `LLGO_FUNCINFO_DEBUG=1`, `entries= prebuilt`; a second rewrite changes nothing; for
//! PIE and the library, `llvm-readelf-19 -r` lists exactly one RELATIVE relocation inside the
//! entry section (the table's base) and every other relocation as the unrewritten link had it.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::*;

/// The run-time libraries of an LLGo c-archive host (corpus README), by soname so that no `-dev`
/// package is needed.
const HOST_LIBS: &[&str] = &[
    "-l:libgc.so.1",
    "-l:libffi.so.8",
    "-l:libuv.so.1",
    "-l:libatomic.so.1",
    "-lpthread",
    "-ldl",
    "-lrt",
    "-lstdc++",
    "-lm",
];

fn libs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/corpus/llgo-3e0fdda00/libs")
}

/// `xz -dc` of a corpus file into `dir`.
fn unxz(from: &Path, to: &Path) {
    let out = checked(Command::new(require_tool("xz")).arg("-dc").arg(from), "xz -dc");
    std::fs::write(to, out.stdout).expect("writing the decompressed file");
}

/// One dynamic relocation line of `llvm-readelf-19 -r` with its table and target.
fn relocations(file: &Path) -> Vec<(String, u64, String)> {
    let out = checked(Command::new(require_tool("llvm-readelf-19")).arg("-r").arg(file), "readelf");
    let mut table = String::new();
    let mut list = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            table = rest.split('\'').next().unwrap_or("").to_string();
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if let [off, info, ..] = words.as_slice() {
            if let (Ok(o), Ok(_)) = (u64::from_str_radix(off, 16), u64::from_str_radix(info, 16)) {
                list.push((table.clone(), o, words[2..].join(" ")));
            }
        }
    }
    list
}

/// `(address, size)` of the entry section by `llvm-readelf-19 -S`.
fn entry_section(file: &Path) -> (u64, u64) {
    let out =
        checked(Command::new(require_tool("llvm-readelf-19")).arg("-SW").arg(file), "readelf");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((_, rest)) = line.split_once(']') else { continue };
        let w: Vec<&str> = rest.split_whitespace().collect();
        if w.first() == Some(&"llgo_funcinfo_entry") {
            return (
                u64::from_str_radix(w[2], 16).expect("addr"),
                u64::from_str_radix(w[4], 16).expect("size"),
            );
        }
    }
    panic!("{}: no llgo_funcinfo_entry", file.display());
}

/// Compares the relocations of the unrewritten `raw` and the rewritten `done`: inside the entry
/// section exactly one RELATIVE at its base slot afterwards; every other line unchanged.
/// Returns (relocations before, after, into the section before).
fn compare_relocations(what: &str, raw: &Path, done: &Path) -> (usize, usize, usize) {
    // The section as linked: compaction shrinks its header to the table (`need`), and what
    // targeted the cut tail must be gone as well.
    let (addr, size) = entry_section(raw);
    let inside = |o: u64| o + 8 > addr && o < addr + size;
    let before = relocations(raw);
    let after = relocations(done);
    let into_before = before.iter().filter(|r| inside(r.1)).count();
    let into_after: Vec<_> = after.iter().filter(|r| inside(r.1)).collect();
    assert_eq!(into_after.len(), 1, "{what}: relocations into the entry section: {into_after:?}");
    assert_eq!(into_after[0].1, addr + 16, "{what}: {into_after:?}");
    assert!(into_after[0].2.contains("_RELATIVE"), "{what}: {into_after:?}");
    let mut rest_before: Vec<_> = before.iter().filter(|r| !inside(r.1)).collect();
    let mut rest_after: Vec<_> = after.iter().filter(|r| !inside(r.1)).collect();
    rest_before.sort();
    rest_after.sort();
    assert!(rest_before == rest_after, "{what}: relocations outside the entry section changed");
    (before.len(), after.len(), into_before)
}

fn run_debug(cmd: &mut Command) -> Output {
    output_retrying(cmd.env("LLGO_FUNCINFO_DEBUG", "1")).expect("running the host")
}

/// PASS as the last line and `entries= prebuilt` from the runtime.
fn assert_pass_prebuilt(what: &str, out: &Output) {
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what}: {}", show(out));
    assert!(text.lines().any(|l| l.trim() == "PASS"), "{what}: no PASS\n{text}");
    assert!(
        text.contains("entries= prebuilt"),
        "{what}: the runtime did not adopt the table\n{text}"
    );
}

fn assert_second_rewrite_is_noop(what: &str, file: &Path) {
    let once = std::fs::read(file).expect("reading");
    let again = llgo_ld(["rewrite".as_ref(), file.as_os_str()]);
    assert!(again.status.success(), "{what}: second rewrite\n{}", show(&again));
    assert!(once == std::fs::read(file).expect("reading"), "{what}: second rewrite changed it");
}

fn verify_ok(what: &str, file: &Path, pie: bool) {
    let verify = llgo_ld(["verify".as_ref(), file.as_os_str()]);
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{what}: verify\n{}", show(&verify));
    if pie {
        assert!(said.contains("at slide 0x7f1234560000"), "{what}: no biased load\n{said}");
    }
}

/// The number after `rows` in `llgo-ld inspect` (the table's rows).
fn rows(file: &Path) -> String {
    let out = llgo_ld(["inspect".as_ref(), file.as_os_str()]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("rows").map(|r| r.trim().to_string()))
        .unwrap_or_else(|| "?".into())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Linker {
    /// clang-19 + lld, the archive copy with `.init_array`.
    Lld,
    /// gcc + ld.bfd.
    Bfd,
}

/// One host cell.
#[derive(Clone, Copy, Debug)]
struct Spec {
    linker: Linker,
    pie: bool,
    gc: bool,
    /// LLGo's `layout.ld` (`-Wl,-T,layout.ld`).
    script: bool,
    /// The full-LTO archive, `-flto`.
    lto: bool,
}

/// Links `main.c` with the archive through the shim into `dir/<name>`; with `raw`, with
/// `LLGO_PCLNPOST=0` (forwarded only: the link as the linker wrote it).
fn link_host(dir: &Path, name: &str, spec: Spec, raw: bool) -> PathBuf {
    let Spec { linker, pie, gc, script, lto } = spec;
    let libs = libs_dir().join("c-archive");
    let exe = dir.join(name);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_llgo-ld"));
    match linker {
        Linker::Lld => {
            cmd.arg(require_tool("clang-19")).arg("-fuse-ld=lld");
        }
        Linker::Bfd => {
            require_tool("ld.bfd");
            cmd.arg(require_tool("gcc")).arg("-fuse-ld=bfd");
        }
    }
    let archive = match (linker, lto) {
        (_, true) => dir.join("libprobe-fulllto.a"),
        (Linker::Lld, false) => dir.join("libprobe-lld.a"),
        (Linker::Bfd, false) => dir.join("libprobe.a"),
    };
    cmd.args(["-O1", "-I"])
        .arg(&libs)
        .args(if pie { ["-fpie", "-pie"] } else { ["-fno-pie", "-no-pie"] })
        .args(if lto { &["-flto"][..] } else { &[][..] })
        .arg(libs.join("main.c"))
        .arg(&archive)
        .args(HOST_LIBS)
        .arg("-o")
        .arg(&exe)
        .env("LLGO_LD_STRICT", "1");
    if gc {
        cmd.arg("-Wl,--gc-sections");
    }
    if script {
        cmd.arg(format!("-Wl,-T,{}", libs.join("layout.ld").display()));
    }
    if raw {
        cmd.env("LLGO_PCLNPOST", "0");
    }
    checked(&mut cmd, &format!("host link {name}"));
    exe
}

/// The archives in `dir`: as shipped, and (for lld) with `.ctors` renamed to `.init_array`.
fn archives(dir: &Path, lto: bool) {
    let libs = libs_dir().join("c-archive");
    if lto {
        unxz(&libs.join("libprobe-fulllto.a.xz"), &dir.join("libprobe-fulllto.a"));
        return;
    }
    unxz(&libs.join("libprobe.a.xz"), &dir.join("libprobe.a"));
    checked(
        Command::new(require_tool("llvm-objcopy-19"))
            .args(["--rename-section", ".ctors=.init_array"])
            .arg(dir.join("libprobe.a"))
            .arg(dir.join("libprobe-lld.a")),
        "llvm-objcopy-19 --rename-section",
    );
}

fn host(name: &str, spec: Spec) {
    let dir = scratch_dir(&format!("hosts/{name}"));
    let pie = spec.pie;
    archives(&dir, spec.lto);
    let raw = link_host(&dir, "host.raw", spec, true);
    let exe = link_host(&dir, "host", spec, false);
    verify_ok(name, &exe, pie);
    assert_pass_prebuilt(name, &run_debug(&mut Command::new(&exe)));
    let relocs = if pie {
        let (b, a, into) = compare_relocations(name, &raw, &exe);
        format!("{b} -> {a} relocations, {into} -> 1 into the entry section")
    } else {
        format!("{} relocations, none into the entry section", relocations(&exe).len())
    };
    let sizes =
        (std::fs::metadata(&raw).expect("raw").len(), std::fs::metadata(&exe).expect("exe").len());
    println!(
        "{name}: rows {}, {relocs}, {} -> {} bytes, PASS prebuilt",
        rows(&exe),
        sizes.0,
        sizes.1
    );
    assert_second_rewrite_is_noop(name, &exe);
}

macro_rules! hosts {
    ($($name:ident: $linker:ident, pie $pie:expr, gc $gc:expr, script $script:expr;)*) => {$(
        #[test]
        fn $name() {
            let spec = Spec { linker: Linker::$linker, pie: $pie, gc: $gc, script: $script, lto: false };
            host(stringify!($name), spec);
        }
    )*};
}

hosts! {
    lld_nopie:              Lld, pie false, gc false, script false;
    lld_nopie_gc:           Lld, pie false, gc true,  script false;
    lld_nopie_script:       Lld, pie false, gc false, script true;
    lld_nopie_gc_script:    Lld, pie false, gc true,  script true;
    lld_pie:                Lld, pie true,  gc false, script false;
    lld_pie_gc:             Lld, pie true,  gc true,  script false;
    lld_pie_script:         Lld, pie true,  gc false, script true;
    lld_pie_gc_script:      Lld, pie true,  gc true,  script true;
    bfd_nopie:              Bfd, pie false, gc false, script false;
    bfd_nopie_gc:           Bfd, pie false, gc true,  script false;
    bfd_nopie_script:       Bfd, pie false, gc false, script true;
    bfd_nopie_gc_script:    Bfd, pie false, gc true,  script true;
    bfd_pie:                Bfd, pie true,  gc false, script false;
    bfd_pie_gc:             Bfd, pie true,  gc true,  script false;
    bfd_pie_script:         Bfd, pie true,  gc false, script true;
    bfd_pie_gc_script:      Bfd, pie true,  gc true,  script true;
}

/// The full-LTO archive (LLVM bitcode members): clang `-flto` with lld, PIE and not. Its
/// constructor is compiled at link time into `.init_array`, so no renamed copy is needed.
#[test]
fn lto_lld_pie() {
    host(
        "lto_lld_pie",
        Spec { linker: Linker::Lld, pie: true, gc: false, script: false, lto: true },
    );
}

#[test]
fn lto_lld_nopie() {
    host(
        "lto_lld_nopie",
        Spec { linker: Linker::Lld, pie: false, gc: false, script: false, lto: true },
    );
}

/// The c-shared library rewritten with `llgo-ld rewrite`, then used by both hosts of the corpus.
#[test]
fn c_shared_library_through_both_hosts() {
    let dir = scratch_dir("hosts/c_shared");
    let libs = libs_dir().join("c-shared");
    let raw = dir.join("libprobe.raw.so");
    unxz(&libs.join("libprobe.so.xz"), &raw);
    let lib_dir = dir.join("lib");
    std::fs::create_dir_all(&lib_dir).expect("mkdir lib");
    let lib = lib_dir.join("libprobe.so");
    std::fs::copy(&raw, &lib).expect("copy");

    let rewrite = llgo_ld(["rewrite".as_ref(), lib.as_os_str()]);
    assert!(rewrite.status.success(), "rewrite\n{}", show(&rewrite));
    assert!(String::from_utf8_lossy(&rewrite.stdout).contains("rewritten"), "{}", show(&rewrite));
    verify_ok("c-shared", &lib, true);
    let (b, a, into) = compare_relocations("c-shared", &raw, &lib);
    assert_eq!(into, 5344, "the corpus README counts 5,344 relocations into the entry section");

    let gcc = require_tool("gcc");
    let linked = dir.join("host_link");
    checked(
        Command::new(&gcc)
            .arg("-I")
            .arg(&libs)
            .arg(libs.join("host_link.c"))
            .arg("-o")
            .arg(&linked)
            .arg(format!("-L{}", lib_dir.display()))
            .arg("-lprobe")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display())),
        "host_link",
    );
    let dlopen = dir.join("host_dlopen");
    checked(
        Command::new(&gcc).arg(libs.join("host_dlopen.c")).arg("-o").arg(&dlopen).arg("-ldl"),
        "host_dlopen",
    );
    assert_pass_prebuilt("host_link", &run_debug(&mut Command::new(&linked)));
    assert_pass_prebuilt("host_dlopen", &run_debug(Command::new(&dlopen).arg(&lib)));
    println!(
        "c-shared: rows {}, {b} -> {a} relocations, {into} -> 1 into the entry section",
        rows(&lib)
    );
    assert_second_rewrite_is_noop("c-shared", &lib);
}

// ---- Build systems (docs/usage.md, "C hosts of LLGo libraries") ------------------------------

/// Copies `main.c` and `libprobe.h` into `dir` and makes `dir/lib/libprobe.a`: the archive for an
/// lld link (`.ctors` renamed) or as shipped (ld.bfd).
fn recipe_inputs(dir: &Path, for_lld: bool) -> PathBuf {
    let libs = libs_dir().join("c-archive");
    for f in ["main.c", "libprobe.h"] {
        std::fs::copy(libs.join(f), dir.join(f)).expect("copying the host source");
    }
    archives(dir, false);
    let lib = dir.join("lib");
    std::fs::create_dir_all(&lib).expect("mkdir lib");
    let archive = if for_lld { "libprobe-lld.a" } else { "libprobe.a" };
    std::fs::copy(dir.join(archive), lib.join("libprobe.a")).expect("copying the archive");
    lib.join("libprobe.a")
}

/// The built host passes, from the runtime's table, and its table verifies.
fn recipe_checks(what: &str, exe: &Path) {
    verify_ok(what, exe, false);
    assert_pass_prebuilt(what, &run_debug(&mut Command::new(exe)));
}

/// make with `CC="llgo-ld gcc"` (explicit mode, like ccache): gcc + ld.bfd, Debian's default PIE.
#[test]
fn recipe_make_with_cc() {
    let dir = scratch_dir("hosts/recipe_make");
    let archive = recipe_inputs(&dir, false);
    std::fs::write(
        dir.join("Makefile"),
        format!(
            "host: main.c\n\t$(CC) -O1 -I. main.c {} {} -o $@\n",
            archive.display(),
            HOST_LIBS.join(" ")
        ),
    )
    .expect("writing the Makefile");
    let cc = format!("{} {}", env!("CARGO_BIN_EXE_llgo-ld"), require_tool("gcc").display());
    checked(
        Command::new(require_tool("make"))
            .arg("-C")
            .arg(&dir)
            .arg(format!("CC={cc}"))
            .env("LLGO_LD_STRICT", "1"),
        "make",
    );
    recipe_checks("make", &dir.join("host"));
}

/// CMake with clang-19 as the compiler and llgo-ld as its linker (`--ld-path`; llgo-ld under
/// its own name with linker arguments runs lld).
#[test]
fn recipe_cmake_with_ld_path() {
    let dir = scratch_dir("hosts/recipe_cmake");
    let archive = recipe_inputs(&dir, true);
    std::fs::write(
        dir.join("CMakeLists.txt"),
        format!(
            "cmake_minimum_required(VERSION 3.25)\nproject(host C)\nadd_executable(host main.c)\n\
             target_link_libraries(host PRIVATE {} {})\n",
            archive.display(),
            HOST_LIBS.join(" ")
        ),
    )
    .expect("writing CMakeLists.txt");
    let build = dir.join("build");
    checked(
        Command::new(require_tool("cmake"))
            .arg("-S")
            .arg(&dir)
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_C_COMPILER={}", require_tool("clang-19").display()))
            .arg(format!("-DCMAKE_EXE_LINKER_FLAGS=--ld-path={}", env!("CARGO_BIN_EXE_llgo-ld"))),
        "cmake configure",
    );
    checked(
        Command::new(require_tool("cmake")).arg("--build").arg(&build).env("LLGO_LD_STRICT", "1"),
        "cmake --build",
    );
    recipe_checks("cmake", &build.join("host"));
}

/// Cargo: a Rust host links the archive through `build.rs` and uses clang-19 with llgo-ld as its
/// linker (`.cargo/config.toml`: `linker`, `-C link-arg=--ld-path=...`). Rust links PIE.
#[test]
fn recipe_cargo_with_build_rs() {
    let dir = scratch_dir("hosts/recipe_cargo");
    let archive = recipe_inputs(&dir, true);
    let lib_dir = archive.parent().expect("lib dir");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir src");
    std::fs::create_dir_all(dir.join(".cargo")).expect("mkdir .cargo");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"host\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n[workspace]\n",
    )
    .expect("Cargo.toml");
    let mut build_rs = format!(
        "fn main() {{\n    println!(\"cargo:rustc-link-search=native={}\");\n    \
         println!(\"cargo:rustc-link-lib=static=probe\");\n",
        lib_dir.display()
    );
    for l in HOST_LIBS {
        build_rs.push_str(&format!("    println!(\"cargo:rustc-link-arg={l}\");\n"));
    }
    build_rs.push_str("}\n");
    std::fs::write(dir.join("build.rs"), build_rs).expect("build.rs");
    std::fs::write(
        dir.join("src/main.rs"),
        "extern \"C\" {\n    fn Add(a: i32, b: i32) -> i32;\n    fn CheckNames() -> i32;\n}\n\n\
         fn main() {\n    let a = unsafe { Add(2, 3) };\n    let fails = unsafe { CheckNames() };\n    \
         println!(\"rust host: Add={a}\");\n    \
         if fails == 0 && a == 5 {\n        println!(\"PASS\");\n    } else {\n        \
         println!(\"FAIL {fails}\");\n        std::process::exit(1);\n    }\n}\n",
    )
    .expect("main.rs");
    let triple = "x86_64-unknown-linux-gnu";
    std::fs::write(
        dir.join(".cargo/config.toml"),
        format!(
            "[target.{triple}]\nlinker = \"{}\"\nrustflags = [\"-C\", \"link-arg=--ld-path={}\"]\n",
            require_tool("clang-19").display(),
            env!("CARGO_BIN_EXE_llgo-ld")
        ),
    )
    .expect("config.toml");
    let target = dir.join("target");
    checked(
        Command::new(require_tool("cargo"))
            .current_dir(&dir)
            .args(["build", "--offline", "--quiet"])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("LLGO_LD_STRICT", "1"),
        "cargo build",
    );
    let exe = target.join("debug/host");
    recipe_checks("cargo", &exe);
}
