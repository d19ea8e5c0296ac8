//! From decoded site records to the sorted rows of the prebuilt table (docs/format.md, "Which
//! records survive").
//!
//! Pure: knows nothing about ELF or Mach-O. The readers in `binary/` turn a file into an
//! [`Input`]; [`build`] applies the owner test, drops LTO inline copies and returns the rows.

#![deny(clippy::indexing_slicing)]

pub mod disk;
pub mod encode;
pub mod findfunc;

use crate::image::{NameStyle, TextSymbol};
use crate::parallel::{chunks, spare_core};

/// Closure-stub wrappers are named `__llgo_stub.<target>` and carry the target's id.
pub const STUB_PREFIX: &[u8] = b"__llgo_stub.";

pub use crate::fnv::{fnv1a, fnv1a_to_nul};

/// Records below this count are tested on one thread: a thread costs more than it saves.
const PARALLEL_RECORDS: usize = 32 * 1024;

/// A decoded 16-byte site record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The anchor address; `None` when the pointer resolves outside this image (a bind to a
    /// dylib or a flat lookup): such a record has no owner.
    pub pc: Option<u64>,
    pub id: u64,
}

impl Record {
    /// `pc == 0` or `id == 0`: a keep-alive or meta row, not a record.
    pub fn is_placeholder(&self) -> bool {
        self.pc == Some(0) || self.id == 0
    }
}

/// Site records in file order: decoded, or the section's own bytes when every pc is the plain
/// word (no relocation or fixup writes one). The bytes are decoded as the owner test reads them,
/// so a large section is not copied into a vector half again its size (the largest one of a
/// rewrite: 5 MB for 220k records).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Records<'a> {
    /// Whole 16-byte records `(pc, id)`, little-endian.
    Raw(&'a [u8]),
    Decoded(Vec<Record>),
}

impl Default for Records<'_> {
    fn default() -> Self {
        Records::Decoded(Vec::new())
    }
}

impl From<Vec<Record>> for Records<'_> {
    fn from(records: Vec<Record>) -> Self {
        Records::Decoded(records)
    }
}

/// A run of [`Records`]: part of the bytes or part of the decoded list.
#[derive(Clone, Copy, Debug)]
enum RecordRun<'r> {
    Raw(&'r [u8]),
    Decoded(&'r [Record]),
}

/// Record size in [`Records::Raw`].
const RAW_RECORD: usize = 16;

impl<'a> Records<'a> {
    pub fn len(&self) -> usize {
        match self {
            Records::Raw(raw) => raw.len() / RAW_RECORD,
            Records::Decoded(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The records at positions `range` (clamped to the records there are).
    fn run(&self, range: std::ops::Range<usize>) -> RecordRun<'_> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        match self {
            Records::Raw(raw) => {
                RecordRun::Raw(raw.get(start * RAW_RECORD..end * RAW_RECORD).unwrap_or_default())
            }
            Records::Decoded(v) => RecordRun::Decoded(v.get(start..end).unwrap_or_default()),
        }
    }
}

/// Decodes whole 16-byte records (a trailing part of one is ignored).
fn raw_records(raw: &[u8]) -> impl Iterator<Item = Record> + '_ {
    let word = |b: Option<&[u8; 8]>| u64::from_le_bytes(b.copied().unwrap_or_default());
    raw.chunks_exact(RAW_RECORD)
        .map(move |r| Record { pc: Some(word(r.first_chunk())), id: word(r.last_chunk()) })
}

/// The symbol index: `(symbolID, funcIndex)` sorted by strictly ascending id.
///
/// Lookups go through an open-addressing table instead of a binary search: ids are FNV hashes
/// (uniform already) and a 100k-entry binary search costs a cache miss per step, which was the
/// largest part of building a large table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolIndex {
    entries: Vec<(u64, u32)>,
    /// `1 + position in entries`, 0 for an empty slot; length a power of two, at most half full.
    slots: Vec<u32>,
}

