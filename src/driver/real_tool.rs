//! Finding the real tool without finding llgo-ld again (docs/usage.md, "Modes").
//!
//! A candidate is skipped when its canonical path is llgo-ld's own, or its (device, inode) is
//! llgo-ld's or that of any llgo-ld already in the chain of processes (the `LLGO_LD_CHAIN`
//! marker each llgo-ld puts in its child's environment), so symlinks, hard links and copies in
//! other masquerade directories are all passed over. `PATH` itself is never changed.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::path::PathBuf;

use super::args::Flavour;

/// Environment variable listing `dev:ino` of every llgo-ld in the chain, comma-separated.
pub const CHAIN_VAR: &str = "LLGO_LD_CHAIN";

/// More llgo-ld levels than this in one chain means a loop that the checks did not catch.
pub const MAX_CHAIN: usize = 8;

/// A file's (device, inode).
pub type FileId = (u64, u64);

/// Who llgo-ld is: its own file and the llgo-ld files of the processes above it, by (device,
/// inode). A file is llgo-ld when it is one of those files under any name: a symlink, a hard
/// link, a path through other symlinks. (Comparing canonical paths as well added nothing the
/// identity does not decide, for a dozen `readlink`s on every run: on a link without LLGo
/// sections llgo-ld's whole cost is its process, docs/design.md "Performance".)
#[derive(Clone, Debug, Default)]
pub struct SelfId {
    pub id: Option<FileId>,
    pub chain: Vec<FileId>,
}

impl SelfId {
    /// From `/proc/self/exe` and the environment.
    pub fn current() -> SelfId {
        let exe = std::env::current_exe().ok();
        let id = exe.and_then(|e| std::fs::metadata(e).ok()).map(|m| (m.dev(), m.ino()));
        let chain = std::env::var_os(CHAIN_VAR).map(|v| parse_chain(&v)).unwrap_or_default();
        SelfId { id, chain }
    }

    /// Is `path` (an existing file) llgo-ld, this one or one in the chain?
    pub fn is_us(&self, path: &Path) -> bool {
        match std::fs::metadata(path) {
            Ok(m) => {
                let id = (m.dev(), m.ino());
                self.id == Some(id) || self.chain.contains(&id)
            }
            Err(_) => false,
        }
    }

    /// The chain marker for the child: the chain plus this llgo-ld.
    pub fn child_chain(&self) -> OsString {
        let mut ids = self.chain.clone();
        if let Some(id) = self.id {
            ids.push(id);
        }
        OsString::from(format_chain(&ids))
    }
}

pub fn parse_chain(v: &OsStr) -> Vec<FileId> {
    String::from_utf8_lossy(v.as_bytes())
        .split(',')
        .filter_map(|e| {
            let (d, i) = e.split_once(':')?;
            Some((d.trim().parse().ok()?, i.trim().parse().ok()?))
        })
        .collect()
}

pub fn format_chain(ids: &[FileId]) -> String {
    ids.iter().map(|(d, i)| format!("{d}:{i}")).collect::<Vec<_>>().join(",")
}

/// The program to run and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealTool {
    pub program: PathBuf,
    /// `argv[0]` of the child.
    pub argv0: OsString,
    /// Arguments from an override value (`LLGO_LD_CC="clang-19 --target=..."`), put before the
    /// user's.
    pub prefix_args: Vec<OsString>,
}

/// Why no tool was found (the message after `llgo-ld: error: `).
pub type NotFound = String;

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The PATH directories in order (an empty entry is the working directory, as for a shell).
fn path_dirs(path_var: Option<&OsStr>) -> Vec<PathBuf> {
    let Some(v) = path_var else { return Vec::new() };
    v.as_bytes()
        .split(|&b| b == b':')
        .map(
            |d| if d.is_empty() { PathBuf::from(".") } else { PathBuf::from(OsStr::from_bytes(d)) },
        )
        .collect()
}

/// Finds `name` like a shell would, skipping llgo-ld: a name with a `/` is taken as a path
/// (and refused if it is llgo-ld).
pub fn find_program(name: &OsStr, path_var: Option<&OsStr>, me: &SelfId) -> Option<PathBuf> {
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return (is_executable_file(&p) && !me.is_us(&p)).then_some(p);
    }
    if name.is_empty() {
        return None;
    }
    path_dirs(path_var)
        .into_iter()
        .map(|d| d.join(name))
        .find(|c| is_executable_file(c) && !me.is_us(c))
}

