//! Shared harness of the shim tests: real tools, scratch directories, fixture programs built
//! from `shim-tests/fixtures/` with a chosen toolchain, running them (natively or under
//! qemu-aarch64), running llgo-ld, and an independent reader of the rewritten table.
//!
//! Use it from a test file with `mod support;` (the file sits beside this directory). Not every
//! test file uses every helper.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::process::Output;

/// Exit codes of the fixture programs' run-time check (shim-tests/fixtures/rtcheck.h).
pub const RTCHECK_OK: i32 = 0;
pub const RTCHECK_WRONG: i32 = 1;
pub const RTCHECK_REJECTED: i32 = 2;
pub const RTCHECK_NO_TABLE: i32 = 3;

/// Finds a tool on `PATH` or panics: a missing tool is a broken machine, never a skipped test.
pub fn require_tool(name: &str) -> PathBuf {
    which_path(name).unwrap_or_else(|| {
        panic!("required tool `{name}` is not on PATH: run scripts/setup.sh (it installs every tool the tests use)")
    })
}

fn which_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// A fresh, empty scratch directory `target/shim-tests/<test>/`, kept after the test for
/// inspection and emptied when the test runs again.
pub fn scratch_dir(test: &str) -> PathBuf {
    let target =
        Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("CARGO_TARGET_TMPDIR has a parent");
    let dir = target.join("shim-tests").join(test);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("removing {}: {e}", dir.display()));
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/fixtures")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

/// A compiler driver plus linker; every fixture is linked `-no-pie` (Debian defaults to PIE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    ClangLld,
    GccBfd,
    GccGold,
    /// clang-19 with `--ld-path=mold` (gcc and bfd/gold are covered by the cells above).
    Mold,
    Aarch64ClangLld,
    Aarch64GccBfd,
}

impl Toolchain {
    pub fn arch(self) -> Arch {
        match self {
            Toolchain::Aarch64ClangLld | Toolchain::Aarch64GccBfd => Arch::Aarch64,
            _ => Arch::X86_64,
        }
    }

    /// The driver command with the linker choice, before sources and options.
    pub fn driver(self) -> Command {
        let (cc, args): (&str, Vec<String>) = match self {
            Toolchain::ClangLld => ("clang-19", vec![ld_path("ld.lld-19")]),
            Toolchain::GccBfd => ("gcc", vec!["-fuse-ld=bfd".into()]),
            Toolchain::GccGold => ("gcc", vec!["-fuse-ld=gold".into()]),
            Toolchain::Mold => ("clang-19", vec![ld_path("mold")]),
            Toolchain::Aarch64ClangLld => {
                ("clang-19", vec!["--target=aarch64-linux-gnu".into(), ld_path("ld.lld-19")])
            }
            Toolchain::Aarch64GccBfd => ("aarch64-linux-gnu-gcc", vec!["-fuse-ld=bfd".into()]),
        };
        match self {
            Toolchain::GccBfd | Toolchain::Aarch64GccBfd => require_tool("ld.bfd"),
            Toolchain::GccGold => require_tool("ld.gold"),
            _ => PathBuf::new(),
        };
        if self.arch() == Arch::Aarch64 {
            require_tool("qemu-aarch64");
        }
        let mut cmd = Command::new(require_tool(cc));
        cmd.args(args);
        cmd
    }
}

fn ld_path(tool: &str) -> String {
    format!("--ld-path={}", require_tool(tool).display())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// `-O1`: inlining within a file only.
    O1,
    /// `-flto -O2`: inlining across files, internalized symbols.
    Lto,
}

/// Parameters of `fixtures/gen.py` (see its docstring for the shapes).
#[derive(Clone, Copy, Debug)]
pub struct FixtureSpec {
    pub packages: u32,
    pub funcs: u32,
    pub stubs: u32,
    pub stub_records: u32,
    pub helpers: u32,
    pub inline_calls: u32,
    pub aliases: u32,
    pub unused: u32,
    pub filler: u32,
    pub cross_calls: bool,
    pub noinline: bool,
    /// LLGo's own module-level `"aR"` zero/meta rows instead of anchored `"ao"` ones.
    pub retain_meta: bool,
}

impl FixtureSpec {
    /// Every shape, and enough inline copies that the blob fits in place in every matrix cell,
    /// -O1 without LTO included: about 140 entry records (2.3 KB) for at most 58 rows (~0.6 KB).
    pub const MATRIX: FixtureSpec = FixtureSpec {
        packages: 3,
        funcs: 10,
        stubs: 5,
        stub_records: 1,
        helpers: 4,
        inline_calls: 3,
        aliases: 2,
        unused: 2,
        filler: 0,
        cross_calls: true,
        noinline: false,
        retain_meta: false,
    };

