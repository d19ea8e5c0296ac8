//! Headers that lie (issue 11): fixtures built at test time, then one header changed so the
//! section headers and the loader's view (program headers, boundary symbols) disagree. Each is
//! refused, the file stays byte-identical, and the message names the two structures. The
//! offsets are found with goblin, not with llgo-ld's reader.

mod support;

use std::path::{Path, PathBuf};

use goblin::elf::program_header::PT_LOAD;
use goblin::elf::Elf;
use support::*;

/// The stub section of generation 1 (docs/format.md).
const STUB: &str = "llgo_funcinfo_stubsite";

fn fixture(test: &str) -> (PathBuf, Vec<u8>) {
    let dir = scratch_dir(test);
    let built = build_fixture(&dir, &FixtureSpec::MATRIX, Toolchain::ClangLld, Opt::O1, false);
    let data = std::fs::read(&built.exe).unwrap();
    (dir, data)
}

fn put(d: &mut [u8], off: usize, v: u64) {
    d[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// Offsets in the file of a section header (by name), its fields and the program headers.
struct Headers {
    elf_shoff: usize,
    shentsize: usize,
    phoff: usize,
    phentsize: usize,
}

impl Headers {
    fn of(data: &[u8]) -> Self {
        let e = Elf::parse(data).unwrap();
        Headers {
            elf_shoff: e.header.e_shoff as usize,
            shentsize: e.header.e_shentsize as usize,
            phoff: e.header.e_phoff as usize,
            phentsize: e.header.e_phentsize as usize,
        }
    }
    fn shdr(&self, data: &[u8], name: &str) -> usize {
        let e = Elf::parse(data).unwrap();
        let i = e
            .section_headers
            .iter()
            .position(|s| e.shdr_strtab.get_at(s.sh_name) == Some(name))
            .unwrap_or_else(|| panic!("no section {name}"));
        self.elf_shoff + i * self.shentsize
    }
}

fn section(data: &[u8], name: &str) -> (u64, u64, u64) {
    let e = Elf::parse(data).unwrap();
    let s = e
        .section_headers
        .iter()
        .find(|s| e.shdr_strtab.get_at(s.sh_name) == Some(name))
        .unwrap_or_else(|| panic!("no section {name}"));
    (s.sh_addr, s.sh_offset, s.sh_size)
}

fn symbol(data: &[u8], name: &str) -> u64 {
    let e = Elf::parse(data).unwrap();
    e.syms
        .iter()
        .find(|s| e.strtab.get_at(s.st_name) == Some(name))
        .map(|s| s.st_value)
        .unwrap_or_else(|| panic!("no symbol {name}"))
}

/// File offset of the symbol table (`.symtab`) of `e`.
fn symtab_offset(e: &Elf) -> usize {
    let symtab = e
        .section_headers
        .iter()
        .find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB)
        .expect("the fixture has a symbol table");
    symtab.sh_offset as usize
}

/// Runs `llgo-ld rewrite` on `data`: asserts exit 1, the file byte-identical, and a message
/// containing every one of `needles`; then `verify` and `inspect` must not pass it either.
fn refused(dir: &Path, tag: &str, data: &[u8], needles: &[&str]) {
    let work = dir.join(tag);
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("prog");
    write_executable(&file, data);
    let out = llgo_ld([Path::new("rewrite"), &file]);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "{tag}: expected a refusal\n{text}");
    assert_eq!(std::fs::read(&file).unwrap(), data, "{tag}: file changed\n{text}");
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert_eq!(left.len(), 1, "{tag}: temporary files left");
    for n in needles {
        assert!(text.contains(n), "{tag}: message does not name {n:?}:\n{text}");
    }
    assert!(!text.contains("panicked"), "{tag}: {text}");
    let v = llgo_ld([Path::new("verify"), &file]);
    assert!(!v.status.success(), "{tag}: verify passes it:\n{}", show(&v));
}

/// The attack of the issue: `sh_offset` of the entry section moved into `.text`, its address
/// unchanged. The rewrite would read records from machine code and overwrite `.text`.
#[test]
fn entry_offset_moved_into_text_is_refused() {
    let (dir, orig) = fixture("hostile_offset_into_text");
    let h = Headers::of(&orig);
    let (_, text_off, _) = section(&orig, ".text");
    let mut d = orig.clone();
    put(&mut d, h.shdr(&orig, "llgo_funcinfo_entry") + 0x18, text_off);
    refused(
        &dir,
        "offset-into-text",
        &d,
        &["section header", "llgo_funcinfo_entry", "program header", "PT_LOAD", "disagree"],
    );
    // The stub section too.
    let mut d = orig.clone();
    put(&mut d, h.shdr(&orig, "llgo_funcinfo_stubsite") + 0x18, text_off);
    refused(&dir, "stub-offset-into-text", &d, &["llgo_funcinfo_stubsite", "PT_LOAD", "disagree"]);
}

