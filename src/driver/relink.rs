//! The seam for relinking with room (SHIM.md section 6, issue 5).
//!
//! When the rewrite of a fresh link fails only because the table does not fit
//! (`Error::shortfall()` is `Some`), the driver builds a [`RelinkRequest`] and calls
//! [`relink`] once. Everything a second link needs is in the request: the real tool, its
//! `argv[0]` and original arguments, whether it is a driver or a linker line (and the lld
//! flavour), the output, the working directory, the shortfall, the child environment, and the
//! [`Runner`] to run it with (only `spawn.rs` starts processes). [`relink`] hands it to
//! [`crate::room::relink`], which builds the second command line (`room::args`, tested there),
//! runs it through the runner, rewrites the result and replaces the output.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::path::Path;

use super::args::Flavour;
use super::spawn::Invocation;
use super::spawn::Runner;
use super::spawn::Status;
use crate::error::Error;
use crate::output::Identity;
use crate::plan::Summary;
use crate::room;
use crate::room::Relinked;

/// How the real tool's command line is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A clang/gcc line: an extra linker input goes in as `-Xlinker <obj>` (a bare `pad.o`
    /// after a user's `-x c` would be compiled as C; `-Xlinker` is `-Wl,` without the comma
    /// splitting).
    Driver,
    /// A direct linker line: a plain input. The flavour tells ELF (`Lld`, `Bfd`, ...) from
    /// Mach-O (`Ld64`).
    Linker(Flavour),
}

/// Everything a second link needs.
pub struct RelinkRequest<'a> {
    pub program: &'a Path,
    pub argv0: &'a OsStr,
    /// The real tool's arguments exactly as the first link got them.
    pub args: &'a [OsString],
    pub style: Style,
    /// The output as the command line names it, resolved against `cwd` if relative.
    pub output: &'a Path,
    /// The output came from a linker-level `-o` (`-Wl,-o,F`): override it at that level.
    pub output_from_linker_option: bool,
    pub cwd: &'a Path,
    /// Bytes the entry section lacks.
    pub shortfall: u64,
    /// Variables the first link's child got (the llgo-ld chain marker); give them again.
    pub env: &'a [(OsString, OsString)],
    pub runner: &'a dyn Runner,
    /// For log lines: the mode name of this invocation.
    pub mode: &'static str,
}

impl RelinkRequest<'_> {
    /// A quiet invocation (output captured and dropped) of the same tool with `args`.
    pub fn invocation(&self, args: Vec<OsString>) -> Invocation {
        Invocation {
            program: self.program.to_path_buf(),
            argv0: self.argv0.to_owned(),
            args,
            env: self.env.to_vec(),
            env_remove: Vec::new(),
            quiet: true,
            report_channel: false,
        }
    }
}

/// What the relink achieved.
#[derive(Debug)]
pub enum RelinkOutcome {
    /// Nothing tried (not implemented, disabled, several `-arch` values, ...): the first
    /// failure stands.
    NotAttempted(String),
    /// The output now holds the relinked, rewritten and verified program.
    Rewritten { summaries: Vec<Summary>, reserved: u64 },
    /// The second round (with `reserved` bytes of padding) failed; the first output is
    /// untouched.
    Failed { error: Error, reserved: u64 },
}

/// The one call the driver makes when the table does not fit: [`crate::room::relink`], with
/// the second link run by this request's runner (quietly, and with `LLGO_PCLNPOST=0` so that a
/// nested llgo-ld only forwards: this process rewrites the result).
pub fn relink(req: &RelinkRequest<'_>) -> RelinkOutcome {
    let identity = match Identity::of(req.output) {
        Ok(Some(id)) => id,
        Ok(None) => return RelinkOutcome::NotAttempted("the output is gone".into()),
        Err(e) => {
            let error = Error::io(req.output.display(), e);
            return RelinkOutcome::Failed { error, reserved: 0 };
        }
    };
    let room_req = room::RelinkRequest {
        args: req.args,
        style: match req.style {
            Style::Driver => room::Style::Driver,
            Style::Linker(_) => room::Style::Linker,
        },
        from_linker_option: req.output_from_linker_option,
        output: req.output,
        identity,
        shortfall: req.shortfall,
    };
    let mut link = |args: &[OsString]| {
        let mut inv = req.invocation(args.to_vec());
        inv.env.push(("LLGO_PCLNPOST".into(), "0".into()));
        let done = req.runner.run(&inv)?;
        Ok(room::LinkRun {
            success: done.status.success(),
            status: match done.status {
                Status::Exited(code) => format!("exit status {code}"),
                Status::Signaled(sig) => format!("killed by signal {sig}"),
            },
            stderr: done.stderr,
        })
    };
    let outcome = room::relink(&room_req, &mut link);
    tracing::debug!(mode = req.mode, "{outcome}");
    match outcome.result {
        Relinked::Rewritten(summaries) => {
            RelinkOutcome::Rewritten { summaries, reserved: outcome.reserved }
        }
        Relinked::NotAttempted(why) => RelinkOutcome::NotAttempted(why),
        Relinked::Failed(error) => RelinkOutcome::Failed { error, reserved: outcome.reserved },
    }
}
