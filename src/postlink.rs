//! The one pipeline that produces an output: plan -> apply -> self-check -> commit. Shared by
//! `llgo-ld rewrite`, the driver shim, the relink for room and the tests ([`produce`] is the
//! same steps on bytes in memory), so no caller can skip the self-check.
//!
//! The plan comes from [`crate::plan`]; the self-check is the `verify` of the subcommand on the
//! relaid bytes; only [`crate::output`] writes.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::edit::{self, Edit};
use crate::error::{Error, ErrorKind, Result};
use crate::extract::{self, EntryState};
use crate::loader::{self, Images};
use crate::output::{self, Identity};
use crate::plan::{self, Plan, Summary};
use crate::verify::{self, Depth};

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    Rewritten(Vec<Summary>),
    Skipped(String),
    Failed(Error),
}

/// The outcome plus the time it took.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// Rewrites the existing file `path` atomically: a copy (or clone) beside it is edited and
/// takes its name, so a process running the old file keeps it (`llgo-ld rewrite`, the relink).
/// `expected` is the identity the caller saw; if the file is not that version any more,
/// nothing is touched.
pub fn rewrite_path(path: &Path, expected: Option<Identity>) -> Report {
    let start = Instant::now();
    let outcome = run(path, expected, Commit::Copy);
    Report { outcome, elapsed: start.elapsed() }
}

/// Rewrites the linker's fresh output `path` (the version `after`, which nobody else has open)
/// without copying it: edited in place under a temporary name, or in a clone
/// ([`output::commit_fresh`]). The driver's post-link step.
pub fn rewrite_fresh(path: &Path, after: Identity) -> Report {
    let start = Instant::now();
    let outcome = run(path, Some(after), Commit::Fresh);
    Report { outcome, elapsed: start.elapsed() }
}

/// The shim's post-link step on the linker's fresh output (see [`rewrite_fresh`]): the file is
/// mapped read-only and planned; the edits are written into the file itself (in place or in a
/// clone) and the self-check reads the finished file before it takes the output's name. No
/// page of the mapping is copied and nothing but the edits is written.
fn fresh(path: &Path, identity: &Identity) -> Outcome {
    let (file, image) = match output::open_read_only(path, identity) {
        Ok(x) => x,
        Err(e) => return Outcome::Failed(e),
    };
    let (edits, summaries) = match planned(&image) {
        Ok(planned) => planned,
        Err(end) => return end,
    };
    match output::commit_fresh_viewed(path, identity, &file, &image, &edits, Some(&self_check)) {
        Ok(()) => Outcome::Rewritten(summaries),
        Err(e) => Outcome::Failed(e),
    }
}

/// The plan for `image`, or the outcome that ends the run there (a skip or a failure).
fn planned(image: &[u8]) -> Result<(Vec<Edit>, Vec<Summary>), Outcome> {
    match plan::plan(image) {
        Ok(Plan::Skip(why)) => Err(Outcome::Skipped(why)),
        Ok(Plan::Rewrite { edits, summaries }) => Ok((edits, summaries)),
        Err(e) => Err(Outcome::Failed(e)),
    }
}

/// How the output is replaced; see [`rewrite_path`] and [`rewrite_fresh`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    Copy,
    Fresh,
}

fn run(path: &Path, expected: Option<Identity>, how: Commit) -> Outcome {
    let identity = match expected {
        Some(id) => id,
        None => match Identity::of(path) {
            Ok(Some(id)) => id,
            Ok(None) => return Outcome::Failed(Error::new(ErrorKind::Io, "no such file")),
            Err(e) => return Outcome::Failed(Error::io("cannot read", e)),
        },
    };
    if !identity.regular {
        return Outcome::Skipped("not a regular file".into());
    }
    if let Err(why) = output::probe(path, &identity) {
        return Outcome::Skipped(why.into());
    }
    match how {
        Commit::Fresh => fresh(path, &identity),
        Commit::Copy => copy(path, &identity),
    }
}

