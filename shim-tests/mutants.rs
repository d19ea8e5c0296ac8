//! 2,000 seeded mutants of real LLGo executables (shim-tests/corpus, every `*.raw.xz`), each
//! rewritten in place through the pipeline the subcommand uses (`postlink::rewrite_path`):
//! every changed output passes `verify` and the independent checker (shim-tests/indep: goblin
//! and a loader's view computed in the test, not llgo-ld's code); every refusal or skip leaves
//! the file byte-identical. The mutations are aimed, as an attacker would, at the ELF header,
//! the program and section headers, the LLGo sections, the symbol table and the data the meta
//! record points at (single and multiple byte flips, word smashes with hostile values, copies
//! of one header field into another, truncations); their places are found with goblin.
//!
//! Deterministic: the seed of mutant `i` is `i`. `LLGO_LD_MUTANTS=N` runs N instead of 2,000.

#[path = "indep/mod.rs"]
mod indep;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use goblin::elf::Elf;
use llgo_ld::postlink::{self, Outcome};
use support::*;

/// xorshift64*: the mutants are the same on every run.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One sample and the file ranges worth aiming at, found with goblin.
struct Sample {
    name: String,
    data: Vec<u8>,
    /// `(what, offset, len)`
    targets: Vec<(&'static str, usize, usize)>,
}

fn decompress(path: &Path) -> Vec<u8> {
    let out = Command::new(require_tool("xz")).arg("-dc").arg(path).output().unwrap();
    assert!(out.status.success(), "xz -dc {}: {}", path.display(), show(&out));
    out.stdout
}

fn samples() -> Vec<Sample> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shim-tests/corpus");
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("{}: {e}", root.display())) {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.to_string_lossy().ends_with(".raw.xz") {
                paths.push(f);
            }
        }
    }
    paths.sort();
    assert!(!paths.is_empty(), "no *.raw.xz under {}", root.display());
    paths
        .iter()
        .map(|p| {
            let data = decompress(p);
            let targets = aim(&data);
            Sample { name: p.file_name().unwrap().to_string_lossy().into_owned(), data, targets }
        })
        .collect()
}

/// Where to aim: headers, LLGo sections, symbols, the index globals.
fn aim(data: &[u8]) -> Vec<(&'static str, usize, usize)> {
    let e = Elf::parse(data).expect("goblin parses the sample");
    let mut t = vec![("ELF header", 0, 64)];
    t.push(("program headers", e.header.e_phoff as usize, e.header.e_phnum as usize * 56));
    for (i, s) in e.section_headers.iter().enumerate() {
        let name = e.shdr_strtab.get_at(s.sh_name).unwrap_or("");
        // The section headers the rewrite relies on (a random word of the whole table mostly
        // breaks a header nobody reads, which the first parse already refuses).
        if matches!(
            name,
            "llgo_funcinfo_entry"
                | "llgo_funcinfo_stubsite"
                | ".text"
                | ".symtab"
                | ".strtab"
                | ".data"
        ) {
            let at = e.header.e_shoff as usize + i * e.header.e_shentsize as usize;
            t.push(("section header", at, 64));
        }
        let what = match name {
            "llgo_funcinfo_entry" => "entry section",
            "llgo_funcinfo_stubsite" => "stub section",
            ".symtab" => "symbol table",
            ".data" => ".data (index globals)",
            ".rodata" => ".rodata (index array)",
            _ => continue,
        };
        if s.sh_size > 0 {
            t.push((what, s.sh_offset as usize, s.sh_size as usize));
        }
    }
    t
}

/// Hostile values for a word of `w` bytes that held `old`.
fn hostile(rng: &mut Rng, old: u64, len: usize, w: usize) -> u64 {
    let mask = if w == 8 { u64::MAX } else { (1u64 << (8 * w)) - 1 };
    (match rng.below(9) {
        0 => 0,
        1 => mask,
        2 => old.wrapping_add(1 + rng.below(64) as u64),
        3 => old.wrapping_sub(1 + rng.below(64) as u64),
        4 => old.wrapping_add(0x1000),
        5 => old.wrapping_sub(0x1000),
        6 => len as u64,
        7 => old ^ (1 << rng.below(8 * w)),
        _ => rng.next(),
    }) & mask
}

