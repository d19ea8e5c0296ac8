//! Hand-computed owner tests (docs/format.md, "Which records survive"). Ids are FNV-1a values
//! checked against the published test vectors below, never against output of the code under test.

use super::*;

/// FNV-1a-64 test vectors from the FNV reference (draft-eastlake-fnv): "" and "a" and "foobar".
#[test]
fn fnv_matches_reference_vectors() {
    assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
}

fn sym(addr: u64, size: u64, name: &'static str) -> TextSymbol<'static> {
    TextSymbol::new(addr, size, name.as_bytes())
}

fn rec(pc: u64, name: &str) -> Record {
    Record { pc: Some(pc), id: fnv1a(name.as_bytes()) }
}

fn index(names: &[(&str, u32)]) -> SymbolIndex {
    let mut e: Vec<(u64, u32)> = names.iter().map(|(n, f)| (fnv1a(n.as_bytes()), *f)).collect();
    e.sort();
    SymbolIndex::new(e).unwrap()
}

struct Case {
    what: &'static str,
    style: NameStyle,
    symbols: Vec<TextSymbol<'static>>,
    entry: Vec<Record>,
    stub: Vec<Record>,
    want_rows: Vec<(u64, u32)>,
    want: Stats,
}

#[test]
fn owner_test_table() {
    let idx = index(&[("main.a", 1), ("main.b", 2), ("main.c", 3), ("main.fold2", 4)]);
    let cases = vec![
        Case {
            what: "canonical records normalize to the function start",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.a"), sym(0x1040, 0x40, "main.b")],
            entry: vec![rec(0x1004, "main.a"), rec(0x1044, "main.b")],
            stub: vec![],
            want_rows: vec![(0x1000, 1), (0x1040, 2)],
            want: Stats { entry_records: 2, ..Stats::default() },
        },
        Case {
            what: "an inlined copy of b inside a is dropped and counted",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.a"), sym(0x1040, 0x40, "main.b")],
            entry: vec![rec(0x1004, "main.a"), rec(0x1010, "main.b"), rec(0x1044, "main.b")],
            stub: vec![],
            want_rows: vec![(0x1000, 1), (0x1040, 2)],
            want: Stats { entry_records: 3, inline_copies: 1, ..Stats::default() },
        },
        Case {
            what: "a closure stub carries its target's id and gets the target's funcIndex",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.c"), sym(0x1040, 0x10, "__llgo_stub.main.c")],
            entry: vec![rec(0x1004, "main.c")],
            stub: vec![rec(0x1044, "main.c")],
            want_rows: vec![(0x1000, 3), (0x1040, 3)],
            want: Stats { entry_records: 1, stub_records: 1, ..Stats::default() },
        },
        Case {
            what: "aliases: the record of either name owns the folded body, once",
            style: NameStyle::Elf,
            symbols: vec![sym(0x2000, 0x20, "main.fold1"), sym(0x2000, 0x20, "main.fold2")],
            entry: vec![rec(0x2004, "main.fold2"), rec(0x2004, "main.fold2")],
            stub: vec![],
            want_rows: vec![(0x2000, 4)],
            want: Stats { entry_records: 2, duplicates: 1, ..Stats::default() },
        },
        Case {
            what: "Mach-O: one and two leading underscores are stripped, ELF strips none",
            style: NameStyle::MachO,
            symbols: vec![sym(0x1000, 0, "_main.a"), sym(0x1040, 0, "__main.b")],
            entry: vec![rec(0x1004, "main.a"), rec(0x1044, "main.b")],
            stub: vec![],
            want_rows: vec![(0x1000, 1), (0x1040, 2)],
            want: Stats { entry_records: 2, ..Stats::default() },
        },
        Case {
            what: "ELF does not strip underscores: _main.a is not main.a",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "_main.a")],
            entry: vec![rec(0x1004, "main.a")],
            stub: vec![],
            want_rows: vec![],
            want: Stats { entry_records: 1, inline_copies: 1, ..Stats::default() },
        },
        Case {
            what: "Mach-O stub with underscore: ___llgo_stub. is not stripped to a stub, _ is",
            style: NameStyle::MachO,
            symbols: vec![sym(0x1000, 0, "_main.c"), sym(0x1040, 0, "___llgo_stub.main.c")],
            entry: vec![rec(0x1004, "main.c")],
            stub: vec![rec(0x1044, "main.c")],
            want_rows: vec![(0x1000, 3), (0x1040, 3)],
            want: Stats { entry_records: 1, stub_records: 1, ..Stats::default() },
        },
        Case {
            what: "no owner: before the first symbol, in a sized gap, and a foreign bind",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x10, "main.a"), sym(0x1040, 0x10, "main.b")],
            entry: vec![
                rec(0x0ff0, "main.a"),
                rec(0x1020, "main.a"),
                Record { pc: None, id: fnv1a(b"main.b") },
                rec(0x1044, "main.b"),
            ],
            stub: vec![],
            want_rows: vec![(0x1040, 2)],
            want: Stats { entry_records: 4, no_owner: 3, ..Stats::default() },
        },
        Case {
            what: "size 0 extends to the next start; the last one to the end of text",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0, "main.a"), sym(0x1100, 0, "main.b")],
            entry: vec![rec(0x10ff, "main.a"), rec(0x117f, "main.b"), rec(0x1180, "main.b")],
            stub: vec![],
            want_rows: vec![(0x1000, 1), (0x1100, 2)],
            want: Stats { entry_records: 3, no_owner: 1, ..Stats::default() },
        },
        Case {
            what: "placeholders are skipped; ids missing from the index are dropped",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.zzz"), sym(0x1040, 0x40, "main.a")],
            entry: vec![
                Record { pc: Some(0), id: 0 },
                Record { pc: Some(0), id: encode::MAGIC_META },
                Record { pc: Some(0x1004), id: 0 },
                rec(0x1004, "main.zzz"),
                rec(0x1044, "main.a"),
            ],
            stub: vec![],
            want_rows: vec![(0x1040, 1)],
            want: Stats { entry_records: 2, not_in_index: 1, ..Stats::default() },
        },
        Case {
            what: "clone suffixes are not canonical, and are counted",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.a.llvm.123")],
            entry: vec![rec(0x1004, "main.a")],
            stub: vec![],
            want_rows: vec![],
            want: Stats {
                entry_records: 1,
                inline_copies: 1,
                clone_suffixed: 1,
                ..Stats::default()
            },
        },
        Case {
            what: "the first record of an address wins in file order (entry before stub)",
            style: NameStyle::Elf,
            symbols: vec![sym(0x1000, 0x40, "main.a")],
            entry: vec![rec(0x1004, "main.a")],
            stub: vec![rec(0x1008, "main.a")],
            want_rows: vec![(0x1000, 1)],
            want: Stats { entry_records: 1, stub_records: 1, duplicates: 1, ..Stats::default() },
        },
    ];
    for c in cases {
        // The same records as the section's bytes, when every pc is a plain word.
        let raw = |records: &[Record]| -> Option<Vec<u8>> {
            let mut out = Vec::new();
            for r in records {
                out.extend_from_slice(&r.pc?.to_le_bytes());
                out.extend_from_slice(&r.id.to_le_bytes());
            }
            Some(out)
        };
        let (raw_entry, raw_stub) = (raw(&c.entry), raw(&c.stub));
        let input = Input {
            style: c.style,
            symbols: c.symbols.clone(),
            text_end: 0x1180,
            entry: c.entry.into(),
            stub: c.stub.into(),
            index: idx.clone(),
        };
        let got = build(input);
        let rows: Vec<(u64, u32)> = got.rows.iter().map(|r| (r.addr, r.func_index)).collect();
        assert_eq!(rows, c.want_rows, "{}", c.what);
        assert_eq!(got.stats, c.want, "{}", c.what);
        if let (Some(entry), Some(stub)) = (&raw_entry, &raw_stub) {
            let input = Input {
                style: c.style,
                symbols: c.symbols,
                text_end: 0x1180,
                entry: Records::Raw(entry),
                stub: Records::Raw(stub),
                index: idx.clone(),
            };
            assert_eq!(build(input), got, "{} (records as bytes)", c.what);
        }
    }
}

