//! Replays the saved fuzzing corpus (`shim-tests/fuzz-corpus/TARGET/*`: minimized findings and a
//! small seed set) through the same property the fuzz targets check (fuzz/, scripts/fuzz.sh), on
//! the stable toolchain: for the pipeline targets, the pipeline refuses or skips the input, or
//! its output passes `verify` and the independent checker (shim-tests/indep); for `verify`,
//! `inspect` and `args`, nothing panics. `LLGO_LD_REPLAY=DIR` replays DIR/TARGET/* instead (to
//! triage a campaign's findings).

#[path = "indep/mod.rs"]
mod indep;

#[path = "fuzz_props.rs"]
mod fuzz_props;

use std::path::{Path, PathBuf};

use fuzz_props::{args_property, with_magic, ELF_MAGIC, FAT_MAGIC, MACHO_MAGIC};

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
