//! Room for the table: when the rewrite of a fresh link fails only because the blob does not fit
//! the entry section, link again with a padding object that adds zero bytes to that section,
//! rewrite the second result, and only then replace the output (docs/room.md;
//! docs/room.md has the reasoning).
//!
//! The pure parts are [`pad`] (the object and its size) and [`args`] (the second command line);
//! [`relink`] orchestrates. Processes stay with the driver: it passes the function that runs
//! the real tool. Files go through [`crate::output`].

pub mod args;
pub mod pad;

use std::ffi::OsStr;
use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

pub use args::Style;

use crate::error::{Error, ErrorKind};
use crate::output::{self, Identity, Scratch};
use crate::plan::Summary;
use crate::postlink::{self, Outcome};

/// `LLGO_LD_RESERVE`: whether llgo-ld makes room for a table that does not fit.
pub const RESERVE_ENV: &str = "LLGO_LD_RESERVE";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reserve {
    /// `0` (or `off`, `no`, `false`): never relink.
    Off,
    /// The default: relink once when the first link's table does not fit.
    OnShortfall,
}

impl Reserve {
    /// The policy an `LLGO_LD_RESERVE` value asks for. The driver reads it once; [`relink`]
    /// itself does not look (a caller that asks for a relink gets one).
    pub fn parse(value: Option<&OsStr>) -> Reserve {
        match value.and_then(OsStr::to_str).map(str::to_ascii_lowercase).as_deref() {
            Some("0" | "off" | "no" | "false") => Reserve::Off,
            _ => Reserve::OnShortfall,
        }
    }
}

/// What the driver knows about a link whose table did not fit.
#[derive(Clone, Copy, Debug)]
pub struct RelinkRequest<'a> {
    /// The arguments the first link received, after any leading arguments of an override such
    /// as `LLGO_LD_CC="clang-19 --target=..."` (the runner adds those again).
    pub args: &'a [OsString],
    pub style: Style,
    /// The output was named by a linker-level option on a driver line (`-Wl,-o,FILE`,
    /// `-Xlinker -o`), not by the driver's `-o`.
    pub from_linker_option: bool,
    /// The output as the driver rewrites it (relative to llgo-ld's working directory).
    pub output: &'a Path,
    /// The output's identity right after the first link: the first output is replaced only if
    /// it is still that file.
    pub identity: Identity,
    /// [`Error::shortfall`] of the failed rewrite.
    pub shortfall: u64,
}

/// The result of [`relink`], with the numbers for the log line.
#[derive(Debug)]
pub struct RelinkOutcome {
    pub shortfall: u64,
    /// Bytes of padding in the second link (0 when none was attempted).
    pub reserved: u64,
    pub result: Relinked,
    /// Time of the whole round: padding object, second link, rewrite, replacement.
    pub elapsed: Duration,
}

#[derive(Debug)]
pub enum Relinked {
    /// The output now is the second link, rewritten and verified.
    Rewritten(Vec<Summary>),
    /// No second link was run, and why; the output is the first link's.
    NotAttempted(String),
    /// The second round failed; the output is still exactly the first link's.
    Failed(Error),
}

impl fmt::Display for RelinkOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Relinked::NotAttempted(why) => {
                write!(f, "no relink (table short by {} bytes): {why}", self.shortfall)
            }
            Relinked::Rewritten(summaries) => {
                write!(
                    f,
                    "relinked with {} reserved bytes (table was short by {}): rewritten: ",
                    self.reserved, self.shortfall
                )?;
                for (i, s) in summaries.iter().enumerate() {
                    write!(f, "{}{s}", if i > 0 { "; " } else { "" })?;
                }
                Ok(())
            }
            Relinked::Failed(e) => write!(
                f,
                "relinked with {} reserved bytes (table was short by {}): failed, output left as \
                 first linked: {e}",
                self.reserved, self.shortfall
            ),
        }
    }
}

/// How the second link ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkRun {
    pub success: bool,
    /// For messages: `"exit status 1"`, `"signal 9"`.
    pub status: String,
    /// What it wrote to stderr (captured; logged when it failed, dropped otherwise).
    pub stderr: Vec<u8>,
}

/// Runs the real tool once with the given arguments. The driver supplies it: the same program,
/// leading arguments, `argv[0]`, environment and working directory as the first link, signals
/// forwarded, stdin empty, stdout and stderr captured, and `LLGO_PCLNPOST=0` added to the
/// environment so that a nested llgo-ld (the user's linker under a driver line) only forwards:
/// this process rewrites the result.
pub type Link<'l> = dyn FnMut(&[OsString]) -> io::Result<LinkRun> + 'l;