#[test]
fn owner_prefers_the_innermost_containing_set() {
    // A sized outer function with a small sized symbol inside: past the inner one's end the
    // outer one owns the pc again.
    let syms = [sym(0x1000, 0x100, "outer"), sym(0x1040, 0x10, "inner")];
    let o = Owners::new(syms.to_vec(), 0x2000, NameStyle::Elf);
    assert_eq!(o.owner(0x1044).map(|x| o.start(x)), Some(0x1040));
    assert_eq!(o.owner(0x1080).map(|x| o.start(x)), Some(0x1000));
    assert_eq!(o.owner(0x1100), None);
}

#[test]
fn symbol_index_must_ascend_strictly() {
    assert_eq!(SymbolIndex::new(vec![(1, 1), (1, 2)]), Err(1));
    assert_eq!(SymbolIndex::new(vec![(1, 1), (3, 2), (2, 3)]), Err(2));
    let i = SymbolIndex::new(vec![(5, 9), (7, 0)]).unwrap();
    assert_eq!(i.func_index(5), Some(9));
    assert_eq!(i.func_index(6), None);
}

#[test]
fn owner_near_agrees_with_owner_for_any_hint() {
    let syms = [
        sym(0x1000, 0x100, "outer"),
        sym(0x1040, 0x10, "inner"),
        sym(0x1100, 0, "next"),
        sym(0x1200, 0x10, "sized"),
        sym(0x1300, 0, "last"),
    ];
    let o = Owners::new(syms.to_vec(), 0x1400, NameStyle::Elf);
    for pc in (0xff0..0x1410).step_by(4) {
        for hint in 0..7 {
            assert_eq!(o.owner_near(hint, pc), o.owner(pc), "pc {pc:#x} hint {hint}");
        }
    }
}