impl SymbolIndex {
    /// Fails (returning the position of the first offender) unless ids ascend strictly.
    #[allow(clippy::indexing_slicing)] // `i` is reduced modulo `slots.len()`
    pub fn new(entries: Vec<(u64, u32)>) -> Result<Self, usize> {
        if let Some(i) = entries.windows(2).position(|w| matches!(w, [a, b] if a.0 >= b.0)) {
            return Err(i + 1);
        }
        let size = (entries.len() * 2).next_power_of_two().max(2);
        let mut slots = vec![0u32; size];
        for (pos, &(id, _)) in entries.iter().enumerate() {
            let mut i = Self::home(id, size);
            while slots[i] != 0 {
                i = (i + 1) & (size - 1);
            }
            slots[i] = pos as u32 + 1;
        }
        Ok(SymbolIndex { entries, slots })
    }

    fn home(id: u64, size: usize) -> usize {
        // Fibonacci hashing spreads any id pattern over the table.
        (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & (size - 1)
    }

    // `i` is reduced modulo `slots.len()`, and a slot holds a position in `entries` plus one
    #[allow(clippy::indexing_slicing)]
    pub fn func_index(&self, id: u64) -> Option<u32> {
        let size = self.slots.len();
        if size == 0 {
            return None;
        }
        let mut i = Self::home(id, size);
        loop {
            let slot = self.slots[i] as usize;
            let (entry_id, func_index) = *self.entries.get(slot.checked_sub(1)?)?;
            if entry_id == id {
                return Some(func_index);
            }
            i = (i + 1) & (size - 1);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Everything the rewrite needs from one image.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub style: NameStyle,
    /// Function symbols inside text, in any order.
    pub symbols: Vec<TextSymbol<'a>>,
    /// End of the text section: the last alias set's extent and the sentinel.
    pub text_end: u64,
    /// Entry-section records in file order (placeholders included; they are skipped).
    pub entry: Records<'a>,
    /// Stub-section records in file order.
    pub stub: Records<'a>,
    pub index: SymbolIndex,
}

/// One row of the table: a function start and its funcIndex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Row {
    pub addr: u64,
    pub func_index: u32,
}

/// What happened to the records; printed by `rewrite` and `inspect`, logged at info.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Real records (placeholders excluded) in the entry section.
    pub entry_records: usize,
    /// Real records in the stub section.
    pub stub_records: usize,
    /// Records whose owner is another function: LTO (or plain) inlining copied them.
    pub inline_copies: usize,
    /// Records whose pc lies in no function.
    pub no_owner: usize,
    /// Canonical records whose id is not in the symbol index (or maps to funcIndex 0).
    pub not_in_index: usize,
    /// Canonical records for a start address that already has a row.
    pub duplicates: usize,
    /// Non-canonical records owned by a symbol with an LLVM clone suffix (`.llvm.N`, `.cold`,
    /// ...): counted, not guessed at.
    pub clone_suffixed: usize,
}

/// The sorted rows plus the text end (the sentinel's address).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rows {
    pub rows: Vec<Row>,
    pub text_end: u64,
    pub stats: Stats,
}

/// Functions at one address, with their common extent `[start, end)`. Names and ids live in
/// flat vectors of [`Owners`] (one allocation for all sets, not two per set); a set's range there
/// runs from its own start to the next set's (the last set's to the end of the vector).
///
/// 32 bytes: the sets are the largest vector of planning (110k of them at 110k rows), written
/// once and then walked by every record. The ends of the ranges are the next set's starts, and
/// the first id is read from `Owners::ids` (walked in the records' order, which is text order
/// mostly), rather than stored twice: 48 -> 32 bytes was 1.8 MB less to zero and to walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct AliasSet {
    start: u64,
    end: u64,
    /// The greatest end among this set and every set before it, so a backwards owner search
    /// knows when no earlier set can contain a pc.
    max_end: u64,
    /// Where this set's names begin in `Owners::names`.
    names_start: u32,
    /// Where this set's ids begin in `Owners::ids` ([`MORE_IDS`] aside): every id under which a
    /// record is canonical here (docs/format.md, "Which records survive": `fnv(candidate)`, or
    /// `fnv(target)` of a `__llgo_stub.` candidate), computed once per set instead of once per
    /// record. Every set has one at least (each name gives one).
    ids: u32,
}

/// In [`AliasSet::ids`]: the set has more than one id. Nearly every set has one, so the owner
/// test of an inline copy (half of all records) ends at the first id without looking for the
/// next set's start.
const MORE_IDS: u32 = 1 << 31;

impl AliasSet {
    fn ids_start(&self) -> usize {
        (self.ids & !MORE_IDS) as usize
    }

