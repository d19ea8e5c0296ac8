//! Reading a compiler-driver or linker command line: where the executable goes, and whether
//! there is one at all (docs/usage.md, "What llgo-ld reads from a command line"). Pure functions
//! over already expanded arguments ([`super::response_file`]); unknown arguments are simply not
//! ours and are ignored, since the real tool receives the original command line anyway.
//!
//! The tables list only the options that decide the answer: the output options, the "no
//! executable" options, and options that take a *separate* value (so that a value such as
//! `-MT -c` is never mistaken for an option). Each table is sorted for a binary search; a unit
//! test checks the order.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::path::PathBuf;

/// The linker that reads a linker-level command line. Options that merely start with `-o`
/// differ between them (shim-tests/driver.rs checks each against the real linker).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// ld.lld (ELF).
    Lld,
    /// GNU ld.bfd (also plain `ld` on Linux).
    Bfd,
    /// GNU gold.
    Gold,
    Mold,
    /// ld64.lld or Apple's ld64 (Mach-O).
    Ld64,
}

impl Flavour {
    /// The flavour a linker program's name suggests (`ld.lld-19`, `/usr/bin/ld.gold`, `mold`).
    pub fn from_program_name(name: &OsStr) -> Flavour {
        let base = Path::new(name).file_name().unwrap_or(name).as_bytes();
        let has = |needle: &[u8]| base.windows(needle.len()).any(|w| w == needle);
        if has(b"ld64") {
            Flavour::Ld64
        } else if has(b"lld") || has(b"llgo") {
            // `ld.llgo` and `llgo-ld` run lld.
            Flavour::Lld
        } else if has(b"gold") {
            Flavour::Gold
        } else if has(b"mold") {
            Flavour::Mold
        } else {
            Flavour::Bfd
        }
    }

    pub fn is_darwin(self) -> bool {
        self == Flavour::Ld64
    }
}

/// Whose command line it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// clang or gcc.
    Driver,
    /// A linker run directly.
    Linker(Flavour),
}

/// What the invocation will do, as far as llgo-ld cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Classification {
    /// It links an executable at `output` (relative to the working directory unless absolute).
    /// `from_linker_option`: the path came from `-Wl,-o,...` / `-Xlinker -o` rather than the
    /// driver's own `-o` (a relink must override it the same way).
    Link { output: PathBuf, from_linker_option: bool },
    /// It produces no executable: forward only. The reason names the option.
    PassThrough(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// The invocation makes no executable.
    NoExec,
    /// The output path follows as the next argument.
    Output,
    /// Takes this many separate values, which are skipped.
    Skip(usize),
    /// Driver only: `-Xlinker VALUE` passes VALUE to the linker.
    Xlinker,
    /// Driver only: clang's `-working-directory DIR`.
    WorkingDir,
}

use Action::*;

/// Driver options (clang and gcc), sorted by name (byte order).
const DRIVER: &[(&str, Action)] = &[
    // clang and gcc spell these long forms too: --shared is -shared, --compile is -c, ...
    ("--assemble", NoExec),
    ("--compile", NoExec),
    ("--dependencies", NoExec),
    ("--output", Output),
    ("--preprocess", NoExec),
    ("--relocatable", NoExec),
    ("--target", Skip(1)),
    ("--user-dependencies", NoExec),
    ("-B", Skip(1)),
    ("-D", Skip(1)),
    ("-E", NoExec),
    ("-F", Skip(1)),
    ("-I", Skip(1)),
    ("-L", Skip(1)),
    ("-M", NoExec),
    ("-MF", Skip(1)),
    ("-MJ", Skip(1)),
    ("-MM", NoExec),
    ("-MQ", Skip(1)),
    ("-MT", Skip(1)),
    ("-S", NoExec),
    ("-T", Skip(1)),
    ("-U", Skip(1)),
    ("-Xassembler", Skip(1)),
    ("-Xclang", Skip(1)),
    ("-Xlinker", Xlinker),
    ("-Xpreprocessor", Skip(1)),
    ("-arch", Skip(1)),
    ("-aux-info", Skip(1)),
    ("-bundle", NoExec),
    ("-c", NoExec),
    ("-dumpbase", Skip(1)),
    ("-dumpdir", Skip(1)),
    ("-dylib", NoExec),
    ("-dynamiclib", NoExec),
    ("-fsyntax-only", NoExec),
    ("-idirafter", Skip(1)),
    ("-imacros", Skip(1)),
    ("-include", Skip(1)),
    ("-iprefix", Skip(1)),
    ("-iquote", Skip(1)),
    ("-isysroot", Skip(1)),
    ("-isystem", Skip(1)),
    ("-iwithprefix", Skip(1)),
    ("-l", Skip(1)),
    ("-mllvm", Skip(1)),
    ("-o", Output),
    ("-r", NoExec),
    ("-static-lib", NoExec),
    ("-target", Skip(1)),
    ("-u", Skip(1)),
    ("-working-directory", WorkingDir),
    ("-x", Skip(1)),
    ("-z", Skip(1)),
];

