//! Checks a rewritten file the way the runtime will use it (docs/design.md, "Outcomes"). Used by
//! the `verify` subcommand and as the rewrite's self-check before anything is committed, so the two
//! cannot drift apart. Collects every problem instead of stopping at the first.

use crate::binary::elf::{ENTRY_SECTION as ELF_ENTRY, STUB_SECTION as ELF_STUB};
use crate::binary::macho::{ENTRY_SECTION as MACHO_ENTRY, STUB_SECTION as MACHO_STUB};
use crate::binary::{self, elf_view, macho_view};
use crate::error::Result;
use crate::extract::{self, EntryState};
use crate::image::{NameStyle, SectionInfo, TextSymbol};
use crate::loader::{self, Images, Loader};
use crate::plan::{self, Decision};
use crate::table::encode::{self, Blob, Placement, REDIRECT_SIZE};
use crate::table::{self, findfunc, SymbolIndex};

/// Findings for one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Defects: the runtime would not adopt the table, or would answer wrongly.
    pub problems: Vec<String>,
    /// Parts that could not be checked, and why.
    pub notes: Vec<String>,
    /// One line per image: what was checked.
    pub checked: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The two sections as the runtime sees them after the loader ran at `slide`.
pub struct Loaded<'a> {
    pub entry: &'a [u8],
    pub stub: &'a [u8],
    pub slide: u64,
}

/// How much `verify` checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// Everything, including that each row's funcIndex is its function's (the subcommand).
    Full,
    /// The rewrite's self-check: header, adoption checks, find index, every lookup, loader data
    /// and signature. It leaves out the per-row name check, which would re-derive the rows from
    /// the very symbols they were built from a moment ago.
    SelfCheck,
}

pub fn verify(data: &[u8]) -> Result<Report> {
    verify_with(data, Depth::Full)
}

pub fn verify_with(data: &[u8], depth: Depth) -> Result<Report> {
    let mut report = Report::default();
    let list = match loader::images(data)? {
        Images::Skip(why) => {
            report.checked.push(format!("{why}: nothing to verify"));
            return Ok(report);
        }
        Images::List(list) => list,
    };
    for (_, image) in &list {
        let image = image.as_ref();
        let what = image.describe();
        // The image is parsed once; what is decided about it, once.
        let state = extract::entry_state(image.image())?;
        match state {
            EntryState::Records => {
                unrewritten(image, &what, &mut report);
                continue;
            }
            EntryState::Unknown(magic) => {
                report.problems.push(format!("{what}: {}", plan::unknown_table_message(magic)));
                continue;
            }
            EntryState::Table | EntryState::Redirect => {}
        }
        // Where the runtime finds the sections, from the loader's view alone (issue 11): a
        // table the section headers place anywhere else is not the one the runtime reads.
        // The checks below go on: every problem is listed, and none of them can pass a table
        // the runtime would not read (the report is not ok).
        let view = loader_view_problems(data, image);
        report.problems.extend(view.into_iter().map(|p| format!("{what}: {p}")));
        // The first slide checks everything; the others only what the loader changes (the live
        // slots, and so every lookup). A slide with defects ends the loop: the next ones would
        // repeat them.
        let slides = image.verify_slides();
        for (n, &slide) in slides.iter().enumerate() {
            let (entry, stub) = image.load_sections(slide)?;
            let loaded = Loaded { entry: &entry, stub: &stub, slide };
            let at =
                if slides.len() > 1 { format!("{what} at slide {slide:#x}") } else { what.clone() };
            let before = report.problems.len();
            let scope = if n == 0 { Scope::Everything } else { Scope::SlideDependent };
            check_table(image, &at, state, &loaded, depth, scope, &mut report)?;
            if report.problems.len() > before {
                break;
            }
        }
        let s = image.sections();
        let live = match state {
            EntryState::Redirect => {
                std::iter::once(s.entry.offset + 16).chain(s.stub.map(|s| s.offset + 16)).collect()
            }
            _ => vec![s.entry.offset + 16],
        };
        for p in image.loader_problems(&live)? {
            report.problems.push(format!("{what}: {p}"));
        }
        if let Some(r) = image.relocation_picture() {
            report.checked.push(format!(
                "{what}: {} dynamic relocations, {} into the LLGo sections",
                r.total, r.into_sections
            ));
        }
    }
    Ok(report)
}

