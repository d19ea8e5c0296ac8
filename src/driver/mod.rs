//! The driver shim (docs/usage.md and docs/design.md): find the real tool, run it with the original
//! arguments, and when it linked an executable, rewrite that file's function table.
//!
//! Phases of one invocation, each a plain function:
//! 1. [`mode::detect`]: the role, from the basename of `argv[0]` and the first argument.
//! 2. [`response_file::expand`] + [`args::classify`]: the output, or why there is none (the
//!    expansion is only read; the real tool gets the original arguments).
//! 3. [`resolve`]: the real tool (overrides, PATH walk skipping llgo-ld, lld lookup).
//! 4. [`spawn::Runner::run`]: the link, with signals forwarded; a failed link ends here.
//! 5. [`post_link`]: identity check, [`crate::postlink::rewrite_path`] (which decides a file
//!    without LLGo sections from its headers alone), the relink for room
//!    ([`crate::room::relink`]) when the table does not fit, STRICT handling.
//! 6. [`crate::log::link_line`]: one info line.

pub mod args;
pub mod mode;
pub mod real_tool;
pub mod response_file;
pub mod spawn;

use std::ffi::OsStr;
use std::ffi::OsString;
use std::path::Path;
use std::path::PathBuf;
use std::time::Instant;

use args::Classification;
use args::Flavour;
use args::Syntax;
use mode::Mode;
use real_tool::RealTool;
use real_tool::SelfId;
pub use spawn::Exit;
use spawn::Invocation;
use spawn::Runner;
use spawn::Status;

use crate::log::Counts;
use crate::log::LinkLine;
use crate::output::Identity;
use crate::postlink;
use crate::postlink::Outcome;
use crate::room;
use crate::room::Relinked;

/// The environment the driver reads, gathered once (tests build it by hand).
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub path: Option<OsString>,
    /// `LLGO_LD_CC`, `LLGO_LD_CXX`, `LLGO_LD_LINKER`.
    pub cc: Option<OsString>,
    pub cxx: Option<OsString>,
    pub linker: Option<OsString>,
    /// `LLGO_PCLNPOST=0`: forward only.
    pub pclnpost_off: bool,
    /// `LLGO_LD_STRICT=1`: a failed rewrite is an error.
    pub strict: bool,
    /// `LLGO_LD_RESERVE=0`: never relink for room.
    pub reserve_off: bool,
    pub cwd: PathBuf,
}

impl Env {
    pub fn from_process() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Env {
            path: std::env::var_os("PATH"),
            cc: var("LLGO_LD_CC"),
            cxx: var("LLGO_LD_CXX"),
            linker: var("LLGO_LD_LINKER"),
            pclnpost_off: var("LLGO_PCLNPOST").is_some_and(|v| v == "0"),
            strict: var("LLGO_LD_STRICT").is_some_and(|v| v != "0"),
            reserve_off: var(crate::room::RESERVE_ENV).is_some_and(|v| {
                crate::room::Reserve::parse(Some(&v)) == crate::room::Reserve::Off
            }),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }
}

/// The whole program for a multicall `argv` (`argv[0]` included): tool subcommands or driver.
pub fn main(argv: Vec<OsString>) -> Exit {
    let (argv0, rest) = match argv.split_first() {
        Some((a, r)) => (a.clone(), r.to_vec()),
        None => (OsString::from("llgo-ld"), Vec::new()),
    };
    let me = SelfId::current();
    let path = std::env::var_os("PATH");
    let mut is_program = |w: &OsStr| real_tool::find_program(w, path.as_deref(), &me).is_some();
    let mode = mode::detect(&argv0, rest.first().map(OsString::as_os_str), &mut is_program);
    if mode == Mode::Tool {
        let args: Vec<String> = rest.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        return Exit::Code(crate::cli::run(&args));
    }
    crate::log::init();
    run(&mode, &argv0, &rest, &Env::from_process(), &me, &spawn::ProcessRunner)
}

