//! Replays the saved fuzzing corpus (`shim-tests/fuzz-corpus/TARGET/*`: minimized findings and a
//! small seed set) through the same property the fuzz targets check (fuzz/, scripts/fuzz.sh), on
//! the stable toolchain: for the pipeline targets, the pipeline refuses or skips the input, or
//! its output passes `verify` and the independent checker (shim-tests/indep); for `verify`,
//! `inspect` and `args`, nothing panics. `LLGO_LD_REPLAY=DIR` replays DIR/TARGET/* instead (to
//! triage a campaign's findings).

#[path = "indep/mod.rs"]
mod indep;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use llgo_ld::driver::args::{classify, looks_darwin, Flavour, Syntax};
use llgo_ld::driver::response_file::{expand, tokenize_gnu};

const ELF_MAGIC: &[u8] = &[0x7f, b'E', b'L', b'F', 2, 1];
const MACHO_MAGIC: &[u8] = &[0xcf, 0xfa, 0xed, 0xfe];
const FAT_MAGIC: &[u8] = &[0xca, 0xfe, 0xba, 0xbe];

fn with_magic(data: &[u8], magic: &[u8]) -> Option<Vec<u8>> {
    let mut v = data.get(magic.len()..).map(|_| data.to_vec())?;
    v[..magic.len()].copy_from_slice(magic);
    Some(v)
}

/// The `args` target's body (fuzz/fuzz_targets/args.rs).
fn args_property(data: &[u8]) {
    let args: Vec<OsString> =
        data.split(|&b| b == 0).map(|a| OsString::from_vec(a.to_vec())).collect();
    let files = args.clone();
    let mut load = |p: &Path| -> std::io::Result<Vec<u8>> {
        let name = p.as_os_str().as_bytes();
        files
            .iter()
            .position(|a| a.as_bytes() == name)
            .and_then(|i| files.get(i + 1))
            .map(|a| a.as_bytes().to_vec())
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    };
    let expanded = expand(&args, &mut load);
    let bytes: usize = expanded.iter().map(|a| a.len()).sum();
    assert!(bytes <= (32 << 20) + data.len(), "expansion is bounded: {bytes} bytes");
    let _ = tokenize_gnu(data);
    let _ = looks_darwin(&expanded);
    for syntax in [
        Syntax::Driver,
        Syntax::Linker(Flavour::Lld),
        Syntax::Linker(Flavour::Bfd),
        Syntax::Linker(Flavour::Gold),
        Syntax::Linker(Flavour::Mold),
        Syntax::Linker(Flavour::Ld64),
    ] {
        let _ = classify(syntax, &expanded);
    }
}

/// Checks one input of `target`; `Err` names the violation.
fn replay(target: &str, data: &[u8]) -> Result<bool, String> {
    let forced = |m| with_magic(data, m).map(|d| indep::property(&d)).unwrap_or(Ok(false));
    match target {
        "produce" => indep::property(data),
        "elf" => forced(ELF_MAGIC),
        "macho" => forced(MACHO_MAGIC),
        "fat" => forced(FAT_MAGIC),
        "verify" => {
            let _ = llgo_ld::verify::verify(data);
            let _ = llgo_ld::verify::verify_with(data, llgo_ld::verify::Depth::SelfCheck);
            Ok(false)
        }
        "inspect" => {
            if let Ok(info) = llgo_ld::inspect::inspect(data) {
                let _ = format!("{info:?}");
            }
            Ok(false)
        }
        "args" => {
            args_property(data);
            Ok(false)
        }
        other => Err(format!("unknown fuzz target directory {other}")),
    }
}

#[test]
fn saved_fuzz_corpus_keeps_the_property() {
    let root = std::env::var_os("LLGO_LD_REPLAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/fuzz-corpus"));
    let mut targets: Vec<PathBuf> =
        std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    targets.sort();
    let (mut inputs, mut rewritten) = (0, 0);
    let mut failures = Vec::new();
    for dir in targets.iter().filter(|p| p.is_dir()) {
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            inputs += 1;
            match replay(&target, &data) {
                Ok(r) => rewritten += usize::from(r),
                Err(e) => failures.push(format!("{}: {e}", f.display())),
            }
        }
    }
    assert!(inputs > 0, "no saved fuzz inputs under {}", root.display());
    assert!(failures.is_empty(), "{} of {inputs} inputs:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{inputs} saved inputs replayed, {rewritten} of them rewritten and checked");
    assert!(rewritten > 0, "no saved input reaches a rewrite: the replay checks little");
}
