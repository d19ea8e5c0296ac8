//! The driver shim end to end, with the real tools (issue 3's acceptance points).
//!
//! Every test links with real clang-19, gcc, ld.lld-19, ld.bfd; a missing tool is a failure
//! that names scripts/setup.sh, never a skip. Nothing here asserts on time: waits are bounded
//! only so that a recursion bug fails the test instead of hanging it.
//!
//! The LLGo fixture is the shared one (shim-tests/fixtures/gen.py + rtcheck.c through
//! shim-tests/support): every program checks its own table at run time as the runtime would,
//! and `llgo-ld verify` checks it from outside.

use std::ffi::OsStr;
use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;
use std::time::Instant;

mod support;

// ---------------------------------------------------------------------------------------------
// Tools and processes

fn llgo_ld() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_llgo-ld"))
}

/// The full path of a tool on PATH, or a failure that says how to install it.
fn need(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(tool);
        if fs::metadata(&p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
            return p;
        }
    }
    panic!("{tool} is not installed: run scripts/setup.sh");
}

/// Variables of the shim that the test's own environment must not leak into a case.
const SHIM_VARS: &[&str] = &[
    "LLGO_PCLNPOST",
    "LLGO_LD_STRICT",
    "LLGO_LD_CC",
    "LLGO_LD_CXX",
    "LLGO_LD_LINKER",
    "LLGO_LD_LOG",
    "LLGO_LD_LOG_FILE",
    "LLGO_LD_RESERVE",
    "LLGO_LD_CHAIN",
    "LLGO_LD_REPORT",
];

fn cmd(program: impl AsRef<OsStr>, dir: &Path) -> Command {
    let mut c = Command::new(program);
    c.current_dir(dir);
    for v in SHIM_VARS {
        c.env_remove(v);
    }
    c
}