/// The resolved real tool plus how to read its command line.
#[derive(Debug)]
struct Resolved {
    tool: RealTool,
    syntax: Syntax,
}

/// Splits off the explicit program word; the rest are the user's arguments for the tool.
fn user_args<'a>(mode: &Mode, args: &'a [OsString]) -> &'a [OsString] {
    match mode {
        Mode::Explicit => args.get(1..).unwrap_or_default(),
        _ => args,
    }
}

fn basename(p: &OsStr) -> &OsStr {
    Path::new(p).file_name().unwrap_or(p)
}

/// Finds the real tool for `mode` (docs/usage.md, "Modes").
fn resolve(
    mode: &Mode,
    argv0: &OsStr,
    args: &[OsString],
    expanded: &[OsString],
    env: &Env,
    me: &SelfId,
) -> Result<Resolved, String> {
    let path = env.path.as_deref();
    let no_prefix =
        |program: PathBuf, argv0: OsString| RealTool { program, argv0, prefix_args: Vec::new() };
    match mode {
        Mode::Tool => Err("internal: tool mode has no real tool".into()),
        Mode::Explicit => {
            let word = args.first().ok_or("no program named")?;
            let program = real_tool::find_program(word, path, me)
                .ok_or_else(|| format!("'{}' not found", word.to_string_lossy()))?;
            let syntax = match mode::masquerade(&basename(word).to_string_lossy()) {
                Some(Mode::MasqueradeLinker { flavour }) => Syntax::Linker(flavour),
                Some(Mode::LlgoLinker { .. }) => Syntax::Linker(Flavour::Lld),
                _ => Syntax::Driver,
            };
            let argv0 = if real_tool::is_lld(&program) && syntax != Syntax::Driver {
                word.clone()
            } else {
                real_tool::argv0_for(word, &program, path)
            };
            Ok(Resolved { tool: no_prefix(program, argv0), syntax })
        }
        Mode::Driver { cxx } => {
            let (var, value) =
                if *cxx { ("LLGO_LD_CXX", &env.cxx) } else { ("LLGO_LD_CC", &env.cc) };
            let tool = match value {
                Some(v) => {
                    let (program, word, prefix_args) = real_tool::from_override(var, v, path, me)?;
                    let argv0 = real_tool::argv0_for(&word, &program, path);
                    RealTool { program, argv0, prefix_args }
                }
                None => {
                    let name = basename(argv0);
                    let program = real_tool::find_program(name, path, me).ok_or_else(|| {
                        format!(
                            "no real '{}' on PATH other than llgo-ld itself; set {var}",
                            name.to_string_lossy()
                        )
                    })?;
                    let argv0 = real_tool::argv0_for(name, &program, path);
                    no_prefix(program, argv0)
                }
            };
            Ok(Resolved { tool, syntax: Syntax::Driver })
        }
        Mode::MasqueradeLinker { flavour } => {
            let darwin = flavour.is_darwin() || args::looks_darwin(expanded);
            if let Some(v) = &env.linker {
                return from_linker_override(v, darwin, path, me);
            }
            let name = basename(argv0);
            if let Some(program) = real_tool::find_program(name, path, me) {
                let argv0 = if real_tool::is_lld(&program) {
                    real_tool::lld_argv0(darwin)
                } else {
                    real_tool::argv0_for(name, &program, path)
                };
                let flavour = real_tool::flavour_of(&program, darwin);
                return Ok(Resolved {
                    tool: no_prefix(program, argv0),
                    syntax: Syntax::Linker(flavour),
                });
            }
            if matches!(flavour, Flavour::Lld | Flavour::Ld64) {
                return find_lld(darwin, path, me);
            }
            Err(format!(
                "no real '{}' on PATH other than llgo-ld itself; set LLGO_LD_LINKER",
                name.to_string_lossy()
            ))
        }
        Mode::LlgoLinker { darwin } => {
            let darwin = *darwin || args::looks_darwin(expanded);
            match &env.linker {
                Some(v) => from_linker_override(v, darwin, path, me),
                None => find_lld(darwin, path, me),
            }
        }
    }
}

