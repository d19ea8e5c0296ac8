//! The one module that writes files: atomic replacement of the output (docs/design.md,
//! "Invariants"), and the scratch files of a relink for room (section 6).
//!
//! The rewritten image goes to an exclusive temporary file in the output's own directory, named
//! `.<output>.llgo-ld.<pid>.<random>`, gets the output's permission bits, and takes the output's
//! name by an exchange of the two names (see [`finish`]), so a reader sees the old file or the
//! new one, never a mix, even if llgo-ld is killed.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::edit::{self, Edit, Piece};
use crate::error::{Error, ErrorKind, Result};

/// What identifies one version of a file: if any of it changes, somebody wrote the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub mode: u32,
    pub regular: bool,
}

impl Identity {
    /// The identity of `path` without following a final symlink; `None` when it does not exist.
    pub fn of(path: &Path) -> io::Result<Option<Identity>> {
        match fs::symlink_metadata(path) {
            Ok(m) => Ok(Some(Identity::from_metadata(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The same file with the same contents as far as anyone can tell: everything but the
    /// ctime, which a rename changes (the in-place commit renames a fresh output away and,
    /// restored after a failure, back).
    pub fn same_version(&self, other: &Identity) -> bool {
        Identity { ctime_ns: other.ctime_ns, ..*self } == *other
    }

    fn from_metadata(m: &fs::Metadata) -> Identity {
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Identity {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
            mode: m.mode(),
            regular: m.file_type().is_file(),
        }
    }
}

/// Temporary files older than this whose pid is dead are leftovers of a killed llgo-ld.
const STALE_AFTER: Duration = Duration::from_secs(300);
const TEMP_TAG: &str = ".llgo-ld.";

/// A file's bytes, read-only: a shared mapping (only the pages touched are read, none is ever
/// copied), or a plain read where the file cannot be mapped (empty, not a regular file).
pub enum ReadOnly {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for ReadOnly {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            ReadOnly::Mapped(m) => m,
            ReadOnly::Read(v) => v,
        }
    }
}

/// Maps `file` read-only (reads it when it cannot be mapped).
///
/// A mapping faults if another process truncates the file while it is mapped. Linkers never do
/// that to an existing output (lld, mold and gold write a new file and rename it; bfd unlinks
/// first), and the identity check of [`open_read_only`] catches any other writer that got there
/// first.
pub fn map_read_only(file: &File) -> io::Result<ReadOnly> {
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > 0 {
        // SAFETY: read-only; see the function's documentation for concurrent truncation.
        if let Ok(m) = unsafe { memmap2::Mmap::map(file) } {
            return Ok(ReadOnly::Mapped(m));
        }
    }
    let mut v = Vec::new();
    io::Read::read_to_end(&mut &*file, &mut v)?;
    Ok(ReadOnly::Read(v))
}

/// Opens the output, checking that it is still the version `expected` describes, and maps it
/// read-only and shared ([`map_read_only`]). Nothing is patched in memory: the edits are
/// written into a file (the copy of [`stage`], or the output itself in [`commit_fresh`]) and
/// the self-check reads them from there.
pub fn open_read_only(path: &Path, expected: &Identity) -> Result<(File, ReadOnly)> {
    let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
    let now = Identity::from_metadata(&file.metadata().map_err(|e| Error::io(path.display(), e))?);
    if now != *expected {
        return Err(changed(path));
    }
    let bytes = map_read_only(&file).map_err(|e| Error::io(path.display(), e))?;
    Ok((file, bytes))
}

/// The header-only check of [`crate::binary::probe`] on `path`: `Err(why)` means certainly not
/// an LLGo executable. Any I/O trouble answers `Ok` (let the full read decide).
pub fn probe(path: &Path, expected: &Identity) -> std::result::Result<(), &'static str> {
    let Ok(file) = File::open(path) else { return Ok(()) };
    let size = expected.size;
    crate::binary::probe::may_carry_tables(&mut |off, len| {
        let len = len.min(usize::try_from(size.saturating_sub(off)).ok()?);
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, off).ok()?;
        Some(buf)
    })
}

fn changed(path: &Path) -> Error {
    Error::new(ErrorKind::Io, format!("{}: changed by someone else meanwhile", path.display()))
}

/// Writes `original` with `edits` applied to a temporary file beside `path`, which takes
/// `path`'s name ([`finish`]) provided `path` still is the version `expected` describes. The bulk is copied inside
/// the kernel from `source` (the open original); only the edited ranges are written.
pub fn commit(
    path: &Path,
    expected: &Identity,
    source: &File,
    original_len: u64,
    edits: &[Edit],
) -> Result<()> {
    stage(path, source, original_len)?.commit(expected, original_len, edits, None)
}

/// The first half of [`commit`], which can run while the edits are still being checked: the
/// temporary file beside `path`, holding a copy (or, where the filesystem can, a clone) of the
/// `len` bytes of `source`. Dropping the result removes the temporary file.
pub fn stage(path: &Path, source: &File, len: u64) -> Result<Staged> {
    let tmp = temp_beside(path)?;
    if clone(source, tmp.as_file()).is_err() {
        copy_all(source, tmp.as_file(), len).map_err(|e| Error::io(tmp.path().display(), e))?;
    }
    Ok(Staged { tmp, path: path.to_path_buf() })
}

/// A copy of the original in the temporary file beside the output; see [`stage`].
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// The self-check of a relaid (size-changing) plan, run on the finished file's bytes before it
/// is renamed to the output name. Same-size plans are checked before anything is written.
pub type Check<'a> = &'a dyn Fn(&[u8]) -> Result<()>;

impl Staged {
    /// The second half of [`commit`]: writes `edits` over the copy and renames it over the
    /// output if the output still is the version `expected` describes.
    ///
    /// `original_len` is the staged copy's length. A plan that changes the size is laid out
    /// inside the copy (see [`write_edits`]) and `check` runs on the result, mapped from the
    /// file; a same-size plan writes only its edits over the copy.
    pub fn commit(
        self,
        expected: &Identity,
        original_len: u64,
        edits: &[Edit],
        check: Option<Check<'_>>,
    ) -> Result<()> {
        let tmp_err = |err| Error::io(self.tmp.path().display(), err);
        let saved = Saved::read(self.tmp.as_file(), original_len, edits, false).map_err(tmp_err)?;
        write_edits(self.tmp.as_file(), original_len, edits, &saved).map_err(tmp_err)?;
        if let Some(check) = check {
            check_file(self.tmp.as_file(), check).map_err(|e| match e {
                Checked::Io(err) => tmp_err(err),
                Checked::Failed(e) => e,
            })?;
        }
        finish(self.tmp, &self.path, expected)
    }
}

/// The shim's post-link step: the linker's fresh output at `path` (still the version
/// `expected`, open as `source`, `original_len` bytes) gets `edits` without a copy of the
/// whole file, by the first of these that the filesystem allows:
///
/// 1. a clone (FICLONE: btrfs, XFS) into the temporary file beside `path`, edited there and
///    given `path`'s name ([`finish`]); the name is never empty;
/// 2. in place: `path` is renamed to the temporary name, the edits are written into it (a
///    size-changing plan rewrites the tail from the first size-changing edit and cuts the file
///    to its new length), and it is renamed back. Killed in between, `path` holds nothing and
///    the temporary file is swept later as a stale one; never a partial output. A failure
///    writes back the saved original bytes (and the original mtime) before renaming back;
/// 3. the copy of [`stage`] + [`Staged::commit`], when the file cannot be opened for writing
///    (running, read-only mode) or has other names (hard links).
///
/// `check` is the self-check, run on the finished file's bytes before it is given the output
/// name (the caller may pass `None` for a same-size plan it checked in memory). A failed check
/// in step 2 restores the original bytes.
pub fn commit_fresh(
    path: &Path,
    expected: &Identity,
    source: &File,
    original_len: u64,
    edits: &[Edit],
    check: Option<Check<'_>>,
) -> Result<()> {
    fresh(path, expected, source, original_len, edits, check.map(|c| (c, None)))
}

/// [`commit_fresh`] for a caller that holds `source` mapped (`view`, from [`open_read_only`]):
/// edited in place, the self-check reads the finished bytes through that shared mapping, which
/// sees the positioned writes, instead of mapping the file once more (the pages the plan read
/// are mapped already). `view` holds all of `source`'s bytes; a copy in memory
/// ([`ReadOnly::Read`]) or a clone is checked from the file as [`commit_fresh`] does.
pub fn commit_fresh_viewed(
    path: &Path,
    expected: &Identity,
    source: &File,
    view: &ReadOnly,
    edits: &[Edit],
    check: Option<Check<'_>>,
) -> Result<()> {
    let mapped = match view {
        ReadOnly::Mapped(m) => Some(&m[..]),
        ReadOnly::Read(_) => None,
    };
    fresh(path, expected, source, view.len() as u64, edits, check.map(|c| (c, mapped)))
}

/// The check and, for the in-place path, a shared mapping of the file it may read instead of
/// mapping the file again.
type CheckVia<'a, 'b> = Option<(Check<'a>, Option<&'b [u8]>)>;

fn fresh(
    path: &Path,
    expected: &Identity,
    source: &File,
    original_len: u64,
    edits: &[Edit],
    check: CheckVia<'_, '_>,
) -> Result<()> {
    let tmp = temp_beside(path)?;
    let staged_check = check.map(|(c, _)| c);
    if clone(source, tmp.as_file()).is_ok() {
        return Staged { tmp, path: path.to_path_buf() }.commit(
            expected,
            original_len,
            edits,
            staged_check,
        );
    }
    let Some(file) = open_for_edit(path, expected)? else {
        copy_all(source, tmp.as_file(), original_len)
            .map_err(|e| Error::io(tmp.path().display(), e))?;
        return Staged { tmp, path: path.to_path_buf() }.commit(
            expected,
            original_len,
            edits,
            staged_check,
        );
    };
    in_place(path, expected, tmp, &file, original_len, edits, check)
}

/// `path` opened for reading and writing when it is still `expected` and its only name; `None`
/// when it cannot be edited in place (opened for execution, not writable, hard-linked).
fn open_for_edit(path: &Path, expected: &Identity) -> Result<Option<File>> {
    let file = match File::options().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(changed(path)),
        Err(_) => return Ok(None),
    };
    let meta = file.metadata().map_err(|e| Error::io(path.display(), e))?;
    if Identity::from_metadata(&meta) != *expected {
        return Err(changed(path));
    }
    Ok((meta.nlink() == 1).then_some(file))
}

/// Step 2 of [`commit_fresh`]. `tmp` is the exclusive empty temporary file whose name the
/// output takes while it is edited.
fn in_place(
    path: &Path,
    expected: &Identity,
    tmp: tempfile::NamedTempFile,
    file: &File,
    original_len: u64,
    edits: &[Edit],
    check: CheckVia<'_, '_>,
) -> Result<()> {
    let saved =
        Saved::read(file, original_len, edits, true).map_err(|e| Error::io(path.display(), e))?;
    // The output moves to the temporary name once the empty file holding that name is gone:
    // a rename over an existing file, even an empty one, makes ext4 write the renamed file's
    // delayed blocks back on the spot (`auto_da_alloc`: 7 ms for a fresh 20 MB link), a
    // rename to a free name does not. RENAME_NOREPLACE keeps the name exclusive.
    let away = tmp.path().to_path_buf();
    tmp.close().map_err(|e| Error::io(away.display(), e))?;
    rename_noreplace(path, &away).map_err(|e| Error::io(path.display(), e))?;
    // Is the file now under the temporary name the one opened and saved from? A concurrent
    // link may have replaced `path` between the open and the rename.
    let moved = fs::symlink_metadata(&away).map(|m| (m.dev(), m.ino()));
    if moved.ok() != Some((expected.dev, expected.ino)) {
        if rename_noreplace(&away, path).is_err() {
            let _ = fs::remove_file(&away);
        }
        return Err(changed(path));
    }
    let result = write_edits(file, original_len, edits, &saved)
        .map_err(|e| Error::io(away.display(), e))
        .and_then(|()| {
            let new_len = edit::new_len(original_len, edits);
            match check {
                None => Ok(()),
                // The shared mapping of this very file: the pages past a shorter file's new end
                // are gone from it, and are not read.
                Some((check, Some(view))) if new_len <= view.len() as u64 => {
                    check(view.get(..new_len as usize).unwrap_or_default())
                }
                Some((check, _)) => check_file(file, check).map_err(|e| match e {
                    Checked::Io(err) => Error::io(away.display(), err),
                    Checked::Failed(e) => e,
                }),
            }
        });
    if let Err(e) = result {
        // Put the linker's output back, byte for byte, or leave nothing at `path`.
        if saved.restore(file, expected).is_ok() && rename_noreplace(&away, path).is_ok() {
            return Err(e);
        }
        let _ = fs::remove_file(&away);
        return Err(e.context("the output could not be restored and was removed"));
    }
    match rename_noreplace(&away, path) {
        Ok(()) => Ok(()),
        Err(e) => {
            // Somebody wrote a new output meanwhile (EEXIST): theirs stays, ours goes.
            let _ = fs::remove_file(&away);
            if e.raw_os_error() == Some(libc::EEXIST) {
                Err(changed(path))
            } else {
                Err(Error::io(path.display(), e))
            }
        }
    }
}

/// `rename(from, to)` that fails with EEXIST instead of replacing `to` (plain `rename` on
/// filesystems without RENAME_NOREPLACE, after checking that `to` is absent).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (c_path(from)?, c_path(to)?);
    // SAFETY: both strings are NUL-terminated and live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL | libc::ENOSYS) => {
            if fs::symlink_metadata(to).is_ok() {
                return Err(io::Error::from_raw_os_error(libc::EEXIST));
            }
            fs::rename(from, to)
        }
        _ => Err(err),
    }
}