/// gcc names its temporary files `/tmp/ccXXXXXX.*` at random (collect2 prints them with
/// `-Wl,-v`): the one part of a probe's output that differs between two direct runs.
fn normalize_temp_names(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(at) = rest.find("/tmp/cc") {
        out.push_str(&rest[..at + 7]);
        rest = &rest[at + 7..];
        let n = rest.bytes().take_while(|b| b.is_ascii_alphanumeric()).count().min(6);
        out.push_str("XXXXXX");
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

struct Out {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Out {
    fn text(&self) -> String {
        format!(
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            String::from_utf8_lossy(&self.stdout),
            String::from_utf8_lossy(&self.stderr)
        )
    }

    fn ok(self) -> Out {
        assert!(self.status.success(), "{}", self.text());
        self
    }
}

/// A safety net against hangs (a recursion bug), not a performance assertion.
const BOUND: Duration = Duration::from_secs(300);

/// Runs to completion (bounded), capturing stdout and stderr.
fn run(c: &mut Command) -> Out {
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = support::spawn_retrying(c).unwrap_or_else(|e| panic!("spawn {c:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).ok();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).ok();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > BOUND {
            // SAFETY: killing the process group the child leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("{c:?} did not finish within {BOUND:?} (a recursion?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Out { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

fn symlink(target: &Path, link: &Path) {
    let _ = fs::remove_file(link);
    std::os::unix::fs::symlink(target, link).unwrap();
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("driver-").tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// PATH with `dirs` in front of the test's own PATH.
fn path_with(dirs: &[&Path]) -> std::ffi::OsString {
    let mut all: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    all.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(all).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The LLGo fixture: shim-tests/fixtures (gen.py sources + rtcheck), compiled once per process

/// An extra object of the driver's fixtures: with `FIXTURE_SLEEP` set the program sleeps
/// before its run-time check (a running executable to link over).
const SLEEP_C: &str = "#include <stdlib.h>\n#include <unistd.h>\n\
    __attribute__((constructor)) static void fixture_sleep(void) {\n\
    if (getenv(\"FIXTURE_SLEEP\")) sleep(60);\n}\n";

struct Fixture {
    dir: PathBuf,
    /// The LLGo program's objects (gen.py's packages and main, rtcheck, the sleep hook),
    /// clang-19 -O1 -fno-pie -ffunction-sections; link them with `-no-pie`.
    objs: Vec<PathBuf>,
    /// One generated package source (for -c, -S, -E), compiled with `-I fixtures`.
    pkg_src: PathBuf,
    /// A plain C object without LLGo sections (-fPIC, for -shared).
    plain: PathBuf,
    /// An object that references an undefined symbol.
    undefined: PathBuf,
}

/// Generates `spec` with gen.py and compiles it; `blob` bytes of read-only data in one more
/// object make the file large without making the table bigger.
fn build_fixture(name: &str, spec: &support::FixtureSpec, blob: usize) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("driver-fixture-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    support::generate(spec, &dir);
    let mut sources: Vec<PathBuf> = fs::read_dir(dir.join("src"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("c")))
        .collect();
    sources.sort();
    let pkg_src = sources.iter().find(|p| p.ends_with("pkg0.c")).cloned().expect("pkg0.c");
    sources.push(support::fixtures_dir().join("rtcheck.c"));
    fs::write(dir.join("sleep.c"), SLEEP_C).unwrap();
    sources.push(dir.join("sleep.c"));
    if blob > 0 {
        fs::write(
            dir.join("blob.c"),
            format!("__attribute__((used)) const char blob[{blob}] = {{1}};\n"),
        )
        .unwrap();
        sources.push(dir.join("blob.c"));
    }
    fs::write(
        dir.join("plain.c"),
        "int puts(const char*);\nint main(void){ puts(\"ok\"); return 0; }\n",
    )
    .unwrap();
    fs::write(dir.join("undef.c"), "int nowhere(void);\nint main(void){ return nowhere(); }\n")
        .unwrap();
    let clang = need("clang-19");
    let mut objs = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let obj = dir.join(format!("{i:02}.o"));
        run(cmd(&clang, &dir)
            .args(["-O1", "-fno-pie", "-ffunction-sections", "-I"])
            .arg(support::fixtures_dir())
            .arg("-c")
            .arg(src)
            .arg("-o")
            .arg(&obj))
        .ok();
        objs.push(obj);
    }
    for (src, obj, pic) in [("plain.c", "plain.o", "-fPIC"), ("undef.c", "undef.o", "-fno-pie")] {
        run(cmd(&clang, &dir).args(["-O1", pic, "-c", src, "-o", obj])).ok();
    }
    Fixture { objs, pkg_src, plain: dir.join("plain.o"), undefined: dir.join("undef.o"), dir }
}

/// The fixture shared by most tests: gen.py's matrix shape (every record kind; the table fits
/// in place).
fn small() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| build_fixture("small", &support::FixtureSpec::MATRIX, 0))
}

/// The program's own run-time check (rtcheck adopts the table as the runtime does and looks
/// up every function) and `llgo-ld verify`.
fn check_program(prog: &Path) {
    let dir = prog.parent().unwrap();
    let out = run(&mut cmd(prog, dir));
    assert_eq!(
        out.status.code(),
        Some(support::RTCHECK_OK),
        "run-time check of {}:\n{}",
        prog.display(),
        out.text()
    );
    let v = run(cmd(llgo_ld(), dir).arg("verify").arg(prog));
    assert!(v.status.success(), "verify {}:\n{}", prog.display(), v.text());
}

/// Links without the shim, then `llgo-ld rewrite`: the bytes a shim link must produce.
fn reference(dir: &Path, name: &str, program: &Path, args: &[OsString]) -> Vec<u8> {
    let out = dir.join(name);
    run(cmd(program, dir).args(args).arg("-o").arg(&out)).ok();
    run(cmd(llgo_ld(), dir).arg("rewrite").arg(&out)).ok();
    fs::read(&out).unwrap()
}

/// A directory of masquerade links to llgo-ld.
fn shim_dir(parent: &Path, names: &[&str]) -> PathBuf {
    let d = parent.join("shim");
    fs::create_dir_all(&d).unwrap();
    for n in names {
        symlink(&llgo_ld(), &d.join(n));
    }
    d
}

// ---------------------------------------------------------------------------------------------
// Modes: byte-identical to `llgo-ld rewrite` of the same link, and the program runs

#[test]
fn every_mode_links_byte_identical_to_a_rewrite_of_the_plain_link() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let clang = need("clang-19");
    let clangxx = need("clang++-19");
    let gcc = need("gcc");
    let gxx = need("g++");
    let lld = need("ld.lld-19");
    need("ld.bfd");
    let shim = shim_dir(dir, &["clang-19", "clang++-19", "gcc", "g++", "cc", "ld.llgo"]);
    let ld_dir = dir.join("ld-dir");
    fs::create_dir_all(&ld_dir).unwrap();
    symlink(&llgo_ld(), &ld_dir.join("ld"));
    symlink(&llgo_ld(), &ld_dir.join("ld.lld"));
    symlink(&llgo_ld(), &ld_dir.join("ld.bfd"));
    let objs: Vec<&OsStr> = f.objs.iter().map(|o| o.as_os_str()).collect();
    let no_pie = OsStr::new("-no-pie");
    let lld_path = format!("--ld-path={}", lld.display());

    let with = |pre: &[&'static str]| -> Vec<OsString> {
        let mut v: Vec<OsString> = pre.iter().map(OsString::from).collect();
        v.extend(objs.iter().map(|o| o.to_os_string()));
        v
    };
    let r_clang = reference(dir, "r_clang", &clang, &with(&["-no-pie"]));
    let r_clangxx = reference(dir, "r_clangxx", &clangxx, &with(&["-no-pie"]));
    let r_gcc = reference(dir, "r_gcc", &gcc, &with(&["-no-pie"]));
    let r_gxx = reference(dir, "r_gxx", &gxx, &with(&["-no-pie"]));
    let mut lld_args: Vec<OsString> = vec![no_pie.into(), lld_path.clone().into()];
    lld_args.extend(objs.iter().map(|o| o.to_os_string()));
    let r_lld = reference(dir, "r_lld", &clang, &lld_args);
    let r_bfd = reference(dir, "r_bfd", &clang, &with(&["-no-pie", "-fuse-ld=bfd"]));
    assert_ne!(
        r_clang, r_lld,
        "bfd and lld outputs should differ (else the lld cases prove little)"
    );

    let path = path_with(&[&shim]);
    let ld_path_llgo = format!("--ld-path={}", llgo_ld().display());
    let ld_path_lld_shim = format!("--ld-path={}", ld_dir.join("ld.lld").display());
    let b_dir = format!("-B{}/", ld_dir.display());
    type Case<'a> = (&'a str, PathBuf, Vec<&'a str>, &'a [u8]);
    let cases: Vec<Case> = vec![
        ("explicit clang-19", llgo_ld(), vec!["clang-19", "-no-pie"], &r_clang),
        ("explicit gcc", llgo_ld(), vec!["gcc", "-no-pie"], &r_gcc),
        ("masquerading clang-19", shim.join("clang-19"), vec!["-no-pie"], &r_clang),
        ("masquerading clang++-19", shim.join("clang++-19"), vec!["-no-pie"], &r_clangxx),
        ("masquerading gcc", shim.join("gcc"), vec!["-no-pie"], &r_gcc),
        ("masquerading cc (gcc)", shim.join("cc"), vec!["-no-pie"], &r_gcc),
        ("masquerading g++", shim.join("g++"), vec!["-no-pie"], &r_gxx),
        ("plain llgo-ld as --ld-path", clang.clone(), vec!["-no-pie", &ld_path_llgo], &r_lld),
        ("ld.llgo by -fuse-ld=llgo", clang.clone(), vec!["-no-pie", "-fuse-ld=llgo"], &r_lld),
        ("masquerading ld.lld", clang.clone(), vec!["-no-pie", &ld_path_lld_shim], &r_lld),
        ("masquerading ld under gcc -B", gcc.clone(), vec!["-no-pie", &b_dir], &r_gcc),
        (
            "masquerading ld.bfd under clang -B",
            clang.clone(),
            vec!["-no-pie", "-fuse-ld=bfd", &b_dir],
            &r_bfd,
        ),
    ];
    for (i, (what, program, args, want)) in cases.into_iter().enumerate() {
        let out = dir.join(format!("out{i}"));
        let res = run(cmd(&program, dir)
            .env("PATH", &path)
            .env("LLGO_LD_STRICT", "1")
            .env("LLGO_LD_LOG", "info")
            .args(&args)
            .args(&objs)
            .arg("-o")
            .arg(&out));
        assert!(res.status.success(), "{what}:\n{}", res.text());
        let log = String::from_utf8_lossy(&res.stderr);
        assert!(
            log.lines().filter(|l| l.starts_with("llgo-ld: info:")).count() == 1
                && log.contains("outcome=\"rewritten\""),
            "{what}: expected one info line saying rewritten:\n{log}"
        );
        let got = fs::read(&out).unwrap();
        assert!(got == want, "{what}: output differs from `llgo-ld rewrite` of the plain link");
        check_program(&out);
    }
}

#[test]
fn direct_linker_lines_through_masquerading_lld_and_bfd() {
    // The link line clang would run, given to the masquerading linkers directly.
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let clang = need("clang-19");
    let shim = shim_dir(dir, &["ld.lld", "ld.bfd"]);
    for (linker, flag) in [
        ("ld.lld", format!("--ld-path={}", need("ld.lld-19").display())),
        ("ld.bfd", "-fuse-ld=bfd".to_string()),
    ] {
        let probe =
            run(cmd(&clang, dir).args(["-###", "-no-pie", &flag]).args(&f.objs).args(["-o", "X"]))
                .ok();
        let text = String::from_utf8_lossy(&probe.stderr).to_string();
        let line = text.lines().last().unwrap();
        let words: Vec<String> = shell_words::split(line).unwrap();
        let (real, rest) = words.split_first().unwrap();
        assert!(real.contains(linker.trim_start_matches("ld.")), "{line}");
        let direct = dir.join(format!("direct-{linker}"));
        let shimmed = dir.join(format!("shim-{linker}"));
        let with_out = |o: &Path| -> Vec<String> {
            rest.iter()
                .map(|a| if a == "X" { o.display().to_string() } else { a.clone() })
                .collect()
        };
        run(cmd(real, dir).args(with_out(&direct))).ok();
        run(cmd(llgo_ld(), dir).arg("rewrite").arg(&direct)).ok();
        let res =
            run(cmd(shim.join(linker), dir).env("LLGO_LD_STRICT", "1").args(with_out(&shimmed)));
        assert!(res.status.success(), "{linker}:\n{}", res.text());
        assert!(
            fs::read(&direct).unwrap() == fs::read(&shimmed).unwrap(),
            "{linker}: bytes differ"
        );
        check_program(&shimmed);
    }
}

// ---------------------------------------------------------------------------------------------
// Recursion

#[test]
fn masquerade_paths_never_recurse() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    // dir1/clang-19: symlink; dir2/clang-19: hard link; dir3/clang-19: a copy (another inode).
    let d1 = dir.join("d1");
    let d2 = dir.join("d2");
    let d3 = dir.join("d3");
    for d in [&d1, &d2, &d3] {
        fs::create_dir_all(d).unwrap();
    }
    symlink(&llgo_ld(), &d1.join("clang-19"));
    let copy_src = dir.join("llgo-ld-copy");
    fs::copy(llgo_ld(), &copy_src).unwrap();
    fs::hard_link(&copy_src, d2.join("clang-19")).unwrap();
    fs::copy(llgo_ld(), d3.join("clang-19")).unwrap();
    let real_path = path_with(&[&d1, &d2, &d3]);
    let out = dir.join("prog");
    let res = run(cmd(d1.join("clang-19"), dir)
        .env("PATH", &real_path)
        .args(["-no-pie"])
        .args(&f.objs)
        .arg("-o")
        .arg(&out));
    assert!(res.status.success(), "{}", res.text());
    assert!(res.stderr.is_empty(), "{}", res.text());
    check_program(&out);

    // Only llgo-ld on PATH under that name: an error and 127, not a loop.
    let only_shims = std::env::join_paths([&d1, &d2, &d3]).unwrap();
    let res = run(cmd(d1.join("clang-19"), dir).env("PATH", &only_shims).arg("--version"));
    assert_eq!(res.status.code(), Some(127), "{}", res.text());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.starts_with("llgo-ld: error: ") && err.contains("clang-19"), "{err}");

    // An override that names llgo-ld itself is refused, not followed.
    let res = run(cmd(d1.join("clang-19"), dir)
        .env("PATH", &real_path)
        .env("LLGO_LD_CC", d1.join("clang-19"))
        .arg("--version"));
    assert_eq!(res.status.code(), Some(127), "{}", res.text());

    // The first `clang` on PATH is llgo-ld (and there is no real unsuffixed clang here), and
    // llgo-ld is on PATH again under other names: `cc` (a copy, another inode) and `clang`
    // (a hard link to that copy).
    let e1 = dir.join("e1");
    let e2 = dir.join("e2");
    fs::create_dir_all(&e1).unwrap();
    fs::create_dir_all(&e2).unwrap();
    symlink(&llgo_ld(), &e1.join("clang"));
    fs::copy(llgo_ld(), e2.join("cc")).unwrap();
    fs::hard_link(e2.join("cc"), e2.join("clang")).unwrap();
    let path = path_with(&[&e1, &e2]);
    let res = run(cmd(e1.join("clang"), dir).env("PATH", &path).arg("--version"));
    assert_eq!(res.status.code(), Some(127), "{}", res.text());
    // ... with the real compiler named by an override that is itself llgo-ld under another
    // name (`cc` is the copy): the copy runs once, skips itself and the chain, finds gcc.
    for cc in ["cc", "clang-19"] {
        let out = dir.join(format!("prog-{cc}"));
        let res = run(cmd(e1.join("clang"), dir)
            .env("PATH", &path)
            .env("LLGO_LD_CC", cc)
            .env("LLGO_LD_STRICT", "1")
            .arg("-no-pie")
            .args(&f.objs)
            .arg("-o")
            .arg(&out));
        assert!(res.status.success() && res.stderr.is_empty(), "LLGO_LD_CC={cc}: {}", res.text());
        check_program(&out);
    }

    // A linker masquerade whose only same-name program is llgo-ld: gcc -B with ld -> ld.
    let ld_dir = dir.join("ld-dir");
    fs::create_dir_all(&ld_dir).unwrap();
    symlink(&llgo_ld(), &ld_dir.join("ld"));
    let res = run(cmd(ld_dir.join("ld"), dir).env("PATH", &ld_dir).arg("--version"));
    assert_eq!(res.status.code(), Some(127), "{}", res.text());
}

// ---------------------------------------------------------------------------------------------
// Probes, failing links, signals

#[test]
fn probes_are_byte_identical() {
    let t = tempdir();
    let dir = t.path();
    let shim = shim_dir(dir, &["clang-19", "gcc"]);
    let ld_shim = dir.join("ld-shim");
    fs::create_dir_all(&ld_shim).unwrap();
    symlink(&llgo_ld(), &ld_shim.join("ld.llgo"));
    symlink(&llgo_ld(), &ld_shim.join("ld"));
    let probes: &[&[&str]] = &[
        &["--version"],
        &["-v"],
        &["-Wl,--version"],
        &["-Wl,-v"],
        &["-###"],
        &["-print-prog-name=ld"],
    ];
    let path = path_with(&[&shim]);
    for driver in ["clang-19", "gcc"] {
        let real = need(driver);
        for probe in probes {
            // Explicit mode with the real driver first on PATH: it gets the bare name, as
            // without llgo-ld (gcc -v prints it as COLLECT_GCC). A masquerading driver runs the
            // real one by its path (see real_tool::argv0_for): compare with that.
            let by_name = run(cmd(driver, dir).args(*probe));
            let by_path = run(cmd(&real, dir).args(*probe));
            for (how, program, pre, path, direct) in [
                ("explicit", llgo_ld(), vec![driver], std::env::var_os("PATH").unwrap(), &by_name),
                ("masquerading", PathBuf::from(driver), vec![], path.clone(), &by_path),
            ] {
                let via = run(cmd(&program, dir).env("PATH", &path).args(&pre).args(*probe));
                let what = format!("{how} {driver} {probe:?}");
                assert_eq!(via.status.code(), direct.status.code(), "{what}");
                assert_eq!(
                    normalize_temp_names(&via.stdout),
                    normalize_temp_names(&direct.stdout),
                    "{what}"
                );
                assert_eq!(
                    normalize_temp_names(&via.stderr),
                    normalize_temp_names(&direct.stderr),
                    "{what}"
                );
            }
        }
    }
    for (shim_name, real, probe) in [
        ("ld.llgo", need("ld.lld-19"), "--version"),
        ("ld.llgo", need("ld.lld-19"), "--help"),
        ("ld", need("ld"), "--version"),
        ("ld", need("ld"), "-v"),
    ] {
        // lld prints its argv[0] (`USAGE: ld.lld`): llgo-ld runs it as ld.lld, like clang.
        let mut direct = cmd(&real, dir);
        if shim_name == "ld.llgo" {
            direct.arg0("ld.lld");
        }
        let direct = run(direct.arg(probe));
        let via = run(cmd(ld_shim.join(shim_name), dir).arg(probe));
        assert_eq!(via.status.code(), direct.status.code(), "{shim_name} {probe}");
        assert!(via.stdout == direct.stdout, "{shim_name} {probe}: stdout differs");
        assert!(via.stderr == direct.stderr, "{shim_name} {probe}: stderr differs");
    }
    assert!(!dir.join("a.out").exists(), "a probe wrote a.out");
}

#[test]
fn a_failing_link_returns_the_real_status_and_stderr_and_touches_nothing() {
    let f = small();
    let t = tempdir();
    for driver in ["clang-19", "gcc"] {
        let mut results = Vec::new();
        for via_shim in [false, true] {
            let d = t.path().join(format!("{driver}-{via_shim}"));
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("prog"), b"stale").unwrap();
            let mut c = if via_shim {
                let mut c = cmd(llgo_ld(), &d);
                c.arg(driver);
                c
            } else {
                cmd(need(driver), &d)
            };
            let res = run(c
                .env("LLGO_LD_STRICT", "1")
                .arg("-no-pie")
                .arg(&f.undefined)
                .args(["-o", "prog"]));
            let left = fs::read(d.join("prog")).ok();
            results.push((res.status.code(), res.stdout, res.stderr, left));
        }
        assert_ne!(results[0].0, Some(0), "{driver}: the link should fail");
        assert_eq!(results[0], results[1], "{driver}: direct vs shim");
    }
}