#[test]
fn section_in_no_segment_and_address_zero_are_refused() {
    let (dir, orig) = fixture("hostile_no_segment");
    let h = Headers::of(&orig);
    let at = h.shdr(&orig, "llgo_funcinfo_entry") + 0x10;
    for (tag, addr) in [("addr-zero", 0u64), ("no-segment", 0x7000_0000_0000)] {
        let mut d = orig.clone();
        put(&mut d, at, addr);
        refused(
            &dir,
            tag,
            &d,
            &["section header", "llgo_funcinfo_entry", "no PT_LOAD program header"],
        );
    }
}

/// `p_filesz` of the `PT_LOAD` that holds the symbol-index count cut just before the count:
/// the loader zero-fills it (count 0) while the section headers still show its bytes.
#[test]
fn count_the_loader_maps_differently_is_refused() {
    let (dir, orig) = fixture("hostile_count");
    let h = Headers::of(&orig);
    let count = symbol(&orig, "__llgo_funcinfo_symbol_index_count");
    let e = Elf::parse(&orig).unwrap();
    let i = e
        .program_headers
        .iter()
        .position(|p| p.p_type == PT_LOAD && p.vm_range().contains(&(count as usize)))
        .expect("a PT_LOAD holds the count");
    let p_vaddr = e.program_headers[i].p_vaddr;
    let mut d = orig.clone();
    put(&mut d, h.phoff + i * h.phentsize + 32, count - p_vaddr); // p_filesz
    refused(&dir, "count-past-filesz", &d, &["section header", "program header", "p_filesz"]);
    // The same PT_LOAD moved one page in the file: everything it maps reads other bytes.
    let mut d = orig.clone();
    let p_offset = e.program_headers[i].p_offset;
    let p_vaddr_at = h.phoff + i * h.phentsize + 16;
    put(&mut d, h.phoff + i * h.phentsize + 8, p_offset.saturating_sub(0x1000));
    put(&mut d, p_vaddr_at, p_vaddr);
    refused(&dir, "segment-moved", &d, &["program header", "PT_LOAD"]);
}

/// `__stop_llgo_funcinfo_entry` no longer at the end of the section: the runtime reads a
/// different range than the one the rewrite would write.
#[test]
fn boundary_symbols_must_bound_the_entry_section() {
    let (dir, orig) = fixture("hostile_boundary");
    let e = Elf::parse(&orig).unwrap();
    let (addr, _, size) = section(&orig, "llgo_funcinfo_entry");
    let symtab_at = symtab_offset(&e);
    for (name, value, needle) in [
        ("__stop_llgo_funcinfo_entry", addr + size - 16, "symbol __stop_llgo_funcinfo_entry"),
        ("__start_llgo_funcinfo_entry", addr + 16, "symbol __start_llgo_funcinfo_entry"),
    ] {
        let k = e.syms.iter().position(|s| e.strtab.get_at(s.st_name) == Some(name)).unwrap();
        let mut d = orig.clone();
        put(&mut d, symtab_at + k * 24 + 8, value);
        refused(&dir, name, &d, &[needle, "section header llgo_funcinfo_entry", "disagree"]);
    }
}

/// A stub section whose file bytes overlap the symbol table (address consistent with its
/// segment is impossible to fake here, so the overlap check is reached with a section whose
/// offset and address both moved inside its own segment onto a neighbour).
#[test]
fn written_section_overlapping_another_is_refused() {
    let (dir, orig) = fixture("hostile_overlap");
    let h = Headers::of(&orig);
    let (eaddr, eoff, esize) = section(&orig, "llgo_funcinfo_entry");
    let (saddr, soff, _) = section(&orig, "llgo_funcinfo_stubsite");
    // Grow the entry section over the stub section (both in one PT_LOAD with lld).
    let mut d = orig.clone();
    let grown = (saddr - eaddr) + 16;
    assert_eq!(soff - eoff, saddr - eaddr, "fixture: sections laid out contiguously");
    put(&mut d, h.shdr(&orig, "llgo_funcinfo_entry") + 0x20, grown.max(esize + 16));
    refused(&dir, "entry-over-stub", &d, &["overlap"]);
}