#[test]
fn fnv1a_to_nul_ends_at_the_first_nul_at_any_alignment() {
    // Against `fnv1a` of the name cut by hand, for names of every length around the word size
    // and bytes that the word-wise zero test flags falsely (0x01 above a zero, 0x80).
    for len in 0..20 {
        for fill in [b'a', 0x01, 0x80, 0xff] {
            let mut bytes = vec![fill; len];
            bytes.push(0);
            bytes.extend_from_slice(&[0x01, 0, b'x', 0]);
            let (name, hash) = fnv1a_to_nul(&bytes).unwrap();
            assert_eq!(name, &bytes[..len], "len {len} fill {fill:#x}");
            assert_eq!(hash, fnv1a(&bytes[..len]), "len {len} fill {fill:#x}");
        }
    }
    assert_eq!(fnv1a_to_nul(b"no end"), None);
    assert_eq!(fnv1a_to_nul(b"12345678no end"), None);
    assert_eq!(fnv1a_to_nul(b""), None);
}

#[test]
fn clone_suffix_found_at_any_alignment() {
    for pad in 0..17 {
        let base = "x".repeat(pad);
        for suffix in [".llvm.123", ".cold", ".constprop.0", ".isra.1", ".part.2", ".specialized.3"]
        {
            assert!(has_clone_suffix(format!("{base}{suffix}").as_bytes()), "{base}{suffix}");
            assert!(has_clone_suffix(format!("{base}{suffix}.tail").as_bytes()));
        }
        for plain in [".llv", ".col", "main.f", "a.b.c.d.e.f.g.h.i", "\u{1}.\u{0}.cold"] {
            let name = format!("{base}{plain}");
            let want = name.contains(".cold");
            assert_eq!(has_clone_suffix(name.as_bytes()), want, "{name:?}");
        }
    }
}

#[test]
fn owners_group_in_address_then_name_order() {
    // Symbols in a descending run then an ascending one, with aliases, repeated names at one
    // address (the first size wins), sized and unsized symbols, and stubs.
    let names: Vec<String> = (0..70_000).map(|i| format!("pkg.F{i}")).collect();
    let stub: Vec<String> = (0..100).map(|i| format!("__llgo_stub.pkg.F{i}")).collect();
    let mut syms = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let addr = 0x10_0000 + (i as u64 / 3) * 0x40; // three names per address
        let size = if i % 5 == 0 { 0x20 } else { 0 };
        syms.push(TextSymbol::new(addr, size, name.as_bytes()));
        if i % 7 == 0 {
            syms.push(TextSymbol::new(addr, size + 8, name.as_bytes()));
        }
    }
    for (i, name) in stub.iter().enumerate() {
        syms.push(TextSymbol::new(0x10_0000 + i as u64 * 0x40, 0, name.as_bytes()));
    }
    syms[..40_000].reverse();
    let text_end = 0x10_0000 + 70_000 / 3 * 0x40 + 0x100;
    let owners = Owners::new(syms.clone(), text_end, NameStyle::Elf);
    // The grouping over the order the owner test defines, sorted here: by address, then name,
    // ties in table order.
    let mut order: Vec<(u64, usize)> = syms.iter().enumerate().map(|(i, s)| (s.addr, i)).collect();
    order.sort_by(|a, b| (a.0, syms[a.1].name).cmp(&(b.0, syms[b.1].name)));
    let one = Owners::group(&syms, &order, NameStyle::Elf, text_end);
    assert_eq!(owners.sets.len(), 70_000usize.div_ceil(3));
    assert!(owners.sets == one.sets, "alias sets differ");
    assert!(owners.names == one.names && owners.ids == one.ids, "names or ids differ");
}

/// The address order is the stable (address, name) order: aliases by name, equal names in table
/// order, whatever the spread of the addresses.
#[test]
fn address_order_is_by_address_then_name_then_table_order() {
    let raw: [(u64, &[u8], u64); 9] = [
        (0x3000, b"c", 0),
        (0x1000, b"b", 1),
        (0x1000, b"a", 2),
        (0x2000, b"d", 3),
        (0x1000, b"b", 4),
        (0x1000, b"a", 5),
        (0x3000, b"a", 6),
        (0x0fff, b"z", 7),
        (0x2000, b"d", 8),
    ];
    for far in [None, Some(1u64 << 45)] {
        let mut syms: Vec<TextSymbol<'_>> =
            raw.iter().map(|&(addr, name, size)| TextSymbol::new(addr, size, name)).collect();
        if let Some(far) = far {
            syms.push(TextSymbol::new(far, 9, b"far"));
        }
        let got: Vec<u64> = address_order(&syms).iter().map(|&(_, i)| syms[i].size).collect();
        // Written out: 0x0fff z; 0x1000 a(2) a(5) b(1) b(4); 0x2000 d(3) d(8); 0x3000 a c.
        let mut want = vec![7, 2, 5, 1, 4, 3, 8, 6, 0];
        if far.is_some() {
            want.push(9);
        }
        assert_eq!(got, want, "far {far:?}");
    }
}