#[test]
fn a_real_tool_killed_by_a_signal_kills_llgo_ld_the_same_way() {
    let t = tempdir();
    let dir = t.path();
    for (sig, name) in [(libc::SIGSEGV, "SEGV"), (libc::SIGKILL, "KILL"), (libc::SIGTERM, "TERM")] {
        let res = run(cmd(llgo_ld(), dir).args(["sh", "-c", &format!("kill -{name} $$")]));
        assert_eq!(res.status.signal(), Some(sig), "{name}: {}", res.text());
        assert!(!res.status.core_dumped(), "{name}: llgo-ld dumped core");
        assert!(res.stderr.is_empty(), "{name}: {}", res.text());
    }
    let core_files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("core"))
        .collect();
    assert!(core_files.is_empty(), "core files: {core_files:?}");
}

/// Waits (bounded) until `path` exists.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < BOUND, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn sigterm_to_llgo_ld_reaches_a_slow_linker() {
    let t = tempdir();
    let dir = t.path();
    // A "linker" that traps SIGTERM, records it and exits 42.
    let slow = dir.join("slow-ld");
    fs::write(
        &slow,
        "#!/bin/sh\ntrap 'echo TERM > \"$0.got\"; exit 42' TERM\n: > \"$0.ready\"\nsleep 60 &\nwait\n",
    )
    .unwrap();
    fs::set_permissions(&slow, fs::Permissions::from_mode(0o755)).unwrap();
    let ld_llgo = dir.join("ld.llgo");
    symlink(&llgo_ld(), &ld_llgo);
    for (how, mut c) in [
        ("explicit", {
            let mut c = cmd(llgo_ld(), dir);
            c.arg(&slow).args(["x.o", "-o", "prog"]);
            c
        }),
        ("linker override", {
            let mut c = cmd(&ld_llgo, dir);
            c.env("LLGO_LD_LINKER", &slow).args(["x.o", "-o", "prog"]);
            c
        }),
    ] {
        let _ = fs::remove_file(dir.join("slow-ld.ready"));
        let _ = fs::remove_file(dir.join("slow-ld.got"));
        let child = c.stdin(Stdio::null()).spawn().unwrap();
        wait_for(&dir.join("slow-ld.ready"));
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait_with_output().unwrap().status;
        assert_eq!(status.code(), Some(42), "{how}: the linker's own exit status");
        assert!(dir.join("slow-ld.got").exists(), "{how}: the linker never saw SIGTERM");
    }
    // Without a trap the linker dies by SIGTERM, and so does llgo-ld.
    let plain = dir.join("plain-ld");
    fs::write(&plain, "#!/bin/sh\n: > \"$0.ready\"\nexec sleep 60\n").unwrap();
    fs::set_permissions(&plain, fs::Permissions::from_mode(0o755)).unwrap();
    let child = cmd(llgo_ld(), dir).arg(&plain).args(["-o", "prog"]).spawn().unwrap();
    wait_for(&dir.join("plain-ld.ready"));
    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

// ---------------------------------------------------------------------------------------------
// What gets rewritten