fn from_linker_override(
    value: &OsStr,
    darwin: bool,
    path: Option<&OsStr>,
    me: &SelfId,
) -> Result<Resolved, String> {
    let (program, word, prefix_args) = real_tool::from_override("LLGO_LD_LINKER", value, path, me)?;
    let argv0 = if real_tool::is_lld(&program) {
        real_tool::lld_argv0(darwin)
    } else {
        real_tool::argv0_for(&word, &program, path)
    };
    let flavour = real_tool::flavour_of(&program, darwin);
    Ok(Resolved { tool: RealTool { program, argv0, prefix_args }, syntax: Syntax::Linker(flavour) })
}

fn find_lld(darwin: bool, path: Option<&OsStr>, me: &SelfId) -> Result<Resolved, String> {
    let name = if darwin { "ld64.lld" } else { "ld.lld" };
    let program = real_tool::find_lld(darwin, path, me).ok_or_else(|| {
        format!(
            "no {name} found (tried {name}, {name}-NN on PATH, /usr/lib/llvm-NN/bin/{name}); set \
             LLGO_LD_LINKER"
        )
    })?;
    tracing::debug!("lld chosen: {}", program.display());
    let flavour = if darwin { Flavour::Ld64 } else { Flavour::Lld };
    Ok(Resolved {
        tool: RealTool { program, argv0: real_tool::lld_argv0(darwin), prefix_args: Vec::new() },
        syntax: Syntax::Linker(flavour),
    })
}

/// Runs one driver invocation (every mode but [`Mode::Tool`]) with `runner`.
pub fn run(
    mode: &Mode,
    argv0: &OsStr,
    args: &[OsString],
    env: &Env,
    me: &SelfId,
    runner: &dyn Runner,
) -> Exit {
    let mut line = LinkLine { mode: mode.name(), ..LinkLine::default() };
    let start = Instant::now();
    if me.chain.len() >= real_tool::MAX_CHAIN {
        let msg = format!(
            "{} nested llgo-ld invocations ({}): a loop between llgo-ld and a real tool?",
            me.chain.len(),
            real_tool::CHAIN_VAR
        );
        return fail_early(&mut line, &msg, 127);
    }
    let user = user_args(mode, args);
    let expanded = response_file::expand(user, &mut response_file::load_from_disk);
    let resolved = match resolve(mode, argv0, args, &expanded, env, me) {
        Ok(r) => r,
        Err(msg) => return fail_early(&mut line, &msg, 127),
    };
    line.tool = resolved.tool.program.display().to_string();
    let class = args::classify(resolved.syntax, &expanded);
    tracing::debug!("{:?} {:?}: {class:?}", mode, resolved.tool);
    let output = match &class {
        Classification::Link { output, .. } => Some(output.clone()),
        Classification::PassThrough(_) => None,
    };
    if let Some(o) = &output {
        line.output = o.display().to_string();
    }
    let before = output.as_deref().and_then(|o| Identity::of(o).ok().flatten());
    let mut child_args = resolved.tool.prefix_args.clone();
    child_args.extend_from_slice(user);
    let inv = Invocation {
        program: resolved.tool.program.clone(),
        argv0: resolved.tool.argv0.clone(),
        args: child_args,
        env: vec![(OsString::from(real_tool::CHAIN_VAR), me.child_chain())],
        env_remove: Vec::new(),
        quiet: false,
        report_channel: matches!(mode, Mode::Explicit | Mode::Driver { .. }),
    };
    let finished = match runner.run(&inv) {
        Ok(f) => f,
        Err(e) => {
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            let msg = format!("{}: {e}", resolved.tool.program.display());
            return fail_early(&mut line, &msg, code);
        }
    };
    if !finished.status.success() {
        line.outcome = format!("link failed: {:?}", finished.status);
        finish_line(&mut line, start, false);
        return finished.status.into();
    }
    let Classification::Link { output, from_linker_option } = class else {
        let Classification::PassThrough(why) = class else { return Exit::Code(0) };
        line.outcome = format!("skipped: {why}");
        finish_line(&mut line, start, false);
        return Exit::Code(0);
    };
    if finished.nested_handled {
        line.outcome = "skipped: a nested llgo-ld handled the link".into();
        finish_line(&mut line, start, true);
        return Exit::Code(0);
    }
    spawn::report_handled_to_parent();
    let ctx = PostLink {
        output: &output,
        from_linker_option,
        before,
        env,
        tool: &resolved,
        inv: &inv,
        runner,
        mode,
    };
    let exit = post_link(&ctx, &mut line);
    finish_line(&mut line, start, false);
    exit
}