/// Compares where the section headers put the LLGo sections (what the rewrite used and
/// [`check_table`] reads) with where the runtime finds them from the loader's view alone: ELF
/// `__start_<name>`..`__stop_<name>` mapped through the `PT_LOAD` program headers
/// ([`elf_view::runtime_ranges`]); Mach-O the section's address mapped through its
/// `LC_SEGMENT_64` ([`macho_view::runtime_range`]). Empty when they agree, or when the file
/// has no boundary symbols to judge by.
pub fn loader_view_problems(data: &[u8], image: &dyn Loader<'_>) -> Vec<String> {
    let s = image.sections();
    let (entry_name, stub_name, elf) = match binary::sniff(data) {
        binary::Kind::Elf64Le => (ELF_ENTRY, ELF_STUB, true),
        _ => (MACHO_ENTRY, MACHO_STUB, false),
    };
    let mut problems = Vec::new();
    let sections: Vec<(&[u8], SectionInfo)> = [(entry_name, Some(s.entry)), (stub_name, s.stub)]
        .into_iter()
        .filter_map(|(n, s)| Some((n, s?)))
        .collect();
    // ELF: one pass over the symbol table for both sections.
    let mut elf_views = if elf {
        let names: Vec<&[u8]> = sections.iter().map(|&(n, _)| n).collect();
        elf_view::runtime_ranges(data, &names)
    } else {
        Vec::new()
    }
    .into_iter();
    for (name, used) in sections {
        let label = String::from_utf8_lossy(name);
        let view = if elf {
            elf_views.next().unwrap_or(Ok(None))
        } else {
            macho_view::runtime_range(image.image(), used)
        };
        match view {
            Ok(None) => {}
            Ok(Some(r))
                if r.addr == used.addr && r.offset == used.offset && r.size >= used.size => {}
            Ok(Some(r)) => problems.push(format!(
                "{label}: the loader's view places it at address {:#x}, file offset {:#x} \
                 ({:#x} file bytes), the section headers at address {:#x}, file offset {:#x} \
                 ({:#x} bytes): the runtime would not read what was checked",
                r.addr, r.offset, r.size, used.addr, used.offset, used.size
            )),
            Err(e) => problems.push(format!("{label}: the loader's view: {e}")),
        }
    }
    problems
}

/// An image whose entry section still holds site records: a defect unless [`plan::decide`]
/// finds nothing to write.
fn unrewritten(image: &dyn Loader<'_>, what: &str, report: &mut Report) {
    match plan::decide(image) {
        Decision::Skip(why) => report.checked.push(format!("{what}: nothing to write ({why})")),
        Decision::Write(plan) => report.problems.push(format!(
            "{what}: LLGo sections were not rewritten (a table of {} rows would fit)",
            plan.summary.rows
        )),
        Decision::Refused(e) | Decision::DoesNotFit { error: e, .. } => {
            report.problems.push(format!("{what}: LLGo sections were not rewritten: {e}"))
        }
        Decision::UnknownTable { magic } => {
            report.problems.push(format!("{what}: {}", plan::unknown_table_message(magic)))
        }
        Decision::AlreadyRewritten { .. } => {}
    }
}

/// Which checks of [`check_table`] run at a slide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The first slide: every check.
    Everything,
    /// Further slides: only what depends on the loader (the live slots' values and every
    /// lookup through them); the rest was checked at the first slide and cannot differ.
    SlideDependent,
}