/// Driver options that start with `-o` but are not `-oFILE` (clang's table).
const DRIVER_O_PREFIXES: &[&str] = &["-objcmt-", "-object"];

/// GNU-style linker options (lld, bfd, gold, mold), sorted.
const GNU: &[(&str, Action)] = &[
    ("--Map", Skip(1)),
    ("--defsym", Skip(1)),
    ("--dynamic-linker", Skip(1)),
    ("--dynamic-list", Skip(1)),
    ("--entry", Skip(1)),
    ("--library", Skip(1)),
    ("--library-path", Skip(1)),
    ("--oformat", Skip(1)),
    ("--opt-remarks-filename", Skip(1)),
    ("--opt-remarks-format", Skip(1)),
    ("--opt-remarks-passes", Skip(1)),
    ("--orphan-handling", Skip(1)),
    ("--out-implib", Skip(1)),
    ("--output", Output),
    ("--plugin", Skip(1)),
    ("--plugin-opt", Skip(1)),
    ("--relocatable", NoExec),
    ("--rpath", Skip(1)),
    ("--script", Skip(1)),
    ("--soname", Skip(1)),
    ("--sysroot", Skip(1)),
    ("--trace-symbol", Skip(1)),
    ("--undefined", Skip(1)),
    ("--version-script", Skip(1)),
    ("--wrap", Skip(1)),
    ("-L", Skip(1)),
    ("-Map", Skip(1)),
    ("-T", Skip(1)),
    ("-Ur", NoExec),
    ("-dynamic-linker", Skip(1)),
    ("-e", Skip(1)),
    ("-h", Skip(1)),
    ("-l", Skip(1)),
    ("-m", Skip(1)),
    ("-o", Output),
    ("-plugin", Skip(1)),
    ("-plugin-opt", Skip(1)),
    ("-r", NoExec),
    ("-rpath", Skip(1)),
    ("-soname", Skip(1)),
    ("-u", Skip(1)),
    ("-y", Skip(1)),
    ("-z", Skip(1)),
];

/// ld64 (Mach-O) options, sorted.
const LD64: &[(&str, Action)] = &[
    ("-L", Skip(1)),
    ("-arch", Skip(1)),
    ("-bundle", NoExec),
    ("-dylib", NoExec),
    ("-e", Skip(1)),
    ("-exported_symbols_list", Skip(1)),
    ("-framework", Skip(1)),
    ("-install_name", Skip(1)),
    ("-lto_library", Skip(1)),
    ("-macos_version_min", Skip(1)),
    ("-macosx_version_min", Skip(1)),
    ("-map", Skip(1)),
    ("-mllvm", Skip(1)),
    ("-o", Output),
    ("-object_path_lto", Skip(1)),
    ("-order_file", Skip(1)),
    ("-oso_prefix", Skip(1)),
    ("-platform_version", Skip(3)),
    ("-r", NoExec),
    ("-rpath", Skip(1)),
    ("-sectcreate", Skip(3)),
    ("-syslibroot", Skip(1)),
    ("-u", Skip(1)),
];