fn fail_early(line: &mut LinkLine, msg: &str, code: i32) -> Exit {
    eprintln!("llgo-ld: error: {msg}");
    line.outcome = format!("failed: {msg}");
    crate::log::link_line(line, false);
    Exit::Code(code)
}

fn finish_line(line: &mut LinkLine, start: Instant, outer: bool) {
    line.total = start.elapsed();
    crate::log::link_line(line, outer);
}

struct PostLink<'a> {
    output: &'a Path,
    from_linker_option: bool,
    before: Option<Identity>,
    env: &'a Env,
    tool: &'a Resolved,
    inv: &'a Invocation,
    runner: &'a dyn Runner,
    mode: &'a Mode,
}

/// After a successful link: decide, rewrite, maybe relink, apply STRICT.
fn post_link(ctx: &PostLink<'_>, line: &mut LinkLine) -> Exit {
    if ctx.env.pclnpost_off {
        line.outcome = "skipped: LLGO_PCLNPOST=0".into();
        return Exit::Code(0);
    }
    let after = match Identity::of(ctx.output) {
        Ok(Some(id)) => id,
        Ok(None) => {
            line.outcome = "skipped: the link wrote no output".into();
            return Exit::Code(0);
        }
        Err(e) => {
            line.outcome = format!("skipped: {e}");
            return Exit::Code(0);
        }
    };
    if ctx.before == Some(after) {
        line.outcome = "skipped: output not written by this link".into();
        return Exit::Code(0);
    }
    if !after.regular {
        line.outcome = "skipped: not a regular file".into();
        return Exit::Code(0);
    }
    let report = postlink::rewrite_fresh(ctx.output, after);
    line.elapsed = report.elapsed;
    let error = match report.outcome {
        Outcome::Rewritten(summaries) => {
            line.counts = Some(Counts::of(&summaries));
            line.outcome = crate::log::rewritten(&summaries);
            return Exit::Code(0);
        }
        Outcome::Skipped(why) => {
            line.outcome = format!("skipped: {why}");
            return Exit::Code(0);
        }
        Outcome::Failed(e) => e,
    };
    // Another process (a concurrent link to the same output) replaced the file meanwhile: its
    // own llgo-ld handles that version. Not a failure of this one.
    // (The in-place commit renames the output away and back when it fails, which changes only
    // its ctime: `same_version` ignores that.)
    if !Identity::of(ctx.output).ok().flatten().is_some_and(|now| now.same_version(&after)) {
        line.outcome = "skipped: output replaced by another process meanwhile".into();
        return Exit::Code(0);
    }
    let error = match error.shortfall() {
        Some(shortfall) if !ctx.env.reserve_off => match try_relink(ctx, shortfall, error, line) {
            Ok(()) => return Exit::Code(0),
            Err(e) => e,
        },
        _ => error,
    };
    line.outcome = format!("failed: {error}");
    if !ctx.env.strict {
        return Exit::Code(0);
    }
    eprintln!("llgo-ld: error: {}: {error}", ctx.output.display());
    // Remove the output as a failing linker does, unless somebody replaced it meanwhile.
    if Identity::of(ctx.output).ok().flatten().is_some_and(|now| now.same_version(&after)) {
        let _ = crate::output::remove(ctx.output);
    }
    Exit::Code(1)
}

