//! `@file` expansion, only to *read* a command line: the real tool always receives the original
//! arguments.
//!
//! The rules are the ones clang-19, gcc 12 and lld-19 were seen to follow (shim-tests/driver.rs
//! checks them against clang-19):
//!
//! - GNU quoting (LLVM's `TokenizeGNUCommandLine`, libiberty's `buildargv`): whitespace separates,
//!   `'...'` and `"..."` quote, a backslash escapes the next character (inside double and single
//!   quotes too), no comments.
//! - A nested `@file` is expanded too, and its relative path is taken relative to the *working
//!   directory*, not to the including file (all three tools do this).
//! - A file that cannot be read stays a literal argument `@file` (the tool then reports it as a
//!   missing input).
//! - A cycle stops expanding (clang and gcc then fail the command with their own message).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::path::PathBuf;

/// Nesting deeper than this is treated as a cycle (gcc gives up at a similar depth).
const MAX_DEPTH: usize = 64;
/// Total expansions per command line: a bound on the work, whatever the files contain.
const MAX_EXPANSIONS: usize = 4096;
/// Total bytes of response-file contents expanded per command line. Without it one large file
/// named 4,096 times expands to 4,096 copies (fuzzing finding: a 64 KiB file gave 256 MiB of
/// arguments); a real link's response files are far smaller.
const MAX_EXPANDED_BYTES: usize = 32 << 20;

/// Expands every `@file` of `args`, reading files through `load` (given the path as written).
pub fn expand(
    args: &[OsString],
    load: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut budget = Budget { expansions: MAX_EXPANSIONS, bytes: MAX_EXPANDED_BYTES };
    let mut stack: Vec<PathBuf> = Vec::new();
    for arg in args {
        expand_one(arg.clone(), load, &mut stack, &mut budget, &mut out);
    }
    out
}

/// Reads response files from the file system, relative to the working directory.
pub fn load_from_disk(path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path)
}

/// What is left to expand.
struct Budget {
    expansions: usize,
    bytes: usize,
}

fn expand_one(
    arg: OsString,
    load: &mut dyn FnMut(&Path) -> io::Result<Vec<u8>>,
    stack: &mut Vec<PathBuf>,
    budget: &mut Budget,
    out: &mut Vec<OsString>,
) {
    let bytes = arg.as_bytes();
    let name = match bytes.split_first() {
        Some((b'@', rest)) if !rest.is_empty() => rest,
        _ => {
            out.push(arg);
            return;
        }
    };
    let path = PathBuf::from(std::ffi::OsStr::from_bytes(name));
    if budget.expansions == 0 || stack.len() >= MAX_DEPTH || stack.contains(&path) {
        out.push(arg);
        return;
    }
    budget.expansions -= 1;
    let Ok(contents) = load(&path) else {
        out.push(arg);
        return;
    };
    // Past the byte budget the argument stays literal, like past the expansion budget.
    let Some(left) = budget.bytes.checked_sub(contents.len()) else {
        out.push(arg);
        return;
    };
    budget.bytes = left;
    stack.push(path);
    for token in tokenize_gnu(&contents) {
        expand_one(OsString::from_vec(token), load, stack, budget, out);
    }
    stack.pop();
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits a response file like LLVM's `TokenizeGNUCommandLine`.
pub fn tokenize_gnu(src: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut token: Vec<u8> = Vec::new();
    let mut it = src.iter().copied().peekable();
    while let Some(c) = it.next() {
        if token.is_empty() && is_space(c) {
            continue;
        }
        if c == b'\\' {
            match it.next() {
                Some(next) => token.push(next),
                None => token.push(c),
            }
            continue;
        }
        if c == b'"' || c == b'\'' {
            loop {
                match it.next() {
                    None => break,
                    Some(q) if q == c => break,
                    Some(b'\\') => match it.next() {
                        Some(next) => token.push(next),
                        None => token.push(b'\\'),
                    },
                    Some(other) => token.push(other),
                }
            }
            continue;
        }
        if is_space(c) {
            out.push(std::mem::take(&mut token));
            continue;
        }
        token.push(c);
    }
    if !token.is_empty() {
        out.push(token);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn toks(s: &str) -> Vec<String> {
        tokenize_gnu(s.as_bytes()).into_iter().map(|t| String::from_utf8(t).unwrap()).collect()
    }

    #[test]
    fn gnu_quoting_table() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  a  b\n\tc\r\n", &["a", "b", "c"]),
            ("-o 'a b'", &["-o", "a b"]),
            (r#""c\"d""#, &["c\"d"]),
            (r"e\ f", &["e f"]),
            (r"'x\'y'", &["x'y"]),
            ("a'b c'd", &["ab cd"]),
            ("-DX # comment", &["-DX", "#", "comment"]),
            ("a\\\nb", &["a\nb"]),
            ("trailing\\", &["trailing\\"]),
            ("'unterminated", &["unterminated"]),
        ];
        for (src, want) in cases {
            assert_eq!(toks(src), *want, "source {src:?}");
        }
    }

    fn run(files: &[(&str, &str)], args: &[&str]) -> Vec<String> {
        let map: HashMap<PathBuf, Vec<u8>> =
            files.iter().map(|(p, c)| (PathBuf::from(p), c.as_bytes().to_vec())).collect();
        let mut load =
            |p: &Path| map.get(p).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound));
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        expand(&args, &mut load).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn expansion_table() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a [&'a str]);
        let cases: &[Case] = &[
            (&[], &["-c", "@", "x"], &["-c", "@", "x"]),
            (&[("r", "-o out")], &["@r", "m.o"], &["-o", "out", "m.o"]),
            (&[], &["@missing", "m.o"], &["@missing", "m.o"]),
            // nested, relative to the working directory (not to sub/)
            (&[("sub/a", "@b -x"), ("b", "-y")], &["@sub/a"], &["-y", "-x"]),
            (&[("sub/a", "@b -x"), ("sub/b", "-y")], &["@sub/a"], &["@b", "-x"]),
            // cycles stop
            (&[("c", "-a @c -b")], &["@c"], &["-a", "@c", "-b"]),
            (&[("p", "@q 1"), ("q", "@p 2")], &["@p"], &["@p", "2", "1"]),
        ];
        for (files, args, want) in cases {
            assert_eq!(run(files, args), *want, "files {files:?} args {args:?}");
        }
    }

    #[test]
    fn expansion_is_bounded() {
        // Every file includes the next two: 2^64 expansions without a budget.
        let names: Vec<String> = (0..64).map(|i| format!("f{i}")).collect();
        let bodies: Vec<String> = (0..64).map(|i| format!("@f{} @f{} x", i + 1, i + 1)).collect();
        let files: Vec<(&str, &str)> =
            names.iter().zip(&bodies).map(|(n, b)| (n.as_str(), b.as_str())).collect();
        let out = run(&files, &["@f0"]);
        assert!(out.len() < 3 * MAX_EXPANSIONS, "{}", out.len());
    }

    #[test]
    fn expanded_bytes_are_bounded() {
        // Fuzzing finding (args target): one 1 MiB file named 4,096 times.
        let big = "x ".repeat(1 << 19);
        let refs = "@big ".repeat(MAX_EXPANSIONS);
        let out = run(&[("big", &big), ("refs", &refs)], &["@refs"]);
        let bytes: usize = out.iter().map(|a| a.len()).sum();
        assert!(bytes <= MAX_EXPANDED_BYTES / 2 + 5 * MAX_EXPANSIONS, "{bytes} bytes of arguments");
        // What did not fit stays literal.
        assert_eq!(out.last().map(String::as_str), Some("@big"));
    }
}