#[test]
fn a_stale_a_out_is_untouched_by_version_probes() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    run(cmd(need("clang-19"), dir).arg("-no-pie").args(&f.objs)).ok();
    let before = fs::read(dir.join("a.out")).unwrap();
    let meta = fs::metadata(dir.join("a.out")).unwrap();
    let shim = shim_dir(dir, &["cc", "clang-19"]);
    for (program, pre) in [
        (shim.join("cc"), vec![]),
        (shim.join("clang-19"), vec![]),
        (llgo_ld(), vec!["clang-19"]),
        (llgo_ld(), vec!["gcc"]),
    ] {
        // (Not -Wl,-v: ld then goes on linking, fails for want of main and removes a.out,
        // directly as through llgo-ld.)
        for probe in ["-Wl,--version", "--version", "-v", "-###"] {
            let res = run(cmd(&program, dir)
                .env("PATH", path_with(&[&shim]))
                .env("LLGO_LD_STRICT", "1")
                .args(&pre)
                .arg(probe));
            assert!(!String::from_utf8_lossy(&res.stderr).contains("llgo-ld"), "{}", res.text());
            let now = fs::metadata(dir.join("a.out")).unwrap();
            assert_eq!(fs::read(dir.join("a.out")).unwrap(), before, "{program:?} {probe}");
            assert_eq!((now.ino(), now.mtime_nsec()), (meta.ino(), meta.mtime_nsec()));
        }
    }
}

#[test]
fn no_executable_flags_rewrite_nothing() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let src = f.pkg_src.as_os_str();
    let inc = format!("-I{}", support::fixtures_dir().display());
    let inc = OsStr::new(&inc);
    let clang = need("clang-19");
    // A -shared link is a link (its output may carry LLGo records, issue 10): a plain one is
    // skipped by the header probe, forwarded byte-identical.
    let cases: Vec<(&str, Vec<&OsStr>, &str, &str)> = vec![
        ("-c", vec![inc, OsStr::new("-fno-pie"), OsStr::new("-c"), src], "out.o", ""),
        ("-S", vec![inc, OsStr::new("-S"), src], "out.s", ""),
        ("-E", vec![inc, OsStr::new("-E"), src], "out.i", ""),
        ("-shared", vec![OsStr::new("-shared"), f.plain.as_os_str()], "out.so", "no LLGo sections"),
        ("-r", vec![OsStr::new("-r"), f.objs[0].as_os_str()], "out.r.o", ""),
    ];
    for (what, args, out, why) in cases {
        let direct = dir.join(format!("direct-{out}"));
        run(cmd(&clang, dir).args(&args).arg("-o").arg(&direct)).ok();
        let via = dir.join(out);
        let res = run(cmd(llgo_ld(), dir)
            .env("LLGO_LD_LOG", "info")
            .env("LLGO_LD_STRICT", "1")
            .arg("clang-19")
            .args(&args)
            .arg("-o")
            .arg(&via))
        .ok();
        let log = String::from_utf8_lossy(&res.stderr);
        let want = if why.is_empty() { format!("no executable ({what})") } else { why.into() };
        assert!(log.contains(&format!("skipped: {want}")), "{what}: {log}");
        assert!(fs::read(&direct).unwrap() == fs::read(&via).unwrap(), "{what}: output differs");
    }
    // Linking to /dev/null: forwarded, nothing rewritten (and /dev/null still a device).
    let res = run(cmd(llgo_ld(), dir)
        .env("LLGO_LD_LOG", "info")
        .args(["clang-19", "-no-pie"])
        .args(&f.objs)
        .args(["-o", "/dev/null"]))
    .ok();
    assert!(String::from_utf8_lossy(&res.stderr).contains("skipped: output is /dev/null"));
    assert!(!fs::metadata("/dev/null").unwrap().is_file());
}

/// llgo-ld starts without std's runtime start (src/main.rs): it must still keep descriptors 0-2
/// open, so that neither the output nor its temporary copy can become stderr and receive the
/// log line, and must turn a reader that went away into an error, not a death by SIGPIPE.
#[test]
fn closed_stdio_and_a_reader_that_went_away() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let clang = need("clang-19");
    let mut args: Vec<OsString> = vec!["-no-pie".into()];
    args.extend(f.objs.iter().map(|o| o.clone().into_os_string()));
    let want = reference(dir, "ref", &clang, &args);
    // All three standard descriptors closed, and asked to log a line to stderr.
    let closed = run(Command::new("sh")
        .current_dir(dir)
        .env("LLGO_LD_LOG", "info")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" <&- >&- 2>&-")
        .arg(llgo_ld())
        .arg(&clang)
        .args(&args)
        .args(["-o", "closed"]));
    assert!(closed.status.success(), "{}", closed.text());
    assert!(fs::read(dir.join("closed")).unwrap() == want, "output differs from the reference");
    check_program(&dir.join("closed"));
    // The real tool sees a closed descriptor as /dev/null, as under any program started by
    // std: llgo-ld filled it before anything else could take its number.
    let seen = run(Command::new("sh")
        .current_dir(dir)
        .arg("-c")
        .arg("exec \"$0\" readlink /proc/self/fd/0 <&-")
        .arg(llgo_ld()));
    assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "/dev/null", "{}", seen.text());
    // `inspect` into a pipe whose reader is gone: its lines are lost, but it is not killed.
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills two descriptors this test owns; the read end is closed at once.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
    }
    let w = fds[1];
    // SAFETY: the write end is a descriptor this test owns and hands to the child.
    let stdout = unsafe { Stdio::from_raw_fd(w) };
    let status = Command::new(llgo_ld())
        .current_dir(dir)
        .arg("inspect")
        .arg("closed")
        .stdout(stdout)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.signal(), None, "llgo-ld died of a signal: {status:?}");
}

#[test]
fn response_files_nested_quoted_with_output_and_missing() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::create_dir_all(dir.join("out dir")).unwrap();
    // Nested: outer names inner.rsp, which clang-19 (like gcc and lld) looks up relative to the
    // working directory, not to sub/: a file of that name in sub/ must not be used.
    let quoted: Vec<String> = f.objs.iter().map(|o| format!("'{}'", o.display())).collect();
    fs::write(dir.join("sub/outer.rsp"), format!("-no-pie @inner.rsp {}\n", quoted.join(" ")))
        .unwrap();
    fs::write(dir.join("inner.rsp"), "-o \"out dir/prog\\\"q\"\n").unwrap();
    fs::write(dir.join("sub/inner.rsp"), "-o wrong\n").unwrap();
    let res = run(cmd(llgo_ld(), dir)
        .env("LLGO_LD_STRICT", "1")
        .env("LLGO_LD_LOG", "info")
        .args(["clang-19", "@sub/outer.rsp"]))
    .ok();
    let prog = dir.join("out dir/prog\"q");
    assert!(
        prog.exists() && !dir.join("wrong").exists(),
        "clang-19 resolved differently: {}",
        res.text()
    );
    assert!(
        String::from_utf8_lossy(&res.stderr).contains("outcome=\"rewritten\""),
        "{}",
        res.text()
    );
    check_program(&prog);

    // A missing response file: clang's own error, status and (no) output, byte for byte.
    let direct = run(cmd(need("clang-19"), dir).args(["@missing.rsp", "-o", "m"]));
    let via = run(cmd(llgo_ld(), dir).args(["clang-19", "@missing.rsp", "-o", "m"]));
    assert_ne!(direct.status.code(), Some(0));
    assert_eq!(
        (via.status.code(), &via.stdout, &via.stderr),
        (direct.status.code(), &direct.stdout, &direct.stderr)
    );

    // A cycle: clang reports it; llgo-ld neither hangs nor adds words.
    fs::write(dir.join("cyc.rsp"), "@cyc.rsp\n").unwrap();
    let direct = run(cmd(need("clang-19"), dir).args(["@cyc.rsp"]));
    let via = run(cmd(llgo_ld(), dir).args(["clang-19", "@cyc.rsp"]));
    assert_eq!((via.status.code(), &via.stderr), (direct.status.code(), &direct.stderr));

    // -o inside a response file given to a masquerading linker (lld reads it the same way).
    let shim = shim_dir(dir, &["ld.lld"]);
    fs::write(dir.join("ld.rsp"), "-o 'lld out'\n").unwrap();
    let flag = format!("--ld-path={}", shim.join("ld.lld").display());
    let res = run(cmd(need("clang-19"), dir)
        .env("LLGO_LD_STRICT", "1")
        .args(["-no-pie", &flag, "-Wl,@ld.rsp"])
        .args(&f.objs));
    assert!(res.status.success(), "{}", res.text());
    check_program(&dir.join("lld out"));
}

// ---------------------------------------------------------------------------------------------
// Silence and logging