fn mutate(sample: &Sample, seed: u64) -> (Vec<u8>, String) {
    let mut rng = Rng::new(seed);
    let mut d = sample.data.clone();
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let len = d.len(); // a truncation shortens the file for the next mutation
        let (name, off, n) = sample.targets[rng.below(sample.targets.len())];
        let n = n.min(len.saturating_sub(off));
        if n < 8 {
            continue;
        }
        match rng.below(11) {
            // Byte flips.
            0..=2 => {
                for _ in 0..1 + rng.below(4) {
                    let at = off + rng.below(n);
                    d[at] ^= 1 << rng.below(8);
                }
                what.push(format!("flips in {name}"));
            }
            // Word smashes, aligned as header fields are.
            3..=6 => {
                let w = [2usize, 4, 8][rng.below(3)];
                let at = off + rng.below(n / w) * w;
                if at + w <= len {
                    let old =
                        d[at..at + w].iter().rev().fold(0u64, |a, &b| (a << 8) | u64::from(b));
                    let v = hostile(&mut rng, old, len, w);
                    d[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
                    what.push(format!("{w}-byte word at {at:#x} in {name}: {old:#x} -> {v:#x}"));
                }
            }
            // One 8-byte field copied onto another of the same region.
            7..=9 => {
                let a = off + rng.below(n / 8) * 8;
                let b = off + rng.below(n / 8) * 8;
                if a + 8 <= len && b + 8 <= len {
                    let v: [u8; 8] = d[a..a + 8].try_into().unwrap();
                    d[b..b + 8].copy_from_slice(&v);
                    what.push(format!("word {a:#x} copied to {b:#x} in {name}"));
                }
            }
            // Truncation inside the region (rarer: with the section headers at the end of the
            // file, most truncations are refused by the first parse).
            _ => {
                let at = off + rng.below(n);
                d.truncate(at.min(d.len()));
                what.push(format!("truncated at {at:#x} ({name})"));
            }
        }
    }
    (d, what.join("; "))
}

#[test]
fn seeded_mutants_of_real_llgo_executables() {
    let n: u64 = std::env::var("LLGO_LD_MUTANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let samples = samples();
    // tmpfs when there is one: 2,000 multi-megabyte files.
    let base = Path::new("/dev/shm");
    let dir = if base.is_dir() {
        let d = base.join(format!("llgo-ld-mutants-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    } else {
        scratch_dir("mutants")
    };
    let (mut rewritten, mut refused, mut skipped, mut relaid) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    // Rewritten outputs whose dynamic relocations write into the entry section: issue 10's
    // checks (not this test's), listed so they are not lost.
    let mut issue10 = Vec::new();
    let mut refusals: std::collections::BTreeMap<String, usize> = Default::default();
    for i in 0..n {
        let sample = &samples[i as usize % samples.len()];
        let (mutant, what) = mutate(sample, i);
        let file = dir.join("prog");
        std::fs::write(&file, &mutant).unwrap();
        let report = postlink::rewrite_path(&file, None);
        let after = std::fs::read(&file).unwrap();
        let tag = format!("mutant {i} of {} ({what})", sample.name);
        match report.outcome {
            Outcome::Rewritten(_) => {
                rewritten += 1;
                relaid += usize::from(after.len() != mutant.len());
                let verdict = llgo_ld::verify::verify(&after)
                    .map_err(|e| e.to_string())
                    .and_then(|r| if r.ok() { Ok(()) } else { Err(r.problems.join("; ")) })
                    .map_err(|e| format!("verify: {e}"))
                    .and_then(|()| indep::check_output(&mutant, &after));
                if let Err(e) = verdict {
                    failures.push(format!("{tag}: rewritten, but {e}"));
                }
                if let Some(n) = relocations_into_entry(&after) {
                    issue10
                        .push(format!("{tag}: {n} dynamic relocations target the entry section"));
                }
            }
            Outcome::Failed(e) => {
                refused += 1;
                let key: String = e.to_string().chars().take(60).collect();
                *refusals.entry(key).or_default() += 1;
                if after != mutant {
                    failures.push(format!("{tag}: refused ({e}) but the file changed"));
                }
            }
            Outcome::Skipped(why) => {
                skipped += 1;
                if after != mutant {
                    failures.push(format!("{tag}: skipped ({why}) but the file changed"));
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{n} mutants of {} samples: {rewritten} rewritten ({relaid} of them compacted; all \
         checked), {refused} refused, {skipped} skipped",
        samples.len()
    );
    for (k, v) in refusals.iter().filter(|(_, &v)| v >= 20) {
        eprintln!("  {v:5} refused: {k}...");
    }
    for line in &issue10 {
        eprintln!("  issue 10: {line}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(rewritten > 0, "no mutant was rewritten: the test checks nothing");
}

/// How many dynamic relocations (RELA, REL, PLT) of a rewritten ELF output write into its
/// entry section, by goblin; `None` when there are none (or goblin cannot tell).
fn relocations_into_entry(data: &[u8]) -> Option<usize> {
    let e = Elf::parse(data).ok()?;
    let s = e
        .section_headers
        .iter()
        .find(|s| e.shdr_strtab.get_at(s.sh_name) == Some("llgo_funcinfo_entry"))?;
    let range = s.sh_addr..s.sh_addr.saturating_add(s.sh_size);
    let n = e
        .dynrelas
        .iter()
        .chain(e.dynrels.iter())
        .chain(e.pltrelocs.iter())
        .filter(|r| range.contains(&r.r_offset))
        .count();
    (n > 0).then_some(n)
}