/// `argv[0]` for a real compiler driver or non-lld linker found for `word`.
///
/// Tools derive more than their mode from `argv[0]`: gcc also finds its own installation from
/// it (searching PATH for a bare name, then resolving symlinks), so a bare `gcc` that PATH
/// resolves to an llgo-ld symlink makes it look for its plugins next to llgo-ld ("liblto_plugin.so
/// not found"). So the word is kept only when it is a path or PATH resolves it to the real
/// program itself; otherwise the real program's path is used, whose basename is the same name in
/// masquerade mode (the program was found under that name), so name-derived modes (`g++`,
/// `clang++`, `aarch64-linux-gnu-clang`) are kept.
pub fn argv0_for(word: &OsStr, program: &Path, path_var: Option<&OsStr>) -> OsString {
    if word.as_bytes().contains(&b'/') {
        return word.to_owned();
    }
    let first_hit =
        path_dirs(path_var).into_iter().map(|d| d.join(word)).find(|c| is_executable_file(c));
    let same = match (first_hit.and_then(|h| h.canonicalize().ok()), program.canonicalize()) {
        (Some(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        word.to_owned()
    } else {
        program.as_os_str().to_owned()
    }
}

/// Resolves an override value (split like a shell): program and leading arguments.
pub fn from_override(
    var: &str,
    value: &OsStr,
    path_var: Option<&OsStr>,
    me: &SelfId,
) -> Result<(PathBuf, OsString, Vec<OsString>), NotFound> {
    let text = String::from_utf8_lossy(value.as_bytes());
    let words = shell_words::split(&text).map_err(|e| format!("{var}: {e}"))?;
    let Some((prog, rest)) = words.split_first() else {
        return Err(format!("{var} is empty"));
    };
    let program = find_program(OsStr::new(prog), path_var, me)
        .ok_or_else(|| format!("{var}: '{prog}' not found (or it is llgo-ld itself)"))?;
    Ok((program, OsString::from(prog), rest.iter().map(OsString::from).collect()))
}

/// Finds lld of a flavour: the plain name on PATH, then the newest `NAME-NN` on PATH, then
/// the newest `/usr/lib/llvm-NN/bin/NAME`.
///
/// Listing every PATH directory costs more than a millisecond (`/usr/bin` is large), which is
/// the whole overhead budget of a link, so the versions to look for on PATH come from the
/// short `/usr/lib` listing (where every packaged LLVM lives); only if that finds nothing are
/// the PATH directories listed.
pub fn find_lld(darwin: bool, path_var: Option<&OsStr>, me: &SelfId) -> Option<PathBuf> {
    let name = if darwin { "ld64.lld" } else { "ld.lld" };
    if let Some(p) = find_program(OsStr::new(name), path_var, me) {
        return Some(p);
    }
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("llvm-")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_unstable_by(|a, b| b.cmp(a));
    for v in &versions {
        if let Some(p) = find_program(OsStr::new(&format!("{name}-{v}")), path_var, me) {
            return Some(p);
        }
    }
    for v in &versions {
        let p = PathBuf::from(format!("/usr/lib/llvm-{v}/bin/{name}"));
        if is_executable_file(&p) && !me.is_us(&p) {
            return Some(p);
        }
    }
    // No packaged LLVM: any `NAME-NN` on PATH, newest first.
    let mut versioned: BTreeMap<u32, PathBuf> = BTreeMap::new();
    let prefix = format!("{name}-");
    for dir in path_dirs(path_var) {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let file_name = e.file_name();
            let Some(v) = file_name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            let p = dir.join(&file_name);
            if !versioned.contains_key(&v) && is_executable_file(&p) && !me.is_us(&p) {
                versioned.insert(v, p);
            }
        }
    }
    versioned.pop_last().map(|(_, p)| p)
}

/// `argv[0]` for lld: its flavour name, since lld picks the flavour from it.
pub fn lld_argv0(darwin: bool) -> OsString {
    OsString::from(if darwin { "ld64.lld" } else { "ld.lld" })
}

/// Is this program lld (so its `argv[0]` must be a flavour name)?
pub fn is_lld(program: &Path) -> bool {
    let base = program.file_name().map(|b| b.as_bytes()).unwrap_or_default();
    base == b"lld"
        || base.starts_with(b"lld-")
        || base.starts_with(b"ld.lld")
        || base.starts_with(b"ld64.lld")
}

/// The flavour of a masquerading or override linker.
pub fn flavour_of(program: &Path, darwin_args: bool) -> Flavour {
    let f = Flavour::from_program_name(program.as_os_str());
    if f == Flavour::Lld && darwin_args {
        Flavour::Ld64
    } else {
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_round_trip_and_garbage() {
        let ids = vec![(1, 2), (64768, 1234567)];
        assert_eq!(parse_chain(OsStr::new(&format_chain(&ids))), ids);
        assert_eq!(parse_chain(OsStr::new("")), vec![]);
        assert_eq!(parse_chain(OsStr::new("x,1:2,3,:4,5:")), vec![(1, 2)]);
    }

    /// llgo-ld under any name is llgo-ld: a symlink (a masquerade name), a hard link, a path
    /// through a symlinked directory; a copy of the same bytes is another file.
    #[test]
    fn us_under_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("llgo-ld");
        std::fs::write(&real, b"#!/bin/sh\n").unwrap();
        let meta = std::fs::metadata(&real).unwrap();
        let me = SelfId { id: Some((meta.dev(), meta.ino())), chain: Vec::new() };
        std::os::unix::fs::symlink(&real, dir.path().join("clang-19")).unwrap();
        std::fs::hard_link(&real, dir.path().join("gcc")).unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("bin")).unwrap();
        std::fs::copy(&real, dir.path().join("copy")).unwrap();
        for (name, want) in [
            ("llgo-ld", true),
            ("clang-19", true),
            ("gcc", true),
            ("bin/clang-19", true),
            ("bin/gcc", true),
            ("copy", false),
            ("missing", false),
        ] {
            assert_eq!(me.is_us(&dir.path().join(name)), want, "{name}");
        }
    }

    #[test]
    fn lld_names() {
        for (p, want) in [
            ("/usr/bin/ld.lld-19", true),
            ("/usr/lib/llvm-19/bin/ld64.lld", true),
            ("lld", true),
            ("/usr/bin/ld.bfd", false),
            ("mold", false),
        ] {
            assert_eq!(is_lld(Path::new(p)), want, "{p}");
        }
    }
}