    /// The set's extent once the next set's start is known (the largest ELF size, else up to
    /// `next_start`), and whether it has more than one id (they end at `ids_end`).
    fn settle(mut self, next_start: u64, max_end: &mut u64, ids_end: usize) -> Self {
        self.end = if self.end == 0 { next_start } else { self.start.saturating_add(self.end) };
        *max_end = (*max_end).max(self.end);
        self.max_end = *max_end;
        if ids_end > self.ids_start().saturating_add(1) {
            self.ids |= MORE_IDS;
        }
        self
    }
}

/// The text symbols grouped into alias sets, sorted by start, for owner lookups.
pub struct Owners<'a> {
    sets: Vec<AliasSet>,
    names: Vec<&'a [u8]>,
    ids: Vec<u64>,
}

impl<'a> Owners<'a> {
    pub fn new(symbols: Vec<TextSymbol<'a>>, text_end: u64, style: NameStyle) -> Self {
        let order = address_order(&symbols);
        // One pass on one thread. Grouping the two halves of the order on two threads and
        // joining them was slower (110k rows, interleaved medians: inspect 1.9 ms, verify
        // 0.7 ms): the second half's vectors were fresh memory, faulted in page by page, and
        // then copied onto the end of the first's.
        Self::group(&symbols, &order, style, text_end)
    }