/// The format-independent checks of one rewritten image (`state` is a table or a redirect)
/// whose sections were loaded at `loaded.slide`; `what` names the image and the slide.
pub fn check_table(
    image: &dyn Loader<'_>,
    what: &str,
    state: EntryState,
    loaded: &Loaded<'_>,
    depth: Depth,
    scope: Scope,
    report: &mut Report,
) -> Result<()> {
    let all = scope == Scope::Everything;
    let sections = image.sections();
    let problems_before = report.problems.len();
    let (blob_bytes, home, placement) = match state {
        EntryState::Records | EntryState::Unknown(_) => return Ok(()),
        EntryState::Redirect => {
            let Some(stub) = sections.stub else {
                report.problems.push(format!(
                    "{what}: LLGOFTB2 redirect in a generation-2 executable (no stub section): \
                     today's runtime does not follow it"
                ));
                return Ok(());
            };
            match encode::parse_redirect(loaded.entry)? {
                Some((entry_link, target)) => {
                    if all && entry_link != sections.entry.addr {
                        report.problems.push(format!(
                            "{what}: redirect names entry section {entry_link:#x}, it is at {:#x}",
                            sections.entry.addr
                        ));
                    }
                    let want = stub.addr.wrapping_add(loaded.slide);
                    if target != want {
                        report.problems.push(format!(
                            "{what}: redirect target is {target:#x} at run time, the stub section \
                             starts at {want:#x}"
                        ));
                    }
                }
                None => report.problems.push(format!("{what}: redirect header unreadable")),
            }
            if all && !all_zero(loaded.entry.get(REDIRECT_SIZE as usize..).unwrap_or_default()) {
                report.problems.push(format!("{what}: entry section not zero after the redirect"));
            }
            (loaded.stub, stub, Placement::Spilled)
        }
        EntryState::Table => {
            if all && !all_zero(loaded.stub) {
                report.problems.push(format!(
                    "{what}: stub section not zero (the runtime's fallback scans would see rows)"
                ));
            }
            (loaded.entry, sections.entry, Placement::InPlace)
        }
    };
    let blob = match Blob::parse(blob_bytes) {
        Ok(b) => b,
        Err(e) => {
            report.problems.push(format!("{what}: {e}"));
            return Ok(());
        }
    };
    if all && blob.link_sect_addr != home.addr {
        report.problems.push(format!(
            "{what}: linkSectAddr {:#x} is not the section's address {:#x}",
            blob.link_sect_addr, home.addr
        ));
    }
    if let Some(n) = all.then(|| extract::funcinfo_count(image.image())).flatten() {
        if u64::from(blob.count) > n.saturating_mul(16).saturating_add(1) {
            report.problems.push(format!(
                "{what}: count {} exceeds 16 * __llgo_funcinfo_count ({n}) + 1",
                blob.count
            ));
        }
    }
    // Today's runtime adopts an in-place table only when `__start + need <= __stop`, with
    // `__stop_` the link-time end: after compaction the section's file size is `need` and the
    // cut tail is zero-fill memory, so the check is against the symbol, not the section header.
    if all && placement == Placement::InPlace {
        let start = image.symbol_address(b"__start_llgo_funcinfo_entry");
        let stop = image.symbol_address(b"__stop_llgo_funcinfo_entry");
        if let (Some(start), Some(stop)) = (start, stop) {
            if start.checked_add(blob.size()).is_none_or(|end| end > stop) {
                report.problems.push(format!(
                    "{what}: __start_llgo_funcinfo_entry ({start:#x}) + {} table bytes passes \
                     __stop_llgo_funcinfo_entry ({stop:#x}): the runtime would not adopt it",
                    blob.size()
                ));
            }
        }
    }
    if all && !all_zero(blob_bytes.get(blob.size() as usize..).unwrap_or_default()) {
        report.problems.push(format!("{what}: bytes after the table are not zero"));
    }
    let base_link = blob.base.wrapping_sub(loaded.slide);
    // `Blob::parse` refuses fewer than two rows: there is always a sentinel.
    let Some((&sentinel, real)) = blob.rows.split_last() else {
        report.problems.push(format!("{what}: table without its sentinel row"));
        return Ok(());
    };
    let text_end = image.text().end;
    if u64::from(sentinel.0) != text_end.wrapping_sub(base_link) || sentinel.1 != 0 {
        report.problems.push(format!(
            "{what}: sentinel {sentinel:?} is not {{text end - base, 0}} (text ends at {text_end:#x})"
        ));
    }
    let descending = if all { real.windows(2).position(|w| w[0].0 >= w[1].0) } else { None };
    if let Some(w) = descending {
        report.problems.push(format!("{what}: rows {w} and {} are not strictly ascending", w + 1));
    }
    let addrs: Vec<u64> = real.iter().map(|r| base_link.wrapping_add(u64::from(r.0))).collect();
    match findfunc::index_difference(&addrs, &blob.buckets) {
        Ok(None) => {}
        Ok(Some(findfunc::IndexDifference::Count { stored, expected })) => {
            report.problems.push(format!(
                "{what}: find index differs from the one the rows imply ({stored} buckets \
                 stored, {expected} expected)"
            ))
        }
        Ok(Some(findfunc::IndexDifference::Bucket { index, stored, expected })) => {
            report.problems.push(format!(
                "{what}: find index differs from the one the rows imply: bucket {index} is \
                 {stored:?}, the rows imply {expected:?}"
            ))
        }
        Err(e) => report.problems.push(format!("{what}: {e}")),
    }
    if !report.problems[problems_before..].is_empty() {
        return Ok(());
    }

    if all && depth == Depth::Full {
        check_names(image, what, &addrs, real, report)?;
    }

    // The runtime's lookup answers every pc from the first row to the end of text with the row
    // that owns it (one sweep in address order, `Lookup::check_every_pc`).
    let offs = blob.entry_offs();
    let lookup = blob.lookup(&offs);
    if let Err(e) = lookup.check_every_pc(u64::from(sentinel.0)) {
        report.problems.push(sweep_problem(what, e, loaded.slide));
        return Ok(());
    }
    report.checked.push(format!(
        "{what}: table {} with {} rows and {} buckets; every row resolves",
        match placement {
            Placement::InPlace => "in place",
            Placement::Spilled => "spilled to the stub section",
        },
        real.len(),
        blob.bucket_count
    ));
    Ok(())
}

