//! One file, start to finish: read, plan, self-verify, commit. Shared by `llgo-ld rewrite` and
//! the driver shim.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::output::{self, Identity};
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
    if output::probe(path, &identity) == Some(false) {
        return Outcome::Skipped("no LLGo sections".into());
    }
    let (file, data) = match output::read(path, &identity) {
        Ok(x) => x,
        Err(e) => return Outcome::Failed(e),
    };
    let plan = match rewrite::plan_verified(&data) {
        Ok(plan) => plan,
        Err(e) => return Outcome::Failed(e),
    };
    match plan {
        Plan::Skip(why) => Outcome::Skipped(why),
        Plan::Rewrite { edits, summaries } => {
            match output::commit(path, &identity, &file, data.len() as u64, &edits) {
                Ok(()) => Outcome::Rewritten(summaries),
                Err(e) => Outcome::Failed(e),
            }
        }
    }
}