/// The original bytes that [`write_edits`] overwrites: each same-size edit's range before the
/// first size-changing edit (only when they are to be restored) and, for a size-changing plan,
/// the whole tail from that edit on, which the relayout reads from.
struct Saved {
    ranges: Vec<(u64, Vec<u8>)>,
    tail: Option<(u64, Vec<u8>)>,
    len: u64,
}

impl Saved {
    fn read(file: &File, len: u64, edits: &[Edit], ranges: bool) -> io::Result<Saved> {
        let first = edits.iter().find(|e| !e.is_same_size()).map(|e| e.offset);
        let mut saved = Saved { ranges: Vec::new(), tail: None, len };
        if ranges {
            for e in edits.iter().take_while(|e| first.is_none_or(|f| e.offset < f)) {
                let mut buf = vec![0u8; e.len as usize];
                file.read_exact_at(&mut buf, e.offset)?;
                saved.ranges.push((e.offset, buf));
            }
        }
        if let Some(first) = first {
            let mut buf = vec![0u8; len.saturating_sub(first) as usize];
            file.read_exact_at(&mut buf, first)?;
            saved.tail = Some((first, buf));
        }
        Ok(saved)
    }

    /// Writes the saved bytes back and gives the file its original length and mtime.
    fn restore(&self, file: &File, expected: &Identity) -> io::Result<()> {
        for (at, bytes) in &self.ranges {
            file.write_all_at(bytes, *at)?;
        }
        if let Some((at, bytes)) = &self.tail {
            file.write_all_at(bytes, *at)?;
        }
        file.set_len(self.len)?;
        let mtime = u64::try_from(expected.mtime_ns)
            .map(|ns| SystemTime::UNIX_EPOCH + Duration::from_nanos(ns))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        file.set_modified(mtime)
    }
}

