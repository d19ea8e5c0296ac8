//! The tool subcommands: `rewrite`, `verify`, `inspect` (docs/design.md, "Outcomes").
//! Exit status: 0 success or skip, 1 failure or defect, 2 usage.

use std::io::Write;
use std::path::Path;

use crate::inspect;
use crate::postlink::{self, Outcome};
use crate::verify;

pub const USAGE: &str = "\
llgo-ld: a linker driver shim that writes LLGo's prebuilt function table

USAGE:
    llgo-ld rewrite FILE...        rewrite executables in place (atomically)
    llgo-ld verify FILE...         check rewritten executables as the runtime will use them
    llgo-ld inspect [--json] FILE...
                                   summarize the LLGo sections and the predicted outcome
    llgo-ld CC ARGS...             run a compiler driver (like `ccache gcc`), then rewrite what
                                   it linked: CC=\"llgo-ld clang-19\"
    llgo-ld ARGS...                act as the linker: clang --ld-path=/path/llgo-ld (runs ld.lld,
                                   or ld64.lld for Darwin-style arguments)

MASQUERADING (a symlink or copy of llgo-ld under another name):
    cc gcc clang clang-NN *-gcc *-clang     runs the next real program of that name on PATH
    c++ g++ clang++ clang++-NN *-g++ ...    (the same, for C++)
    ld ld.lld ld64.lld ld.bfd ld.gold ld.mold mold ld64
                                   runs the next real linker of that name (gcc: -B<dir>/ with an
                                   `ld` symlink in <dir>)
    ld.llgo ld64.llgo              found by `clang -fuse-ld=llgo` (-B dirs, clang's dir, PATH);
                                   runs lld: ld.lld, else the newest ld.lld-NN on PATH, else the
                                   newest /usr/lib/llvm-NN/bin/ld.lld
llgo-ld never runs itself as the real tool (canonical path, inode, LLGO_LD_CHAIN) and never
changes PATH; with no real tool it exits 127. The real tool gets the original arguments and its
exit status (or signal) is llgo-ld's. Only an executable that the link wrote is rewritten.

ENVIRONMENT:
    LLGO_PCLNPOST=0      forward only, rewrite nothing
    LLGO_LD_STRICT=1     a failed rewrite is an error (exit 1, output removed)
    LLGO_LD_CC, LLGO_LD_CXX, LLGO_LD_LINKER
                         the real tool (may carry arguments, split like a shell)
    LLGO_LD_RESERVE=0    never relink with padding when the table does not fit (the default
                         relinks once, see docs/room.md)
    LLGO_LD_LOG=FILTER   tracing filter (info: one line per link; debug; llgo_ld=trace);
                         silent by default
    LLGO_LD_LOG_FILE=P   append the log to P instead of stderr (implies info)

Recipes (make, CMake, Cargo, gcc, -fuse-ld, --ld-path): docs/usage.md.
";

/// Runs a subcommand; returns the exit status.
pub fn run(args: &[String]) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return 2;
    };
    let mut stdout = std::io::stdout().lock();
    match cmd.as_str() {
        "rewrite" => with_files(rest, |f| rewrite(f, &mut stdout)),
        "verify" => with_files(rest, |f| verify(f, &mut stdout)),
        "inspect" => {
            let json = rest.iter().any(|a| a == "--json");
            let files: Vec<String> = rest.iter().filter(|a| *a != "--json").cloned().collect();
            if let (true, [file]) = (json, files.as_slice()) {
                return inspect_one(file, true, &mut stdout);
            }
            with_files(&files, |f| inspect_one(f, json, &mut stdout))
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            0
        }
        "--version" | "-V" => {
            println!("llgo-ld {}", env!("CARGO_PKG_VERSION"));
            0
        }
        other => {
            eprintln!("llgo-ld: error: unknown subcommand '{other}'\n\n{USAGE}");
            2
        }
    }
}

fn with_files(files: &[String], mut each: impl FnMut(&str) -> i32) -> i32 {
    if files.is_empty() || files.iter().any(|f| f.starts_with('-')) {
        eprintln!("llgo-ld: error: expected FILE arguments\n\n{USAGE}");
        return 2;
    }
    files.iter().map(|f| each(f)).max().unwrap_or(0)
}

fn rewrite(file: &str, out: &mut dyn Write) -> i32 {
    let report = postlink::rewrite_path(Path::new(file), None);
    match report.outcome {
        Outcome::Rewritten(summaries) => {
            for s in summaries {
                let _ = writeln!(out, "{file}: rewritten: {s}");
            }
            0
        }
        Outcome::Skipped(why) => {
            let _ = writeln!(out, "{file}: skipped: {why}");
            0
        }
        Outcome::Failed(e) => {
            eprintln!("llgo-ld: error: {file}: {e}");
            1
        }
    }
}

fn verify(file: &str, out: &mut dyn Write) -> i32 {
    let data = match read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("llgo-ld: error: {file}: {e}");
            return 1;
        }
    };
    match verify::verify(&data) {
        Ok(report) => {
            for line in &report.checked {
                let _ = writeln!(out, "{file}: {line}");
            }
            for note in &report.notes {
                let _ = writeln!(out, "{file}: note: {note}");
            }
            for p in &report.problems {
                let _ = writeln!(out, "{file}: defect: {p}");
            }
            if report.ok() {
                let _ = writeln!(out, "{file}: ok");
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("llgo-ld: error: {file}: {e}");
            1
        }
    }
}

fn inspect_one(file: &str, json: bool, out: &mut dyn Write) -> i32 {
    let data = match read(file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("llgo-ld: error: {file}: {e}");
            return 1;
        }
    };
    match inspect::inspect(&data) {
        Ok(info) => {
            let r = if json { info.write_json(file, out) } else { info.write_text(file, out) };
            i32::from(r.is_err())
        }
        Err(e) => {
            eprintln!("llgo-ld: error: {file}: {e}");
            1
        }
    }
}

/// A file's bytes for `verify` and `inspect`, which read only what they parse: a read-only
/// mapping, so only the pages touched are read (the kernel faults them in 64 KiB at a time).
fn read(file: &str) -> std::io::Result<crate::output::ReadOnly> {
    crate::output::map_read_only(&std::fs::File::open(file)?)
}