/// `rewrite` of an existing file: the original is mapped read-only and planned while a second
/// thread copies it (inside the kernel, or as a clone) into the temporary file beside it, as
/// soon as a look at the entry section shows site records (a file already rewritten is not
/// copied). The edits are written into the copy and the self-check reads the finished copy
/// before it takes the output's name ([`output::Staged::commit`]). A plan that ends in no
/// rewrite drops the staged copy, which removes the temporary file.
fn copy(path: &Path, identity: &Identity) -> Outcome {
    let (file, image) = match output::open_read_only(path, identity) {
        Ok(x) => x,
        Err(e) => return Outcome::Failed(e),
    };
    let original_len = image.len() as u64;
    let (planned, staged) = std::thread::scope(|s| {
        // While the copy runs it has the other CPU: the plan's steps keep to this one.
        let taken = crate::parallel::CoreTaken::new();
        let stager = crate::parallel::spawn_beside(s, || {
            let staged = holds_records(&image).then(|| output::stage(path, &file, original_len));
            drop(taken);
            staged
        });
        let planned = planned(&image);
        let staged = match stager {
            Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No second thread to be had: the copy is made after planning.
            Err(_) => None,
        };
        (planned, staged)
    });
    let (edits, summaries) = match planned {
        Ok(planned) => planned,
        Err(end) => return end,
    };
    let staged = staged.unwrap_or_else(|| output::stage(path, &file, original_len));
    // The original's pages are not read again: the self-check maps the copy. Unmapped now, they
    // are not resident beside the copy's and the plan's memory (110k rows: 9 MB of the peak).
    drop((image, file));
    match staged.and_then(|staged| staged.commit(identity, original_len, &edits, Some(&self_check)))
    {
        Ok(()) => Outcome::Rewritten(summaries),
        Err(e) => Outcome::Failed(e),
    }
}

/// Whether some image of `data` has site records in its entry section, the state a rewrite
/// starts from: the loaders' header parse and the entry section's first word, no records.
/// `rewrite` starts its copy early for such a file.
pub fn holds_records(data: &[u8]) -> bool {
    match loader::images(data) {
        Ok(Images::List(list)) => list.iter().any(|(_, image)| {
            matches!(extract::entry_state(image.image()), Ok(EntryState::Records))
        }),
        _ => false,
    }
}

/// What [`produce`] made of a file's bytes.
#[derive(Debug)]
pub enum Produced {
    /// The output's bytes (self-checked) and what was written into each image.
    Rewritten {
        output: Vec<u8>,
        summaries: Vec<Summary>,
    },
    Skipped(String),
}

/// The pipeline on bytes in memory, without the commit: plan, apply, self-check. What
/// [`rewrite_path`] would write, for tests and tools that hold the bytes.
pub fn produce(data: &[u8]) -> Result<Produced> {
    match plan::plan(data)? {
        Plan::Skip(why) => Ok(Produced::Skipped(why)),
        Plan::Rewrite { edits, summaries } => {
            let output = apply_checked(data, &edits)?;
            Ok(Produced::Rewritten { output, summaries })
        }
    }
}

/// Applies a plan's `edits` (of any size) to `original` and self-checks the result: the steps
/// after planning, for a plan from [`plan::plan`] or one made by hand (tests of relaid outputs).
pub fn apply_checked(original: &[u8], edits: &[Edit]) -> Result<Vec<u8>> {
    let output = edit::apply(original, edits)?;
    self_check(&output)?;
    Ok(output)
}

/// The self-check on the patched or relaid image: the `verify` of the subcommand at
/// [`Depth::SelfCheck`]. A rewrite that would not verify is a failure (an llgo-ld bug, kind
/// [`ErrorKind::Internal`]), never an output.
pub fn self_check(patched: &[u8]) -> Result<()> {
    let report = verify::verify_with(patched, Depth::SelfCheck).map_err(|e| {
        Error::new(ErrorKind::Internal, format!("internal: verifying the rewritten image: {e}"))
    })?;
    if !report.ok() {
        return Err(Error::internal(format!(
            "the rewritten image fails its own verification: {}",
            report.problems.join("; ")
        )));
    }
    Ok(())
}