/// Writes `edits` into `file`, which holds the `original_len` bytes they were planned
/// against: positioned writes of same-size edits; from the first size-changing edit on, the
/// tail is laid out anew from its saved original bytes, and the file cut to its new length.
fn write_edits(file: &File, original_len: u64, edits: &[Edit], saved: &Saved) -> io::Result<()> {
    let Some((first, tail)) = &saved.tail else {
        for e in edits {
            file.write_all_at(&e.bytes, e.offset)?;
        }
        return Ok(());
    };
    let mut at = 0u64;
    for piece in edit::pieces(original_len, edits) {
        match piece {
            Piece::Original { offset, len } => {
                if offset >= *first {
                    let from = (offset - first) as usize;
                    let bytes = tail.get(from..from + len as usize).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "edit outside the file")
                    })?;
                    file.write_all_at(bytes, at)?;
                }
                at += len;
            }
            Piece::New(bytes) => {
                file.write_all_at(bytes, at)?;
                at += bytes.len() as u64;
            }
        }
    }
    file.set_len(edit::new_len(original_len, edits))
}

enum Checked {
    Io(io::Error),
    Failed(Error),
}

/// Runs `check` on the bytes of `file` as they are now (a read-only shared mapping: the
/// pages just written are in the page cache).
fn check_file(file: &File, check: Check<'_>) -> std::result::Result<(), Checked> {
    // The file is this process's own temporary file or its renamed-away output, which nobody
    // else writes.
    let bytes = map_read_only(file).map_err(Checked::Io)?;
    check(&bytes).map_err(Checked::Failed)
}