#[test]
fn silent_by_default_one_info_line_when_asked_and_log_file() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let link = |extra: &[(&str, &OsStr)], out: &str| {
        let mut c = cmd(llgo_ld(), dir);
        for (k, v) in extra {
            c.env(k, v);
        }
        run(c.args(["clang-19", "-no-pie"]).args(&f.objs).args(["-o", out])).ok()
    };
    let quiet = link(&[], "p1");
    assert!(quiet.stdout.is_empty() && quiet.stderr.is_empty(), "{}", quiet.text());
    check_program(&dir.join("p1"));

    let info = link(&[("LLGO_LD_LOG", OsStr::new("info"))], "p2");
    assert!(info.stdout.is_empty());
    let text = String::from_utf8_lossy(&info.stderr).to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    for field in [
        "mode=explicit",
        "tool=",
        "output=p2",
        "outcome=\"rewritten\"",
        "records=entry:",
        "rows=",
        "buckets=",
        "placement=in-place",
        "relink=no",
        "reserved=",
        "time=",
    ] {
        assert!(text.contains(field), "missing {field}: {text}");
    }

    let log = dir.join("llgo.log");
    let filed = link(&[("LLGO_LD_LOG_FILE", log.as_os_str())], "p3");
    assert!(filed.stderr.is_empty() && filed.stdout.is_empty(), "{}", filed.text());
    let filed2 = link(&[("LLGO_LD_LOG_FILE", log.as_os_str())], "p4");
    assert!(filed2.stderr.is_empty());
    let lines = fs::read_to_string(&log).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    assert!(lines.lines().all(|l| l.starts_with("llgo-ld: info: ")), "{lines}");

    // Nested: a masquerading clang whose link runs llgo-ld again as the linker. One info line
    // (the inner level, which did the rewrite); the outer one only at debug.
    let shim = shim_dir(dir, &["clang-19"]);
    let ld_path = format!("--ld-path={}", llgo_ld().display());
    let nested = |filter: &str, out: &str| {
        run(cmd(shim.join("clang-19"), dir)
            .env("PATH", path_with(&[&shim]))
            .env("LLGO_LD_LOG", filter)
            .args(["-no-pie", &ld_path])
            .args(&f.objs)
            .args(["-o", out]))
        .ok()
    };
    let res = nested("info", "p5");
    let text = String::from_utf8_lossy(&res.stderr).to_string();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("mode=ld.llgo") && text.contains("outcome=\"rewritten\""), "{text}");
    check_program(&dir.join("p5"));
    let res = nested("debug", "p6");
    let text = String::from_utf8_lossy(&res.stderr).to_string();
    let outer: Vec<&str> = text.lines().filter(|l| l.contains("level=outer")).collect();
    assert_eq!(outer.len(), 1, "{text}");
    assert!(outer[0].starts_with("llgo-ld: debug:") && outer[0].contains("mode=cc"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("llgo-ld: info:")).count(), 1, "{text}");

    // LLGO_PCLNPOST=0: forwarded only.
    let off =
        link(&[("LLGO_PCLNPOST", OsStr::new("0")), ("LLGO_LD_LOG", OsStr::new("info"))], "p7");
    assert!(String::from_utf8_lossy(&off.stderr).contains("skipped: LLGO_PCLNPOST=0"));
    let v = run(cmd(llgo_ld(), dir).args(["verify", "p7"]));
    assert!(!v.status.success(), "p7 should still carry the linker's records");
}

// ---------------------------------------------------------------------------------------------
// Faults

/// The large fixture of the kill loop: the matrix program plus 48 MiB of read-only data, so the
/// rewrite (read, plan, verify, copy, rename) takes long enough to be hit at many instants.
fn large() -> &'static (Fixture, PathBuf) {
    static F: OnceLock<(Fixture, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let f = build_fixture("large", &support::FixtureSpec::MATRIX, 48 << 20);
        let linked = f.dir.join("linked");
        run(cmd(need("clang-19"), &f.dir).arg("-no-pie").args(&f.objs).arg("-o").arg(&linked)).ok();
        (f, linked)
    })
}

/// A tiny xorshift generator: random instants without a dependency; the seed is printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn temp_leftovers(dir: &Path, out: &str) -> Vec<String> {
    let prefix = format!(".{out}.llgo-ld.");
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    v.sort();
    v
}

/// The shim's post-link step edits the linker's fresh output in place under a temporary name
/// (docs/design.md, "Invariants"): killed at any instant, the output path holds the linker's
/// output, the finished rewrite, or nothing; a stale temporary file is swept later.
#[test]
fn sigkill_at_random_instants_leaves_old_or_verified_output() {
    let (_, linked) = large();
    kill_loop(linked);
}

/// The kill loop on a generation-2 program (LLGo's linker script): the shim compacts it, a
/// size-changing plan edited in place (the tail rewritten, the file cut), so a kill may land
/// between the cut and the rename back.
#[test]
fn sigkill_during_a_compacting_rewrite() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("driver-gen2-kill");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let built = support::build_gen2_llgo(&dir);
    let linked = dir.join("linked");
    fs::rename(&built.exe, &linked).unwrap();
    kill_loop(&linked);
}

/// Runs the shim with a stand-in linker that puts `linked` in place, kills it at random
/// instants of its post-link step (at least 50 times), and checks what the output path holds
/// each time; then that stale temporary files are swept and a last run gives a working program.
fn kill_loop(linked: &Path) {
    let original = fs::read(linked).unwrap();
    let t = tempdir();
    let dir = t.path();
    // The "linker" copies the linked program into place atomically, as lld does, then leaves
    // a marker: from then on llgo-ld is rewriting.
    let fake = dir.join("fake-ld");
    fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncp '{}' \"$2.tmp$$\" && mv \"$2.tmp$$\" \"$2\" && : > \"$2.linked\"\n",
            linked.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join("prog");
    let marker = dir.join("prog.linked");
    let shim_run = || {
        let _ = fs::remove_file(&marker);
        let mut c = cmd(llgo_ld(), dir);
        c.arg(&fake).arg("-o").arg(&out).process_group(0).stdin(Stdio::null());
        c
    };
    // One undisturbed run gives the span of the rewrite phase to aim at.
    let mut child = shim_run().spawn().unwrap();
    spin_until(&marker);
    let start = Instant::now();
    assert!(child.wait().unwrap().success());
    let mut span = start.elapsed().as_micros() as u64 + 1;
    let rewritten = fs::read(&out).unwrap();
    assert_ne!(rewritten, original);
    eprintln!("kill loop: {} -> {} bytes", original.len(), rewritten.len());
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    eprintln!("kill loop: seed {seed:#x}, rewrite phase {span} us");
    let mut rng = Rng(seed);
    let (mut kills, mut old, mut new, mut leftovers, mut gone) = (0, 0, 0, 0, 0);
    let mut killed_pids = Vec::new();
    let mut i = 0;
    while kills < 60 && i < 300 {
        i += 1;
        let mut child = shim_run().spawn().unwrap();
        let pid = child.id() as i32;
        spin_until(&marker);
        std::thread::sleep(Duration::from_micros(rng.next() % (span + span / 10)));
        // SAFETY: killing the llgo-ld we spawned.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let status = child.wait().unwrap();
        span = adapt(span, status.signal() == Some(libc::SIGKILL));
        if status.signal() == Some(libc::SIGKILL) {
            kills += 1;
        }
        // Wait for the process group (the fake linker) to be gone.
        let start = Instant::now();
        // SAFETY: probing a process group with signal 0.
        while unsafe { libc::kill(-pid, 0) } == 0 {
            assert!(start.elapsed() < BOUND);
            std::thread::sleep(Duration::from_millis(2));
        }
        // The in-place path: the linker's output, the finished rewrite, or (killed between
        // renaming the output away and back) nothing; never anything else.
        match fs::read(&out) {
            Ok(now) if now == original => old += 1,
            Ok(now) => {
                assert!(now == rewritten, "iteration {i}: neither original nor rewritten");
                new += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                gone += 1;
                let away = temp_leftovers(dir, "prog");
                assert!(
                    away.iter().any(|n| n.starts_with(&format!(".prog.llgo-ld.{pid}."))),
                    "iteration {i}: the output is gone but no temporary file of {pid}: {away:?}"
                );
            }
            Err(e) => panic!("iteration {i}: {e}"),
        }
        killed_pids.push(pid);
        for name in temp_leftovers(dir, "prog") {
            let owner: i32 = name
                .trim_start_matches(".prog.llgo-ld.")
                .split('.')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("iteration {i}: leftover {name} is misnamed"));
            assert!(killed_pids.contains(&owner), "iteration {i}: {name} is no killed llgo-ld's");
            if owner != pid {
                continue; // an earlier one, already aged, not yet swept
            }
            leftovers += 1;
            // Age it and let a later run clean it (dead pid, older than a few minutes).
            let f = fs::File::options().write(true).open(dir.join(&name)).unwrap();
            f.set_modified(std::time::SystemTime::now() - Duration::from_secs(600)).unwrap();
        }
    }
    eprintln!(
        "kill loop: {kills} kills, {old} original, {new} rewritten, {gone} between the renames, \
         {leftovers} temporary files left"
    );
    assert!(kills >= 50, "only {kills} of {i} runs were killed");
    // The aged leftovers of dead pids are swept by the next successful run; a young one and one
    // of a live pid are not.
    let live = format!(".prog.llgo-ld.{}.live", std::process::id());
    let young = ".prog.llgo-ld.999999999.young".to_string();
    fs::write(dir.join(&live), b"x").unwrap();
    fs::write(dir.join(&young), b"x").unwrap();
    let f = fs::File::options().write(true).open(dir.join(&live)).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(600)).unwrap();
    fs::write(dir.join(".prog.llgo-ld.999999998.old"), b"x").unwrap();
    let f = fs::File::options().write(true).open(dir.join(".prog.llgo-ld.999999998.old")).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(600)).unwrap();
    assert!(shim_run().status().unwrap().success());
    let mut want = vec![live, young];
    want.sort();
    assert_eq!(temp_leftovers(dir, "prog"), want);
    check_program(&out);
}