/// Single-dash options starting with `-o` that the flavour reads as an option, not as
/// `-o` + joined path (checked against the real linkers: `-omagic` is the output `magic` for
/// all four ELF linkers; `-orphan-handling=...` an option for lld, bfd and gold, not mold;
/// `-out-implib=...` an option only for bfd; gold reads `-output FILE` as `--output`).
fn linker_o_exception(flavour: Flavour, arg: &[u8]) -> Option<Action> {
    let is = |name: &[u8]| {
        arg == name || arg.strip_prefix(name).is_some_and(|r| r.first() == Some(&b'='))
    };
    match flavour {
        Flavour::Lld | Flavour::Bfd | Flavour::Gold if is(b"-orphan-handling") => {
            Some(if arg.contains(&b'=') { Skip(0) } else { Skip(1) })
        }
        Flavour::Bfd if is(b"-out-implib") => {
            Some(if arg.contains(&b'=') { Skip(0) } else { Skip(1) })
        }
        Flavour::Gold if arg == b"-output" => Some(Output),
        _ => None,
    }
}

fn lookup(table: &[(&str, Action)], arg: &[u8]) -> Option<Action> {
    table.binary_search_by(|(name, _)| name.as_bytes().cmp(arg)).ok().map(|i| table[i].1)
}

fn is_sorted(table: &[(&str, Action)]) -> bool {
    table.windows(2).all(|w| w[0].0.as_bytes() < w[1].0.as_bytes())
}

/// Finds the output and the "no executable" options of a command line.
pub fn classify(syntax: Syntax, args: &[OsString]) -> Classification {
    debug_assert!(is_sorted(DRIVER) && is_sorted(GNU) && is_sorted(LD64));
    match syntax {
        Syntax::Linker(flavour) => {
            let scan = scan_linker(flavour, args.iter().map(|a| a.as_bytes()));
            let output = scan.output.unwrap_or_else(|| PathBuf::from("a.out"));
            finish(scan.no_exec, Some((output, true)), None)
        }
        Syntax::Driver => classify_driver(args),
    }
}

struct LinkerScan {
    output: Option<PathBuf>,
    no_exec: Option<String>,
}

fn path_of(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

fn scan_linker<'a>(flavour: Flavour, args: impl Iterator<Item = &'a [u8]>) -> LinkerScan {
    let table = if flavour.is_darwin() { LD64 } else { GNU };
    let mut scan = LinkerScan { output: None, no_exec: None };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let action = lookup(table, arg).or_else(|| {
            if flavour.is_darwin() || !arg.starts_with(b"-o") || arg.len() <= 2 {
                return None;
            }
            linker_o_exception(flavour, arg)
        });
        match action {
            Some(NoExec) => scan.no_exec = Some(String::from_utf8_lossy(arg).into_owned()),
            Some(Output) => {
                if let Some(v) = args.next() {
                    scan.output = Some(path_of(v));
                }
            }
            Some(Skip(n)) => {
                for _ in 0..n {
                    args.next();
                }
            }
            Some(Xlinker | WorkingDir) => {}
            None if flavour.is_darwin() => {}
            None => {
                if let Some(v) = arg.strip_prefix(b"--output=") {
                    scan.output = Some(path_of(v));
                } else if let Some(v) =
                    arg.strip_prefix(b"-output=").filter(|_| flavour == Flavour::Gold)
                {
                    scan.output = Some(path_of(v));
                } else if let Some(v) = arg.strip_prefix(b"-o").filter(|v| !v.is_empty()) {
                    scan.output = Some(path_of(v));
                }
            }
        }
    }
    scan
}

/// The linker flavour behind a driver line: `-fuse-ld=` / `--ld-path=` / a Darwin target.
fn driver_linker_flavour(args: &[OsString]) -> Flavour {
    let mut flavour = Flavour::Bfd;
    let mut darwin = false;
    let mut iter = args.iter().map(|a| a.as_bytes()).peekable();
    while let Some(a) = iter.next() {
        if let Some(v) = a.strip_prefix(b"-fuse-ld=").or_else(|| a.strip_prefix(b"--ld-path=")) {
            flavour = match v {
                b"lld" | b"llgo" => Flavour::Lld,
                b"gold" => Flavour::Gold,
                b"mold" => Flavour::Mold,
                b"bfd" => Flavour::Bfd,
                path => Flavour::from_program_name(OsStr::from_bytes(path)),
            };
        } else if a == b"-arch" {
            darwin = true;
        } else {
            let target = a.strip_prefix(b"--target=").or_else(|| {
                a.strip_prefix(b"-target=").or(if a == b"-target" {
                    iter.peek().copied()
                } else {
                    None
                })
            });
            if let Some(t) = target {
                let has = |n: &[u8]| t.windows(n.len()).any(|w| w == n);
                darwin = has(b"apple") || has(b"darwin") || has(b"macos");
            }
        }
    }
    if darwin {
        Flavour::Ld64
    } else {
        flavour
    }
}