    /// Spills: 16 functions with a stub each, 6 stub records per stub, no inline copies, 2 KiB
    /// filler per function. Entry section 16 x (17 + 4) = 336 bytes; blob ~ 32 + 8 x 34 + 36 x
    /// ~9 buckets = ~630 bytes; stub section 16 x (96 + 1) = 1552 bytes.
    pub const SPILL: FixtureSpec = FixtureSpec {
        packages: 2,
        funcs: 8,
        stubs: 8,
        stub_records: 6,
        helpers: 0,
        inline_calls: 0,
        aliases: 0,
        unused: 0,
        filler: 2048,
        cross_calls: false,
        noinline: true,
        retain_meta: false,
    };

    /// Fits neither section: 4 functions spread over 256 KiB of text (~65 buckets, blob ~2.4 KB)
    /// against a 144-byte entry section and a 48-byte stub section.
    pub const NO_FIT: FixtureSpec = FixtureSpec {
        packages: 1,
        funcs: 4,
        stubs: 2,
        stub_records: 1,
        helpers: 0,
        inline_calls: 0,
        aliases: 0,
        unused: 0,
        filler: 65536,
        cross_calls: false,
        noinline: true,
        retain_meta: false,
    };

    fn gen_args(&self) -> Vec<String> {
        let mut args = vec![];
        for (flag, v) in [
            ("--packages", self.packages),
            ("--funcs", self.funcs),
            ("--stubs", self.stubs),
            ("--stub-records", self.stub_records),
            ("--helpers", self.helpers),
            ("--inline-calls", self.inline_calls),
            ("--aliases", self.aliases),
            ("--unused", self.unused),
            ("--filler", self.filler),
        ] {
            args.push(flag.to_string());
            args.push(v.to_string());
        }
        if self.cross_calls {
            args.push("--cross-calls".into());
        }
        if self.noinline {
            args.push("--noinline".into());
        }
        if self.retain_meta {
            args.extend(["--meta-style".into(), "retain".into()]);
        }
        args
    }
}

/// One line of the generator's manifest.tsv.
#[derive(Clone, Debug)]
pub struct ManifestEntry {
    /// func, helper, static-helper, alias, unused or stub.
    pub kind: String,
    pub name: String,
    /// The id its records carry (a stub: its target's).
    pub id: u64,
    /// The funcIndex the table must give at this name's address (0: never a row).
    pub expect: u32,
    /// Whether rtcheck's list holds it (unused functions are not listed, so gc can drop them).
    pub checked: bool,
}

/// A linked fixture program and what the generator says about it.
pub struct Built {
    pub exe: PathBuf,
    pub arch: Arch,
    pub manifest: Vec<ManifestEntry>,
}

/// Generates the sources of `spec` into `dir/src` and returns the manifest.
pub fn generate(spec: &FixtureSpec, dir: &Path) -> Vec<ManifestEntry> {
    generate_with(spec, dir, &[])
}

/// [`generate`] with extra gen.py arguments (`--generation 2`, `--after-entry`).
pub fn generate_with(spec: &FixtureSpec, dir: &Path, extra: &[&str]) -> Vec<ManifestEntry> {
    let src = dir.join("src");
    let out = checked(
        Command::new(require_tool("python3"))
            .arg(fixtures_dir().join("gen.py"))
            .arg(&src)
            .args(spec.gen_args())
            .args(extra),
        "gen.py",
    );
    std::fs::write(dir.join("gen.log"), &out.stdout).expect("writing gen.log");
    let text = std::fs::read_to_string(src.join("manifest.tsv")).expect("reading manifest.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "manifest line {l:?}");
            ManifestEntry {
                kind: f[0].to_string(),
                name: f[1].to_string(),
                id: u64::from_str_radix(f[2].trim_start_matches("0x"), 16).expect("id"),
                expect: f[3].parse().expect("funcIndex"),
                checked: f[4] == "1",
            }
        })
        .collect()
}

/// Generates `spec` and links it with `toolchain` into `dir/prog` (one driver invocation).
pub fn build_fixture(
    dir: &Path,
    spec: &FixtureSpec,
    toolchain: Toolchain,
    opt: Opt,
    gc_sections: bool,
) -> Built {
    build_fixture_with(dir, spec, toolchain, opt, gc_sections, &[])
}

