//! Which role an invocation plays, from the basename of `argv[0]` and the first argument
//! (docs/usage.md, "Modes"). Pure: the caller says whether a word names an executable.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use super::args::Flavour;

/// The role of one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `llgo-ld rewrite|verify|inspect|help|--help|--version ...`.
    Tool,
    /// `llgo-ld PROGRAM ARGS...`: run PROGRAM (a compiler driver) like `ccache gcc`.
    Explicit,
    /// A symlink or copy named like a C (`cxx: false`) or C++ compiler driver.
    Driver { cxx: bool },
    /// A symlink or copy named like a linker (`ld`, `ld.lld`, `mold`, ...): runs the next
    /// program of that name.
    MasqueradeLinker { flavour: Flavour },
    /// `ld.llgo`, `ld64.llgo`, or plain `llgo-ld` as a linker (`--ld-path=`): runs lld.
    /// `darwin`: the name says Mach-O (`ld64.llgo`); otherwise the arguments decide.
    LlgoLinker { darwin: bool },
}

impl Mode {
    /// For the log line.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Tool => "tool",
            Mode::Explicit => "explicit",
            Mode::Driver { cxx: false } => "cc",
            Mode::Driver { cxx: true } => "c++",
            Mode::MasqueradeLinker { .. } => "linker",
            Mode::LlgoLinker { .. } => "ld.llgo",
        }
    }
}

/// Words that select the tool subcommands when they come first after plain `llgo-ld`.
const TOOL_WORDS: &[&str] = &["--help", "--version", "help", "inspect", "rewrite", "verify"];

/// Strips a version suffix: `clang-19` → `clang`, `gcc-12` → `gcc`, `ld.lld-19.1` → `ld.lld`.
fn strip_version(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((stem, ver))
            if !stem.is_empty()
                && !ver.is_empty()
                && ver.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && ver.bytes().next().is_some_and(|b| b.is_ascii_digit()) =>
        {
            stem
        }
        _ => name,
    }
}

fn is_or_ends(name: &str, words: &[&str]) -> bool {
    words.iter().any(|w| name == *w || name.strip_suffix(w).is_some_and(|p| p.ends_with('-')))
}

/// The masquerading role a program name asks for, if any.
pub fn masquerade(basename: &str) -> Option<Mode> {
    if basename.starts_with("llgo-ld") {
        return None;
    }
    match basename {
        "ld.llgo" => return Some(Mode::LlgoLinker { darwin: false }),
        "ld64.llgo" => return Some(Mode::LlgoLinker { darwin: true }),
        _ => {}
    }
    let name = strip_version(basename);
    if is_or_ends(name, &["cc", "gcc", "clang"]) {
        return Some(Mode::Driver { cxx: false });
    }
    if is_or_ends(name, &["c++", "g++", "clang++"]) {
        return Some(Mode::Driver { cxx: true });
    }
    if matches!(name, "ld.lld" | "ld64.lld" | "ld.mold" | "mold" | "ld64")
        || is_or_ends(name, &["ld", "ld.bfd", "ld.gold"])
    {
        return Some(Mode::MasqueradeLinker { flavour: Flavour::from_program_name(name.as_ref()) });
    }
    None
}

/// The mode of an invocation. `is_program(word)`: does `word` (no leading `-`) resolve, as a
/// path or on PATH, to an executable file?
pub fn detect(
    argv0: &OsStr,
    first: Option<&OsStr>,
    is_program: &mut dyn FnMut(&OsStr) -> bool,
) -> Mode {
    let base = std::path::Path::new(argv0).file_name().unwrap_or(argv0);
    let base = String::from_utf8_lossy(base.as_bytes());
    if let Some(mode) = masquerade(&base) {
        return mode;
    }
    match first {
        Some(f) if TOOL_WORDS.iter().any(|w| f.as_bytes() == w.as_bytes()) => Mode::Tool,
        None => Mode::Tool,
        Some(f) if !f.as_bytes().starts_with(b"-") && !f.is_empty() && is_program(f) => {
            Mode::Explicit
        }
        Some(_) => Mode::LlgoLinker { darwin: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let drv = Some(Mode::Driver { cxx: false });
        let cxx = Some(Mode::Driver { cxx: true });
        let ld = |f| Some(Mode::MasqueradeLinker { flavour: f });
        let cases: &[(&str, Option<Mode>)] = &[
            ("cc", drv.clone()),
            ("gcc", drv.clone()),
            ("gcc-12", drv.clone()),
            ("clang", drv.clone()),
            ("clang-19", drv.clone()),
            ("x86_64-linux-gnu-gcc", drv.clone()),
            ("x86_64-linux-gnu-gcc-12", drv.clone()),
            ("aarch64-linux-gnu-clang", drv.clone()),
            ("musl-cc", drv.clone()),
            ("c++", cxx.clone()),
            ("g++", cxx.clone()),
            ("clang++", cxx.clone()),
            ("clang++-19", cxx.clone()),
            ("aarch64-linux-gnu-g++", cxx.clone()),
            ("ld", ld(Flavour::Bfd)),
            ("ld.bfd", ld(Flavour::Bfd)),
            ("ld.gold", ld(Flavour::Gold)),
            ("ld.lld", ld(Flavour::Lld)),
            ("ld.lld-19", ld(Flavour::Lld)),
            ("ld64.lld", ld(Flavour::Ld64)),
            ("ld64", ld(Flavour::Ld64)),
            ("ld.mold", ld(Flavour::Mold)),
            ("mold", ld(Flavour::Mold)),
            ("aarch64-linux-gnu-ld", ld(Flavour::Bfd)),
            ("ld.llgo", Some(Mode::LlgoLinker { darwin: false })),
            ("ld64.llgo", Some(Mode::LlgoLinker { darwin: true })),
            ("llgo-ld", None),
            ("llgo-ld-0.1", None),
            ("ccache", None),
            ("clang-tidy", None),
            ("gcc-ar", None),
            ("lld", None),
            ("-", None),
            ("", None),
        ];
        for (name, want) in cases {
            assert_eq!(masquerade(name), *want, "{name:?}");
        }
    }

    #[test]
    fn plain_llgo_ld() {
        let mut yes = |_: &OsStr| true;
        let mut no = |_: &OsStr| false;
        let d = |a: &str, f: Option<&str>, p: &mut dyn FnMut(&OsStr) -> bool| {
            detect(OsStr::new(a), f.map(OsStr::new), p)
        };
        assert_eq!(d("/x/llgo-ld", None, &mut yes), Mode::Tool);
        for w in TOOL_WORDS {
            assert_eq!(d("llgo-ld", Some(w), &mut yes), Mode::Tool, "{w}");
        }
        assert_eq!(d("llgo-ld", Some("clang-19"), &mut yes), Mode::Explicit);
        assert_eq!(d("llgo-ld", Some("m.o"), &mut no), Mode::LlgoLinker { darwin: false });
        assert_eq!(d("llgo-ld", Some("-pie"), &mut yes), Mode::LlgoLinker { darwin: false });
        assert_eq!(
            d("llgo-ld", Some("--hash-style=gnu"), &mut yes),
            Mode::LlgoLinker { darwin: false }
        );
        assert_eq!(d("/bin/clang-19", Some("rewrite"), &mut yes), Mode::Driver { cxx: false });
        assert_eq!(d("ld.llgo", Some("--version"), &mut yes), Mode::LlgoLinker { darwin: false });
    }
}