/// A rewrite that wrote in the wrong place cannot verify: the rewritten table copied to where
/// a lying section header points (inside `.text`), the header pointing there.
#[test]
fn verify_judges_from_the_loaders_view() {
    let (dir, orig) = fixture("hostile_verify");
    let work = dir.join("ok");
    std::fs::create_dir_all(&work).unwrap();
    let file = work.join("prog");
    write_executable(&file, &orig);
    let r = llgo_ld([Path::new("rewrite"), &file]);
    assert!(r.status.success(), "{}", show(&r));
    let rewritten = std::fs::read(&file).unwrap();
    let (_, eoff, esize) = section(&rewritten, "llgo_funcinfo_entry");
    let (_, text_off, text_size) = section(&rewritten, ".text");
    assert!(text_size >= esize, "fixture: .text larger than the entry section");
    // The original's records where the loader maps the section, the table where the lying
    // header points.
    let mut d = orig.clone();
    let table = rewritten[eoff as usize..(eoff + esize) as usize].to_vec();
    d[text_off as usize..(text_off + esize) as usize].copy_from_slice(&table);
    let h = Headers::of(&d);
    put(&mut d, h.shdr(&orig, "llgo_funcinfo_entry") + 0x18, text_off);
    let bad = work.join("wrong-place");
    write_executable(&bad, &d);
    let v = llgo_ld([Path::new("verify"), &bad]);
    let t = show(&v);
    assert!(!v.status.success(), "verify passes a table written in the wrong place:\n{t}");
    assert!(t.contains("PT_LOAD") && t.contains("llgo_funcinfo_entry"), "{t}");
    assert!(!t.contains("every row resolves"), "{t}");
}

/// Fuzzing finding (produce target, on mp24x24_ltofull.raw): `PF_X` cleared on the `PT_LOAD`
/// holding `.text`. The rewrite went ahead and wrote rows pointing into a segment the loader
/// maps without execute permission; the independent checker rejected the output.
#[test]
fn text_in_a_segment_that_is_not_executable_is_refused() {
    let (dir, orig) = fixture("hostile_text_not_executable");
    let h = Headers::of(&orig);
    let (text_addr, _, _) = section(&orig, ".text");
    let e = Elf::parse(&orig).unwrap();
    let i = e
        .program_headers
        .iter()
        .position(|p| p.p_type == PT_LOAD && p.vm_range().contains(&(text_addr as usize)))
        .expect("a PT_LOAD holds .text");
    let mut d = orig.clone();
    let flags = h.phoff + i * h.phentsize + 4;
    d[flags] &= !1; // PF_X
    refused(&dir, "text-not-executable", &d, &["section header", ".text", "PT_LOAD", "no PF_X"]);
}

/// Fuzzing finding (elf target): `__llgo_funcinfo_symbol_index` moved to an address no
/// `PT_LOAD` backs, the meta record intact. The rewrite read the index through the meta record;
/// `verify`, reading it by name once the meta rows were gone, called the output damaged. The
/// two must agree before anything is written.
#[test]
fn index_symbol_that_disagrees_with_the_meta_record_is_refused() {
    let (dir, orig) = fixture("hostile_index_symbol");
    let e = Elf::parse(&orig).unwrap();
    let symtab_at = symtab_offset(&e);
    for name in ["__llgo_funcinfo_symbol_index", "__llgo_funcinfo_symbol_index_count"] {
        let k = e.syms.iter().position(|s| e.strtab.get_at(s.st_name) == Some(name)).unwrap();
        let mut d = orig.clone();
        let at = symtab_at + k * 24 + 8;
        let v = u64::from_le_bytes(d[at..at + 8].try_into().unwrap());
        put(&mut d, at, v + 0x10_0000);
        refused(&dir, name, &d, &["meta record row", &format!("symbol {name} "), "disagree"]);
    }
}