/// `llgo-ld rewrite` of an existing file copies it beside the output (the copy starts while the
/// plan is made), writes the edits into the copy and exchanges the two names, then removes the
/// temporary name, which holds the original by then. Killed at any instant, the output path
/// holds the original or the finished rewrite, never nothing; the temporary file a kill leaves
/// (the copy, or the original after the exchange) is swept later.
#[test]
fn sigkill_during_the_rewrite_subcommand_leaves_old_or_new_never_nothing() {
    let (_, linked) = large();
    let original = fs::read(linked).unwrap();
    let t = tempdir();
    let dir = t.path();
    let out = dir.join("prog");
    let rewrite = || {
        fs::copy(linked, &out).unwrap();
        let mut c = cmd(llgo_ld(), dir);
        c.arg("rewrite").arg(&out).stdin(Stdio::null()).stdout(Stdio::null());
        c
    };
    let mut c = rewrite();
    let start = Instant::now();
    assert!(c.status().unwrap().success());
    let mut span = start.elapsed().as_micros() as u64 + 1;
    let rewritten = fs::read(&out).unwrap();
    assert_ne!(rewritten, original);
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    eprintln!("rewrite kill loop: seed {seed:#x}, rewrite {span} us");
    let mut rng = Rng(seed);
    let (mut kills, mut old, mut new, mut leftovers) = (0, 0, 0, 0);
    let mut killed_pids = Vec::new();
    let mut i = 0;
    while kills < 50 && i < 300 {
        i += 1;
        let mut child = rewrite().spawn().unwrap();
        let pid = child.id() as i32;
        std::thread::sleep(Duration::from_micros(rng.next() % (span + span / 10)));
        // SAFETY: killing the llgo-ld we spawned.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let status = child.wait().unwrap();
        span = adapt(span, status.signal() == Some(libc::SIGKILL));
        if status.signal() == Some(libc::SIGKILL) {
            kills += 1;
        }
        let now = fs::read(&out).unwrap_or_else(|e| panic!("iteration {i}: the output: {e}"));
        if now == original {
            old += 1;
        } else {
            assert!(now == rewritten, "iteration {i}: neither original nor rewritten");
            new += 1;
        }
        killed_pids.push(pid);
        for name in temp_leftovers(dir, "prog") {
            let owner: i32 = name
                .trim_start_matches(".prog.llgo-ld.")
                .split('.')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("iteration {i}: leftover {name} is misnamed"));
            assert!(killed_pids.contains(&owner), "iteration {i}: {name} is no killed llgo-ld's");
            if owner != pid {
                continue;
            }
            leftovers += 1;
            let f = fs::File::options().write(true).open(dir.join(&name)).unwrap();
            f.set_modified(std::time::SystemTime::now() - Duration::from_secs(600)).unwrap();
        }
    }
    eprintln!(
        "rewrite kill loop: {kills} kills, {old} original, {new} rewritten, {leftovers} \
         temporary files left"
    );
    assert!(kills >= 40, "only {kills} of {i} runs were killed");
    // The next rewrite sweeps the aged leftovers of dead pids.
    assert!(rewrite().status().unwrap().success());
    assert_eq!(temp_leftovers(dir, "prog"), Vec::<String>::new());
    assert_eq!(fs::read(&out).unwrap(), rewritten);
    check_program(&out);
}

/// `llgo-ld rewrite` of a file that a process is running and another holds open: both keep
/// the original bytes (the new file takes the name; the old inode is not written), the name
/// gets the rewrite, and no temporary file stays behind.
#[test]
fn rewrite_of_a_running_and_open_file_keeps_that_file_intact() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let prog = dir.join("prog");
    run(cmd(need("clang-19"), dir).arg("-no-pie").args(&f.objs).arg("-o").arg(&prog)).ok();
    let original = fs::read(&prog).unwrap();
    let mut running = cmd(&prog, dir).env("FIXTURE_SLEEP", "1").spawn().unwrap();
    let exe = PathBuf::from(format!("/proc/{}/exe", running.id()));
    // Wait until the process runs the program (its exe link names it), not the fork's llgo-ld.
    let start = Instant::now();
    while fs::read_link(&exe).map(|l| l != prog).unwrap_or(true) {
        assert!(start.elapsed() < BOUND, "{} never ran", prog.display());
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut held = fs::File::open(&prog).unwrap();
    let out = run(cmd(llgo_ld(), dir).arg("rewrite").arg(&prog)).ok();
    assert!(out.text().contains("rewritten"), "{}", out.text());
    let mut seen = Vec::new();
    held.read_to_end(&mut seen).unwrap();
    assert!(seen == original, "the open file changed");
    assert!(fs::read(&exe).unwrap() == original, "the running file changed");
    assert!(fs::read(&prog).unwrap() != original, "the name was not rewritten");
    check_program(&prog);
    assert_eq!(temp_leftovers(dir, "prog"), Vec::<String>::new());
    running.kill().unwrap();
    let _ = running.wait();
}

/// The plan of `data` plus a hand-made compaction (as in shim-tests/plan.rs): most of the
/// non-loaded `.comment` is cut out and everything after it (the following sections and the
/// section header table) moves down. A size-changing plan until compaction plans one.
fn relaid_plan(data: &[u8]) -> Vec<llgo_ld::edit::Edit> {
    use llgo_ld::edit::Edit;
    let llgo_ld::plan::Plan::Rewrite { mut edits, .. } = llgo_ld::plan::plan(data).unwrap() else {
        panic!("fixture not rewritable")
    };
    let elf = goblin::elf::Elf::parse(data).unwrap();
    let comment = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".comment"))
        .expect(".comment");
    let (comment_off, comment_size) = (comment.sh_offset, comment.sh_size);
    let cut = comment_size & !7;
    assert!(cut >= 8, ".comment too small to cut: {comment_size}");
    let cut_end = comment_off + cut;
    let shoff = elf.header.e_shoff;
    assert!(shoff >= cut_end, "section headers before .comment");
    let le = |v: u64| v.to_le_bytes().to_vec();
    edits.push(Edit::cut(comment_off, cut));
    edits.push(Edit::overwrite(0x28, le(shoff - cut)));
    for (i, sh) in elf.section_headers.iter().enumerate() {
        let hdr = shoff + 64 * i as u64;
        if sh.sh_offset == comment_off && sh.sh_size == comment_size {
            edits.push(Edit::overwrite(hdr + 0x20, le(comment_size - cut)));
        } else if sh.sh_offset >= cut_end && sh.sh_type != goblin::elf::section_header::SHT_NOBITS {
            edits.push(Edit::overwrite(hdr + 0x18, le(sh.sh_offset - cut)));
        }
    }
    llgo_ld::edit::normalize(&mut edits, data.len() as u64).unwrap();
    edits
}