/// [`build_fixture`] with extra driver arguments after the usual ones (the last of `-pie` /
/// `-no-pie` wins, so `&["-fpie", "-pie"]` makes a PIE).
pub fn build_fixture_with(
    dir: &Path,
    spec: &FixtureSpec,
    toolchain: Toolchain,
    opt: Opt,
    gc_sections: bool,
    extra: &[&str],
) -> Built {
    let manifest = generate(spec, dir);
    let mut extra: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
    if gc_sections {
        extra.insert(0, "-Wl,--gc-sections".into());
    }
    let exe = link_generated(dir, toolchain, opt, &extra, "fixture link");
    Built { exe, arch: toolchain.arch(), manifest }
}

/// Links the generated sources of `dir/src` and rtcheck.c with `toolchain` into `dir/prog`, the
/// fixture flags first and `extra` after them.
fn link_generated(
    dir: &Path,
    toolchain: Toolchain,
    opt: Opt,
    extra: &[String],
    what: &str,
) -> PathBuf {
    let exe = dir.join("prog");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir.join("src"))
        .expect("reading generated sources")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension() == Some(OsStr::new("c")))
        .collect();
    sources.sort();
    sources.push(fixtures_dir().join("rtcheck.c"));
    let mut cmd = toolchain.driver();
    cmd.args(["-fno-pie", "-no-pie", "-ffunction-sections", "-fdata-sections", "-Wall"])
        .arg("-I")
        .arg(fixtures_dir())
        .args(match opt {
            Opt::O1 => &["-O1"][..],
            Opt::Lto => &["-flto", "-O2"][..],
        })
        .args(&sources)
        .arg("-o")
        .arg(&exe)
        .args(extra);
    checked(&mut cmd, what);
    exe
}

/// Starts `cmd`, retrying while the kernel says the program's file is busy (ETXTBSY). A test
/// thread that has just written an executable can lose that race to another thread's fork: the
/// forked child holds the writer's descriptor until it execs (the classic multithreaded
/// fork/exec race), so a brief retry is the cure, not a skip.
pub fn spawn_retrying(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// [`spawn_retrying`] with the output collected, as `Command::output` does.
pub fn output_retrying(cmd: &mut Command) -> std::io::Result<Output> {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    spawn_retrying(cmd)?.wait_with_output()
}

/// Runs a fixture program (natively, or under qemu-aarch64 with the cross libc).
pub fn run_program(exe: &Path, arch: Arch) -> Output {
    let mut cmd = match arch {
        Arch::X86_64 => Command::new(exe),
        Arch::Aarch64 => {
            let mut c = Command::new(require_tool("qemu-aarch64"));
            c.args(["-L", "/usr/aarch64-linux-gnu"]).arg(exe);
            c
        }
    };
    output_retrying(&mut cmd).unwrap_or_else(|e| panic!("running {}: {e}", exe.display()))
}

/// Runs the llgo-ld binary built by this cargo invocation.
pub fn llgo_ld<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_llgo-ld")).args(args).output().expect("running llgo-ld")
}

/// Runs `cmd`, panicking with its output if it does not exit 0.
pub fn checked(cmd: &mut Command, what: &str) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{what} failed: {cmd:?}\n{}", show(&out));
    out
}