/// `FICLONE`: `_IOW(0x94, 9, int)`, shares the extents of a whole file (btrfs, XFS, bcachefs).
const FICLONE: libc::c_ulong = 0x4004_9409;

/// Makes `to` a clone of `from` where the filesystem can; an error otherwise (ext4, tmpfs:
/// EOPNOTSUPP, EXDEV, EINVAL or ENOTTY), and the caller copies instead.
fn clone(from: &File, to: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: both descriptors are open for the duration of the call; FICLONE takes the
    // source descriptor as its argument.
    let r = unsafe { libc::ioctl(to.as_raw_fd(), FICLONE, from.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Replaces `path` by a copy of the finished file `source` (a relink's rewritten output,
/// docs/design.md section 6) with the same procedure as [`commit`]: temporary file beside `path`,
/// `path`'s permission bits, identity re-checked, exchange. `source` itself is left alone.
pub fn install(path: &Path, expected: &Identity, source: &Path) -> Result<()> {
    let from = File::open(source).map_err(|e| Error::io(source.display(), e))?;
    let len = from.metadata().map_err(|e| Error::io(source.display(), e))?.len();
    let tmp = temp_beside(path)?;
    if clone(&from, tmp.as_file()).is_err() {
        copy_all(&from, tmp.as_file(), len).map_err(|e| Error::io(tmp.path().display(), e))?;
    }
    finish(tmp, path, expected)
}

/// The one way an output is replaced, in two steps: [`temp_beside`] makes an exclusive
/// `.<output>.llgo-ld.<pid>.<random>` beside `path` for the new contents, and [`finish`] gives
/// it `expected`'s permission bits and puts it at `path` if `path` is still that version.
/// Any failure drops the temporary file, which removes it, and leaves `path` as it was.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .ok_or_else(|| Error::new(ErrorKind::Io, format!("{}: not a file name", path.display())))?;
    sweep_stale(&dir, name.as_bytes());
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(format!("{TEMP_TAG}{}.", std::process::id()));
    tempfile::Builder::new()
        .prefix(&prefix)
        .rand_bytes(8)
        .tempfile_in(&dir)
        .map_err(|e| Error::io(format!("{}: temporary file", dir.display()), e))
}

/// The new file takes `path` by exchanging the two names (`renameat2(RENAME_EXCHANGE)`), then
/// the temporary name, which now holds the original, is removed. A plain rename over an
/// existing file makes ext4 start writing the new file's delayed blocks back on the spot
/// (`auto_da_alloc`, about a third of `cp`'s time for a 20 MB file); an exchange does not, and
/// `path` holds the old or the new file at every instant. Killed between the exchange and the
/// removal, the original stays under the temporary name, which [`sweep_stale`] removes later.
/// Filesystems without the exchange (EINVAL, ENOTSUP, ENOSYS) get the plain rename.
fn finish(tmp: tempfile::NamedTempFile, path: &Path, expected: &Identity) -> Result<()> {
    finish_with(tmp, path, expected, rename_exchange)
}

/// How [`finish`] exchanges two names: [`rename_exchange`], or in tests a stand-in failing as
/// a filesystem without the exchange does.
type Exchange = fn(&Path, &Path) -> io::Result<()>;

/// [`finish`] with the exchange given: the tests pass one that fails as a filesystem without
/// it does (ext2, NFS, most FUSE filesystems), which the machines of the suite do not have.
fn finish_with(
    tmp: tempfile::NamedTempFile,
    path: &Path,
    expected: &Identity,
    rename_exchange: Exchange,
) -> Result<()> {
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(expected.mode & 0o7777))
        .map_err(|e| Error::io(tmp.path().display(), e))?;
    if Identity::of(path).map_err(|e| Error::io(path.display(), e))? != Some(*expected) {
        return Err(changed(path));
    }
    match rename_exchange(tmp.path(), path) {
        Ok(()) => {}
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP | libc::ENOSYS)) => {
            tmp.persist(path).map_err(|e| Error::io(path.display(), e.error))?;
            return Ok(());
        }
        // Dropping `tmp` removes the new file; `path` is untouched.
        Err(e) => return Err(Error::io(path.display(), e)),
    }
    // The temporary name now holds what `path` held (the exchange changed its ctime only).
    // If somebody replaced `path` between the check above and the exchange, theirs is put
    // back and ours removed, as a plain rename could not do.
    let swapped = Identity::of(tmp.path()).ok().flatten();
    if !swapped.is_some_and(|s| expected.same_version(&s)) {
        if rename_exchange(tmp.path(), path).is_err() {
            // Nothing is removed that may be theirs: the temporary name stays for the sweep.
            let _ = tmp.into_temp_path().keep();
        }
        return Err(changed(path));
    }
    // Removes the temporary name (the original); its blocks are freed when the last
    // descriptor or mapping of it goes.
    tmp.close().map_err(|e| Error::io(path.display(), e))?;
    Ok(())
}

