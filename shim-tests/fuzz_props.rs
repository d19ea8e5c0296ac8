//! What the fuzz targets ask of an input, shared word for word by the targets (`fuzz/`, through
//! `fuzz/common`) and by the stable replay of the saved corpus (`shim-tests/fuzz_replay.rs`), so
//! that a replayed finding meets exactly the check that found it.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use llgo_ld::driver::args::{classify, looks_darwin, Flavour, Syntax};
use llgo_ld::driver::response_file::{expand, tokenize_gnu};

pub const ELF_MAGIC: &[u8] = &[0x7f, b'E', b'L', b'F', 2, 1];
pub const MACHO_MAGIC: &[u8] = &[0xcf, 0xfa, 0xed, 0xfe];
pub const FAT_MAGIC: &[u8] = &[0xca, 0xfe, 0xba, 0xbe];

/// `data` with its first bytes replaced by `magic` (the format a target is about), or `None`
/// when it is too short.
pub fn with_magic(data: &[u8], magic: &[u8]) -> Option<Vec<u8>> {
    let mut v = data.get(magic.len()..).map(|_| data.to_vec())?;
    v[..magic.len()].copy_from_slice(magic);
    Some(v)
}

/// The `args` target: the argument classifier (every syntax) and the response-file expander
/// and tokenizer on arbitrary command lines. The input is NUL-separated arguments; `@name`
/// reads the in-memory file `name` (the argument after the one that names it), so nested and
/// recursive response files are reachable without a file system. Panics on a violation.
pub fn args_property(data: &[u8]) {
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