/// Exit status, stdout and stderr of a finished command, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The unsigned integer at `"k1": ... "k2": N` in a JSON text: each key is searched after the
/// previous one, so `["records", "entry"]` reads `entry` inside the `records` object (no JSON
/// parser among the dependencies; llgo-ld's inspect output is small and regular).
pub fn json_u64(json: &str, path: &[&str]) -> Option<u64> {
    let mut rest = json;
    for key in path {
        let pat = format!("\"{key}\"");
        rest = &rest[rest.find(&pat)? + pat.len()..];
    }
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

// ---- An independent reader of the rewritten sections (goblin, not llgo-ld's code) ----------

pub const MAGIC_TABLE: u64 = 0x3142_5446_4F47_4C4C; // "LLGOFTB1"
pub const MAGIC_REDIRECT: u64 = 0x3242_5446_4F47_4C4C; // "LLGOFTB2"

/// A section's address and file bytes.
pub struct Section {
    pub addr: u64,
    /// File offset of the section's first byte.
    pub offset: usize,
    pub bytes: Vec<u8>,
}

/// Text symbols that share one address, with their extent (docs/format.md, "Which records survive",
/// step 1).
#[derive(Clone, Debug)]
pub struct AliasSet {
    pub start: u64,
    pub end: u64,
    pub names: Vec<String>,
}

/// What goblin reads from an executable: the LLGo sections, .text and its symbols.
pub struct ElfFacts {
    pub entry: Section,
    pub stub: Section,
    pub text_start: u64,
    pub text_end: u64,
    /// FUNC/IFUNC symbols inside .text, by name: address.
    pub symbols: BTreeMap<String, u64>,
    /// The same symbols grouped by address, sorted.
    pub sets: Vec<AliasSet>,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Reads the two LLGo sections and the text symbols of `exe` with goblin.
pub fn read_elf(exe: &Path) -> ElfFacts {
    use goblin::elf::sym::STT_FUNC;
    use goblin::elf::sym::STT_GNU_IFUNC;
    let data = std::fs::read(exe).expect("reading the executable");
    let elf = goblin::elf::Elf::parse(&data).expect("goblin parses the executable");
    let header = |name: &str| {
        elf.section_headers
            .iter()
            .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(name))
            .unwrap_or_else(|| panic!("{}: no section {name}", exe.display()))
    };
    let section = |name: &str| {
        let sh = header(name);
        let off = sh.sh_offset as usize;
        Section {
            addr: sh.sh_addr,
            offset: off,
            bytes: data[off..off + sh.sh_size as usize].to_vec(),
        }
    };
    let text = header(".text");
    let (text_start, text_end) = (text.sh_addr, text.sh_addr + text.sh_size);
    let mut symbols = BTreeMap::new();
    let mut by_addr: BTreeMap<u64, (u64, Vec<String>)> = BTreeMap::new();
    for sym in elf.syms.iter() {
        let func = matches!(sym.st_type(), STT_FUNC | STT_GNU_IFUNC);
        if !func || !(text_start..text_end).contains(&sym.st_value) {
            continue;
        }
        let Some(name) = elf.strtab.get_at(sym.st_name) else {
            continue;
        };
        symbols.insert(name.to_string(), sym.st_value);
        let set = by_addr.entry(sym.st_value).or_default();
        set.0 = set.0.max(sym.st_size);
        set.1.push(name.to_string());
    }
    let starts: Vec<u64> = by_addr.keys().copied().collect();
    let sets = by_addr
        .into_iter()
        .enumerate()
        .map(|(i, (start, (size, names)))| {
            let next = starts.get(i + 1).copied().unwrap_or(text_end);
            let end = if size == 0 { next } else { start + size };
            AliasSet { start, end, names }
        })
        .collect();
    ElfFacts {
        entry: section("llgo_funcinfo_entry"),
        // Generation 2 has no stub section: an empty one stands for it (no records, never a
        // table home).
        stub: if elf
            .section_headers
            .iter()
            .any(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some("llgo_funcinfo_stubsite"))
        {
            section("llgo_funcinfo_stubsite")
        } else {
            Section { addr: 0, offset: 0, bytes: Vec::new() }
        },
        text_start,
        text_end,
        symbols,
        sets,
    }
}

/// The non-placeholder records `(pc, id)` of a site section (16-byte stride).
pub fn site_records(section: &Section) -> Vec<(u64, u64)> {
    section
        .bytes
        .chunks_exact(16)
        .map(|r| (u64_at(r, 0), u64_at(r, 8)))
        .filter(|&(pc, id)| pc != 0 && id != 0)
        .collect()
}

/// How the records of an unrewritten file classify under the owner test, computed from the
/// generator's manifest and goblin's symbols (no FNV, no llgo-ld code).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Census {
    pub entry_records: usize,
    pub stub_records: usize,
    pub canonical: usize,
    /// Owned by a function that the record's id does not name.
    pub inline_copies: usize,
    /// Owned by a compiler clone (`name.constprop.0`, ...) of the named function.
    pub clone_suffixed: usize,
    pub no_owner: usize,
}

const CLONE_MARKERS: &[&str] =
    &[".llvm.", ".cold", ".constprop.", ".isra.", ".part.", ".lto_priv."];