    /// The alias sets of the symbols at `order` (sorted by address), the last one ending at
    /// the text end.
    fn group(
        symbols: &[TextSymbol<'a>],
        order: &[(u64, usize)],
        style: NameStyle,
        text_end: u64,
    ) -> Self {
        let room = order.len();
        let mut sets: Vec<AliasSet> = Vec::with_capacity(room);
        let mut names: Vec<&'a [u8]> = Vec::with_capacity(room);
        let mut ids: Vec<u64> = Vec::with_capacity(room + room / 4);
        // The set being filled; it is settled when the next start (or the end) is known.
        let mut open: Option<AliasSet> = None;
        let mut max_end = 0;
        for sym in order.iter().filter_map(|&(_, i)| symbols.get(i)) {
            if let Some(set) = open.as_mut().filter(|set| set.start == sym.addr) {
                if names.last() == Some(&sym.name) {
                    continue;
                }
                set.end = set.end.max(sym.size);
            } else {
                if let Some(set) = open.take() {
                    sets.push(set.settle(sym.addr, &mut max_end, ids.len()));
                }
                // `end` holds the largest ELF size until the set is settled.
                open = Some(AliasSet {
                    start: sym.addr,
                    end: sym.size,
                    max_end: 0,
                    names_start: names.len() as u32,
                    ids: ids.len() as u32 & !MORE_IDS,
                });
            }
            names.push(sym.name);
            push_ids(sym, style, &mut ids);
        }
        if let Some(set) = open {
            let next = text_end.max(set.start);
            sets.push(set.settle(next, &mut max_end, ids.len()));
        }
        Owners { sets, names, ids }
    }

    /// The alias set with the greatest start `<= pc` whose extent contains `pc`, by index.
    pub fn owner(&self, pc: u64) -> Option<usize> {
        self.owner_from(self.sets.partition_point(|s| s.start <= pc), pc)
    }

    /// [`Owners::owner`], trying `hint` (the previous answer) and its successor before a binary
    /// search: records come mostly in text order, so this saves the search almost always.
    #[inline]
    pub fn owner_near(&self, hint: usize, pc: u64) -> Option<usize> {
        if let Some(here) = self.sets.get(hint).filter(|s| s.start <= pc) {
            match self.sets.get(hint + 1) {
                // `hint` is the greatest start <= pc: it owns pc when its extent reaches it.
                Some(next) if next.start > pc => {
                    return if pc < here.end { Some(hint) } else { self.owner_from(hint + 1, pc) };
                }
                None => return self.owner_from(hint + 1, pc),
                // The next set is the greatest start <= pc (the record moved on by one
                // function): the same test one set on.
                Some(next) => {
                    if self.sets.get(hint + 2).is_none_or(|s| s.start > pc) {
                        return if pc < next.end {
                            Some(hint + 1)
                        } else {
                            self.owner_from(hint + 2, pc)
                        };
                    }
                }
            }
        }
        self.owner(pc)
    }

    /// Searches backwards from the sets starting before `upper`.
    fn owner_from(&self, upper: usize, pc: u64) -> Option<usize> {
        let below = self.sets.get(..upper)?;
        for (i, set) in below.iter().enumerate().rev() {
            if set.max_end <= pc {
                return None;
            }
            if pc < set.end {
                return Some(i);
            }
        }
        None
    }

    // `set` is an id this index handed out (`owner`, `at`), an index into `sets`
    #[allow(clippy::indexing_slicing)]
    pub fn start(&self, set: usize) -> u64 {
        self.sets[set].start
    }

    /// The names of a set (none for an id this index did not hand out).
    pub fn names(&self, set: usize) -> &[&'a [u8]] {
        let end = self.sets.get(set + 1).map_or(self.names.len(), |n| n.names_start as usize);
        self.sets
            .get(set)
            .and_then(|s| self.names.get(s.names_start as usize..end))
            .unwrap_or_default()
    }

    /// The ids under which records are canonical in this set.
    #[inline]
    pub fn ids(&self, set: usize) -> &[u64] {
        let end = self.sets.get(set + 1).map_or(self.ids.len(), AliasSet::ids_start);
        self.sets.get(set).and_then(|s| self.ids.get(s.ids_start()..end)).unwrap_or_default()
    }

    /// Where `id` is among the ids of `ids` (an index into them all), when a record with `id`
    /// is canonical in this set.
    #[inline]
    fn canonical_at(&self, set: usize, id: u64) -> Option<u32> {
        // Every set has an id: the one at its start is its own.
        let s = self.sets.get(set)?;
        let start = s.ids_start();
        if self.ids.get(start) == Some(&id) {
            return Some(start as u32);
        }
        if s.ids & MORE_IDS == 0 {
            return None;
        }
        let more = self.ids(set).get(1..)?.iter().position(|&x| x == id)?;
        Some((start + 1 + more) as u32)
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The symbols' positions with their addresses, in (address, name) order, ties in symbol-table
/// order: a stable sort of (address, position) pairs (symbol tables come in a few ascending
/// runs, which it merges). Sorting small pairs instead of the symbols moves a third of the
/// bytes; names are compared only among aliases.
pub fn address_order(symbols: &[TextSymbol<'_>]) -> Vec<(u64, usize)> {
    let mut order: Vec<(u64, usize)> =
        symbols.iter().enumerate().map(|(i, s)| (s.addr, i)).collect();
    let name_of = |i: usize| symbols.get(i).map(|s| s.name);
    let by_addr_name = |a: &(u64, usize), b: &(u64, usize)| {
        a.0.cmp(&b.0).then_with(|| name_of(a.1).cmp(&name_of(b.1)))
    };
    if !order.is_sorted_by(|a, b| by_addr_name(a, b).is_le()) {
        order.sort_by(by_addr_name);
    }
    order
}

/// Appends the ids a record owned by `sym` may carry to be canonical: per candidate name,
/// its hash, then its stub target's.
pub fn push_ids(sym: &TextSymbol<'_>, style: NameStyle, out: &mut Vec<u64>) {
    // The first candidate is the name itself, whose hash the reader computed.
    out.push(sym.hash);
    if let Some(target) = sym.name.strip_prefix(STUB_PREFIX) {
        out.push(fnv1a(target));
    }
    if style == NameStyle::Elf {
        return;
    }
    for c in candidates(sym.name, style).skip(1) {
        out.push(fnv1a(c));
        if let Some(target) = c.strip_prefix(STUB_PREFIX) {
            out.push(fnv1a(target));
        }
    }
}

/// The names under which a symbol may carry `id` (docs/format.md, "Which records survive").
#[allow(clippy::indexing_slicing)] // `strip` is at most `name.len()`
fn candidates(name: &[u8], style: NameStyle) -> impl Iterator<Item = &[u8]> {
    let strip = match style {
        NameStyle::Elf => 0,
        NameStyle::MachO => name.iter().take(2).take_while(|&&b| b == b'_').count(),
    };
    (0..=strip).map(move |k| &name[k..])
}

fn has_clone_suffix(name: &[u8]) -> bool {
    const SUFFIXES: [&[u8]; 6] =
        [b".llvm.", b".cold", b".constprop.", b".isra.", b".part.", b".specialized."];
    // Every suffix starts with a dot, so only the dots need a closer look (this runs for each
    // inline copy, half of all records). Dots are found eight bytes at a time: a byte of
    // `word ^ "........"` is zero exactly at a dot (the test may also flag a byte above a dot,
    // which the closer look rejects; it never misses one).
    let at_dot = |i: usize| match name.get(i..) {
        // The byte after the dot first: in `pkg.Func` it rules out every suffix.
        Some(rest @ [_, b'l' | b'c' | b'i' | b'p' | b's', ..]) => {
            SUFFIXES.iter().any(|s| rest.starts_with(s))
        }
        _ => false,
    };
    const DOTS: u64 = 0x2e2e_2e2e_2e2e_2e2e;
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let chunks = name.chunks_exact(8);
    let tail = chunks.remainder();
    for (k, chunk) in chunks.enumerate() {
        let Ok(bytes) = <[u8; 8]>::try_from(chunk) else { continue };
        let x = u64::from_le_bytes(bytes) ^ DOTS;
        let mut hits = x.wrapping_sub(LOW) & !x & HIGH;
        while hits != 0 {
            if at_dot(k * 8 + (hits.trailing_zeros() / 8) as usize) {
                return true;
            }
            hits &= hits - 1;
        }
    }
    let base = name.len() - tail.len();
    tail.iter().enumerate().any(|(i, &b)| b == b'.' && at_dot(base + i))
}

/// A canonical record: its owner set (high half) and, low half, first where its id is in
/// [`Owners`]' ids, then (after the index lookup, in place) its funcIndex. One word: the list of
/// canonical records is as long as the records (each chunk writes its own part of it). Sets and
/// ids number fewer than 2^32: [`Owners`] counts them in `u32`.
#[derive(Clone, Copy, Default)]
struct Found(u64);

impl Found {
    fn new(set: usize, low: u32) -> Self {
        Found((set as u64) << 32 | u64::from(low))
    }

    fn set(self) -> usize {
        (self.0 >> 32) as usize
    }

    fn low(self) -> u32 {
        self.0 as u32
    }
}

/// The owner test's state on one thread, across the chunks it takes.
struct OwnerTest<'o, 'a> {
    owners: &'o Owners<'a>,
    /// The previous record's owner: records come mostly in text order.
    hint: usize,
    /// Per set: 0 not looked at yet, 1 no clone suffix, 2 a clone suffix.
    clone_suffixed: Vec<u8>,
}

/// What one chunk of records gave: its canonical records (at the start of its part of the
/// list) and its counts.
struct Chunk {
    found: usize,
    stats: Stats,
}

impl<'o, 'a> OwnerTest<'o, 'a> {
    fn new(owners: &'o Owners<'a>) -> Self {
        OwnerTest { owners, hint: 0, clone_suffixed: vec![0u8; owners.len()] }
    }

    /// Tests the entry records then the stub records at positions `at..at + out.len()` of the
    /// two lists one after the other, writing the canonical ones to the start of `out`; then
    /// looks their ids up in `index` (a cache miss each, into a table larger than the cache:
    /// in a short loop of their own the CPU keeps several in flight) and leaves each one's
    /// funcIndex in place of its id's position (0 when the index has none).
    fn chunk(
        &mut self,
        (entry, stub): (&Records<'_>, &Records<'_>),
        index: &SymbolIndex,
        at: usize,
        out: &mut [Found],
    ) -> Chunk {
        let end = at + out.len();
        let mut stats = Stats::default();
        let mut found = 0;
        stats.entry_records = self.run(entry.run(at..end), out, &mut found, &mut stats);
        let in_stub = at.saturating_sub(entry.len())..end.saturating_sub(entry.len());
        stats.stub_records = self.run(stub.run(in_stub), out, &mut found, &mut stats);
        let ids = &self.owners.ids;
        for f in out.get_mut(..found).unwrap_or_default() {
            let id = ids.get(f.low() as usize).copied().unwrap_or_default();
            *f = Found::new(f.set(), index.func_index(id).unwrap_or(0));
        }
        Chunk { found, stats }
    }

    /// Tests `records`; returns how many are real records (not placeholders).
    fn run(
        &mut self,
        records: RecordRun<'_>,
        out: &mut [Found],
        found: &mut usize,
        stats: &mut Stats,
    ) -> usize {
        match records {
            RecordRun::Raw(raw) => self.run_over(raw_records(raw), out, found, stats),
            RecordRun::Decoded(v) => self.run_over(v.iter().copied(), out, found, stats),
        }
    }

    fn run_over(
        &mut self,
        records: impl Iterator<Item = Record>,
        out: &mut [Found],
        found: &mut usize,
        stats: &mut Stats,
    ) -> usize {
        let owners = self.owners;
        let mut hint = self.hint;
        let mut real = 0;
        for record in records {
            let Some(pc) = record.pc else {
                if record.id != 0 {
                    real += 1;
                    stats.no_owner += 1;
                }
                continue;
            };
            if pc == 0 || record.id == 0 {
                continue; // a placeholder
            }
            real += 1;
            let Some(set) = owners.owner_near(hint, pc) else {
                stats.no_owner += 1;
                continue;
            };
            hint = set;
            if let Some(at) = owners.canonical_at(set, record.id) {
                // `out` has a place for every record of the chunk.
                if let Some(slot) = out.get_mut(*found) {
                    *slot = Found::new(set, at);
                    *found += 1;
                }
                continue;
            }
            stats.inline_copies += 1;
            // Whether a set's names carry a clone suffix, looked at once per set.
            let suffixed = match self.clone_suffixed.get(set) {
                Some(&known @ (1 | 2)) => known == 2,
                _ => {
                    let yes = owners.names(set).iter().any(|n| has_clone_suffix(n));
                    if let Some(slot) = self.clone_suffixed.get_mut(set) {
                        *slot = if yes { 2 } else { 1 };
                    }
                    yes
                }
            };
            if suffixed {
                stats.clone_suffixed += 1;
            }
        }
        self.hint = hint;
        real
    }
}

/// Records per chunk of the owner test: small enough that two threads share the work evenly
/// however late the second one starts, large enough that taking one is nothing.
const CHUNK_RECORDS: usize = 8 * 1024;

/// Applies the owner test and returns the sorted, deduplicated rows (docs/format.md, "Which records
/// survive").
// `taken` has one flag per owner set, indexed by ids from `Owners`
#[allow(clippy::indexing_slicing)]
pub fn build(input: Input<'_>) -> Rows {
    let owners = Owners::new(input.symbols, input.text_end, input.style);
    // The owner test and the index lookups, chunk by chunk over the entry records then the stub
    // records, on this thread and a second one taking chunks as they go
    // (`parallel::chunks`). Each chunk writes its canonical records to its own part of one list
    // as long as the records; the parts, joined in chunk order, are the one-thread list.
    let records = (&input.entry, &input.stub);
    let n = input.entry.len() + input.stub.len();
    let worth = n >= PARALLEL_RECORDS && spare_core();
    let index = &input.index;
    let mut found = vec![Found::default(); n];
    let chunks = chunks(
        worth,
        &mut found,
        CHUNK_RECORDS,
        || OwnerTest::new(&owners),
        |test, at, out| test.chunk(records, index, at, out),
    );
    // Each chunk's canonical records moved down to follow the previous chunk's.
    let mut stats = Stats::default();
    let mut kept = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let from = i * CHUNK_RECORDS;
        found.copy_within(from..from + chunk.found, kept);
        kept += chunk.found;
        let more = &chunk.stats;
        stats.entry_records += more.entry_records;
        stats.stub_records += more.stub_records;
        stats.no_owner += more.no_owner;
        stats.inline_copies += more.inline_copies;
        stats.clone_suffixed += more.clone_suffixed;
    }
    found.truncate(kept);
    // The rows need the sets' starts, nothing else of the input or the owners.
    let text_end = input.text_end;
    drop((input.entry, input.stub, input.index));
    let Owners { sets, names, ids } = owners;
    drop((names, ids));
    // ... then, in record order, the first canonical record of each function start makes its
    // row.
    let mut rows = Vec::with_capacity(found.len());
    let mut taken = vec![false; sets.len()];
    for (set, func_index) in found.into_iter().map(|f| (f.set(), f.low())) {
        if func_index == 0 {
            stats.not_in_index += 1;
            continue;
        }
        if std::mem::replace(&mut taken[set], true) {
            stats.duplicates += 1;
            continue;
        }
        rows.push(Row { addr: sets[set].start, func_index });
    }
    // Records come mostly in text order: often the rows are sorted already, and the adaptive
    // stable sort is near linear on nearly sorted rows. (Starts are unique: any sort agrees.)
    if !rows.is_sorted() {
        rows.sort();
    }
    Rows { rows, text_end, stats }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)] // tests index data they built themselves
mod tests;