/// The shim's in-place commit of a size-changing plan ([`relaid_plan`]) on `out`, with the
/// pipeline's self-check run on the finished file through the planning map, as `postlink`
/// does (the file gets shorter than the map).
fn commit_relaid_in_place(out: &Path, marker: Option<&Path>) {
    if let Some(marker) = marker {
        fs::write(marker, b"").unwrap();
    }
    let id = llgo_ld::output::Identity::of(out).unwrap().unwrap();
    let (file, data) = llgo_ld::output::open_read_only(out, &id).unwrap();
    let edits = relaid_plan(&data);
    let check = |bytes: &[u8]| llgo_ld::postlink::self_check(bytes);
    llgo_ld::output::commit_fresh_viewed(out, &id, &file, &data, &edits, Some(&check)).unwrap();
}

fn relaid_fixture() -> &'static (PathBuf, Vec<u8>) {
    static F: OnceLock<(PathBuf, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let f = small();
        let linked = f.dir.join("linked-lld");
        run(cmd(need("clang-19"), &f.dir)
            .args(["-no-pie", "-fuse-ld=lld"])
            .args(&f.objs)
            .arg("-o")
            .arg(&linked))
        .ok();
        let bytes = fs::read(&linked).unwrap();
        (linked, bytes)
    })
}

/// A size-changing plan committed in place: shorter by the cut, the same inode, no temporary
/// file, and the program still adopts its table. Also the child of the kill loop below (this
/// test binary run again with LLGO_LD_RELAID_CHILD naming the output and the marker).
#[test]
fn relaid_plan_commits_in_place() {
    if let (Some(out), Some(marker)) =
        (std::env::var_os("LLGO_LD_RELAID_CHILD"), std::env::var_os("LLGO_LD_RELAID_MARKER"))
    {
        commit_relaid_in_place(Path::new(&out), Some(Path::new(&marker)));
        return;
    }
    let (linked, original) = relaid_fixture();
    let t = tempdir();
    let out = t.path().join("prog");
    fs::copy(linked, &out).unwrap();
    let ino = fs::metadata(&out).unwrap().ino();
    commit_relaid_in_place(&out, None);
    let relaid = fs::read(&out).unwrap();
    assert!(relaid.len() < original.len(), "{} >= {}", relaid.len(), original.len());
    assert_eq!(fs::metadata(&out).unwrap().ino(), ino, "edited in place");
    assert!(temp_leftovers(t.path(), "prog").is_empty());
    let readelf = run(cmd(need("llvm-readelf-19"), t.path()).args(["-S", "-s"]).arg(&out)).ok();
    assert!(!String::from_utf8_lossy(&readelf.stderr).contains("warning"), "{}", readelf.text());
    check_program(&out);
}

/// [`wait_for`] without sleeping: the relaid commit of the small fixture takes about a
/// millisecond after its marker appears.
fn spin_until(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(start.elapsed() < BOUND, "{} never appeared", path.display());
        std::thread::yield_now();
    }
}

/// The range of the random delays of a kill loop, after a run that was (`killed`) or was not
/// killed: shrinks when the run finished first (a machine under load measures the
/// undisturbed span badly), grows back slowly, so the instants stay spread over the phase.
fn adapt(span: u64, killed: bool) -> u64 {
    if killed {
        span + span / 16 + 1
    } else {
        (span * 3 / 4).max(50)
    }
}