pub fn census(facts: &ElfFacts, manifest: &[ManifestEntry]) -> Census {
    let ids: BTreeMap<&str, u64> = manifest.iter().map(|m| (m.name.as_str(), m.id)).collect();
    let base_name =
        |n: &str| CLONE_MARKERS.iter().filter_map(|m| n.find(m)).min().map(|i| n[..i].to_string());
    let mut c = Census::default();
    let entry = site_records(&facts.entry);
    let stub = site_records(&facts.stub);
    c.entry_records = entry.len();
    c.stub_records = stub.len();
    for (pc, id) in entry.into_iter().chain(stub) {
        let owner = facts.sets.iter().rev().find(|s| s.start <= pc).filter(|s| pc < s.end);
        let Some(owner) = owner else {
            c.no_owner += 1;
            continue;
        };
        if owner.names.iter().any(|n| ids.get(n.as_str()) == Some(&id)) {
            c.canonical += 1;
        } else if owner
            .names
            .iter()
            .filter_map(|n| base_name(n))
            .any(|b| ids.get(b.as_str()) == Some(&id))
        {
            c.clone_suffixed += 1;
        } else {
            c.inline_copies += 1;
        }
    }
    c
}

/// What the rewritten file holds, decoded from the raw section bytes.
pub struct TableView {
    pub facts: ElfFacts,
    pub spilled: bool,
    pub link_sect_addr: u64,
    pub base: u64,
    /// (address, funcIndex) of every row, sentinel excluded.
    pub rows: Vec<(u64, u32)>,
    pub sentinel_off: u32,
    pub buckets: u32,
    /// `32 + 8 * count + 36 * buckets`.
    pub need: usize,
}

/// Decodes the table of a rewritten `exe` (following the redirect), asserting the framing.
pub fn read_table(exe: &Path) -> TableView {
    let facts = read_elf(exe);
    let spilled = match u64_at(&facts.entry.bytes, 0) {
        MAGIC_TABLE => false,
        MAGIC_REDIRECT => true,
        other => panic!("entry section starts with {other:#x}, not a table or redirect"),
    };
    let blob = if spilled { &facts.stub.bytes } else { &facts.entry.bytes };
    assert_eq!(u64_at(blob, 0), MAGIC_TABLE, "blob magic");
    let link_sect_addr = u64_at(blob, 8);
    let base = u64_at(blob, 16);
    let count = u32_at(blob, 24) as usize;
    let buckets = u32_at(blob, 28);
    let need = 32 + 8 * count + 36 * buckets as usize;
    assert!(count >= 2 && need <= blob.len(), "count {count}, buckets {buckets}");
    let rows = (0..count - 1)
        .map(|i| {
            let off = 32 + 8 * i;
            (base + u64::from(u32_at(blob, off)), u32_at(blob, off + 4))
        })
        .collect();
    let sentinel = 32 + 8 * (count - 1);
    assert_eq!(u32_at(blob, sentinel + 4), 0, "sentinel funcIndex");
    let sentinel_off = u32_at(blob, sentinel);
    TableView { spilled, link_sect_addr, base, rows, sentinel_off, buckets, need, facts }
}

/// The rows a correct rewrite must produce, from the generator's manifest and the symbols that
/// survived the link: one per distinct address of a present function, alias or stub whose
/// record carries an indexed id.
pub fn expected_rows(
    manifest: &[ManifestEntry],
    symbols: &BTreeMap<String, u64>,
) -> BTreeMap<u64, u32> {
    let mut rows = BTreeMap::new();
    for m in manifest.iter().filter(|m| m.expect != 0) {
        if let Some(&addr) = symbols.get(&m.name) {
            let prev = rows.insert(addr, m.expect);
            assert!(
                prev.is_none() || prev == Some(m.expect),
                "{} at {addr:#x}: names at one address expect funcIndex {prev:?} and {}",
                m.name,
                m.expect
            );
        }
    }
    rows
}

/// Checks a rewritten file against everything that can be known without llgo-ld's code:
/// framing, every row, sentinel, bucket count, zeroed remainders, redirect header.
pub fn check_table_independently(built: &Built) -> TableView {
    let t = read_table(&built.exe);
    let f = &t.facts;
    let want: Vec<(u64, u32)> = expected_rows(&built.manifest, &f.symbols).into_iter().collect();
    assert_eq!(t.rows, want, "rows (address, funcIndex) differ from the symbol table's");
    let (first, last) = (want[0].0, want[want.len() - 1].0);
    assert_eq!(t.base, first, "base is the first row's address");
    assert_eq!(u64::from(t.sentinel_off), f.text_end - t.base, "sentinel = end of .text");
    assert_eq!(u64::from(t.buckets), (last - (t.base & !4095)) / 4096 + 1, "bucket count");
    let (blob_sect, other) = if t.spilled { (&f.stub, &f.entry) } else { (&f.entry, &f.stub) };
    assert_eq!(t.link_sect_addr, blob_sect.addr, "linkSectAddr");
    assert!(blob_sect.bytes[t.need..].iter().all(|&b| b == 0), "bytes after the blob are zero");
    if t.spilled {
        let e = &other.bytes;
        assert_eq!(u64_at(e, 8), f.entry.addr, "redirect: entry section address");
        assert_eq!(u64_at(e, 16), f.stub.addr, "redirect: stub section address");
        assert!(e[24..].iter().all(|&b| b == 0), "redirect: the rest is zero");
    } else {
        assert!(other.bytes.iter().all(|&b| b == 0), "stub section zeroed");
    }
    t
}

