//! One file, start to finish: read, plan, self-verify, commit. Shared by `llgo-ld rewrite` and
//! the driver shim.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::output::{self, Identity};
use crate::patch;
use crate::rewrite::{self, Plan, Summary};

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

/// Rewrites `path` in place, atomically. `expected` is the identity the caller saw right after
/// the link (the shim): if the file is not that version any more, nothing is touched.
pub fn rewrite_path(path: &Path, expected: Option<Identity>) -> Report {
    let start = Instant::now();
    let outcome = run(path, expected);
    Report { outcome, elapsed: start.elapsed() }
}

fn run(path: &Path, expected: Option<Identity>) -> Outcome {
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
    let (file, mut image) = match output::open(path, &identity) {
        Ok(x) => x,
        Err(e) => return Outcome::Failed(e),
    };
    let (edits, summaries) = match rewrite::plan(&image) {
        Ok(Plan::Skip(why)) => return Outcome::Skipped(why),
        Ok(Plan::Rewrite { edits, summaries }) => (edits, summaries),
        Err(e) => return Outcome::Failed(e),
    };
    // The self-check runs on the patched private copy, with the very `verify` of the subcommand.
    let original_len = image.len() as u64;
    if let Err(e) = patch::apply(&mut image, &edits) {
        return Outcome::Failed(e);
    }
    if let Err(e) = rewrite::self_check(&image) {
        return Outcome::Failed(e);
    }
    match output::commit(path, &identity, &file, original_len, &edits) {
        Ok(()) => Outcome::Rewritten(summaries),
        Err(e) => Outcome::Failed(e),
    }
}
