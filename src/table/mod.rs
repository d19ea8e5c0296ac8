//! From decoded site records to the sorted rows of the prebuilt table (FORMAT.md section 2).
//!
//! Pure: knows nothing about ELF or Mach-O. The readers in `binary/` turn a file into an
//! [`Input`]; [`build`] applies the owner test, drops LTO inline copies and returns the rows.

pub mod encode;
pub mod findfunc;

/// Closure-stub wrappers are named `__llgo_stub.<target>` and carry the target's id.
pub const STUB_PREFIX: &[u8] = b"__llgo_stub.";

/// FNV-1a-64 of a symbol name; 0 becomes 1 (FORMAT.md 1.4).
pub fn fnv1a(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    if h == 0 {
        1
    } else {
        h
    }
}

/// How the object format spells the compiler's symbol names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameStyle {
    /// Names as the compiler wrote them.
    Elf,
    /// C names carry a leading `_`; the owner test also tries one and two stripped underscores.
    MachO,
}

/// A function symbol inside the text section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSymbol<'a> {
    pub addr: u64,
    /// ELF `st_size`; 0 when unknown (always on Mach-O).
    pub size: u64,
    pub name: &'a [u8],
}

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

/// The symbol index: `(symbolID, funcIndex)` sorted by strictly ascending id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolIndex {
    entries: Vec<(u64, u32)>,
}

impl SymbolIndex {
    /// Fails (returning the position of the first offender) unless ids ascend strictly.
    pub fn new(entries: Vec<(u64, u32)>) -> Result<Self, usize> {
        match entries.windows(2).position(|w| w[0].0 >= w[1].0) {
            Some(i) => Err(i + 1),
            None => Ok(SymbolIndex { entries }),
        }
    }