/// The first 16 bytes of a section as printed by `llvm-objdump-19 -s -j NAME` (a third reader,
/// besides goblin and llgo-ld).
pub fn objdump_head(exe: &Path, section: &str) -> Vec<u8> {
    let out = checked(
        Command::new(require_tool("llvm-objdump-19")).args(["-s", "-j", section]).arg(exe),
        "llvm-objdump",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with(' '))
        .unwrap_or_else(|| panic!("no contents of {section} in objdump output:\n{text}"));
    // " 403f50 00000000 00000000 00000000 00000000  ................"
    line.split_whitespace()
        .skip(1)
        .take(4)
        .flat_map(|w| {
            (0..w.len()).step_by(2).map(move |i| u8::from_str_radix(&w[i..i + 2], 16).expect("hex"))
        })
        .collect()
}

/// Writes `bytes` as an executable file (for corrupted copies of a program).
pub fn write_executable(path: &Path, bytes: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// The linker script of a generation-2 fixture (gen.py `--generation 2`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gen2Script {
    /// LLGo's own script (`llgo.ld`): the entry section is the last file-backed section of the
    /// last writable PT_LOAD, right before .bss; compaction is possible.
    Llgo,
    /// `after.ld`: LLGo's script plus a writable section `llgo_after` right after the entry
    /// section; compaction is impossible.
    AfterEntry,
}

impl FixtureSpec {
    /// Generation 2 (today's LLGo): the MATRIX shapes without closure stubs.
    pub const GEN2: FixtureSpec = FixtureSpec { stubs: 0, ..FixtureSpec::MATRIX };
}

/// The usual generation-2 program: [`FixtureSpec::GEN2`] linked as today's LLGo links it (clang
/// with lld, `-O1`, LLGo's linker script).
pub fn build_gen2_llgo(dir: &Path) -> Built {
    build_gen2_fixture(dir, &FixtureSpec::GEN2, Toolchain::ClangLld, Opt::O1, Gen2Script::Llgo)
}

/// Generates `spec` as a generation-2 program (no stub section, meta rows last) and links it
/// into `dir/prog` like today's LLGo does: `-no-pie`, `-T <script>`, `--gc-sections`, and
/// `--icf=none` with lld. Only lld and ld.bfd accept LLGo's script (gold and mold reject it).
pub fn build_gen2_fixture(
    dir: &Path,
    spec: &FixtureSpec,
    toolchain: Toolchain,
    opt: Opt,
    script: Gen2Script,
) -> Built {
    assert_eq!(spec.stubs, 0, "generation 2 has no closure stubs");
    let extra: &[&str] = match script {
        Gen2Script::Llgo => &["--generation", "2"],
        Gen2Script::AfterEntry => &["--generation", "2", "--after-entry"],
    };
    let manifest = generate_with(spec, dir, extra);
    let script = dir.join("src").join(match script {
        Gen2Script::Llgo => "llgo.ld",
        Gen2Script::AfterEntry => "after.ld",
    });
    let lld = match toolchain {
        Toolchain::ClangLld | Toolchain::Aarch64ClangLld => true,
        Toolchain::GccBfd | Toolchain::Aarch64GccBfd => false,
        other => panic!("{other:?} rejects LLGo's linker script (LLGO-TODAY.md 1)"),
    };
    let mut extra = vec!["-Wl,--gc-sections".to_string(), format!("-Wl,-T,{}", script.display())];
    if lld {
        extra.push("-Wl,--icf=none".into());
    }
    let exe = link_generated(dir, toolchain, opt, &extra, "generation-2 fixture link");
    Built { exe, arch: toolchain.arch(), manifest }
}