/// The kill loop for a size-changing plan edited in place: at the output path only the
/// original, the finished relaid file or (between the renames) nothing.
#[test]
fn sigkill_during_a_relaid_in_place_commit() {
    let (linked, original) = relaid_fixture();
    let t = tempdir();
    let dir = t.path();
    let out = dir.join("prog");
    let marker = dir.join("marker");
    let install = || {
        let tmp = dir.join("prog.install");
        fs::copy(linked, &tmp).unwrap();
        fs::rename(&tmp, &out).unwrap();
        let _ = fs::remove_file(&marker);
    };
    let me = std::env::current_exe().unwrap();
    let child = || {
        let mut c = Command::new(&me);
        c.args(["relaid_plan_commits_in_place", "--exact", "--test-threads=1", "--quiet"])
            .env("LLGO_LD_RELAID_CHILD", &out)
            .env("LLGO_LD_RELAID_MARKER", &marker)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    install();
    let mut c = child().spawn().unwrap();
    spin_until(&marker);
    let start = Instant::now();
    assert!(c.wait().unwrap().success());
    let mut span = start.elapsed().as_micros() as u64 + 1;
    let relaid = fs::read(&out).unwrap();
    assert!(relaid.len() < original.len());
    check_program(&out);
    let seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
            as u64
            | 1;
    let mut rng = Rng(seed);
    let (mut kills, mut old, mut new, mut gone) = (0, 0, 0, 0);
    let mut i = 0;
    while kills < 60 && i < 400 {
        i += 1;
        install();
        let mut c = child().spawn().unwrap();
        let pid = c.id();
        spin_until(&marker);
        std::thread::sleep(Duration::from_micros(rng.next() % (span + span / 10)));
        // SAFETY: killing the child we spawned.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let killed = c.wait().unwrap().signal() == Some(libc::SIGKILL);
        span = adapt(span, killed);
        kills += usize::from(killed);
        match fs::read(&out) {
            Ok(now) if now == *original => old += 1,
            Ok(now) => {
                assert!(now == relaid, "iteration {i} (seed {seed:#x}): a partial output");
                new += 1;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone += 1,
            Err(e) => panic!("iteration {i}: {e}"),
        }
        for name in temp_leftovers(dir, "prog") {
            assert!(name.starts_with(&format!(".prog.llgo-ld.{pid}.")), "{name}: not {pid}'s");
            fs::remove_file(dir.join(name)).unwrap();
        }
    }
    eprintln!(
        "relaid kill loop: seed {seed:#x}, span {span} us, {kills} kills, {old} original, \
         {new} relaid, {gone} between the renames"
    );
    assert!(kills >= 60, "only {kills} of {i} runs were killed");
}

/// Runs `script` as root of a new user and mount namespace (`unshare -rm`).
fn in_namespace(dir: &Path, script: &str, envs: &[(&str, &OsStr)]) -> Out {
    let mut c = cmd(need("unshare"), dir);
    c.args(["-rm", "sh", "-ec", script]);
    for (k, v) in envs {
        c.env(k, v);
    }
    run(&mut c)
}

/// A full disk and a read-only directory. The shim edits the fresh output in place, so a disk
/// with no room for a second copy is no obstacle to it; `llgo-ld rewrite` of an existing file
/// copies it and fails there, leaving the file as it was. A read-only directory refuses the
/// temporary name: the output stays as linked. Never a temporary file left behind.
#[test]
fn full_or_read_only_output_directory_never_leaves_a_partial_output() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let linked = dir.join("linked");
    run(cmd(need("clang-19"), dir).arg("-no-pie").args(&f.objs).arg("-o").arg(&linked)).ok();
    let size = fs::metadata(&linked).unwrap().len();
    // Room for the link's output but not for a second copy.
    let tmpfs_size = (size.div_ceil(4096) + 1) * 4096;
    assert!(tmpfs_size < 2 * size, "fixture too small for the full-disk case");
    let mnt = dir.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    let envs = |strict: &str| -> Vec<(&'static str, std::ffi::OsString)> {
        vec![
            ("LLGO", llgo_ld().into()),
            (
                "OBJ",
                f.objs.iter().map(|o| o.display().to_string()).collect::<Vec<_>>().join(" ").into(),
            ),
            ("MNT", mnt.clone().into()),
            ("SIZE", tmpfs_size.to_string().into()),
            ("LINKED", linked.clone().into()),
            ("LLGO_LD_STRICT", strict.into()),
        ]
    };
    let full = "mount -t tmpfs -o size=$SIZE tmpfs \"$MNT\"\n\
                set +e; \"$LLGO\" clang-19 -no-pie $OBJ -o \"$MNT/prog\"; echo \"rc=$?\"\n\
                if cmp -s \"$MNT/prog\" \"$LINKED\"; then echo intact; fi\n\
                \"$LLGO\" verify \"$MNT/prog\" >/dev/null && echo verified\n\
                ls -A \"$MNT\"\n\
                rm -f \"$MNT/prog\"; cp \"$LINKED\" \"$MNT/prog\"\n\
                out=$(\"$LLGO\" rewrite \"$MNT/prog\" 2>&1); echo \"rewrite-rc=$?\"\n\
                case \"$out\" in *'No space left on device'*) echo enospc;; esac\n\
                if cmp -s \"$MNT/prog\" \"$LINKED\"; then echo rewrite-intact; fi\n\
                ls -A \"$MNT\"\n";
    // Read-only: a linker that writes the output, then makes the directory read-only.
    let ro = "mount -t tmpfs tmpfs \"$MNT\"\n\
              printf '#!/bin/sh\\ncp \"$LINKED\" \"$2\" && mount -o remount,ro \"$MNT\"\\n' > /tmp/ro-ld-$$\n\
              chmod +x /tmp/ro-ld-$$\n\
              set +e; \"$LLGO\" /tmp/ro-ld-$$ -o \"$MNT/prog\"; echo \"rc=$?\"; rm -f /tmp/ro-ld-$$\n\
              if cmp -s \"$MNT/prog\" \"$LINKED\"; then echo intact; fi\n\
              ls -A \"$MNT\"\n";
    for (what, script) in [("full", full), ("read-only", ro)] {
        for strict in ["0", "1"] {
            let e = envs(strict);
            let e: Vec<(&str, &OsStr)> = e.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
            let res = in_namespace(dir, script, &e).ok();
            let text = String::from_utf8_lossy(&res.stdout).to_string();
            let err = String::from_utf8_lossy(&res.stderr).to_string();
            if what == "full" {
                // The shim: rewritten in place, silently, in both modes.
                assert!(
                    text.contains("rc=0") && text.contains("verified"),
                    "{what}: {text}\n{err}"
                );
                assert!(!text.contains("\nintact"), "{what}: not rewritten: {text}");
                assert!(err.is_empty(), "{what}: not silent: {err}");
                // The subcommand: no room for its copy; the file is left as it was.
                assert!(text.contains("rewrite-rc=1"), "{what}: {text}");
                assert!(text.contains("enospc"), "{what}: {text}");
                assert!(text.contains("rewrite-intact"), "{what}: {text}");
            } else if strict == "0" {
                assert!(text.contains("rc=0") && text.contains("intact"), "{what}: {text}\n{err}");
                assert!(err.is_empty(), "{what}: not silent: {err}");
            } else {
                assert!(text.contains("rc=1"), "{what} strict: {text}\n{err}");
                assert!(err.starts_with("llgo-ld: error: "), "{what} strict: {err}");
                // Read-only: the output cannot be removed and stays as linked.
                assert!(text.contains("intact"), "{what}: {text}");
            }
            assert!(!text.contains(".llgo-ld."), "{what}: a temporary file was left: {text}");
        }
    }
}

#[test]
fn eight_concurrent_lld_links_to_one_output() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let ld_path = format!("--ld-path={}", llgo_ld().display());
    let children: Vec<_> = (0..8)
        .map(|_| {
            cmd(need("clang-19"), dir)
                .env("LLGO_LD_STRICT", "1")
                .args(["-no-pie", &ld_path])
                .args(&f.objs)
                .args(["-o", "prog"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        // A link may find its output replaced by a concurrent one: a skip, silently.
        assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    check_program(&dir.join("prog"));
    assert!(temp_leftovers(dir, "prog").is_empty());
}

#[test]
fn a_running_executable_is_replaced() {
    let f = small();
    let t = tempdir();
    let dir = t.path();
    let link = || {
        run(cmd(llgo_ld(), dir)
            .env("LLGO_LD_STRICT", "1")
            .args(["clang-19", "-no-pie", "-fuse-ld=lld"])
            .args(&f.objs)
            .args(["-o", "prog"]))
        .ok()
    };
    link();
    let mut running = cmd(dir.join("prog"), dir).env("FIXTURE_SLEEP", "1").spawn().unwrap();
    link();
    check_program(&dir.join("prog"));
    running.kill().unwrap();
    let _ = running.wait();
}

// ---------------------------------------------------------------------------------------------
// A real build system

#[test]
fn cmake_with_llgo_ld_as_compiler_and_as_linker() {
    let f = small();
    let cmake = need("cmake");
    need("make");
    let t = tempdir();
    let dir = t.path();
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    for e in fs::read_dir(f.dir.join("src")).unwrap().flatten() {
        if e.path().extension() == Some(OsStr::new("c")) {
            fs::copy(e.path(), src.join(e.file_name())).unwrap();
        }
    }
    fs::write(
        src.join("CMakeLists.txt"),
        format!(
            "cmake_minimum_required(VERSION 3.25)\nproject(p C)\n\
             file(GLOB sources ${{CMAKE_SOURCE_DIR}}/*.c)\n\
             add_executable(prog ${{sources}} {fx}/rtcheck.c)\n\
             target_include_directories(prog PRIVATE {fx})\n",
            fx = support::fixtures_dir().display()
        ),
    )
    .unwrap();
    let shim = shim_dir(dir, &["clang-19"]);
    let log = dir.join("llgo.log");
    let ld_path = format!("-no-pie --ld-path={}", llgo_ld().display());
    let configs: [(&str, PathBuf, String); 2] = [
        ("compiler", shim.join("clang-19"), "-no-pie".into()),
        ("linker", need("clang-19"), ld_path),
    ];
    for (what, compiler, ldflags) in configs {
        let build = dir.join(format!("build-{what}"));
        let _ = fs::remove_file(&log);
        let configure = run(cmd(&cmake, dir)
            .env("LLGO_LD_LOG_FILE", &log)
            .arg("-S")
            .arg(&src)
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_C_COMPILER={}", compiler.display()))
            .arg("-DCMAKE_C_FLAGS=-fno-pie")
            .arg(format!("-DCMAKE_EXE_LINKER_FLAGS={ldflags}")));
        assert!(configure.status.success(), "{what}: {}", configure.text());
        let cfg = fs::read_dir(build.join("CMakeFiles"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("CMakeCCompiler.cmake"))
            .find(|p| p.exists())
            .expect("CMakeCCompiler.cmake");
        let cfg = fs::read_to_string(cfg).unwrap();
        assert!(cfg.contains("set(CMAKE_C_COMPILER_ID \"Clang\")"), "{what}: {cfg}");
        assert!(cfg.contains("set(CMAKE_C_COMPILER_VERSION \"19."), "{what}: {cfg}");
        let built = run(cmd(&cmake, dir).env("LLGO_LD_LOG_FILE", &log).arg("--build").arg(&build));
        assert!(built.status.success(), "{what}: {}", built.text());
        check_program(&build.join("prog"));
        let lines = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            lines.lines().any(|l| l.contains("outcome=\"rewritten\"") && l.contains("prog")),
            "{what}: {lines}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Mach-O through the shim (ld64.lld flavour chosen by name or by the arguments)

#[test]
fn macho_links_through_ld64_llgo_and_plain_llgo_ld() {
    let t = tempdir();
    let dir = t.path();
    let macho_fixtures = support::fixtures_dir().join("macho");
    let src = dir.join("prog.c");
    run(cmd(need("python3"), dir)
        .arg(macho_fixtures.join("gen.py"))
        .arg(&src)
        .arg(dir.join("manifest.tsv"))
        .args(["--funcs", "8", "--helpers", "2", "--stubs", "2", "--exported", "1"]))
    .ok();
    let ld_dir = dir.join("ld");
    fs::create_dir_all(&ld_dir).unwrap();
    symlink(&llgo_ld(), &ld_dir.join("ld64.llgo"));
    let lld = need("ld64.lld-19");
    for arch in ["arm64", "x86_64"] {
        let link = |sub: &str, ld_path: &Path, shim: bool| -> Vec<u8> {
            // Same basename everywhere: it is the signature's identifier.
            let out_dir = dir.join(format!("{arch}-{sub}"));
            fs::create_dir_all(&out_dir).unwrap();
            let out = out_dir.join("prog");
            let mut c = cmd(need("clang-19"), dir);
            c.args(["-target", &format!("{arch}-apple-macos13"), "-ffreestanding", "-fuse-ld=lld"])
                .arg(format!("--ld-path={}", ld_path.display()))
                .arg("-isysroot")
                .arg(macho_fixtures.join("sdk"))
                .arg(&src)
                .arg("-o")
                .arg(&out);
            if shim {
                c.env("LLGO_LD_STRICT", "1").env("LLGO_LD_LOG", "info");
            }
            let res = run(&mut c);
            assert!(res.status.success(), "{arch} {sub}: {}", res.text());
            if shim {
                let log = String::from_utf8_lossy(&res.stderr);
                assert!(log.contains("ld64.lld") && log.contains("outcome=\"rewritten\""), "{log}");
            } else {
                run(cmd(llgo_ld(), dir).arg("rewrite").arg(&out)).ok();
            }
            let v = run(cmd(llgo_ld(), dir).arg("verify").arg(&out));
            assert!(v.status.success(), "{arch} {sub}: {}", v.text());
            fs::read(&out).unwrap()
        };
        let reference = link("direct", &lld, false);
        assert!(
            link("ld64-llgo", &ld_dir.join("ld64.llgo"), true) == reference,
            "{arch}: ld64.llgo"
        );
        assert!(link("llgo-ld", &llgo_ld(), true) == reference, "{arch}: plain llgo-ld");
    }
}