/// `renameat2(from, to, RENAME_EXCHANGE)`: both names must exist; each takes the other's file.
fn rename_exchange(from: &Path, to: &Path) -> io::Result<()> {
    let (f, t) = (c_path(from)?, c_path(to)?);
    // SAFETY: both strings are NUL-terminated and live across the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn c_path(p: &Path) -> io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// A private directory under the system temporary directory for the files of a relink
/// (docs/design.md section 6): the padding object and the second link's output. Removed with
/// everything in it when dropped.
pub struct Scratch {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("llgo-ld-relink.")
            .tempdir()
            .map_err(|e| Error::io("scratch directory", e))?;
        // Absolute, so the paths mean the same to a child with another working directory.
        let path =
            std::path::absolute(dir.path()).map_err(|e| Error::io("scratch directory", e))?;
        Ok(Scratch { dir, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the subdirectory `name` and returns its path.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let path = self.path.join(name);
        fs::create_dir(&path).map_err(|e| Error::io(path.display(), e))?;
        Ok(path)
    }

    /// Writes a new file `name` holding `bytes` and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.path.join(name);
        let mut file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(path.display(), e))?;
        file.write_all(bytes).map_err(|e| Error::io(path.display(), e))?;
        Ok(path)
    }

    /// Removes the directory now, reporting a failure (dropping does the same silently).
    pub fn remove(self) -> Result<()> {
        let path = self.path.clone();
        self.dir.close().map_err(|e| Error::io(path.display(), e))
    }
}

/// Copies `len` bytes from the start of `from` to `to`: `copy_file_range` when the kernel can
/// (as `cp` does), plain reads and writes otherwise.
fn copy_all(from: &File, to: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut done: u64 = 0;
    while done < len {
        let mut off_in = done as libc::off64_t;
        let mut off_out = done as libc::off64_t;
        let want = (len - done).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the duration of the call and the offsets are
        // plain integers owned by this frame.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                &mut off_in,
                to.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        if n > 0 {
            done += n as u64;
            continue;
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank"));
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EXDEV | libc::ENOSYS | libc::EOPNOTSUPP | libc::EINVAL) if done == 0 => {
                return copy_by_reads(from, to, len);
            }
            Some(libc::EINTR) => continue,
            _ => return Err(err),
        }
    }
    Ok(())
}

