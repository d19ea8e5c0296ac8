//! One file, start to finish: read, plan, self-verify, commit. Shared by `llgo-ld rewrite` and
//! the driver shim.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::output::{self, Identity};
use crate::edit;
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
    // Patching it copies the edited pages of the mapping, which is best done before a second
    // thread runs: each copied page would cost a TLB shootdown of that thread's CPU.
    let original_len = image.len() as u64;
    if let Err(e) = edit::apply_in_place(&mut image, &edits) {
        return Outcome::Failed(e);
    }
    // From here on the file will almost certainly be rewritten, so the kernel copies the
    // original into the temporary file on a second thread while this one self-checks. A failed
    // check drops the staged copy, which removes the temporary file.
    let (checked, staged) = std::thread::scope(|s| {
        let copy = std::thread::Builder::new()
            .spawn_scoped(s, || output::stage(path, &file, original_len));
        let checked = rewrite::self_check(&image);
        let staged = match copy {
            Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No second thread to be had: copy now.
            Err(_) => output::stage(path, &file, original_len),
        };
        (checked, staged)
    });
    if let Err(e) = checked {
        return Outcome::Failed(e);
    }
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => return Outcome::Failed(e),
    };
    match staged.commit(&identity, &edits) {
        Ok(()) => Outcome::Rewritten(summaries),
        Err(e) => Outcome::Failed(e),
    }
}
