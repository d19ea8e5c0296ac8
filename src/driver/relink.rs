//! The seam for relinking with room (SHIM.md section 6, issue 5).
//!
//! When the rewrite of a fresh link fails only because the table does not fit
//! (`Error::shortfall()` is `Some`), the driver builds a [`RelinkRequest`] and calls
//! [`relink`] once. Everything a second link needs is in the request: the real tool, its
//! `argv[0]` and original arguments, whether it is a driver or a linker line (and the lld
//! flavour), the output, the working directory, the shortfall, the child environment, and the
//! [`Runner`] to run it with (only `spawn.rs` starts processes). [`RelinkRequest::args_with`]
//! builds the second command line. Issue 5 replaces the body of [`relink`] with a call into
//! `crate::room`; nothing else in the driver needs to change.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::path::Path;

use super::args::Flavour;
use super::spawn::Invocation;
use super::spawn::Runner;
use crate::error::Error;
use crate::rewrite::Summary;

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
    /// The second command line: the original arguments, then `extra_input` as a linker input,
    /// then the output redirected to `new_output` (the last `-o` wins for clang, gcc, lld, bfd,
    /// gold and mold, and a linker-level one wins over the driver's).
    pub fn args_with(&self, extra_input: &Path, new_output: &Path) -> Vec<OsString> {
        let mut args = self.args.to_vec();
        let x = |a: &str| OsString::from(a);
        match self.style {
            Style::Driver => {
                args.extend([x("-Xlinker"), extra_input.as_os_str().to_owned()]);
                if self.output_from_linker_option {
                    args.extend([x("-Xlinker"), x("-o"), x("-Xlinker")]);
                } else {
                    args.push(x("-o"));
                }
            }
            Style::Linker(_) => {
                args.push(extra_input.as_os_str().to_owned());
                args.push(x("-o"));
            }
        }
        args.push(new_output.as_os_str().to_owned());
        args
    }

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
    /// The second round failed; the first output is untouched.
    Failed(Error),
}

/// The one call the driver makes when the table does not fit. Issue 5: `crate::room::relink`.
pub fn relink(req: &RelinkRequest<'_>) -> RelinkOutcome {
    let _ = req;
    RelinkOutcome::NotAttempted("relinking for room is not implemented".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::spawn::MockRunner;

    #[test]
    fn second_command_lines() {
        let runner = MockRunner::default();
        let args: Vec<OsString> = ["m.o", "-o", "prog"].iter().map(OsString::from).collect();
        let mut req = RelinkRequest {
            program: Path::new("/usr/bin/clang-19"),
            argv0: OsStr::new("clang-19"),
            args: &args,
            style: Style::Driver,
            output: Path::new("/w/prog"),
            output_from_linker_option: false,
            cwd: Path::new("/w"),
            shortfall: 48,
            env: &[],
            runner: &runner,
            mode: "cc",
        };
        let s =
            |v: Vec<OsString>| v.into_iter().map(|a| a.into_string().unwrap()).collect::<Vec<_>>();
        let (pad, out) = (Path::new("/t/pad.o"), Path::new("/t/d/prog"));
        assert_eq!(
            s(req.args_with(pad, out)),
            ["m.o", "-o", "prog", "-Xlinker", "/t/pad.o", "-o", "/t/d/prog"]
        );
        req.output_from_linker_option = true;
        assert_eq!(
            s(req.args_with(pad, out)),
            [
                "m.o",
                "-o",
                "prog",
                "-Xlinker",
                "/t/pad.o",
                "-Xlinker",
                "-o",
                "-Xlinker",
                "/t/d/prog"
            ]
        );
        req.style = Style::Linker(Flavour::Lld);
        assert_eq!(
            s(req.args_with(pad, out)),
            ["m.o", "-o", "prog", "/t/pad.o", "-o", "/t/d/prog"]
        );
        let inv = req.invocation(vec![]);
        assert!(inv.quiet && !inv.report_channel);
    }
}