/// Whether every byte is zero: an OR over blocks the compiler vectorizes, stopping at the
/// first block with a set bit (megabytes of stale-record space are checked this way).
fn all_zero(bytes: &[u8]) -> bool {
    bytes.chunks(512).all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}

/// A failed [`findfunc::Lookup::check_every_pc`] as a problem; addresses are link-time.
fn sweep_problem(what: &str, e: findfunc::SweepError, slide: u64) -> String {
    match e {
        findfunc::SweepError::NotAscending { row } => {
            format!("{what}: rows {row} and {} are not strictly ascending", row + 1)
        }
        findfunc::SweepError::Wraps { last_off } => format!(
            "{what}: the rows run past the end of the address space ({last_off:#x} bytes from \
             the base)"
        ),
        findfunc::SweepError::Wrong { pc, got, want, wrong } => {
            let more = match wrong {
                0 | 1 => String::new(),
                n => format!(" ({n} sub-buckets of the find index answer wrongly)"),
            };
            format!(
                "{what}: lookup of {:#x} answers row {got:?}, expected row {want}{more}",
                pc.wrapping_sub(slide)
            )
        }
    }
}

/// Every row starts a function whose name maps, through the symbol index, to the row's
/// funcIndex.
fn check_names(
    image: &dyn Loader<'_>,
    what: &str,
    addrs: &[u64],
    real: &[(u32, u32)],
    report: &mut Report,
) -> Result<()> {
    let symbols = image.text_symbols()?;
    let index = match extract::symbol_index(image.image()) {
        Ok(Some((index, _))) => Some(index),
        Ok(None) => {
            report.notes.push(format!(
                "{what}: funcIndex not checkable: the symbol index cannot be found any more (its \
                 symbols were internalized)"
            ));
            None
        }
        // An index that is there but damaged is a defect, not a reason to check less.
        Err(e) => {
            report.problems.push(format!("{what}: symbol index: {e}"));
            None
        }
    };
    let problems = name_problems(&symbols, image.style(), index.as_ref(), addrs, real);
    report.problems.extend(problems.into_iter().map(|p| format!("{what}: {p}")));
    Ok(())
}