/// The one call when the table does not fit: [`crate::room::relink`], with the second link run
/// by this invocation's runner (quietly, and with `LLGO_PCLNPOST=0` so that a nested llgo-ld
/// only forwards: this process rewrites the result).
fn try_relink(
    ctx: &PostLink<'_>,
    shortfall: u64,
    first: crate::error::Error,
    line: &mut LinkLine,
) -> Result<(), crate::error::Error> {
    let output = ctx.env.cwd.join(ctx.output);
    let identity = match Identity::of(&output) {
        Ok(Some(id)) => id,
        Ok(None) => {
            tracing::debug!("no relink: the output is gone");
            return Err(first);
        }
        Err(e) => {
            line.relink = true;
            return Err(crate::error::Error::io(output.display(), e).context("relink for room"));
        }
    };
    let req = room::RelinkRequest {
        args: &ctx.inv.args,
        style: match ctx.tool.syntax {
            Syntax::Driver => room::Style::Driver,
            Syntax::Linker(_) => room::Style::Linker,
        },
        from_linker_option: ctx.from_linker_option,
        output: &output,
        identity,
        shortfall,
    };
    let mut link = |args: &[OsString]| {
        let inv = Invocation {
            program: ctx.inv.program.clone(),
            argv0: ctx.inv.argv0.clone(),
            args: args.to_vec(),
            env: ctx
                .inv
                .env
                .iter()
                .cloned()
                .chain([("LLGO_PCLNPOST".into(), "0".into())])
                .collect(),
            env_remove: Vec::new(),
            quiet: true,
            report_channel: false,
        };
        let done = ctx.runner.run(&inv)?;
        Ok(room::LinkRun {
            success: done.status.success(),
            status: match done.status {
                Status::Exited(code) => format!("exit status {code}"),
                Status::Signaled(sig) => format!("killed by signal {sig}"),
            },
            stderr: done.stderr,
        })
    };
    let outcome = room::relink(&req, &mut link);
    tracing::debug!(mode = ctx.mode.name(), "{outcome}");
    match outcome.result {
        Relinked::Rewritten(summaries) => {
            line.counts = Some(Counts::of(&summaries));
            line.outcome = crate::log::rewritten(&summaries);
            line.relink = true;
            line.reserved = outcome.reserved;
            Ok(())
        }
        Relinked::Failed(error) => {
            line.relink = true;
            line.reserved = outcome.reserved;
            Err(error.context("relink for room"))
        }
        Relinked::NotAttempted(why) => {
            tracing::debug!("no relink: {why}");
            Err(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::spawn::Finished;
    use super::spawn::MockRunner;
    use super::spawn::Status;
    use super::*;

    struct Case {
        dir: tempfile::TempDir,
        out: PathBuf,
    }

    fn case() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("prog");
        Case { dir, out }
    }

    fn env(c: &Case) -> Env {
        Env { cwd: c.dir.path().to_path_buf(), ..Env::default() }
    }

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    /// A runner that "links" by writing `bytes` to `out`, then answers `status`.
    fn linker(out: &Path, bytes: &'static [u8], status: Status) -> MockRunner {
        let mut m = MockRunner::answering(status);
        let out = out.to_path_buf();
        m.effect = Some(Box::new(move |_| std::fs::write(&out, bytes).unwrap()));
        m
    }

    fn explicit(c: &Case, extra: &[&str], env: &Env, runner: &MockRunner) -> Exit {
        let mut args = os(&["/bin/sh"]);
        args.extend(os(extra));
        args.extend([OsString::from("-o"), c.out.clone().into_os_string()]);
        run(&Mode::Explicit, OsStr::new("llgo-ld"), &args, env, &SelfId::default(), runner)
    }

    /// An ELF64 x86_64 executable header whose section names include the LLGo entry section
    /// (so the header-only check says "maybe") but whose program headers lie outside the file:
    /// the full reader fails on it.
    fn broken_llgo_elf() -> &'static [u8] {
        static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        BYTES.get_or_init(|| {
            let names = b"\0llgo_funcinfo_entry\0llgo_funcinfo_stubsite\0.text\0.shstrtab\0";
            let mut d = vec![0u8; 0x40];
            d[..7].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1]);
            d[0x10] = 2; // ET_EXEC
            d[0x12] = 0x3e; // EM_X86_64
            d[0x20..0x28].copy_from_slice(&0xffff_0000u64.to_le_bytes()); // e_phoff
            d[0x36] = 56; // e_phentsize
            d[0x38] = 1; // e_phnum
            d.extend_from_slice(names);
            while d.len() % 8 != 0 {
                d.push(0);
            }
            let shoff = d.len() as u64;
            d[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
            d[0x3a] = 64; // e_shentsize
            d[0x3c] = 4; // e_shnum
            d[0x3e] = 3; // e_shstrndx
            d.extend_from_slice(&[0u8; 64]);
            // (sh_name, sh_type, sh_offset, sh_size): entry, stub (16 bytes each, pointing at
            // the names, which is as good as any bytes), the name table.
            for (name, kind, off, size) in
                [(1u32, 1u32, 0x40u64, 16u64), (21, 1, 0x40, 16), (50, 3, 0x40, names.len() as u64)]
            {
                let mut h = [0u8; 64];
                h[0..4].copy_from_slice(&name.to_le_bytes());
                h[4..8].copy_from_slice(&kind.to_le_bytes());
                h[0x18..0x20].copy_from_slice(&off.to_le_bytes());
                h[0x20..0x28].copy_from_slice(&size.to_le_bytes());
                d.extend_from_slice(&h);
            }
            d
        })
    }

    #[test]
    fn the_child_gets_the_original_arguments_and_the_chain_marker() {
        let c = case();
        std::fs::write(c.dir.path().join("r.rsp"), "-c x.c").unwrap();
        let runner = MockRunner::answering(Status::Exited(0));
        let rsp = format!("@{}", c.dir.path().join("r.rsp").display());
        let me = SelfId { id: Some((1, 2)), chain: vec![(3, 4)] };
        let args = os(&["/bin/sh", &rsp, "-o", "x.o"]);
        let exit = run(&Mode::Explicit, OsStr::new("llgo-ld"), &args, &env(&c), &me, &runner);
        assert_eq!(exit, Exit::Code(0));
        let calls = runner.calls.borrow();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].program, PathBuf::from("/bin/sh"));
        assert_eq!(calls[0].argv0, OsString::from("/bin/sh"));
        assert_eq!(calls[0].args, os(&[&rsp, "-o", "x.o"]), "unexpanded, program word removed");
        assert_eq!(
            calls[0].env,
            vec![(OsString::from("LLGO_LD_CHAIN"), OsString::from("3:4,1:2"))]
        );
        assert!(calls[0].report_channel && !calls[0].quiet);
    }

    #[test]
    fn a_failed_link_or_a_signal_is_passed_on_and_nothing_is_touched() {
        let c = case();
        std::fs::write(&c.out, b"stale").unwrap();
        let runner = MockRunner::answering(Status::Exited(3));
        assert_eq!(explicit(&c, &[], &env(&c), &runner), Exit::Code(3));
        let runner = MockRunner::answering(Status::Signaled(11));
        assert_eq!(explicit(&c, &[], &env(&c), &runner), Exit::Signal(11));
        assert_eq!(std::fs::read(&c.out).unwrap(), b"stale");
    }

    #[test]
    fn what_is_not_a_fresh_llgo_executable_is_left_alone_even_under_strict() {
        let strict = |c: &Case| Env { strict: true, ..env(c) };
        // an output the link did not write (a probe)
        let c = case();
        std::fs::write(&c.out, broken_llgo_elf()).unwrap();
        let runner = MockRunner::answering(Status::Exited(0));
        assert_eq!(explicit(&c, &["-Wl,--version"], &strict(&c), &runner), Exit::Code(0));
        assert_eq!(std::fs::read(&c.out).unwrap(), broken_llgo_elf());
        // no executable: -c
        let runner = linker(&c.out, b"\x7fELF", Status::Exited(0));
        assert_eq!(explicit(&c, &["-c"], &strict(&c), &runner), Exit::Code(0));
        // not an ELF or Mach-O file, decided from the header
        let runner = linker(&c.out, b"#!/bin/sh\n", Status::Exited(0));
        assert_eq!(explicit(&c, &[], &strict(&c), &runner), Exit::Code(0));
        assert_eq!(std::fs::read(&c.out).unwrap(), b"#!/bin/sh\n");
        // LLGO_PCLNPOST=0
        let runner = linker(&c.out, broken_llgo_elf(), Status::Exited(0));
        let off = Env { pclnpost_off: true, ..strict(&c) };
        assert_eq!(explicit(&c, &[], &off, &runner), Exit::Code(0));
        assert_eq!(std::fs::read(&c.out).unwrap(), broken_llgo_elf());
    }

    #[test]
    fn a_failed_rewrite_is_silent_by_default_and_an_error_under_strict() {
        let c = case();
        let runner = linker(&c.out, broken_llgo_elf(), Status::Exited(0));
        assert_eq!(explicit(&c, &[], &env(&c), &runner), Exit::Code(0));
        assert_eq!(std::fs::read(&c.out).unwrap(), broken_llgo_elf(), "left as linked");
        let runner = linker(&c.out, broken_llgo_elf(), Status::Exited(0));
        let strict = Env { strict: true, ..env(&c) };
        assert_eq!(explicit(&c, &[], &strict, &runner), Exit::Code(1));
        assert!(!c.out.exists(), "STRICT removes the output like a failing linker");
    }

    #[test]
    fn a_nested_llgo_ld_that_handled_the_link_leaves_nothing_to_do() {
        let c = case();
        let runner = linker(&c.out, broken_llgo_elf(), Status::Exited(0));
        runner.answers.borrow_mut().clear();
        runner.answers.borrow_mut().push_back(Ok(Finished {
            status: Status::Exited(0),
            nested_handled: true,
            stderr: Vec::new(),
        }));
        let strict = Env { strict: true, ..env(&c) };
        assert_eq!(explicit(&c, &[], &strict, &runner), Exit::Code(0));
        assert_eq!(std::fs::read(&c.out).unwrap(), broken_llgo_elf());
    }

    #[test]
    fn no_real_tool_is_127() {
        let c = case();
        let runner = MockRunner::default();
        let e = Env { path: Some(OsString::from("/nonexistent")), ..env(&c) };
        let exit = run(
            &Mode::Driver { cxx: false },
            OsStr::new("cc"),
            &[],
            &e,
            &SelfId::default(),
            &runner,
        );
        assert_eq!(exit, Exit::Code(127));
        assert!(runner.calls.borrow().is_empty());
        let deep = SelfId { chain: vec![(1, 1); real_tool::MAX_CHAIN], ..SelfId::default() };
        let exit =
            run(&Mode::Explicit, OsStr::new("llgo-ld"), &os(&["/bin/sh"]), &e, &deep, &runner);
        assert_eq!(exit, Exit::Code(127), "a chain this deep is a loop");
    }
}