    pub fn func_index(&self, id: u64) -> Option<u32> {
        let i = self.entries.binary_search_by_key(&id, |e| e.0).ok()?;
        Some(self.entries[i].1)
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
    pub entry: Vec<Record>,
    /// Stub-section records in file order.
    pub stub: Vec<Record>,
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
/// flat vectors of [`Owners`] (one allocation for all sets, not two per set).
#[derive(Clone, Debug)]
struct AliasSet {
    start: u64,
    end: u64,
    /// Range in `Owners::names`.
    names: (u32, u32),
    /// Range in `Owners::ids`: every id under which a record is canonical here (see
    /// [`is_canonical`]), computed once per set instead of once per record.
    ids: (u32, u32),
}

/// The text symbols grouped into alias sets, sorted by start, for owner lookups.
pub struct Owners<'a> {
    sets: Vec<AliasSet>,
    names: Vec<&'a [u8]>,
    ids: Vec<u64>,
    /// `max_end[i]`: the greatest end among sets `0..=i`, so a backwards owner search knows when
    /// no earlier set can contain a pc.
    max_end: Vec<u64>,
}

impl<'a> Owners<'a> {
    pub fn new(symbols: &[TextSymbol<'a>], text_end: u64, style: NameStyle) -> Self {
        let mut sorted = symbols.to_vec();
        sorted.sort_unstable_by(|a, b| a.addr.cmp(&b.addr).then(a.name.cmp(b.name)));
        let mut sets: Vec<AliasSet> = Vec::with_capacity(sorted.len());
        let mut names: Vec<&'a [u8]> = Vec::with_capacity(sorted.len());
        let mut ids: Vec<u64> = Vec::with_capacity(sorted.len() * 2);
        let mut sizes: Vec<u64> = Vec::with_capacity(sorted.len());
        for sym in sorted {
            let same_start = sets.last().is_some_and(|set| set.start == sym.addr);
            if !same_start {
                let (n, i) = (names.len() as u32, ids.len() as u32);
                sets.push(AliasSet { start: sym.addr, end: 0, names: (n, n), ids: (i, i) });
                sizes.push(0);
            } else if names.last() == Some(&sym.name) {
                continue;
            }
            let (Some(set), Some(size)) = (sets.last_mut(), sizes.last_mut()) else { continue };
            *size = (*size).max(sym.size);
            names.push(sym.name);
            ids.extend(ids_of(sym.name, style));
            set.names.1 = names.len() as u32;
            set.ids.1 = ids.len() as u32;
        }
        let mut max_end = Vec::with_capacity(sets.len());
        let mut m = 0;
        for i in 0..sets.len() {
            let next = sets.get(i + 1).map_or(text_end.max(sets[i].start), |s| s.start);
            let set = &mut sets[i];
            set.end = if sizes[i] == 0 { next } else { set.start.saturating_add(sizes[i]) };
            m = m.max(set.end);
            max_end.push(m);
        }
        Owners { sets, names, ids, max_end }
    }

    /// The alias set with the greatest start `<= pc` whose extent contains `pc`, by index.
    pub fn owner(&self, pc: u64) -> Option<usize> {
        self.owner_from(self.sets.partition_point(|s| s.start <= pc), pc)
    }

    /// [`Owners::owner`], trying `hint` (the previous answer) and its successor before a binary
    /// search: records come mostly in text order, so this saves the search almost always.
    pub fn owner_near(&self, hint: usize, pc: u64) -> Option<usize> {
        for i in [hint, hint + 1] {
            let here = self.sets.get(i).is_some_and(|s| s.start <= pc);
            let next_after = self.sets.get(i + 1).is_none_or(|s| s.start > pc);
            if here && next_after {
                return self.owner_from(i + 1, pc);
            }
        }
        self.owner(pc)
    }

    /// Searches backwards from the sets starting before `upper`.
    fn owner_from(&self, upper: usize, pc: u64) -> Option<usize> {
        let mut i = upper;
        while i > 0 {
            i -= 1;
            if self.max_end[i] <= pc {
                return None;
            }
            if pc < self.sets[i].end {
                return Some(i);
            }
        }
        None
    }

    pub fn start(&self, set: usize) -> u64 {
        self.sets[set].start
    }

    pub fn names(&self, set: usize) -> &[&'a [u8]] {
        let (a, b) = self.sets[set].names;
        &self.names[a as usize..b as usize]
    }

    /// The ids under which records are canonical in this set.
    pub fn ids(&self, set: usize) -> &[u64] {
        let (a, b) = self.sets[set].ids;
        &self.ids[a as usize..b as usize]
    }

    /// Is a record with `id` canonical in this set?
    pub fn canonical(&self, set: usize, id: u64) -> bool {
        self.ids(set).contains(&id)
    }

    /// The set starting exactly at `addr`, if any.
    pub fn at(&self, addr: u64) -> Option<usize> {
        self.sets.binary_search_by_key(&addr, |s| s.start).ok()
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

/// The ids a record owned by `name` may carry to be canonical.
fn ids_of(name: &[u8], style: NameStyle) -> impl Iterator<Item = u64> + '_ {
    candidates(name, style).flat_map(|c| {
        let stub = c.strip_prefix(STUB_PREFIX).map(fnv1a);
        std::iter::once(fnv1a(c)).chain(stub)
    })
}

/// The names under which a symbol may carry `id` (FORMAT.md 2.3).
pub fn candidates(name: &[u8], style: NameStyle) -> impl Iterator<Item = &[u8]> {
    let strip = match style {
        NameStyle::Elf => 0,
        NameStyle::MachO => name.iter().take(2).take_while(|&&b| b == b'_').count(),
    };
    (0..=strip).map(move |k| &name[k..])
}

/// Does one of `names` (an alias set) name the function `id` identifies?
pub fn is_canonical(names: &[&[u8]], id: u64, style: NameStyle) -> bool {
    names.iter().any(|n| ids_of(n, style).any(|c| c == id))
}

fn has_clone_suffix(name: &[u8]) -> bool {
    const SUFFIXES: [&[u8]; 6] =
        [b".llvm.", b".cold", b".constprop.", b".isra.", b".part.", b".specialized."];
    SUFFIXES.iter().any(|s| name.windows(s.len()).any(|w| w == *s))
}

/// Applies the owner test and returns the sorted, deduplicated rows (FORMAT.md 2.1–2.6).
pub fn build(input: &Input<'_>) -> Rows {
    let owners = Owners::new(&input.symbols, input.text_end, input.style);
    let mut stats = Stats::default();
    let mut rows = Vec::new();
    let mut taken = vec![false; owners.len()];
    let mut hint = 0;
    let records =
        input.entry.iter().map(|r| (r, true)).chain(input.stub.iter().map(|r| (r, false)));
    for (record, in_entry) in records {
        if record.is_placeholder() {
            continue;
        }
        if in_entry {
            stats.entry_records += 1;
        } else {
            stats.stub_records += 1;
        }
        let Some(set) = record.pc.and_then(|pc| owners.owner_near(hint, pc)) else {
            stats.no_owner += 1;
            continue;
        };
        hint = set;
        if !owners.canonical(set, record.id) {
            stats.inline_copies += 1;
            if owners.names(set).iter().any(|n| has_clone_suffix(n)) {
                stats.clone_suffixed += 1;
            }
            continue;
        }
        let func_index = match input.index.func_index(record.id) {
            Some(f) if f != 0 => f,
            _ => {
                stats.not_in_index += 1;
                continue;
            }
        };
        if std::mem::replace(&mut taken[set], true) {
            stats.duplicates += 1;
            continue;
        }
        rows.push(Row { addr: owners.start(set), func_index });
    }
    rows.sort_unstable();
    Rows { rows, text_end: input.text_end, stats }
}

#[cfg(test)]
mod tests;