/// The rows' problems with names: each row must start a function (a text symbol at its address)
/// one of whose names maps, through the symbol index (when there is one), to the row's
/// funcIndex, under any id the owner test accepts for it (`table::push_ids`).
///
/// The rows are joined with the symbols in address order, as a merge: no alias sets are built
/// (the builder's grouping was 2.8 ms of a 110k-row `verify`, most of it fresh memory), and the
/// check does not go through the builder's own structure.
fn name_problems(
    symbols: &[TextSymbol<'_>],
    style: NameStyle,
    index: Option<&SymbolIndex>,
    addrs: &[u64],
    real: &[(u32, u32)],
) -> Vec<String> {
    let order = table::address_order(symbols);
    let mut problems = Vec::new();
    let mut ids = Vec::new();
    // The first symbol not below the previous row's address.
    let mut next = 0;
    let mut previous = None;
    for (i, (&addr, row)) in addrs.iter().zip(real).enumerate() {
        // The rows ascend (checked before this runs); a row below the previous one (a caller that
        // did not check) searches again.
        if previous.is_some_and(|p| addr < p) {
            next = order.partition_point(|&(a, _)| a < addr);
        }
        previous = Some(addr);
        while order.get(next).is_some_and(|&(a, _)| a < addr) {
            next += 1;
        }
        let here = || {
            order
                .get(next..)
                .unwrap_or_default()
                .iter()
                .take_while(move |&&(a, _)| a == addr)
                .filter_map(|&(_, s)| symbols.get(s))
        };
        let Some(first) = here().next() else {
            problems.push(format!("row {i} at {addr:#x} is not a function start"));
            continue;
        };
        if row.1 == 0 {
            problems.push(format!("row {i} at {addr:#x} has funcIndex 0"));
        }
        let Some(index) = index else { continue };
        let named = here().any(|sym| {
            ids.clear();
            table::push_ids(sym, style, &mut ids);
            ids.iter().any(|&id| index.func_index(id) == Some(row.1))
        });
        if !named {
            problems.push(format!(
                "row {i} at {addr:#x} ({}) has funcIndex {}, which the symbol index gives none \
                 of its names",
                String::from_utf8_lossy(first.name),
                row.1
            ));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::NameStyle;
    use crate::image::TextSymbol;

    /// The rows' name problems, case by case, over symbols with aliases, a repeated name, an
    /// unsorted symbol table and a stub: the messages are written out here, not derived.
    #[test]
    fn rows_are_checked_against_the_names_at_their_addresses() {
        let raw: [(u64, &[u8]); 8] = [
            (0x1040, b"pkg.C"),
            (0x1000, b"pkg.A"),
            (0x1000, b"pkg.A_alias"),
            (0x1020, b"pkg.B"),
            (0x1080, b"__llgo_stub.pkg.E"),
            (0x1060, b"pkg.D"),
            (0x1040, b"pkg.C2"),
            (0x1000, b"pkg.A"),
        ];
        let symbols: Vec<TextSymbol<'_>> =
            raw.iter().map(|&(addr, name)| TextSymbol::new(addr, 0, name)).collect();
        let fnv = |n: &[u8]| crate::fnv::fnv1a(n);
        // funcIndex 1..: A_alias (not A), B, C2 (not C), D, E (through the stub's target).
        let mut entries: Vec<(u64, u32)> = vec![
            (fnv(b"pkg.A_alias"), 1),
            (fnv(b"pkg.B"), 2),
            (fnv(b"pkg.C2"), 3),
            (fnv(b"pkg.D"), 4),
            (fnv(b"pkg.E"), 5),
        ];
        entries.sort_unstable();
        let index = SymbolIndex::new(entries).unwrap();
        // What is checked, the rows (address, funcIndex), whether there is an index, and the
        // problems expected (`*`: the rest of the funcIndex message).
        type Case = (&'static str, &'static [(u64, u32)], bool, &'static [&'static str]);
        let none_of = "which the symbol index gives none of its names";
        let cases: [Case; 7] = [
            (
                "every row named (an alias, the second name, a stub's target)",
                &[(0x1000, 1), (0x1020, 2), (0x1040, 3), (0x1060, 4), (0x1080, 5)],
                true,
                &[],
            ),
            (
                "a row inside a function",
                &[(0x1000, 1), (0x1030, 2)],
                true,
                &["row 1 at 0x1030 is not a function start"],
            ),
            (
                "a row past every symbol",
                &[(0x1000, 1), (0x2000, 2)],
                true,
                &["row 1 at 0x2000 is not a function start"],
            ),
            (
                "a funcIndex no name of the function has",
                &[(0x1000, 1), (0x1040, 4)],
                true,
                &["row 1 at 0x1040 (pkg.C) has funcIndex 4, *"],
            ),
            (
                "funcIndex 0",
                &[(0x1020, 0)],
                true,
                &["row 0 at 0x1020 has funcIndex 0", "row 0 at 0x1020 (pkg.B) has funcIndex 0, *"],
            ),
            (
                "no index: only starts and zeros are checked",
                &[(0x1020, 9), (0x1030, 0)],
                false,
                &["row 1 at 0x1030 is not a function start"],
            ),
            (
                "rows out of order are still found",
                &[(0x1060, 4), (0x1000, 1), (0x1080, 5)],
                true,
                &[],
            ),
        ];
        for (what, rows, with_index, want) in cases {
            let addrs: Vec<u64> = rows.iter().map(|r| r.0).collect();
            let real: Vec<(u32, u32)> = rows.iter().map(|r| (0, r.1)).collect();
            let index = with_index.then_some(&index);
            let got = name_problems(&symbols, NameStyle::Elf, index, &addrs, &real);
            let want: Vec<String> = want.iter().map(|w| w.replace('*', none_of)).collect();
            assert_eq!(got, want, "{what}");
        }
    }
}