/// The symbol index count placed inside the entry section (the meta record's row 2 and the
/// symbol agree): the rewrite would overwrite the very count it read, and `verify` would read
/// table bytes as the count. Refused before anything is written. (The Mach-O form, an entry
/// section grown over `__data`, is a fuzzing finding; see shim-tests/macho.rs.)
#[test]
fn index_inside_the_written_sections_is_refused() {
    let (dir, orig) = fixture("hostile_index_inside");
    let (addr, off, size) = section(&orig, "llgo_funcinfo_entry");
    let u64_at = |d: &[u8], o: usize| u64::from_le_bytes(d[o..o + 8].try_into().unwrap());
    let meta = (off as usize..(off + size) as usize)
        .step_by(16)
        .find(|&o| u64_at(&orig, o) == 0 && u64_at(&orig, o + 8) == 0x3154_454D_4F47_4C4C)
        .expect("meta record");
    let e = Elf::parse(&orig).unwrap();
    let symtab_at = symtab_offset(&e);
    let name = "__llgo_funcinfo_symbol_index_count";
    let k = e.syms.iter().position(|s| e.strtab.get_at(s.st_name) == Some(name)).unwrap();
    let mut d = orig.clone();
    let inside = addr + 8; // the id word of row 0: non-zero, so the count is plausible
    put(&mut d, meta + 32, inside);
    put(&mut d, symtab_at + k * 24 + 8, inside);
    refused(&dir, "count-inside-entry", &d, &["symbol index count", "inside the entry section"]);
}

/// Fuzzing finding (produce target, on a real LLGo program): a function symbol renamed to
/// `__start_llgo_funcinfo_entry` gave the symbol table two definitions of the boundary symbol,
/// and the rewrite trusted the size-0 one while an independent reader took the other. Two
/// definitions that disagree are refused, naming both symbols.
#[test]
fn two_definitions_of_a_boundary_symbol_are_refused() {
    let (dir, orig) = fixture("hostile_two_boundaries");
    let e = Elf::parse(&orig).unwrap();
    let symtab_at = symtab_offset(&e);
    let start = e
        .syms
        .iter()
        .find(|s| e.strtab.get_at(s.st_name) == Some("__start_llgo_funcinfo_entry"))
        .expect("the fixture's __start_ symbol");
    // Any sized function symbol now carries the boundary symbol's name.
    let k = e
        .syms
        .iter()
        .position(|s| s.st_type() == goblin::elf::sym::STT_FUNC && s.st_size > 0)
        .expect("a function symbol");
    let mut d = orig.clone();
    let name_field = symtab_at + k * 24;
    d[name_field..name_field + 4].copy_from_slice(&(start.st_name as u32).to_le_bytes());
    refused(
        &dir,
        "two_starts",
        &d,
        &["two definitions of __start_llgo_funcinfo_entry", "disagree"],
    );
}

/// A generation-2 program has no stub section. Symbols that bound one anyway are a symbol
/// table the section headers do not explain (a generation-1 runtime reads its stub section
/// through them, and the rewrite neither knows nor zeroes those bytes): refused, naming the
/// symbol. The fuzzer found this shape: a mutated real program whose two object symbols had
/// come to carry these names; the rewrite went through and the independent checker saw a
/// non-zero "stub section" beside the in-place table.
#[test]
fn boundary_symbols_of_a_stub_section_the_headers_lack_are_refused() {
    let dir = scratch_dir("hostile_absent_stub");
    let built = build_gen2_llgo(&dir);
    let orig = std::fs::read(&built.exe).unwrap();
    let e = Elf::parse(&orig).unwrap();
    assert!(
        e.section_headers.iter().all(|s| e.shdr_strtab.get_at(s.sh_name) != Some(STUB)),
        "a generation-2 fixture has no stub section"
    );
    let symtab = e
        .section_headers
        .iter()
        .find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB)
        .expect("the fixture has a symbol table");
    let strtab_at = e.section_headers[symtab.sh_link as usize].sh_offset as usize;
    for which in ["__start_", "__stop_"] {
        let name = format!("{which}{STUB}");
        // A defined symbol whose own name string is long enough to be overwritten with `name`,
        // and which no other symbol's name shares (string tables merge common suffixes).
        let fits = |s: &goblin::elf::Sym| {
            let len = e.strtab.get_at(s.st_name).map_or(0, str::len);
            let range = s.st_name..s.st_name + len;
            s.st_shndx != 0
                && len >= name.len()
                && e.syms.iter().filter(|o| range.contains(&o.st_name)).count() == 1
        };
        let sym = e.syms.iter().find(fits).expect("a symbol with a long enough name");
        let mut d = orig.clone();
        let at = strtab_at + sym.st_name;
        d[at..at + name.len()].copy_from_slice(name.as_bytes());
        d[at + name.len()] = 0;
        let found = Elf::parse(&d).unwrap();
        assert!(found.syms.iter().any(|s| found.strtab.get_at(s.st_name) == Some(name.as_str())));
        refused(&dir, &name, &d, &[&format!("symbol {name}"), "section headers do not have"]);
    }
}