fn classify_driver(args: &[OsString]) -> Classification {
    let mut output: Option<PathBuf> = None;
    let mut no_exec: Option<String> = None;
    let mut working_dir: Option<PathBuf> = None;
    let mut linker_args: Vec<&[u8]> = Vec::new();
    let mut iter = args.iter().map(|a| a.as_bytes());
    while let Some(arg) = iter.next() {
        match lookup(DRIVER, arg) {
            Some(NoExec) => no_exec = Some(String::from_utf8_lossy(arg).into_owned()),
            Some(Output) => {
                if let Some(v) = iter.next() {
                    output = Some(path_of(v));
                }
            }
            Some(Skip(n)) => {
                for _ in 0..n {
                    iter.next();
                }
            }
            Some(Xlinker) => {
                if let Some(v) = iter.next() {
                    linker_args.push(v);
                }
            }
            Some(WorkingDir) => {
                if let Some(v) = iter.next() {
                    working_dir = Some(path_of(v));
                }
            }
            None => {
                if let Some(list) = arg.strip_prefix(b"-Wl,") {
                    linker_args.extend(list.split(|&b| b == b','));
                } else if let Some(v) = arg.strip_prefix(b"--output=") {
                    output = Some(path_of(v));
                } else if let Some(v) = arg.strip_prefix(b"-working-directory=") {
                    working_dir = Some(path_of(v));
                } else if let Some(v) = arg.strip_prefix(b"-o").filter(|v| {
                    !v.is_empty()
                        && !DRIVER_O_PREFIXES.iter().any(|p| arg.starts_with(p.as_bytes()))
                }) {
                    output = Some(path_of(v));
                }
            }
        }
    }
    // The driver puts its own `-o` first on the link line; a linker-level `-o` wins.
    let linker = scan_linker(driver_linker_flavour(args), linker_args.into_iter());
    let no_exec = no_exec.or_else(|| linker.no_exec.map(|o| format!("-Wl,{o}")));
    let output = match linker.output {
        Some(o) => Some((o, true)),
        None => output.map(|o| (o, false)),
    };
    finish(no_exec, output, working_dir)
}

fn finish(
    no_exec: Option<String>,
    output: Option<(PathBuf, bool)>,
    working_dir: Option<PathBuf>,
) -> Classification {
    if let Some(opt) = no_exec {
        return Classification::PassThrough(format!("no executable ({opt})"));
    }
    let (output, from_linker_option) = output.unwrap_or_else(|| (PathBuf::from("a.out"), false));
    if output.as_os_str() == "-" || output == Path::new("/dev/null") {
        return Classification::PassThrough(format!("output is {}", output.display()));
    }
    let output = match working_dir {
        Some(dir) if output.is_relative() => dir.join(output),
        _ => output,
    };
    Classification::Link { output, from_linker_option }
}