fn copy_by_reads(from: &File, to: &File, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0u64;
    while off < len {
        let n = from.read_at(&mut buf[..(len - off).min(1 << 20) as usize], off)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "source shrank"));
        }
        to.write_all_at(&buf[..n], off)?;
        off += n as u64;
    }
    (&*to).flush()
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Removes `.<name>.llgo-ld.<pid>.<random>` files whose pid is dead and that are older than a
/// few minutes: never a concurrent link's file. Best effort.
pub fn sweep_stale(dir: &Path, name: &[u8]) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut prefix = b".".to_vec();
    prefix.extend_from_slice(name);
    prefix.extend_from_slice(TEMP_TAG.as_bytes());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(rest) = file_name.as_bytes().strip_prefix(prefix.as_slice()) else { continue };
        let Some(pid) = std::str::from_utf8(rest)
            .ok()
            .and_then(|r| r.split('.').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return true;
    }
    // SAFETY: kill with signal 0 only checks for the process's existence.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Removes the output (STRICT mode: a failing link leaves no output behind).
pub fn remove(path: &Path) -> io::Result<()> {
    fs::remove_file(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dir/prog` holding `bytes`, with permissions `mode`.
    fn output(dir: &Path, bytes: &[u8], mode: u32) -> PathBuf {
        let out = dir.join("prog");
        fs::write(&out, bytes).unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(mode)).unwrap();
        out
    }

    /// `out` as it is now: its identity, and the file open and mapped read-only.
    fn opened(out: &Path) -> (Identity, File, ReadOnly) {
        let id = Identity::of(out).unwrap().unwrap();
        let (file, data) = open_read_only(out, &id).unwrap();
        (id, file, data)
    }

    #[test]
    fn commit_replaces_atomically_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let out = output(dir.path(), b"0123456789", 0o751);
        let (id, file, data) = opened(&out);
        let edits = [Edit::overwrite(2, b"ab".to_vec())];
        commit(&out, &id, &file, data.len() as u64, &edits).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"01ab456789");
        let new = Identity::of(&out).unwrap().unwrap();
        assert_eq!(new.mode & 0o7777, 0o751);
        assert_ne!(new.ino, id.ino, "a new inode, not a patch of the old one");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// Where the filesystem has no `RENAME_EXCHANGE` the new file takes the name by a plain
    /// rename, with the same result; any other failure of the exchange leaves the output as it
    /// was and removes the temporary file.
    #[test]
    fn finish_without_the_exchange_renames_and_a_failed_exchange_changes_nothing() {
        fn refused(errno: i32) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(errno))
        }
        let cases: [(i32, Exchange, bool); 4] = [
            (libc::EINVAL, |_, _| refused(libc::EINVAL), true),
            (libc::ENOTSUP, |_, _| refused(libc::ENOTSUP), true),
            (libc::ENOSYS, |_, _| refused(libc::ENOSYS), true),
            (libc::EIO, |_, _| refused(libc::EIO), false),
        ];
        for (errno, exchange, replaced) in cases {
            let dir = tempfile::tempdir().unwrap();
            let out = output(dir.path(), b"0123456789", 0o751);
            let (id, file, data) = opened(&out);
            let staged = stage(&out, &file, data.len() as u64).unwrap();
            let tmp = staged.tmp;
            fs::write(tmp.path(), b"new bytes").unwrap();
            let result = finish_with(tmp, &out, &id, exchange);
            let now = Identity::of(&out).unwrap().unwrap();
            if replaced {
                assert!(result.is_ok(), "errno {errno}: {result:?}");
                assert_eq!(fs::read(&out).unwrap(), b"new bytes", "errno {errno}");
                assert_eq!(now.mode & 0o7777, 0o751, "errno {errno}");
                assert_ne!(now.ino, id.ino, "errno {errno}: a new inode");
            } else {
                assert!(result.is_err(), "errno {errno}");
                assert_eq!(fs::read(&out).unwrap(), b"0123456789", "errno {errno}");
                assert_eq!(now.ino, id.ino, "errno {errno}: the output untouched");
            }
            let left: Vec<_> =
                fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).collect();
            assert_eq!(left, vec![out.clone()], "errno {errno}: no temporary file left");
        }
    }

    /// A plan that changes the size: the file is rebuilt from the original's unchanged ranges
    /// (copied inside the kernel) and the new bytes, and cut to its new length.
    #[test]
    fn commit_lays_out_a_size_changing_plan() {
        let dir = tempfile::tempdir().unwrap();
        let original: Vec<u8> = (0..=255u8).cycle().take(3 * 4096 + 17).collect();
        let out = output(dir.path(), &original, 0o755);
        let (id, file, data) = opened(&out);
        let mut edits = vec![
            Edit::overwrite(8, b"HDR".to_vec()),
            Edit::cut(4000, 5000),
            Edit { offset: 12_000, len: 4, bytes: b"grown by six".to_vec() },
        ];
        crate::edit::normalize(&mut edits, data.len() as u64).unwrap();
        let want = crate::edit::apply(&data, &edits).unwrap();
        commit(&out, &id, &file, data.len() as u64, &edits).unwrap();
        let got = fs::read(&out).unwrap();
        assert_eq!(got.len() as u64, crate::edit::new_len(original.len() as u64, &edits));
        assert_eq!(got, want);
        assert_eq!(&got[..8], &original[..8]);
        assert_eq!(&got[4000..4010], &original[9000..9010], "the range after the cut moved down");
        let new = Identity::of(&out).unwrap().unwrap();
        assert_eq!(new.mode & 0o7777, 0o755);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// The shim's path: the fresh output is edited in place (same inode, no temporary file
    /// left), same size or relaid; a failing check of a relaid plan puts the original back.
    #[test]
    fn commit_fresh_edits_in_place_and_restores_on_a_failed_check() {
        let dir = tempfile::tempdir().unwrap();
        let original: Vec<u8> = (0..=255u8).cycle().take(3 * 4096 + 17).collect();
        let out = output(dir.path(), &original, 0o751);

        let (id, file, data) = opened(&out);
        let same = [Edit::overwrite(2, b"ab".to_vec()), Edit::overwrite(9000, b"cd".to_vec())];
        commit_fresh(&out, &id, &file, data.len() as u64, &same, None).unwrap();
        let mut want = original.clone();
        want[2..4].copy_from_slice(b"ab");
        want[9000..9002].copy_from_slice(b"cd");
        assert_eq!(fs::read(&out).unwrap(), want);
        let new = Identity::of(&out).unwrap().unwrap();
        assert_eq!((new.ino, new.mode & 0o7777), (id.ino, 0o751), "the same file, edited");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

        let before = fs::read(&out).unwrap();
        let refuse = |_: &[u8]| -> Result<()> { Err(Error::internal("check refuses")) };
        let (id, file, _) = opened(&out);
        let err =
            commit_fresh(&out, &id, &file, before.len() as u64, &same, Some(&refuse)).unwrap_err();
        assert!(err.message().contains("check refuses"), "{err}");
        assert_eq!(fs::read(&out).unwrap(), before, "same size: the original is back");

        let (id, file, data) = opened(&out);
        let mut relaid = vec![
            Edit::overwrite(8, b"HDR".to_vec()),
            Edit::cut(4000, 5000),
            Edit { offset: 12_000, len: 4, bytes: b"grown by six".to_vec() },
        ];
        crate::edit::normalize(&mut relaid, data.len() as u64).unwrap();
        let want = crate::edit::apply(&before, &relaid).unwrap();
        drop(data);
        let err = commit_fresh(&out, &id, &file, before.len() as u64, &relaid, Some(&refuse))
            .unwrap_err();
        assert!(err.message().contains("check refuses"), "{err}");
        assert_eq!(fs::read(&out).unwrap(), before, "the original is back, byte for byte");
        let back = Identity::of(&out).unwrap().unwrap();
        assert!(back.same_version(&id), "{back:?} vs {id:?}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

        let id = Identity::of(&out).unwrap().unwrap();
        let seen = std::cell::Cell::new(0usize);
        let check = |bytes: &[u8]| -> Result<()> {
            assert_eq!(bytes, want.as_slice(), "the check reads the finished file");
            seen.set(seen.get() + 1);
            Ok(())
        };
        commit_fresh(&out, &id, &file, before.len() as u64, &relaid, Some(&check)).unwrap();
        assert_eq!(seen.get(), 1);
        assert_eq!(fs::read(&out).unwrap(), want);
        assert_eq!(Identity::of(&out).unwrap().unwrap().ino, id.ino);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
    }

    /// The shim's path with the planning map: the check reads the finished bytes through it
    /// (same size, and a relaid plan that makes the file shorter: the map is longer than the
    /// file then); a failed check puts the original back.
    #[test]
    fn commit_fresh_viewed_checks_through_the_callers_map() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("prog");
        let original: Vec<u8> = (0..=255u8).cycle().take(3 * 4096 + 17).collect();
        fs::write(&out, &original).unwrap();
        let mut relaid = vec![
            Edit::overwrite(8, b"HDR".to_vec()),
            Edit::cut(4000, 5000),
            Edit { offset: 12_000, len: 4, bytes: b"grown by six".to_vec() },
        ];
        crate::edit::normalize(&mut relaid, original.len() as u64).unwrap();
        let same = vec![Edit::overwrite(2, b"ab".to_vec()), Edit::overwrite(9000, b"cd".to_vec())];
        let refuse = |_: &[u8]| -> Result<()> { Err(Error::internal("check refuses")) };
        for edits in [&same, &relaid] {
            let want = crate::edit::apply(&original, edits).unwrap();
            let (id, file, view) = opened(&out);
            assert!(matches!(view, ReadOnly::Mapped(_)));
            let err = commit_fresh_viewed(&out, &id, &file, &view, edits, Some(&refuse));
            assert!(err.unwrap_err().message().contains("check refuses"));
            assert_eq!(fs::read(&out).unwrap(), original, "the original is back");
            drop(view);

            let (id, file, view) = opened(&out);
            let seen = std::cell::Cell::new(0usize);
            let check = |bytes: &[u8]| -> Result<()> {
                assert_eq!(bytes, want.as_slice(), "the check reads the finished file");
                seen.set(seen.get() + 1);
                Ok(())
            };
            commit_fresh_viewed(&out, &id, &file, &view, edits, Some(&check)).unwrap();
            assert_eq!(seen.get(), 1);
            drop(view);
            assert_eq!(fs::read(&out).unwrap(), want);
            assert_eq!(Identity::of(&out).unwrap().unwrap().ino, id.ino, "edited in place");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
            fs::write(&out, &original).unwrap();
        }
    }

    /// A hard-linked output is not edited in place (its other name would change too): the
    /// copy path replaces the name; a replaced output is refused.
    #[test]
    fn commit_fresh_copies_a_hard_linked_output_and_refuses_a_changed_one() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("prog");
        let other = dir.path().join("other");
        fs::write(&out, b"0123456789").unwrap();
        fs::hard_link(&out, &other).unwrap();
        let (id, file, _) = opened(&out);
        let edits = [Edit::overwrite(2, b"ab".to_vec())];
        commit_fresh(&out, &id, &file, 10, &edits, None).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"01ab456789");
        assert_eq!(fs::read(&other).unwrap(), b"0123456789", "the other name is untouched");

        let (id, file, _) = opened(&out);
        fs::write(&out, b"other contents").unwrap();
        let err = commit_fresh(&out, &id, &file, 10, &edits, None).unwrap_err();
        assert!(err.message().contains("changed"), "{err}");
        assert_eq!(fs::read(&out).unwrap(), b"other contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
    }

    #[test]
    fn commit_refuses_a_changed_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("prog");
        fs::write(&out, b"0123456789").unwrap();
        let (id, file, _) = opened(&out);
        fs::write(&out, b"other contents").unwrap();
        let err = commit(&out, &id, &file, 10, &[]).unwrap_err();
        assert!(err.message().contains("changed"), "{err}");
        assert_eq!(fs::read(&out).unwrap(), b"other contents");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn install_copies_a_finished_file_over_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let out = output(dir.path(), b"first link", 0o750);
        let id = Identity::of(&out).unwrap().unwrap();
        let scratch = Scratch::new().unwrap();
        let outdir = scratch.subdir("out").unwrap();
        let second = outdir.join("prog");
        fs::write(&second, b"second link, rewritten").unwrap();
        fs::set_permissions(&second, fs::Permissions::from_mode(0o600)).unwrap();
        install(&out, &id, &second).unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"second link, rewritten");
        let new = Identity::of(&out).unwrap().unwrap();
        assert_eq!(new.mode & 0o7777, 0o750, "the output's permissions, not the source's");
        assert_ne!(new.ino, id.ino);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        assert!(second.exists(), "the source is left alone");
        let path = scratch.path().to_path_buf();
        assert!(path.is_absolute() && path.starts_with(std::env::temp_dir()));
        scratch.remove().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn install_refuses_a_changed_output_and_scratch_drops_clean() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("prog");
        fs::write(&out, b"first link").unwrap();
        let id = Identity::of(&out).unwrap().unwrap();
        let scratch = Scratch::new().unwrap();
        let second = scratch.write("prog", b"second").unwrap();
        assert!(scratch.write("prog", b"again").is_err(), "never overwrites");
        fs::write(&out, b"someone else").unwrap();
        assert!(install(&out, &id, &second).unwrap_err().message().contains("changed"));
        assert_eq!(fs::read(&out).unwrap(), b"someone else");
        let missing = dir.path().join("missing");
        let id = Identity::of(&out).unwrap().unwrap();
        assert!(install(&out, &id, &missing).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        let path = scratch.path().to_path_buf();
        drop(scratch);
        assert!(!path.exists());
    }

    #[test]
    fn sweep_removes_only_dead_and_old_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(".prog.llgo-ld.999999999.abc");
        let live = dir.path().join(format!(".prog.llgo-ld.{}.abc", std::process::id()));
        let young = dir.path().join(".prog.llgo-ld.999999998.abc");
        for p in [&dead, &live, &young] {
            fs::write(p, b"x").unwrap();
        }
        let old = SystemTime::now() - Duration::from_secs(600);
        for p in [&dead, &live] {
            File::options().write(true).open(p).unwrap().set_modified(old).unwrap();
        }
        sweep_stale(dir.path(), b"prog");
        assert!(!dead.exists());
        assert!(live.exists(), "our own pid is alive");
        assert!(young.exists(), "too young to be a leftover");
    }
}