/// Links again with room for the table (docs/room.md). Whatever happens, the output is
/// either the first link's, untouched, or the rewritten second link's.
pub fn relink(req: &RelinkRequest<'_>, link: &mut Link<'_>) -> RelinkOutcome {
    let start = Instant::now();
    let mut reserved = 0;
    let result = match round(req, link, &mut reserved) {
        Ok(summaries) => Relinked::Rewritten(summaries),
        Err(Stop::Not(why)) => Relinked::NotAttempted(why),
        Err(Stop::Failed(e)) => Relinked::Failed(e),
    };
    RelinkOutcome { shortfall: req.shortfall, reserved, result, elapsed: start.elapsed() }
}

enum Stop {
    Not(String),
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

fn round(
    req: &RelinkRequest<'_>,
    link: &mut Link<'_>,
    reserved: &mut u64,
) -> Result<Vec<Summary>, Stop> {
    if req.style == Style::Driver && args::several_archs(req.args) {
        return Err(Stop::Not("several -arch values (a universal binary)".into()));
    }
    let target = pad::Target::of(&head(req.output)?)
        .ok_or_else(|| Stop::Not("not a thin x86_64 or aarch64 ELF or Mach-O executable".into()))?;
    let size = pad::reservation(req.shortfall)
        .ok_or_else(|| Stop::Not(format!("shortfall {} out of range", req.shortfall)))?;
    let name = req
        .output
        .file_name()
        .ok_or_else(|| Stop::Not(format!("{}: no file name", req.output.display())))?;

    let scratch = Scratch::new()?;
    let pad_path = scratch.write("llgo-ld-pad.o", &pad::object(target, size)?)?;
    // Same basename: the Mach-O signature's identifier is the output's file name.
    let second = scratch.subdir("out")?.join(name);
    let argv = args::second_link(req.style, req.args, req.from_linker_option, &second, &pad_path);
    *reserved = size;
    tracing::debug!(reserved = size, shortfall = req.shortfall, args = ?argv, "second link");

    let run = link(&argv).map_err(|e| Error::io("second link", e))?;
    if !run.success {
        // The info line (one per link, written by the driver) carries the failure; the
        // captured output is for whoever turns on debug.
        tracing::debug!(
            status = %run.status,
            stderr = ?String::from_utf8_lossy(&run.stderr),
            "second link failed"
        );
        return Err(
            Error::new(ErrorKind::Io, format!("second link failed ({})", run.status)).into()
        );
    }
    if Identity::of(req.output).map_err(|e| Error::io(req.output.display(), e))?
        != Some(req.identity)
    {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{}: changed during the second link", req.output.display()),
        )
        .into());
    }
    // The second link's output lives in llgo-ld's own scratch directory and nobody else has
    // it: it is rewritten in place, as the shim rewrites a fresh link, and `install` then
    // copies it beside the output (one copy, not a copy to rewrite and another to install).
    let written = Identity::of(&second)
        .map_err(|e| Error::io(second.display(), e))?
        .ok_or_else(|| Error::new(ErrorKind::Io, "second link: no output was written"))?;
    match postlink::rewrite_fresh(&second, written).outcome {
        Outcome::Rewritten(summaries) => {
            output::install(req.output, &req.identity, &second)?;
            if let Err(e) = scratch.remove() {
                tracing::debug!("removing the scratch directory: {e}");
            }
            Ok(summaries)
        }
        Outcome::Skipped(why) => Err(Error::new(
            ErrorKind::Malformed,
            format!("second link: rewrite skipped the output: {why}"),
        )
        .into()),
        Outcome::Failed(e) => Err(e.context("second link").into()),
    }
}

/// The first bytes of the output: enough for [`pad::Target::of`].
fn head(path: &Path) -> Result<Vec<u8>, Error> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(|e| Error::io(path.display(), e))?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_values() {
        for v in ["0", "off", "OFF", "no", "false"] {
            assert_eq!(Reserve::parse(Some(OsStr::new(v))), Reserve::Off, "{v}");
        }
        for v in [None, Some("1"), Some(""), Some("on"), Some("whatever")] {
            assert_eq!(Reserve::parse(v.map(OsStr::new)), Reserve::OnShortfall, "{v:?}");
        }
    }
}