/// Darwin-style linker arguments (for choosing ld64.lld over ld.lld).
pub fn looks_darwin(args: &[OsString]) -> bool {
    const DARWIN_ONLY: &[&str] = &[
        "-arch",
        "-dylib",
        "-ios_version_min",
        "-macos_version_min",
        "-macosx_version_min",
        "-platform_version",
        "-syslibroot",
    ];
    args.iter().any(|a| DARWIN_ONLY.iter().any(|d| a.as_bytes() == d.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted() {
        assert!(is_sorted(DRIVER), "DRIVER");
        assert!(is_sorted(GNU), "GNU");
        assert!(is_sorted(LD64), "LD64");
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn link(out: &str) -> Classification {
        Classification::Link { output: PathBuf::from(out), from_linker_option: false }
    }

    fn link_ld(out: &str) -> Classification {
        Classification::Link { output: PathBuf::from(out), from_linker_option: true }
    }

    fn pass(why: &str) -> Classification {
        Classification::PassThrough(why.into())
    }

    #[test]
    fn driver_table() {
        let cases: &[(&[&str], Classification)] = &[
            (&["m.o"], link("a.out")),
            (&["m.o", "-o", "prog"], link("prog")),
            (&["-oprog", "m.o"], link("prog")),
            (&["--output", "prog", "m.o"], link("prog")),
            (&["--output=prog", "m.o"], link("prog")),
            (&["-o", "a", "-o", "b", "m.o"], link("b")),
            (&["m.o", "-Wl,-o,ld-out", "-o", "drv-out"], link_ld("ld-out")),
            (&["m.o", "-Wl,-o", "-Wl,ld-out"], link_ld("ld-out")),
            (&["m.o", "-Wl,-old-out"], link_ld("ld-out")),
            (&["m.o", "-Wl,--output=x"], link_ld("x")),
            (&["m.o", "-Xlinker", "-o", "-Xlinker", "x"], link_ld("x")),
            (&["-working-directory", "/w", "m.o", "-o", "p"], link("/w/p")),
            (&["-working-directory=w", "m.o", "-o", "/abs"], link("/abs")),
            (&["-objcmt-migrate-all", "m.o"], link("a.out")),
            (&["-object", "m.o"], link("a.out")),
            (&["-shared-libgcc", "-static-libgcc", "m.o"], link("a.out")),
            (&["-MT", "-c", "-MD", "m.c"], link("a.out")),
            (&["-Xclang", "-S", "m.c"], link("a.out")),
            (&["-c", "m.c"], pass("no executable (-c)")),
            (&["--compile", "m.c"], pass("no executable (--compile)")),
            // ELF shared objects are rewritten like executables when they carry LLGo records
            // (the output probe decides; other -shared links stay forward-only and fast).
            (&["--shared", "m.o"], link("a.out")),
            (&["--preprocess", "m.c"], pass("no executable (--preprocess)")),
            (&["-S", "m.c"], pass("no executable (-S)")),
            (&["-E", "m.c"], pass("no executable (-E)")),
            (&["-M", "m.c"], pass("no executable (-M)")),
            (&["-MM", "m.c"], pass("no executable (-MM)")),
            (&["-fsyntax-only", "m.c"], pass("no executable (-fsyntax-only)")),
            (&["-shared", "m.o", "-o", "l.so"], link("l.so")),
            (&["-dynamiclib", "m.o"], pass("no executable (-dynamiclib)")),
            (&["-r", "m.o"], pass("no executable (-r)")),
            (&["--relocatable", "m.o"], pass("no executable (--relocatable)")),
            (&["-static-lib", "m.o"], pass("no executable (-static-lib)")),
            (&["-bundle", "m.o"], pass("no executable (-bundle)")),
            (&["m.o", "-Wl,-shared"], link("a.out")),
            (&["m.o", "-Wl,-r"], pass("no executable (-Wl,-r)")),
            (&["m.o", "-Xlinker", "-shared", "-o", "l.so"], link("l.so")),
            (&["m.o", "-o", "/dev/null"], pass("output is /dev/null")),
            (&["m.c", "-E", "-o", "-"], pass("no executable (-E)")),
            (&["m.o", "-o", "-"], pass("output is -")),
            // -omagic after -Wl: the linker reads -o magic (bfd, the default, and lld agree)
            (&["m.o", "-Wl,-omagic"], link_ld("magic")),
            (&["m.o", "-fuse-ld=bfd", "-Wl,-out-implib=x"], link("a.out")),
            (&["m.o", "-fuse-ld=lld", "-Wl,-out-implib=x"], link_ld("ut-implib=x")),
            (&["-target", "arm64-apple-macos13", "m.o", "-Wl,-order_file,f"], link("a.out")),
            (&["-arch", "arm64", "m.o", "-Wl,-dylib"], pass("no executable (-Wl,-dylib)")),
        ];
        for (args, want) in cases {
            assert_eq!(classify(Syntax::Driver, &os(args)), *want, "driver {args:?}");
        }
    }

    #[test]
    fn linker_table() {
        use Flavour::*;
        let cases: &[(Flavour, &[&str], Classification)] = &[
            (Lld, &["m.o"], link_ld("a.out")),
            (Lld, &["-o", "p", "m.o"], link_ld("p")),
            (Lld, &["--output", "p", "m.o"], link_ld("p")),
            (Lld, &["--output=p", "m.o"], link_ld("p")),
            (Lld, &["-op", "m.o"], link_ld("p")),
            (Lld, &["-o", "a", "m.o", "-o", "b"], link_ld("b")),
            (Lld, &["-omagic", "m.o"], link_ld("magic")),
            (Lld, &["--omagic", "m.o"], link_ld("a.out")),
            (Lld, &["-oformat=elf", "m.o"], link_ld("format=elf")),
            (Lld, &["--oformat", "binary", "m.o"], link_ld("a.out")),
            (Lld, &["-orphan-handling=place", "m.o"], link_ld("a.out")),
            (Lld, &["-orphan-handling", "place", "m.o"], link_ld("a.out")),
            (Lld, &["-out-implib=x", "m.o"], link_ld("ut-implib=x")),
            (Lld, &["-output=q", "m.o"], link_ld("utput=q")),
            (Bfd, &["-out-implib=x", "m.o"], link_ld("a.out")),
            (Bfd, &["-orphan-handling=place", "m.o"], link_ld("a.out")),
            (Gold, &["-output", "q", "m.o"], link_ld("q")),
            (Gold, &["-output=q", "m.o"], link_ld("q")),
            (Mold, &["-orphan-handling=place", "m.o"], link_ld("rphan-handling=place")),
            (Lld, &["-soname", "-shared", "m.o"], link_ld("a.out")),
            (Lld, &["-shared", "m.o", "-o", "l.so"], link_ld("l.so")),
            (Bfd, &["-Bshareable", "m.o"], link_ld("a.out")),
            (Lld, &["-r", "m.o"], pass("no executable (-r)")),
            (Lld, &["--relocatable", "m.o"], pass("no executable (--relocatable)")),
            (Bfd, &["-Ur", "m.o"], pass("no executable (-Ur)")),
            (Lld, &["-o", "/dev/null", "m.o"], pass("output is /dev/null")),
            (Lld, &["-o-", "m.o"], pass("output is -")),
            (Ld64, &["-o", "p", "m.o"], link_ld("p")),
            (Ld64, &["-order_file", "f", "-object_path_lto", "l", "m.o"], link_ld("a.out")),
            (Ld64, &["-objc_stubs_fast", "-oso_prefix", "x", "m.o"], link_ld("a.out")),
            (Ld64, &["-platform_version", "macos", "13.0", "-o", "m.o"], link_ld("a.out")),
            (Ld64, &["-dylib", "m.o"], pass("no executable (-dylib)")),
            (Ld64, &["-bundle", "m.o"], pass("no executable (-bundle)")),
        ];
        for (flavour, args, want) in cases {
            assert_eq!(
                classify(Syntax::Linker(*flavour), &os(args)),
                *want,
                "{flavour:?} {args:?}"
            );
        }
    }

    #[test]
    fn flavour_names_and_darwin_arguments() {
        use Flavour::*;
        for (name, want) in [
            ("ld.lld", Lld),
            ("/usr/bin/ld.lld-19", Lld),
            ("ld64.lld", Ld64),
            ("ld.gold", Gold),
            ("mold", Mold),
            ("ld.mold", Mold),
            ("ld", Bfd),
            ("ld.bfd", Bfd),
            ("/opt/bin/ld.llgo", Lld),
            ("/opt/bin/ld64.llgo", Ld64),
            ("/opt/bin/llgo-ld", Lld),
        ] {
            assert_eq!(Flavour::from_program_name(OsStr::new(name)), want, "{name}");
        }
        assert!(looks_darwin(&os(&["-arch", "arm64", "m.o"])));
        assert!(looks_darwin(&os(&["-platform_version", "macos", "13", "13"])));
        assert!(!looks_darwin(&os(&["--hash-style=gnu", "-o", "p", "m.o"])));
    }
}
